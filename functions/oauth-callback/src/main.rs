//! Lambda function `oauth-callback`: the public `GET /oauth/{provider}/callback` (parks the
//! code) and the JWT-authorized `POST /connections/complete` (exchanges it for the person
//! who started the authorization). Wiring only; the handler is
//! `tokenwarden::api::oauth_callback`.
//!
//! Environment: `tokenwarden::runtime::config::OAuthCallback` (every variable it reads, in
//! `VARIABLES`); the AWS SDK's own variables.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use lambda_http::{service_fn, Error, Request};
use tokenwarden::api::oauth_callback::{self, CallbackApi};
use tokenwarden::domain::SystemClock;
use tokenwarden::oauth::Callback;
use tokenwarden::runtime::{self, clients, config};

/// Each network call (code exchange, long-lived exchange, profile or Pages read) waits at
/// most this long: three in a row stay under API Gateway's 30 s.
const PROVIDER_TIMEOUT: Duration = Duration::from_secs(8);

#[tokio::main]
async fn main() -> Result<(), Error> {
    runtime::init_tracing();
    let config: config::OAuthCallback = runtime::read_config()?;

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

    let api = CallbackApi {
        http: config.http,
        callback: Callback {
            team_account_limit: tokenwarden::oauth::MAX_ACCOUNTS_PER_TEAM,
            accounts: store.clone(),
            states: store.clone(),
            ledger: store,
            providers: Arc::new(providers),
            keyring: Arc::new(keyring),
            clock: Arc::new(SystemClock),
        },
    };
    let api = &api;
    lambda_http::run(service_fn(move |req: Request| async move {
        Ok::<_, Infallible>(oauth_callback::handle(api, req).await)
    }))
    .await
}
