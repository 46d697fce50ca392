//! `devtool events`: the connection events locally. Makes the bus in the EventBridge
//! stand-in (moto) with a rule that sends every tokenwarden event to a queue, then plays
//! Lambda's event source mapping: reads DynamoDB Local's stream (`stream-poller`), hands
//! each batch to the `events-publisher` function under `cargo lambda watch` as the
//! DynamoDB event Lambda would, checkpoints by its partial batch answer, and prints every
//! event the rule delivered (one JSON line each) until stopped.

use std::time::Duration;

use anyhow::{anyhow, Context};
use aws_lambda_events::event::streams::DynamoDbEventResponse;
use aws_sdk_sqs::types::QueueAttributeName;
use serde_json::Value;

pub struct Options {
    pub table: String,
    pub bus: String,
    /// `cargo lambda watch`'s invoke address, e.g. `http://[::1]:9000`.
    pub invoke_url: String,
    pub function: String,
    pub interval: Duration,
}

/// The bus, its catch-all rule and the queue it feeds; returns the queue's URL.
async fn bus_with_queue(
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
    eventbridge
        .put_rule()
        .name("all-tokenwarden-events")
        .event_bus_name(bus)
        .event_pattern(r#"{"source":["tokenwarden"]}"#)
        .send()
        .await
        .context("PutRule")?;
    eventbridge
        .put_targets()
        .rule("all-tokenwarden-events")
        .event_bus_name(bus)
        .targets(
            aws_sdk_eventbridge::types::Target::builder()
                .id("local-queue")
                .arn(arn)
                .build()?,
        )
        .send()
        .await
        .context("PutTargets")?;
    Ok(queue)
}

pub async fn run(opts: Options) -> anyhow::Result<()> {
    let aws = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .load()
        .await;
    let eventbridge = aws_sdk_eventbridge::Client::new(&aws);
    let sqs = aws_sdk_sqs::Client::new(&aws);
    let dynamo = aws_sdk_dynamodb::Client::new(&aws);
    let streams = aws_sdk_dynamodbstreams::Client::new(&aws);
    let queue = bus_with_queue(&eventbridge, &sqs, &opts.bus).await?;
    let mut poller = stream_poller::StreamPoller::for_table(&dynamo, streams, &opts.table).await?;
    let http = reqwest::Client::new();
    let invoke = format!(
        "{}/2015-03-31/functions/{}/invocations",
        opts.invoke_url.trim_end_matches('/'),
        opts.function
    );
    eprintln!(
        "devtool events: bus {} -> queue {queue}; stream of {} -> {invoke}",
        opts.bus, opts.table
    );
    loop {
        poller.read().await?;
        if poller.waiting() > 0 {
            let batch = poller.next_batch_json(100);
            let delivered = batch["Records"].as_array().map_or(0, Vec::len);
            match http.post(&invoke).json(&batch).send().await {
                Ok(answer) if answer.status().is_success() => {
                    let response: DynamoDbEventResponse = answer
                        .json()
                        .await
                        .map_err(|e| anyhow!("the publisher's answer: {e}"))?;
                    poller.checkpoint(delivered, &response);
                }
                Ok(answer) => eprintln!(
                    "devtool events: the publisher answered {}; the batch comes again",
                    answer.status()
                ),
                Err(e) => eprintln!("devtool events: the publisher is not up yet ({e}); retrying"),
            }
        }
        let out = sqs
            .receive_message()
            .queue_url(&queue)
            .max_number_of_messages(10)
            .send()
            .await
            .context("ReceiveMessage")?;
        for m in out.messages.unwrap_or_default() {
            if let Some(body) = &m.body {
                let event: Value = serde_json::from_str(body).unwrap_or(Value::Null);
                println!("{event}");
            }
            if let Some(handle) = m.receipt_handle {
                let _ = sqs
                    .delete_message()
                    .queue_url(&queue)
                    .receipt_handle(handle)
                    .send()
                    .await;
            }
        }
        tokio::time::sleep(opts.interval).await;
    }
}
