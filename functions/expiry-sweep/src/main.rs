//! Lambda function `expiry-sweep`: the nightly sweep (EventBridge Scheduler) and, with
//! fan-out, its shard tasks (SQS). Wiring only; the work is `tokenwarden::sweep`.
//!
//! Environment: `tokenwarden::runtime::config::ExpirySweep` (every variable it reads, in
//! `VARIABLES`); the AWS SDK's own variables.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::Value;
use tokenwarden::domain::SystemClock;
use tokenwarden::runtime::{self, clients, config};
use tokenwarden::sweep::invoke::{self, MailSoon, ShardQueue};
use tokenwarden::sweep::{Budget, Sweep, SweepConfig};

/// A provider call waits at most this long.
const PROVIDER_TIMEOUT: Duration = Duration::from_secs(10);
/// Time kept back from the Lambda deadline to finish the accounts in flight and log.
const STOP_MARGIN: Duration = Duration::from_secs(20);

#[tokio::main]
async fn main() -> Result<(), Error> {
    runtime::init_tracing();
    let config: config::ExpirySweep = runtime::read_config()?;

    // Both secrets in one round trip (BatchGetSecretValue).
    let keep = clients::token_keeping(&config, PROVIDER_TIMEOUT).await?;
    let queue = (config.queue_url.as_deref()).map(|url| clients::queue(&keep.aws, url));

    let mut sweep_config = SweepConfig::new("cold-start");
    sweep_config.concurrency = config.concurrency.unwrap_or(sweep_config.concurrency);
    sweep_config.provider_concurrency = config.provider_concurrency;

    let sweep = Sweep {
        accounts: keep.store.clone(),
        due: keep.store.clone(),
        prefs: keep.store.clone(),
        ledger: keep.store.clone(),
        leases: keep.store,
        providers: keep.providers,
        mailer: Arc::new(clients::mailer(&keep.aws, &config.mail)),
        signer: Arc::new(clients::link_signer(&keep.aws, &config.mail)),
        mail: Arc::new(config.mail.settings),
        mail_soon: queue.clone().map(|q| q as Arc<dyn MailSoon>),
        keyring: keep.keyring,
        clock: Arc::new(SystemClock),
        config: sweep_config,
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
