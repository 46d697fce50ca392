//! The nightly expiry sweep end to end, over the wire: DynamoDB Local (a fresh table per
//! test), the provider fakes in-process (accounts hold tokens the fakes issued through
//! their OAuth flow), SES v2 through the real `SesMailer` to the SES stand-in (read back
//! from its store), SQS in moto for the fan-out. Time is a `ManualClock`: "65 days later"
//! is 65 runs, not a wait. Each test's recipients have addresses of their own, so tests
//! run in parallel on one SES stand-in.

#[allow(dead_code)]
#[path = "../sweep_support.rs"]
mod sweep_support;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration as StdDuration, Instant};

use chrono::Duration;
use futures::{stream, StreamExt};
use provider_fakes::{EndpointKind, Fault};
use serde_json::{json, Value};
use sweep_support::{at_day, sqs_event, sqs_queue, take, HangsAfter, Rig, SesFault, SesProxy};
use tokenwarden::domain::{
    Account, Clock, EmailAddress, Failures, KeepAlive, Milestone, Provider, Reason, SchedulePolicy,
    Status, TeamId,
};
use tokenwarden::domain::{ExposeSecret, Secret};
use tokenwarden::mail::{Email, MailError, Mailer};
use tokenwarden::providers::ProviderClient;
use tokenwarden::seal::Keyring;
use tokenwarden::store::{AccountStore, PrefsStore};
use tokenwarden::sweep::invoke::{self, ShardQueue, ShardTask, SqsShardQueue};
use tokenwarden::sweep::{Budget, Report, Sweep};
use tokenwarden_integration::t0;
use tokenwarden_integration::FlakyAccounts;

/// Fan-out and the invocation: shards over SQS, budgets, limits, reads, re-sealing.
mod fan_out;
/// Faults: dead tokens, transient failures, rotating refresh tokens, poison items.
mod faults;
/// The mail phase: every milestone mailed exactly once, whatever SES or a crash does.
mod mail_phase;
/// Night after night: 65 days over nine networks, and a team's own lead days and events.
mod nightly;

const LEADS: &[u32] = &[14, 7, 3, 1];

impl Rig {
    /// Day `n`'s nightly run: the clock at [`at_day`], a run key of its own.
    async fn run_day(&self, sweep: &Sweep, n: i64) -> Report {
        self.clock.set(at_day(n));
        sweep
            .run_scheduled(&format!("sweep#day-{n}"), Budget::unlimited())
            .await
            .unwrap_or_else(|e| panic!("the run of day {n}: {e:?}"))
    }
}

fn expiring(days: u32) -> Milestone {
    Milestone::Expiring { days }
}

fn id(account: &Account) -> String {
    account.id.to_string()
}

/// The scheduled event EventBridge Scheduler sends for the run at `at`.
fn scheduled(at: chrono::DateTime<chrono::Utc>) -> Value {
    json!({ "scheduled_time": at.format("%Y-%m-%dT%H:%M:%SZ").to_string() })
}
