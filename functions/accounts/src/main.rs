//! Lambda function `accounts`: `GET /providers`, `GET /accounts`, `GET /accounts/{id}`,
//! `DELETE /accounts/{id}`. Wiring only; the handler is `tokenwarden::api::accounts`.
//!
//! Environment: `tokenwarden::runtime::config::Accounts` (every variable it reads, in
//! `VARIABLES`); the AWS SDK's own variables.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use lambda_http::{service_fn, Error, Request};
use tokenwarden::api::accounts::{self, AccountsApi};
use tokenwarden::disconnect::Disconnection;
use tokenwarden::domain::SystemClock;
use tokenwarden::runtime::{self, clients, config};

/// A revocation at disconnect waits at most this long for the network.
const PROVIDER_TIMEOUT: Duration = Duration::from_secs(8);

#[tokio::main]
async fn main() -> Result<(), Error> {
    runtime::init_tracing();
    let config: config::Accounts = runtime::read_config()?;

    // Both secrets in one round trip (BatchGetSecretValue).
    let keep = clients::token_keeping(&config, PROVIDER_TIMEOUT).await?;

    let api = AccountsApi {
        accounts: keep.store.clone(),
        history: keep.store.clone(),
        providers: keep.providers.clone(),
        disconnection: Disconnection {
            accounts: keep.store.clone(),
            ledger: keep.store,
            providers: keep.providers,
            keyring: keep.keyring,
            clock: Arc::new(SystemClock),
        },
        clock: Arc::new(SystemClock),
        http: config.http,
    };
    let api = &api;
    lambda_http::run(service_fn(move |req: Request| async move {
        Ok::<_, Infallible>(accounts::handle(api, req).await)
    }))
    .await
}
