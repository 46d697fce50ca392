//! Lambda function `accounts`: `GET /providers`, `GET /accounts`, `GET /accounts/{id}`,
//! `DELETE /accounts/{id}`. Wiring only; the handler is `tokenwarden::api::accounts`.
//!
//! Environment: `TOKENWARDEN_TABLE_NAME`, `TOKENWARDEN_SEALING_KEYS_SECRET`,
//! `TOKENWARDEN_CLIENT_CREDENTIALS_SECRET`, `TOKENWARDEN_ALLOWED_ORIGINS` (required);
//! `TOKENWARDEN_PROVIDER_BASE_URL`, `TOKENWARDEN_TEAM_CLAIM`, `TOKENWARDEN_USER_CLAIM`,
//! `TOKENWARDEN_MAX_BODY_BYTES` (optional); the AWS SDK's own variables.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use lambda_http::{service_fn, Error, Request};
use tokenwarden::api::accounts::{self, AccountsApi};
use tokenwarden::disconnect::Disconnection;
use tokenwarden::domain::SystemClock;
use tokenwarden::runtime;

/// A revocation at disconnect waits at most this long for the network.
const PROVIDER_TIMEOUT: Duration = Duration::from_secs(8);

#[tokio::main]
async fn main() -> Result<(), Error> {
    runtime::init_tracing();
    let http = runtime::http_config();

    let aws = runtime::aws_config().await;
    let secrets = runtime::secrets(&aws);
    // Both secrets in one round trip (BatchGetSecretValue).
    let (keyring, providers) = runtime::keyring_and_providers(&secrets, PROVIDER_TIMEOUT).await?;
    let store = runtime::store(&aws);

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
        http,
    };
    let api = &api;
    lambda_http::run(service_fn(move |req: Request| async move {
        Ok::<_, Infallible>(accounts::handle(api, req).await)
    }))
    .await
}
