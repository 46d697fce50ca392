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

use super::standard::{RevokeBy, Rfc6749};
use super::wire::{self, text};
use super::{Call, Network, ProviderError, RemoteAccount};
use crate::domain::Secret;

const OAUTH: Rfc6749 = Rfc6749 {
    authorize_url: "https://www.pinterest.com/oauth/",
    token_url: "https://api.pinterest.com/v5/oauth/token",
    revoke_url: None,
    basic_auth: true,
    scope_separator: ",",
    extra_authorize_params: &[],
    exchange_params: &[("continuous_refresh", "true")],
    client_id_in_refresh: false,
    revoke_by: RevokeBy::AccessToken,
};
const PROFILE_URL: &str = "https://api.pinterest.com/v5/user_account";

pub(crate) struct Pinterest;
pub(crate) static PINTEREST: Pinterest = Pinterest;

#[async_trait]
impl Network for Pinterest {
    fn oauth(&self) -> Option<&'static Rfc6749> {
        Some(&OAUTH)
    }

    /// The numeric `id` is stable; usernames can change (older versions had only
    /// `username`).
    async fn profile(
        &self,
        cx: &Call<'_>,
        access_token: &Secret,
    ) -> Result<serde_json::Value, ProviderError> {
        cx.get_json_with_bearer(PROFILE_URL, &[], access_token)
            .await
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
