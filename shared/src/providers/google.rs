//! Google (Business Profile, YouTube): RFC 6749 through the `oauth2` crate, `tokeninfo`
//! and revocation.
//!
//! Facts (checked 2026-12-02 against developers.google.com/identity/protocols/oauth2 and
//! …/oauth2/web-server):
//! - authorize `https://accounts.google.com/o/oauth2/v2/auth` with `access_type=offline`
//!   (a refresh token) and `prompt=consent`; token `https://oauth2.googleapis.com/token`,
//!   client id and secret in the form body; PKCE accepted; scopes separated by spaces;
//! - access tokens last 1 hour; refresh tokens do not rotate and have no fixed expiry, but
//!   die when revoked, unused for 6 months, on a password change (Gmail scopes), and
//!   **after 7 days for apps whose consent screen is in "Testing" publishing status**
//!   (unless only name, email and profile scopes are asked) — the
//!   [`super::NetworkSettings::google_testing`] setting makes the token column show it;
//! - at most 100 live refresh tokens per Google Account per OAuth client: the oldest is
//!   invalidated silently. The one a reconnect replaces is the oldest tokenwarden ever held
//!   for the account, so it goes first and nothing is revoked at reconnect: revoking through
//!   `oauth2.googleapis.com/revoke` ends the person's grant to the app, which would end the
//!   refresh token the reconnect just stored;
//! - `https://oauth2.googleapis.com/revoke` takes an access or a refresh token and ends the
//!   person's grant to the app (an expired access token cannot be revoked, so disconnect
//!   names the refresh token). One Google identity connected in two teams stands on one
//!   grant: the accounts carry `grant_owner` (`google:{sub}`) and a disconnect revokes only
//!   when no other account stands on it;
//! - `https://oauth2.googleapis.com/tokeninfo` reads a token's expiry and scopes; a dead
//!   grant answers `invalid_grant` ("Token has been expired or revoked.").

use async_trait::async_trait;
use chrono::{Duration, Utc};
use serde_json::Value;

use super::standard::{RevokeBy, Rfc6749};
use super::wire::{self, text};
use super::{Call, Network, ProviderError, RemoteAccount, TokenCheck, TokenGrant};
use crate::domain::ExposeSecret;
use crate::domain::Secret;

const OAUTH: Rfc6749 = Rfc6749 {
    authorize_url: "https://accounts.google.com/o/oauth2/v2/auth",
    token_url: "https://oauth2.googleapis.com/token",
    revoke_url: Some("https://oauth2.googleapis.com/revoke"),
    basic_auth: false,
    scope_separator: " ",
    extra_authorize_params: &[("access_type", "offline"), ("prompt", "consent")],
    exchange_params: &[],
    client_id_in_refresh: false,
    revoke_by: RevokeBy::RefreshToken,
};
const TOKENINFO_URL: &str = "https://oauth2.googleapis.com/tokeninfo";
const PROFILE_URL: &str = "https://www.googleapis.com/oauth2/v3/userinfo";

/// The refresh token lifetime of an app in "Testing" publishing status.
pub const TESTING_REFRESH_LIFETIME: Duration = Duration::days(7);

pub(crate) struct Google;
pub(crate) static GOOGLE: Google = Google;

#[async_trait]
impl Network for Google {
    fn oauth(&self) -> Option<&'static Rfc6749> {
        Some(&OAUTH)
    }

    async fn profile(&self, cx: &Call<'_>, access_token: &Secret) -> Result<Value, ProviderError> {
        cx.get_json_with_bearer(PROFILE_URL, &[], access_token)
            .await
    }

    async fn exchange_code(
        &self,
        cx: &Call<'_>,
        code: &Secret,
        redirect_uri: &str,
        code_verifier: Option<&Secret>,
    ) -> Result<TokenGrant, ProviderError> {
        let mut grant = OAUTH
            .exchange_code(cx, code, redirect_uri, code_verifier)
            .await?;
        // Google never states a refresh token's lifetime; in Testing status it is 7 days.
        if cx.settings.google_testing && grant.refresh_token.is_some() {
            grant.refresh_expires_in = grant.refresh_expires_in.or(Some(TESTING_REFRESH_LIFETIME));
        }
        Ok(grant)
    }

    async fn check(
        &self,
        cx: &Call<'_>,
        access_token: &Secret,
    ) -> Result<TokenCheck, ProviderError> {
        let t = access_token.expose_secret();
        let request = cx
            .transport
            .http
            .get(cx.url(TOKENINFO_URL)?)
            .query(&[("access_token", t)]);
        let json = cx.transport.send_json(cx.provider, request, &[t]).await?;
        Ok(tokeninfo(&json, Utc::now()))
    }

    fn read_accounts(&self, json: &Value) -> Result<Vec<RemoteAccount>, &'static str> {
        let mut account = wire::remote(
            text(json, "sub"),
            text(json, "name").or_else(|| text(json, "email")),
            text(json, "picture"),
        )?;
        account.grant_owner = Some(format!("google:{}", account.external_id));
        Ok(vec![account])
    }
}

/// `tokeninfo`: `exp` is a Unix time as a string; `expires_in` the seconds left.
fn tokeninfo(v: &Value, now: chrono::DateTime<Utc>) -> TokenCheck {
    let expires_at = wire::instant(v, "exp")
        .or_else(|| wire::lifetime(v, "expires_in").and_then(|d| now.checked_add_signed(d)));
    TokenCheck {
        valid: true,
        expires_at,
        data_access_expires_at: None,
        scopes: wire::scopes(v),
        grant_owner: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use serde_json::json;

    #[test]
    fn tokeninfo_reads_the_string_fields() {
        let now = Utc.with_ymd_and_hms(2026, 12, 1, 0, 0, 0).unwrap();
        let check = tokeninfo(&json!({"exp":"1900000000","scope":"openid email"}), now);
        assert_eq!(check.expires_at, Utc.timestamp_opt(1900000000, 0).single());
        assert_eq!(check.scopes.unwrap().len(), 2);
        let check = tokeninfo(&json!({"expires_in":"3599"}), now);
        assert_eq!(check.expires_at, Some(now + Duration::seconds(3599)));
    }
}
