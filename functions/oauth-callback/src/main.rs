//! Lambda function `oauth-callback`: the public `GET /oauth/{provider}/callback`. Wiring
//! only; the handler is `tokenwarden::api::oauth_callback`.
//!
//! Environment: `TOKENWARDEN_TABLE_NAME`, `TOKENWARDEN_SEALING_KEYS_SECRET`,
//! `TOKENWARDEN_CLIENT_CREDENTIALS_SECRET` (required); `TOKENWARDEN_PROVIDER_BASE_URL`
//! (optional); the AWS SDK's own variables. The redirect URI and the return URL come from
//! the stored state, so it needs neither the callback base nor the frontend origins.

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
    // The two secrets are read at once: cold start waits for one round trip, not two.
    let (keyring, providers) = tokio::try_join!(
        runtime::sealing_keyring(&secrets),
        runtime::provider_client(&secrets, PROVIDER_TIMEOUT),
    )?;
    let store = runtime::store(&aws);

    let api = CallbackApi {
        callback: Callback {
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
