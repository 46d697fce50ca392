//! Function `oauth-callback`: the public `GET /oauth/{provider}/callback` a network sends
//! the browser back to. Ends with a 302 to the frontend's `return_to` carrying
//! `result=connected|reconnected|denied|different_account|expired_state|error`; a callback
//! whose state is not one we hold (garbage, unknown, already used) has no trustworthy
//! place to go and answers 400 instead. Every answer has `Referrer-Policy: no-referrer` and
//! `Cache-Control: no-store`.

use lambda_http::http::Method;
use lambda_http::{Body, Request, RequestExt, Response};

use crate::domain::Provider;
use crate::http::{self, ApiError, Route};
use crate::oauth::{Callback, CallbackParams};
use crate::seal::Secret;

/// The routes of this function, as written in `infra/openapi.yaml`.
pub const ROUTES: &[(&str, &str)] = &[("GET", "/oauth/{provider}/callback")];

/// What the `oauth-callback` function works with, built once at cold start.
pub struct CallbackApi {
    pub callback: Callback,
}

struct CallbackRoute(String);

impl Route for CallbackRoute {
    fn find(segments: &[&str]) -> Option<Self> {
        match segments {
            ["oauth", provider, "callback"] => Some(CallbackRoute((*provider).to_owned())),
            _ => None,
        }
    }

    fn methods(&self) -> &'static [Method] {
        &[Method::GET]
    }

    fn template(&self) -> &'static str {
        "/oauth/{provider}/callback"
    }
}

/// The function's handler: one API Gateway request in, one response out.
pub async fn handle(api: &CallbackApi, req: Request) -> Response<Body> {
    http::serve_public(req, |req, CallbackRoute(raw)| async move {
        let provider: Provider = raw
            .parse()
            .map_err(|e: crate::domain::InvalidValue| ApiError::NotFound(e.to_string()))?;
        let completion = api
            .callback
            .complete(provider, params(&req))
            .await
            .map_err(ApiError::internal)?;
        match completion.location() {
            Some(location) => http::found(&location),
            None => Err(ApiError::bad_request(
                "invalid_state",
                "This sign-in answer is not one we are waiting for: it is unknown, already \
                 used or malformed. Go back to the app and connect the account again.",
            )),
        }
    })
    .await
}

/// `state`, `code` and `error` from the query. Networks add parameters of their own
/// (`scope`, `error_description`, `authuser`...): they are ignored. A parameter given twice
/// is not trusted (treated as absent).
fn params(req: &Request) -> CallbackParams {
    let Some(q) = req.query_string_parameters_ref() else {
        return CallbackParams::default();
    };
    let one = |name: &str| match q.all(name) {
        Some(values) if values.len() == 1 => Some(values[0].to_owned()),
        _ => None,
    };
    CallbackParams {
        state: one("state"),
        code: one("code").map(Secret::new),
        error: one("error"),
    }
}
