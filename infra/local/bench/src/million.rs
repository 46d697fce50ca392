//! Measurement 9: a sweep over 1,000,000 accounts, first with 0.1 % of them due, then
//! with 1 %: items read per due account, the run time of each shard (one invocation of the
//! fan-out each), and from the measured per-shard throughput what the fan-out needs at 16
//! and at 64 shards.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use chrono::{DateTime, Duration as Minutes, SubsecRound, Utc};
use rand::SeedableRng;
use tokenwarden::domain::{ManualClock, Provider};
use tokenwarden::sweep::Budget;

use crate::rig::{self, account_id, team, Rig};

/// Accounts per team (a shard holds whole teams).
const TEAM_SIZE: usize = 100;
/// Accounts generated and written at a time while seeding.
const CHUNK: usize = 20_000;

/// One shard's run.
pub struct ShardRun {
    pub shard: u16,
    pub time: Duration,
    pub due_handled: u64,
    pub items_read: u64,
}

/// One sweep over the table, shard by shard.
pub struct Level {
    pub due: usize,
    pub shards: Vec<ShardRun>,
}

impl Level {
    pub fn handled(&self) -> u64 {
        self.shards.iter().map(|s| s.due_handled).sum()
    }
    pub fn items_read(&self) -> u64 {
        self.shards.iter().map(|s| s.items_read).sum()
    }
    pub fn slowest(&self) -> Duration {
        self.shards.iter().map(|s| s.time).max().unwrap_or_default()
    }
    /// The shard that took longest.
    pub fn slowest_shard(&self) -> u16 {
        self.shards
            .iter()
            .max_by_key(|s| s.time)
            .map_or(0, |s| s.shard)
    }
    pub fn total_time(&self) -> Duration {
        self.shards.iter().map(|s| s.time).sum()
    }
    /// Due accounts a shard invocation handles per second (all shards together).
    pub fn per_shard_throughput(&self) -> f64 {
        self.handled() as f64 / self.total_time().as_secs_f64().max(1e-9)
    }
}

pub struct Million {
    pub total: usize,
    pub seed_time: Duration,
    pub low: Level,
    pub high: Level,
}

fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(0)
}

/// The table: `total` accounts (synthetic grants, due some time in the next two weeks),
/// `low` of them due at `t1` and `high` others due at `t2` with real grants from the fakes.
async fn seed(
    rig: &Rig,
    store: &tokenwarden::store::dynamo::DynamoStore,
    total: usize,
    low: usize,
    high: usize,
    t1: DateTime<Utc>,
    t2: DateTime<Utc>,
) -> anyhow::Result<Duration> {
    let id = |i: usize| {
        let t = i / TEAM_SIZE;
        (
            team(&format!("team-{t:06}")),
            account_id(&format!("acc-{t:06}-{:03}", i % TEAM_SIZE)),
        )
    };
    let mut rng = rand::rngs::StdRng::seed_from_u64(20261202);
    let mut due: Vec<usize> = rand::seq::index::sample(&mut rng, total, low + high).into_vec();
    let mut is_due = vec![false; total];
    for i in &due {
        is_due[*i] = true;
    }
    due.sort_unstable();
    eprintln!(
        "bench: million: {} due accounts get real grants from the fakes",
        due.len()
    );
    let mut accounts = rig
        .due_accounts(due.iter().map(|i| id(*i)).collect(), t1)
        .await?;
    // The first `low` (in a random order of the table) due at t1, the others only at t2.
    for (n, account) in accounts.iter_mut().enumerate() {
        account.next_due_at = Some(if n < low { t1 } else { t2 } - Minutes::minutes(1));
    }
    let mut seed_time = rig::seed_batch(&rig.ddb, store, &accounts, 8).await?;
    drop(accounts);
    let mut i = 0;
    while i < total {
        let end = (i + CHUNK).min(total);
        let chunk: Vec<_> = (i..end)
            .filter(|n| !is_due[*n])
            .map(|n| {
                let (t, a) = id(n);
                let provider = Provider::ALL[n % Provider::ALL.len()];
                let grant = Rig::synthetic_grant(provider, n);
                let mut account = rig.account(t, a, provider, &grant, t1);
                let minutes = 60 + (n as i64 * 7_919) % (14 * 24 * 60);
                account.next_due_at = Some(t2 + Minutes::minutes(minutes));
                account
            })
            .collect();
        seed_time += rig::seed_batch(&rig.ddb, store, &chunk, 8).await?;
        i = end;
        if i % 100_000 == 0 {
            eprintln!(
                "bench: million: {i} accounts seeded ({:.0} s)",
                seed_time.as_secs_f64()
            );
        }
    }
    Ok(seed_time)
}

/// Every shard of the sweep at the clock's time, one after the other, each timed.
async fn sweep_level(sweep: &tokenwarden::sweep::Sweep, due: usize) -> anyhow::Result<Level> {
    let mut shards = Vec::new();
    for shard in 0..sweep.shards() {
        let started = Instant::now();
        let report = sweep
            .run_shard(shard, Budget::unlimited())
            .await
            .with_context(|| format!("shard {shard}"))?;
        shards.push(ShardRun {
            shard,
            time: started.elapsed(),
            due_handled: report.accounts_seen,
            items_read: report.items_read,
        });
    }
    Ok(Level { due, shards })
}

/// Measurement 9.
pub async fn measure(rig: &Rig, total: usize, low: usize, high: usize) -> anyhow::Result<Million> {
    let t1 = now();
    let t2 = t1 + Minutes::minutes(10);
    let table = rig.table_without_stream("million").await?;
    let store = rig.store(&table);
    eprintln!("bench: million: seeding {total} accounts");
    let seed_time = seed(rig, &store, total, low, high, t1, t2).await?;
    eprintln!("bench: million: seeded in {:.0} s", seed_time.as_secs_f64());

    let clock = Arc::new(ManualClock::at(t1));
    let sweep = rig.sweep(
        store.clone(),
        store.clone(),
        rig.providers.clone(),
        clock.clone(),
        rig::sweep_config(),
    );
    let low_level = sweep_level(&sweep, low).await?;
    eprintln!(
        "bench: million: {low} due: {} handled, {} items read, slowest shard {:.2} s",
        low_level.handled(),
        low_level.items_read(),
        low_level.slowest().as_secs_f64()
    );
    clock.set(t2);
    let high_level = sweep_level(&sweep, high).await?;
    eprintln!(
        "bench: million: {high} due: {} handled, {} items read, slowest shard {:.2} s",
        high_level.handled(),
        high_level.items_read(),
        high_level.slowest().as_secs_f64()
    );
    Ok(Million {
        total,
        seed_time,
        low: low_level,
        high: high_level,
    })
}

/// Section 9's rows and notes.
pub fn rows(m: &Million, rows: &mut Vec<crate::report::Row>, details: &mut Vec<String>) {
    use crate::report::{row, Verdict};
    let thousands = |n: u64| crate::thousands(n);
    for level in [&m.low, &m.high] {
        let share = level.due as f64 / m.total as f64 * 100.0;
        let label = format!(
            "{} due of {} ({share:.1} %)",
            thousands(level.due as u64),
            thousands(m.total as u64)
        );
        let per_due = level.items_read() as f64 / level.handled().max(1) as f64;
        rows.push(row(
            "9",
            format!("sweep, {label}: items read per due account"),
            format!("{per_due:.2}"),
            "<= 1.05",
            Verdict::of(per_due <= 1.05 && level.handled() == level.due as u64),
        ));
        rows.push(row(
            "9",
            "  due accounts handled / items read",
            format!(
                "{} / {}",
                thousands(level.handled()),
                thousands(level.items_read())
            ),
            format!("{} handled", thousands(level.due as u64)),
            Verdict::of(level.handled() == level.due as u64),
        ));
        let times: Vec<Duration> = level.shards.iter().map(|s| s.time).collect();
        rows.push(row(
            "9",
            format!(
                "  run time of one shard (of {}), median / slowest",
                level.shards.len()
            ),
            format!(
                "{:.2} / {:.2} s (shard {})",
                crate::startup::median(times)
                    .unwrap_or_default()
                    .as_secs_f64(),
                level.slowest().as_secs_f64(),
                level.slowest_shard()
            ),
            "",
            Verdict::Info,
        ));
        let throughput = level.per_shard_throughput();
        rows.push(row(
            "9",
            "  per-shard throughput (due accounts/s, fakes answering at once)",
            format!("{throughput:.0}"),
            "",
            Verdict::Info,
        ));
        for shards in [16u32, 64] {
            let wall = level.due as f64 / f64::from(shards) / throughput;
            rows.push(row(
                "9",
                format!("  fan-out at {shards} shards: invocations, wall time"),
                format!("{} invocations, {wall:.1} s", shards + 1),
                "",
                Verdict::Info,
            ));
        }
    }
    details.push(format!(
        "9. A million accounts: {} accounts in teams of {TEAM_SIZE} (each account and its external-id item: {} items), seeded with BatchWriteItem in {:.0} s; {} of them (random) with real grants from the fakes, due at the first sweep time, and {} others due only at the second, 10 minutes later; the rest due some time in the next two weeks (every healthy account is in the due index). Each sweep runs shard after shard in this process (`Sweep::run_shard`, the code one shard task of the fan-out runs), each timed; the fakes answer at once, so the per-shard throughput is what DynamoDB Local and this machine allow at the sweep's concurrency of 16 (section 2 measures how the networks' latency divides it, in the same run). Fan-out = 1 scheduled invocation + 1 per shard; wall time = due / shards / measured per-shard throughput. Where it stops scaling: the work is proportional to the due accounts, not the table, so the table's size costs nothing per night; what bounds a night is (a) one shard's due accounts in one invocation (15 minutes, less the stop margin: a shard task that runs out of time is handed out again by SQS and goes on where it stopped), (b) the networks' own rate limits (the per-network limits in flight), and (c) DynamoDB's per-partition throughput (3,000 RCU and 1,000 WCU per second per partition): every refresh writes the account item and moves it in the due index, whose partition key is the shard, so one shard's index writes share one partition's 1,000 WCU/s; more shards (the store's `shards`, written on each account) spread them.",
        thousands(m.total as u64),
        thousands(2 * m.total as u64),
        m.seed_time.as_secs_f64(),
        thousands(m.low.due as u64),
        thousands(m.high.due as u64),
    ));
}
