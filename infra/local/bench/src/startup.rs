//! Measurements 4 and 5: each function binary started under a minimal Lambda Runtime API
//! served here. Exec to the first `GET /next` is start-up (the runtime asks for work only
//! once `main` has built its clients and read its secrets); the first event's answer is
//! first-request latency; `VmHWM` read after it is peak RSS.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::Router;
use serde_json::{json, Value};
use tokenwarden::domain::{ExposeSecret, Secret};
use tokenwarden::domain::{OriginAllowlist, Provider, ReturnUrl, UserId};
use tokenwarden::store::{OAuthState, StateStore};
use tokio::sync::{mpsc, Mutex};

use crate::api::{self, ApiTable};
use crate::rig::{self, account_id, team, Rig, FRONTEND};

/// What the harness saw on the Runtime API.
#[derive(Debug)]
enum Seen {
    Next(Instant),
    Handed(Instant),
    Response(Instant, Bytes),
    Error(Instant, Bytes),
    InitError(Bytes),
}

struct RuntimeApi {
    events: Mutex<mpsc::UnboundedReceiver<Value>>,
    seen: mpsc::UnboundedSender<Seen>,
    ids: AtomicU64,
}

fn router(api: Arc<RuntimeApi>) -> Router {
    Router::new()
        .route("/2018-06-01/runtime/invocation/next", get(next))
        .route(
            "/2018-06-01/runtime/invocation/{id}/response",
            post(
                |State(api): State<Arc<RuntimeApi>>, body: Bytes| async move {
                    let _ = api.seen.send(Seen::Response(Instant::now(), body));
                    StatusCode::ACCEPTED
                },
            ),
        )
        .route(
            "/2018-06-01/runtime/invocation/{id}/error",
            post(
                |State(api): State<Arc<RuntimeApi>>, body: Bytes| async move {
                    let _ = api.seen.send(Seen::Error(Instant::now(), body));
                    StatusCode::ACCEPTED
                },
            ),
        )
        .route(
            "/2018-06-01/runtime/init/error",
            post(
                |State(api): State<Arc<RuntimeApi>>, body: Bytes| async move {
                    let _ = api.seen.send(Seen::InitError(body));
                    StatusCode::ACCEPTED
                },
            ),
        )
        .with_state(api)
}

/// `GET /next`: noted on arrival, then held until the harness hands an event.
async fn next(State(api): State<Arc<RuntimeApi>>) -> axum::response::Response {
    let _ = api.seen.send(Seen::Next(Instant::now()));
    let event = api.events.lock().await.recv().await;
    let Some(event) = event else {
        return StatusCode::GONE.into_response();
    };
    let id = format!("bench-{}", api.ids.fetch_add(1, Ordering::SeqCst));
    let deadline = chrono::Utc::now().timestamp_millis() + 900_000;
    let mut headers = HeaderMap::new();
    let mut set = |name: &'static str, value: String| {
        if let Ok(v) = HeaderValue::from_str(&value) {
            headers.insert(name, v);
        }
    };
    set("lambda-runtime-aws-request-id", id);
    set("lambda-runtime-deadline-ms", deadline.to_string());
    set(
        "lambda-runtime-invoked-function-arn",
        "arn:aws:lambda:us-east-1:123456789012:function:bench".into(),
    );
    set(
        "lambda-runtime-trace-id",
        "Root=1-00000000-000000000000000000000000;Sampled=0".into(),
    );
    set("content-type", "application/json".into());
    let _ = api.seen.send(Seen::Handed(Instant::now()));
    (StatusCode::OK, headers, event.to_string()).into_response()
}

/// One function binary and how to give it a typical request.
pub struct Binary {
    pub name: String,
    pub path: PathBuf,
}

/// One start of one binary.
#[derive(Debug, Clone)]
pub struct Start {
    pub ready: Duration,
    pub first: Option<Duration>,
    /// The status the first request was answered with (HTTP status, or `ok`/`error`).
    pub outcome: Option<String>,
    pub warm: Vec<Duration>,
    pub hwm_kib: u64,
    /// With the AWS endpoints behind the recording proxy: requests sent before the first
    /// `GET /next`, and the time spent waiting for their answers.
    pub wire: Option<(usize, Duration)>,
}

pub struct Startup {
    pub name: String,
    pub size_bytes: u64,
    pub stripped: Option<bool>,
    pub request: String,
    pub starts: Vec<Start>,
    pub failure: Option<String>,
}

impl Startup {
    pub fn median_ready(&self) -> Option<Duration> {
        median(self.direct().map(|s| s.ready).collect())
    }

    pub fn median_first(&self) -> Option<Duration> {
        median(self.direct().filter_map(|s| s.first).collect())
    }

    pub fn median_warm(&self) -> Option<Duration> {
        median(self.direct().flat_map(|s| s.warm.clone()).collect())
    }

    pub fn max_hwm_kib(&self) -> Option<u64> {
        self.starts.iter().map(|s| s.hwm_kib).max()
    }

    /// Of the proxied starts: the most round trips before ready, and the median time before
    /// ready less the time awaiting the network.
    pub fn wire(&self) -> Option<(usize, Duration)> {
        let proxied: Vec<_> = self
            .starts
            .iter()
            .filter_map(|s| s.wire.map(|w| (w, s.ready)))
            .collect();
        let trips = proxied.iter().map(|((n, _), _)| *n).max()?;
        let own = median(
            proxied
                .iter()
                .map(|((_, awaited), ready)| ready.saturating_sub(*awaited))
                .collect(),
        )?;
        Some((trips, own))
    }

    /// Start-ups measured directly (the proxied ones are not counted in the timings).
    pub fn direct(&self) -> impl Iterator<Item = &Start> {
        self.starts.iter().filter(|s| s.wire.is_none())
    }
}

pub fn median(mut v: Vec<Duration>) -> Option<Duration> {
    if v.is_empty() {
        return None;
    }
    v.sort_unstable();
    Some(v[v.len() / 2])
}

/// What every start shares: the secrets the functions read at cold start, the table the
/// API functions read, and the environment.
pub struct Setting {
    env: Vec<(String, String)>,
    api: ApiTable,
    logs: PathBuf,
}

/// Creates the two secrets in moto and the environment every function gets (each reads
/// what it needs; a missing variable would stop it at cold start, which counts as a
/// failure here).
pub async fn setting(
    rig: &Rig,
    api: ApiTable,
    logs: &Path,
    extra: &[(String, String)],
) -> anyhow::Result<Setting> {
    let sm = aws_sdk_secretsmanager::Client::new(&rig.aws);
    let suffix = uuid::Uuid::new_v4().simple().to_string();
    // The bus events-publisher puts its events on (moto's EventBridge).
    let bus = format!("tokenwarden-bench-{suffix}");
    aws_sdk_eventbridge::Client::new(&rig.aws)
        .create_event_bus()
        .name(&bus)
        .send()
        .await
        .with_context(|| format!("creating event bus {bus} in moto"))?;
    let keys = format!("tokenwarden/bench/sealing-keys-{suffix}");
    let creds = format!("tokenwarden/bench/client-credentials-{suffix}");
    let credentials: serde_json::Map<String, Value> = Provider::ALL
        .into_iter()
        .map(|p| {
            (
                p.id().to_owned(),
                json!({
                    "client_id": provider_fakes::default_client_id(p),
                    "client_secret": provider_fakes::default_client_secret(p),
                }),
            )
        })
        .collect();
    for (name, value) in [
        (&keys, rig.keyring_secret.expose_secret().to_owned()),
        (&creds, Value::Object(credentials).to_string()),
    ] {
        sm.create_secret()
            .name(name)
            .secret_string(value)
            .send()
            .await
            .with_context(|| format!("creating secret {name} in moto"))?;
    }
    // The local stack's endpoints, region and dummy credentials: the SDK's own variables.
    let mut env: Vec<(String, String)> = std::env::vars()
        .filter(|(k, _)| k.starts_with("AWS_"))
        .collect();
    let fakes = rig.fakes.base_url.to_string();
    let client_ids = Provider::ALL
        .into_iter()
        .map(|p| format!("{}={}", p.id(), provider_fakes::default_client_id(p)))
        .collect::<Vec<_>>()
        .join(",");
    for (k, v) in [
        ("TOKENWARDEN_TABLE_NAME", api.table.clone()),
        ("TOKENWARDEN_SEALING_KEYS_SECRET", keys),
        ("TOKENWARDEN_CLIENT_CREDENTIALS_SECRET", creds),
        ("TOKENWARDEN_ALLOWED_ORIGINS", FRONTEND.to_owned()),
        (
            "TOKENWARDEN_CALLBACK_BASE_URL",
            "https://api.example.com".to_owned(),
        ),
        (
            "TOKENWARDEN_FRONTEND_URL",
            format!("{FRONTEND}/settings/accounts"),
        ),
        (
            "TOKENWARDEN_MAIL_FROM",
            "tokenwarden@example.com".to_owned(),
        ),
        ("TOKENWARDEN_PROVIDER_BASE_URL", fakes),
        ("TOKENWARDEN_EVENT_BUS_NAME", bus),
        ("TOKENWARDEN_CLIENT_IDS", client_ids),
        ("TOKENWARDEN_PRODUCT_NAME", "Bench".to_owned()),
        ("TOKENWARDEN_MAIL_LINK_KEY_ID", rig.mail_link_key.clone()),
        ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128".to_owned()),
        ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST".to_owned()),
        ("AWS_LAMBDA_LOG_STREAM_NAME", "bench".to_owned()),
        ("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand".to_owned()),
    ] {
        env.retain(|(name, _)| name != k);
        env.push((k.to_owned(), v));
    }
    for (k, v) in extra {
        env.retain(|(name, _)| name != k);
        env.push((k.clone(), v.clone()));
    }
    std::fs::create_dir_all(logs)?;
    Ok(Setting {
        env,
        api,
        logs: logs.to_owned(),
    })
}

/// The typical request of a function and the environment it runs with.
struct Case {
    event: Option<Value>,
    env: Vec<(String, String)>,
    warm: usize,
}

/// Due accounts each start of the sweep handles.
pub const SWEEP_DUE: usize = 10;

/// A typical request per function: the first page of the team's list, the team's
/// preferences, a nightly run over a table with a few due accounts. Functions without a
/// recipe here get the first sample event of theirs that exists.
///
/// A binary named `function@label` (another build of the same function, to compare two
/// builds in one run) gets the function's recipe.
async fn case(rig: &Rig, setting: &Setting, binary: &str) -> anyhow::Result<(Case, String)> {
    let name = binary.split('@').next().unwrap_or(binary);
    let mut env = setting.env.clone();
    env.push(("AWS_LAMBDA_FUNCTION_NAME".into(), name.to_owned()));
    env.push((
        "AWS_LAMBDA_LOG_GROUP_NAME".into(),
        format!("/aws/lambda/{name}"),
    ));
    let http = |file: &str, query: &[(&str, &str)]| -> anyhow::Result<Value> {
        Ok(api::with_caller(api::event(name, file)?, query))
    };
    Ok(match name {
        "hello" => (
            Case {
                event: Some(json!({"hello": "world"})),
                env,
                warm: 10,
            },
            "a JSON event answered".into(),
        ),
        "accounts" => (
            Case {
                event: Some(http("list.json", &[("limit", "50")])?),
                env,
                warm: 10,
            },
            format!(
                "GET /accounts?limit=50 (first page of {})",
                setting.api.accounts
            ),
        ),
        "notification-prefs" => (
            Case {
                event: Some(http("get.json", &[])?),
                env,
                warm: 10,
            },
            "GET /notification-preferences".into(),
        ),
        "expiry-sweep" => {
            // A fresh table per start: each run finds the same work.
            let table = rig.table("sweep-start").await?;
            let store = rig.store(&table);
            let now = chrono::Utc::now();
            let ids = (0..SWEEP_DUE)
                .map(|i| {
                    (
                        team(&format!("team-s{}", i % 3)),
                        account_id(&format!("acc-{i:03}")),
                    )
                })
                .collect();
            let due = rig.due_accounts(ids, now).await?;
            rig::seed(&store, due, 8).await?;
            env.retain(|(k, _)| k != "TOKENWARDEN_TABLE_NAME");
            env.push(("TOKENWARDEN_TABLE_NAME".into(), table));
            (
                Case {
                    event: Some(
                        json!({"scheduled_time": now.format("%Y-%m-%dT%H:%M:%SZ").to_string()}),
                    ),
                    env,
                    warm: 0,
                },
                format!("scheduled run, {SWEEP_DUE} due accounts (checks and refreshes)"),
            )
        }
        "credentials" => {
            // A platform service asking for the token of a healthy account of the team.
            let mut event = api::event("credentials", "get-token.json")?;
            event["team_id"] = json!(api::TEAM);
            event["account_id"] = json!("acc-0000");
            (
                Case {
                    event: Some(event),
                    env,
                    warm: 10,
                },
                "get_token for a fresh token (events/credentials/get-token.json)".into(),
            )
        }
        "oauth-start" => (
            Case {
                event: Some(http("start.json", &[])?),
                env,
                warm: 10,
            },
            "POST /connections/x/start (events/oauth-start/start.json)".into(),
        ),
        "oauth-callback" => {
            // A consent that really happened: a state stored as oauth-start stores it, and
            // a code the fake network issued for it. Each start consumes its own.
            let event = callback_event(rig, &setting.api.table).await?;
            (
                Case {
                    event: Some(event),
                    env,
                    warm: 0,
                },
                "GET /oauth/x/callback with a fresh state and code (exchange, profile, store)"
                    .into(),
            )
        }
        "events-publisher" => (
            Case {
                event: Some(api::event(name, "history-broken.json")?),
                env,
                warm: 0,
            },
            "one history record of a connection going broken, published to the bus \
             (events/events-publisher/history-broken.json)"
                .into(),
        ),
        other => {
            let dir = api::repo_root().join("events").join(other);
            let mut files: Vec<String> = std::fs::read_dir(&dir)
                .map(|d| {
                    d.filter_map(|e| e.ok())
                        .map(|e| e.file_name().to_string_lossy().into_owned())
                        .filter(|f| f.ends_with(".json"))
                        .collect()
                })
                .unwrap_or_default();
            files.sort();
            let preferred = ["start.json", "connect.json", "callback.json", "get.json"];
            let pick = preferred
                .iter()
                .find(|p| files.iter().any(|f| f == *p))
                .map(|p| (*p).to_owned())
                .or_else(|| files.first().cloned());
            match pick {
                Some(file) => (
                    Case {
                        event: Some(http(&file, &[])?),
                        env,
                        warm: 0,
                    },
                    format!("events/{other}/{file}"),
                ),
                None => (
                    Case {
                        event: None,
                        env,
                        warm: 0,
                    },
                    "no sample event: start-up only".into(),
                ),
            }
        }
    })
}

/// The sample callback event carrying a state stored in `table` and a code the fakes
/// issued for it (X: PKCE required).
async fn callback_event(rig: &Rig, table: &str) -> anyhow::Result<Value> {
    let provider = Provider::X;
    let redirect_uri = "https://api.example.com/oauth/x/callback";
    let verifier = format!(
        "bench-verifier-{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    );
    let (code, state) = rig
        .authorize(provider, redirect_uri, Some(&verifier))
        .await?;
    let now = chrono::Utc::now();
    let allow = OriginAllowlist::parse(FRONTEND)?;
    rig.store(table)
        .put_state(&OAuthState {
            id: state.clone(),
            team: team("team-bench-callback"),
            user: UserId::parse(api::USER)?,
            provider,
            return_to: ReturnUrl::parse(&format!("{FRONTEND}/settings/accounts"), &allow)?,
            account: None,
            pkce_verifier: Some(Secret::from(verifier)),
            redirect_uri: redirect_uri.to_owned(),
            created_at: now,
            expires_at: now + chrono::Duration::minutes(10),
        })
        .await?;
    let mut event = api::event("oauth-callback", "success.json")?;
    event["rawQueryString"] = format!("state={state}&code={}", code.expose_secret()).into();
    event["queryStringParameters"] = json!({"state": state, "code": code.expose_secret()});
    Ok(event)
}

/// Starts every binary `rounds` times, round-robin (so drift in the machine's load hits
/// all of them alike).
pub async fn measure(
    rig: &Rig,
    setting: &Setting,
    binaries: &[Binary],
    rounds: usize,
) -> Vec<Startup> {
    let mut results: BTreeMap<String, Startup> = BTreeMap::new();
    for b in binaries {
        let size_bytes = std::fs::metadata(&b.path).map(|m| m.len()).unwrap_or(0);
        let stripped = std::process::Command::new("file")
            .arg("-b")
            .arg(&b.path)
            .output()
            .ok()
            .map(|o| !String::from_utf8_lossy(&o.stdout).contains("not stripped"));
        results.insert(
            b.name.clone(),
            Startup {
                name: b.name.clone(),
                size_bytes,
                stripped,
                request: String::new(),
                starts: Vec::new(),
                failure: None,
            },
        );
    }
    for round in 0..rounds + PROXIED_ROUNDS {
        let proxied = round >= rounds;
        for b in binaries {
            let r = results.get_mut(&b.name).expect("inserted above");
            if r.failure.is_some() {
                continue;
            }
            let outcome = async {
                let (case, request) = case(rig, setting, &b.name).await?;
                r.request = request;
                let log = setting.logs.join(format!("{}-{round}.log", b.name));
                start_once(&b.path, &case, &log, proxied).await
            }
            .await;
            match outcome {
                Ok(start) => {
                    eprintln!(
                        "bench: start-up: {} round {}: ready {:.1} ms, first request {}, VmHWM {} KiB",
                        b.name,
                        round + 1,
                        ms(start.ready),
                        start.first.map_or("-".into(), |d| format!("{:.1} ms ({})", ms(d), start.outcome.clone().unwrap_or_default())),
                        start.hwm_kib
                    );
                    r.starts.push(start);
                }
                Err(e) => {
                    eprintln!("bench: start-up: {} failed: {e:#}", b.name);
                    r.failure = Some(format!("{e:#}"));
                }
            }
        }
    }
    binaries
        .iter()
        .filter_map(|b| results.remove(&b.name))
        .collect()
}

/// Starts of each binary with its AWS endpoints behind the recording proxy.
pub const PROXIED_ROUNDS: usize = 3;

/// What the recording proxy saw: when each request went out and its answer came back.
#[derive(Default)]
struct Wire {
    calls: std::sync::Mutex<Vec<(Instant, Instant)>>,
}

impl Wire {
    /// Requests sent before `until`, and the time spent awaiting answers before it (the
    /// union of the requests' spans).
    fn before(&self, until: Instant) -> (usize, Duration) {
        let mut calls: Vec<(Instant, Instant)> = self
            .calls
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .filter(|(sent, _)| *sent < until)
            .map(|(sent, back)| (*sent, (*back).min(until)))
            .collect();
        calls.sort();
        let mut awaited = Duration::ZERO;
        let mut reach: Option<Instant> = None;
        for (sent, back) in &calls {
            let from = reach.map_or(*sent, |r| r.max(*sent));
            if *back > from {
                awaited += *back - from;
            }
            reach = Some(reach.map_or(*back, |r| r.max(*back)));
        }
        (calls.len(), awaited)
    }
}

/// A forwarding proxy in front of `upstream` (one AWS endpoint of the local stack) that
/// records every request's span in `wire`. Its address.
async fn proxy(
    upstream: String,
    wire: Arc<Wire>,
) -> anyhow::Result<(String, tokio::task::JoinHandle<()>)> {
    let client = reqwest::Client::builder().no_proxy().build()?;
    let upstream = upstream.trim_end_matches('/').to_owned();
    let handler = move |request: axum::extract::Request| {
        let (client, upstream, wire) = (client.clone(), upstream.clone(), wire.clone());
        async move {
            let sent = Instant::now();
            let (parts, body) = request.into_parts();
            let body = axum::body::to_bytes(body, usize::MAX)
                .await
                .unwrap_or_default();
            let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
            let mut forward = client.request(parts.method.clone(), format!("{upstream}{path}"));
            for (name, value) in &parts.headers {
                if name != axum::http::header::HOST {
                    forward = forward.header(name, value);
                }
            }
            let answer = forward.body(body).send().await;
            let response = match answer {
                Ok(answer) => {
                    let status = answer.status();
                    let headers = answer.headers().clone();
                    let bytes = answer.bytes().await.unwrap_or_default();
                    let mut response = (status, bytes).into_response();
                    for (name, value) in &headers {
                        if name != axum::http::header::CONTENT_LENGTH
                            && name != axum::http::header::TRANSFER_ENCODING
                        {
                            response.headers_mut().insert(name, value.clone());
                        }
                    }
                    response
                }
                Err(e) => (StatusCode::BAD_GATEWAY, e.to_string()).into_response(),
            };
            wire.calls
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push((sent, Instant::now()));
            response
        }
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, Router::new().fallback(handler)).await;
    });
    Ok((format!("http://{addr}"), server))
}

pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1_000.0
}

/// Waits for what `want` picks out of the Runtime API traffic; fails on an init error, the
/// process exiting, or `timeout`.
async fn expect<T>(
    seen: &mut mpsc::UnboundedReceiver<Seen>,
    child: &mut tokio::process::Child,
    log: &Path,
    timeout: Duration,
    mut want: impl FnMut(Seen) -> Option<T>,
) -> anyhow::Result<T> {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        tokio::select! {
            s = seen.recv() => match s {
                Some(Seen::InitError(body)) => bail!(
                    "init failed: {}\n{}", String::from_utf8_lossy(&body), tail(log)
                ),
                Some(s) => if let Some(t) = want(s) { return Ok(t) },
                None => bail!("the runtime API stopped"),
            },
            status = child.wait() => bail!("the process exited ({:?})\n{}", status.ok(), tail(log)),
            _ = tokio::time::sleep_until(deadline) => bail!("no answer within {timeout:?}\n{}", tail(log)),
        }
    }
}

fn tail(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(15)..].join("\n")
}

/// `VmHWM` (peak resident set) of a running process, in KiB.
fn vm_hwm_kib(pid: u32) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .context("no VmHWM in /proc/<pid>/status")
}

/// What a response says about the request: the HTTP status of an API Gateway answer, or
/// `ok` for any other JSON.
fn outcome(body: &[u8]) -> String {
    match serde_json::from_slice::<Value>(body) {
        Ok(v) => match v.get("statusCode").and_then(Value::as_u64) {
            Some(code) => format!("HTTP {code}"),
            None => "ok".into(),
        },
        Err(_) => "unreadable answer".into(),
    }
}

async fn start_once(bin: &Path, case: &Case, log: &Path, proxied: bool) -> anyhow::Result<Start> {
    // Proxied: every AWS endpoint variable points at a recording proxy of its own.
    let wire = Arc::new(Wire::default());
    let mut env = case.env.clone();
    let mut proxies = Vec::new();
    if proxied {
        for (name, value) in env.iter_mut() {
            if name.starts_with("AWS_ENDPOINT_URL") {
                let (url, server) = proxy(value.clone(), wire.clone()).await?;
                *value = url;
                proxies.push(server);
            }
        }
    }
    let (events_tx, events_rx) = mpsc::unbounded_channel();
    let (seen_tx, mut seen) = mpsc::unbounded_channel();
    let api = Arc::new(RuntimeApi {
        events: Mutex::new(events_rx),
        seen: seen_tx,
        ids: AtomicU64::new(0),
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, router(api)).await;
    });
    let out = std::fs::File::create(log)?;
    let err = out.try_clone()?;
    let mut command = tokio::process::Command::new(bin);
    command
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .env("AWS_LAMBDA_RUNTIME_API", addr.to_string())
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .kill_on_drop(true);

    let spawned = Instant::now();
    let mut child = command
        .spawn()
        .with_context(|| format!("starting {}", bin.display()))?;
    let pid = child.id().context("the child has a pid")?;
    let result = async {
        let wait = Duration::from_secs(60);
        let ready = expect(&mut seen, &mut child, log, wait, |s| match s {
            Seen::Next(at) => Some(at - spawned),
            _ => None,
        })
        .await?;
        let mut start = Start {
            ready,
            first: None,
            outcome: None,
            warm: Vec::new(),
            hwm_kib: 0,
            wire: proxied.then(|| wire.before(spawned + ready)),
        };
        if let Some(event) = &case.event {
            for i in 0..=case.warm {
                events_tx.send(event.clone())?;
                let handed = expect(&mut seen, &mut child, log, wait, |s| match s {
                    Seen::Handed(at) => Some(at),
                    _ => None,
                })
                .await?;
                let (answered, body) = expect(&mut seen, &mut child, log, wait, |s| match s {
                    Seen::Response(at, body) => Some((at, body)),
                    Seen::Error(at, body) => Some((at, body)),
                    _ => None,
                })
                .await?;
                // Done with the event once it asks for the next one.
                expect(&mut seen, &mut child, log, wait, |s| match s {
                    Seen::Next(_) => Some(()),
                    _ => None,
                })
                .await?;
                if i == 0 {
                    start.first = Some(answered - handed);
                    start.outcome = Some(outcome(&body));
                    start.hwm_kib = vm_hwm_kib(pid)?;
                } else {
                    start.warm.push(answered - handed);
                }
            }
        }
        start.hwm_kib = start.hwm_kib.max(vm_hwm_kib(pid)?);
        anyhow::Ok(start)
    }
    .await;
    let _ = child.start_kill();
    let _ = child.wait().await;
    server.abort();
    for p in proxies {
        p.abort();
    }
    result
}
