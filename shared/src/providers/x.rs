//! X: OAuth 2.0 with PKCE through the `oauth2` crate.
//!
//! Facts (checked 2026-12-02 against X's documentation,
//! docs.x.com/resources/fundamentals/authentication/oauth-2-0/authorization-code and
//! …/user-access-token):
//! - authorize `https://x.com/i/oauth2/authorize` (PKCE required), token and revoke
//!   `https://api.x.com/2/oauth2/token` and `…/revoke`; a confidential client authenticates
//!   with HTTP Basic; the refresh body also names `client_id`; scopes separated by spaces;
//! - access tokens last 2 hours; a refresh token is issued only with `offline.access`,
//!   is single-use and rotates (replaying a retired one can end the whole grant); its own
//!   lifetime is not documented;
//! - disconnect revokes the refresh token (`token_type_hint=refresh_token`): the stored
//!   access token has usually expired by then;
//! - a dead or replayed refresh token answers `invalid_grant` or `invalid_request`
//!   ("Value passed for the token was invalid."); API calls answer 401.

use async_trait::async_trait;
use serde_json::Value;

use super::standard::{RevokeBy, Rfc6749};
use super::wire::{self, text};
use super::{Call, Network, ProviderError, RemoteAccount};
use crate::domain::Secret;
use crate::domain::{Reason, Verdict};

const OAUTH: Rfc6749 = Rfc6749 {
    authorize_url: "https://x.com/i/oauth2/authorize",
    token_url: "https://api.x.com/2/oauth2/token",
    revoke_url: Some("https://api.x.com/2/oauth2/revoke"),
    basic_auth: true,
    scope_separator: " ",
    extra_authorize_params: &[],
    exchange_params: &[],
    client_id_in_refresh: true,
    revoke_by: RevokeBy::RefreshToken,
};
const PROFILE_URL: &str = "https://api.x.com/2/users/me";

pub(crate) struct XNetwork;
pub(crate) static X: XNetwork = XNetwork;

#[async_trait]
impl Network for XNetwork {
    fn oauth(&self) -> Option<&'static Rfc6749> {
        Some(&OAUTH)
    }

    async fn profile(&self, cx: &Call<'_>, access_token: &Secret) -> Result<Value, ProviderError> {
        let fields = [("user.fields", "profile_image_url")];
        cx.get_json_with_bearer(PROFILE_URL, &fields, access_token)
            .await
    }

    fn read_accounts(&self, json: &Value) -> Result<Vec<RemoteAccount>, &'static str> {
        let d = json.get("data").unwrap_or(&Value::Null);
        wire::remote(
            text(d, "id"),
            text(d, "name").or_else(|| text(d, "username")),
            text(d, "profile_image_url"),
        )
        .map(|a| vec![a])
    }

    /// X answers a dead or replayed refresh token with `invalid_request` as often as with
    /// `invalid_grant`.
    fn classify(&self, _status: u16, json: &Value) -> Option<Verdict> {
        (json.get("error").and_then(Value::as_str) == Some("invalid_request"))
            .then(|| Verdict::revoked(Reason::TokenInvalid))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn invalid_request_on_a_token_call_is_a_dead_token() {
        let body = json!({"error":"invalid_request","error_description":"Value passed for the token was invalid."});
        assert_eq!(
            X.classify(400, &body),
            Some(Verdict::revoked(Reason::TokenInvalid))
        );
        assert_eq!(X.classify(400, &json!({"error":"invalid_grant"})), None);
    }
}
