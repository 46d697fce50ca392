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

    // Both secrets in one round trip (BatchGetSecretValue).
    let keep = clients::token_keeping(&config, PROVIDER_TIMEOUT).await?;

    let api = CallbackApi {
        http: config.http,
        callback: Callback {
            team_account_limit: tokenwarden::oauth::MAX_ACCOUNTS_PER_TEAM,
            accounts: keep.store.clone(),
            states: keep.store.clone(),
            ledger: keep.store,
            providers: keep.providers,
            keyring: keep.keyring,
            clock: Arc::new(SystemClock),
        },
    };
    let api = &api;
    lambda_http::run(service_fn(move |req: Request| async move {
        Ok::<_, Infallible>(oauth_callback::handle(api, req).await)
    }))
    .await
}
