//! History items as events, over the wire: DynamoDB Local's stream read as Lambda's event
//! source mapping reads it (tests/support/streams.rs), `tokenwarden::events::Publisher`
//! (the code `events-publisher` runs) putting them to moto's EventBridge, a rule on the bus
//! delivering them to an SQS queue in moto that the tests read. Every event is validated
//! against its detail-type's JSON Schema in `infra/events/`.

#[allow(dead_code)]
mod sweep_support;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration as StdDuration;
use tokenwarden::domain::ExposeSecret;

use async_trait::async_trait;
use chrono::Duration;
use serde_json::Value;
use stream_poller::StreamPoller;
use sweep_support::{at_day, Rig};
use tokenwarden::domain::{
    Cause, Clock, HistoryEntry, HistoryKind, Provider, Reason, StateAt, Status, UserId,
};
use tokenwarden::events::{EventBridgeSink, EventSink, OutgoingEvent, Publisher, SinkError};
use tokenwarden::store::{AccountStore, HistoryStore};
use tokenwarden::sweep::Budget;
use tokenwarden_integration::{aws_config, poll_stream};
use url::Url;

const FRONTEND: &str = "https://app.example.com/settings/social";

/// A bus in moto with a rule sending every tokenwarden event to a queue of its own.
struct Bus {
    eventbridge: aws_sdk_eventbridge::Client,
    sqs: aws_sdk_sqs::Client,
    name: String,
    queue: String,
}

impl Bus {
    async fn new() -> Self {
        let eventbridge =
            aws_sdk_eventbridge::Client::new(&aws_config("AWS_ENDPOINT_URL_EVENTBRIDGE").await);
        let sqs = aws_sdk_sqs::Client::new(&aws_config("AWS_ENDPOINT_URL_SQS").await);
        let tag = uuid::Uuid::new_v4().simple().to_string();
        let name = format!("tw-bus-{tag}");
        let queue = stream_poller::bus_with_queue(&eventbridge, &sqs, &name)
            .await
            .expect("a bus with a rule to a queue in moto");
        Self {
            eventbridge,
            sqs,
            name,
            queue,
        }
    }

    fn sink(&self) -> EventBridgeSink {
        EventBridgeSink::new(self.eventbridge.clone(), &self.name)
    }

    fn publisher(&self, sink: Arc<dyn EventSink>) -> Publisher {
        Publisher {
            sink,
            frontend_url: Url::parse(FRONTEND).expect("a URL"),
        }
    }

    /// Every event the rule delivered so far (the EventBridge envelopes), read once.
    async fn events(&self) -> Vec<Value> {
        let mut got = Vec::new();
        let mut empty = 0;
        while empty < 2 {
            let out = self
                .sqs
                .receive_message()
                .queue_url(&self.queue)
                .max_number_of_messages(10)
                .wait_time_seconds(if got.is_empty() { 1 } else { 0 })
                .send()
                .await
                .expect("ReceiveMessage");
            let messages = out.messages.unwrap_or_default();
            if messages.is_empty() {
                empty += 1;
            }
            for m in messages {
                let body = m.body.expect("a body");
                got.push(serde_json::from_str(&body).expect("an EventBridge event"));
                self.sqs
                    .delete_message()
                    .queue_url(&self.queue)
                    .receipt_handle(m.receipt_handle.expect("a receipt handle"))
                    .send()
                    .await
                    .expect("DeleteMessage");
            }
        }
        got
    }
}

/// Delivers everything the stream holds now, batch after batch, as the event source
/// mapping does (a reported record and what follows it come again).
async fn pump(poller: &mut StreamPoller, publisher: &Publisher) {
    poller
        .drain(100, 100, |batch| publisher.handle(batch))
        .await
        .expect("the stream drains");
}

/// Validates an event's detail against the JSON Schema of its detail-type.
fn assert_valid(event: &Value) {
    assert_eq!(event["source"], "tokenwarden", "{event}");
    let detail_type = event["detail-type"].as_str().expect("a detail-type");
    let slug = detail_type.to_lowercase().replace(' ', "-");
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(format!("../infra/events/{slug}.schema.json"));
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("a schema for {detail_type} at {}: {e}", path.display()));
    let schema: Value = serde_json::from_str(&text).expect("the schema is JSON");
    let validator = jsonschema::draft202012::options()
        .should_validate_formats(true)
        .build(&schema)
        .expect("the schema compiles");
    let errors: Vec<String> = validator
        .iter_errors(&event["detail"])
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "{detail_type}: {}\n{event}",
        errors.join("\n")
    );
}

fn ids(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .map(|e| e["detail"]["id"].as_str().unwrap_or("").to_owned())
        .collect()
}

#[tokio::test]
async fn a_reconnect_of_a_revoked_account_is_one_recovered_item_and_one_connection_recovered_event()
{
    let rig = Rig::with_stream().await;
    let bus = Bus::new().await;
    let team = rig.team("shop", &["ana"], &[7]).await;
    let account = rig.connect(Provider::Tiktok, &team).await;
    let mut poller = poll_stream(&rig.dynamo, &rig.table).await;
    let publisher = bus.publisher(Arc::new(bus.sink()));
    // Found revoked, then reconnected a day later.
    let now = rig.clock.now();
    let mut revoked = account.clone();
    let before = StateAt::of(&revoked, now);
    let t = revoked
        .broke(Status::Revoked, Reason::AccessRevoked, now)
        .expect("a transition");
    let cause = Cause::Api {
        user: UserId::parse("ana").unwrap(),
    };
    let broken = HistoryEntry::of_transition(t, before, &revoked, now, &cause);
    rig.store
        .update_account_with(&revoked, std::slice::from_ref(&broken))
        .await
        .expect("stored");
    rig.clock.advance(Duration::days(1));
    let reconnected = rig.reconnect(&account).await;
    let token = rig.access_token_of(&reconnected).expose_secret().to_owned();

    let logs = tokenwarden_integration::LogCapture::start();
    pump(&mut poller, &publisher).await;
    let log = logs.text();
    drop(logs);
    assert!(
        log.contains("history events published"),
        "logs were captured"
    );
    assert!(!log.contains(&token), "a token in the publisher's log");

    let history = rig
        .store
        .history(&team, &account.id, 10, None)
        .await
        .unwrap()
        .items;
    let recovered: Vec<&HistoryEntry> = history
        .iter()
        .filter(|e| e.kind == HistoryKind::Recovered)
        .collect();
    assert_eq!(recovered.len(), 1, "{history:?}");
    let events = bus.events().await;
    for e in &events {
        assert_valid(e);
    }
    let recovered_events: Vec<&Value> = events
        .iter()
        .filter(|e| e["detail-type"] == "Connection Recovered")
        .collect();
    assert_eq!(recovered_events.len(), 1, "{events:?}");
    let detail = &recovered_events[0]["detail"];
    assert_eq!(
        detail["id"],
        recovered[0].id.as_str(),
        "the event's id is the history item's"
    );
    assert_eq!(detail["status_before"], "revoked");
    assert_eq!(detail["reason_before"], "access_revoked");
    assert_eq!(detail["status"], "active");
    assert_eq!(detail["team_id"], team.as_str());
    assert_eq!(
        detail["reconnect_url"],
        format!("{FRONTEND}?reconnect={}", account.id)
    );
    assert_eq!(events.len(), 2, "broken and recovered, nothing else");
}

#[tokio::test]
async fn sixty_five_days_on_nine_networks_arrive_as_events_matching_the_history_one_to_one() {
    let rig = Rig::with_stream().await;
    let bus = Bus::new().await;
    let team = rig.team("shop", &["ana"], &[14, 7, 3, 1]).await;
    let mut accounts = BTreeMap::new();
    for provider in Provider::ALL {
        accounts.insert(provider, rig.connect(provider, &team).await);
    }
    let mut poller = poll_stream(&rig.dynamo, &rig.table).await;
    let publisher = bus.publisher(Arc::new(bus.sink()));
    let sweep = rig.sweep();
    // One TikTok outage day and a revoked X grant on the way.
    rig.fakes
        .control
        .set_fault(
            Provider::Tiktok,
            provider_fakes::EndpointKind::Refresh,
            provider_fakes::Fault::Status5xx { status: None },
            1,
        )
        .await
        .unwrap();
    for day in 1..=65 {
        if day == 30 {
            rig.fakes
                .control
                .set_fault(
                    Provider::X,
                    provider_fakes::EndpointKind::Refresh,
                    provider_fakes::Fault::InvalidGrant,
                    1,
                )
                .await
                .unwrap();
        }
        rig.clock.set(at_day(day));
        sweep
            .run_scheduled(&format!("sweep#day-{day}"), Budget::unlimited())
            .await
            .expect("the night's run");
        // The event source mapping polls all along.
        if day % 10 == 0 {
            pump(&mut poller, &publisher).await;
        }
    }
    pump(&mut poller, &publisher).await;

    let mut history: HashMap<String, HistoryEntry> = HashMap::new();
    for account in accounts.values() {
        for entry in rig
            .store
            .history(&team, &account.id, 100, None)
            .await
            .unwrap()
            .items
        {
            history.insert(entry.id.clone(), entry);
        }
    }
    let events = bus.events().await;
    for e in &events {
        assert_valid(e);
    }
    let event_ids = ids(&events);
    let unique: BTreeSet<&String> = event_ids.iter().collect();
    assert_eq!(
        unique.len(),
        event_ids.len(),
        "no event twice in a clean run"
    );
    let history_ids: BTreeSet<&String> = history.keys().collect();
    assert_eq!(unique, history_ids, "none missing, none extra");
    for e in &events {
        let entry = &history[e["detail"]["id"].as_str().unwrap()];
        assert_eq!(e["detail-type"], entry.kind.detail_type());
        assert_eq!(e["detail"]["account_id"], entry.account.as_str());
    }
    let kinds: BTreeSet<HistoryKind> = history.values().map(|e| e.kind).collect();
    for kind in [
        HistoryKind::Expiring,
        HistoryKind::Expired,
        HistoryKind::Broken,
        HistoryKind::Failing,
    ] {
        assert!(kinds.contains(&kind), "{kind:?} among {kinds:?}");
    }
    // No token in any event.
    let text = serde_json::to_string(&events).unwrap();
    for account in accounts.values() {
        let token = rig.access_token_of(&rig.account(&team, &account.id).await);
        assert!(!text.contains(token.expose_secret()), "a token in an event");
    }
    assert!(!text.contains("tw1."), "a sealed token in an event");
}

/// A sink that publishes the first `publish` events through `inner`, then hangs: the
/// invocation is killed there.
struct HangsAfter {
    inner: EventBridgeSink,
    left: AtomicUsize,
}

#[async_trait]
impl EventSink for HangsAfter {
    async fn put(&self, events: &[OutgoingEvent]) -> Result<Vec<bool>, SinkError> {
        let left = self.left.load(Ordering::SeqCst);
        if left < events.len() {
            std::future::pending::<()>().await;
        }
        self.left.fetch_sub(events.len(), Ordering::SeqCst);
        self.inner.put(events).await
    }
}

/// A sink that refuses the `nth` event of its first call (EventBridge's per-entry failure).
struct RefusesOne {
    inner: EventBridgeSink,
    nth: usize,
    done: AtomicUsize,
}

#[async_trait]
impl EventSink for RefusesOne {
    async fn put(&self, events: &[OutgoingEvent]) -> Result<Vec<bool>, SinkError> {
        if self.done.fetch_add(1, Ordering::SeqCst) == 0 {
            // Only the ones before it go out; EventBridge may accept the ones after it
            // too, but they will come again.
            let mut answer = self.inner.put(&events[..self.nth]).await?;
            answer.push(false);
            answer.extend(std::iter::repeat_n(false, events.len() - self.nth - 1));
            return Ok(answer);
        }
        self.inner.put(events).await
    }
}

#[tokio::test]
async fn the_publisher_killed_mid_batch_or_refused_an_entry_loses_no_event() {
    let rig = Rig::with_stream().await;
    let bus = Bus::new().await;
    let team = rig.team("shop", &["ana"], &[7]).await;
    let account = rig.connect(Provider::X, &team).await;
    let mut poller = poll_stream(&rig.dynamo, &rig.table).await;
    for i in 0..25 {
        let at = rig.clock.now() + Duration::seconds(i);
        let entry = HistoryEntry::of(
            HistoryKind::FailureNotConfirmed,
            Some(StateAt::of(&account, at)),
            &account,
            at,
            &Cause::Credentials {
                request: format!("req-{i}"),
            },
        );
        rig.store.record(&entry).await.unwrap();
    }
    poller.read().await.expect("the stream reads");
    assert_eq!(poller.waiting(), 25);

    // Killed after the first PutEvents of 10: nothing is checkpointed.
    let dying = bus.publisher(Arc::new(HangsAfter {
        inner: bus.sink(),
        left: AtomicUsize::new(10),
    }));
    let batch = poller.next_batch(100).expect("a batch");
    let killed = tokio::time::timeout(StdDuration::from_millis(500), dying.handle(batch)).await;
    assert!(killed.is_err(), "the invocation was cut off");
    assert_eq!(poller.waiting(), 25, "redelivered whole");
    // The redelivery refuses one entry: Lambda retries from it.
    let refusing = bus.publisher(Arc::new(RefusesOne {
        inner: bus.sink(),
        nth: 3,
        done: AtomicUsize::new(0),
    }));
    let batch = poller.next_batch(100).expect("a batch");
    let response = refusing.handle(batch).await;
    assert_eq!(response.batch_item_failures.len(), 1);
    poller.checkpoint(25, &response);
    assert_eq!(poller.waiting(), 22, "from the refused one on");
    let healthy = bus.publisher(Arc::new(bus.sink()));
    pump(&mut poller, &healthy).await;

    let events = bus.events().await;
    let got: BTreeSet<String> = ids(&events).into_iter().collect();
    let history: BTreeSet<String> = rig
        .store
        .history(&team, &account.id, 100, None)
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|e| e.id)
        .collect();
    assert_eq!(
        got, history,
        "every event at least once, with its stable id"
    );
    assert_eq!(
        events.len(),
        10 + 3 + 22,
        "the repeats are the ones redelivered"
    );
    for e in &events {
        assert_valid(e);
    }
}

/// Keeps what it is handed.
#[derive(Default)]
struct Recording(std::sync::Mutex<Vec<OutgoingEvent>>);

#[async_trait]
impl EventSink for Recording {
    async fn put(&self, events: &[OutgoingEvent]) -> Result<Vec<bool>, SinkError> {
        let mut kept = self.0.lock().unwrap_or_else(|e| e.into_inner());
        kept.extend(events.iter().cloned());
        Ok(vec![true; events.len()])
    }
}

#[tokio::test]
async fn every_sample_stream_event_publishes_what_it_holds() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../events/events-publisher");
    let expected: &[(&str, &[&str])] = &[
        ("history-broken.json", &["Connection Broken"]),
        // The unreadable item is passed over (logged), never blocking the shard.
        (
            "history-batch-with-unreadable-item.json",
            &["Connection Broken"],
        ),
    ];
    let files: BTreeSet<String> = std::fs::read_dir(&dir)
        .expect("events/events-publisher")
        .map(|e| {
            e.expect("an entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    let listed: BTreeSet<String> = expected.iter().map(|(f, _)| (*f).to_owned()).collect();
    assert_eq!(files, listed, "every sample event has its expected outcome");

    for (file, detail_types) in expected {
        let text = std::fs::read_to_string(dir.join(file)).expect("the event");
        let event: aws_lambda_events::event::dynamodb::Event =
            serde_json::from_str(&text).expect("a DynamoDB stream event");
        let sink = Arc::new(Recording::default());
        let publisher = Publisher {
            sink: sink.clone(),
            frontend_url: Url::parse(FRONTEND).unwrap(),
        };

        let response = publisher.handle(event).await;

        assert!(response.batch_item_failures.is_empty(), "{file}");
        let put = sink.0.lock().unwrap().clone();
        let types: Vec<&str> = put.iter().map(|e| e.detail_type).collect();
        assert_eq!(types, *detail_types, "{file}");
        for e in &put {
            let envelope = serde_json::json!({
                "source": "tokenwarden",
                "detail-type": e.detail_type,
                "detail": serde_json::from_str::<Value>(&e.detail).unwrap(),
            });
            assert_valid(&envelope);
            assert_eq!(envelope["detail"]["provider_error"], "190/460");
        }
    }
}
