//! Function `oauth-start`: the network's authorize URL for a new connection
//! (`POST /connections/{provider}/start`) or for reconnecting an account of the caller's
//! team (`POST /accounts/{id}/reconnect`).

use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Request, Response};
use serde::{Deserialize, Serialize};

use crate::domain::{AccountId, Provider, ReturnUrl};
use crate::http::{self, json_body, ApiError, HttpConfig, Route, Tenant};
use crate::oauth::{Start, StartError, Target};

/// The routes of this function, as written in `infra/openapi.yaml`.
pub const ROUTES: &[(&str, &str)] = &[
    ("POST", "/connections/{provider}/start"),
    ("POST", "/accounts/{id}/reconnect"),
];

/// What the `oauth-start` function works with, built once at cold start.
pub struct StartApi {
    pub start: Start,
    /// Where the browser goes back when the body names no `return_to` (the frontend's
    /// account list).
    pub default_return_to: ReturnUrl,
    pub http: HttpConfig,
}

enum StartRoute {
    Connect(String),
    Reconnect(String),
}

impl Route for StartRoute {
    fn find(segments: &[&str]) -> Option<Self> {
        match segments {
            ["connections", provider, "start"] => Some(StartRoute::Connect((*provider).to_owned())),
            ["accounts", id, "reconnect"] => Some(StartRoute::Reconnect((*id).to_owned())),
            _ => None,
        }
    }

    fn methods(&self) -> &'static [Method] {
        &[Method::POST]
    }

    fn template(&self) -> &'static str {
        match self {
            StartRoute::Connect(_) => "/connections/{provider}/start",
            StartRoute::Reconnect(_) => "/accounts/{id}/reconnect",
        }
    }
}

/// The optional body.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct StartBody {
    #[serde(default)]
    return_to: Option<String>,
}

#[derive(Debug, Serialize)]
struct StartResponse {
    authorize_url: String,
}

/// The function's handler: one API Gateway request in, one response out.
pub async fn handle(api: &StartApi, req: Request) -> Response<Body> {
    http::serve(&api.http, req, |req, caller, route| async move {
        let target = match route {
            StartRoute::Connect(raw) => Target::New(provider(&raw)?),
            StartRoute::Reconnect(raw) => Target::Reconnect(
                AccountId::parse(&raw).map_err(|_| start_error(StartError::UnknownAccount))?,
            ),
        };
        let return_to = return_to(api, &req)?;
        begin(api, &caller, target, return_to).await
    })
    .await
}

/// A network id that is not one of the nine is simply not found.
fn provider(raw: &str) -> Result<Provider, ApiError> {
    raw.parse()
        .map_err(|e: crate::domain::InvalidValue| ApiError::NotFound(e.to_string()))
}

/// The body's `return_to` (on an allowed frontend origin), or the default.
fn return_to(api: &StartApi, req: &Request) -> Result<ReturnUrl, ApiError> {
    let empty = match req.body() {
        Body::Empty => true,
        body => body.as_ref().iter().all(u8::is_ascii_whitespace),
    };
    let body: StartBody = if empty {
        StartBody::default()
    } else {
        json_body(req, api.http.body_limit)?
    };
    match body.return_to {
        None => Ok(api.default_return_to.clone()),
        Some(raw) => ReturnUrl::parse(&raw, &api.http.origins)
            .map_err(|e| ApiError::unprocessable("return_to", e.to_string())),
    }
}

async fn begin(
    api: &StartApi,
    caller: &Tenant,
    target: Target,
    return_to: ReturnUrl,
) -> Result<Response<Body>, ApiError> {
    let url = api
        .start
        .begin(&caller.team, &caller.user, target, return_to)
        .await
        .map_err(start_error)?;
    Ok(http::json(
        StatusCode::OK,
        &StartResponse {
            authorize_url: url.into(),
        },
    ))
}

/// A network without client credentials is not found here, like an unknown one: it is not
/// in `GET /providers` either.
fn start_error(e: StartError) -> ApiError {
    match e {
        StartError::UnknownAccount | StartError::NotOffered(_) => ApiError::NotFound(e.to_string()),
        StartError::Store(s) => ApiError::from(s),
        StartError::Provider(_) => ApiError::internal(e),
    }
}
