//! The API's errors and the one function that maps them to HTTP statuses.

use std::error::Error as StdError;

use lambda_http::http::{Method, StatusCode};

use crate::store::StoreError;

/// Everything an API request can fail with. The message of a 4xx is written for the caller;
/// a 500 keeps its cause for the log and tells the caller nothing internal.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400: the request cannot be read (malformed JSON, wrong types, unknown fields, a bad
    /// query parameter or cursor).
    #[error("{message}")]
    BadRequest { code: &'static str, message: String },
    /// 401: the authorizer's claims naming the team and the user are missing or unusable.
    #[error("the request carries no usable identity: {0}")]
    Unauthenticated(&'static str),
    /// 403: a CORS preflight from an origin that is not a configured frontend.
    #[error("this origin may not call the API")]
    OriginNotAllowed,
    /// 403: the caller may not do this with what they named (someone else's authorization).
    #[error("{message}")]
    Forbidden { code: &'static str, message: String },
    /// 404: no such route, or nothing of the caller's team by that id.
    #[error("{0}")]
    NotFound(String),
    /// 405: the route exists, the method does not.
    #[error("method {method} is not allowed here")]
    MethodNotAllowed {
        method: Method,
        allow: &'static [Method],
    },
    /// 409: a version-conditioned write lost to a newer one.
    #[error("{0}")]
    Conflict(String),
    /// 413: the body is over the limit.
    #[error("the body is larger than {limit} bytes")]
    PayloadTooLarge { limit: usize },
    /// 415: a body that does not say it is JSON.
    #[error("the body must be JSON (Content-Type: application/json)")]
    UnsupportedMediaType,
    /// 422: valid JSON of the right shape that breaks a rule.
    #[error("{field}: {message}")]
    Unprocessable { field: String, message: String },
    /// 429: a per-team daily allowance is used up (confirmation mails).
    #[error("{0}")]
    TooManyRequests(String),
    /// 500: logged with its cause chain, answered opaquely.
    #[error("internal error")]
    Internal(#[source] Box<dyn StdError + Send + Sync>),
}

impl ApiError {
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        ApiError::BadRequest {
            code,
            message: message.into(),
        }
    }

    pub fn unprocessable(field: impl Into<String>, message: impl Into<String>) -> Self {
        ApiError::Unprocessable {
            field: field.into(),
            message: message.into(),
        }
    }

    pub fn internal(cause: impl StdError + Send + Sync + 'static) -> Self {
        ApiError::Internal(Box::new(cause))
    }

    /// The status of each error: the one place that decides it.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest { .. } => StatusCode::BAD_REQUEST,
            ApiError::Unauthenticated(_) => StatusCode::UNAUTHORIZED,
            ApiError::OriginNotAllowed | ApiError::Forbidden { .. } => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::Unprocessable { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::TooManyRequests(_) => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The machine-readable code in the error body.
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::BadRequest { code, .. } => code,
            ApiError::Unauthenticated(_) => "unauthenticated",
            ApiError::OriginNotAllowed => "origin_not_allowed",
            ApiError::Forbidden { code, .. } => code,
            ApiError::NotFound(_) => "not_found",
            ApiError::MethodNotAllowed { .. } => "method_not_allowed",
            ApiError::Conflict(_) => "conflict",
            ApiError::PayloadTooLarge { .. } => "payload_too_large",
            ApiError::UnsupportedMediaType => "unsupported_media_type",
            ApiError::Unprocessable { .. } => "validation_failed",
            ApiError::TooManyRequests(_) => "too_many_requests",
            ApiError::Internal(_) => "internal",
        }
    }

    /// What the caller reads. A 500 says nothing internal; a 401 does not say which claim
    /// was missing (that goes to the log).
    /// A message that repeats part of the request (a field name, a parameter) never
    /// carries its control characters: each is shown as U+FFFD.
    pub fn public_message(&self) -> String {
        let message = match self {
            ApiError::Unauthenticated(_) => {
                "the request carries no usable identity (team and user claims)".into()
            }
            ApiError::Internal(_) => "something went wrong on our side; try again later".into(),
            other => other.to_string(),
        };
        message
            .chars()
            .map(|c| if c.is_control() { '\u{FFFD}' } else { c })
            .collect()
    }

    /// The offending field of a 422, as a path like `recipients[2].email`.
    pub fn field(&self) -> Option<&str> {
        match self {
            ApiError::Unprocessable { field, .. } => Some(field),
            _ => None,
        }
    }
}

pub use crate::error_chain::cause_chain;

/// Store failures that a handler does not map itself. A `Conflict` or `NotFound` that a
/// handler expects is mapped there, with a message that names the thing.
impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::BadCursor => {
                ApiError::bad_request("invalid_cursor", "the cursor is not valid")
            }
            StoreError::Conflict => ApiError::Conflict(
                "the item changed since it was read; read it again and retry".into(),
            ),
            StoreError::NotFound => ApiError::NotFound("not found".into()),
            // Logged with its key (never its values); the caller can still remove it.
            StoreError::Malformed { ref key, ref what } => {
                tracing::error!(key = %key, what = %what, metric = "unreadable_account_items",
                    "a stored record cannot be read");
                ApiError::Conflict(
                    "this account's stored record cannot be read; disconnect it (DELETE) and \
                     connect the account again"
                        .into(),
                )
            }
            other => ApiError::internal(other),
        }
    }
}
