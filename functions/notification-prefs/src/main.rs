//! Lambda function `notification-prefs`: `GET` and `PUT /notification-preferences`,
//! `POST /notification-preferences/recipients`,
//! `DELETE /notification-preferences/recipients/{id}`. Wiring only; the handler is
//! `tokenwarden::api::prefs`.
//!
//! Environment: `tokenwarden::runtime::config::NotificationPrefs` (every variable it reads, in
//! `VARIABLES`); the AWS SDK's own variables.

use std::convert::Infallible;

use lambda_http::{service_fn, Error, Request};
use tokenwarden::api::prefs::{self, PrefsApi};
use tokenwarden::runtime::{self, clients, config};

#[tokio::main]
async fn main() -> Result<(), Error> {
    runtime::init_tracing();
    let config: config::NotificationPrefs = runtime::read_config()?;

    let aws = runtime::aws_config().await;
    let store = clients::store(&aws, &config.table);
    let api = PrefsApi {
        prefs: store.clone(),
        recipients: clients::recipients(&aws, store, &config.mail),
        http: config.http,
    };
    let api = &api;
    lambda_http::run(service_fn(move |req: Request| async move {
        Ok::<_, Infallible>(prefs::handle(api, req).await)
    }))
    .await
}
