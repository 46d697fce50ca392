//! Lambda function `expiry-sweep`: the nightly sweep (EventBridge Scheduler) and, with
//! fan-out, its shard tasks (SQS). Wiring only; the work is `tokenwarden::sweep`.
//!
//! Environment: `TOKENWARDEN_TABLE_NAME`, `TOKENWARDEN_SEALING_KEYS_SECRET`,
//! `TOKENWARDEN_CLIENT_CREDENTIALS_SECRET`, `TOKENWARDEN_FRONTEND_URL`,
//! `TOKENWARDEN_MAIL_FROM`, `TOKENWARDEN_PRODUCT_NAME`, `TOKENWARDEN_MAIL_LINK_KEY_ID`,
//! `TOKENWARDEN_CALLBACK_BASE_URL` (required); `TOKENWARDEN_MAIL_FROM_NAME`,
//! `TOKENWARDEN_SES_CONFIGURATION_SET`, `TOKENWARDEN_SUPPORT_URL`, `TOKENWARDEN_LOGO_URL`,
//! `TOKENWARDEN_DIGESTS_PER_DAY`, `TOKENWARDEN_SWEEP_QUEUE_URL` (fan-out),
//! `TOKENWARDEN_SWEEP_CONCURRENCY`, `TOKENWARDEN_PROVIDER_CONCURRENCY`,
//! `TOKENWARDEN_PROVIDER_BASE_URL` (optional); the AWS SDK's own variables.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::Value;
use tokenwarden::domain::SystemClock;
use tokenwarden::runtime::{self, vars};
use tokenwarden::sweep::invoke::{self, MailSoon, ShardQueue, SqsShardQueue};
use tokenwarden::sweep::{Budget, Sweep, SweepConfig};

/// A provider call waits at most this long.
const PROVIDER_TIMEOUT: Duration = Duration::from_secs(10);
/// Time kept back from the Lambda deadline to finish the accounts in flight and log.
const STOP_MARGIN: Duration = Duration::from_secs(20);

#[tokio::main]
async fn main() -> Result<(), Error> {
    runtime::init_tracing();
    let mail = runtime::mail_settings();

    let aws = runtime::aws_config().await;
    let secrets = runtime::secrets(&aws);
    // Both secrets in one round trip (BatchGetSecretValue).
    let (keyring, providers) = runtime::keyring_and_providers(&secrets, PROVIDER_TIMEOUT).await?;
    let store = runtime::store(&aws);
    let queue = runtime::optional(vars::SWEEP_QUEUE_URL)
        .map(|url| Arc::new(SqsShardQueue::new(aws_sdk_sqs::Client::new(&aws), url)));

    let mut config = SweepConfig::new("cold-start");
    config.concurrency = runtime::sweep_concurrency(config.concurrency);
    config.provider_concurrency = runtime::provider_concurrency();
    let sweep = Sweep {
        accounts: store.clone(),
        due: store.clone(),
        prefs: store.clone(),
        ledger: store.clone(),
        leases: store,
        providers: Arc::new(providers),
        mailer: Arc::new(runtime::mailer(&aws)),
        signer: Arc::new(runtime::link_signer(&aws)),
        mail: Arc::new(mail),
        mail_soon: queue.clone().map(|q| q as Arc<dyn MailSoon>),
        keyring: Arc::new(keyring),
        clock: Arc::new(SystemClock),
        config,
    };
    let sweep = &sweep;
    let queue = queue.as_deref().map(|q| q as &dyn ShardQueue);

    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        // Leases are held in the name of this invocation.
        let sweep = sweep.for_invocation(&event.context.request_id);
        let budget = Budget::until(deadline(event.context.deadline), STOP_MARGIN);
        invoke::handle(&sweep, queue, &event.payload, budget)
            .await
            .map_err(|e| {
                tracing::error!(error = %e, cause = ?std::error::Error::source(&e), "sweep invocation failed");
                Error::from(e)
            })
    }))
    .await
}

/// Lambda's longest timeout: the budget when the runtime's deadline cannot be right.
const LAMBDA_MAX_TIMEOUT: Duration = Duration::from_secs(900);

/// The invocation's deadline (milliseconds since the epoch) as an `Instant`. Lambda always
/// sends one still ahead; a deadline already past when the invocation arrives is no
/// deadline (`cargo lambda watch` sends a fixed 600000, i.e. 1970-01-01T00:10Z), and taken
/// at its word it would leave the run no time at all: it then gets Lambda's maximum.
fn deadline(deadline_ms: u64) -> Instant {
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    match deadline_ms.checked_sub(now_ms).filter(|left| *left > 0) {
        Some(left) => Instant::now() + Duration::from_millis(left),
        None => {
            tracing::warn!(
                deadline_ms,
                "the invocation deadline is already past on arrival; assuming Lambda's 15-minute maximum"
            );
            Instant::now() + LAMBDA_MAX_TIMEOUT
        }
    }
}
