//! TikTok Login Kit (web). Not plain OAuth 2.0: the client id is called `client_key`, at
//! authorize and in every token call's form body, which the `oauth2` crate cannot name; and
//! API errors arrive in an envelope over 200. So its calls are written here.
//!
//! Facts (checked 2026-12-02 against developers.tiktok.com/doc/oauth-user-access-token-management
//! and …/docs/en/oauth-refresh-a-user-access-token):
//! - authorize `https://www.tiktok.com/v2/auth/authorize/` (`client_key`, comma-separated
//!   scopes); token `https://open.tiktokapis.com/v2/oauth/token/` with `client_key` and
//!   `client_secret` in the form; no PKCE for web apps;
//! - access tokens last 2 hours (`expires_in` 7200), refresh tokens 180 days
//!   (`refresh_expires_in` 15552000) and may rotate: the newest is always kept (the
//!   answer's fields win over these defaults);
//! - `POST https://open.tiktokapis.com/v2/oauth/revoke/` revokes with `client_key`,
//!   `client_secret` and the token;
//! - API errors: `{"error":{"code":"access_token_invalid"|"scope_not_authorized"|…}}`.

use async_trait::async_trait;
use serde_json::Value;
use url::Url;

use super::transport::rejected;
use super::wire::{self, text};
use super::{
    AuthorizeRequest, Call, HeldTokens, Network, ProviderError, RemoteAccount, TokenGrant,
};
use crate::domain::ExposeSecret;
use crate::domain::Secret;
use crate::domain::{Reason, Verdict};

const AUTHORIZE_URL: &str = "https://www.tiktok.com/v2/auth/authorize/";
const TOKEN_URL: &str = "https://open.tiktokapis.com/v2/oauth/token/";
const REVOKE_URL: &str = "https://open.tiktokapis.com/v2/oauth/revoke/";
const PROFILE_URL: &str = "https://open.tiktokapis.com/v2/user/info/";

pub(crate) struct Tiktok;
pub(crate) static TIKTOK: Tiktok = Tiktok;

impl Tiktok {
    /// A `POST` to a token endpoint with the app's `client_key` and `client_secret`.
    async fn token_post(
        &self,
        cx: &Call<'_>,
        url: &str,
        mut form: Vec<(&'static str, String)>,
        secret: &str,
    ) -> Result<TokenGrant, ProviderError> {
        let creds = cx.creds()?;
        form.push(("client_key", creds.client_id.clone()));
        form.push((
            "client_secret",
            creds.client_secret.expose_secret().to_owned(),
        ));
        let request = cx.transport.http.post(cx.url(url)?).form(&form);
        let sent = [secret, creds.client_secret.expose_secret()];
        cx.transport.send_grant(cx.provider, request, &sent).await
    }
}

#[async_trait]
impl Network for Tiktok {
    fn authorize_url(
        &self,
        cx: &Call<'_>,
        request: &AuthorizeRequest<'_>,
    ) -> Result<Url, ProviderError> {
        let creds = cx.creds()?;
        let spec = cx.provider.spec();
        let mut url = cx.url(AUTHORIZE_URL)?;
        url.query_pairs_mut()
            .append_pair("client_key", &creds.client_id)
            .append_pair("redirect_uri", request.redirect_uri)
            .append_pair("response_type", "code")
            .append_pair("scope", &spec.default_scopes.join(","))
            .append_pair("state", request.state);
        Ok(url)
    }

    async fn exchange_code(
        &self,
        cx: &Call<'_>,
        code: &Secret,
        redirect_uri: &str,
        _code_verifier: Option<&Secret>,
    ) -> Result<TokenGrant, ProviderError> {
        let form = vec![
            ("grant_type", "authorization_code".to_owned()),
            ("code", code.expose_secret().to_owned()),
            ("redirect_uri", redirect_uri.to_owned()),
        ];
        self.token_post(cx, TOKEN_URL, form, code.expose_secret())
            .await
    }

    async fn refresh(
        &self,
        cx: &Call<'_>,
        _access_token: &Secret,
        refresh_token: Option<&Secret>,
    ) -> Result<TokenGrant, ProviderError> {
        let refresh_token =
            refresh_token.ok_or_else(|| cx.unsupported("refresh without a refresh token"))?;
        let form = vec![
            ("grant_type", "refresh_token".to_owned()),
            ("refresh_token", refresh_token.expose_secret().to_owned()),
        ];
        self.token_post(cx, TOKEN_URL, form, refresh_token.expose_secret())
            .await
    }

    async fn profile(&self, cx: &Call<'_>, access_token: &Secret) -> Result<Value, ProviderError> {
        let fields = [("fields", "open_id,union_id,avatar_url,display_name")];
        cx.get_json_with_bearer(PROFILE_URL, &fields, access_token)
            .await
    }

    fn read_accounts(&self, json: &Value) -> Result<Vec<RemoteAccount>, &'static str> {
        let u = json
            .get("data")
            .and_then(|d| d.get("user"))
            .unwrap_or(&Value::Null);
        wire::remote(
            text(u, "open_id"),
            text(u, "display_name"),
            text(u, "avatar_url"),
        )
        .map(|a| vec![a])
    }

    /// TikTok revokes by access token, which lives 2 hours: the stored one has usually
    /// expired by the time a person disconnects, so a fresh one is fetched first (the
    /// rotated refresh token it brings dies with the revocation).
    async fn revoke(&self, cx: &Call<'_>, tokens: HeldTokens<'_>) -> Result<(), ProviderError> {
        let fresh = match tokens.refresh {
            Some(_) => self.refresh(cx, tokens.access, tokens.refresh).await.ok(),
            None => None,
        };
        let access = fresh.as_ref().map_or(tokens.access, |g| &g.access_token);
        let creds = cx.creds()?;
        let t = access.expose_secret();
        let request = cx.transport.http.post(cx.url(REVOKE_URL)?).form(&[
            ("client_key", creds.client_id.as_str()),
            ("client_secret", creds.client_secret.expose_secret()),
            ("token", t),
        ]);
        let sent = [t, creds.client_secret.expose_secret()];
        let answer = cx.transport.send(cx.provider, request, &sent).await?;
        // TikTok can answer 200 with an error envelope.
        if let Ok(json) = serde_json::from_slice::<Value>(&answer.body) {
            if wire::embedded_error(&json) {
                return Err(rejected(cx.provider, answer.status, &answer.body, &sent));
            }
        }
        Ok(())
    }

    /// The API envelope `{"error":{"code":"access_token_invalid",...}}`.
    fn classify(&self, _status: u16, json: &Value) -> Option<Verdict> {
        let code = json.get("error")?.get("code")?.as_str()?;
        Some(match code {
            "ok" => return None,
            "access_token_invalid" => Verdict::revoked(Reason::TokenInvalid),
            "scope_not_authorized" | "scope_permission_missed" => {
                Verdict::revoked(Reason::ScopesChanged)
            }
            "rate_limit_exceeded" | "internal_error" => Verdict::Transient,
            "spam_risk_too_many_posts" | "spam_risk_user_banned_from_posting" => Verdict::AppLimit,
            _ => return None,
        })
    }
}
