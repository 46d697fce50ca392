//! Meta: Facebook Pages and Instagram via Facebook Login ([`facebook`]), Instagram API with
//! Instagram Login ([`instagram_login`]) and Threads ([`threads`]). Their token calls are
//! not plain OAuth 2.0 (the Graph code exchange is a GET, long-lived tokens come from
//! `fb_`/`ig_`/`th_exchange_token`, Instagram Login and Threads refresh the access token
//! itself, and errors are Graph error objects), so they are written here rather than through
//! the `oauth2` crate. What the four share: Graph's error object and `debug_token`.
//!
//! Facts (checked 2026-12-02 against developers.facebook.com/docs/graph-api/guides/error-handling,
//! …/facebook-login/access-tokens/debugging-and-error-handling and …/facebook-login/auth-vs-data):
//! - errors are `{"error":{"message","type":"OAuthException","code","error_subcode","fbtrace_id"}}`;
//!   code 190 is a dead token, its subcode says why: 458 app removed, 459 checkpoint,
//!   460 password changed, 463 expired, 464 unconfirmed user, 467 invalid; 493 (the person
//!   has not engaged the app for over 90 days) is named in PROVIDERS.md's 2026-12-01
//!   corrections but was not found on Meta's error page on 2026-12-02; a lost Page role is
//!   190 without a subcode and the message "The user must be an administrator of the page
//!   in order to impersonate it" (same source, same caveat);
//! - codes 3, 10 and 200–299 are permission errors; Meta does not split them into app-level
//!   and user-level ones, so the message decides: app review, app mode and capability
//!   messages are the app's (nothing for the person to do), the rest the person's;
//! - 4, 17, 32, 341, 613 are rate limits, 1 and 2 temporary;
//! - **data access expires 90 days after the person was last active in the app**;
//!   `debug_token` states it as `data_access_expires_at`; the login dialog renews it with
//!   `auth_type=reauthorize` and asks again for declined permissions with
//!   `auth_type=rerequest`.

use serde_json::Value;

use super::wire;
use super::TokenCheck;
use crate::domain::{Reason, Status, Verdict};

pub mod facebook;
pub mod instagram_login;
mod self_refreshing;
pub mod threads;

pub(crate) use facebook::{FACEBOOK, INSTAGRAM};
pub(crate) use instagram_login::INSTAGRAM_LOGIN;
pub(crate) use threads::THREADS;

/// The Graph API version the Facebook and Instagram-via-Facebook calls use: a setting
/// (`META_GRAPH_VERSION`, the template's `MetaGraphApiVersion`), not a literal.
///
/// Versions Meta serves (changelog, updated 2026-10-29, checked 2026-12-02): v27.0
/// (2026-11-04), v26.0 (2026-07-29), v25.0 (2026-02-18, until 2028-07-29), v24.0 (until
/// 2028-02-18), v23.0 (until 2027-10-08), v22.0 (until 2027-05-20), v21.0 (until
/// 2027-01-21). The default is v25.0, the newest with a published end of life.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GraphVersion(String);

impl GraphVersion {
    pub const DEFAULT: &'static str = "v25.0";

    /// `vNN.N`, as Meta names its versions.
    pub fn parse(raw: &str) -> Option<Self> {
        let rest = raw.strip_prefix('v')?;
        let (major, minor) = rest.split_once('.')?;
        let digits =
            |s: &str| !s.is_empty() && s.len() <= 3 && s.bytes().all(|b| b.is_ascii_digit());
        (digits(major) && digits(minor)).then(|| Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for GraphVersion {
    fn default() -> Self {
        Self(Self::DEFAULT.to_owned())
    }
}

/// Permission-error messages that are about the app, not the person: app review, the app's
/// mode, a capability the app lacks. Nothing the person can fix by reconnecting.
const APP_LEVEL_MESSAGES: [&str; 6] = [
    "app review",
    "development mode",
    "does not have the capability",
    "application does not have permission",
    "not been approved",
    "advanced access",
];

/// Graph's error object, read by the four Meta networks alike.
pub(crate) fn classify(json: &Value) -> Option<Verdict> {
    let error = json.get("error")?;
    let code = error.get("code").and_then(Value::as_i64)?;
    let subcode = error.get("error_subcode").and_then(Value::as_i64);
    let message = error
        .get("message")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_ascii_lowercase();
    Some(match code {
        190 => match subcode {
            Some(458) => Verdict::revoked(Reason::AccessRevoked),
            Some(459) | Some(464) => Verdict::revoked(Reason::Checkpoint),
            Some(460) => Verdict::revoked(Reason::PasswordChanged),
            Some(463) => Verdict::Broken {
                status: Status::Expired,
                reason: Reason::TokenInvalid,
            },
            Some(493) => Verdict::Broken {
                status: Status::Expired,
                reason: Reason::DataAccessExpired,
            },
            None if message.contains("must be an administrator") => {
                Verdict::revoked(Reason::AdminLost)
            }
            _ => Verdict::revoked(Reason::TokenInvalid),
        },
        102 => Verdict::revoked(Reason::TokenInvalid),
        3 | 10 | 200..=299 if APP_LEVEL_MESSAGES.iter().any(|m| message.contains(m)) => {
            Verdict::AppLimit
        }
        3 => Verdict::AppLimit,
        10 | 200..=299 => Verdict::revoked(Reason::ScopesChanged),
        // Application request limit reached.
        4 => Verdict::AppLimit,
        // User, Page and custom rate limits; temporary service errors.
        1 | 2 | 17 | 32 | 341 | 613 | 80001..=80014 => Verdict::Transient,
        _ => return None,
    })
}

/// What `debug_token` said: a check, or the error object to classify.
#[derive(Debug, PartialEq)]
pub(crate) enum DebugToken {
    /// The check, and the person the token belongs to (`user_id`).
    Check(TokenCheck, Option<String>),
    /// `is_valid: false` with `data.error`: a Graph error body rebuilt from it
    /// (`subcode` renamed `error_subcode`) so [`classify`] reads it like any Meta error.
    Invalid(Value),
}

pub(crate) fn debug_token(v: &Value) -> Result<DebugToken, &'static str> {
    let data = v.get("data").ok_or("no data in the debug_token answer")?;
    let valid = data
        .get("is_valid")
        .and_then(Value::as_bool)
        .ok_or("no is_valid in the debug_token answer")?;
    if !valid {
        if let Some(error) = data.get("error").filter(|e| e.is_object()) {
            let mut rebuilt = serde_json::Map::new();
            rebuilt.insert("type".into(), Value::from("OAuthException"));
            for (from, to) in [
                ("code", "code"),
                ("subcode", "error_subcode"),
                ("error_subcode", "error_subcode"),
                ("message", "message"),
            ] {
                if let Some(x) = error.get(from) {
                    rebuilt.insert(to.into(), x.clone());
                }
            }
            return Ok(DebugToken::Invalid(
                serde_json::json!({ "error": Value::Object(rebuilt) }),
            ));
        }
    }
    Ok(DebugToken::Check(
        TokenCheck {
            valid,
            expires_at: wire::instant(data, "expires_at"),
            data_access_expires_at: wire::instant(data, "data_access_expires_at"),
            scopes: wire::scopes(data),
            grant_owner: None,
        },
        wire::text(data, "user_id"),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};
    use serde_json::json;

    fn meta190(sub: Option<i64>, message: &str) -> Value {
        let mut e =
            json!({"message": message, "type":"OAuthException","code":190,"fbtrace_id":"A1"});
        if let Some(s) = sub {
            e["error_subcode"] = json!(s);
        }
        json!({ "error": e })
    }

    #[test]
    fn code_190_subcodes_name_the_cause() {
        let cases = [
            (458, Status::Revoked, Reason::AccessRevoked),
            (459, Status::Revoked, Reason::Checkpoint),
            (460, Status::Revoked, Reason::PasswordChanged),
            (463, Status::Expired, Reason::TokenInvalid),
            (464, Status::Revoked, Reason::Checkpoint),
            (467, Status::Revoked, Reason::TokenInvalid),
            (493, Status::Expired, Reason::DataAccessExpired),
        ];
        for (sub, status, reason) in cases {
            assert_eq!(
                classify(&meta190(Some(sub), "Error validating access token")),
                Some(Verdict::Broken { status, reason }),
                "subcode {sub}"
            );
        }
    }

    #[test]
    fn a_lost_page_role_is_admin_lost() {
        let body = meta190(
            None,
            "The user must be an administrator of the page in order to impersonate it.",
        );
        assert_eq!(classify(&body), Some(Verdict::revoked(Reason::AdminLost)));
        assert_eq!(
            classify(&meta190(None, "Invalid OAuth access token")),
            Some(Verdict::revoked(Reason::TokenInvalid))
        );
    }

    #[test]
    fn permission_codes_are_the_persons_unless_the_message_is_about_the_app() {
        let err = |code: i64, message: &str| json!({"error":{"message":message,"type":"OAuthException","code":code}});
        assert_eq!(
            classify(&err(
                200,
                "(#200) Requires pages_manage_posts permission to manage the object"
            )),
            Some(Verdict::revoked(Reason::ScopesChanged))
        );
        assert_eq!(
            classify(&err(
                10,
                "(#10) Application does not have permission for this action"
            )),
            Some(Verdict::AppLimit)
        );
        assert_eq!(
            classify(&err(
                200,
                "(#200) This endpoint requires the app to pass App Review"
            )),
            Some(Verdict::AppLimit)
        );
        assert_eq!(
            classify(&err(
                3,
                "(#3) Application does not have the capability to make this API call."
            )),
            Some(Verdict::AppLimit)
        );
        assert_eq!(
            classify(&err(4, "(#4) Application request limit reached")),
            Some(Verdict::AppLimit)
        );
        assert_eq!(
            classify(&err(17, "(#17) User request limit reached")),
            Some(Verdict::Transient)
        );
    }

    #[test]
    fn debug_token_reads_expiries_the_person_and_zero_means_never() {
        let v = json!({"data":{"app_id":"1","type":"USER","is_valid":true,"expires_at":0,"data_access_expires_at":1900000000,"scopes":["pages_show_list"],"user_id":"10001"}});

        let DebugToken::Check(check, user) = debug_token(&v).unwrap() else {
            panic!("expected a check")
        };

        assert!(check.valid);
        assert_eq!(check.expires_at, None);
        assert_eq!(
            check.data_access_expires_at,
            Utc.timestamp_opt(1900000000, 0).single()
        );
        assert_eq!(check.scopes, Some(vec!["pages_show_list".to_owned()]));
        assert_eq!(user.as_deref(), Some("10001"));
    }

    #[test]
    fn debug_token_invalid_answer_is_rebuilt_as_a_graph_error() {
        let v = json!({"data":{"is_valid":false,"error":{"code":190,"message":"changed password","subcode":460},"scopes":[]}});

        let DebugToken::Invalid(body) = debug_token(&v).unwrap() else {
            panic!("expected an error")
        };

        assert_eq!(body["error"]["code"], 190);
        assert_eq!(body["error"]["error_subcode"], 460);
        assert_eq!(body["error"]["type"], "OAuthException");
    }

    #[test]
    fn graph_versions_are_meta_shaped() {
        assert_eq!(GraphVersion::default().as_str(), "v25.0");
        assert!(GraphVersion::parse("v27.0").is_some());
        for bad in ["25.0", "v25", "v25.0/../x", "v.0", "vx.y", ""] {
            assert!(GraphVersion::parse(bad).is_none(), "{bad}");
        }
    }
}
