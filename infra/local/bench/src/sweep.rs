//! Measurements 1 and 2: what the sweep reads, and how its concurrency pays off.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnConsumedCapacity};
use chrono::{DateTime, SubsecRound, Utc};
use rand::SeedableRng;
use tokenwarden::domain::{ManualClock, Provider};
use tokenwarden::store::dynamo::DynamoStore;
use tokenwarden::sweep::{Budget, Report};

use crate::rig::{self, account_id, team, CountingDue, Rig};

/// Accounts per team in the 100,000-account table (a shard holds whole teams).
const TEAM_SIZE: usize = 100;

/// Accounts written at once while seeding.
const SEED_CONCURRENCY: usize = 32;

pub struct ReadCost {
    pub total: usize,
    pub due: usize,
    pub shards: u16,
    pub page_size: u32,
    pub seed_time: Duration,
    pub sweep_time: Duration,
    pub report: Report,
    pub due_queries: u64,
    pub due_items_returned: u64,
    pub scan: ScanCost,
}

pub struct ScanCost {
    pub scanned: u64,
    pub matched: u64,
    pub pages: u64,
    pub capacity_units: f64,
    pub time: Duration,
}

/// The time every measurement calls "now": whole seconds, so stored times read back equal.
fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(0)
}

/// Measurement 1: `total` accounts in the due index, `due` of them due at "now" (a
/// ManualClock), swept for real (checks and refreshes against the fakes); then a naive
/// full-table Scan for due accounts in the same process.
pub async fn read_cost(rig: &Rig, total: usize, due: usize) -> anyhow::Result<ReadCost> {
    let now = now();
    // This table measures reads only: its stream is off before the 200,000 items go in.
    let table = rig.table_without_stream("read").await?;
    let store = rig.store(&table);

    let ids: Vec<_> = (0..total)
        .map(|i| {
            let t = i / TEAM_SIZE;
            (
                team(&format!("team-{t:05}")),
                account_id(&format!("acc-{t:05}-{:03}", i % TEAM_SIZE)),
            )
        })
        .collect();
    let mut rng = rand::rngs::StdRng::seed_from_u64(20261126);
    let mut due_index: Vec<usize> = rand::seq::index::sample(&mut rng, total, due).into_vec();
    due_index.sort_unstable();

    eprintln!("bench: sweep read cost: {due} due accounts get real grants from the provider fakes");
    let due_ids = due_index.iter().map(|i| ids[*i].clone()).collect();
    let mut accounts = rig.due_accounts(due_ids, now).await?;
    let mut is_due = vec![false; total];
    for i in &due_index {
        is_due[*i] = true;
    }
    for (i, (t, id)) in ids.into_iter().enumerate() {
        if is_due[i] {
            continue;
        }
        let provider = Provider::ALL[i % Provider::ALL.len()];
        let grant = Rig::synthetic_grant(provider, i);
        let mut account = rig.account(t, id, provider, &grant, now);
        // Due some time in the next two weeks (the index holds every healthy account).
        let minutes = 60 + (i as i64 * 7_919) % (14 * 24 * 60);
        account.next_due_at = Some(now + chrono::Duration::minutes(minutes));
        accounts.push(account);
    }
    eprintln!(
        "bench: sweep read cost: seeding {total} accounts (BatchWriteItem of DynamoStore::new_account_items)"
    );
    let seed_time = rig::seed_batch(&rig.ddb, &store, &accounts, 8).await?;
    drop(accounts);
    eprintln!(
        "bench: sweep read cost: seeded in {:.1} s ({:.0} accounts/s)",
        seed_time.as_secs_f64(),
        total as f64 / seed_time.as_secs_f64()
    );

    // The baseline first: once swept, the due accounts are due again only later.
    let scan = naive_scan(rig, &table, now).await?;
    eprintln!(
        "bench: sweep read cost: naive Scan read {} items in {:.1} s",
        scan.scanned,
        scan.time.as_secs_f64()
    );

    let counting = Arc::new(CountingDue::new(store.clone()));
    let clock = Arc::new(ManualClock::at(now));
    let config = rig::sweep_config();
    let page_size = config.page_size;
    let sweep = rig.sweep(
        store.clone(),
        counting.clone(),
        rig.providers.clone(),
        clock,
        config,
    );
    let started = Instant::now();
    let report = sweep
        .run_scheduled("sweep#bench-read", Budget::unlimited())
        .await
        .context("the sweep run")?;
    let sweep_time = started.elapsed();
    eprintln!(
        "bench: sweep read cost: swept in {:.1} s: {} seen, {} checked, {} refreshed, items_read {}",
        sweep_time.as_secs_f64(),
        report.accounts_seen,
        report.checked,
        report.refreshed,
        report.items_read
    );
    rig.drop_table(&table).await;
    Ok(ReadCost {
        total,
        due,
        shards: sweep.shards(),
        page_size,
        seed_time,
        sweep_time,
        report,
        due_queries: counting.queries.load(Ordering::SeqCst),
        due_items_returned: counting.items.load(Ordering::SeqCst),
        scan,
    })
}

/// What a sweep without the index would do: Scan the whole table (every page) for
/// accounts due at `now`, summing ScannedCount and the capacity DynamoDB reports.
async fn naive_scan(rig: &Rig, table: &str, now: DateTime<Utc>) -> anyhow::Result<ScanCost> {
    let started = Instant::now();
    let mut cost = ScanCost {
        scanned: 0,
        matched: 0,
        pages: 0,
        capacity_units: 0.0,
        time: Duration::ZERO,
    };
    // The adapter's fixed-width time format (see shared/DATA.md).
    let now_text = now.format("%Y-%m-%dT%H:%M:%S%.9fZ").to_string();
    let mut start: Option<HashMap<String, AttributeValue>> = None;
    loop {
        let out = rig
            .ddb
            .scan()
            .table_name(table)
            .filter_expression("attribute_exists(#due) AND #due <= :now")
            .expression_attribute_names("#due", "due_at")
            .expression_attribute_values(":now", AttributeValue::S(now_text.clone()))
            .return_consumed_capacity(ReturnConsumedCapacity::Total)
            .set_exclusive_start_key(start.take())
            .send()
            .await
            .context("the naive Scan")?;
        cost.pages += 1;
        cost.scanned += u64::try_from(out.scanned_count()).unwrap_or(0);
        cost.matched += u64::try_from(out.count()).unwrap_or(0);
        cost.capacity_units += out
            .consumed_capacity()
            .and_then(|c| c.capacity_units())
            .unwrap_or(0.0);
        match out.last_evaluated_key() {
            Some(last) if !last.is_empty() => start = Some(last.clone()),
            _ => break,
        }
    }
    cost.time = started.elapsed();
    Ok(cost)
}

pub struct ConcurrencyRun {
    pub concurrency: usize,
    pub wall: Duration,
    pub report: Report,
    pub provider_calls: u64,
    pub max_in_flight: usize,
    pub max_by_provider: BTreeMap<Provider, usize>,
}

pub struct Concurrency {
    pub accounts: usize,
    pub latency: Duration,
    pub limits: BTreeMap<Provider, usize>,
    /// At the configured concurrency, with the per-network limits.
    pub configured: ConcurrencyRun,
    /// The same without per-network limits.
    pub unlimited: ConcurrencyRun,
    /// The same with the fakes answering at once: what the store and the machine allow.
    pub floor: ConcurrencyRun,
    /// At concurrency 1 (limits as configured; they cannot bind).
    pub sequential: ConcurrencyRun,
}

/// Measurement 2: `accounts` due accounts (50 teams), the fakes answering after
/// `latency`, swept at `concurrency` and at 1 with the same per-network limits; and, to
/// show where the time goes, at `concurrency` without the limits and without the latency.
pub async fn concurrency(
    rig: &Rig,
    accounts: usize,
    latency: Duration,
    concurrency: usize,
    limits: BTreeMap<Provider, usize>,
) -> anyhow::Result<Concurrency> {
    let none = BTreeMap::new();
    let plan = [
        (concurrency, &limits, latency),
        (concurrency, &none, latency),
        (concurrency, &limits, Duration::ZERO),
        (1, &limits, latency),
    ];
    let mut runs = Vec::new();
    for (c, limits, latency) in plan {
        let now = now();
        // No stream (the sweep writes its history items in the table; nothing here reads
        // them as events), and dropped after its run: stream records and tables left in
        // DynamoDB Local slow every later measurement down.
        let table = rig.table_without_stream(&format!("conc{c}")).await?;
        let store = rig.store(&table);
        rig.fakes.control.set_latency(Duration::ZERO).await?;
        let ids = (0..accounts)
            .map(|i| {
                (
                    team(&format!("team-{:02}", i % 50)),
                    account_id(&format!("acc-{i:05}")),
                )
            })
            .collect();
        let due = rig.due_accounts(ids, now).await?;
        rig::seed(&store, due, SEED_CONCURRENCY).await?;
        runs.push(
            sweep_with_latency(rig, store, now, c, limits, latency)
                .await
                .with_context(|| format!("the sweep at concurrency {c}"))?,
        );
        rig.drop_table(&table).await;
    }
    rig.fakes.control.set_latency(Duration::ZERO).await?;
    let mut runs = runs.into_iter();
    let mut next = || runs.next().context("four runs");
    Ok(Concurrency {
        accounts,
        latency,
        configured: next()?,
        unlimited: next()?,
        floor: next()?,
        sequential: next()?,
        limits,
    })
}

async fn sweep_with_latency(
    rig: &Rig,
    store: Arc<DynamoStore>,
    now: DateTime<Utc>,
    concurrency: usize,
    limits: &BTreeMap<Provider, usize>,
    latency: Duration,
) -> anyhow::Result<ConcurrencyRun> {
    let in_flight = Arc::new(rig::in_flight(rig.providers.clone()));
    let mut config = rig::sweep_config();
    config.concurrency = concurrency;
    config.provider_concurrency = limits.clone();
    let sweep = rig.sweep(
        store.clone(),
        store,
        in_flight.clone(),
        Arc::new(ManualClock::at(now)),
        config,
    );
    rig.fakes.control.set_latency(latency).await?;
    eprintln!(
        "bench: sweep concurrency: concurrency {concurrency}, limits {limits:?}, latency {latency:?}"
    );
    let started = Instant::now();
    let report = sweep
        .run_scheduled(&format!("sweep#bench-c{concurrency}"), Budget::unlimited())
        .await?;
    let wall = started.elapsed();
    rig.fakes.control.set_latency(Duration::ZERO).await?;
    eprintln!(
        "bench: sweep concurrency: {concurrency}: {:.2} s, {} seen, {} checked, {} refreshed, {} transient, {} broken",
        wall.as_secs_f64(),
        report.accounts_seen,
        report.checked,
        report.refreshed,
        report.transient_failures,
        report.broken
    );
    Ok(ConcurrencyRun {
        concurrency,
        wall,
        report,
        provider_calls: in_flight.observer.calls(),
        max_in_flight: in_flight.observer.max_total(),
        max_by_provider: in_flight.observer.max_by_provider(),
    })
}

/// `x=4,tiktok=2` (the `TOKENWARDEN_PROVIDER_CONCURRENCY` format).
pub fn parse_limits(raw: &str) -> anyhow::Result<BTreeMap<Provider, usize>> {
    raw.split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (p, n) = pair
                .split_once('=')
                .with_context(|| format!("'{pair}' is not provider=limit"))?;
            let provider: Provider = p
                .trim()
                .parse()
                .map_err(|e| anyhow::anyhow!("'{p}': {e}"))?;
            let n: usize = n.trim().parse().with_context(|| format!("'{n}'"))?;
            anyhow::Ok((provider, n.max(1)))
        })
        .collect()
}
