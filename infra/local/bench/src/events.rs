//! History and events: what recording a transition adds to an account write (capacity
//! units, from DynamoDB's own answers), and the lag from the account write to the event on
//! a queue, through DynamoDB Local's stream (read as the event source mapping reads it),
//! the publisher (the code `events-publisher` runs) and the EventBridge stand-in's rule.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::bail;
use chrono::Utc;
use tokenwarden::domain::{Cause, HistoryEntry, HistoryKind, Provider, StateAt};
use tokenwarden::events::{EventBridgeSink, Publisher};
use tokenwarden::store::dynamo::{CapacityMeter, DynamoStore};
use tokenwarden::store::AccountStore;

use crate::rig::{account_id, team, Rig};

pub struct EventFigures {
    pub writes: usize,
    /// Capacity units per plain account write (PutItem).
    pub plain_units: f64,
    /// Capacity units per account write with one history item (TransactWriteItems).
    pub with_history_units: f64,
    pub transitions: usize,
    pub lag_p50: Duration,
    pub lag_p99: Duration,
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

pub async fn measure(rig: &Rig, writes: usize, transitions: usize) -> anyhow::Result<EventFigures> {
    let table = rig.table("events").await?;
    let meter = Arc::new(CapacityMeter::default());
    let store = DynamoStore::new(rig.ddb.clone(), &table).metered(meter.clone());
    let now = Utc::now();
    let grant = rig.grant(Provider::X).await?;
    let mut account = store
        .create_account(&rig.account(
            team("team-bench-events"),
            account_id("acc-x"),
            Provider::X,
            &grant,
            now,
        ))
        .await?;
    let cause = Cause::Sweep {
        run: "bench".into(),
    };

    // Write cost: the same account write without and with its history item.
    let start = meter.units();
    for i in 0..writes {
        account.updated_at = now + chrono::Duration::seconds(i as i64);
        account = store.update_account(&account).await?;
    }
    let plain_units = (meter.units() - start) / writes as f64;
    let start = meter.units();
    for i in 0..writes {
        let at = now + chrono::Duration::seconds((writes + i) as i64);
        account.updated_at = at;
        let entry = HistoryEntry::of(
            HistoryKind::Failing,
            Some(StateAt::of(&account, at)),
            &account,
            at,
            &cause,
        );
        account = store
            .update_account_with(&account, std::slice::from_ref(&entry))
            .await?;
    }
    let with_history_units = (meter.units() - start) / writes as f64;
    if plain_units == 0.0 {
        bail!("DynamoDB did not report consumed capacity");
    }

    // Lag: a bus with a rule to a queue; the stream read from its start, the earlier
    // writes' items drained first.
    let eventbridge = aws_sdk_eventbridge::Client::new(&rig.aws);
    let sqs = aws_sdk_sqs::Client::new(&rig.aws);
    let bus = format!("tw-bench-{}", uuid::Uuid::new_v4().simple());
    let queue = stream_poller::bus_with_queue(&eventbridge, &sqs, &bus).await?;
    let publisher = Publisher {
        sink: Arc::new(EventBridgeSink::new(eventbridge.clone(), &bus)),
        frontend_url: url::Url::parse("https://app.example.com/settings")?,
    };
    let mut poller = stream_poller::StreamPoller::for_table(
        &rig.ddb,
        aws_sdk_dynamodbstreams::Client::new(&rig.aws),
        &table,
    )
    .await?;
    poller
        .drain(100, 1_000, |batch| publisher.handle(batch))
        .await?;
    sqs.purge_queue().queue_url(&queue).send().await?;

    let mut lags = Vec::with_capacity(transitions);
    for i in 0..transitions {
        let at = now + chrono::Duration::minutes(10 + i as i64);
        let entry = HistoryEntry::of(
            HistoryKind::Recovered,
            Some(StateAt::of(&account, at)),
            &account,
            at,
            &cause,
        );
        let started = Instant::now();
        account = store
            .update_account_with(&account, std::slice::from_ref(&entry))
            .await?;
        loop {
            poller
                .drain(100, 10, |batch| publisher.handle(batch))
                .await?;
            let got = sqs
                .receive_message()
                .queue_url(&queue)
                .max_number_of_messages(10)
                .send()
                .await?
                .messages
                .unwrap_or_default();
            if got
                .iter()
                .any(|m| m.body.as_deref().is_some_and(|b| b.contains(&entry.id)))
            {
                lags.push(started.elapsed());
                break;
            }
            if started.elapsed() > Duration::from_secs(30) {
                bail!("the event of transition {i} did not arrive in 30 s");
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    lags.sort();
    Ok(EventFigures {
        writes,
        plain_units,
        with_history_units,
        transitions,
        lag_p50: percentile(&lags, 0.50),
        lag_p99: percentile(&lags, 0.99),
    })
}
