//! The HTTP conventions every API function shares, in one place:
//!
//! - [`serve`]: route by method and path (404, 405), answer CORS preflights, read the caller
//!   from the JWT authorizer's claims (401), run the operation, map its error to a status
//!   (one function: [`ApiError::status`]), add CORS and cache headers, log one line;
//! - [`json_body`]: size limit (413), media type (415), malformed JSON and wrong shapes
//!   (400, unknown fields refused by the wire types);
//! - errors as `{"error":{"code":"...","message":"..."}}`; a 500 says nothing internal and
//!   its cause chain goes to the log;
//! - [`serve_public`]: the same for a public route (the OAuth callback): no caller, no CORS,
//!   `Referrer-Policy: no-referrer` and `Cache-Control: no-store` on every response.

mod body;
mod cors;
mod error;
mod public;
mod response;
mod tenancy;

use std::future::Future;

use lambda_http::http::Method;
use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt, Response};

pub use body::{json_body, query, Query, DEFAULT_BODY_LIMIT};
pub use cors::{allowed_origin, preflight};
pub use error::{cause_chain, ApiError};
pub use public::{found, no_referrer, serve_public};
pub use response::{error as error_response, json, no_content};
pub use tenancy::{tenant, ClaimNames, Tenant};

use crate::domain::OriginAllowlist;

/// What every API function is configured with (read from the environment once, at cold
/// start: see [`crate::runtime::config`]).
#[derive(Debug, Clone)]
pub struct HttpConfig {
    pub claims: ClaimNames,
    /// The frontend origins that get CORS headers.
    pub origins: OriginAllowlist,
    pub body_limit: usize,
}

impl HttpConfig {
    pub fn new(origins: OriginAllowlist) -> Self {
        Self {
            claims: ClaimNames::default(),
            origins,
            body_limit: DEFAULT_BODY_LIMIT,
        }
    }
}

/// A route of a function: a path template and the methods it serves.
pub trait Route: Sized {
    /// Finds the route for a path given as segments (`/accounts/a1` is `["accounts", "a1"]`).
    fn find(segments: &[&str]) -> Option<Self>;
    /// The methods served on this path (OPTIONS is answered for all of them).
    fn methods(&self) -> &'static [Method];
    /// The path template, for logs (`/accounts/{id}`).
    fn template(&self) -> &'static str;
}

/// Serves one request: routing, preflight, tenancy, the operation, error mapping, CORS.
/// `op` gets the request, the caller and the matched route (with the method known to be
/// one of the route's) and returns the response or the error to map.
pub async fn serve<R, F, Fut>(config: &HttpConfig, req: Request, op: F) -> Response<Body>
where
    R: Route,
    F: FnOnce(Request, Tenant, R) -> Fut,
    Fut: Future<Output = Result<Response<Body>, ApiError>>,
{
    let origin = allowed_origin(&req, &config.origins).map(str::to_owned);
    let method = req.method().clone();
    let path = route_path(&req);
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();

    let mut team = None;
    let (template, result) = match R::find(&segments) {
        None => (
            "(no route)",
            Err(ApiError::NotFound("no such route".into())),
        ),
        Some(route) => {
            let template = route.template();
            if method == Method::OPTIONS {
                let resp = preflight(&req, &config.origins, route.methods());
                tracing::info!(method = %method, route = template, status = resp.status().as_u16(), "preflight");
                return resp;
            }
            let result = if !route.methods().contains(&method) {
                Err(ApiError::MethodNotAllowed {
                    method: method.clone(),
                    allow: route.methods(),
                })
            } else {
                match tenant(&req, &config.claims) {
                    Err(e) => Err(e),
                    Ok(caller) => {
                        team = Some(caller.team.clone());
                        op(req, caller, route).await
                    }
                }
            };
            (template, result)
        }
    };

    let mut resp = match result {
        Ok(resp) => resp,
        Err(err) => {
            if !matches!(err, ApiError::Internal(_)) {
                tracing::info!(code = err.code(), error = %err, "request refused");
            }
            error_response(&err)
        }
    };
    cors::decorate(origin.as_deref(), &mut resp);
    tracing::info!(
        method = %method,
        route = template,
        team = team.as_ref().map(|t| t.as_str()).unwrap_or("-"),
        status = resp.status().as_u16(),
        "request"
    );
    resp
}

/// The request path without the stage prefix API Gateway puts on named stages
/// (`/prod/accounts` on stage `prod` is `/accounts`).
pub fn route_path(req: &Request) -> String {
    let raw = match req.raw_http_path() {
        "" => req.uri().path(),
        raw => raw,
    };
    #[allow(unreachable_patterns)] // other event kinds exist when their features are on
    let stage = match req.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(ctx)) => ctx.stage.as_deref(),
        _ => None,
    };
    match stage {
        Some(stage) if stage != "$default" && !stage.is_empty() => {
            let prefix = format!("/{stage}");
            match raw.strip_prefix(&prefix) {
                Some(rest) if rest.is_empty() || rest.starts_with('/') => rest.to_owned(),
                _ => raw.to_owned(),
            }
        }
        _ => raw.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use lambda_http::http::StatusCode;
    use serde::Deserialize;

    use super::*;

    fn request(method: &str, path: &str, stage: &str, body: Option<&str>) -> Request {
        let event = serde_json::json!({
            "version": "2.0", "routeKey": "$default", "rawPath": path, "rawQueryString": "",
            "headers": {"content-type": "application/json"},
            "requestContext": {
                "http": {"method": method, "path": path}, "stage": stage,
                "requestId": "r", "timeEpoch": 0,
                "authorizer": {"jwt": {"claims": {"team_id": "team-1", "sub": "user-1"}}}
            },
            "body": body, "isBase64Encoded": false
        });
        lambda_http::request::from_str(&event.to_string()).expect("a payload 2.0 event")
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Input {
        n: u32,
    }

    #[test]
    fn each_error_has_its_status_and_a_500_says_nothing_internal() {
        let internal = ApiError::internal(std::io::Error::other("table tw-prod is gone"));
        assert_eq!(internal.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert!(!internal.public_message().contains("tw-prod"));
        assert_eq!(
            ApiError::from(crate::store::StoreError::Conflict).status(),
            StatusCode::CONFLICT
        );
        assert_eq!(
            ApiError::from(crate::store::StoreError::BadCursor).status(),
            StatusCode::BAD_REQUEST
        );
        assert_eq!(
            ApiError::PayloadTooLarge { limit: 1 }.status(),
            StatusCode::PAYLOAD_TOO_LARGE
        );
        assert_eq!(
            ApiError::unprocessable("a", "b").status(),
            StatusCode::UNPROCESSABLE_ENTITY
        );
    }

    #[test]
    fn json_bodies_are_classified_malformed_shape_or_too_large() {
        let read = |body: &str, limit| {
            json_body::<Input>(&request("PUT", "/x", "$default", Some(body)), limit)
        };
        assert!(read(r#"{"n": 1}"#, 100).is_ok());
        let code = |r: Result<Input, ApiError>| r.map(|_| "ok").unwrap_or_else(|e| e.code());
        assert_eq!(code(read(r#"{"n": "#, 100)), "malformed_json");
        assert_eq!(code(read(r#"{"n": "1"}"#, 100)), "invalid_body");
        assert_eq!(code(read(r#"{"n": 1, "team": "b"}"#, 100)), "invalid_body");
        assert_eq!(code(read(r#"{"n": 1}"#, 4)), "payload_too_large");
        assert_eq!(code(read("  ", 100)), "missing_body");
    }

    #[test]
    fn a_named_stage_is_stripped_from_the_path_and_default_is_kept() {
        assert_eq!(
            route_path(&request("GET", "/prod/accounts", "prod", None)),
            "/accounts"
        );
        assert_eq!(
            route_path(&request("GET", "/accounts", "$default", None)),
            "/accounts"
        );
        assert_eq!(
            route_path(&request("GET", "/production/x", "prod", None)),
            "/production/x"
        );
    }

    #[test]
    fn the_tenant_comes_from_the_configured_claims() {
        let req = request("GET", "/accounts", "$default", None);
        let t = tenant(&req, &ClaimNames::default()).expect("claims present");
        assert_eq!((t.team.as_str(), t.user.as_str()), ("team-1", "user-1"));
        let other = ClaimNames {
            team: "custom:team_id".into(),
            ..ClaimNames::default()
        };
        assert!(matches!(
            tenant(&req, &other),
            Err(ApiError::Unauthenticated(_))
        ));
    }
}
