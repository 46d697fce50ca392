//! Lambda function `notification-prefs`: `GET` and `PUT /notification-preferences`.
//! Wiring only; the handler is `tokenwarden::api::prefs`.
//!
//! Environment: `TOKENWARDEN_TABLE_NAME`, `TOKENWARDEN_ALLOWED_ORIGINS` (required);
//! `TOKENWARDEN_TEAM_CLAIM`, `TOKENWARDEN_USER_CLAIM`, `TOKENWARDEN_MAX_BODY_BYTES`
//! (optional); the AWS SDK's own variables.

use std::convert::Infallible;

use lambda_http::{service_fn, Error, Request};
use tokenwarden::api::prefs::{self, PrefsApi};
use tokenwarden::runtime;

#[tokio::main]
async fn main() -> Result<(), Error> {
    runtime::init_tracing();
    let http = runtime::http_config();

    let aws = runtime::aws_config().await;
    let api = PrefsApi {
        prefs: runtime::store(&aws),
        http,
    };
    let api = &api;
    lambda_http::run(service_fn(move |req: Request| async move {
        Ok::<_, Infallible>(prefs::handle(api, req).await)
    }))
    .await
}
