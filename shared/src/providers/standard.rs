//! RFC 6749 through the `oauth2` crate, for the networks that follow it (LinkedIn, X,
//! Google, Pinterest): the authorize URL with PKCE, the code exchange and the refresh grant;
//! and RFC 7009 revocation (written here: see [`Rfc6749::revoke`]). The crate builds each request and sends it through
//! [`super::transport`], so redirects, body limits, scrubbing and verdicts are the same as
//! for every other call; answers are read by [`super::wire::grant`], which clamps hostile
//! lifetimes and accepts what the networks really send (LinkedIn omits `token_type`,
//! Google's `expires_in` can be a string).

use oauth2::basic::{BasicErrorResponse, BasicRevocationErrorResponse, BasicTokenType};
use oauth2::{
    AccessToken, AuthType, AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken,
    EmptyExtraTokenFields, EndpointNotSet, EndpointSet, PkceCodeChallenge, PkceCodeVerifier,
    RedirectUrl, RefreshToken, Scope, StandardRevocableToken, StandardTokenIntrospectionResponse,
    TokenUrl,
};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;
use url::Url;

use super::transport::{from_oauth2, unreadable};
use super::{wire, AuthorizeRequest, Call, HeldTokens, ProviderError, TokenGrant};
use crate::domain::ExposeSecret;
use crate::domain::Pkce;
use crate::domain::Secret;

/// How an RFC 6749 network is reached.
pub(crate) struct Rfc6749 {
    pub(crate) authorize_url: &'static str,
    pub(crate) token_url: &'static str,
    /// The RFC 7009 revocation endpoint, where the network has one.
    pub(crate) revoke_url: Option<&'static str>,
    /// HTTP Basic (`client_secret_basic`) or the form body (`client_secret_post`).
    pub(crate) basic_auth: bool,
    /// What joins scopes in `scope` (RFC 6749 says a space; some networks take commas).
    pub(crate) scope_separator: &'static str,
    /// Fixed authorize parameters.
    pub(crate) extra_authorize_params: &'static [(&'static str, &'static str)],
    /// Fixed body parameters of the code exchange (Pinterest's `continuous_refresh`).
    pub(crate) exchange_params: &'static [(&'static str, &'static str)],
    /// The app's `client_id` in the refresh body too, beside Basic authentication (X).
    pub(crate) client_id_in_refresh: bool,
    /// Which token a revocation names.
    pub(crate) revoke_by: RevokeBy,
}

/// Which token a revocation names (RFC 7009 `token_type_hint`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RevokeBy {
    /// The refresh token where one is held (it revokes the grant); else the access token.
    RefreshToken,
    AccessToken,
}

type Client = oauth2::Client<
    BasicErrorResponse,
    Answer,
    StandardTokenIntrospectionResponse<EmptyExtraTokenFields, BasicTokenType>,
    StandardRevocableToken,
    BasicRevocationErrorResponse,
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointSet,
>;

impl Rfc6749 {
    fn client(&self, cx: &Call<'_>) -> Result<Client, ProviderError> {
        let creds = cx.creds()?;
        Ok(oauth2::Client::new(ClientId::new(creds.client_id.clone()))
            .set_client_secret(ClientSecret::new(
                creds.client_secret.expose_secret().to_owned(),
            ))
            .set_auth_type(if self.basic_auth {
                AuthType::BasicAuth
            } else {
                AuthType::RequestBody
            })
            .set_auth_uri(AuthUrl::from_url(cx.url(self.authorize_url)?))
            .set_token_uri(TokenUrl::from_url(cx.url(self.token_url)?)))
    }

    /// The authorize URL with the catalogue's scopes, the state and, where the network takes
    /// PKCE, the S256 challenge of the verifier.
    pub(crate) fn authorize_url(
        &self,
        cx: &Call<'_>,
        request: &AuthorizeRequest<'_>,
    ) -> Result<Url, ProviderError> {
        let spec = cx.provider.spec();
        let challenge = pkce_challenge(cx, request)?;
        let client = self
            .client(cx)?
            .set_redirect_uri(redirect(cx, request.redirect_uri)?);
        let state = request.state.to_owned();
        let mut authorize = client
            .authorize_url(move || CsrfToken::new(state))
            .add_scope(Scope::new(spec.default_scopes.join(self.scope_separator)));
        if let Some(challenge) = challenge {
            authorize = authorize.set_pkce_challenge(challenge);
        }
        for (key, value) in self.extra_authorize_params {
            authorize = authorize.add_extra_param(*key, *value);
        }
        Ok(authorize.url().0)
    }

    /// The `authorization_code` grant (with the verifier where one was sent).
    pub(crate) async fn exchange_code(
        &self,
        cx: &Call<'_>,
        code: &Secret,
        redirect_uri: &str,
        code_verifier: Option<&Secret>,
    ) -> Result<TokenGrant, ProviderError> {
        let client = self
            .client(cx)?
            .set_redirect_uri(redirect(cx, redirect_uri)?);
        let mut request =
            client.exchange_code(AuthorizationCode::new(code.expose_secret().to_owned()));
        if let Some(v) = code_verifier {
            request =
                request.set_pkce_verifier(PkceCodeVerifier::new(v.expose_secret().to_owned()));
        }
        for (key, value) in self.exchange_params {
            request = request.add_extra_param(*key, *value);
        }
        let http = cx.transport.oauth2(cx.provider);
        let answer = request
            .request_async(&http)
            .await
            .map_err(|e| from_oauth2(cx.provider, e))?;
        answer.grant(cx)
    }

    /// The `refresh_token` grant.
    pub(crate) async fn refresh(
        &self,
        cx: &Call<'_>,
        refresh_token: Option<&Secret>,
    ) -> Result<TokenGrant, ProviderError> {
        let refresh_token =
            refresh_token.ok_or_else(|| cx.unsupported("refresh without a refresh token"))?;
        let client = self.client(cx)?;
        let token = RefreshToken::new(refresh_token.expose_secret().to_owned());
        let mut request = client.exchange_refresh_token(&token);
        if self.client_id_in_refresh {
            request = request.add_extra_param("client_id", cx.creds()?.client_id.clone());
        }
        let http = cx.transport.oauth2(cx.provider);
        let answer = request
            .request_async(&http)
            .await
            .map_err(|e| from_oauth2(cx.provider, e))?;
        answer.grant(cx)
    }

    /// RFC 7009 revocation of the token [`Rfc6749::revoke_by`] names, with its `token_type_hint` and the
    /// network's client authentication. Built here rather than by the `oauth2` crate, whose
    /// revocation request refuses any URL that is not HTTPS (RFC 7009 §2): the networks'
    /// endpoints are, but the provider fakes every test runs against speak plain HTTP on
    /// 127.0.0.1, and a revocation the tests cannot reach is one nobody has seen work.
    pub(crate) async fn revoke(
        &self,
        cx: &Call<'_>,
        tokens: HeldTokens<'_>,
    ) -> Result<(), ProviderError> {
        let Some(url) = self.revoke_url else {
            return Err(cx.unsupported("revoke"));
        };
        let (token, hint) = match (self.revoke_by, tokens.refresh) {
            (RevokeBy::RefreshToken, Some(r)) => (r, "refresh_token"),
            _ => (tokens.access, "access_token"),
        };
        let creds = cx.creds()?;
        let mut form = vec![("token", token.expose_secret()), ("token_type_hint", hint)];
        let request = cx.transport.http.post(cx.url(url)?);
        let request = if self.basic_auth {
            // RFC 6749 §2.3.1: both URL-encoded before Base64, as the crate does it.
            let encode =
                |v: &str| url::form_urlencoded::byte_serialize(v.as_bytes()).collect::<String>();
            request.basic_auth(
                encode(&creds.client_id),
                Some(encode(creds.client_secret.expose_secret())),
            )
        } else {
            form.push(("client_id", creds.client_id.as_str()));
            form.push(("client_secret", creds.client_secret.expose_secret()));
            request
        };
        let sent = [token.expose_secret(), creds.client_secret.expose_secret()];
        cx.transport
            .send(cx.provider, request.form(&form), &sent)
            .await
            .map(|_| ())
    }
}

/// The S256 challenge of the request's verifier, by the network's PKCE rule.
pub(crate) fn pkce_challenge(
    cx: &Call<'_>,
    request: &AuthorizeRequest<'_>,
) -> Result<Option<PkceCodeChallenge>, ProviderError> {
    match (cx.provider.spec().pkce, request.code_verifier) {
        (Pkce::NotUsed, _) => Ok(None),
        (Pkce::Required, None) => Err(cx.unsupported("authorize without a PKCE verifier")),
        (_, None) => Ok(None),
        (_, Some(v)) => {
            // RFC 7636 §4.1: 43 to 128 unreserved characters (the crate asserts it).
            let raw = v.expose_secret();
            let unreserved = |c: char| c.is_ascii_alphanumeric() || "-._~".contains(c);
            if !(43..=128).contains(&raw.len()) || !raw.chars().all(unreserved) {
                return Err(
                    cx.unsupported("a PKCE verifier that is not 43 to 128 unreserved characters")
                );
            }
            Ok(Some(PkceCodeChallenge::from_code_verifier_sha256(
                &PkceCodeVerifier::new(raw.to_owned()),
            )))
        }
    }
}

fn redirect(cx: &Call<'_>, uri: &str) -> Result<RedirectUrl, ProviderError> {
    RedirectUrl::new(uri.to_owned())
        .map_err(|_| unreadable(cx.provider, "a redirect URI that is not a URL"))
}

/// A token endpoint's answer as the `oauth2` crate hands it over: the JSON itself, read by
/// [`wire::grant`]. Never printed (it holds tokens).
pub(crate) struct Answer {
    json: Value,
    access: AccessToken,
}

impl Answer {
    fn grant(self, cx: &Call<'_>) -> Result<TokenGrant, ProviderError> {
        wire::grant(&self.json).map_err(|what| unreadable(cx.provider, what))
    }
}

impl std::fmt::Debug for Answer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Answer([redacted])")
    }
}

impl<'de> Deserialize<'de> for Answer {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let json = Value::deserialize(d)?;
        let access = AccessToken::new(
            json.get("access_token")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
        );
        Ok(Self { json, access })
    }
}

impl Serialize for Answer {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.json.serialize(s)
    }
}

impl oauth2::TokenResponse for Answer {
    type TokenType = BasicTokenType;

    fn access_token(&self) -> &AccessToken {
        &self.access
    }

    fn token_type(&self) -> &BasicTokenType {
        &BasicTokenType::Bearer
    }

    /// Read by [`wire::grant`] instead, which clamps hostile values.
    fn expires_in(&self) -> Option<std::time::Duration> {
        None
    }

    fn refresh_token(&self) -> Option<&RefreshToken> {
        None
    }

    fn scopes(&self) -> Option<&Vec<Scope>> {
        None
    }
}
