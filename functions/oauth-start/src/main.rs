//! Lambda function `oauth-start`: `POST /connections/{provider}/start` and
//! `POST /accounts/{id}/reconnect` (JWT authorizer). Wiring only; the handler is
//! `tokenwarden::api::oauth_start`.
//!
//! Environment: `tokenwarden::runtime::config::OAuthStart` (every variable it reads, in
//! `VARIABLES`); the AWS SDK's own variables.

use lambda_http::{service_fn, Error, Request};
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;
use tokenwarden::api::oauth_start::{self, StartApi};
use tokenwarden::domain::SystemClock;
use tokenwarden::oauth::Start;
use tokenwarden::runtime::{self, clients, config};

/// The provider client's bound on a network call (it makes none: authorize URLs only).
const TIMEOUT: Duration = Duration::from_secs(8);

#[tokio::main]
async fn main() -> Result<(), Error> {
    runtime::init_tracing();
    let config: config::OAuthStart = runtime::read_config()?;
    // Building an authorize URL calls no network: the public client ids are all it needs.
    let providers = clients::provider_client(config.client_ids, &config.networks, TIMEOUT)?;

    let aws = runtime::aws_config().await;
    let store = clients::store(&aws, &config.table);

    let api = StartApi {
        start: Start {
            accounts: store.clone(),
            states: store,
            providers: Arc::new(providers),
            clock: Arc::new(SystemClock),
            callback: config.callback,
        },
        default_return_to: config.default_return_to,
        http: config.http,
    };
    let api = &api;
    lambda_http::run(service_fn(move |req: Request| async move {
        Ok::<_, Infallible>(oauth_start::handle(api, req).await)
    }))
    .await
}
