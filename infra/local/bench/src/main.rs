//! tokenwarden's benchmarks, run against the local stack by `infra/local/bench.sh`:
//!
//! 1. sweep read cost: items the sweep's due queries read vs a naive full-table Scan;
//! 2. sweep concurrency: wall time at the configured concurrency vs 1, per-network limits;
//! 3. API: store requests per page and handler latency of `GET /accounts`;
//! 4. start-up: exec to ready under a minimal Lambda Runtime API, against a bare
//!    `lambda_runtime` hello; first-request latency;
//! 5. size and peak RSS of every function binary;
//! 6. credentials: store reads, provider calls and latency of `get_token` on a fresh
//!    token; the single flight of many callers on a token that needs refreshing;
//! 7. history and events: the write cost a history item adds, and the lag from the
//!    account write to its event on a queue.
//!
//! Figures are ratios within one run where the machine's speed matters. Prints a table and
//! writes it (with the machine and the command) into `infra/local/BENCHMARKS.md`.

mod api;
mod cost;
mod credentials;
mod events;
mod million;
mod report;
mod rig;
mod startup;
mod sweep;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context};
use report::{row, Row, Verdict};
use startup::ms;

/// The benchmarks (normally run through infra/local/bench.sh).
#[derive(Debug, clap::Parser)]
#[command(name = "bench")]
struct Options {
    /// sweep-read,sweep-concurrency,api,startup,credentials,events,cost,sweep-million
    /// (default: all)
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
    /// Accounts in the sweep read-cost table.
    #[arg(long, default_value_t = 100_000)]
    accounts: usize,
    /// Of them due, in percent.
    #[arg(long, default_value_t = 1.0)]
    due_percent: f64,
    /// Due accounts in the concurrency run.
    #[arg(long, default_value_t = 1_000)]
    concurrency_accounts: usize,
    /// The provider fakes' answer delay in the concurrency run, in milliseconds.
    #[arg(long = "latency-ms", default_value = "50", value_parser = millis)]
    latency: Duration,
    /// The configured sweep concurrency.
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    /// Per-network limits, e.g. x=4,tiktok=2.
    #[arg(long = "provider-concurrency", default_value = "x=4,tiktok=2")]
    limits: String,
    /// Accounts of the listed team.
    #[arg(long, default_value_t = 500)]
    api_accounts: usize,
    /// Page size.
    #[arg(long, default_value_t = 50)]
    api_page: u32,
    /// Timed walks through the whole listing.
    #[arg(long, default_value_t = 40)]
    api_walks: usize,
    /// Timed get_token calls on a fresh token.
    #[arg(long, default_value_t = 500)]
    credential_calls: usize,
    /// Concurrent get_token callers on a token to refresh.
    #[arg(long, default_value_t = 100)]
    callers: usize,
    /// Accounts in the cost model's sample.
    #[arg(long, default_value_t = 1_000)]
    cost_accounts: usize,
    /// Days the cost model's sample lives through.
    #[arg(long, default_value_t = 7)]
    cost_days: u32,
    /// get_token calls per account per day in the cost model.
    #[arg(long, default_value_t = 4)]
    calls_per_day: u32,
    /// The networks' answer delay in the cost model, in milliseconds.
    #[arg(long = "cost-latency-ms", default_value = "150", value_parser = millis)]
    cost_latency: Duration,
    /// API requests per account per day in the cost model (assumed).
    #[arg(long, default_value_t = 0.2)]
    api_requests_per_account_day: f64,
    /// Accounts in the million-account sweep.
    #[arg(long, default_value_t = 1_000_000)]
    million: usize,
    /// Of them due at its first sweep, in percent.
    #[arg(long, default_value_t = 0.1)]
    million_low_percent: f64,
    /// Of them due at its second sweep, in percent.
    #[arg(long, default_value_t = 1.0)]
    million_high_percent: f64,
    /// Where the release binaries are.
    #[arg(long)]
    bin_dir: Option<PathBuf>,
    /// `lambda`: DIR/<name>/bootstrap (cargo lambda); `plain`: DIR/<name>.
    #[arg(long = "bin-layout", default_value = "plain", value_parser = lambda_layout, action = clap::ArgAction::Set)]
    lambda_layout: bool,
    /// Function binaries to start (default: every functions/* package); NAME@LABEL starts
    /// DIR/NAME@LABEL with NAME's request (compare builds).
    #[arg(long, value_delimiter = ',')]
    functions: Vec<String>,
    /// Starts of each binary.
    #[arg(long, default_value_t = 11)]
    rounds: usize,
    /// One more variable for every started binary, KEY=VALUE (repeatable).
    #[arg(long, value_parser = key_value)]
    env: Vec<(String, String)>,
    /// How the binaries were built (written into BENCHMARKS.md).
    #[arg(long, default_value = "binaries as found in --bin-dir")]
    build: String,
    /// The command that ran this (written into BENCHMARKS.md).
    #[arg(long, default_value = "./infra/local/bench.sh")]
    command: String,
    /// Write the figures there (between the generated-block markers); only a full run (no
    /// --only, no --env) writes.
    #[arg(long)]
    out: Option<PathBuf>,
}

fn millis(raw: &str) -> Result<Duration, String> {
    raw.parse()
        .map(Duration::from_millis)
        .map_err(|e| format!("{e}"))
}

fn lambda_layout(raw: &str) -> Result<bool, String> {
    match raw {
        "lambda" => Ok(true),
        "plain" => Ok(false),
        other => Err(format!("'{other}': lambda or plain")),
    }
}

fn key_value(raw: &str) -> Result<(String, String), String> {
    raw.split_once('=')
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .ok_or_else(|| format!("{raw}: expected KEY=VALUE"))
}

fn options() -> anyhow::Result<Options> {
    let mut o = <Options as clap::Parser>::parse();
    o.only.retain(|s| !s.trim().is_empty());
    o.functions.retain(|s| !s.trim().is_empty());
    if o.functions.is_empty() {
        let dir = api::repo_root().join("functions");
        let mut names: Vec<String> = std::fs::read_dir(&dir)
            .with_context(|| format!("listing {}", dir.display()))?
            .filter_map(|e| e.ok())
            .filter(|e| e.path().join("Cargo.toml").is_file())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        o.functions = names;
    }
    Ok(o)
}

impl Options {
    fn wants(&self, what: &str) -> bool {
        self.only.is_empty() || self.only.iter().any(|o| o == what)
    }
}

fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Bytes in the targets' unit (MB = 10^6 bytes) and in MiB.
fn mb(bytes: u64) -> String {
    format!(
        "{:.1} MB ({:.1} MiB)",
        bytes as f64 / 1e6,
        bytes as f64 / (1024.0 * 1024.0)
    )
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let o = options()?;
    let rig = rig::Rig::new().await?;
    let mut rows: Vec<Row> = Vec::new();
    let mut details: Vec<String> = Vec::new();

    if o.wants("sweep-read") {
        let due = ((o.accounts as f64) * o.due_percent / 100.0).round() as usize;
        match sweep::read_cost(&rig, o.accounts, due).await {
            Ok(r) => read_cost_rows(&r, &mut rows, &mut details),
            Err(e) => rows.push(failed("1", "sweep read cost", &e)),
        }
    }
    if o.wants("sweep-concurrency") {
        let limits = sweep::parse_limits(&o.limits)?;
        match sweep::concurrency(
            &rig,
            o.concurrency_accounts,
            o.latency,
            o.concurrency,
            limits,
        )
        .await
        {
            Ok(c) => concurrency_rows(&c, &mut rows, &mut details),
            Err(e) => rows.push(failed("2", "sweep concurrency", &e)),
        }
    }
    let api_table = if o.wants("api") || o.wants("startup") {
        eprintln!(
            "bench: seeding a team of {} accounts for the API",
            o.api_accounts
        );
        Some(api::seed_team(&rig, o.api_accounts).await?)
    } else {
        None
    };
    let mut api_figures = None;
    if o.wants("api") {
        if let Some(t) = &api_table {
            match api::list_cost(&rig, t, o.api_page, o.api_walks).await {
                Ok(a) => {
                    api_rows(&a, &mut rows, &mut details);
                    api_figures = Some(a);
                }
                Err(e) => rows.push(failed("3", "GET /accounts", &e)),
            }
        }
    }
    if o.wants("startup") {
        let Some(dir) = &o.bin_dir else {
            bail!("--bin-dir is needed for the start-up measurement");
        };
        let path = |name: &str| {
            if o.lambda_layout {
                dir.join(name).join("bootstrap")
            } else {
                dir.join(name)
            }
        };
        let mut binaries = vec![startup::Binary {
            name: "hello".into(),
            path: path("hello"),
        }];
        for f in &o.functions {
            binaries.push(startup::Binary {
                name: f.clone(),
                path: path(f),
            });
        }
        for b in &binaries {
            if !b.path.is_file() {
                bail!(
                    "{} not found: build first (infra/local/bench.sh does)",
                    b.path.display()
                );
            }
        }
        let logs = api::repo_root().join("target/bench-logs");
        let table = api_table.context("seeded above")?;
        let setting = startup::setting(&rig, table, &logs, &o.env).await?;
        let results = startup::measure(&rig, &setting, &binaries, o.rounds).await;
        let cold = secrets_round_trip(&rig).await.ok();
        startup_rows(&results, cold, &o, &mut rows, &mut details);
    }

    if o.wants("credentials") {
        match credentials::measure(&rig, o.credential_calls, o.callers, o.latency).await {
            Ok(c) => credentials_rows(&c, &mut rows, &mut details),
            Err(e) => rows.push(failed("6", "credentials", &e)),
        }
    }

    if o.wants("events") {
        match events::measure(&rig, 50, 100).await {
            Ok(e) => events_rows(&e, &mut rows, &mut details),
            Err(e) => rows.push(failed("7", "history and events", &e)),
        }
    }

    // The earlier sections' tables (and their stream records) would slow every DynamoDB
    // Local call the cost model times; it runs before the million accounts for the same
    // reason (their 2,000,000 items).
    rig.drop_remaining().await;
    if o.wants("cost") {
        if let Err(e) = cost_model(&rig, &o, api_figures.as_ref(), &mut rows, &mut details).await {
            rows.push(failed("8", "cost model", &e));
        }
    }

    rig.drop_remaining().await;
    if o.wants("sweep-million") {
        let share = |p: f64| ((o.million as f64) * p / 100.0).round() as usize;
        let (low, high) = (share(o.million_low_percent), share(o.million_high_percent));
        match million::measure(&rig, o.million, low, high).await {
            Ok(m) => million::rows(&m, &mut rows, &mut details),
            Err(e) => rows.push(failed("9", "a million accounts", &e)),
        }
    }

    let table = report::terminal(&rows);
    println!("\n{table}");
    for d in &details {
        println!("{d}");
    }
    if let Some(out) = &o.out {
        if !o.only.is_empty() || !o.env.is_empty() {
            println!(
                "\n{} not written: --only or --env make a partial or modified run",
                out.display()
            );
            return Ok(());
        }
        let generated = markdown(&o, &rows, &details);
        report::write_between_markers(out, "tokenwarden benchmarks", &generated)
            .with_context(|| format!("writing {}", out.display()))?;
        println!("\nwritten: {}", out.display());
    }
    Ok(())
}

/// The template's `MemorySize` of the sweep and of every other function (Globals), MB.
fn memory_sizes() -> anyhow::Result<(f64, f64)> {
    let path = api::repo_root().join("infra/template.yaml");
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    // Short forms (`!Ref`, `!Sub`) as plain tags: only numbers are read here.
    let template: serde_norway::Value = serde_norway::from_str(&text)?;
    let size = |v: &serde_norway::Value| v.get("MemorySize").and_then(serde_norway::Value::as_f64);
    let global = size(&template["Globals"]["Function"]).context("Globals.Function.MemorySize")?;
    let sweep = template["Resources"]
        .as_mapping()
        .into_iter()
        .flatten()
        .map(|(_, r)| r)
        .find(|r| r["Metadata"]["BuildProperties"]["Binary"].as_str() == Some("expiry-sweep"))
        .and_then(|r| size(&r["Properties"]))
        .unwrap_or(global);
    Ok((global, sweep))
}

/// Measurement 8: the cost model.
async fn cost_model(
    rig: &rig::Rig,
    o: &Options,
    api: Option<&api::ApiCost>,
    rows: &mut Vec<Row>,
    details: &mut Vec<String>,
) -> anyhow::Result<()> {
    let (memory_mb, sweep_memory_mb) = memory_sizes()?;
    let log = api::FunctionsLog::get()?;
    let m = cost::measure(
        rig,
        log,
        o.cost_accounts,
        o.cost_days,
        o.calls_per_day,
        o.cost_latency,
    )
    .await?;
    let a = cost::Assumptions {
        api_requests_per_account_day: o.api_requests_per_account_day,
        api_ms: api.map_or(3.0, |a| ms(a.logged_p50).ceil()),
        api_log_bytes: api.map_or(120.0, |a| a.log_bytes_per_request),
        memory_mb,
        sweep_memory_mb,
        cold_starts_per_function_day: 24.0,
        shards: f64::from(tokenwarden::store::dynamo::DEFAULT_SHARDS),
        // 5 pollers per queue, a 20-second long poll each, all month, 2 queues.
        idle_polls_month: 2.0 * 5.0 * 3.0 * 60.0 * 24.0 * 30.0,
        kms_keys: 2.0,
        secrets: 2.0,
    };
    cost::rows(&m, &a, rows, details);
    Ok(())
}

fn failed(section: &str, what: &str, e: &anyhow::Error) -> Row {
    eprintln!("bench: {what} failed: {e:#}");
    row(
        section,
        what,
        format!("failed: {}", e.to_string().lines().next().unwrap_or("")),
        "",
        Verdict::Missed,
    )
}

fn read_cost_rows(r: &sweep::ReadCost, rows: &mut Vec<Row>, details: &mut Vec<String>) {
    let read = r.report.items_read;
    let bound = 1.05 * r.due as f64;
    let allowance = u64::from(r.shards) * u64::from(r.page_size);
    let ratio = r.scan.scanned as f64 / read.max(1) as f64;
    rows.push(row(
        "1",
        format!(
            "sweep: items read by the due queries ({} due of {})",
            thousands(r.due as u64),
            thousands(r.total as u64)
        ),
        thousands(read),
        format!(
            "<= 1.05 x due = {} (+ 1 page/shard: {})",
            thousands(bound as u64),
            thousands(bound as u64 + allowance)
        ),
        Verdict::of(read as f64 <= bound + allowance as f64),
    ));
    rows.push(row(
        "1",
        "naive full-table Scan: items read (ScannedCount)",
        thousands(r.scan.scanned),
        "baseline",
        Verdict::Info,
    ));
    rows.push(row(
        "1",
        "Scan / sweep items read",
        format!("{ratio:.0}x"),
        ">= 50x",
        Verdict::of(ratio >= 50.0),
    ));
    details.push(format!(
        "1. Sweep read cost: {} accounts ({} items: each account and its external-id item) in {} teams, \
         every healthy account in the due index, {} due at the ManualClock's now. Seeded with BatchWriteItem of the items \
         DynamoStore::create_account writes (DynamoStore::new_account_items) in {:.0} s. The sweep ran for real ({:.1} s: {} seen, {} checked, \
         {} refreshed, {} transient, {} broken against the provider fakes) and its due queries \
         ({} queries over {} shards, page size {}) returned {} items and read {} (Report.items_read = \
         ScannedCount). The naive Scan (filter due_at <= now) took {} pages, read {} items, matched {}, \
         consumed {:.0} RCU and {:.1} s.",
        thousands(r.total as u64),
        thousands(r.total as u64 * 2),
        r.total / 100,
        thousands(r.due as u64),
        r.seed_time.as_secs_f64(),
        r.sweep_time.as_secs_f64(),
        r.report.accounts_seen,
        r.report.checked,
        r.report.refreshed,
        r.report.transient_failures,
        r.report.broken,
        r.due_queries,
        r.shards,
        r.page_size,
        thousands(r.due_items_returned),
        thousands(read),
        r.scan.pages,
        thousands(r.scan.scanned),
        thousands(r.scan.matched),
        r.scan.capacity_units,
        r.scan.time.as_secs_f64(),
    ));
}

fn limits_text(limits: &BTreeMap<tokenwarden::domain::Provider, usize>) -> String {
    limits
        .iter()
        .map(|(p, n)| format!("{p}={n}"))
        .collect::<Vec<_>>()
        .join(",")
}

fn concurrency_rows(c: &sweep::Concurrency, rows: &mut Vec<Row>, details: &mut Vec<String>) {
    let (a, u, f, b) = (&c.configured, &c.unlimited, &c.floor, &c.sequential);
    let secs = |r: &sweep::ConcurrencyRun| format!("{:.2} s", r.wall.as_secs_f64());
    let limits = limits_text(&c.limits);
    rows.push(row(
        "2",
        format!(
            "sweep wall time, {} due, fakes answer after {} ms: concurrency {}, limits {limits}",
            thousands(c.accounts as u64),
            c.latency.as_millis(),
            a.concurrency
        ),
        secs(a),
        "",
        Verdict::Info,
    ));
    rows.push(row(
        "2",
        format!("same, concurrency {}, no per-network limits", u.concurrency),
        secs(u),
        "",
        Verdict::Info,
    ));
    rows.push(row("2", "same, concurrency 1", secs(b), "", Verdict::Info));
    let speedup = |r: &sweep::ConcurrencyRun| b.wall.as_secs_f64() / r.wall.as_secs_f64();
    rows.push(row(
        "2",
        format!(
            "speed-up, concurrency {} (limits {limits}) vs 1",
            a.concurrency
        ),
        format!("{:.1}x", speedup(a)),
        ">= 10x",
        Verdict::of(speedup(a) >= 10.0),
    ));
    rows.push(row(
        "2",
        format!("speed-up, concurrency {} (no limits) vs 1", u.concurrency),
        format!("{:.1}x", speedup(u)),
        ">= 10x",
        Verdict::of(speedup(u) >= 10.0),
    ));
    rows.push(row(
        "2",
        format!(
            "store-bound floor: concurrency {}, fakes answering at once",
            f.concurrency
        ),
        secs(f),
        "",
        Verdict::Info,
    ));
    let within = c
        .limits
        .iter()
        .all(|(p, limit)| a.max_by_provider.get(p).copied().unwrap_or(0) <= *limit);
    let seen: Vec<String> = c
        .limits
        .keys()
        .map(|p| format!("{p} {}", a.max_by_provider.get(p).copied().unwrap_or(0)))
        .collect();
    rows.push(row(
        "2",
        "max provider calls in flight, limited networks",
        seen.join(", "),
        format!("<= {limits}"),
        Verdict::of(within),
    ));
    rows.push(row(
        "2",
        "max provider calls in flight, all networks",
        a.max_in_flight.to_string(),
        format!("<= {} (concurrency)", a.concurrency),
        Verdict::of(a.max_in_flight <= a.concurrency),
    ));
    let by = |r: &sweep::ConcurrencyRun| {
        r.max_by_provider
            .iter()
            .map(|(p, n)| format!("{p} {n}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let handled = |r: &sweep::ConcurrencyRun| {
        format!(
            "{} handled with {} calls",
            r.report.checked + r.report.refreshed,
            r.provider_calls
        )
    };
    details.push(format!(
        "2. Sweep concurrency: {} due accounts in 50 teams over the 7 networks of the mix (facebook, \
         instagram: debug_token checks; linkedin, google: refresh grants; x, tiktok, pinterest: rotating \
         refresh tokens), each with its own grant from the fakes, which answer every call after {} ms. \
         Every run on a fresh table, every account checked or refreshed with one provider call \
         (runs in the order of the table: {}; {}; {}; {}). Most calls in flight per network: with limits {limits}: {}; without: {}. \
         Concurrency 1: {:.1} ms per account, of which {} ms is the fakes' delay; the floor run says \
         what DynamoDB Local and this machine allow at concurrency {} without any provider delay.",
        thousands(c.accounts as u64),
        c.latency.as_millis(),
        handled(a),
        handled(u),
        handled(f),
        handled(b),
        by(a),
        by(u),
        b.wall.as_secs_f64() * 1000.0 / c.accounts as f64,
        c.latency.as_millis(),
        f.concurrency,
    ));
}

fn credentials_rows(
    c: &credentials::CredentialsFigures,
    rows: &mut Vec<Row>,
    details: &mut Vec<String>,
) {
    let reads = c.store_calls as f64 / c.calls as f64;
    let provider = c.provider_calls as f64 / c.calls as f64;
    rows.push(row(
        "6",
        "get_token, fresh token: store reads per call",
        format!("{reads:.2}"),
        "1",
        Verdict::of(c.store_calls == c.calls as u64),
    ));
    rows.push(row(
        "6",
        "get_token, fresh token: provider calls per call",
        format!("{provider:.2}"),
        "0",
        Verdict::of(c.provider_calls == 0),
    ));
    rows.push(row(
        "6",
        "get_token in-process vs DynamoDB Local, p50 / p99",
        format!("{:.2} / {:.2} ms", ms(c.p50), ms(c.p99)),
        "reported",
        Verdict::Info,
    ));
    rows.push(row(
        "6",
        format!(
            "{} concurrent get_token on one token to refresh (fakes answer after {} ms): provider calls",
            c.callers,
            c.latency.as_millis()
        ),
        c.flight_refreshes.to_string(),
        "1",
        Verdict::of(c.flight_refreshes == 1),
    ));
    rows.push(row(
        "6",
        "same: callers answered with the new token, wall time",
        format!(
            "{} of {}, {:.0} ms",
            c.flight_served,
            c.callers,
            ms(c.flight_wall)
        ),
        format!("{} of {}", c.callers, c.callers),
        Verdict::of(c.flight_served == c.callers),
    ));
    details.push(format!(
        "6. Credentials: CredentialsService (the code the function runs) in-process on DynamoDB Local with the \
         provider fakes, an X account connected through the fakes' OAuth flow. {} timed get_token calls after 20 \
         warm-up calls on a token valid for hours: account store calls counted at the store port (the lease is \
         not taken on this path), provider calls counted in the fakes' log. Single flight: the ManualClock moved \
         to two minutes before the token's end, {} callers at once, each with its own request id as lease holder; \
         the lease holder refreshes, the others poll the account item every 50 ms until the tokens change.",
        c.calls, c.callers
    ));
}

fn events_rows(e: &events::EventFigures, rows: &mut Vec<Row>, details: &mut Vec<String>) {
    rows.push(row(
        "7",
        "account write: capacity units, plain / with its history item (one transaction)",
        format!(
            "{:.2} / {:.2} (+{:.2})",
            e.plain_units,
            e.with_history_units,
            e.with_history_units - e.plain_units
        ),
        "reported",
        Verdict::Info,
    ));
    rows.push(row(
        "7",
        format!(
            "lag, account write to its event on the queue ({} transitions), p50 / p99",
            e.transitions
        ),
        format!("{:.0} / {:.0} ms", ms(e.lag_p50), ms(e.lag_p99)),
        "reported",
        Verdict::Info,
    ));
    details.push(format!(
        "7. History and events: capacity units as DynamoDB Local reports them (ReturnConsumedCapacity TOTAL) over {} \
         account writes each: a PutItem of the account alone, then a TransactWriteItems of the account and one history \
         item (transactional writes cost twice, per item). Lag: {} transitions one after another, each timed from the \
         write until its event was received from an SQS queue that a rule on the EventBridge stand-in's bus (moto) \
         targets, through DynamoDB Local's stream read as the event source mapping reads it (stream-poller, polling \
         every 5 ms) and the publisher in-process; in AWS the event source mapping's own polling (about 4 times a \
         second per shard) and its batching window (1 s in the template) come on top.",
        e.writes, e.transitions
    ));
}

fn api_rows(a: &api::ApiCost, rows: &mut Vec<Row>, details: &mut Vec<String>) {
    // Every timed request, with and without the log subscriber.
    let pages = a.requests as f64;
    let per_page = a.list_queries as f64 / pages;
    let others = a.other_store_calls as f64 / pages;
    rows.push(row(
        "3",
        format!(
            "GET /accounts, team of {}, page size {}: store queries per page",
            a.accounts, a.page_size
        ),
        format!("{per_page:.2}"),
        "1",
        Verdict::of((per_page - 1.0).abs() < 1e-9),
    ));
    rows.push(row(
        "3",
        "other store requests per page (per-account reads)",
        format!("{others:.2}"),
        "0",
        Verdict::of(a.other_store_calls == 0),
    ));
    let full = a.accounts.div_ceil(a.page_size as usize);
    rows.push(row(
        "3",
        format!("requests to list all {}", a.accounts),
        if a.empty_pages_per_walk > 0 {
            format!("{} ({} empty)", a.pages_per_walk, a.empty_pages_per_walk)
        } else {
            a.pages_per_walk.to_string()
        },
        full.to_string(),
        Verdict::of(a.pages_per_walk == full),
    ));
    rows.push(row(
        "3",
        "handler latency in-process vs DynamoDB Local, p50 / p99",
        format!("{:.2} / {:.2} ms", ms(a.p50), ms(a.p99)),
        "reported",
        Verdict::Info,
    ));
    rows.push(row(
        "3",
        "same with the functions' log subscriber (level info, JSON), p50 / p99",
        format!("{:.2} / {:.2} ms", ms(a.logged_p50), ms(a.logged_p99)),
        "reported",
        Verdict::Info,
    ));
    rows.push(row(
        "3",
        "log lines per request at level info (of them DEBUG), bytes",
        format!(
            "{:.1} ({:.1}), {:.0} B",
            a.log_lines_per_request, a.debug_lines_per_request, a.log_bytes_per_request
        ),
        "reported",
        Verdict::Info,
    ));
    details.push(format!(
        "3. API: {} walks (twice: without and with the functions' log subscriber) through the whole listing ({} answers of page size {} per walk, {} of them \
         empty, {} accounts listed per walk) after one warm-up walk: {} requests to tokenwarden::api::accounts::handle with the sample event \
         events/accounts/list.json (claims and query set), {} list queries, {} other store calls \
         (counted by a decorator over AccountStore). Latency: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms.",
        a.walks,
        a.pages_per_walk,
        a.page_size,
        a.empty_pages_per_walk,
        a.listed_per_walk,
        a.requests,
        a.list_queries,
        a.other_store_calls,
        ms(a.p50),
        ms(a.p99),
        ms(a.max),
    ));
}

/// One GetSecretValue against moto with a new client (its own connection), as a function's
/// cold start does: what the secrets cost at init.
async fn secrets_round_trip(rig: &rig::Rig) -> anyhow::Result<Duration> {
    let sm = aws_sdk_secretsmanager::Client::new(&rig.aws);
    let name = format!("tokenwarden/bench/probe-{}", uuid::Uuid::new_v4().simple());
    sm.create_secret()
        .name(&name)
        .secret_string("{}")
        .send()
        .await?;
    let mut samples = Vec::new();
    for _ in 0..7 {
        let cold = aws_sdk_secretsmanager::Client::new(&rig.aws);
        let started = std::time::Instant::now();
        cold.get_secret_value().secret_id(&name).send().await?;
        samples.push(started.elapsed());
    }
    startup::median(samples).context("samples")
}

fn startup_rows(
    results: &[startup::Startup],
    secrets: Option<Duration>,
    o: &Options,
    rows: &mut Vec<Row>,
    details: &mut Vec<String>,
) {
    let hello = results
        .iter()
        .find(|r| r.name == "hello")
        .and_then(|r| r.median_ready());
    let mut lines = Vec::new();
    for r in results {
        if let Some(f) = &r.failure {
            rows.push(row(
                "4",
                format!("start-up {}", r.name),
                format!("failed: {}", f.lines().next().unwrap_or("")),
                "",
                Verdict::Missed,
            ));
            continue;
        }
        let Some(ready) = r.median_ready() else {
            continue;
        };
        if r.name == "hello" {
            rows.push(row(
                "4",
                "start-up, bare lambda_runtime hello (baseline)",
                format!("{:.1} ms", ms(ready)),
                "baseline",
                Verdict::Info,
            ));
        } else {
            rows.push(row(
                "4",
                format!("start-up {} (exec to first GET /next)", r.name),
                format!("{:.1} ms", ms(ready)),
                "reported",
                Verdict::Info,
            ));
            let wanted = usize::from(reads_secrets(&r.name));
            match r.wire() {
                Some((trips, own)) => {
                    rows.push(row(
                        "4",
                        format!("  network round trips before /next, {}", r.name),
                        trips.to_string(),
                        wanted.to_string(),
                        Verdict::of(trips <= wanted),
                    ));
                    if let Some(h) = hello {
                        let ratio = own.as_secs_f64() / h.as_secs_f64();
                        rows.push(row(
                            "4",
                            format!("  time before /next less awaited network, {}", r.name),
                            format!("{:.1} ms = {ratio:.1}x hello", ms(own)),
                            "<= 2x hello",
                            Verdict::of(ratio <= 2.0),
                        ));
                    }
                }
                None => rows.push(row(
                    "4",
                    format!("  network round trips before /next, {}", r.name),
                    "not measured",
                    wanted.to_string(),
                    Verdict::Missed,
                )),
            }
        }
        if r.name != "hello" {
            if let Some(first) = r.median_first() {
                rows.push(row(
                    "4",
                    format!("first request {}", r.name),
                    format!(
                        "{:.1} ms{}",
                        ms(first),
                        r.median_warm()
                            .map_or(String::new(), |w| format!(" (warm {:.1} ms)", ms(w)))
                    ),
                    "reported",
                    Verdict::Info,
                ));
            }
        }
        let mins = r.direct().map(|s| s.ready).min().map_or(0.0, ms);
        let outcomes: Vec<String> = r
            .direct()
            .filter_map(|s| s.outcome.clone())
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        lines.push(format!(
            "   - {}: {} starts, ready median {:.1} ms (min {:.1}), first request {} ({}), \
             answered {}, VmHWM max {} KiB, {} bytes{}",
            r.name,
            r.direct().count(),
            ms(ready),
            mins,
            r.median_first()
                .map_or("-".into(), |d| format!("{:.1} ms", ms(d))),
            if r.request.is_empty() {
                "-"
            } else {
                &r.request
            },
            if outcomes.is_empty() {
                "-".into()
            } else {
                outcomes.join("/")
            },
            r.max_hwm_kib().unwrap_or(0),
            r.size_bytes,
            match r.stripped {
                Some(true) => ", stripped",
                Some(false) => ", NOT stripped",
                None => "",
            }
        ));
    }
    for r in results
        .iter()
        .filter(|r| r.failure.is_none() && r.name != "hello")
    {
        rows.push(row(
            "5",
            format!("binary size {}", r.name),
            mb(r.size_bytes),
            "<= 12 MB",
            Verdict::of(r.size_bytes <= 12_000_000),
        ));
    }
    if let Some(h) = results.iter().find(|r| r.name == "hello") {
        rows.push(row(
            "5",
            "binary size hello (baseline)",
            mb(h.size_bytes),
            "",
            Verdict::Info,
        ));
    }
    for r in results.iter().filter(|r| r.failure.is_none()) {
        if let Some(kib) = r.max_hwm_kib() {
            let baseline = r.name == "hello";
            rows.push(row(
                "5",
                format!(
                    "peak RSS (VmHWM) {}{}",
                    r.name,
                    if baseline { " (baseline)" } else { "" }
                ),
                mb(kib * 1024),
                if baseline { "" } else { "<= 32 MB" },
                if baseline {
                    Verdict::Info
                } else {
                    Verdict::of(kib * 1024 <= 32_000_000)
                },
            ));
        }
    }
    details.push(format!(
        "4./5. Start-up, size, memory: every binary started {} times, round-robin, under the harness's \
         Runtime API with the local stack's endpoints, the secrets in moto and the provider fakes; start-up \
         = exec to its first GET /2018-06-01/runtime/invocation/next (median); first request = event handed \
         to /response received; peak RSS = VmHWM after the first request (and any warm ones). Then {} more \
         starts each with every AWS_ENDPOINT_URL_* behind a recording proxy of the harness's: the requests \
         sent before the first /next are the round trips (target: 1, the BatchGetSecretValue, for the \
         functions that read secrets; 0 for the others), and start-up less the time awaiting their \
         answers (the union of their spans) is the function's own start-up work, against 2x the bare \
         hello's start-up (which reads nothing). A cold GetSecretValue against moto (new client and \
         connection) takes {} here. Binaries: {}.\n{}",
        o.rounds,
        startup::PROXIED_ROUNDS,
        secrets.map_or("-".into(), |d| format!("{:.1} ms", ms(d))),
        o.build,
        lines.join("\n")
    ));
}

/// Whether the function `name` (or `name@label`) reads secrets at cold start: its
/// configuration names the sealing keys.
fn reads_secrets(name: &str) -> bool {
    let binary = name.split('@').next().unwrap_or(name);
    tokenwarden::runtime::config::FUNCTIONS
        .iter()
        .find(|(b, _)| *b == binary)
        .is_some_and(|(_, variables)| {
            variables
                .iter()
                .any(|v| v.name == tokenwarden::runtime::config::vars::SEALING_KEYS_SECRET)
        })
}

fn command_output(cmd: &str, args: &[&str]) -> String {
    std::process::Command::new(cmd)
        .args(args)
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default()
}

fn machine() -> String {
    let nproc = command_output("nproc", &[]);
    let lscpu = command_output("lscpu", &[]);
    let pick = |key: &str| {
        lscpu
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .map(|v| v.trim_start_matches(':').trim().to_owned())
            .unwrap_or_default()
    };
    let free = command_output("free", &["-h"]);
    let mem = free
        .lines()
        .find(|l| l.starts_with("Mem:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .unwrap_or("?")
        .to_owned();
    format!(
        "{nproc} CPUs (nproc) — {} ({}, {} thread(s) per core), {mem} memory (free -h), {}, {}",
        pick("Model name"),
        pick("Architecture"),
        pick("Thread(s) per core"),
        command_output("uname", &["-sr"]),
        command_output("rustc", &["-V"]),
    )
}

fn markdown(o: &Options, rows: &[Row], details: &[String]) -> String {
    format!(
        "Generated {} by `{}`.\n\n\
         Machine: {}. Shared with other work while it ran: compare ratios within one run, not \
         absolute times across runs.\n\n\
         {}\n\
         {}\n",
        chrono::Utc::now().format("%Y-%m-%d %H:%M UTC"),
        o.command,
        machine(),
        report::markdown(rows),
        details.join("\n\n"),
    )
}
