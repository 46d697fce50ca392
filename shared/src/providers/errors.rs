//! What a network's failed answer means for a connection. Only recognised auth errors may
//! mark an account broken; a 5xx, a timeout or a 429 says nothing about the token. The
//! rules of one network live in its module ([`super::Network::classify`]); this is what all
//! of them share: the status rules, RFC 6749 §5.2 error codes and a bare 401.

use serde_json::Value;

use super::network;
use crate::domain::{Provider, ProviderReply, Reason, Verdict};

/// Classifies a network's failed answer.
pub fn classify(provider: Provider, reply: ProviderReply<'_>) -> Verdict {
    let (status, body) = match reply {
        ProviderReply::Timeout | ProviderReply::Network => return Verdict::Transient,
        ProviderReply::Http { status, body } => (status, body),
    };
    if status == 429 || status >= 500 || status == 408 {
        return Verdict::Transient;
    }
    let json: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let by_body = network(provider)
        .classify(status, &json)
        .or_else(|| rfc6749(&json));
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

/// RFC 6749 §5.2 error responses: `{"error":"invalid_grant","error_description":"..."}`.
fn rfc6749(json: &Value) -> Option<Verdict> {
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
    use crate::domain::Status;

    pub(super) fn http(provider: Provider, status: u16, body: &str) -> Verdict {
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
