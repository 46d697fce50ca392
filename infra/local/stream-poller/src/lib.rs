//! stream-poller: the local event pipeline. Plays Lambda's DynamoDB event source mapping against DynamoDB Local's stream: reads
//! the table's stream shard by shard from the start (TRIM_HORIZON), applies the same filter
//! the template declares (inserted history items), hands the records to a handler as the
//! `DynamodbEvent` Lambda would, and checkpoints as Lambda does with partial batch
//! responses: a reported sequence number and everything after it are delivered again.

use std::collections::HashMap;

use anyhow::Context;
use aws_lambda_events::event::dynamodb::Event;
use aws_lambda_events::event::streams::DynamoDbEventResponse;
use aws_sdk_dynamodbstreams::types::{AttributeValue, Record, ShardIteratorType};
use aws_sdk_sqs::types::QueueAttributeName;
use serde_json::{json, Map, Value};

/// Makes `bus` in the EventBridge stand-in (kept when it is there), a queue
/// `{bus}-events`, and a rule on the bus sending every tokenwarden event to the queue, as
/// a platform subscribes; returns the queue's URL.
pub async fn bus_with_queue(
    eventbridge: &aws_sdk_eventbridge::Client,
    sqs: &aws_sdk_sqs::Client,
    bus: &str,
) -> anyhow::Result<String> {
    // Already there from an earlier start: fine.
    let _ = eventbridge.create_event_bus().name(bus).send().await;
    let queue = sqs
        .create_queue()
        .queue_name(format!("{bus}-events"))
        .send()
        .await
        .context("CreateQueue")?
        .queue_url
        .context("no queue URL")?;
    let arn = sqs
        .get_queue_attributes()
        .queue_url(&queue)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .context("GetQueueAttributes")?
        .attributes
        .and_then(|a| a.get(&QueueAttributeName::QueueArn).cloned())
        .context("no queue ARN")?;
    let rule = format!("{bus}-all");
    eventbridge
        .put_rule()
        .name(&rule)
        .event_bus_name(bus)
        .event_pattern(r#"{"source":["tokenwarden"]}"#)
        .send()
        .await
        .context("PutRule")?;
    eventbridge
        .put_targets()
        .rule(&rule)
        .event_bus_name(bus)
        .targets(
            aws_sdk_eventbridge::types::Target::builder()
                .id("queue")
                .arn(arn)
                .build()?,
        )
        .send()
        .await
        .context("PutTargets")?;
    Ok(queue)
}

pub struct StreamPoller {
    client: aws_sdk_dynamodbstreams::Client,
    arn: String,
    /// Each shard's next iterator (`None`: the shard is closed and read to its end).
    iterators: HashMap<String, Option<String>>,
    /// Records read and not yet checkpointed, in stream order.
    pending: Vec<Value>,
}

fn av(v: &AttributeValue) -> Value {
    match v {
        AttributeValue::S(s) => json!({ "S": s }),
        AttributeValue::N(n) => json!({ "N": n }),
        AttributeValue::Bool(b) => json!({ "BOOL": b }),
        AttributeValue::Null(_) => json!({ "NULL": true }),
        AttributeValue::Ss(v) => json!({ "SS": v }),
        AttributeValue::Ns(v) => json!({ "NS": v }),
        AttributeValue::L(v) => json!({ "L": v.iter().map(av).collect::<Vec<_>>() }),
        AttributeValue::M(m) => json!({ "M": image(m) }),
        // Binary values: no tokenwarden item holds one.
        other => json!({ "NULL": format!("{other:?}").is_empty() }),
    }
}

fn image(m: &HashMap<String, AttributeValue>) -> Value {
    Value::Object(
        m.iter()
            .map(|(k, v)| (k.clone(), av(v)))
            .collect::<Map<String, Value>>(),
    )
}

/// A stream record as Lambda's event source mapping hands it to a function.
fn lambda_record(arn: &str, r: &Record) -> Value {
    let change = r.dynamodb.as_ref().expect("a stream record has its change");
    json!({
        "eventID": r.event_id.clone().unwrap_or_default(),
        "eventName": r.event_name.as_ref().map(|n| n.as_str().to_owned()).unwrap_or_default(),
        "eventVersion": r.event_version.clone().unwrap_or_else(|| "1.1".into()),
        "eventSource": "aws:dynamodb",
        "awsRegion": r.aws_region.clone().unwrap_or_else(|| "us-east-1".into()),
        "eventSourceARN": arn,
        "dynamodb": {
            "ApproximateCreationDateTime": change.approximate_creation_date_time.map(|t| t.secs()).unwrap_or(0),
            "Keys": change.keys.as_ref().map(image).unwrap_or(json!({})),
            "NewImage": change.new_image.as_ref().map(image).unwrap_or(json!({})),
            "SequenceNumber": change.sequence_number.clone().unwrap_or_default(),
            "SizeBytes": change.size_bytes.unwrap_or(0),
            "StreamViewType": "NEW_IMAGE"
        }
    })
}

/// The template's filter: inserted history items only.
fn passes_filter(record: &Value) -> bool {
    record["eventName"] == "INSERT" && record["dynamodb"]["NewImage"]["kind"]["S"] == "history"
}

impl StreamPoller {
    /// The poller of `table`'s stream, from its first record. `streams` reaches DynamoDB
    /// Local's Streams API (the SDK's `AWS_ENDPOINT_URL_DYNAMODB_STREAMS`).
    pub async fn for_table(
        dynamo: &aws_sdk_dynamodb::Client,
        streams: aws_sdk_dynamodbstreams::Client,
        table: &str,
    ) -> anyhow::Result<Self> {
        let arn = dynamo
            .describe_table()
            .table_name(table)
            .send()
            .await
            .context("DescribeTable")?
            .table
            .and_then(|t| t.latest_stream_arn)
            .with_context(|| format!("table {table} has no stream"))?;
        let mut poller = Self {
            client: streams,
            arn,
            iterators: HashMap::new(),
            pending: Vec::new(),
        };
        poller.discover().await?;
        Ok(poller)
    }

    /// Finds shards not seen yet and starts each at its beginning.
    async fn discover(&mut self) -> anyhow::Result<()> {
        let description = self
            .client
            .describe_stream()
            .stream_arn(&self.arn)
            .send()
            .await
            .context("DescribeStream")?
            .stream_description
            .context("no stream description")?;
        for shard in description.shards.unwrap_or_default() {
            let Some(id) = shard.shard_id else { continue };
            if self.iterators.contains_key(&id) {
                continue;
            }
            let iterator = self
                .client
                .get_shard_iterator()
                .stream_arn(&self.arn)
                .shard_id(&id)
                .shard_iterator_type(ShardIteratorType::TrimHorizon)
                .send()
                .await
                .context("GetShardIterator")?
                .shard_iterator;
            self.iterators.insert(id, iterator);
        }
        Ok(())
    }

    /// Reads what the stream has now into the pending records (filtered).
    pub async fn read(&mut self) -> anyhow::Result<()> {
        self.discover().await?;
        let mut ids: Vec<String> = self.iterators.keys().cloned().collect();
        ids.sort();
        for id in ids {
            let Some(Some(iterator)) = self.iterators.get(&id).cloned() else {
                continue;
            };
            let out = self
                .client
                .get_records()
                .shard_iterator(iterator)
                .send()
                .await
                .context("GetRecords")?;
            for record in out.records.unwrap_or_default() {
                let record = lambda_record(&self.arn, &record);
                if passes_filter(&record) {
                    self.pending.push(record);
                }
            }
            self.iterators.insert(id, out.next_shard_iterator);
        }
        Ok(())
    }

    /// How many records wait for delivery.
    pub fn waiting(&self) -> usize {
        self.pending.len()
    }

    /// The next batch (at most `batch` records) as the JSON Lambda hands a function,
    /// without checkpointing.
    pub fn next_batch_json(&self, batch: usize) -> Value {
        let records: Vec<Value> = self.pending.iter().take(batch).cloned().collect();
        json!({ "Records": records })
    }

    /// The same batch as `aws_lambda_events`' DynamoDB event.
    pub fn next_batch(&self, batch: usize) -> anyhow::Result<Event> {
        serde_json::from_value(self.next_batch_json(batch))
            .context("the records do not read as aws_lambda_events' DynamoDB event")
    }

    /// Reads the stream and hands `handler` batch after batch until nothing waits,
    /// checkpointing by each answer as the event source mapping does. `rounds` bounds the
    /// deliveries (a handler that never accepts a record would loop).
    pub async fn drain<F, Fut>(
        &mut self,
        batch: usize,
        rounds: usize,
        mut handler: F,
    ) -> anyhow::Result<()>
    where
        F: FnMut(Event) -> Fut,
        Fut: std::future::Future<Output = DynamoDbEventResponse>,
    {
        self.read().await?;
        for _ in 0..rounds {
            if self.pending.is_empty() {
                return Ok(());
            }
            let event = self.next_batch(batch)?;
            let delivered = event.records.len();
            let response = handler(event).await;
            self.checkpoint(delivered, &response);
        }
        anyhow::ensure!(
            self.pending.is_empty(),
            "the stream did not drain in {rounds} deliveries"
        );
        Ok(())
    }

    /// Checkpoints after a delivery of `delivered` records answered `response`: up to the
    /// reported record (which is delivered again), or all of them.
    pub fn checkpoint(&mut self, delivered: usize, response: &DynamoDbEventResponse) {
        let failed = response
            .batch_item_failures
            .first()
            .and_then(|f| f.item_identifier.clone());
        let done = match failed {
            None => delivered.min(self.pending.len()),
            Some(sequence) => self
                .pending
                .iter()
                .position(|r| r["dynamodb"]["SequenceNumber"] == sequence.as_str())
                .unwrap_or(0),
        };
        self.pending.drain(..done);
    }
}
