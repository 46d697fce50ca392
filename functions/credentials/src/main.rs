//! Lambda function `credentials`: invoked directly by the platform's backend services
//! (AWS SDK `Invoke`, IAM `lambda:InvokeFunction`; not a route of the HTTP API). Answers
//! `get_token` with a working token and checks `report_failure`s. Wiring only; the work
//! is `tokenwarden::credentials`.
//!
//! Environment: `tokenwarden::runtime::config::CredentialsFunction` (every variable it reads, in
//! `VARIABLES`); the AWS SDK's own variables.
//!
//! The answer carries a token: it is returned to the caller and never logged.

use std::sync::Arc;
use std::time::Duration;

use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::Value;
use tokenwarden::credentials::{CredentialsConfig, CredentialsService};
use tokenwarden::domain::SystemClock;
use tokenwarden::runtime::{self, clients, config};
use tokenwarden::sweep::invoke::MailSoon;

/// A provider call waits at most this long (callers wait for a refresh at most ~3 s more).
const PROVIDER_TIMEOUT: Duration = Duration::from_secs(5);

#[tokio::main]
async fn main() -> Result<(), Error> {
    runtime::init_tracing();
    let config: config::CredentialsFunction = runtime::read_config()?;

    // Both secrets in one round trip (BatchGetSecretValue).
    let keep = clients::token_keeping(&config, PROVIDER_TIMEOUT).await?;
    let mail_soon = (config.queue_url.as_deref())
        .map(|url| clients::queue(&keep.aws, url) as Arc<dyn MailSoon>);

    let service = CredentialsService {
        accounts: keep.store.clone(),
        leases: keep.store.clone(),
        ledger: keep.store.clone(),
        history: keep.store.clone(),
        prefs: keep.store,
        providers: keep.providers,
        keyring: keep.keyring,
        clock: Arc::new(SystemClock),
        mail_soon,
        config: CredentialsConfig::default(),
    };
    let service = &service;

    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        // Leases are held in the name of this invocation. Every answer, errors included,
        // is a JSON answer of the documented shape, never a function error.
        Ok::<Value, Error>(
            service
                .handle(&event.context.request_id, event.payload)
                .await,
        )
    }))
    .await
}
