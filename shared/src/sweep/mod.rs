//! The expiry sweep: refresh what can be refreshed, catch dead tokens, and mail the chosen
//! team members before anyone has to reconnect.
//!
//! Work is cut into shards of the due index; a shard holds whole teams, so the shard that
//! looks at a team's accounts also sends that team's digest. One invocation may run every
//! shard (the single-function path) or one shard handed over through SQS (fan-out): both
//! call [`Sweep::run_shard`].
//!
//! Nothing is lost and nothing sent twice:
//! - a run lock keyed by the scheduled time makes a second delivery of a run a no-op;
//! - each account is handled under its own lease and re-read under it;
//! - a rotated token pair is stored (retried hard) before anything else happens;
//! - a milestone mail is written to the ledger as pending before it is sent and marked
//!   after; what a crashed run leaves pending goes out on the next one;
//! - the due index is its own cursor: a handled account gets its next due time, so a
//!   later invocation of the same run continues where this one stopped.

mod account;
pub mod invoke;
mod mail;
pub mod reseal;

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use chrono::Duration;
use futures::stream::{self, StreamExt};

use crate::domain::{Clock, Provider, SchedulePolicy};
use crate::mail::links::LinkSigner;
use crate::mail::recipients::MailSettings;
use crate::mail::Mailer;
use crate::providers::ProviderClient;
use crate::seal::Keyring;
use crate::store::{AccountStore, DueIndex, LeaseKey, Leases, Ledger, PrefsStore, StoreError};

/// Everything the sweep talks to, built once per cold start.
#[derive(Clone)]
pub struct Sweep {
    pub accounts: Arc<dyn AccountStore>,
    pub due: Arc<dyn DueIndex>,
    pub prefs: Arc<dyn PrefsStore>,
    pub ledger: Arc<dyn Ledger>,
    pub leases: Arc<dyn Leases>,
    pub providers: Arc<dyn ProviderClient>,
    pub mailer: Arc<dyn Mailer>,
    /// Signs the unsubscribe link of every digest.
    pub signer: Arc<dyn LinkSigner>,
    /// How digests look and where their links go.
    pub mail: Arc<MailSettings>,
    /// Hands a team whose mail could not go out now to a mail task (fan-out only).
    pub mail_soon: Option<Arc<dyn invoke::MailSoon>>,
    pub keyring: Arc<Keyring>,
    pub clock: Arc<dyn Clock>,
    pub config: SweepConfig,
}

#[derive(Debug, Clone)]
pub struct SweepConfig {
    /// Accounts handled at once (provider calls in flight).
    pub concurrency: usize,
    /// Due accounts read per query.
    pub page_size: u32,
    /// How long an account lease lasts; a crashed holder loses it after this.
    pub lease_ttl: Duration,
    /// How long a run lock lasts before another delivery may take over a crashed run, when
    /// the invocation has no deadline (with one, the lock ends at the deadline).
    pub run_lock_ttl: Duration,
    /// Who holds leases (the invocation's request id).
    pub holder: String,
    /// When to look next (check interval, refresh margin); lead days come per team.
    pub policy: SchedulePolicy,
    /// Times a store write of a rotated token pair is tried before giving up.
    pub store_attempts: u32,
    /// Pause after SES throttling before one more try.
    pub throttle_pause: std::time::Duration,
    /// Calls in flight at most per network (its rate limits); networks not named share
    /// only `concurrency`.
    pub provider_concurrency: BTreeMap<Provider, usize>,
}

impl SweepConfig {
    pub fn new(holder: impl Into<String>) -> Self {
        Self {
            concurrency: 16,
            page_size: 100,
            lease_ttl: Duration::minutes(5),
            run_lock_ttl: Duration::minutes(30),
            holder: holder.into(),
            policy: SchedulePolicy::default(),
            store_attempts: 6,
            throttle_pause: std::time::Duration::from_millis(500),
            provider_concurrency: BTreeMap::new(),
        }
    }
}

/// When the invocation must stop taking new work.
#[derive(Debug, Clone, Copy)]
pub struct Budget {
    /// The invocation's own deadline, when it has one.
    deadline: Option<Instant>,
    stop_at: Option<Instant>,
    /// Stop after this many accounts (tests use it to cut a run short, as a timeout would).
    max_accounts: Option<u64>,
}

impl Budget {
    pub fn unlimited() -> Self {
        Self {
            deadline: None,
            stop_at: None,
            max_accounts: None,
        }
    }

    /// Stops taking work at `deadline - margin` (the Lambda deadline less time to finish).
    pub fn until(deadline: Instant, margin: std::time::Duration) -> Self {
        Self {
            deadline: Some(deadline),
            stop_at: Some(deadline.checked_sub(margin).unwrap_or_else(Instant::now)),
            max_accounts: None,
        }
    }

    pub fn with_max_accounts(mut self, n: u64) -> Self {
        self.max_accounts = Some(n);
        self
    }

    /// How long a lock taken now must last: until the invocation's deadline (a holder
    /// past it is dead, so a redelivery after a timeout may take over at once), else
    /// `otherwise`.
    fn lock_ttl(&self, otherwise: Duration) -> Duration {
        match self.deadline {
            Some(d) => {
                let left = d.saturating_duration_since(Instant::now());
                Duration::from_std(left).unwrap_or(otherwise) + Duration::seconds(5)
            }
            None => otherwise,
        }
    }

    pub(crate) fn exhausted(&self, accounts_done: u64) -> bool {
        self.stop_at.is_some_and(|t| Instant::now() >= t)
            || self.max_accounts.is_some_and(|n| accounts_done >= n)
    }
}

/// What a run did, as counts (logged at the end of every invocation).
#[derive(Debug, Default, serde::Serialize)]
pub struct Report {
    /// A duplicate delivery of a run already done or in progress: nothing was done.
    pub duplicate_run: bool,
    /// Shards handed to the queue (fan-out).
    pub shards_handed_out: u32,
    pub shards_done: u32,
    pub accounts_seen: u64,
    pub refreshed: u64,
    pub checked: u64,
    pub broken: u64,
    pub transient_failures: u64,
    pub busy: u64,
    pub skipped_poison: u64,
    pub milestones_recorded: u64,
    pub mails_sent: u64,
    pub mails_rejected: u64,
    pub mail_throttled: bool,
    pub mail_stopped: bool,
    /// Teams whose mail stays pending after this invocation (a lease held by a crashed
    /// run, a dispatch waiting for its event, the daily allowance used up).
    pub mail_pending_teams: u64,
    /// A team's daily mail allowance ran out.
    pub mail_capped: bool,
    /// The budget ran out: due work is left for the next invocation or run.
    pub incomplete: bool,
    /// Items the due index read to answer (its cost).
    pub items_read: u64,
}

impl Report {
    fn absorb(&mut self, other: Report) {
        self.shards_done += other.shards_done;
        self.accounts_seen += other.accounts_seen;
        self.refreshed += other.refreshed;
        self.checked += other.checked;
        self.broken += other.broken;
        self.transient_failures += other.transient_failures;
        self.busy += other.busy;
        self.skipped_poison += other.skipped_poison;
        self.milestones_recorded += other.milestones_recorded;
        self.mails_sent += other.mails_sent;
        self.mails_rejected += other.mails_rejected;
        self.mail_throttled |= other.mail_throttled;
        self.mail_stopped |= other.mail_stopped;
        self.mail_pending_teams += other.mail_pending_teams;
        self.mail_capped |= other.mail_capped;
        self.incomplete |= other.incomplete;
        self.items_read += other.items_read;
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SweepError {
    #[error("the store failed")]
    Store(#[from] StoreError),
    #[error(transparent)]
    Event(invoke::InvalidEvent),
    #[error(transparent)]
    Queue(invoke::QueueError),
}

/// Counters shared by the concurrent account tasks of one shard.
#[derive(Default)]
struct Tally {
    seen: AtomicU64,
    refreshed: AtomicU64,
    checked: AtomicU64,
    broken: AtomicU64,
    transient: AtomicU64,
    busy: AtomicU64,
    poison: AtomicU64,
    milestones: AtomicU64,
}

impl Tally {
    fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// What the concurrent account tasks of one phase share.
struct RunCtx {
    tally: Tally,
    prefs: account::PrefsCache,
    /// Per-network limits on calls in flight.
    limits: HashMap<Provider, tokio::sync::Semaphore>,
}

impl RunCtx {
    /// A place among the network's calls in flight, held for one provider call (not for
    /// the store writes around it); `None` when the network has no limit of its own.
    async fn permit(&self, provider: Provider) -> Option<tokio::sync::SemaphorePermit<'_>> {
        match self.limits.get(&provider) {
            // The semaphores are never closed.
            Some(limit) => limit.acquire().await.ok(),
            None => None,
        }
    }

    /// The network's own limit on calls in flight, if it has one.
    fn limit(&self, provider: Provider) -> Option<&tokio::sync::Semaphore> {
        self.limits.get(&provider)
    }

    fn new(config: &SweepConfig) -> Self {
        Self {
            tally: Tally::default(),
            prefs: account::PrefsCache::default(),
            limits: config
                .provider_concurrency
                .iter()
                .map(|(p, n)| (*p, tokio::sync::Semaphore::new((*n).max(1))))
                .collect(),
        }
    }
}

impl Sweep {
    /// The same sweep, holding leases in the name of one invocation.
    pub fn for_invocation(&self, holder: &str) -> Sweep {
        let mut sweep = self.clone();
        sweep.config.holder = holder.to_owned();
        sweep
    }

    /// The shards of the due index.
    pub fn shards(&self) -> u16 {
        self.due.shards()
    }

    /// Takes the run lock for a scheduled run. `false`: this run is done or being done by
    /// another delivery, and this one must do nothing. A redelivery of an invocation that
    /// failed before it finished (Lambda retries an asynchronous invocation with the same
    /// request id, the lock's holder) carries on with the same run instead of being
    /// refused by its own lock; the due index remembers what was already done.
    pub async fn begin_run(&self, run_key: &str, budget: Budget) -> Result<bool, SweepError> {
        Ok(self
            .leases
            .resume(
                &LeaseKey::Run(run_key.to_owned()),
                &self.config.holder,
                self.clock.now(),
                budget.lock_ttl(self.config.run_lock_ttl),
            )
            .await?)
    }

    /// Marks a run finished for good (a later duplicate delivery will see it), or lets it
    /// go when work is left so a redelivery may continue it.
    pub async fn end_run(&self, run_key: &str, complete: bool) -> Result<(), SweepError> {
        let key = LeaseKey::Run(run_key.to_owned());
        if complete {
            self.leases.complete(&key, &self.config.holder).await?;
        } else {
            self.leases.release(&key, &self.config.holder).await?;
        }
        Ok(())
    }

    /// The single-function path: the whole run in this invocation, shard after shard.
    pub async fn run_scheduled(&self, run_key: &str, budget: Budget) -> Result<Report, SweepError> {
        if !self.begin_run(run_key, budget).await? {
            tracing::info!(run = run_key, "duplicate delivery of a run: nothing to do");
            return Ok(Report {
                duplicate_run: true,
                ..Report::default()
            });
        }
        let mut report = Report::default();
        for shard in 0..self.shards() {
            let done = report.accounts_seen;
            let budget = Budget {
                max_accounts: budget.max_accounts.map(|n| n.saturating_sub(done)),
                ..budget
            };
            // After an account-level mail stop (sending paused) the other shards' accounts
            // are still refreshed and checked; only their mails wait in the ledger.
            // After SES throttling the other shards do not try again this run either.
            let mail = !report.mail_stopped && !report.mail_throttled;
            let shard_report = self.sweep_shard(shard, budget, mail).await?;
            report.absorb(shard_report);
            if report.incomplete {
                break;
            }
        }
        self.end_run(run_key, !report.incomplete).await?;
        Ok(report)
    }

    /// One shard: every due account in it, then the digests of the teams it holds.
    pub async fn run_shard(&self, shard: u16, budget: Budget) -> Result<Report, SweepError> {
        self.sweep_shard(shard, budget, true).await
    }

    async fn sweep_shard(
        &self,
        shard: u16,
        budget: Budget,
        mail: bool,
    ) -> Result<Report, SweepError> {
        let mut report = self.accounts_phase(shard, budget).await?;
        if mail {
            report.absorb(self.mail_phase(shard, budget).await?);
        }
        if !report.incomplete {
            report.shards_done = 1;
        }
        Ok(report)
    }

    async fn accounts_phase(&self, shard: u16, budget: Budget) -> Result<Report, SweepError> {
        let ctx = RunCtx::new(&self.config);
        let tally = &ctx.tally;
        let mut report = Report::default();
        // One pass over the shard's due items, page by page. A handled account moves out of
        // the index; the cursor still continues after its position, so nothing is read
        // twice. What is left (busy, poison, out of budget) stays due for the next run.
        let now = self.clock.now();
        let mut cursor = None;
        loop {
            if budget.exhausted(tally.seen.load(Ordering::Relaxed)) {
                report.incomplete = true;
                break;
            }
            let page = self
                .due
                .due_accounts(shard, now, self.config.page_size, cursor.as_ref())
                .await?;
            report.items_read += page.items_read;
            let room = budget
                .max_accounts
                .map(|n| n.saturating_sub(tally.seen.load(Ordering::Relaxed)) as usize)
                .unwrap_or(usize::MAX);
            let cut_short = page.items.len() > room;
            // The time is watched before each account, not only each page: a page of slow
            // provider calls must not carry the invocation past its deadline.
            let out_of_time = AtomicBool::new(false);
            stream::iter(page.items.into_iter().take(room))
                .for_each_concurrent(self.config.concurrency.max(1), |item| {
                    let (ctx, out_of_time) = (&ctx, &out_of_time);
                    async move {
                        if budget.exhausted(ctx.tally.seen.load(Ordering::Relaxed)) {
                            out_of_time.store(true, Ordering::Relaxed);
                            return;
                        }
                        self.handle_due(item, ctx).await;
                    }
                })
                .await;
            if cut_short || out_of_time.load(Ordering::Relaxed) {
                report.incomplete = true;
                break;
            }
            cursor = page.next;
            if cursor.is_none() {
                break;
            }
        }
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        report.accounts_seen = get(&tally.seen);
        report.refreshed = get(&tally.refreshed);
        report.checked = get(&tally.checked);
        report.broken = get(&tally.broken);
        report.transient_failures = get(&tally.transient);
        report.busy = get(&tally.busy);
        report.skipped_poison = get(&tally.poison);
        report.milestones_recorded = get(&tally.milestones);
        Ok(report)
    }
}
