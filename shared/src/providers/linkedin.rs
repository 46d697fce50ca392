//! LinkedIn: RFC 6749 through the `oauth2` crate, introspection and revocation.
//!
//! Facts (checked 2026-12-02 against LinkedIn's documentation,
//! learn.microsoft.com/linkedin/shared/authentication/authorization-code-flow and
//! …/programmatic-refresh-tokens, …/token-introspection):
//! - authorize `https://www.linkedin.com/oauth/v2/authorization`, token
//!   `https://www.linkedin.com/oauth/v2/accessToken`, client id and secret in the form
//!   body; no PKCE for confidential web apps; scopes separated by spaces;
//! - access tokens last 60 days; refresh tokens only for approved partner apps, 365 days
//!   from first issue, not rotated (a refresh answers the seconds left of the first 365
//!   days); the token answer has no `token_type`;
//! - `POST /oauth/v2/introspectToken` answers `active`, `status` (`active`, `revoked`,
//!   `expired`) and `expires_at`; `POST /oauth/v2/revoke` revokes an access token;
//! - API calls with a dead token answer 401 `{"serviceErrorCode":65600,…}`.

use async_trait::async_trait;
use serde_json::Value;

use super::standard::{RevokeBy, Rfc6749};
use super::transport::{parse_json, rejected, unreadable};
use super::wire::{self, text};
use super::{Call, Network, ProviderError, RemoteAccount, TokenCheck};
use crate::domain::ExposeSecret;
use crate::domain::Secret;
use crate::domain::{Reason, Status, Verdict};

const OAUTH: Rfc6749 = Rfc6749 {
    authorize_url: "https://www.linkedin.com/oauth/v2/authorization",
    token_url: "https://www.linkedin.com/oauth/v2/accessToken",
    revoke_url: Some("https://www.linkedin.com/oauth/v2/revoke"),
    basic_auth: false,
    scope_separator: " ",
    extra_authorize_params: &[],
    exchange_params: &[],
    client_id_in_refresh: false,
    revoke_by: RevokeBy::AccessToken,
};
const INTROSPECT_URL: &str = "https://www.linkedin.com/oauth/v2/introspectToken";
const PROFILE_URL: &str = "https://api.linkedin.com/v2/userinfo";

pub(crate) struct Linkedin;
pub(crate) static LINKEDIN: Linkedin = Linkedin;

#[async_trait]
impl Network for Linkedin {
    fn oauth(&self) -> Option<&'static Rfc6749> {
        Some(&OAUTH)
    }

    async fn profile(&self, cx: &Call<'_>, access_token: &Secret) -> Result<Value, ProviderError> {
        cx.get_json_with_bearer(PROFILE_URL, &[], access_token)
            .await
    }

    async fn check(
        &self,
        cx: &Call<'_>,
        access_token: &Secret,
    ) -> Result<TokenCheck, ProviderError> {
        let creds = cx.creds()?;
        let t = access_token.expose_secret();
        let request = cx.transport.http.post(cx.url(INTROSPECT_URL)?).form(&[
            ("client_id", creds.client_id.as_str()),
            ("client_secret", creds.client_secret.expose_secret()),
            ("token", t),
        ]);
        let sent = [t, creds.client_secret.expose_secret()];
        let answer = cx.transport.send(cx.provider, request, &sent).await?;
        let json = parse_json(cx.provider, &answer.body)?;
        match introspection(&json).map_err(|what| unreadable(cx.provider, what))? {
            Some(check) => Ok(check),
            None => Err(rejected(cx.provider, answer.status, &answer.body, &sent)),
        }
    }

    fn read_accounts(&self, json: &Value) -> Result<Vec<RemoteAccount>, &'static str> {
        wire::remote(text(json, "sub"), text(json, "name"), text(json, "picture")).map(|a| vec![a])
    }

    /// The introspection answer `{"active":false,"status":"revoked"}`.
    fn classify(&self, _status: u16, json: &Value) -> Option<Verdict> {
        match json.get("status")?.as_str()? {
            "revoked" => Some(Verdict::revoked(Reason::AccessRevoked)),
            "expired" => Some(Verdict::Broken {
                status: Status::Expired,
                reason: Reason::TokenInvalid,
            }),
            _ => None,
        }
    }
}

/// The introspection answer: `None` when the status says revoked/expired (the caller
/// classifies the body), else the check.
fn introspection(v: &Value) -> Result<Option<TokenCheck>, &'static str> {
    if matches!(
        v.get("status").and_then(Value::as_str),
        Some("revoked" | "expired")
    ) {
        return Ok(None);
    }
    let active = v
        .get("active")
        .and_then(Value::as_bool)
        .ok_or("no active in the introspection answer")?;
    Ok(Some(TokenCheck {
        valid: active,
        expires_at: wire::instant(v, "expires_at"),
        data_access_expires_at: None,
        scopes: wire::scopes(v),
        grant_owner: None,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};
    use serde_json::json;

    #[test]
    fn introspection_revoked_is_left_to_classify() {
        assert_eq!(
            introspection(&json!({"active":false,"status":"revoked"})).unwrap(),
            None
        );
        let ok = introspection(
            &json!({"active":true,"status":"active","expires_at":1900000000,"scope":"openid,profile"}),
        )
        .unwrap()
        .unwrap();
        assert!(ok.valid);
        assert_eq!(ok.expires_at, Utc.timestamp_opt(1900000000, 0).single());
    }

    #[test]
    fn the_introspection_status_names_the_cause() {
        assert_eq!(
            LINKEDIN.classify(
                200,
                &json!({"active":false,"status":"revoked","client_id":"c"})
            ),
            Some(Verdict::revoked(Reason::AccessRevoked))
        );
        assert!(matches!(
            LINKEDIN.classify(200, &json!({"status":"expired"})),
            Some(Verdict::Broken {
                status: Status::Expired,
                ..
            })
        ));
    }
}
