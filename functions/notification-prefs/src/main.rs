//! Lambda function `notification-prefs`: `GET` and `PUT /notification-preferences`,
//! `POST /notification-preferences/recipients`,
//! `DELETE /notification-preferences/recipients/{id}`. Wiring only; the handler is
//! `tokenwarden::api::prefs`.
//!
//! Environment: `TOKENWARDEN_TABLE_NAME`, `TOKENWARDEN_ALLOWED_ORIGINS`,
//! `TOKENWARDEN_MAIL_FROM`, `TOKENWARDEN_PRODUCT_NAME`, `TOKENWARDEN_MAIL_LINK_KEY_ID`,
//! `TOKENWARDEN_CALLBACK_BASE_URL`, `TOKENWARDEN_FRONTEND_URL` (required);
//! `TOKENWARDEN_TEAM_CLAIM`, `TOKENWARDEN_USER_CLAIM`, `TOKENWARDEN_EMAIL_CLAIM`,
//! `TOKENWARDEN_MAX_BODY_BYTES`, `TOKENWARDEN_MAIL_FROM_NAME`,
//! `TOKENWARDEN_SES_CONFIGURATION_SET`, `TOKENWARDEN_SUPPORT_URL`, `TOKENWARDEN_LOGO_URL`,
//! `TOKENWARDEN_CONFIRMATIONS_PER_DAY` (optional); the AWS SDK's own variables.

use std::convert::Infallible;

use lambda_http::{service_fn, Error, Request};
use tokenwarden::api::prefs::{self, PrefsApi};
use tokenwarden::runtime;

#[tokio::main]
async fn main() -> Result<(), Error> {
    runtime::init_tracing();
    let http = runtime::http_config();

    let aws = runtime::aws_config().await;
    let store = runtime::store(&aws);
    let api = PrefsApi {
        prefs: store.clone(),
        recipients: runtime::recipients(&aws, store),
        http,
    };
    let api = &api;
    lambda_http::run(service_fn(move |req: Request| async move {
        Ok::<_, Infallible>(prefs::handle(api, req).await)
    }))
    .await
}
