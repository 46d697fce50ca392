//! Measurement 3: `GET /accounts` for a team of 500, page after page, through the
//! `accounts` function's own handler in this process, against DynamoDB Local.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use chrono::{DateTime, Utc};
use lambda_http::Body;
use serde_json::{json, Value};
use tokenwarden::api::accounts::{self, AccountsApi};
use tokenwarden::domain::{Broken, OriginAllowlist, Provider, Reason, Status, SystemClock};
use tokenwarden::http::HttpConfig;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{reload, EnvFilter, Registry};

use crate::rig::{self, account_id, team, CountingAccounts, Rig, FRONTEND};

/// The team every API figure (and the start-up's typical request) reads.
pub const TEAM: &str = "team-bench-api";
pub const USER: &str = "user-bench";

/// A team's accounts in a table of their own.
pub struct ApiTable {
    pub table: String,
    pub accounts: usize,
}

/// The repository root (the harness is built in it).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../..")
}

/// A sample event from `events/`.
pub fn event(function: &str, file: &str) -> anyhow::Result<Value> {
    let path = repo_root().join("events").join(function).join(file);
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    Ok(serde_json::from_str(&text)?)
}

/// The event with the bench team and user as the JWT authorizer's claims, and a query.
pub fn with_caller(mut event: Value, query: &[(&str, &str)]) -> Value {
    if event.get("requestContext").is_none() {
        return event;
    }
    event["requestContext"]["authorizer"] = json!({"jwt": {"claims": {
        "iss": "https://auth.example.com/", "aud": "tokenwarden",
        "sub": USER, "team_id": TEAM, "exp": "1772359200", "iat": "1772355600"
    }, "scopes": null}});
    if !query.is_empty() {
        let raw: Vec<String> = query
            .iter()
            .map(|(k, v)| {
                format!(
                    "{k}={}",
                    url::form_urlencoded::byte_serialize(v.as_bytes()).collect::<String>()
                )
            })
            .collect();
        event["rawQueryString"] = raw.join("&").into();
        let map: serde_json::Map<String, Value> = query
            .iter()
            .map(|(k, v)| ((*k).to_owned(), Value::from(*v)))
            .collect();
        event["queryStringParameters"] = Value::Object(map);
    }
    event
}

/// 500 accounts of one team, as a settings page shows them: every network, most healthy,
/// some expiring soon, a few broken.
pub async fn seed_team(rig: &Rig, n: usize) -> anyhow::Result<ApiTable> {
    let table = rig.table("api").await?;
    let store = rig.store(&table);
    let now: DateTime<Utc> = Utc::now();
    let accounts = (0..n)
        .map(|i| {
            let provider = Provider::ALL[i % Provider::ALL.len()];
            let grant = Rig::synthetic_grant(provider, i);
            let mut a = rig.account(
                team(TEAM),
                account_id(&format!("acc-{i:04}")),
                provider,
                &grant,
                now - chrono::Duration::days((i % 50) as i64),
            );
            if i % 20 == 7 {
                a.broken = Some(Broken {
                    status: Status::Revoked,
                    reason: Some(Reason::PasswordChanged),
                    since: now - chrono::Duration::days(2),
                });
            } else {
                a.next_due_at = Some(now + chrono::Duration::days(1 + (i % 7) as i64));
            }
            a
        })
        .collect();
    rig::seed(&store, accounts, 32).await?;
    Ok(ApiTable { table, accounts: n })
}

pub struct ApiCost {
    pub accounts: usize,
    pub page_size: u32,
    pub walks: usize,
    pub pages_per_walk: usize,
    pub listed_per_walk: usize,
    /// Answers of a walk that listed nothing (a cursor that led to an empty page).
    pub empty_pages_per_walk: usize,
    pub list_queries: u64,
    pub other_store_calls: u64,
    pub requests: usize,
    pub p50: Duration,
    pub p99: Duration,
    pub max: Duration,
    /// The same walks with the functions' log subscriber (their filter at level `info`,
    /// JSON lines counted, not written): its cost and its output per request.
    pub logged_p50: Duration,
    pub logged_p99: Duration,
    pub log_lines_per_request: f64,
    pub debug_lines_per_request: f64,
    pub log_bytes_per_request: f64,
}

/// Counts the JSON lines a subscriber writes, and those at DEBUG.
#[derive(Clone, Default)]
struct LogCount {
    lines: Arc<AtomicU64>,
    debug: Arc<AtomicU64>,
    bytes: Arc<AtomicU64>,
}

struct CountingWriter(LogCount);

impl std::io::Write for CountingWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let c = &self.0;
        c.bytes.fetch_add(buf.len() as u64, Ordering::Relaxed);
        c.lines.fetch_add(
            buf.iter().filter(|b| **b == b'\n').count() as u64,
            Ordering::Relaxed,
        );
        let debug = buf
            .windows(DEBUG_MARK.len())
            .filter(|w| *w == DEBUG_MARK)
            .count();
        c.debug.fetch_add(debug as u64, Ordering::Relaxed);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

const DEBUG_MARK: &[u8] = br#""level":"DEBUG""#;

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogCount {
    type Writer = CountingWriter;

    fn make_writer(&'a self) -> CountingWriter {
        CountingWriter(self.clone())
    }
}

/// The log subscriber every function installs (`tokenwarden::runtime::init_tracing`: JSON
/// lines, its filter), installed once in this process and switched on only around the
/// walks that measure it, at the level Lambda's default logging configuration gives
/// (`info`). Its output is counted, not written.
pub struct FunctionsLog {
    filter: reload::Handle<EnvFilter, Registry>,
    count: LogCount,
}

impl FunctionsLog {
    /// The one subscriber of this process, installed on first use.
    pub fn get() -> anyhow::Result<&'static FunctionsLog> {
        static LOG: std::sync::OnceLock<FunctionsLog> = std::sync::OnceLock::new();
        if let Some(log) = LOG.get() {
            return Ok(log);
        }
        let log = Self::install()?;
        Ok(LOG.get_or_init(|| log))
    }

    /// Bytes written so far.
    pub fn bytes(&self) -> u64 {
        self.count.bytes.load(Ordering::SeqCst)
    }

    fn install() -> anyhow::Result<Self> {
        let (filter, handle) = reload::Layer::new(EnvFilter::new("off"));
        let count = LogCount::default();
        let format = tracing_subscriber::fmt::layer()
            .json()
            .with_ansi(false)
            .without_time()
            .with_current_span(false)
            .with_target(false)
            .with_writer(count.clone());
        tracing_subscriber::registry()
            .with(filter)
            .with(format)
            .try_init()?;
        Ok(Self {
            filter: handle,
            count,
        })
    }

    pub fn switch(&self, on: bool) -> anyhow::Result<()> {
        let filter = if on {
            tokenwarden::runtime::log_filter("info")
        } else {
            EnvFilter::new("off")
        };
        Ok(self.filter.reload(filter)?)
    }
}

/// Walks the whole listing `walks` times (after one walk to warm up), timing every page.
pub async fn list_cost(
    rig: &Rig,
    data: &ApiTable,
    page_size: u32,
    walks: usize,
) -> anyhow::Result<ApiCost> {
    let store = rig.store(&data.table);
    let counting = Arc::new(CountingAccounts::counting(store.clone()));
    let api = AccountsApi {
        accounts: counting.clone(),
        history: store.clone(),
        providers: rig.providers.clone(),
        disconnection: tokenwarden::disconnect::Disconnection {
            accounts: counting.clone(),
            ledger: store,
            providers: rig.providers.clone(),
            keyring: rig.keyring.clone(),
            clock: Arc::new(SystemClock),
        },
        clock: Arc::new(SystemClock),
        http: HttpConfig::new(OriginAllowlist::parse(FRONTEND)?),
    };
    let template = event("accounts", "list.json")?;

    // One walk to open connections; then every page is timed.
    walk(&api, &template, page_size, None).await?;
    let (q0, o0) = crate::rig::calls(&counting);
    let mut samples = Vec::new();
    let mut logged = Vec::new();
    let log = FunctionsLog::get()?;
    let mut pages_per_walk = 0;
    let mut listed = 0;
    let mut empty = 0;
    for _ in 0..walks {
        let w = walk(&api, &template, page_size, Some(&mut samples)).await?;
        pages_per_walk = w.pages;
        listed = w.listed;
        empty = w.empty;
        // Interleaved with the plain walks, so both see the same machine.
        log.switch(true)?;
        let w = walk(&api, &template, page_size, Some(&mut logged)).await;
        log.switch(false)?;
        w?;
    }
    let (q1, o1) = crate::rig::calls(&counting);
    if listed != data.accounts {
        bail!(
            "a walk listed {listed} accounts, the team has {}",
            data.accounts
        );
    }
    samples.sort_unstable();
    logged.sort_unstable();
    let pick =
        |v: &[Duration], q: f64| v[((v.len() as f64 * q).ceil() as usize).clamp(1, v.len()) - 1];
    let count = &log.count;
    let per_request = |c: &AtomicU64| c.load(Ordering::Relaxed) as f64 / logged.len() as f64;
    Ok(ApiCost {
        accounts: data.accounts,
        page_size,
        walks,
        pages_per_walk,
        listed_per_walk: listed,
        empty_pages_per_walk: empty,
        list_queries: q1 - q0,
        other_store_calls: o1 - o0,
        requests: samples.len() + logged.len(),
        p50: pick(&samples, 0.50),
        p99: pick(&samples, 0.99),
        max: samples[samples.len() - 1],
        logged_p50: pick(&logged, 0.50),
        logged_p99: pick(&logged, 0.99),
        log_lines_per_request: per_request(&count.lines),
        debug_lines_per_request: per_request(&count.debug),
        log_bytes_per_request: per_request(&count.bytes),
    })
}

struct Walk {
    pages: usize,
    listed: usize,
    empty: usize,
}

async fn walk(
    api: &AccountsApi,
    template: &Value,
    page_size: u32,
    mut samples: Option<&mut Vec<Duration>>,
) -> anyhow::Result<Walk> {
    let limit = page_size.to_string();
    let mut cursor: Option<String> = None;
    let mut walk = Walk {
        pages: 0,
        listed: 0,
        empty: 0,
    };
    loop {
        let mut query = vec![("limit", limit.as_str())];
        if let Some(c) = &cursor {
            query.push(("cursor", c.as_str()));
        }
        let event = with_caller(template.clone(), &query);
        let request = lambda_http::request::from_str(&event.to_string())
            .map_err(|e| anyhow::anyhow!("the list event is not a payload 2.0 request: {e}"))?;
        let started = Instant::now();
        let response = accounts::handle(api, request).await;
        let took = started.elapsed();
        if let Some(s) = samples.as_deref_mut() {
            s.push(took);
        }
        if response.status() != 200 {
            bail!("GET /accounts answered {}", response.status());
        }
        let body: Value = match response.body() {
            Body::Text(t) => serde_json::from_str(t)?,
            Body::Binary(b) => serde_json::from_slice(b)?,
            _ => bail!("GET /accounts answered without a body"),
        };
        walk.pages += 1;
        let n = body["accounts"].as_array().map_or(0, Vec::len);
        walk.listed += n;
        walk.empty += usize::from(n == 0);
        match body["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => return Ok(walk),
        }
        if walk.pages > 1_000 {
            bail!("the listing does not end");
        }
    }
}
