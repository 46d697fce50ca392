//! The axum application: provider routes under `/{provider id}/...` and the control API
//! under `/_fake/...`.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, delete, get, patch, post, put};
use axum::{Json, Router};
use serde_json::json;
use tokenwarden::domain::Provider;

use crate::model::{FakeUser, FaultRule, Latency, RecordedRequest, SettingsPatch};
use crate::request::Incoming;
use crate::routes::route_of;
use crate::state::{Reply, World};

#[derive(Clone, Default)]
pub(crate) struct Shared(Arc<Mutex<World>>);

impl Shared {
    fn lock(&self) -> MutexGuard<'_, World> {
        // A panic while holding the lock leaves the world usable for the next call.
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

pub(crate) fn router(shared: Shared) -> Router {
    Router::new()
        .route("/_fake/health", get(|| async { "ok" }))
        .route("/_fake/reset", post(reset))
        .route("/_fake/requests", get(requests))
        .route("/_fake/latency", put(latency))
        .route("/_fake/trap", any(trap))
        .route("/_fake/{provider}/user", put(set_user))
        .route("/_fake/{provider}/settings", patch(settings))
        .route("/_fake/{provider}/pages/{page_id}", delete(remove_page))
        .route(
            "/_fake/{provider}/faults",
            post(add_fault).delete(clear_faults),
        )
        .fallback(dispatch)
        .with_state(shared)
}

impl IntoResponse for Reply {
    fn into_response(self) -> Response {
        let mut response = match self {
            Reply::Json(status, body) => (
                code(status),
                [(header::CONTENT_TYPE, "application/json; charset=UTF-8")],
                body.to_string(),
            )
                .into_response(),
            Reply::Redirect(location) => match HeaderValue::from_str(&location) {
                Ok(value) => (StatusCode::FOUND, [(header::LOCATION, value)]).into_response(),
                Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
            },
            Reply::Page(status, html) => (
                code(status),
                [(header::CONTENT_TYPE, "text/html; charset=UTF-8")],
                html,
            )
                .into_response(),
            Reply::Empty(status) => code(status).into_response(),
        };
        response
            .headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        response
    }
}

fn code(status: u16) -> StatusCode {
    StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

async fn dispatch(
    State(shared): State<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let incoming = Incoming::new(method, &uri, &headers, &body);
    let handled = {
        let mut world = shared.lock();
        match route_of(&incoming.path) {
            Some(routed) => world.handle(&routed, &incoming),
            None => world.unrouted(
                &incoming,
                Reply::Json(404, json!({ "error": "not_found", "path": incoming.path })),
            ),
        }
    };
    if !handled.delay.is_zero() {
        tokio::time::sleep(handled.delay).await;
    }
    handled.reply.into_response()
}

/// Where the `redirect` fault points: any visit is logged (and must never happen).
async fn trap(
    State(shared): State<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let incoming = Incoming::new(method, &uri, &headers, &[]);
    shared
        .lock()
        .unrouted(
            &incoming,
            Reply::Json(200, json!({ "trap": "a redirect was followed" })),
        )
        .reply
        .into_response()
}

/// A control call naming no known network.
struct UnknownProvider;

impl IntoResponse for UnknownProvider {
    fn into_response(self) -> Response {
        (
            StatusCode::NOT_FOUND,
            Json(json!({ "error": "unknown provider", "known": Provider::ALL })),
        )
            .into_response()
    }
}

fn provider(raw: &str) -> Result<Provider, UnknownProvider> {
    raw.parse().map_err(|_| UnknownProvider)
}

async fn reset(State(shared): State<Shared>) -> StatusCode {
    shared.lock().reset();
    StatusCode::NO_CONTENT
}

async fn requests(State(shared): State<Shared>) -> Json<Vec<RecordedRequest>> {
    Json(shared.lock().log())
}

async fn latency(State(shared): State<Shared>, Json(latency): Json<Latency>) -> StatusCode {
    shared
        .lock()
        .set_latency(Duration::from_millis(latency.ms.min(60_000)));
    StatusCode::NO_CONTENT
}

async fn set_user(
    State(shared): State<Shared>,
    Path(raw): Path<String>,
    Json(user): Json<FakeUser>,
) -> Result<StatusCode, UnknownProvider> {
    let p = provider(&raw)?;
    shared.lock().set_user(p, user);
    Ok(StatusCode::NO_CONTENT)
}

async fn settings(
    State(shared): State<Shared>,
    Path(raw): Path<String>,
    Json(patch): Json<SettingsPatch>,
) -> Result<StatusCode, UnknownProvider> {
    let p = provider(&raw)?;
    shared.lock().patch_settings(p, patch);
    Ok(StatusCode::NO_CONTENT)
}

/// The user loses their role on the Page: 204, or 404 when they have no such Page.
async fn remove_page(
    State(shared): State<Shared>,
    Path((raw, page_id)): Path<(String, String)>,
) -> Result<StatusCode, UnknownProvider> {
    let p = provider(&raw)?;
    Ok(if shared.lock().remove_page(p, &page_id) {
        StatusCode::NO_CONTENT
    } else {
        StatusCode::NOT_FOUND
    })
}

async fn add_fault(
    State(shared): State<Shared>,
    Path(raw): Path<String>,
    Json(rule): Json<FaultRule>,
) -> Result<StatusCode, UnknownProvider> {
    let p = provider(&raw)?;
    shared.lock().add_fault(p, rule);
    Ok(StatusCode::NO_CONTENT)
}

async fn clear_faults(
    State(shared): State<Shared>,
    Path(raw): Path<String>,
) -> Result<StatusCode, UnknownProvider> {
    let p = provider(&raw)?;
    shared.lock().clear_faults(p);
    Ok(StatusCode::NO_CONTENT)
}
