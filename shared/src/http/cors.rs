//! CORS for the configured frontend origins only. The API uses a bearer JWT (no cookies),
//! so credentials are never allowed; an origin off the list gets no CORS headers at all.

use lambda_http::http::header::{
    HeaderValue, ACCESS_CONTROL_ALLOW_HEADERS, ACCESS_CONTROL_ALLOW_METHODS,
    ACCESS_CONTROL_ALLOW_ORIGIN, ACCESS_CONTROL_MAX_AGE, ORIGIN, VARY,
};
use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Request, Response};

use super::error::ApiError;
use super::response;
use crate::domain::OriginAllowlist;

/// Headers a frontend may send.
const ALLOW_HEADERS: &str = "authorization, content-type";
/// How long a browser may cache a preflight answer (seconds).
const MAX_AGE: &str = "600";

/// The request's `Origin`, if it is one of the configured frontends.
pub fn allowed_origin<'a>(req: &'a Request, allow: &OriginAllowlist) -> Option<&'a str> {
    req.headers()
        .get(ORIGIN)
        .and_then(|v| v.to_str().ok())
        .filter(|origin| allow.contains(origin))
}

/// Answers an `OPTIONS` preflight for a route served with `methods`: 204 with the CORS
/// headers for a configured origin, 403 without them for any other (or none).
pub fn preflight(
    req: &Request,
    allow: &OriginAllowlist,
    methods: &'static [Method],
) -> Response<Body> {
    let Some(origin) = allowed_origin(req, allow) else {
        let origin = req.headers().get(ORIGIN).and_then(|v| v.to_str().ok());
        tracing::info!(
            origin = origin.unwrap_or("(none)"),
            "CORS preflight refused"
        );
        let mut resp = response::error(&ApiError::OriginNotAllowed);
        resp.headers_mut()
            .insert(VARY, HeaderValue::from_static("Origin"));
        return resp;
    };
    let mut resp = response::no_content();
    *resp.status_mut() = StatusCode::NO_CONTENT;
    let list = methods
        .iter()
        .map(Method::as_str)
        .chain(["OPTIONS"])
        .collect::<Vec<_>>()
        .join(", ");
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(origin) {
        h.insert(ACCESS_CONTROL_ALLOW_ORIGIN, v);
    }
    if let Ok(v) = HeaderValue::from_str(&list) {
        h.insert(ACCESS_CONTROL_ALLOW_METHODS, v);
    }
    h.insert(
        ACCESS_CONTROL_ALLOW_HEADERS,
        HeaderValue::from_static(ALLOW_HEADERS),
    );
    h.insert(ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static(MAX_AGE));
    h.insert(VARY, HeaderValue::from_static("Origin"));
    resp
}

/// Adds `Access-Control-Allow-Origin` to an actual response for a configured origin.
pub fn decorate(origin: Option<&str>, resp: &mut Response<Body>) {
    let h = resp.headers_mut();
    h.insert(VARY, HeaderValue::from_static("Origin"));
    if let Some(v) = origin.and_then(|o| HeaderValue::from_str(o).ok()) {
        h.insert(ACCESS_CONTROL_ALLOW_ORIGIN, v);
    }
}
