//! Lambda function `credentials`: invoked directly by the platform's backend services
//! (AWS SDK `Invoke`, IAM `lambda:InvokeFunction`; not a route of the HTTP API). Answers
//! `get_token` with a working token and checks `report_failure`s. Wiring only; the work
//! is `tokenwarden::credentials`.
//!
//! Environment: `TOKENWARDEN_TABLE_NAME`, `TOKENWARDEN_SEALING_KEYS_SECRET`,
//! `TOKENWARDEN_CLIENT_CREDENTIALS_SECRET` (required); `TOKENWARDEN_SWEEP_QUEUE_URL` (the
//! sweep's queue: a breakage found here is mailed through it within minutes),
//! `TOKENWARDEN_PROVIDER_BASE_URL` (optional); the AWS SDK's own variables.
//!
//! The answer carries a token: it is returned to the caller and never logged.

use std::sync::Arc;
use std::time::Duration;

use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::Value;
use tokenwarden::credentials::{CredentialsConfig, CredentialsService};
use tokenwarden::domain::SystemClock;
use tokenwarden::runtime::{self, vars};
use tokenwarden::sweep::invoke::{MailSoon, SqsShardQueue};

/// A provider call waits at most this long (callers wait for a refresh at most ~3 s more).
const PROVIDER_TIMEOUT: Duration = Duration::from_secs(5);

#[tokio::main]
async fn main() -> Result<(), Error> {
    runtime::init_tracing();
    let aws = runtime::aws_config().await;
    let secrets = runtime::secrets(&aws);
    // Both secrets in one round trip (BatchGetSecretValue).
    let (keyring, providers) = runtime::keyring_and_providers(&secrets, PROVIDER_TIMEOUT).await?;
    let store = runtime::store(&aws);
    let mail_soon = runtime::optional(vars::SWEEP_QUEUE_URL).map(|url| {
        Arc::new(SqsShardQueue::new(aws_sdk_sqs::Client::new(&aws), url)) as Arc<dyn MailSoon>
    });
    let service = CredentialsService {
        accounts: store.clone(),
        leases: store.clone(),
        ledger: store.clone(),
        history: store.clone(),
        prefs: store,
        providers: Arc::new(providers),
        keyring: Arc::new(keyring),
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
