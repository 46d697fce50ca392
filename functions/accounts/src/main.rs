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

    let aws = runtime::aws_config().await;
    // Both secrets in one round trip (BatchGetSecretValue).
    let (keyring, providers) = clients::keyring_and_providers(
        &clients::secrets(&aws),
        &config.secrets,
        &config.networks,
        PROVIDER_TIMEOUT,
    )
    .await?;
    let store = clients::store(&aws, &config.table);

    let providers = Arc::new(providers);
    let api = AccountsApi {
        accounts: store.clone(),
        history: store.clone(),
        providers: providers.clone(),
        disconnection: Disconnection {
            accounts: store.clone(),
            ledger: store,
            providers,
            keyring: Arc::new(keyring),
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
