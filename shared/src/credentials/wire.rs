//! The credentials function's requests and answers, as JSON (schema:
//! `infra/credentials.schema.json`, checked by the tests against every answer).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize, Serializer};
use serde_json::Value;

use crate::domain::ExposeSecret;
use crate::domain::Secret;
use crate::domain::{AccountId, Provider, TeamId, TokenColumn};

/// The largest `body` of a failure report: 16 KiB of the network's error answer.
pub const MAX_REPORT_BODY: usize = 16 * 1024;
/// The largest `request` line of a failure report.
pub const MAX_REPORT_REQUEST: usize = 512;
/// The largest request accepted at all (a report with its body, and room to spare).
pub const MAX_REQUEST_BYTES: usize = 64 * 1024;
/// The default and the largest `min_valid_seconds`.
pub const DEFAULT_MIN_VALID_SECONDS: u32 = 300;
pub const MAX_MIN_VALID_SECONDS: u32 = 86_400;

/// One request, read and checked.
#[derive(Debug, Clone, PartialEq)]
pub enum Request {
    GetToken {
        team: TeamId,
        account: AccountId,
        min_valid_seconds: u32,
        force_refresh: bool,
    },
    ReportFailure {
        team: TeamId,
        account: AccountId,
        http_status: u16,
        body: String,
        request: Option<String>,
    },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GetTokenBody {
    #[allow(dead_code)]
    action: String,
    team_id: String,
    account_id: String,
    #[serde(default)]
    min_valid_seconds: Option<u32>,
    #[serde(default)]
    force_refresh: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReportFailureBody {
    #[allow(dead_code)]
    action: String,
    team_id: String,
    account_id: String,
    http_status: u16,
    body: String,
    #[serde(default)]
    request: Option<String>,
}

/// Why a request was refused before anything was looked at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BadRequest {
    /// Not JSON, not an object, a field of the wrong type, an unknown field, an id that
    /// is not one.
    Malformed(String),
    /// `action` names nothing this function does.
    UnknownAction(String),
    /// Over [`MAX_REQUEST_BYTES`], or a report body over [`MAX_REPORT_BODY`].
    TooLarge(String),
}

impl Request {
    /// Reads a request from the invocation's payload bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, BadRequest> {
        if bytes.len() > MAX_REQUEST_BYTES {
            return Err(BadRequest::TooLarge(format!(
                "the request is larger than {MAX_REQUEST_BYTES} bytes"
            )));
        }
        let value: Value = serde_json::from_slice(bytes).map_err(|e| {
            BadRequest::Malformed(format!(
                "the request is not JSON (line {} column {})",
                e.line(),
                e.column()
            ))
        })?;
        Self::from_value(value)
    }

    /// Reads a request from the invocation's payload.
    pub fn from_value(value: Value) -> Result<Self, BadRequest> {
        let Some(object) = value.as_object() else {
            return Err(BadRequest::Malformed(
                "the request must be a JSON object".into(),
            ));
        };
        let action = match object.get("action") {
            Some(Value::String(a)) => a.clone(),
            Some(_) => return Err(BadRequest::Malformed("action must be a string".into())),
            None => {
                return Err(BadRequest::Malformed(
                    "action is required (get_token or report_failure)".into(),
                ))
            }
        };
        // serde's messages name the field and the expected type, never a value.
        let shape = |e: serde_json::Error| BadRequest::Malformed(e.to_string());
        match action.as_str() {
            "get_token" => serde_json::from_value::<GetTokenBody>(value)
                .map_err(shape)?
                .into_request(),
            "report_failure" => serde_json::from_value::<ReportFailureBody>(value)
                .map_err(shape)?
                .into_request(),
            other => Err(BadRequest::UnknownAction(format!(
                "unknown action '{}'; expected get_token or report_failure",
                other.chars().take(40).collect::<String>()
            ))),
        }
    }
}

impl GetTokenBody {
    /// The `get_token` request, its limits and ids checked.
    fn into_request(self) -> Result<Request, BadRequest> {
        let min_valid_seconds = self.min_valid_seconds.unwrap_or(DEFAULT_MIN_VALID_SECONDS);
        if min_valid_seconds > MAX_MIN_VALID_SECONDS {
            return Err(BadRequest::Malformed(format!(
                "min_valid_seconds must be at most {MAX_MIN_VALID_SECONDS}"
            )));
        }
        Ok(Request::GetToken {
            team: team(&self.team_id)?,
            account: account(&self.account_id)?,
            min_valid_seconds,
            force_refresh: self.force_refresh,
        })
    }
}

impl ReportFailureBody {
    /// The `report_failure` request, its sizes, status and ids checked.
    fn into_request(self) -> Result<Request, BadRequest> {
        if self.body.len() > MAX_REPORT_BODY {
            return Err(BadRequest::TooLarge(format!(
                "body must be at most {MAX_REPORT_BODY} bytes"
            )));
        }
        if !(100..=599).contains(&self.http_status) {
            return Err(BadRequest::Malformed(
                "http_status must be an HTTP status (100 to 599)".into(),
            ));
        }
        if self
            .request
            .as_ref()
            .is_some_and(|r| r.len() > MAX_REPORT_REQUEST)
        {
            return Err(BadRequest::Malformed(format!(
                "request must be at most {MAX_REPORT_REQUEST} characters"
            )));
        }
        Ok(Request::ReportFailure {
            team: team(&self.team_id)?,
            account: account(&self.account_id)?,
            http_status: self.http_status,
            body: self.body,
            request: self.request,
        })
    }
}

fn team(raw: &str) -> Result<TeamId, BadRequest> {
    TeamId::parse(raw).map_err(|e| BadRequest::Malformed(format!("team_id: {e}")))
}

fn account(raw: &str) -> Result<AccountId, BadRequest> {
    AccountId::parse(raw).map_err(|e| BadRequest::Malformed(format!("account_id: {e}")))
}

fn expose<S: Serializer>(secret: &Secret, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(secret.expose_secret())
}

/// A working token: the one designed exit of a token from tokenwarden. Its Debug
/// redacts the token; nothing logs the serialized answer.
#[derive(Debug, Serialize)]
pub struct TokenAnswer {
    #[serde(serialize_with = "expose")]
    pub access_token: Secret,
    /// `Bearer` for every network tokenwarden serves.
    pub token_type: &'static str,
    /// When the token stops working; `null` when the network gives it no end (Page tokens).
    pub expires_at: Option<DateTime<Utc>>,
    pub scopes: Vec<String>,
    pub account_id: AccountId,
    pub provider: Provider,
    /// The network's id of the account (the Page id for a Page).
    pub external_id: String,
    /// Whether this call refreshed the token (or waited for another caller's refresh).
    pub refreshed: bool,
    /// A refresh was needed but the network was unavailable: this token is still valid,
    /// for less than the asked time.
    pub degraded: bool,
    /// The token column.
    pub token: TokenColumn,
}

/// What a failure report came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The check confirmed the token is dead: the account is broken with the reason.
    Confirmed,
    /// The check found the token working: nothing changed (the report is counted).
    NotConfirmed,
    /// A failure that says nothing about the token (5xx, 429, timeouts, app limits, an
    /// answer tokenwarden does not recognise), or a check the network did not answer:
    /// nothing changed.
    Transient,
    /// Already verified within the last 10 minutes, or already known broken: nothing
    /// was called, nothing changed.
    Deduplicated,
}

#[derive(Debug, Serialize)]
pub struct ReportAnswer {
    pub outcome: Outcome,
    pub account_id: AccountId,
    pub provider: Provider,
    pub token: TokenColumn,
}

/// The closed list of error codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// Malformed JSON, a missing or wrongly typed field, an unknown field, a bad id.
    BadRequest,
    /// `action` is not `get_token` or `report_failure`.
    UnknownAction,
    /// The request, or a report's body, is over its size limit.
    PayloadTooLarge,
    /// No such account in this team (another team's account is not found either).
    NotFound,
    /// The connection is expired or broken: only a person reconnecting helps. `token`
    /// says why and by when.
    ReconnectNeeded,
    /// Another caller is refreshing this account and did not finish in time: try again
    /// after `retry_after_ms`. Never a stale token.
    Busy,
    /// The network did not answer a needed refresh and no valid token is left: try again
    /// after `retry_after_ms`.
    ProviderUnavailable,
    /// Something failed inside tokenwarden (logged with its cause).
    Internal,
}

#[derive(Debug, Serialize)]
pub struct ErrorBody {
    pub code: ErrorCode,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_after_ms: Option<u64>,
    /// The token column, with `reconnect_needed`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<TokenColumn>,
}

#[derive(Debug, Serialize)]
pub struct ErrorAnswer {
    pub error: ErrorBody,
}

impl ErrorAnswer {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            error: ErrorBody {
                code,
                message: message.into(),
                retry_after_ms: None,
                token: None,
            },
        }
    }

    pub fn code(&self) -> ErrorCode {
        self.error.code
    }
}

impl From<BadRequest> for ErrorAnswer {
    fn from(bad: BadRequest) -> Self {
        match bad {
            BadRequest::Malformed(m) => ErrorAnswer::new(ErrorCode::BadRequest, m),
            BadRequest::UnknownAction(m) => ErrorAnswer::new(ErrorCode::UnknownAction, m),
            BadRequest::TooLarge(m) => ErrorAnswer::new(ErrorCode::PayloadTooLarge, m),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn requests_are_read_with_their_defaults() {
        let r = Request::from_value(json!({"action":"get_token","team_id":"t1","account_id":"a1"}))
            .unwrap();
        assert_eq!(
            r,
            Request::GetToken {
                team: TeamId::parse("t1").unwrap(),
                account: AccountId::parse("a1").unwrap(),
                min_valid_seconds: 300,
                force_refresh: false
            }
        );
        let r = Request::from_value(json!({"action":"report_failure","team_id":"t1",
            "account_id":"a1","http_status":401,"body":"{}","request":"POST /feed"}))
        .unwrap();
        assert!(matches!(
            r,
            Request::ReportFailure {
                http_status: 401,
                ..
            }
        ));
    }

    #[test]
    fn bad_requests_are_told_apart() {
        let bad = |v: Value| Request::from_value(v).unwrap_err();
        assert!(matches!(bad(json!([1])), BadRequest::Malformed(_)));
        assert!(matches!(
            bad(json!({"team_id":"t"})),
            BadRequest::Malformed(_)
        ));
        assert!(matches!(
            bad(json!({"action":"delete_everything"})),
            BadRequest::UnknownAction(_)
        ));
        assert!(matches!(
            bad(json!({"action":"get_token","team_id":"t","account_id":"a","extra":1})),
            BadRequest::Malformed(_)
        ));
        assert!(matches!(
            bad(
                json!({"action":"get_token","team_id":"t","account_id":"a","min_valid_seconds":-1})
            ),
            BadRequest::Malformed(_)
        ));
        assert!(matches!(
            bad(
                json!({"action":"get_token","team_id":"t","account_id":"a","min_valid_seconds":86401})
            ),
            BadRequest::Malformed(_)
        ));
        assert!(matches!(
            bad(json!({"action":"get_token","team_id":"bad id!","account_id":"a"})),
            BadRequest::Malformed(_)
        ));
        let big = "x".repeat(MAX_REPORT_BODY + 1);
        assert!(matches!(
            bad(
                json!({"action":"report_failure","team_id":"t","account_id":"a","http_status":401,"body":big})
            ),
            BadRequest::TooLarge(_)
        ));
        assert!(matches!(
            bad(
                json!({"action":"report_failure","team_id":"t","account_id":"a","http_status":42,"body":""})
            ),
            BadRequest::Malformed(_)
        ));
        assert!(matches!(
            Request::from_bytes(b"{not json").unwrap_err(),
            BadRequest::Malformed(_)
        ));
        assert!(matches!(
            Request::from_bytes(&vec![b' '; MAX_REQUEST_BYTES + 1]).unwrap_err(),
            BadRequest::TooLarge(_)
        ));
    }

    #[test]
    fn a_token_answer_prints_no_token_in_debug() {
        let answer = TokenAnswer {
            access_token: Secret::from("canary-token-123"),
            token_type: "Bearer",
            expires_at: None,
            scopes: vec![],
            account_id: AccountId::parse("a").unwrap(),
            provider: Provider::X,
            external_id: "1".into(),
            refreshed: false,
            degraded: false,
            token: crate::domain::TokenColumn {
                status: crate::domain::Status::Active,
                reason: None,
                message: String::new(),
                reconnect_by: None,
                days_left: None,
                auto_refresh: true,
                last_checked_at: None,
            },
        };
        assert!(!format!("{answer:?}").contains("canary-token-123"));
        let json = serde_json::to_string(&answer).unwrap();
        assert!(json.contains("\"access_token\":\"canary-token-123\""));
    }
}
