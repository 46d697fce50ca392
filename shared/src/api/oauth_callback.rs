//! Function `oauth-callback`: the public `GET /oauth/{provider}/callback` a network sends
//! the browser back to, and the authenticated `POST /connections/complete` that finishes it.
//!
//! The callback consumes the state, parks the code under a single-use handle and answers a
//! 302 to the frontend's `return_to` with `result=pending&handle=…` (or
//! `result=denied|expired_state|error` when there is nothing to complete); a callback whose
//! state is not one we hold (garbage, unknown, already used) has no trustworthy place to go
//! and answers 400 instead. Every callback answer has `Referrer-Policy: no-referrer` and
//! `Cache-Control: no-store`.
//!
//! The frontend, holding the signed-in person's JWT, posts the handle to
//! `/connections/complete`; only the team **and** user that started the authorization get
//! the code exchanged and the accounts stored (RFC 6749 §10.12, RFC 9700 §4.7.1).

use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Request, RequestExt, Response};
use serde::{Deserialize, Serialize};

use crate::domain::Secret;
use crate::domain::{AccountId, Provider};
use crate::http::{self, json_body, ApiError, HttpConfig, Route, Tenant};
use crate::oauth::{Callback, CallbackParams, FinishError};

/// The routes of this function, as written in `infra/openapi.yaml`.
pub const ROUTES: &[(&str, &str)] = &[
    ("GET", "/oauth/{provider}/callback"),
    ("POST", "/connections/complete"),
];

/// What the `oauth-callback` function works with, built once at cold start.
pub struct CallbackApi {
    pub callback: Callback,
    /// The authenticated route's conventions (claims, CORS, body limit).
    pub http: HttpConfig,
}

struct CompleteRoute;

impl Route for CompleteRoute {
    fn find(segments: &[&str]) -> Option<Self> {
        matches!(segments, ["connections", "complete"]).then_some(CompleteRoute)
    }

    fn methods(&self) -> &'static [Method] {
        &[Method::POST]
    }

    fn template(&self) -> &'static str {
        "/connections/complete"
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CompleteBody {
    handle: String,
}

#[derive(Serialize)]
struct Completed {
    result: &'static str,
    provider: Provider,
    accounts: Vec<CompletedAccount>,
    /// The account a reconnect was for, whatever the result (`null` for a new connection).
    account: Option<AccountId>,
    reason: Option<&'static str>,
}

#[derive(Serialize)]
struct CompletedAccount {
    id: AccountId,
    display_name: String,
    status: &'static str,
}

/// `POST /connections/complete {"handle": "..."}` for the signed-in caller.
async fn complete(
    api: &CallbackApi,
    req: Request,
    caller: Tenant,
) -> Result<Response<Body>, ApiError> {
    let body: CompleteBody = json_body(&req, api.http.body_limit)?;
    let now = api.callback.clock.now();
    let finished = api
        .callback
        .finish(&caller.team, &caller.user, &body.handle)
        .await
        .map_err(|e| match e {
            FinishError::Unknown => ApiError::NotFound(e.to_string()),
            FinishError::Expired => ApiError::bad_request("expired_handle", e.to_string()),
            FinishError::NotYours => ApiError::Forbidden {
                code: "not_your_authorization",
                message: "This sign-in was started by someone else. Nothing was connected; \
                          start the connection again from your own account."
                    .into(),
            },
            FinishError::Store(_) | FinishError::Seal(_) => ApiError::internal(e),
        })?;
    let accounts = finished
        .accounts
        .iter()
        .map(|a| CompletedAccount {
            id: a.id.clone(),
            display_name: a.display_name.clone(),
            status: a.status(now).as_str(),
        })
        .collect();
    Ok(http::json(
        StatusCode::OK,
        &Completed {
            result: finished.result.as_str(),
            provider: finished.provider,
            accounts,
            account: finished.reconnect,
            reason: finished.reason,
        },
    ))
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
    if is_complete(&req) {
        return http::serve(&api.http, req, |req, caller, CompleteRoute| {
            complete(api, req, caller)
        })
        .await;
    }
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

/// Whether the request is for the authenticated completion route.
fn is_complete(req: &Request) -> bool {
    let path = http::route_path(req);
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    CompleteRoute::find(&segments).is_some()
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
        code: one("code").map(Secret::from),
        error: one("error"),
    }
}
