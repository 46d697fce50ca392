//! The credentials function in-process against DynamoDB Local and the provider fakes:
//! what one `get_token` on a fresh token costs (store reads, provider calls, latency), and
//! the single flight of many callers on one token that needs refreshing.

use std::sync::Arc;
use std::time::{Duration, Instant};
use tokenwarden::domain::ExposeSecret;

use anyhow::ensure;
use chrono::Utc;
use provider_fakes::EndpointKind;
use serde_json::{json, Value};
use tokenwarden::credentials::{CredentialsConfig, CredentialsService};
use tokenwarden::domain::{ManualClock, Provider};
use tokenwarden::store::AccountStore;

use crate::rig::{account_id, team, CountingAccounts, Rig};

pub struct CredentialsFigures {
    pub calls: usize,
    /// Account store calls over `calls` fresh-token answers.
    pub store_calls: u64,
    /// Provider calls over `calls` fresh-token answers.
    pub provider_calls: usize,
    pub p50: Duration,
    pub p99: Duration,
    pub callers: usize,
    pub latency: Duration,
    /// Refresh calls the fakes received for the single flight.
    pub flight_refreshes: usize,
    pub flight_wall: Duration,
    /// Callers that got the new token.
    pub flight_served: usize,
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

async fn refreshes(rig: &Rig) -> anyhow::Result<usize> {
    Ok(rig
        .fakes
        .control
        .requests()
        .await?
        .iter()
        .filter(|r| r.provider == Some(Provider::X) && r.kind == Some(EndpointKind::Refresh))
        .count())
}

pub async fn measure(
    rig: &Rig,
    calls: usize,
    callers: usize,
    latency: Duration,
) -> anyhow::Result<CredentialsFigures> {
    let table = rig.table("credentials").await?;
    let store = rig.store(&table);
    let now = Utc::now();
    let grant = rig.grant(Provider::X).await?;
    let account = rig.account(
        team("team-bench-credentials"),
        account_id("acc-x"),
        Provider::X,
        &grant,
        now,
    );
    let account = store.create_account(&account).await?;
    let counting = Arc::new(CountingAccounts::counting(store.clone()));
    let clock = Arc::new(ManualClock::at(now));
    let service = CredentialsService {
        accounts: counting.clone(),
        leases: store.clone(),
        ledger: store.clone(),
        history: store.clone(),
        prefs: store.clone(),
        providers: rig.providers.clone(),
        keyring: rig.keyring.clone(),
        clock: clock.clone(),
        mail_soon: None,
        config: CredentialsConfig::default(),
    };
    let request = json!({"action": "get_token", "team_id": account.team.as_str(),
        "account_id": account.id.as_str(), "min_valid_seconds": 300});

    // Fresh token: warm up, then time each call.
    for i in 0..20 {
        service.handle(&format!("warm-{i}"), request.clone()).await;
    }
    let calls_before = rig.fakes.control.requests().await?.len();
    let (_, store_before) = crate::rig::calls(&counting);
    let mut times = Vec::with_capacity(calls);
    for i in 0..calls {
        let started = Instant::now();
        let answer = service.handle(&format!("bench-{i}"), request.clone()).await;
        times.push(started.elapsed());
        ensure!(
            answer.get("access_token").is_some(),
            "get_token answered {}",
            answer["error"]
        );
    }
    let provider_calls = rig.fakes.control.requests().await?.len() - calls_before;
    let (_, store_after) = crate::rig::calls(&counting);
    times.sort();

    // Single flight: the token two minutes from its end, `callers` at once, the network
    // answering after `latency`.
    let expires = account
        .access_expires_at
        .unwrap_or(now + chrono::Duration::hours(2));
    clock.set(expires - chrono::Duration::minutes(2));
    rig.fakes.control.set_latency(latency).await?;
    let before = refreshes(rig).await?;
    let started = Instant::now();
    let answers: Vec<Value> = futures::future::join_all((0..callers).map(|i| {
        let (service, request) = (&service, request.clone());
        async move { service.handle(&format!("flight-{i}"), request).await }
    }))
    .await;
    let flight_wall = started.elapsed();
    rig.fakes.control.set_latency(Duration::ZERO).await?;
    let flight_refreshes = refreshes(rig).await? - before;
    let stored = store
        .get_account(&account.team, &account.id)
        .await?
        .ok_or_else(|| anyhow::anyhow!("the account vanished"))?;
    let new = rig.keyring.open(
        &stored.tokens.access,
        tokenwarden::seal::Binding {
            team: &stored.team,
            provider: stored.provider,
            account: &stored.id,
        },
        tokenwarden::seal::TokenSlot::Access,
    )?;
    let flight_served = answers
        .iter()
        .filter(|a| a["access_token"].as_str() == Some(new.expose_secret()))
        .count();

    Ok(CredentialsFigures {
        calls,
        store_calls: store_after - store_before,
        provider_calls,
        p50: percentile(&times, 0.50),
        p99: percentile(&times, 0.99),
        callers,
        latency,
        flight_refreshes,
        flight_wall,
        flight_served,
    })
}
