//! Lambda function `oauth-callback`: the public `GET /oauth/{provider}/callback` (parks the
//! code) and the JWT-authorized `POST /connections/complete` (exchanges it for the person
//! who started the authorization). Wiring only; the handler is
//! `tokenwarden::api::oauth_callback`.
//!
//! Environment: `TOKENWARDEN_TABLE_NAME`, `TOKENWARDEN_SEALING_KEYS_SECRET`,
//! `TOKENWARDEN_CLIENT_CREDENTIALS_SECRET`, `TOKENWARDEN_ALLOWED_ORIGINS` (required);
//! `TOKENWARDEN_TEAM_CLAIM`, `TOKENWARDEN_USER_CLAIM`, `TOKENWARDEN_MAX_BODY_BYTES`,
//! `TOKENWARDEN_PROVIDER_BASE_URL`, the networks' settings (optional); the AWS SDK's own
//! variables. The redirect URI and the return URL come from the stored state.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use lambda_http::{service_fn, Error, Request};
use tokenwarden::api::oauth_callback::{self, CallbackApi};
use tokenwarden::domain::SystemClock;
use tokenwarden::oauth::Callback;
use tokenwarden::runtime;

/// Each network call (code exchange, long-lived exchange, profile or Pages read) waits at
/// most this long: three in a row stay under API Gateway's 30 s.
const PROVIDER_TIMEOUT: Duration = Duration::from_secs(8);

#[tokio::main]
async fn main() -> Result<(), Error> {
    runtime::init_tracing();

    let aws = runtime::aws_config().await;
    let secrets = runtime::secrets(&aws);
    // Both secrets in one round trip (BatchGetSecretValue).
    let (keyring, providers) = runtime::keyring_and_providers(&secrets, PROVIDER_TIMEOUT).await?;
    let store = runtime::store(&aws);
    let http = runtime::http_config();

    let api = CallbackApi {
        http,
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
