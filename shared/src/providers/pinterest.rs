//! Pinterest API v5: RFC 6749 through the `oauth2` crate.
//!
//! Facts (checked 2026-12-02 against Pinterest's v5 documentation,
//! developers.pinterest.com/docs/getting-started/authentication-and-scopes/ and the
//! pinterest/api-description OpenAPI):
//! - authorize `https://www.pinterest.com/oauth/`, token
//!   `https://api.pinterest.com/v5/oauth/token` with HTTP Basic; no PKCE; scopes separated
//!   by commas;
//! - access tokens last 30 days (`expires_in` 2592000); the continuous refresh token lasts
//!   60 days (`refresh_token_expires_in`) and every refresh returns a new one, so a
//!   connection lives as long as it is refreshed; apps created before 2025-09-25 get it only
//!   when the code exchange sends `continuous_refresh=true` (the legacy 365-day token is
//!   retired), so it is always sent;
//! - Pinterest documents no token revocation endpoint: disconnect removes the account here
//!   and the person removes the app in Pinterest's settings;
//! - a dead token answers 401 `{"code":2,"message":"Authentication failed."}`.

use async_trait::async_trait;
use url::Url;

use super::standard::Rfc6749;
use super::transport::unreadable;
use super::wire::{self, text};
use super::{
    AuthorizeRequest, Call, Network, ProviderError, RemoteAccount, TokenCheck, TokenGrant,
};
use crate::domain::Secret;

const OAUTH: Rfc6749 = Rfc6749 {
    authorize_url: "https://www.pinterest.com/oauth/",
    token_url: "https://api.pinterest.com/v5/oauth/token",
    revoke_url: None,
    basic_auth: true,
    scope_separator: ",",
    extra_authorize_params: &[],
};
const PROFILE_URL: &str = "https://api.pinterest.com/v5/user_account";

pub(crate) struct Pinterest;
pub(crate) static PINTEREST: Pinterest = Pinterest;

#[async_trait]
impl Network for Pinterest {
    fn authorize_url(
        &self,
        cx: &Call<'_>,
        request: &AuthorizeRequest<'_>,
    ) -> Result<Url, ProviderError> {
        OAUTH.authorize_url(cx, request, &[])
    }

    async fn exchange_code(
        &self,
        cx: &Call<'_>,
        code: &Secret,
        redirect_uri: &str,
        code_verifier: Option<&Secret>,
    ) -> Result<TokenGrant, ProviderError> {
        OAUTH
            .exchange_code(
                cx,
                code,
                redirect_uri,
                code_verifier,
                &[("continuous_refresh", "true")],
            )
            .await
    }

    async fn refresh(
        &self,
        cx: &Call<'_>,
        _access_token: &Secret,
        refresh_token: Option<&Secret>,
    ) -> Result<TokenGrant, ProviderError> {
        OAUTH.refresh(cx, refresh_token, &[]).await
    }

    async fn check(
        &self,
        cx: &Call<'_>,
        access_token: &Secret,
    ) -> Result<TokenCheck, ProviderError> {
        profile(cx, access_token).await?;
        Ok(TokenCheck::valid())
    }

    /// The numeric `id` is stable; usernames can change (older versions had only
    /// `username`).
    async fn accounts(
        &self,
        cx: &Call<'_>,
        access_token: &Secret,
    ) -> Result<Vec<RemoteAccount>, ProviderError> {
        let json = profile(cx, access_token).await?;
        self.read_accounts(&json)
            .map_err(|what| unreadable(cx.provider, what))
    }

    fn read_accounts(&self, json: &serde_json::Value) -> Result<Vec<RemoteAccount>, &'static str> {
        wire::remote(
            text(json, "id").or_else(|| text(json, "username")),
            text(json, "business_name").or_else(|| text(json, "username")),
            text(json, "profile_image"),
        )
        .map(|a| vec![a])
    }
}

async fn profile(cx: &Call<'_>, token: &Secret) -> Result<serde_json::Value, ProviderError> {
    cx.get_json_with_bearer(PROFILE_URL, &[], token).await
}
