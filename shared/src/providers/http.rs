//! [`HttpProviderClient`]: the [`ProviderClient`] port over HTTPS, in each network's
//! documented wire format (see PROVIDERS.md and the catalogue in `domain::provider`).
//!
//! - No redirect is followed: a 3xx from a provider endpoint is
//!   [`ProviderError::Redirected`] (a token endpoint that redirects is misconfigured or
//!   hijacked, and following it would carry the code or secret elsewhere).
//! - Every failed answer becomes [`ProviderError::Rejected`] with `classify`'s verdict and a
//!   summary made of the body's code/type/message fields only, scrubbed of every secret the
//!   request sent. Transport errors lose their URL (`without_url`): query strings carry
//!   tokens.
//! - Answers are read up to [`MAX_BODY_BYTES`].

use std::time::Duration;

use async_trait::async_trait;
use chrono::Utc;
use reqwest::redirect::Policy;
use reqwest::{Method, RequestBuilder, Response};
use serde_json::Value;
use url::Url;

use super::wire::{self, DebugToken};
use super::{
    AuthorizeRequest, ClientCredentials, Credentials, ProviderClient, ProviderError, RemoteAccount,
    TokenCheck, TokenGrant,
};
use crate::domain::{
    classify, error_code, ClientAuth, Endpoints, Introspection, KeepAlive, Pkce, Provider,
    ProviderReply, Verdict,
};
use crate::seal::Secret;

/// The largest answer read from a network; bigger ones are unreadable.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// `/me/accounts` pages read at most (100 Pages each).
const MAX_PAGE_REQUESTS: usize = 50;

/// The HTTP client could not be built (TLS initialisation); a cold-start failure.
#[derive(Debug, thiserror::Error)]
#[error("the HTTP client for provider calls could not be built")]
pub struct ClientBuildError(#[source] reqwest::Error);

/// Calls the networks over HTTPS (or the provider fakes, through [`Endpoints`]).
#[derive(Debug, Clone)]
pub struct HttpProviderClient {
    http: reqwest::Client,
    credentials: Credentials,
    endpoints: Endpoints,
}

/// A 2xx answer's body.
struct Answer {
    status: u16,
    body: Vec<u8>,
}

impl HttpProviderClient {
    /// `timeout` bounds both connecting and each whole call.
    pub fn new(
        credentials: Credentials,
        endpoints: Endpoints,
        timeout: Duration,
    ) -> Result<Self, ClientBuildError> {
        let http = reqwest::Client::builder()
            .redirect(Policy::none())
            .connect_timeout(timeout)
            .timeout(timeout)
            .user_agent(concat!("tokenwarden/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(ClientBuildError)?;
        Ok(Self {
            http,
            credentials,
            endpoints,
        })
    }

    fn creds(&self, provider: Provider) -> Result<&ClientCredentials, ProviderError> {
        self.credentials
            .get(provider)
            .ok_or(ProviderError::NotOffered(provider))
    }

    fn url(&self, provider: Provider, documented: &str) -> Url {
        self.endpoints.resolve(provider, documented)
    }

    /// Sends a request and returns a 2xx body; everything else becomes a `ProviderError`.
    /// `sent` lists the secret values in the request, scrubbed from any summary.
    async fn send(
        &self,
        provider: Provider,
        request: RequestBuilder,
        sent: &[&str],
    ) -> Result<Answer, ProviderError> {
        let response = request.send().await.map_err(|e| transport(provider, e))?;
        let status = response.status();
        if status.is_redirection() {
            return Err(ProviderError::Redirected { provider });
        }
        let body = read_limited(provider, response).await?;
        if !status.is_success() {
            return Err(rejected(provider, status.as_u16(), &body, sent));
        }
        Ok(Answer {
            status: status.as_u16(),
            body,
        })
    }

    /// Sends and parses a JSON answer. A 2xx answer that is really an error (TikTok's and
    /// Meta's error objects over 200) is rejected like a 4xx.
    async fn send_json(
        &self,
        provider: Provider,
        request: RequestBuilder,
        sent: &[&str],
    ) -> Result<Value, ProviderError> {
        let answer = self.send(provider, request, sent).await?;
        let json = parse_json(provider, &answer.body)?;
        if wire::embedded_error(&json) {
            return Err(rejected(provider, answer.status, &answer.body, sent));
        }
        Ok(json)
    }

    async fn send_grant(
        &self,
        provider: Provider,
        request: RequestBuilder,
        sent: &[&str],
    ) -> Result<TokenGrant, ProviderError> {
        let json = self.send_json(provider, request, sent).await?;
        wire::grant(&json).map_err(|what| unreadable(provider, what))
    }

    /// Adds the app's credentials the way the network's token endpoint takes them.
    fn with_client_auth(
        &self,
        request: RequestBuilder,
        creds: &ClientCredentials,
        auth: ClientAuth,
        form: &mut Vec<(&'static str, String)>,
    ) -> RequestBuilder {
        match auth {
            ClientAuth::Basic => {
                request.basic_auth(&creds.client_id, Some(creds.client_secret.expose()))
            }
            ClientAuth::FormBody => {
                form.push(("client_id", creds.client_id.clone()));
                form.push(("client_secret", creds.client_secret.expose().to_owned()));
                request
            }
            ClientAuth::ClientKey => {
                form.push(("client_key", creds.client_id.clone()));
                form.push(("client_secret", creds.client_secret.expose().to_owned()));
                request
            }
        }
    }

    /// `POST url` with a form body and the network's client authentication.
    fn token_post(
        &self,
        provider: Provider,
        documented: &str,
        creds: &ClientCredentials,
        mut form: Vec<(&'static str, String)>,
    ) -> RequestBuilder {
        let spec = provider.spec();
        let request = self.http.post(self.url(provider, documented));
        let request = self.with_client_auth(request, creds, spec.client_auth, &mut form);
        request.form(&form)
    }

    /// The user's own profile, read with the token (the cheap authenticated read).
    async fn profile(&self, provider: Provider, token: &Secret) -> Result<Value, ProviderError> {
        let spec = provider.spec();
        let url = self.url(provider, spec.profile_url);
        let t = token.expose();
        let request = match provider {
            // graph.instagram.com and graph.threads.net document the token as a parameter.
            Provider::InstagramLogin => self.http.get(url).query(&[
                ("fields", "user_id,username,name,profile_picture_url"),
                ("access_token", t),
            ]),
            Provider::Threads => self.http.get(url).query(&[
                ("fields", "id,username,name,threads_profile_picture_url"),
                ("access_token", t),
            ]),
            Provider::Facebook | Provider::Instagram => self
                .http
                .get(url)
                .query(&[("fields", "id,name")])
                .bearer_auth(t),
            Provider::X => self
                .http
                .get(url)
                .query(&[("user.fields", "profile_image_url")])
                .bearer_auth(t),
            Provider::Tiktok => self
                .http
                .get(url)
                .query(&[("fields", "open_id,union_id,avatar_url,display_name")])
                .bearer_auth(t),
            Provider::Linkedin | Provider::Google | Provider::Pinterest => {
                self.http.get(url).bearer_auth(t)
            }
        };
        self.send_json(provider, request, &[t]).await
    }

    /// Every Page of `/me/accounts` (Facebook Pages, or the Instagram business accounts
    /// linked to them), following the `after` cursor.
    async fn pages(
        &self,
        provider: Provider,
        token: &Secret,
    ) -> Result<Vec<RemoteAccount>, ProviderError> {
        let spec = provider.spec();
        let mut url = self.url(provider, spec.profile_url);
        url.path_segments_mut()
            .map_err(|()| unreadable(provider, "the profile URL cannot take a path"))?
            .push("accounts");
        let fields = match provider {
            Provider::Instagram => {
                "id,name,access_token,instagram_business_account{id,username,name,profile_picture_url}"
            }
            _ => "id,name,access_token,picture{url}",
        };
        let t = token.expose();
        let mut found = Vec::new();
        let mut after: Option<String> = None;
        for _ in 0..MAX_PAGE_REQUESTS {
            let mut request = self
                .http
                .get(url.clone())
                .query(&[("fields", fields), ("limit", "100")])
                .bearer_auth(t);
            if let Some(cursor) = &after {
                request = request.query(&[("after", cursor.as_str())]);
            }
            let json = self.send_json(provider, request, &[t]).await?;
            let (accounts, next) =
                wire::pages(provider, &json).map_err(|what| unreadable(provider, what))?;
            found.extend(accounts);
            match next {
                Some(cursor) if Some(&cursor) != after.as_ref() => after = Some(cursor),
                _ => return Ok(found),
            }
        }
        Ok(found)
    }
}

#[async_trait]
impl ProviderClient for HttpProviderClient {
    fn offered(&self) -> Vec<Provider> {
        self.credentials.offered()
    }

    fn authorize_url(&self, request: &AuthorizeRequest<'_>) -> Result<Url, ProviderError> {
        authorize_url(&self.endpoints, self.creds(request.provider)?, request)
    }

    async fn exchange_code(
        &self,
        provider: Provider,
        code: &Secret,
        redirect_uri: &str,
        code_verifier: Option<&Secret>,
    ) -> Result<TokenGrant, ProviderError> {
        let spec = provider.spec();
        let creds = self.creds(provider)?;
        // A verifier goes only where a challenge could have gone.
        let verifier = code_verifier.filter(|_| spec.pkce.used());
        let sent = [
            code.expose(),
            creds.client_secret.expose(),
            verifier.map_or("", Secret::expose),
        ];
        let request = match provider {
            // Meta documents a GET with the parameters in the query.
            Provider::Facebook | Provider::Instagram => {
                let mut query = vec![
                    ("client_id", creds.client_id.as_str()),
                    ("client_secret", creds.client_secret.expose()),
                    ("redirect_uri", redirect_uri),
                    ("code", code.expose()),
                ];
                if let Some(v) = verifier {
                    query.push(("code_verifier", v.expose()));
                }
                self.http
                    .get(self.url(provider, spec.token_url))
                    .query(&query)
            }
            _ => {
                let mut form = vec![
                    ("grant_type", "authorization_code".to_owned()),
                    ("code", code.expose().to_owned()),
                    ("redirect_uri", redirect_uri.to_owned()),
                ];
                if let Some(v) = verifier {
                    form.push(("code_verifier", v.expose().to_owned()));
                }
                self.token_post(provider, spec.token_url, creds, form)
            }
        };
        self.send_grant(provider, request, &sent).await
    }

    async fn long_lived(
        &self,
        provider: Provider,
        grant: TokenGrant,
    ) -> Result<TokenGrant, ProviderError> {
        let spec = provider.spec();
        let Some(exchange_url) = spec.exchange_url else {
            return Ok(grant);
        };
        let creds = self.creds(provider)?;
        let t = grant.access_token.expose();
        let secret = creds.client_secret.expose();
        let url = self.url(provider, exchange_url);
        let request = match provider {
            Provider::Facebook | Provider::Instagram => self.http.get(url).query(&[
                ("grant_type", "fb_exchange_token"),
                ("client_id", creds.client_id.as_str()),
                ("client_secret", secret),
                ("fb_exchange_token", t),
            ]),
            Provider::InstagramLogin => self.http.get(url).query(&[
                ("grant_type", "ig_exchange_token"),
                ("client_secret", secret),
                ("access_token", t),
            ]),
            Provider::Threads => self.http.get(url).query(&[
                ("grant_type", "th_exchange_token"),
                ("client_secret", secret),
                ("access_token", t),
            ]),
            _ => return Ok(grant),
        };
        let long = self.send_grant(provider, request, &[t, secret]).await?;
        Ok(wire::merge_exchanged(grant, long))
    }

    async fn refresh(
        &self,
        provider: Provider,
        access_token: &Secret,
        refresh_token: Option<&Secret>,
    ) -> Result<TokenGrant, ProviderError> {
        let spec = provider.spec();
        match spec.keep_alive {
            KeepAlive::None => Err(ProviderError::Unsupported {
                provider,
                operation: "refresh",
            }),
            KeepAlive::Exchange { .. } => {
                let grant_type = match provider {
                    Provider::Threads => "th_refresh_token",
                    _ => "ig_refresh_token",
                };
                let documented = spec.refresh_url.unwrap_or(spec.token_url);
                let t = access_token.expose();
                let request = self
                    .http
                    .get(self.url(provider, documented))
                    .query(&[("grant_type", grant_type), ("access_token", t)]);
                self.send_grant(provider, request, &[t]).await
            }
            KeepAlive::RefreshGrant | KeepAlive::RefreshGrantRotating => {
                let refresh_token = refresh_token.ok_or(ProviderError::Unsupported {
                    provider,
                    operation: "refresh without a refresh token",
                })?;
                let creds = self.creds(provider)?;
                let mut form = vec![
                    ("grant_type", "refresh_token".to_owned()),
                    ("refresh_token", refresh_token.expose().to_owned()),
                ];
                // X documents `client_id` in the refresh body even with Basic auth.
                if provider == Provider::X {
                    form.push(("client_id", creds.client_id.clone()));
                }
                let documented = spec.refresh_url.unwrap_or(spec.token_url);
                let request = self.token_post(provider, documented, creds, form);
                let sent = [refresh_token.expose(), creds.client_secret.expose()];
                self.send_grant(provider, request, &sent).await
            }
        }
    }

    async fn check(
        &self,
        provider: Provider,
        access_token: &Secret,
    ) -> Result<TokenCheck, ProviderError> {
        let spec = provider.spec();
        let t = access_token.expose();
        let introspection_url = || {
            spec.introspection_url
                .map(|u| self.url(provider, u))
                .ok_or_else(|| unreadable(provider, "the catalogue has no introspection URL"))
        };
        match spec.introspection {
            Introspection::FacebookDebugToken => {
                let creds = self.creds(provider)?;
                let app_token = format!("{}|{}", creds.client_id, creds.client_secret.expose());
                let request = self
                    .http
                    .get(introspection_url()?)
                    .query(&[("input_token", t), ("access_token", app_token.as_str())]);
                let sent = [t, creds.client_secret.expose()];
                let answer = self
                    .send(provider, request, &sent)
                    .await
                    .map_err(not_about_the_user_token)?;
                let json = parse_json(provider, &answer.body)?;
                match wire::debug_token(&json).map_err(|what| unreadable(provider, what))? {
                    DebugToken::Check(check) => Ok(check),
                    DebugToken::Invalid(error) => {
                        let body = error.to_string();
                        Err(rejected(provider, answer.status, body.as_bytes(), &sent))
                    }
                }
            }
            Introspection::LinkedinIntrospect => {
                let creds = self.creds(provider)?;
                let request = self.http.post(introspection_url()?).form(&[
                    ("client_id", creds.client_id.as_str()),
                    ("client_secret", creds.client_secret.expose()),
                    ("token", t),
                ]);
                let sent = [t, creds.client_secret.expose()];
                let answer = self.send(provider, request, &sent).await?;
                let json = parse_json(provider, &answer.body)?;
                match wire::linkedin_introspection(&json)
                    .map_err(|what| unreadable(provider, what))?
                {
                    Some(check) => Ok(check),
                    None => Err(rejected(provider, answer.status, &answer.body, &sent)),
                }
            }
            Introspection::GoogleTokenInfo => {
                let request = self
                    .http
                    .get(introspection_url()?)
                    .query(&[("access_token", t)]);
                let json = self.send_json(provider, request, &[t]).await?;
                Ok(wire::google_tokeninfo(&json, Utc::now()))
            }
            Introspection::ProfileRead => {
                self.profile(provider, access_token).await?;
                Ok(TokenCheck {
                    valid: true,
                    expires_at: None,
                    data_access_expires_at: None,
                    scopes: None,
                })
            }
        }
    }

    async fn accounts(
        &self,
        provider: Provider,
        access_token: &Secret,
    ) -> Result<Vec<RemoteAccount>, ProviderError> {
        match provider {
            Provider::Facebook | Provider::Instagram => self.pages(provider, access_token).await,
            _ => {
                let json = self.profile(provider, access_token).await?;
                let account = wire::profile_account(provider, &json)
                    .map_err(|what| unreadable(provider, what))?;
                Ok(vec![account])
            }
        }
    }

    async fn revoke(&self, provider: Provider, access_token: &Secret) -> Result<(), ProviderError> {
        let spec = provider.spec();
        let Some(revoke_url) = spec.revoke_url else {
            return Err(ProviderError::Unsupported {
                provider,
                operation: "revoke",
            });
        };
        let url = self.url(provider, revoke_url);
        let t = access_token.expose();
        let (request, secret) = match provider {
            // Removing the app's permissions logs the app out of the user's account.
            Provider::Facebook | Provider::Instagram => {
                (self.http.request(Method::DELETE, url).bearer_auth(t), None)
            }
            // Google documents the token as a parameter of a form POST.
            Provider::Google => (
                self.http.post(url).query(&[("token", t)]).header(
                    reqwest::header::CONTENT_TYPE,
                    "application/x-www-form-urlencoded",
                ),
                None,
            ),
            _ => {
                let creds = self.creds(provider)?;
                let mut form = vec![("token", t.to_owned())];
                if provider == Provider::X {
                    form.push(("token_type_hint", "access_token".to_owned()));
                }
                (
                    self.token_post(provider, revoke_url, creds, form),
                    Some(creds.client_secret.expose()),
                )
            }
        };
        let sent = [t, secret.unwrap_or("")];
        let answer = self.send(provider, request, &sent).await?;
        // Some networks answer 200 with an error envelope (TikTok).
        if let Ok(json) = serde_json::from_slice::<Value>(&answer.body) {
            if wire::embedded_error(&json) {
                return Err(rejected(provider, answer.status, &answer.body, &sent));
            }
        }
        Ok(())
    }
}

/// The authorize URL in the network's parameters. Pure, so unit-tested per network.
pub fn authorize_url(
    endpoints: &Endpoints,
    creds: &ClientCredentials,
    request: &AuthorizeRequest<'_>,
) -> Result<Url, ProviderError> {
    let provider = request.provider;
    let spec = provider.spec();
    let challenge = match (spec.pkce, request.code_challenge) {
        (Pkce::NotUsed, _) => None,
        (Pkce::Required, None) => {
            return Err(ProviderError::Unsupported {
                provider,
                operation: "authorize without a PKCE challenge",
            })
        }
        (_, challenge) => challenge,
    };
    let mut url = endpoints.resolve(provider, spec.authorize_url);
    {
        let mut query = url.query_pairs_mut();
        query
            .append_pair(spec.client_id_param, &creds.client_id)
            .append_pair("redirect_uri", request.redirect_uri)
            .append_pair("response_type", "code")
            .append_pair("scope", &spec.scope_string(spec.default_scopes))
            .append_pair("state", request.state);
        if let Some(challenge) = challenge {
            query
                .append_pair("code_challenge", challenge)
                .append_pair("code_challenge_method", "S256");
        }
        for (key, value) in spec.extra_authorize_params {
            query.append_pair(key, value);
        }
    }
    Ok(url)
}

fn transport(provider: Provider, error: reqwest::Error) -> ProviderError {
    if error.is_timeout() {
        ProviderError::Timeout { provider }
    } else {
        // The URL can carry a token in its query: never keep it.
        ProviderError::Network {
            provider,
            source: Box::new(error.without_url()),
        }
    }
}

fn rejected(provider: Provider, status: u16, body: &[u8], sent: &[&str]) -> ProviderError {
    ProviderError::Rejected {
        provider,
        status,
        verdict: classify(provider, ProviderReply::Http { status, body }),
        summary: wire::summary(body, sent),
        code: error_code(body),
    }
}

/// `debug_token` reports problems with the checked token inside `data` (200); an error
/// object at the top level is about the call itself, i.e. the app token
/// `APP_ID|APP_SECRET` (Meta answers code 190 for a wrong app secret too). That must not
/// break the user's connection: it is our configuration.
fn not_about_the_user_token(error: ProviderError) -> ProviderError {
    match error {
        ProviderError::Rejected {
            provider,
            status,
            verdict: Verdict::Broken { .. },
            summary,
            code,
        } => ProviderError::Rejected {
            provider,
            status,
            verdict: Verdict::Unrecognised,
            summary,
            code,
        },
        other => other,
    }
}

fn unreadable(provider: Provider, what: &str) -> ProviderError {
    ProviderError::Unreadable {
        provider,
        what: what.to_owned(),
    }
}

fn parse_json(provider: Provider, body: &[u8]) -> Result<Value, ProviderError> {
    // serde's message can quote the input: keep only where it failed.
    serde_json::from_slice(body).map_err(|e| ProviderError::Unreadable {
        provider,
        what: format!("not JSON (line {} column {})", e.line(), e.column()),
    })
}

async fn read_limited(
    provider: Provider,
    mut response: Response,
) -> Result<Vec<u8>, ProviderError> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| transport(provider, e))? {
        if body.len() + chunk.len() > MAX_BODY_BYTES {
            return Err(unreadable(provider, "an answer larger than 1 MiB"));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn creds() -> ClientCredentials {
        ClientCredentials {
            client_id: "app-123".to_owned(),
            client_secret: Secret::new("app-secret-xyz"),
        }
    }

    fn url_for(provider: Provider, challenge: Option<&str>) -> Result<Url, ProviderError> {
        let endpoints = Endpoints::overridden(Url::parse("http://127.0.0.1:9/").unwrap());
        authorize_url(
            &endpoints,
            &creds(),
            &AuthorizeRequest {
                provider,
                state: "st-1",
                redirect_uri: "https://app.example/oauth/cb",
                code_challenge: challenge,
            },
        )
    }

    fn params(url: &Url) -> BTreeMap<String, String> {
        url.query_pairs().into_owned().collect()
    }

    #[test]
    fn authorize_url_carries_the_standard_parameters_for_every_network() {
        for provider in Provider::ALL {
            let url = url_for(provider, Some("chal")).unwrap();
            let q = params(&url);
            let spec = provider.spec();

            assert!(
                url.path().starts_with(&format!("/{}/", provider.id())),
                "{url}"
            );
            assert_eq!(
                q.get(spec.client_id_param).map(String::as_str),
                Some("app-123")
            );
            assert_eq!(q["redirect_uri"], "https://app.example/oauth/cb");
            assert_eq!(q["response_type"], "code");
            assert_eq!(q["state"], "st-1");
            assert_eq!(q["scope"], spec.default_scopes.join(spec.scope_separator));
            assert_eq!(
                q.contains_key("code_challenge"),
                spec.pkce.used(),
                "{provider}"
            );
            assert!(!url.as_str().contains("app-secret-xyz"));
        }
    }

    #[test]
    fn tiktok_names_its_client_key_and_google_asks_for_offline_access() {
        let tiktok = params(&url_for(Provider::Tiktok, None).unwrap());
        let google = params(&url_for(Provider::Google, Some("chal")).unwrap());

        assert_eq!(tiktok["client_key"], "app-123");
        assert!(!tiktok.contains_key("client_id"));
        assert_eq!(tiktok["scope"], "user.info.basic,video.publish");
        assert_eq!(google["access_type"], "offline");
        assert_eq!(google["prompt"], "consent");
        assert_eq!(google["code_challenge"], "chal");
        assert_eq!(google["code_challenge_method"], "S256");
    }

    #[test]
    fn x_scopes_are_space_separated_and_pkce_is_required() {
        let x = params(&url_for(Provider::X, Some("chal")).unwrap());
        assert_eq!(
            x["scope"],
            "tweet.read tweet.write users.read offline.access"
        );
        assert_eq!(x["code_challenge_method"], "S256");

        let err = url_for(Provider::X, None).unwrap_err();
        assert!(matches!(err, ProviderError::Unsupported { .. }), "{err}");
    }

    #[test]
    fn networks_without_pkce_never_get_a_challenge() {
        for provider in [
            Provider::Linkedin,
            Provider::Tiktok,
            Provider::Pinterest,
            Provider::InstagramLogin,
            Provider::Threads,
        ] {
            let q = params(&url_for(provider, Some("chal")).unwrap());
            assert!(!q.contains_key("code_challenge"), "{provider}");
            assert!(!q.contains_key("code_challenge_method"), "{provider}");
        }
    }

    #[test]
    fn real_endpoints_are_the_documented_hosts() {
        let url = authorize_url(
            &Endpoints::real(),
            &creds(),
            &AuthorizeRequest {
                provider: Provider::Linkedin,
                state: "s",
                redirect_uri: "https://app.example/cb",
                code_challenge: None,
            },
        )
        .unwrap();
        assert_eq!(url.host_str(), Some("www.linkedin.com"));
        assert_eq!(url.path(), "/oauth/v2/authorization");
    }

    #[test]
    fn rejected_summary_never_carries_the_sent_secret() {
        let body = br#"{"error":"invalid_grant","error_description":"refresh token rt-abcdef-123 is revoked"}"#;
        let err = rejected(Provider::Google, 400, body, &["rt-abcdef-123"]);
        let shown = format!("{err} {err:?}");
        assert!(!shown.contains("rt-abcdef-123"), "{shown}");
        assert!(shown.contains("invalid_grant"), "{shown}");
        assert!(matches!(
            err.verdict(),
            crate::domain::Verdict::Broken { .. }
        ));
    }
}
