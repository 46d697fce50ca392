//! Serving a public route (no JWT authorizer): the OAuth callback a browser is sent to.
//! Routing, the method check and error mapping are [`super::serve`]'s; there is no caller
//! to read, no CORS (a navigation, not a script's call), and every response carries
//! `Referrer-Policy: no-referrer` and `Cache-Control: no-store`, so nothing of the URL
//! (which held a code and a state) travels further.

use std::future::Future;

use lambda_http::http::header::{HeaderValue, CACHE_CONTROL, LOCATION, REFERRER_POLICY};
use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};

use super::{error_response, route_path, ApiError, Route};

/// Serves one public request: routing (404), method (405), the operation, error mapping,
/// the no-referrer and no-store headers, one log line.
pub async fn serve_public<R, F, Fut>(req: Request, op: F) -> Response<Body>
where
    R: Route,
    F: FnOnce(Request, R) -> Fut,
    Fut: Future<Output = Result<Response<Body>, ApiError>>,
{
    let method = req.method().clone();
    let path = route_path(&req);
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let (template, result) = match R::find(&segments) {
        None => (
            "(no route)",
            Err(ApiError::NotFound("no such route".into())),
        ),
        Some(route) => {
            let template = route.template();
            if route.methods().contains(&method) {
                (template, op(req, route).await)
            } else {
                let allow = route.methods();
                (
                    template,
                    Err(ApiError::MethodNotAllowed {
                        method: method.clone(),
                        allow,
                    }),
                )
            }
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
    no_referrer(&mut resp);
    tracing::info!(method = %method, route = template, status = resp.status().as_u16(), "request");
    resp
}

/// `Referrer-Policy: no-referrer` and `Cache-Control: no-store`.
pub fn no_referrer(resp: &mut Response<Body>) {
    let h = resp.headers_mut();
    h.insert(REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
}

/// A `302 Found` to `location` (already a valid absolute URL), without a body.
pub fn found(location: &url::Url) -> Result<Response<Body>, ApiError> {
    let value = HeaderValue::from_str(location.as_str()).map_err(ApiError::internal)?;
    let mut resp = Response::new(Body::Empty);
    *resp.status_mut() = StatusCode::FOUND;
    resp.headers_mut().insert(LOCATION, value);
    no_referrer(&mut resp);
    Ok(resp)
}
