//! What an invocation of the sweep function is, and the two paths through it.
//!
//! - A scheduled event (EventBridge Scheduler, input `{"scheduled_time": "<aws.scheduler.scheduled-time>"}`,
//!   or an EventBridge `Scheduled Event`) starts a run. Without a queue the run goes
//!   shard after shard in this invocation (the single-function path); with a queue it takes
//!   the run lock, hands every shard to the queue and is done (fan-out).
//! - An SQS batch of shard tasks `{"run": "...", "shard": 3}` runs those shards and reports
//!   the ones not finished as batch item failures, so SQS hands them out again.
//! - A mail task `{"mail_team": "..."}` on the same queue (sent with a delay when a
//!   connection breaks during the day) sends that team's pending digests now.

use async_trait::async_trait;
use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{Budget, Report, Sweep, SweepError};
use crate::domain::TeamId;

/// Hands shards of a run to further invocations.
#[async_trait]
pub trait ShardQueue: Send + Sync {
    async fn enqueue(&self, run: &str, shards: &[u16]) -> Result<(), QueueError>;
}

#[derive(Debug, thiserror::Error)]
#[error("handing shards to the queue failed")]
pub struct QueueError(#[source] pub Box<dyn std::error::Error + Send + Sync>);

/// One shard of one run, as a queue message body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShardTask {
    pub run: String,
    pub shard: u16,
}

/// Asks for a team's digests to go out soon, outside the nightly run.
#[async_trait]
pub trait MailSoon: Send + Sync {
    async fn mail_team_soon(&self, team: &TeamId) -> Result<(), QueueError>;
}

/// A team's digests, as a queue message body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MailTask {
    pub mail_team: TeamId,
}

/// What one queue message asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QueueTask {
    Shard(ShardTask),
    Mail(TeamId),
}

impl QueueTask {
    fn parse(body: &str) -> Result<Self, String> {
        let value: Value = serde_json::from_str(body).map_err(|e| e.to_string())?;
        if value.get("mail_team").is_some() {
            serde_json::from_value::<MailTask>(value)
                .map(|m| QueueTask::Mail(m.mail_team))
                .map_err(|e| e.to_string())
        } else {
            serde_json::from_value::<ShardTask>(value)
                .map(QueueTask::Shard)
                .map_err(|e| e.to_string())
        }
    }
}

/// How long a mail task waits in the queue by default: breakages found within these
/// minutes go out in one digest, well inside the promised 15 minutes.
pub const MAIL_DELAY: std::time::Duration = std::time::Duration::from_secs(120);

/// Amazon SQS. Reaches a local stand-in through `AWS_ENDPOINT_URL_SQS`.
#[derive(Debug, Clone)]
pub struct SqsShardQueue {
    client: aws_sdk_sqs::Client,
    url: String,
    mail_delay: std::time::Duration,
}

impl SqsShardQueue {
    pub fn new(client: aws_sdk_sqs::Client, url: impl Into<String>) -> Self {
        Self {
            client,
            url: url.into(),
            mail_delay: MAIL_DELAY,
        }
    }

    /// Mail tasks wait `delay` (at most SQS's 15 minutes) before they are handed out.
    pub fn with_mail_delay(mut self, delay: std::time::Duration) -> Self {
        self.mail_delay = delay.min(std::time::Duration::from_secs(900));
        self
    }
}

#[async_trait]
impl MailSoon for SqsShardQueue {
    async fn mail_team_soon(&self, team: &TeamId) -> Result<(), QueueError> {
        let body = serde_json::to_string(&MailTask {
            mail_team: team.clone(),
        })
        .map_err(|e| QueueError(Box::new(e)))?;
        self.client
            .send_message()
            .queue_url(&self.url)
            .message_body(body)
            .delay_seconds(i32::try_from(self.mail_delay.as_secs()).unwrap_or(900))
            .send()
            .await
            .map_err(|e| QueueError(Box::new(e.into_service_error())))?;
        Ok(())
    }
}

#[async_trait]
impl ShardQueue for SqsShardQueue {
    async fn enqueue(&self, run: &str, shards: &[u16]) -> Result<(), QueueError> {
        use aws_sdk_sqs::types::SendMessageBatchRequestEntry;
        // SendMessageBatch takes at most 10 entries.
        for chunk in shards.chunks(10) {
            let entries = chunk
                .iter()
                .map(|shard| {
                    let body = serde_json::to_string(&ShardTask {
                        run: run.to_owned(),
                        shard: *shard,
                    })
                    .map_err(|e| QueueError(Box::new(e)))?;
                    SendMessageBatchRequestEntry::builder()
                        .id(format!("shard-{shard}"))
                        .message_body(body)
                        .build()
                        .map_err(|e| QueueError(Box::new(e)))
                })
                .collect::<Result<Vec<_>, _>>()?;
            let out = self
                .client
                .send_message_batch()
                .queue_url(&self.url)
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(|e| QueueError(Box::new(e.into_service_error())))?;
            if !out.failed().is_empty() {
                let ids: Vec<&str> = out.failed().iter().map(|f| f.id()).collect();
                return Err(QueueError(
                    format!("the queue refused shard tasks {ids:?}").into(),
                ));
            }
        }
        Ok(())
    }
}

/// What one invocation was asked to do.
#[derive(Debug, PartialEq, Eq)]
pub enum Invocation {
    /// Start the run of this scheduled time.
    Scheduled { run: String },
    /// Run these queue tasks (shards, team mails); each with the id to report if it does
    /// not finish.
    Shards(Vec<(String, Result<QueueTask, String>)>),
    /// `{"action":"reseal"}`: re-seal every account sealed with a key that is not active.
    Reseal,
}

#[derive(Debug, thiserror::Error)]
#[error("the sweep does not understand this event: {0}")]
pub struct InvalidEvent(pub String);

/// Reads an invocation's event.
pub fn decode(event: &Value) -> Result<Invocation, InvalidEvent> {
    match event.get("action").and_then(Value::as_str) {
        Some("reseal") => return Ok(Invocation::Reseal),
        Some(other) => {
            let shown: String = other
                .chars()
                .filter(|c| c.is_ascii_alphanumeric())
                .take(40)
                .collect();
            return Err(InvalidEvent(format!(
                "unknown action '{shown}' (known: reseal)"
            )));
        }
        None => {}
    }
    if event.get("Records").is_some() {
        let batch: SqsEvent = serde_json::from_value(event.clone())
            .map_err(|e| InvalidEvent(format!("not an SQS batch: {e}")))?;
        let mut tasks = Vec::with_capacity(batch.records.len());
        for record in batch.records {
            let id = record
                .message_id
                .ok_or_else(|| InvalidEvent("an SQS record has no messageId".into()))?;
            let task = record
                .body
                .ok_or_else(|| "no body".to_owned())
                .and_then(|body| QueueTask::parse(&body));
            tasks.push((id, task));
        }
        return Ok(Invocation::Shards(tasks));
    }
    let scheduled = match event.get("scheduled_time").and_then(Value::as_str) {
        Some(time) => Some(time.to_owned()),
        // An EventBridge rule's `Scheduled Event`.
        None => serde_json::from_value::<EventBridgeEvent<Value>>(event.clone())
            .ok()
            .filter(|e| e.detail_type == "Scheduled Event")
            .and_then(|e| e.time)
            .map(|t| t.to_rfc3339()),
    };
    let time = scheduled.as_deref().ok_or_else(|| {
        InvalidEvent(
            "expected {\"scheduled_time\": \"...\"}, a Scheduled Event or SQS records".into(),
        )
    })?;
    let parsed = chrono::DateTime::parse_from_rfc3339(time)
        .map_err(|_| InvalidEvent(format!("scheduled_time '{time}' is not an RFC 3339 time")))?;
    Ok(Invocation::Scheduled {
        run: format!("sweep#{}", parsed.to_utc().format("%Y-%m-%dT%H:%M:%SZ")),
    })
}

/// Runs one invocation; returns the JSON the function answers with (the run's report, or
/// SQS's `batchItemFailures`).
pub async fn handle(
    sweep: &Sweep,
    queue: Option<&dyn ShardQueue>,
    event: &Value,
    budget: Budget,
) -> Result<Value, SweepError> {
    let invocation = decode(event).map_err(SweepError::Event)?;
    match invocation {
        Invocation::Reseal => {
            let report = sweep.reseal(budget).await?;
            Ok(serde_json::to_value(&report).unwrap_or(Value::Null))
        }
        Invocation::Scheduled { run } => start_run(sweep, queue, &run, budget).await,
        Invocation::Shards(tasks) => Ok(run_tasks(sweep, tasks, budget).await),
    }
}

/// Starts the run of a scheduled time: all of it in this invocation without a queue,
/// else handed out shard by shard.
async fn start_run(
    sweep: &Sweep,
    queue: Option<&dyn ShardQueue>,
    run: &str,
    budget: Budget,
) -> Result<Value, SweepError> {
    let report = match queue {
        None => sweep.run_scheduled(run, budget).await?,
        Some(queue) => fan_out(sweep, queue, run, budget).await?,
    };
    tracing::info!(run = %run, mail_pending_teams = report.mail_pending_teams,
        report = ?report, "sweep invocation done");
    Ok(serde_json::to_value(&report).unwrap_or(Value::Null))
}

/// Runs a batch of queue tasks; answers with the ones not finished, as SQS's
/// `batchItemFailures`.
async fn run_tasks(
    sweep: &Sweep,
    tasks: Vec<(String, Result<QueueTask, String>)>,
    budget: Budget,
) -> Value {
    let mut failures = Vec::new();
    let mut total = Report::default();
    for (id, task) in tasks {
        let task = match task {
            Ok(t) => t,
            Err(why) => {
                // A message that can never be read: dropped (logged), not retried.
                tracing::error!(message_id = %id, why = %why, "unreadable shard task dropped");
                continue;
            }
        };
        if budget.exhausted(0) {
            failures.push(id);
            continue;
        }
        let finished = match task {
            QueueTask::Shard(task) if task.shard >= sweep.shards() => {
                tracing::error!(message_id = %id, shard = task.shard, "shard task out of range dropped");
                continue;
            }
            QueueTask::Shard(task) => run_shard_task(sweep, &id, &task, budget, &mut total).await,
            QueueTask::Mail(team) => run_mail_task(sweep, &id, &team, &mut total).await,
        };
        if !finished {
            failures.push(id);
        }
    }
    tracing::info!(mail_pending_teams = total.mail_pending_teams, report = ?total,
        failed = failures.len(), "sweep shard tasks done");
    let mut answer = SqsBatchResponse::default();
    answer.set_failures(failures);
    serde_json::to_value(&answer).unwrap_or(Value::Null)
}

/// Runs one shard task, its report added to `total`; `false` when it did not finish and
/// SQS is to hand it out again.
async fn run_shard_task(
    sweep: &Sweep,
    id: &str,
    task: &ShardTask,
    budget: Budget,
    total: &mut Report,
) -> bool {
    match sweep.run_shard(task.shard, budget).await {
        Ok(report) => {
            let finished = !report.incomplete && !report.mail_stopped;
            total.absorb(report);
            finished
        }
        Err(e) => {
            tracing::error!(message_id = %id, shard = task.shard, error = %e,
                cause = ?std::error::Error::source(&e), "shard task failed; SQS will hand it out again");
            false
        }
    }
}

/// Sends one team's digests for a mail task, its report added to `total`; `false` when
/// the mail did not all go out and SQS is to hand the task out again.
async fn run_mail_task(sweep: &Sweep, id: &str, team: &TeamId, total: &mut Report) -> bool {
    match sweep.mail_team_now(team).await {
        Ok(report) => {
            let finished = !report.incomplete && !report.mail_stopped && !report.mail_throttled;
            total.absorb(report);
            finished
        }
        Err(e) => {
            tracing::error!(message_id = %id, team = %team, error = %e,
                cause = ?std::error::Error::source(&e), "mail task failed; SQS will hand it out again");
            false
        }
    }
}

async fn fan_out(
    sweep: &Sweep,
    queue: &dyn ShardQueue,
    run: &str,
    budget: Budget,
) -> Result<Report, SweepError> {
    if !sweep.begin_run(run, budget).await? {
        tracing::info!(run = %run, "duplicate delivery of a run: nothing to do");
        return Ok(Report {
            duplicate_run: true,
            ..Report::default()
        });
    }
    let shards: Vec<u16> = (0..sweep.shards()).collect();
    if let Err(e) = queue.enqueue(run, &shards).await {
        // Let the scheduler's retry take the run again.
        sweep.end_run(run, false).await?;
        return Err(SweepError::Queue(e));
    }
    sweep.end_run(run, true).await?;
    Ok(Report {
        shards_handed_out: u32::from(sweep.shards()),
        ..Report::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn scheduled_events_name_their_run_by_the_scheduled_time() {
        let a = decode(&json!({"scheduled_time": "2026-11-27T03:00:00Z"})).unwrap();
        let b = decode(
            &json!({"detail-type": "Scheduled Event", "source": "aws.events",
            "time": "2026-11-27T03:00:00Z", "detail": {}}),
        )
        .unwrap();
        assert_eq!(
            a,
            Invocation::Scheduled {
                run: "sweep#2026-11-27T03:00:00Z".into()
            }
        );
        assert_eq!(a, b);
        assert!(decode(&json!({"scheduled_time": "tomorrow"})).is_err());
        assert!(decode(&json!({"hello": 1})).is_err());
    }

    #[test]
    fn sqs_records_become_shard_tasks_and_bad_bodies_are_kept_apart() {
        let event = json!({"Records": [
            {"messageId": "m1", "body": "{\"run\":\"sweep#x\",\"shard\":3}", "eventSource": "aws:sqs"},
            {"messageId": "m2", "body": "not json", "eventSource": "aws:sqs"}
        ]});
        let Invocation::Shards(tasks) = decode(&event).unwrap() else {
            panic!("not shards")
        };
        assert_eq!(
            tasks[0],
            (
                "m1".into(),
                Ok(QueueTask::Shard(ShardTask {
                    run: "sweep#x".into(),
                    shard: 3
                }))
            )
        );
        assert!(tasks[1].1.is_err());
        let mail = json!({"Records": [
            {"messageId": "m3", "body": "{\"mail_team\":\"team-1\"}"},
            {"messageId": "m4", "body": "{\"mail_team\":\"\"}"}
        ]});
        let Invocation::Shards(tasks) = decode(&mail).unwrap() else {
            panic!("not tasks")
        };
        assert_eq!(
            tasks[0].1,
            Ok(QueueTask::Mail(TeamId::parse("team-1").unwrap()))
        );
        assert!(tasks[1].1.is_err(), "an empty team is refused");
    }
}
