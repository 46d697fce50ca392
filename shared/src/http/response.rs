//! Building responses: JSON bodies, the error body, the headers every response carries.

use lambda_http::http::header::{
    HeaderValue, ALLOW, CACHE_CONTROL, CONTENT_TYPE, X_CONTENT_TYPE_OPTIONS,
};
use lambda_http::http::StatusCode;
use lambda_http::{Body, Response};
use serde::Serialize;

use super::error::{cause_chain, ApiError};

/// A JSON response.
pub fn json<T: Serialize>(status: StatusCode, value: &T) -> Response<Body> {
    match serde_json::to_vec(value) {
        Ok(bytes) => with_body(status, Body::Binary(bytes)),
        // Our views are plain structs; this cannot happen, but it must not panic either.
        Err(e) => error(&ApiError::internal(e)),
    }
}

/// 204 without a body.
pub fn no_content() -> Response<Body> {
    let mut resp = Response::new(Body::Empty);
    *resp.status_mut() = StatusCode::NO_CONTENT;
    common_headers(&mut resp);
    resp
}

/// The JSON error body `{"error":{"code","message"[,"field"]}}` with the error's status.
/// A 500's cause chain goes to the log, never to the caller.
pub fn error(err: &ApiError) -> Response<Body> {
    #[derive(Serialize)]
    struct Envelope<'a> {
        error: Detail<'a>,
    }
    #[derive(Serialize)]
    struct Detail<'a> {
        code: &'a str,
        message: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        field: Option<&'a str>,
    }
    if let ApiError::Internal(cause) = err {
        tracing::error!(error = %cause_chain(cause.as_ref()), "request failed");
    }
    let body = Envelope {
        error: Detail {
            code: err.code(),
            message: err.public_message(),
            field: err.field(),
        },
    };
    let bytes = serde_json::to_vec(&body).unwrap_or_else(|_| {
        br#"{"error":{"code":"internal","message":"something went wrong on our side"}}"#.to_vec()
    });
    let mut resp = with_body(err.status(), Body::Binary(bytes));
    if let ApiError::MethodNotAllowed { allow, .. } = err {
        let list = allow.iter().map(|m| m.as_str()).collect::<Vec<_>>();
        if let Ok(v) = HeaderValue::from_str(&format!("{}, OPTIONS", list.join(", "))) {
            resp.headers_mut().insert(ALLOW, v);
        }
    }
    resp
}

fn with_body(status: StatusCode, body: Body) -> Response<Body> {
    let mut resp = Response::new(body);
    *resp.status_mut() = status;
    resp.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    common_headers(&mut resp);
    resp
}

/// Answers about a team's accounts are never cached by a browser or a proxy.
fn common_headers(resp: &mut Response<Body>) {
    let h = resp.headers_mut();
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
}
