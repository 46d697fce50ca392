//! The expiry sweep's sample events (`events/expiry-sweep/*.json`, the files `cargo lambda
//! invoke expiry-sweep --data-file ...` sends) through `tokenwarden::sweep::invoke::handle`,
//! the code the function runs, on DynamoDB Local (a fresh table per case) with the provider
//! fakes in-process and a recording mailer. Every file there has an expected outcome here,
//! success and failure alike. (The API functions' events run in tests/api/, the OAuth
//! functions' in tests/oauth/.)

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use serde_json::{json, Value};
use tokenwarden::domain::ManualClock;
use tokenwarden::mail::{Email, MailError, Mailer};
use tokenwarden::providers::HttpProviderClient;
use tokenwarden::seal::Keyring;
use tokenwarden::sweep::invoke::{self, QueueError, ShardQueue, ShardTask};
use tokenwarden::sweep::{Budget, Sweep, SweepConfig, SweepError};
use tokenwarden_integration::{dynamo_store, t0};

fn load(name: &str) -> Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../events/expiry-sweep")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name} is not JSON: {e}"))
}

#[derive(Default)]
struct RecordingMailer(Mutex<Vec<Email>>);

#[async_trait]
impl Mailer for RecordingMailer {
    async fn send(&self, email: &Email) -> Result<String, MailError> {
        let mut sent = self.0.lock().unwrap_or_else(|e| e.into_inner());
        sent.push(email.clone());
        Ok(format!("message-{}", sent.len()))
    }
}

/// The fan-out queue as the function sees it, keeping what it was handed.
#[derive(Default)]
struct RecordingQueue(Mutex<Vec<ShardTask>>);

#[async_trait]
impl ShardQueue for RecordingQueue {
    async fn enqueue(&self, run: &str, shards: &[u16]) -> Result<(), QueueError> {
        let mut tasks = self.0.lock().unwrap_or_else(|e| e.into_inner());
        tasks.extend(shards.iter().map(|shard| ShardTask {
            run: run.to_owned(),
            shard: *shard,
        }));
        Ok(())
    }
}

struct Rig {
    sweep: Sweep,
    _fakes: provider_fakes::FakeHandle,
}

impl Rig {
    async fn new() -> Self {
        let fakes = provider_fakes::start_local()
            .await
            .expect("the provider fakes start");
        let providers = HttpProviderClient::new(
            fakes.credentials(),
            fakes.endpoints(),
            Duration::from_secs(5),
        )
        .expect("the provider client builds");
        let store = Arc::new(dynamo_store().await);
        let keyring = Keyring::from_secret(&Keyring::generate_secret("test-1"))
            .expect("a fresh keyring parses");
        let sweep = Sweep {
            accounts: store.clone(),
            due: store.clone(),
            prefs: store.clone(),
            ledger: store.clone(),
            leases: store,
            providers: Arc::new(providers),
            mailer: Arc::new(RecordingMailer::default()),
            signer: Arc::new(tokenwarden_integration::link_signer().await),
            mail: Arc::new(tokenwarden_integration::mail_settings()),
            mail_soon: None,
            keyring: Arc::new(keyring),
            clock: Arc::new(ManualClock::at(t0())),
            config: SweepConfig::new("cold-start"),
        };
        Self {
            sweep,
            _fakes: fakes,
        }
    }

    async fn invoke(
        &self,
        file: &str,
        queue: Option<&dyn ShardQueue>,
        budget: Budget,
    ) -> Result<Value, SweepError> {
        let sweep = self.sweep.for_invocation(&format!("request-{file}"));
        invoke::handle(&sweep, queue, &load(file), budget).await
    }
}

fn sqs_ids(event: &Value) -> Vec<String> {
    event["Records"]
        .as_array()
        .expect("SQS records")
        .iter()
        .map(|r| r["messageId"].as_str().expect("messageId").to_owned())
        .collect()
}

fn failures(answer: &Value) -> Vec<String> {
    answer["batchItemFailures"]
        .as_array()
        .unwrap_or_else(|| panic!("an SQS answer has batchItemFailures: {answer}"))
        .iter()
        .map(|f| {
            f["itemIdentifier"]
                .as_str()
                .expect("itemIdentifier")
                .to_owned()
        })
        .collect()
}

/// Every file of events/expiry-sweep, in the order the cases below use them.
const FILES: &[&str] = &[
    "not-a-sweep-event.json",
    "reseal.json",
    "scheduled-bad-time.json",
    "scheduled-duplicate-delivery.json",
    "scheduled-eventbridge-rule.json",
    "scheduled.json",
    "sqs-shard-tasks.json",
    "sqs-unreadable-tasks.json",
];

#[test]
fn every_sweep_event_file_has_a_case_here() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../events/expiry-sweep");
    let mut on_disk: Vec<String> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| {
            e.expect("a directory entry")
                .file_name()
                .into_string()
                .expect("UTF-8")
        })
        .collect();
    on_disk.sort();
    assert_eq!(on_disk, FILES);
}

#[tokio::test]
async fn the_scheduled_event_runs_every_shard_in_one_invocation_without_a_queue() {
    let rig = Rig::new().await;

    let answer = rig
        .invoke("scheduled.json", None, Budget::unlimited())
        .await
        .expect("a scheduled run succeeds");

    assert_eq!(answer["duplicate_run"], false);
    assert_eq!(answer["incomplete"], false);
    assert_eq!(answer["shards_done"], json!(rig.sweep.shards()));
}

#[tokio::test]
async fn a_duplicate_delivery_of_the_scheduled_time_does_nothing() {
    let rig = Rig::new().await;
    assert_eq!(
        load("scheduled-duplicate-delivery.json"),
        load("scheduled.json"),
        "the duplicate is the same scheduled time"
    );
    rig.invoke("scheduled.json", None, Budget::unlimited())
        .await
        .expect("the first delivery runs");

    let again = rig
        .invoke(
            "scheduled-duplicate-delivery.json",
            None,
            Budget::unlimited(),
        )
        .await
        .expect("the second delivery succeeds");

    assert_eq!(again["duplicate_run"], true);
    assert_eq!(again["shards_done"], 0);
}

#[tokio::test]
async fn an_eventbridge_rule_scheduled_event_starts_a_run_of_its_time() {
    let rig = Rig::new().await;

    let answer = rig
        .invoke("scheduled-eventbridge-rule.json", None, Budget::unlimited())
        .await
        .expect("a rule's Scheduled Event runs");

    assert_eq!(answer["duplicate_run"], false);
    assert_eq!(answer["shards_done"], json!(rig.sweep.shards()));
}

#[tokio::test]
async fn with_a_queue_the_scheduled_event_hands_out_one_task_per_shard() {
    let rig = Rig::new().await;
    let queue = RecordingQueue::default();

    let answer = rig
        .invoke("scheduled.json", Some(&queue), Budget::unlimited())
        .await
        .expect("the fan-out succeeds");

    assert_eq!(answer["shards_handed_out"], json!(rig.sweep.shards()));
    let tasks = queue.0.lock().expect("the queue").clone();
    assert_eq!(tasks.len(), usize::from(rig.sweep.shards()));
    assert!(tasks.iter().all(|t| t.run == "sweep#2026-11-27T03:00:00Z"));
    // The SQS sample carries tasks of exactly this shape.
    let sample = load("sqs-shard-tasks.json");
    let body: ShardTask = serde_json::from_str(
        sample["Records"][0]["body"]
            .as_str()
            .expect("a body string"),
    )
    .expect("the sample's body is a shard task");
    assert_eq!(body.run, tasks[0].run);
}

#[tokio::test]
async fn the_reseal_event_runs_a_key_retirement_pass() {
    let rig = Rig::new().await;

    let answer = rig
        .invoke("reseal.json", None, Budget::unlimited())
        .await
        .expect("the pass runs");

    assert_eq!(answer["resealed"], 0, "{answer}");
    assert_eq!(answer["remaining"], serde_json::json!({}));
    assert_eq!(answer["incomplete"], false);
}

#[tokio::test]
async fn events_the_sweep_cannot_read_fail_the_invocation() {
    let rig = Rig::new().await;
    for file in ["scheduled-bad-time.json", "not-a-sweep-event.json"] {
        let result = rig.invoke(file, None, Budget::unlimited()).await;
        assert!(
            matches!(result, Err(SweepError::Event(_))),
            "{file}: {result:?}"
        );
    }
}

#[tokio::test]
async fn shard_tasks_that_finish_report_no_failures() {
    let rig = Rig::new().await;

    let answer = rig
        .invoke("sqs-shard-tasks.json", None, Budget::unlimited())
        .await
        .expect("the batch is handled");

    assert_eq!(failures(&answer), Vec::<String>::new());
}

#[tokio::test]
async fn shard_tasks_left_undone_are_reported_so_sqs_hands_them_out_again() {
    let rig = Rig::new().await;
    let event = load("sqs-shard-tasks.json");

    // No time left in the invocation: nothing is taken on.
    let answer = rig
        .invoke(
            "sqs-shard-tasks.json",
            None,
            Budget::unlimited().with_max_accounts(0),
        )
        .await
        .expect("the batch is answered");

    assert_eq!(failures(&answer), sqs_ids(&event));
}

#[tokio::test]
async fn unreadable_or_out_of_range_shard_tasks_are_dropped_not_retried() {
    let rig = Rig::new().await;

    let answer = rig
        .invoke("sqs-unreadable-tasks.json", None, Budget::unlimited())
        .await
        .expect("the batch is answered");

    // Retrying a message that can never be read would only fill the dead-letter queue.
    assert_eq!(failures(&answer), Vec::<String>::new());
}
