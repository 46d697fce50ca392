//! [`HttpProviderClient`]: the [`ProviderClient`] port over HTTPS, handing each call to the
//! network's module (see [`super::network`]).

use std::time::Duration;

use async_trait::async_trait;
use url::Url;

use super::transport::{ClientBuildError, Transport};
use super::{
    network, AuthorizeRequest, Call, Credentials, HeldTokens, NetworkSettings, ProviderClient,
    ProviderError, RemoteAccount, TokenCheck, TokenGrant,
};
use crate::domain::Secret;
use crate::domain::{Endpoints, Provider};

/// Calls the networks over HTTPS (or the provider fakes, through [`Endpoints`]).
#[derive(Debug, Clone)]
pub struct HttpProviderClient {
    transport: Transport,
    credentials: Credentials,
    endpoints: Endpoints,
    settings: NetworkSettings,
}

impl HttpProviderClient {
    /// `timeout` bounds both connecting and each whole call.
    pub fn new(
        credentials: Credentials,
        endpoints: Endpoints,
        timeout: Duration,
    ) -> Result<Self, ClientBuildError> {
        Ok(Self {
            transport: Transport::new(timeout)?,
            credentials,
            endpoints,
            settings: NetworkSettings::default(),
        })
    }

    /// The networks' settings (Graph API version, Google's testing status).
    pub fn with_settings(mut self, settings: NetworkSettings) -> Self {
        self.settings = settings;
        self
    }

    fn call(&self, provider: Provider) -> Call<'_> {
        Call {
            provider,
            transport: &self.transport,
            credentials: self.credentials.get(provider),
            endpoints: &self.endpoints,
            settings: &self.settings,
        }
    }
}

#[async_trait]
impl ProviderClient for HttpProviderClient {
    fn offered(&self) -> Vec<Provider> {
        self.credentials.offered()
    }

    fn authorize_url(&self, request: &AuthorizeRequest<'_>) -> Result<Url, ProviderError> {
        let cx = self.call(request.provider);
        network(request.provider).authorize_url(&cx, request)
    }

    async fn exchange_code(
        &self,
        provider: Provider,
        code: &Secret,
        redirect_uri: &str,
        code_verifier: Option<&Secret>,
    ) -> Result<TokenGrant, ProviderError> {
        // A verifier goes only where a challenge could have gone.
        let verifier = code_verifier.filter(|_| provider.spec().pkce.used());
        let cx = self.call(provider);
        network(provider)
            .exchange_code(&cx, code, redirect_uri, verifier)
            .await
    }

    async fn long_lived(
        &self,
        provider: Provider,
        grant: TokenGrant,
    ) -> Result<TokenGrant, ProviderError> {
        let cx = self.call(provider);
        network(provider).long_lived(&cx, grant).await
    }

    async fn refresh(
        &self,
        provider: Provider,
        access_token: &Secret,
        refresh_token: Option<&Secret>,
    ) -> Result<TokenGrant, ProviderError> {
        let cx = self.call(provider);
        network(provider)
            .refresh(&cx, access_token, refresh_token)
            .await
    }

    async fn check(
        &self,
        provider: Provider,
        access_token: &Secret,
    ) -> Result<TokenCheck, ProviderError> {
        let cx = self.call(provider);
        network(provider).check(&cx, access_token).await
    }

    async fn accounts(
        &self,
        provider: Provider,
        access_token: &Secret,
    ) -> Result<Vec<RemoteAccount>, ProviderError> {
        let cx = self.call(provider);
        let found = network(provider).accounts(&cx, access_token).await?;
        let count = found.len();
        let kept: Vec<RemoteAccount> = found
            .into_iter()
            .filter_map(RemoteAccount::sanitized)
            .collect();
        if kept.len() < count {
            tracing::warn!(provider = %provider, dropped = count - kept.len(),
                "accounts with an id no network issues were left out");
        }
        Ok(kept)
    }

    async fn revoke(
        &self,
        provider: Provider,
        tokens: HeldTokens<'_>,
    ) -> Result<(), ProviderError> {
        let cx = self.call(provider);
        network(provider).revoke(&cx, tokens).await
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::providers::{ClientCredentials, Consent};

    fn client() -> HttpProviderClient {
        let creds = Provider::ALL
            .into_iter()
            .map(|p| {
                (
                    p,
                    ClientCredentials {
                        client_id: "app-123".to_owned(),
                        client_secret: Secret::from("app-secret-xyz"),
                    },
                )
            })
            .collect::<BTreeMap<_, _>>();
        HttpProviderClient::new(
            Credentials::from_map(creds),
            Endpoints::overridden(Url::parse("http://127.0.0.1:9/").unwrap()),
            Duration::from_secs(1),
        )
        .unwrap()
    }

    fn url_for(
        provider: Provider,
        verifier: Option<&Secret>,
        consent: Consent,
    ) -> Result<Url, ProviderError> {
        client().authorize_url(&AuthorizeRequest {
            provider,
            state: "st-1",
            redirect_uri: "https://app.example/oauth/cb",
            code_verifier: verifier,
            consent,
        })
    }

    fn params(url: &Url) -> BTreeMap<String, String> {
        url.query_pairs().into_owned().collect()
    }

    #[test]
    fn authorize_url_carries_the_standard_parameters_for_every_network() {
        let verifier = Secret::from("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk");
        for provider in Provider::ALL {
            let url = url_for(provider, Some(&verifier), Consent::Connect).unwrap();
            let q = params(&url);
            let spec = provider.spec();
            let id_param = if provider == Provider::Tiktok {
                "client_key"
            } else {
                "client_id"
            };

            assert!(
                url.path().starts_with(&format!("/{}/", provider.id())),
                "{url}"
            );
            assert_eq!(
                q.get(id_param).map(String::as_str),
                Some("app-123"),
                "{provider}"
            );
            assert_eq!(q["redirect_uri"], "https://app.example/oauth/cb");
            assert_eq!(q["response_type"], "code");
            assert_eq!(q["state"], "st-1");
            let scopes: Vec<&str> = q["scope"].split([',', ' ']).collect();
            assert_eq!(scopes, spec.default_scopes, "{provider}");
            // RFC 7636 appendix B: the S256 challenge of this verifier.
            assert_eq!(
                q.get("code_challenge").map(String::as_str),
                spec.pkce
                    .used()
                    .then_some("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"),
                "{provider}"
            );
            assert!(!q.contains_key("auth_type"), "{provider}");
            assert!(!url.as_str().contains("app-secret-xyz"));
        }
    }

    #[test]
    fn tiktok_names_its_client_key_and_google_asks_for_offline_access() {
        let verifier = Secret::from("v".repeat(43));
        let tiktok = params(&url_for(Provider::Tiktok, None, Consent::Connect).unwrap());
        let google = params(&url_for(Provider::Google, Some(&verifier), Consent::Connect).unwrap());

        assert_eq!(tiktok["client_key"], "app-123");
        assert!(!tiktok.contains_key("client_id"));
        assert_eq!(tiktok["scope"], "user.info.basic,video.publish");
        assert_eq!(google["access_type"], "offline");
        assert_eq!(google["prompt"], "consent");
        assert_eq!(google["code_challenge_method"], "S256");
    }

    #[test]
    fn x_scopes_are_space_separated_and_pkce_is_required() {
        let verifier = Secret::from("v".repeat(43));
        let x = params(&url_for(Provider::X, Some(&verifier), Consent::Connect).unwrap());
        assert_eq!(
            x["scope"],
            "tweet.read tweet.write users.read offline.access"
        );
        assert_eq!(x["code_challenge_method"], "S256");

        let err = url_for(Provider::X, None, Consent::Connect).unwrap_err();
        assert!(matches!(err, ProviderError::Unsupported { .. }), "{err}");
    }

    #[test]
    fn a_meta_reconnect_renews_data_access_or_asks_again_for_declined_permissions() {
        for provider in [Provider::Facebook, Provider::Instagram] {
            let renew = params(&url_for(provider, None, Consent::Reconnect).unwrap());
            let again = params(&url_for(provider, None, Consent::ReconnectMissingScopes).unwrap());
            assert_eq!(renew["auth_type"], "reauthorize", "{provider}");
            assert_eq!(again["auth_type"], "rerequest", "{provider}");
        }
        let li = params(&url_for(Provider::Linkedin, None, Consent::Reconnect).unwrap());
        assert!(!li.contains_key("auth_type"));
    }

    #[test]
    fn the_graph_version_is_a_setting() {
        let c = client().with_settings(NetworkSettings {
            graph_version: crate::providers::GraphVersion::parse("v27.0").unwrap(),
            google_testing: false,
        });
        let url = c
            .authorize_url(&AuthorizeRequest {
                provider: Provider::Facebook,
                state: "s",
                redirect_uri: "https://app.example/cb",
                code_verifier: None,
                consent: Consent::Connect,
            })
            .unwrap();
        assert_eq!(url.path(), "/facebook/v27.0/dialog/oauth");
        let default = url_for(Provider::Facebook, None, Consent::Connect).unwrap();
        assert_eq!(default.path(), "/facebook/v25.0/dialog/oauth");
    }

    #[test]
    fn real_endpoints_are_the_documented_hosts() {
        let c = HttpProviderClient {
            endpoints: Endpoints::real(),
            ..client()
        };
        let host = |provider| {
            c.authorize_url(&AuthorizeRequest {
                provider,
                state: "s",
                redirect_uri: "https://app.example/cb",
                code_verifier: Some(&Secret::from("v".repeat(43))),
                consent: Consent::Connect,
            })
            .unwrap()
            .host_str()
            .unwrap()
            .to_owned()
        };
        assert_eq!(host(Provider::Linkedin), "www.linkedin.com");
        assert_eq!(host(Provider::Threads), "threads.com");
        assert_eq!(host(Provider::Facebook), "www.facebook.com");
        assert_eq!(host(Provider::X), "x.com");
    }
}
