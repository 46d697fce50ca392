//! Measurement 8: what keeping accounts costs. A sample of accounts over a stated network
//! mix is connected through the provider fakes and lived through `days` simulated days
//! (a ManualClock): the nightly sweep at 02:00, and `calls_per_day` `get_token` calls per
//! account spread over the day, each answered by the credentials service in-process (the
//! code the function runs) on DynamoDB Local, with the fakes answering after `latency`.
//!
//! Everything billable is counted where it happens: the capacity DynamoDB reports for
//! every call (`ReturnConsumedCapacity=TOTAL`, set on every request by an SDK interceptor),
//! each invocation's duration (rounded up to the millisecond as Lambda bills it), the log
//! bytes the functions' own subscriber writes, mails, history items (each one event),
//! provider calls. [`Priced`] turns the counts into dollars per month per 100,000
//! accounts with the list prices in [`PRICES`].

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{ensure, Context};
use aws_sdk_dynamodb::config::interceptors::{
    BeforeSerializationInterceptorContextMut, FinalizerInterceptorContextRef,
};
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_dynamodb::error::BoxError;
use aws_sdk_dynamodb::operation as op;
use aws_sdk_dynamodb::types::{AttributeValue, ConsumedCapacity, ReturnConsumedCapacity};
use chrono::{DateTime, Duration as Days, SubsecRound, Utc};
use futures::{stream, StreamExt, TryStreamExt};
use serde_json::json;
use tokenwarden::credentials::{CredentialsConfig, CredentialsService};
use tokenwarden::domain::{
    AccountId, EmailAddress, ManualClock, Provider, SchedulePolicy, TeamId, UserId,
};
use tokenwarden::mail::recipients::{Asker, Recipients};
use tokenwarden::store::dynamo::DynamoStore;
use tokenwarden::store::AccountStore;
use tokenwarden::sweep::{Budget, Sweep};

use crate::api::FunctionsLog;
use crate::rig::{self, NullMailer, Rig};

/// The network mix a social-media tool sees, in accounts per 100 (an assumption: Facebook
/// Pages and Instagram lead, then LinkedIn; X, Google Business Profile/YouTube, TikTok,
/// Pinterest and Threads follow).
pub const MIX: [(Provider, usize); 9] = [
    (Provider::Facebook, 25),
    (Provider::Instagram, 20),
    (Provider::InstagramLogin, 5),
    (Provider::Linkedin, 15),
    (Provider::X, 10),
    (Provider::Google, 10),
    (Provider::Tiktok, 7),
    (Provider::Pinterest, 5),
    (Provider::Threads, 3),
];

/// Accounts per team in the sample.
const TEAM_SIZE: usize = 10;
/// `get_token` calls in flight at once. Each is timed as one invocation would be billed,
/// and in Lambda each invocation has an environment of its own; here they share this
/// machine's 2 cores and one DynamoDB Local, so past a few in flight a call's time is
/// mostly its wait behind the others (the run of 2026-12-02 at 32 in flight billed
/// $57.44 of compute a month per 100,000 accounts, most of it that wait). A few in flight
/// keep the cores busy while refreshes await the network, without timing the queue.
const CALLERS: usize = 4;

// ---- DynamoDB capacity, as DynamoDB reports it ----------------------------------------------

/// Read and write request units, summed from `ConsumedCapacity`.
#[derive(Debug, Default, Clone, Copy)]
pub struct Capacity {
    pub calls: u64,
    pub read_units: f64,
    pub write_units: f64,
}

/// Calls and capacity units by operation.
pub type ByOperation = BTreeMap<&'static str, (u64, f64)>;

impl Capacity {
    fn minus(self, before: Capacity) -> Capacity {
        Capacity {
            calls: self.calls - before.calls,
            read_units: self.read_units - before.read_units,
            write_units: self.write_units - before.write_units,
        }
    }
}

/// An SDK interceptor: asks for `ReturnConsumedCapacity=TOTAL` on every request and sums
/// what each answer reports, as read units (reads) or write units (writes).
#[derive(Debug, Clone, Default)]
pub struct CapacityMeter(Arc<Mutex<(Capacity, ByOperation)>>);

impl CapacityMeter {
    pub fn total(&self) -> Capacity {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).0
    }

    pub fn by_operation(&self) -> ByOperation {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).1.clone()
    }

    /// A DynamoDB client like `rig`'s whose calls this meter counts.
    pub fn client(&self, rig: &Rig) -> aws_sdk_dynamodb::Client {
        let config = aws_sdk_dynamodb::config::Builder::from(&rig.aws)
            .interceptor(self.clone())
            .build();
        aws_sdk_dynamodb::Client::from_conf(config)
    }

    fn add(&self, operation: &'static str, read: bool, capacity: &[&ConsumedCapacity]) {
        let units: f64 = capacity.iter().filter_map(|c| c.capacity_units()).sum();
        let mut guard = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let (total, by) = &mut *guard;
        let entry = by.entry(operation).or_default();
        entry.0 += 1;
        entry.1 += units;
        total.calls += 1;
        if read {
            total.read_units += units;
        } else {
            total.write_units += units;
        }
    }
}

/// `GetItem` of `aws_sdk_dynamodb::operation::get_item::GetItemOutput`.
fn short_name(type_name: &'static str) -> &'static str {
    let last = type_name.rsplit("::").next().unwrap_or(type_name);
    last.strip_suffix("Output").unwrap_or(last)
}

/// Sets `return_consumed_capacity` on whichever operation input this is.
macro_rules! ask_total {
    ($input:expr, $($t:ty),*) => {{
        $(if let Some(i) = $input.downcast_mut::<$t>() {
            i.return_consumed_capacity = Some(ReturnConsumedCapacity::Total);
        })*
    }};
}

impl Intercept for CapacityMeter {
    fn name(&self) -> &'static str {
        "CapacityMeter"
    }

    fn modify_before_serialization(
        &self,
        context: &mut BeforeSerializationInterceptorContextMut<'_>,
        _: &RuntimeComponents,
        _: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let input = context.input_mut();
        ask_total!(
            input,
            op::get_item::GetItemInput,
            op::query::QueryInput,
            op::scan::ScanInput,
            op::batch_get_item::BatchGetItemInput,
            op::transact_get_items::TransactGetItemsInput,
            op::put_item::PutItemInput,
            op::update_item::UpdateItemInput,
            op::delete_item::DeleteItemInput,
            op::batch_write_item::BatchWriteItemInput,
            op::transact_write_items::TransactWriteItemsInput
        );
        Ok(())
    }

    fn read_after_execution(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        _: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let Some(Ok(output)) = context.output_or_error() else {
            return Ok(());
        };
        macro_rules! one {
            ($read:expr, $t:ty) => {
                if let Some(o) = output.downcast_ref::<$t>() {
                    let name = short_name(std::any::type_name::<$t>());
                    self.add(name, $read, &o.consumed_capacity.iter().collect::<Vec<_>>());
                    return Ok(());
                }
            };
        }
        macro_rules! many {
            ($read:expr, $t:ty) => {
                if let Some(o) = output.downcast_ref::<$t>() {
                    let name = short_name(std::any::type_name::<$t>());
                    let all: Vec<_> = o.consumed_capacity.iter().flatten().collect();
                    self.add(name, $read, &all);
                    return Ok(());
                }
            };
        }
        one!(true, op::get_item::GetItemOutput);
        one!(true, op::query::QueryOutput);
        one!(true, op::scan::ScanOutput);
        many!(true, op::batch_get_item::BatchGetItemOutput);
        many!(true, op::transact_get_items::TransactGetItemsOutput);
        one!(false, op::put_item::PutItemOutput);
        one!(false, op::update_item::UpdateItemOutput);
        one!(false, op::delete_item::DeleteItemOutput);
        many!(false, op::batch_write_item::BatchWriteItemOutput);
        many!(false, op::transact_write_items::TransactWriteItemsOutput);
        Ok(())
    }
}

// ---- the simulated days ----------------------------------------------------------------------

/// One function's invocations and what Lambda bills for them.
#[derive(Debug, Default, Clone, Copy)]
pub struct FunctionUse {
    pub invocations: u64,
    /// Each invocation's duration rounded up to the millisecond, summed.
    pub billed_ms: u64,
    pub capacity: Capacity,
    pub log_bytes: u64,
    pub provider_calls: u64,
}

impl FunctionUse {
    fn invoked(&mut self, took: Duration) {
        self.invocations += 1;
        self.billed_ms += u64::try_from(took.as_micros().div_ceil(1000)).unwrap_or(u64::MAX);
    }
}

/// What the simulated days used.
pub struct Measured {
    pub accounts: usize,
    pub teams: usize,
    pub days: u32,
    pub calls_per_day: u32,
    pub latency: Duration,
    pub credentials: FunctionUse,
    pub sweep: FunctionUse,
    /// The credentials function's DynamoDB calls and units by operation.
    pub credentials_by_operation: ByOperation,
    /// `get_token` answers that were refusals (a broken account, say).
    pub refused: u64,
    /// Of the credentials calls, those that refreshed (a provider call).
    pub refreshing_calls: u64,
    /// Billed milliseconds of those refreshing calls.
    pub refreshing_ms: u64,
    pub mails: u64,
    pub history_items: u64,
    /// The table's items after the days, by DynamoDB's item-size rules.
    pub stored_bytes: u64,
    /// One full Scan of the table (the naive design's nightly read).
    pub scan: Capacity,
    pub sim_time: Duration,
}

/// The sample's accounts: `accounts` over [`MIX`], in teams of [`TEAM_SIZE`].
fn sample(accounts: usize) -> Vec<(TeamId, AccountId, Provider)> {
    let networks: Vec<Provider> = MIX
        .iter()
        .flat_map(|(p, share)| std::iter::repeat_n(*p, *share))
        .collect();
    (0..accounts)
        .map(|i| {
            let t = i / TEAM_SIZE;
            (
                rig::team(&format!("team-cost-{t:05}")),
                rig::account_id(&format!("acc-{t:05}-{:02}", i % TEAM_SIZE)),
                networks[(i * 37) % networks.len()],
            )
        })
        .collect()
}

/// Every account connected through the fakes' OAuth flow, stored as the callback stores
/// it (its first due time from the schedule policy), each team with one recipient.
async fn connect(
    rig: &Rig,
    store: &Arc<DynamoStore>,
    accounts: usize,
    now: DateTime<Utc>,
) -> anyhow::Result<usize> {
    let sample = sample(accounts);
    stream::iter(sample.iter().cloned())
        .map(|(team, id, provider)| async move {
            let grant = rig.grant(provider).await?;
            let mut account = rig.account(team, id, provider, &grant, now);
            account.last_checked_at = Some(now);
            account.next_due_at = account.next_due(now, &SchedulePolicy::default());
            store.create_account(&account).await?;
            anyhow::Ok(())
        })
        .buffer_unordered(16)
        .try_collect::<()>()
        .await?;
    let recipients = Recipients {
        prefs: store.clone(),
        mailer: Arc::new(NullMailer::default()),
        signer: rig.signer.clone(),
        settings: Arc::new(rig::mail_settings()),
        clock: Arc::new(ManualClock::at(now)),
    };
    let mut teams: Vec<TeamId> = sample.into_iter().map(|(t, _, _)| t).collect();
    teams.dedup();
    for (i, team) in teams.iter().enumerate() {
        let asker = Asker {
            team: team.clone(),
            user: UserId::parse(&format!("owner-{i}"))?,
            email: Some(EmailAddress::parse(&format!("owner-{i}@example.com"))?),
        };
        recipients
            .add(&asker, None, "Owner")
            .await
            .with_context(|| format!("a recipient for {team}"))?;
    }
    Ok(teams.len())
}

/// The size of an item by DynamoDB's rules: attribute names plus values (strings and
/// binaries by length, numbers about one byte per two digits, 3 bytes per map or list).
fn item_size(item: &std::collections::HashMap<String, AttributeValue>) -> u64 {
    fn value(v: &AttributeValue) -> u64 {
        match v {
            AttributeValue::S(s) => s.len() as u64,
            AttributeValue::N(n) => (n.len() as u64).div_ceil(2) + 1,
            AttributeValue::B(b) => b.as_ref().len() as u64,
            AttributeValue::Bool(_) | AttributeValue::Null(_) => 1,
            AttributeValue::M(m) => {
                3 + m
                    .iter()
                    .map(|(k, v)| k.len() as u64 + value(v) + 1)
                    .sum::<u64>()
            }
            AttributeValue::L(l) => 3 + l.iter().map(|v| value(v) + 1).sum::<u64>(),
            AttributeValue::Ss(s) => s.iter().map(|s| s.len() as u64).sum(),
            AttributeValue::Ns(s) => s.iter().map(|n| (n.len() as u64).div_ceil(2) + 1).sum(),
            AttributeValue::Bs(s) => s.iter().map(|b| b.as_ref().len() as u64).sum(),
            _ => 0,
        }
    }
    item.iter().map(|(k, v)| k.len() as u64 + value(v)).sum()
}

/// Every item of `table`: its count of history items and its stored bytes; and the
/// capacity one full Scan consumes (the naive design reads this every night).
async fn table_figures(
    meter: &CapacityMeter,
    ddb: &aws_sdk_dynamodb::Client,
    table: &str,
) -> anyhow::Result<(u64, u64, Capacity)> {
    let before = meter.total();
    let (mut history, mut bytes) = (0u64, 0u64);
    let mut start = None;
    loop {
        let out = ddb
            .scan()
            .table_name(table)
            .set_exclusive_start_key(start.take())
            .send()
            .await
            .context("scanning the cost table")?;
        for item in out.items() {
            bytes += item_size(item);
            let kind = item
                .get(tokenwarden::store::dynamo::KIND_ATTRIBUTE)
                .and_then(|v| v.as_s().ok());
            if kind.map(String::as_str) == Some(tokenwarden::store::dynamo::HISTORY_KIND) {
                history += 1;
            }
        }
        match out.last_evaluated_key() {
            Some(last) if !last.is_empty() => start = Some(last.clone()),
            _ => break,
        }
    }
    Ok((history, bytes, meter.total().minus(before)))
}

/// The sample lived through `days` days.
pub async fn measure(
    rig: &Rig,
    log: &FunctionsLog,
    accounts: usize,
    days: u32,
    calls_per_day: u32,
    latency: Duration,
) -> anyhow::Result<Measured> {
    let started = Instant::now();
    let table = rig.table("cost").await?;
    let day0 = Utc::now().trunc_subsecs(0) - Days::hours(1);
    eprintln!("bench: cost: connecting {accounts} accounts through the fakes");
    let setup = rig.store(&table);
    let teams = connect(rig, &setup, accounts, day0).await?;
    let ids: Vec<(TeamId, AccountId)> = sample(accounts)
        .into_iter()
        .map(|(t, a, _)| (t, a))
        .collect();

    let credentials_meter = CapacityMeter::default();
    let sweep_meter = CapacityMeter::default();
    let credentials_store = Arc::new(DynamoStore::new(credentials_meter.client(rig), &table));
    let sweep_store = Arc::new(DynamoStore::new(sweep_meter.client(rig), &table));
    let clock = Arc::new(ManualClock::at(day0));
    let credentials_calls = Arc::new(rig::in_flight(rig.providers.clone()));
    let sweep_calls = Arc::new(rig::in_flight(rig.providers.clone()));
    let mailer = Arc::new(NullMailer::default());
    let service = CredentialsService {
        accounts: credentials_store.clone(),
        leases: credentials_store.clone(),
        ledger: credentials_store.clone(),
        history: credentials_store.clone(),
        prefs: credentials_store.clone(),
        providers: credentials_calls.clone(),
        keyring: rig.keyring.clone(),
        clock: clock.clone(),
        mail_soon: None,
        config: CredentialsConfig::default(),
    };
    let sweep = Sweep {
        accounts: sweep_store.clone(),
        due: sweep_store.clone(),
        prefs: sweep_store.clone(),
        ledger: sweep_store.clone(),
        leases: sweep_store.clone(),
        providers: sweep_calls.clone(),
        mailer: mailer.clone(),
        signer: rig.signer.clone(),
        mail: Arc::new(rig::mail_settings()),
        mail_soon: None,
        keyring: rig.keyring.clone(),
        clock: clock.clone(),
        config: rig::sweep_config(),
    };

    rig.fakes.control.set_latency(latency).await?;
    log.switch(true)?;
    let mut m = Measured {
        accounts,
        teams,
        days,
        calls_per_day,
        latency,
        credentials: FunctionUse::default(),
        sweep: FunctionUse::default(),
        credentials_by_operation: ByOperation::new(),
        refused: 0,
        refreshing_calls: 0,
        refreshing_ms: 0,
        mails: 0,
        history_items: 0,
        stored_bytes: 0,
        scan: Capacity::default(),
        sim_time: Duration::ZERO,
    };
    let result = live(&mut m, &service, &sweep, &clock, &ids, day0, log).await;
    log.switch(false)?;
    rig.fakes.control.set_latency(Duration::ZERO).await?;
    result?;

    m.credentials.capacity = credentials_meter.total();
    m.sweep.capacity = sweep_meter.total();
    m.credentials_by_operation = credentials_meter.by_operation();
    m.credentials.provider_calls = credentials_calls.observer.calls();
    m.sweep.provider_calls = sweep_calls.observer.calls();
    m.mails = mailer.sent.load(Ordering::SeqCst);
    let scan_meter = CapacityMeter::default();
    let (history, bytes, scan) =
        table_figures(&scan_meter, &scan_meter.client(rig), &table).await?;
    m.history_items = history;
    m.stored_bytes = bytes;
    m.scan = scan;
    m.sim_time = started.elapsed();
    Ok(m)
}

/// Day after day: the nightly sweep, then the day's `get_token` rounds.
async fn live(
    m: &mut Measured,
    service: &CredentialsService,
    sweep: &Sweep,
    clock: &ManualClock,
    ids: &[(TeamId, AccountId)],
    day0: DateTime<Utc>,
    log: &FunctionsLog,
) -> anyhow::Result<()> {
    let round_gap = 16 * 60 / i64::from(m.calls_per_day.max(1));
    for day in 0..m.days {
        let midnight = day0 + Days::days(i64::from(day));
        clock.set(midnight + Days::hours(2));
        let logged = log.bytes();
        let run = Instant::now();
        let report = sweep
            .for_invocation(&format!("cost-night-{day}"))
            .run_scheduled(&format!("sweep#cost-{day}"), Budget::unlimited())
            .await
            .context("a nightly sweep")?;
        m.sweep.invoked(run.elapsed());
        m.sweep.log_bytes += log.bytes() - logged;
        eprintln!(
            "bench: cost: day {day}: sweep {:.1} s, {} seen, {} refreshed, {} checked, {} broken, {} mails",
            run.elapsed().as_secs_f64(),
            report.accounts_seen,
            report.refreshed,
            report.checked,
            report.broken,
            report.mails_sent
        );
        for round in 0..m.calls_per_day {
            // Calls from 07:00 on, evenly over the next 16 hours.
            let at = midnight + Days::hours(7) + Days::minutes(round_gap * i64::from(round));
            clock.set(at);
            let logged = log.bytes();
            let answers: Vec<(Duration, bool, bool)> = stream::iter(ids.iter())
                .map(|(team, id)| async move {
                    let request = json!({"action": "get_token", "team_id": team.as_str(),
                        "account_id": id.as_str(), "min_valid_seconds": 300});
                    let started = Instant::now();
                    let answer = service
                        .handle(&format!("cost-{day}-{round}-{id}"), request)
                        .await;
                    let took = started.elapsed();
                    let refreshed = answer["refreshed"].as_bool() == Some(true);
                    (took, answer.get("access_token").is_some(), refreshed)
                })
                .buffer_unordered(CALLERS)
                .collect()
                .await;
            m.credentials.log_bytes += log.bytes() - logged;
            for (took, served, refreshed) in answers {
                m.credentials.invoked(took);
                m.refused += u64::from(!served);
                if refreshed {
                    m.refreshing_calls += 1;
                    m.refreshing_ms += u64::try_from(took.as_micros().div_ceil(1000)).unwrap_or(0);
                }
            }
        }
    }
    ensure!(
        m.credentials.invocations
            == u64::from(m.days) * u64::from(m.calls_per_day) * ids.len() as u64,
        "every get_token call was made"
    );
    Ok(())
}

// ---- prices ------------------------------------------------------------------------------

/// A list price (us-east-1), with the page it is published on.
pub struct Price {
    pub what: &'static str,
    pub dollars: f64,
    pub per: &'static str,
    pub source: &'static str,
}

/// The date the prices below were read.
pub const PRICES_READ: &str = "2026-12-02";

pub const LAMBDA_REQUESTS: Price = Price {
    what: "Lambda requests",
    dollars: 0.20,
    per: "1M requests",
    source: "https://aws.amazon.com/lambda/pricing/",
};
pub const LAMBDA_ARM_GB_SECOND: Price = Price {
    what: "Lambda duration, arm64, first tier",
    dollars: 0.000_013_333_4,
    per: "GB-second",
    source: "https://aws.amazon.com/lambda/pricing/ (arm64 is 20% below x86's $0.0000166667)",
};
pub const DYNAMODB_READ: Price = Price {
    what: "DynamoDB on-demand read request units (Standard)",
    dollars: 0.125,
    per: "1M RRU",
    source: "https://aws.amazon.com/dynamodb/pricing/on-demand/",
};
pub const DYNAMODB_WRITE: Price = Price {
    what: "DynamoDB on-demand write request units (Standard)",
    dollars: 0.625,
    per: "1M WRU",
    source: "https://aws.amazon.com/dynamodb/pricing/on-demand/",
};
pub const DYNAMODB_STORAGE: Price = Price {
    what: "DynamoDB storage (Standard)",
    dollars: 0.25,
    per: "GB-month",
    source: "https://aws.amazon.com/dynamodb/pricing/on-demand/",
};
pub const DYNAMODB_PITR: Price = Price {
    what: "DynamoDB point-in-time recovery (the template turns it on)",
    dollars: 0.20,
    per: "GB-month",
    source: "https://aws.amazon.com/dynamodb/pricing/on-demand/",
};
pub const SES_MAIL: Price = Price {
    what: "SES outbound mail",
    dollars: 0.10,
    per: "1,000 mails",
    source: "https://aws.amazon.com/ses/pricing/",
};
pub const EVENTBRIDGE_EVENT: Price = Price {
    what: "EventBridge events put on a bus (history events; SES's mail events counted too)",
    dollars: 1.00,
    per: "1M events",
    source: "https://aws.amazon.com/eventbridge/pricing/",
};
pub const EVENTBRIDGE_DELIVERY: Price = Price {
    what: "EventBridge API destination deliveries (the webhook, when set)",
    dollars: 0.20,
    per: "1M deliveries",
    source: "https://aws.amazon.com/eventbridge/pricing/",
};
pub const SQS_REQUEST: Price = Price {
    what: "SQS standard queue requests",
    dollars: 0.40,
    per: "1M requests",
    source: "https://aws.amazon.com/sqs/pricing/",
};
pub const SECRET_MONTH: Price = Price {
    what: "Secrets Manager secret",
    dollars: 0.40,
    per: "secret-month",
    source: "https://aws.amazon.com/secrets-manager/pricing/",
};
pub const SECRET_CALLS: Price = Price {
    what: "Secrets Manager API calls",
    dollars: 0.05,
    per: "10,000 calls",
    source: "https://aws.amazon.com/secrets-manager/pricing/",
};
pub const KMS_KEY: Price = Price {
    what: "KMS customer managed key",
    dollars: 1.00,
    per: "key-month",
    source: "https://aws.amazon.com/kms/pricing/",
};
pub const KMS_REQUESTS: Price = Price {
    what: "KMS requests",
    dollars: 0.03,
    per: "10,000 requests",
    source: "https://aws.amazon.com/kms/pricing/",
};
pub const LOGS_INGESTED: Price = Price {
    what: "CloudWatch Logs ingestion (Standard, first tier)",
    dollars: 0.50,
    per: "GB",
    source: "https://aws.amazon.com/cloudwatch/pricing/",
};
pub const HTTP_API: Price = Price {
    what: "API Gateway HTTP API requests (first 300M)",
    dollars: 1.00,
    per: "1M requests",
    source: "https://aws.amazon.com/api-gateway/pricing/",
};

/// Every price the model uses.
pub const PRICES: [&Price; 15] = [
    &LAMBDA_REQUESTS,
    &LAMBDA_ARM_GB_SECOND,
    &DYNAMODB_READ,
    &DYNAMODB_WRITE,
    &DYNAMODB_STORAGE,
    &DYNAMODB_PITR,
    &SES_MAIL,
    &EVENTBRIDGE_EVENT,
    &EVENTBRIDGE_DELIVERY,
    &SQS_REQUEST,
    &SECRET_MONTH,
    &SECRET_CALLS,
    &KMS_KEY,
    &KMS_REQUESTS,
    &LOGS_INGESTED,
];

// ---- the model ---------------------------------------------------------------------------

/// What is assumed rather than measured.
pub struct Assumptions {
    /// API requests (the account list and the rest) per account per day.
    pub api_requests_per_account_day: f64,
    /// Their billed duration each (section 3 measures the list handler).
    pub api_ms: f64,
    /// Their log bytes each (section 3 measures the list handler's).
    pub api_log_bytes: f64,
    /// Memory of the functions (the template's `MemorySize`), MB.
    pub memory_mb: f64,
    pub sweep_memory_mb: f64,
    /// Cold starts a day of each function that reads secrets (one BatchGetSecretValue,
    /// billed as two secret reads here to be safe, and one KMS decrypt each).
    pub cold_starts_per_function_day: f64,
    /// Shard tasks per night with the fan-out queue (the store's shards).
    pub shards: f64,
    /// Idle long polls a month of Lambda's pollers on the two queues it reads.
    pub idle_polls_month: f64,
    /// Customer managed KMS keys of the stack.
    pub kms_keys: f64,
    /// Secrets of the stack.
    pub secrets: f64,
}

/// Dollars a month for one service line, for our design and the naive one.
pub struct Line {
    pub service: &'static str,
    pub ours: f64,
    pub naive: f64,
}

/// The counts priced: dollars per month per 100,000 accounts.
pub struct Priced {
    pub lines: Vec<Line>,
    pub by_function: BTreeMap<&'static str, f64>,
    pub total: f64,
    pub naive_total: f64,
    /// Per account per day, for the table.
    pub per_account_day: BTreeMap<&'static str, f64>,
}

const ACCOUNTS: f64 = 100_000.0;
const MONTH_DAYS: f64 = 30.0;

fn gb_seconds(ms: f64, memory_mb: f64) -> f64 {
    ms / 1000.0 * memory_mb / 1024.0
}

impl Priced {
    pub fn of(m: &Measured, a: &Assumptions) -> Priced {
        // Per account per day, then scaled to 100,000 accounts and a 30-day month.
        let account_days = m.accounts as f64 * f64::from(m.days);
        let month = |per_account_day: f64| per_account_day * ACCOUNTS * MONTH_DAYS;
        let per = |n: f64| n / account_days;

        let cred_calls = per(m.credentials.invocations as f64);
        let cred_ms = per(m.credentials.billed_ms as f64);
        let sweep_inv = per(m.sweep.invocations as f64 * (1.0 + a.shards));
        let sweep_ms = per(m.sweep.billed_ms as f64);
        let api = a.api_requests_per_account_day;
        let rru = per(m.credentials.capacity.read_units + m.sweep.capacity.read_units);
        let wru = per(m.credentials.capacity.write_units + m.sweep.capacity.write_units);
        let mails = per(m.mails as f64);
        let events = per(m.history_items as f64);
        let log_bytes =
            per((m.credentials.log_bytes + m.sweep.log_bytes) as f64) + api * a.api_log_bytes;

        // The naive design: each night a full Scan and a refresh of every account, each
        // refresh costing what a refreshing get_token measured (its writes, its time),
        // the sweep's concurrency of 16 sharing the invocation's billed time.
        let refreshes = m.refreshing_calls.max(1) as f64;
        let wru_per_refresh = m.credentials.capacity.write_units / refreshes;
        let ms_per_refresh = m.refreshing_ms as f64 / refreshes;
        let naive_rru = m.scan.read_units / m.accounts as f64;
        let naive_wru = wru_per_refresh;
        let naive_sweep_ms = ms_per_refresh / 16.0;

        let lambda_requests = |sweep_inv: f64| {
            month(cred_calls + sweep_inv + api + events + mails) * LAMBDA_REQUESTS.dollars / 1e6
        };
        let compute = |sweep_ms: f64| {
            month(
                gb_seconds(cred_ms + api * a.api_ms, a.memory_mb)
                    + gb_seconds(sweep_ms, a.sweep_memory_mb),
            ) * LAMBDA_ARM_GB_SECOND.dollars
        };
        let cred_rru = per(m.credentials.capacity.read_units);
        let cred_wru = per(m.credentials.capacity.write_units);
        let reads = |sweep_rru: f64| month(cred_rru + sweep_rru) * DYNAMODB_READ.dollars / 1e6;
        let writes = |sweep_wru: f64| month(cred_wru + sweep_wru) * DYNAMODB_WRITE.dollars / 1e6;
        let stored_gb = m.stored_bytes as f64 / m.accounts as f64 * ACCOUNTS / 1e9;
        let storage = stored_gb * (DYNAMODB_STORAGE.dollars + DYNAMODB_PITR.dollars);
        let ses = month(mails) * SES_MAIL.dollars / 1000.0;
        let eventbridge = month(events + mails) * EVENTBRIDGE_EVENT.dollars / 1e6
            + month(events) * EVENTBRIDGE_DELIVERY.dollars / 1e6
            + MONTH_DAYS * EVENTBRIDGE_EVENT.dollars / 1e6;
        let sqs = (a.idle_polls_month + MONTH_DAYS * a.shards * 3.0 + month(mails) * 3.0)
            * SQS_REQUEST.dollars
            / 1e6;
        let cold_starts = a.cold_starts_per_function_day * 4.0 * MONTH_DAYS;
        let secrets =
            a.secrets * SECRET_MONTH.dollars + cold_starts * 2.0 * SECRET_CALLS.dollars / 10_000.0;
        let kms = a.kms_keys * KMS_KEY.dollars
            + (cold_starts + month(mails)) * KMS_REQUESTS.dollars / 10_000.0;
        let logs = month(log_bytes) / 1e9 * LOGS_INGESTED.dollars;
        let http = month(api) * HTTP_API.dollars / 1e6;

        let sweep_rru = per(m.sweep.capacity.read_units);
        let sweep_wru = per(m.sweep.capacity.write_units);
        let lines = vec![
            Line {
                service: "Lambda requests",
                ours: lambda_requests(sweep_inv),
                naive: lambda_requests(1.0 / m.accounts as f64),
            },
            Line {
                service: "Lambda compute (arm64)",
                ours: compute(sweep_ms),
                naive: compute(naive_sweep_ms),
            },
            Line {
                service: "DynamoDB reads",
                ours: reads(sweep_rru),
                naive: reads(naive_rru),
            },
            Line {
                service: "DynamoDB writes",
                ours: writes(sweep_wru),
                naive: writes(naive_wru),
            },
            Line {
                service: "DynamoDB storage and PITR",
                ours: storage,
                naive: storage,
            },
            Line {
                service: "SES",
                ours: ses,
                naive: ses,
            },
            Line {
                service: "EventBridge",
                ours: eventbridge,
                naive: eventbridge,
            },
            Line {
                service: "SQS",
                ours: sqs,
                naive: sqs,
            },
            Line {
                service: "Secrets Manager",
                ours: secrets,
                naive: secrets,
            },
            Line {
                service: "KMS",
                ours: kms,
                naive: kms,
            },
            Line {
                service: "CloudWatch Logs",
                ours: logs,
                naive: logs,
            },
            Line {
                service: "API Gateway (HTTP API)",
                ours: http,
                naive: http,
            },
        ];
        let total = lines.iter().map(|l| l.ours).sum();
        let naive_total = lines.iter().map(|l| l.naive).sum();

        let credentials = month(cred_calls) * LAMBDA_REQUESTS.dollars / 1e6
            + month(gb_seconds(cred_ms, a.memory_mb)) * LAMBDA_ARM_GB_SECOND.dollars
            + month(cred_rru) * DYNAMODB_READ.dollars / 1e6
            + month(cred_wru) * DYNAMODB_WRITE.dollars / 1e6
            + month(per(m.credentials.log_bytes as f64)) / 1e9 * LOGS_INGESTED.dollars;
        let sweep = month(sweep_inv) * LAMBDA_REQUESTS.dollars / 1e6
            + month(gb_seconds(sweep_ms, a.sweep_memory_mb)) * LAMBDA_ARM_GB_SECOND.dollars
            + month(sweep_rru) * DYNAMODB_READ.dollars / 1e6
            + month(sweep_wru) * DYNAMODB_WRITE.dollars / 1e6
            + month(per(m.sweep.log_bytes as f64)) / 1e9 * LOGS_INGESTED.dollars
            + ses;
        let api_functions = month(api) * LAMBDA_REQUESTS.dollars / 1e6
            + month(gb_seconds(api * a.api_ms, a.memory_mb)) * LAMBDA_ARM_GB_SECOND.dollars
            + month(api * a.api_log_bytes) / 1e9 * LOGS_INGESTED.dollars
            + http;
        let by_function = BTreeMap::from([
            ("credentials (get_token, report_failure)", credentials),
            ("expiry-sweep (nightly run, shards, digests)", sweep),
            ("API functions (assumed use)", api_functions),
            (
                "stack (storage, events, queues, secrets, keys)",
                total - credentials - sweep - api_functions,
            ),
        ]);
        let per_account_day = BTreeMap::from([
            ("get_token calls", cred_calls),
            ("DynamoDB read request units", rru),
            ("DynamoDB write request units", wru),
            (
                "Lambda invocations (measured functions)",
                cred_calls + sweep_inv,
            ),
            (
                "provider calls",
                per((m.credentials.provider_calls + m.sweep.provider_calls) as f64),
            ),
            ("mails", mails),
            ("events", events),
            ("log bytes", log_bytes),
        ]);
        Priced {
            lines,
            by_function,
            total,
            naive_total,
            per_account_day,
        }
    }
}

// ---- the table ---------------------------------------------------------------------------

/// The target: dollars a month per 100,000 accounts, everything included.
pub const TARGET_DOLLARS: f64 = 5.0;

fn dollars(d: f64) -> String {
    format!("${d:.2}")
}

/// Section 8's rows and its notes (assumptions and the price table).
pub fn rows(
    m: &Measured,
    a: &Assumptions,
    rows: &mut Vec<crate::report::Row>,
    details: &mut Vec<String>,
) {
    use crate::report::{row, Verdict};
    let p = Priced::of(m, a);
    rows.push(row(
        "8",
        format!(
            "cost per month per 100,000 accounts, {} get_token/account/day, everything included",
            m.calls_per_day
        ),
        dollars(p.total),
        format!("<= {}", dollars(TARGET_DOLLARS)),
        Verdict::of(p.total <= TARGET_DOLLARS),
    ));
    rows.push(row(
        "8",
        "same, naive design (nightly Scan, every account refreshed each night)",
        format!(
            "{} ({:.1}x ours)",
            dollars(p.naive_total),
            p.naive_total / p.total
        ),
        "baseline",
        Verdict::Info,
    ));
    for line in &p.lines {
        rows.push(row(
            "8",
            format!("  {} (naive: {})", line.service, dollars(line.naive)),
            dollars(line.ours),
            "",
            Verdict::Info,
        ));
    }
    for (function, d) in &p.by_function {
        rows.push(row(
            "8",
            format!("  by function: {function}"),
            dollars(*d),
            "",
            Verdict::Info,
        ));
    }
    for (what, n) in &p.per_account_day {
        rows.push(row(
            "8",
            format!("  per account per day: {what}"),
            format!("{n:.3}"),
            "",
            Verdict::Info,
        ));
    }

    let mix: Vec<String> = MIX.iter().map(|(p, n)| format!("{p} {n}%")).collect();
    let biggest = p
        .lines
        .iter()
        .max_by(|x, y| x.ours.total_cmp(&y.ours))
        .map(|l| l.service)
        .unwrap_or("");
    details.push(format!(
        "8. Cost model: {} accounts in {} teams (one active recipient each) over the mix {} (an assumption), connected through the provider fakes' OAuth flow and lived through {} simulated days (ManualClock): the nightly sweep at 02:00, then {} rounds of get_token per account from 07:00 over 16 hours ({} in flight), answered by CredentialsService in-process on DynamoDB Local, the fakes answering every call after {} ms (an assumed network latency). Measured: {} get_token calls ({} refreshed the token, {} refused), {} sweep runs, {:.0} RRU and {:.0} WRU as DynamoDB Local reports them (ReturnConsumedCapacity=TOTAL on every call, summed by an SDK interceptor), billed durations summed per invocation (rounded up to 1 ms), {} mails, {} history items (each one event), {} log bytes from the functions' own subscriber at level info (the template sets SystemLogLevel WARN, so Lambda writes no START/END/REPORT lines), {} stored bytes by DynamoDB's item-size rules, one full Scan {:.0} RRU; {:.0} s in all. Scaled to 100,000 accounts and a 30-day month; no free tier counted. Assumed, not measured: API use {} requests per account per day of {} ms and {} log bytes each; memory {} MB ({} MB for the sweep, the template's); {} cold starts a day of each of the 4 functions that read secrets (2 secret reads and 1 KMS call each); {} shard tasks a night with fan-out (3 SQS requests each); {:.0} idle long polls a month by Lambda's pollers on the 2 queues it reads; {} KMS keys and {} secrets. The largest line is {biggest}; what would bring it down is in the notes under the table.",
        m.accounts,
        m.teams,
        mix.join(", "),
        m.days,
        m.calls_per_day,
        CALLERS,
        m.latency.as_millis(),
        m.credentials.invocations,
        m.refreshing_calls,
        m.refused,
        m.sweep.invocations,
        m.credentials.capacity.read_units + m.sweep.capacity.read_units,
        m.credentials.capacity.write_units + m.sweep.capacity.write_units,
        m.mails,
        m.history_items,
        m.credentials.log_bytes + m.sweep.log_bytes,
        m.stored_bytes,
        m.scan.read_units,
        m.sim_time.as_secs_f64(),
        a.api_requests_per_account_day,
        a.api_ms,
        a.api_log_bytes,
        a.memory_mb,
        a.sweep_memory_mb,
        a.cold_starts_per_function_day,
        a.shards,
        a.idle_polls_month,
        a.kms_keys,
        a.secrets,
    ));
    let ops: Vec<String> = m
        .credentials_by_operation
        .iter()
        .map(|(op, (calls, units))| format!("{op} {calls} calls, {units:.0} units"))
        .collect();
    details.push(format!(
        "   The credentials function's DynamoDB calls over the {} get_token calls, by operation: {}.",
        m.credentials.invocations,
        ops.join("; ")
    ));
    let mut table = format!(
        "   Prices (us-east-1, list prices read {PRICES_READ}; each from its page):\n\n   | price | dollars | per | source |\n   |---|---:|---|---|\n"
    );
    for price in PRICES {
        table.push_str(&format!(
            "   | {} | {} | {} | {} |\n",
            price.what, price.dollars, price.per, price.source
        ));
    }
    details.push(table);
}
