//! What a provider's answer means for a connection. Only recognised auth errors may mark
//! an account broken; a 5xx, a timeout or a 429 says nothing about the token.

use serde_json::Value;

use super::account::{Reason, Status};
use super::provider::Provider;

/// A provider's answer to a token or API call that did not succeed.
#[derive(Debug, Clone, Copy)]
pub enum ProviderReply<'a> {
    /// An HTTP answer with its status and body.
    Http { status: u16, body: &'a [u8] },
    /// No answer in time.
    Timeout,
    /// The connection failed (DNS, reset, TLS).
    Network,
}

/// What to do with the account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The connection is dead until a person reconnects.
    Broken { status: Status, reason: Reason },
    /// Says nothing about the token: try again later; count it, never break on it.
    Transient,
    /// The app (not the user) is over a network limit: nothing for the user to do.
    AppLimit,
    /// An error we do not recognise: never break on it, count it like a transient one.
    Unrecognised,
}

impl Verdict {
    fn revoked(reason: Reason) -> Self {
        Verdict::Broken {
            status: Status::Revoked,
            reason,
        }
    }
}

/// Classifies a provider's failed answer.
pub fn classify(provider: Provider, reply: ProviderReply<'_>) -> Verdict {
    let (status, body) = match reply {
        ProviderReply::Timeout | ProviderReply::Network => return Verdict::Transient,
        ProviderReply::Http { status, body } => (status, body),
    };
    if status == 429 || status >= 500 || status == 408 {
        return Verdict::Transient;
    }
    let json: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let by_body = match provider {
        Provider::Facebook | Provider::Instagram | Provider::InstagramLogin | Provider::Threads => {
            meta(&json)
        }
        Provider::Tiktok => tiktok(&json),
        Provider::Linkedin => linkedin_introspection(&json),
        // X answers a dead or replayed refresh token with `invalid_request` ("Value passed
        // for the token was invalid.") as often as with `invalid_grant`.
        Provider::X => (json.get("error").and_then(Value::as_str) == Some("invalid_request"))
            .then(|| Verdict::revoked(Reason::TokenInvalid)),
        _ => None,
    }
    .or_else(|| oauth2(&json));
    match by_body {
        Some(v) => v,
        None if status == 401 => Verdict::revoked(Reason::TokenInvalid),
        None => Verdict::Unrecognised,
    }
}

/// The network's error code in a failed answer, for the history: Meta's `190/460`
/// (code/subcode), TikTok's and OAuth 2.0's `error` codes. Never the message (it may
/// quote the request). At most 64 characters.
pub fn error_code(body: &[u8]) -> Option<String> {
    let json: Value = serde_json::from_slice(body).ok()?;
    let error = json.get("error")?;
    let code = match error {
        Value::String(code) => code.clone(),
        Value::Object(e) => match (e.get("code"), e.get("error_subcode")) {
            (Some(Value::Number(c)), Some(Value::Number(sub))) => format!("{c}/{sub}"),
            (Some(Value::Number(c)), _) => c.to_string(),
            (Some(Value::String(c)), _) => c.clone(),
            _ => return None,
        },
        _ => return None,
    };
    let clean: String = code
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '/' | '-' | '.'))
        .take(64)
        .collect();
    (!clean.is_empty()).then_some(clean)
}

/// Meta's Graph API error object: `{"error":{"type":"OAuthException","code":190,"error_subcode":460}}`.
fn meta(json: &Value) -> Option<Verdict> {
    let error = json.get("error")?;
    let code = error.get("code").and_then(Value::as_i64)?;
    let subcode = error.get("error_subcode").and_then(Value::as_i64);
    Some(match code {
        190 => match subcode {
            Some(458) => Verdict::revoked(Reason::AccessRevoked),
            Some(459) | Some(464) => Verdict::revoked(Reason::Checkpoint),
            Some(460) => Verdict::revoked(Reason::PasswordChanged),
            Some(463) => Verdict::Broken {
                status: Status::Expired,
                reason: Reason::TokenInvalid,
            },
            _ => Verdict::revoked(Reason::TokenInvalid),
        },
        102 => Verdict::revoked(Reason::TokenInvalid),
        10 | 200..=299 => Verdict::revoked(Reason::ScopesChanged),
        // Application request limit reached.
        4 => Verdict::AppLimit,
        // User, Page and custom rate limits; temporary service errors.
        1 | 2 | 17 | 32 | 341 | 613 | 80001..=80014 => Verdict::Transient,
        _ => return None,
    })
}

/// TikTok's `{"error":{"code":"access_token_invalid",...}}` (API) form.
fn tiktok(json: &Value) -> Option<Verdict> {
    let code = json.get("error")?.get("code")?.as_str()?;
    Some(match code {
        "ok" => return None,
        "access_token_invalid" => Verdict::revoked(Reason::TokenInvalid),
        "scope_not_authorized" | "scope_permission_missed" => {
            Verdict::revoked(Reason::ScopesChanged)
        }
        "rate_limit_exceeded" => Verdict::Transient,
        "spam_risk_too_many_posts" | "spam_risk_user_banned_from_posting" => Verdict::AppLimit,
        "internal_error" => Verdict::Transient,
        _ => return None,
    })
}

/// LinkedIn's introspection answer `{"active":false,"status":"revoked"}`.
fn linkedin_introspection(json: &Value) -> Option<Verdict> {
    match json.get("status")?.as_str()? {
        "revoked" => Some(Verdict::revoked(Reason::AccessRevoked)),
        "expired" => Some(Verdict::Broken {
            status: Status::Expired,
            reason: Reason::TokenInvalid,
        }),
        _ => None,
    }
}

/// RFC 6749 §5.2 error responses: `{"error":"invalid_grant","error_description":"..."}`.
fn oauth2(json: &Value) -> Option<Verdict> {
    let error = json.get("error")?.as_str()?;
    Some(match error {
        "invalid_grant" => Verdict::revoked(Reason::TokenInvalid),
        "invalid_token" => Verdict::revoked(Reason::TokenInvalid),
        "insufficient_scope" | "invalid_scope" => Verdict::revoked(Reason::ScopesChanged),
        "temporarily_unavailable" | "server_error" => Verdict::Transient,
        // invalid_client, unauthorized_client, invalid_request: our side, not the user's.
        _ => Verdict::Unrecognised,
    })
}

#[cfg(test)]
mod code_tests {
    use super::*;

    #[test]
    fn error_codes_are_read_without_the_message() {
        let meta = br#"{"error":{"message":"Session invalidated for user@example.com","type":"OAuthException","code":190,"error_subcode":460}}"#;
        assert_eq!(error_code(meta).as_deref(), Some("190/460"));
        assert_eq!(
            error_code(br#"{"error":"invalid_grant","error_description":"bad"}"#).as_deref(),
            Some("invalid_grant")
        );
        assert_eq!(
            error_code(br#"{"error":{"code":"access_token_invalid","message":"x"}}"#).as_deref(),
            Some("access_token_invalid")
        );
        assert_eq!(error_code(b"<html>"), None);
        assert_eq!(
            error_code(br#"{"error":"<script>"}"#).as_deref(),
            Some("script")
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn http(provider: Provider, status: u16, body: &str) -> Verdict {
        classify(
            provider,
            ProviderReply::Http {
                status,
                body: body.as_bytes(),
            },
        )
    }

    fn meta190(sub: i64) -> String {
        format!(
            r#"{{"error":{{"message":"Error validating access token","type":"OAuthException","code":190,"error_subcode":{sub},"fbtrace_id":"A1"}}}}"#
        )
    }

    #[test]
    fn meta_code_190_subcodes_name_the_cause() {
        let cases = [
            (458, Status::Revoked, Reason::AccessRevoked),
            (459, Status::Revoked, Reason::Checkpoint),
            (460, Status::Revoked, Reason::PasswordChanged),
            (463, Status::Expired, Reason::TokenInvalid),
            (464, Status::Revoked, Reason::Checkpoint),
            (467, Status::Revoked, Reason::TokenInvalid),
        ];
        for (sub, status, reason) in cases {
            for p in [Provider::Facebook, Provider::Instagram, Provider::Threads] {
                assert_eq!(
                    http(p, 400, &meta190(sub)),
                    Verdict::Broken { status, reason },
                    "subcode {sub} on {p}"
                );
            }
        }
    }

    #[test]
    fn meta_permission_codes_mean_scopes_changed_and_limits_are_not_revocations() {
        let perm = r#"{"error":{"message":"(#200) Permissions error","type":"OAuthException","code":200}}"#;
        assert_eq!(
            http(Provider::Facebook, 403, perm),
            Verdict::revoked(Reason::ScopesChanged)
        );
        let app = r#"{"error":{"message":"(#4) Application request limit reached","type":"OAuthException","code":4}}"#;
        assert_eq!(http(Provider::Facebook, 400, app), Verdict::AppLimit);
        let user = r#"{"error":{"message":"(#17) User request limit reached","type":"OAuthException","code":17}}"#;
        assert_eq!(http(Provider::Facebook, 400, user), Verdict::Transient);
    }

    #[test]
    fn invalid_grant_breaks_and_transient_failures_never_do() {
        let grant =
            r#"{"error":"invalid_grant","error_description":"Token has been expired or revoked."}"#;
        for p in Provider::ALL {
            assert_eq!(
                http(p, 400, grant),
                Verdict::revoked(Reason::TokenInvalid),
                "{p}"
            );
            for status in [429, 500, 502, 503, 504] {
                assert_eq!(
                    http(p, status, &meta190(460)),
                    Verdict::Transient,
                    "{p} {status}"
                );
                assert_eq!(http(p, status, grant), Verdict::Transient, "{p} {status}");
            }
            assert_eq!(classify(p, ProviderReply::Timeout), Verdict::Transient);
            assert_eq!(classify(p, ProviderReply::Network), Verdict::Transient);
        }
    }

    #[test]
    fn bare_401_is_an_invalid_token_but_other_4xx_are_unrecognised() {
        assert_eq!(
            http(
                Provider::Pinterest,
                401,
                r#"{"code":2,"message":"Authentication failed."}"#
            ),
            Verdict::revoked(Reason::TokenInvalid)
        );
        assert_eq!(
            http(Provider::X, 401, ""),
            Verdict::revoked(Reason::TokenInvalid)
        );
        assert_eq!(http(Provider::X, 400, "<html>"), Verdict::Unrecognised);
        assert_eq!(
            http(Provider::Google, 401, r#"{"error":"invalid_client"}"#),
            Verdict::Unrecognised
        );
    }

    #[test]
    fn x_invalid_request_on_a_token_call_is_a_dead_token() {
        let body = r#"{"error":"invalid_request","error_description":"Value passed for the token was invalid."}"#;
        assert_eq!(
            http(Provider::X, 400, body),
            Verdict::revoked(Reason::TokenInvalid)
        );
        // Elsewhere invalid_request is our own malformed call, not the user's token.
        assert_eq!(http(Provider::Google, 400, body), Verdict::Unrecognised);
    }

    #[test]
    fn tiktok_and_linkedin_bodies_are_read() {
        let tok = r#"{"data":{},"error":{"code":"access_token_invalid","message":"The access token is invalid or not found in the request.","log_id":"x"}}"#;
        assert_eq!(
            http(Provider::Tiktok, 401, tok),
            Verdict::revoked(Reason::TokenInvalid)
        );
        let scope =
            r#"{"data":{},"error":{"code":"scope_not_authorized","message":"","log_id":"x"}}"#;
        assert_eq!(
            http(Provider::Tiktok, 403, scope),
            Verdict::revoked(Reason::ScopesChanged)
        );
        let intro = r#"{"active":false,"status":"revoked","client_id":"c"}"#;
        assert_eq!(
            http(Provider::Linkedin, 200, intro),
            Verdict::revoked(Reason::AccessRevoked)
        );
    }
}
