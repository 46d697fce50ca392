//! Lambda function `oauth-start`: `POST /connections/{provider}/start` and
//! `POST /accounts/{id}/reconnect` (JWT authorizer). Wiring only; the handler is
//! `tokenwarden::api::oauth_start`.
//!
//! Environment: `TOKENWARDEN_TABLE_NAME`, `TOKENWARDEN_CLIENT_IDS` (the networks' public
//! client ids), `TOKENWARDEN_ALLOWED_ORIGINS`, `TOKENWARDEN_CALLBACK_BASE_URL` (required);
//! `TOKENWARDEN_FRONTEND_URL` (default `return_to`; else the first allowed origin),
//! `TOKENWARDEN_PROVIDER_BASE_URL`, `TOKENWARDEN_TEAM_CLAIM`, `TOKENWARDEN_USER_CLAIM`,
//! `TOKENWARDEN_MAX_BODY_BYTES`, the networks' settings (optional); the AWS SDK's own
//! variables. It reads no secret: it stores no token (the PKCE verifier is sealed under
//! the state itself) and needs no client secret.

use std::convert::Infallible;
use std::sync::Arc;

use lambda_http::{service_fn, Error, Request};
use tokenwarden::api::oauth_start::{self, StartApi};
use tokenwarden::domain::SystemClock;
use tokenwarden::oauth::Start;
use tokenwarden::runtime;

#[tokio::main]
async fn main() -> Result<(), Error> {
    runtime::init_tracing();
    let http = runtime::http_config();
    let callback = runtime::callback_base();
    let default_return_to = runtime::default_return_to(&http.origins);

    // Building an authorize URL calls no network: the public client ids are all it needs.
    let providers = runtime::authorize_only_client()?;
    let aws = runtime::aws_config().await;
    let store = runtime::store(&aws);

    let api = StartApi {
        start: Start {
            accounts: store.clone(),
            states: store,
            providers: Arc::new(providers),
            clock: Arc::new(SystemClock),
            callback,
        },
        default_return_to,
        http,
    };
    let api = &api;
    lambda_http::run(service_fn(move |req: Request| async move {
        Ok::<_, Infallible>(oauth_start::handle(api, req).await)
    }))
    .await
}
