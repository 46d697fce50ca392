//! Connection events: every history item, carried by the table's DynamoDB stream to the
//! `events-publisher` function, becomes one EventBridge event on tokenwarden's bus
//! (source `tokenwarden`, one detail-type per kind, `detail` as in `infra/events/`'s JSON
//! Schemas). The event's id in `detail.id` is the history item's: consumers deduplicate on
//! it, because delivery is at least once (a retried batch publishes again what it already
//! published).
//!
//! The stream's records arrive in order per account; a batch is published in order, and
//! the first record that could not be published is reported as the batch item failure, so
//! Lambda retries from it and never skips one.

use std::sync::Arc;

use async_trait::async_trait;
use aws_lambda_events::event::dynamodb::Event as StreamEvent;
use aws_lambda_events::event::streams::{DynamoDbBatchItemFailure, DynamoDbEventResponse};
use chrono::{DateTime, Utc};
use serde::Serialize;
use url::Url;

use crate::domain::{HistoryEntry, HistoryKind, Provider, Reason, Status};
use crate::mail::digest::reconnect_link;

/// Every event's source.
pub const SOURCE: &str = "tokenwarden";
/// The detail's schema version.
pub const DETAIL_VERSION: &str = "1";
/// PutEvents takes at most 10 entries.
pub const PUT_BATCH: usize = 10;

/// What caused the change, in an event.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct CauseDetail {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub id: String,
}

/// An event's `detail`. Never a token: states, reasons, causes, the network's error code.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct EventDetail {
    pub version: &'static str,
    /// The history item's id: deduplicate on it.
    pub id: String,
    pub kind: HistoryKind,
    pub at: DateTime<Utc>,
    pub team_id: String,
    pub account_id: String,
    pub provider: Provider,
    pub status_before: Option<Status>,
    pub reason_before: Option<Reason>,
    /// `null` once removed.
    pub status: Option<Status>,
    pub reason: Option<Reason>,
    pub reconnect_by: Option<DateTime<Utc>>,
    pub days_left: Option<u32>,
    pub cause: CauseDetail,
    pub provider_error: Option<String>,
    /// Where a person reconnects the account (the frontend's page).
    pub reconnect_url: String,
}

impl EventDetail {
    pub fn of(entry: &HistoryEntry, frontend: &Url) -> Self {
        Self {
            version: DETAIL_VERSION,
            id: entry.id.clone(),
            kind: entry.kind,
            at: entry.at,
            team_id: entry.team.as_str().to_owned(),
            account_id: entry.account.as_str().to_owned(),
            provider: entry.provider,
            status_before: entry.before.map(|b| b.status),
            reason_before: entry.before.and_then(|b| b.reason),
            status: entry.after.map(|a| a.status),
            reason: entry.after.and_then(|a| a.reason),
            reconnect_by: entry.reconnect_by,
            days_left: entry.days_left,
            cause: CauseDetail {
                kind: entry.cause.type_str(),
                id: entry.cause.id().to_owned(),
            },
            provider_error: entry.provider_error.clone(),
            reconnect_url: reconnect_link(frontend, &entry.account).to_string(),
        }
    }
}

/// One event to put.
#[derive(Debug, Clone, PartialEq)]
pub struct OutgoingEvent {
    /// The history item's id.
    pub id: String,
    pub detail_type: &'static str,
    /// The detail as JSON text.
    pub detail: String,
    pub time: DateTime<Utc>,
}

impl OutgoingEvent {
    pub fn of(entry: &HistoryEntry, frontend: &Url) -> Self {
        let detail = EventDetail::of(entry, frontend);
        Self {
            id: entry.id.clone(),
            detail_type: entry.kind.detail_type(),
            // A struct of plain fields always serializes.
            detail: serde_json::to_string(&detail).unwrap_or_default(),
            time: entry.at,
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("putting events failed")]
pub struct SinkError(#[source] pub Box<dyn std::error::Error + Send + Sync>);

/// Where events go.
#[async_trait]
pub trait EventSink: Send + Sync {
    /// Puts up to [`PUT_BATCH`] events; answers, for each, whether it was accepted.
    async fn put(&self, events: &[OutgoingEvent]) -> Result<Vec<bool>, SinkError>;
}

/// Amazon EventBridge, on one bus. Reaches a local stand-in through
/// `AWS_ENDPOINT_URL_EVENTBRIDGE`.
#[derive(Debug, Clone)]
pub struct EventBridgeSink {
    client: aws_sdk_eventbridge::Client,
    bus: String,
}

impl EventBridgeSink {
    pub fn new(client: aws_sdk_eventbridge::Client, bus: impl Into<String>) -> Self {
        Self {
            client,
            bus: bus.into(),
        }
    }
}

#[async_trait]
impl EventSink for EventBridgeSink {
    async fn put(&self, events: &[OutgoingEvent]) -> Result<Vec<bool>, SinkError> {
        use aws_sdk_eventbridge::primitives::DateTime as AwsTime;
        use aws_sdk_eventbridge::types::PutEventsRequestEntry;
        let entries = events
            .iter()
            .map(|e| {
                PutEventsRequestEntry::builder()
                    .event_bus_name(&self.bus)
                    .source(SOURCE)
                    .detail_type(e.detail_type)
                    .detail(&e.detail)
                    .time(AwsTime::from_secs(e.time.timestamp()))
                    .build()
            })
            .collect::<Vec<_>>();
        let out = self
            .client
            .put_events()
            .set_entries(Some(entries))
            .send()
            .await
            .map_err(|e| SinkError(Box::new(e.into_service_error())))?;
        // One result per entry, in order; a failed one has an error code.
        let results = out.entries();
        Ok((0..events.len())
            .map(|i| results.get(i).is_some_and(|r| r.error_code().is_none()))
            .collect())
    }
}

/// What the publisher hands out.
#[derive(Clone)]
pub struct Publisher {
    pub sink: Arc<dyn EventSink>,
    /// The frontend page with the account list (reconnect links).
    pub frontend_url: Url,
}

/// A stream record the publisher looked at.
enum Item {
    /// A history item to publish, at this sequence number.
    Publish(String, OutgoingEvent),
    /// Not a history insert, or one that can never be read (logged): passed over.
    Skip,
}

impl Publisher {
    /// Publishes a batch of stream records in order. The answer names the first record
    /// not published (Lambda retries from it); empty when all went out.
    pub async fn handle(&self, event: StreamEvent) -> DynamoDbEventResponse {
        let mut items = Vec::with_capacity(event.records.len());
        for record in event.records {
            let sequence = record.change.sequence_number.clone().unwrap_or_default();
            if record.event_name != "INSERT" {
                items.push(Item::Skip);
                continue;
            }
            let image: std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue> =
                record.change.new_image.into();
            match crate::store::dynamo::history_from_image(&image) {
                Ok(Some(entry)) => items.push(Item::Publish(
                    sequence,
                    OutgoingEvent::of(&entry, &self.frontend_url),
                )),
                Ok(None) => items.push(Item::Skip),
                Err(e) => {
                    tracing::error!(sequence = %sequence, error = %e,
                        alarm = "unreadable_history_item", "a history item in the stream cannot be read; it is passed over");
                    items.push(Item::Skip);
                }
            }
        }
        let pending: Vec<(String, OutgoingEvent)> = items
            .into_iter()
            .filter_map(|i| match i {
                Item::Publish(s, e) => Some((s, e)),
                Item::Skip => None,
            })
            .collect();
        let mut response = DynamoDbEventResponse::default();
        let mut published = 0usize;
        for chunk in pending.chunks(PUT_BATCH) {
            let events: Vec<OutgoingEvent> = chunk.iter().map(|(_, e)| e.clone()).collect();
            let first_failed = match self.sink.put(&events).await {
                Ok(accepted) => accepted.iter().position(|ok| !ok),
                Err(e) => {
                    tracing::warn!(error = %crate::error_chain::cause_chain(&e), "PutEvents failed; the batch is retried");
                    Some(0)
                }
            };
            match first_failed {
                None => published += chunk.len(),
                Some(i) => {
                    published += i;
                    let (sequence, event) = &chunk[i];
                    tracing::warn!(sequence = %sequence, event = %event.id, published,
                        "an event was not accepted; the batch is retried from it");
                    let mut failure = DynamoDbBatchItemFailure::default();
                    failure.item_identifier = Some(sequence.clone());
                    response.batch_item_failures.push(failure);
                    return response;
                }
            }
        }
        tracing::info!(published, "history events published");
        response
    }
}
