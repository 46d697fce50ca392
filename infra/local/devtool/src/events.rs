//! `devtool events`: the connection events locally. Makes the bus in the EventBridge
//! stand-in (moto) with a rule that sends every tokenwarden event to a queue, then plays
//! Lambda's event source mapping: reads DynamoDB Local's stream (`stream-poller`), hands
//! each batch to the `events-publisher` function under `cargo lambda watch` as the
//! DynamoDB event Lambda would, checkpoints by its partial batch answer, and prints every
//! event the rule delivered (one JSON line each) until stopped.

use std::time::Duration;

use anyhow::{anyhow, Context};
use aws_lambda_events::event::streams::DynamoDbEventResponse;
use serde_json::Value;

pub struct Options {
    pub table: String,
    pub bus: String,
    /// `cargo lambda watch`'s invoke address, e.g. `http://[::1]:9000`.
    pub invoke_url: String,
    pub function: String,
    pub interval: Duration,
}

pub async fn run(opts: Options) -> anyhow::Result<()> {
    let aws = tokenwarden::runtime::aws_config().await;
    let eventbridge = aws_sdk_eventbridge::Client::new(&aws);
    let sqs = aws_sdk_sqs::Client::new(&aws);
    let dynamo = aws_sdk_dynamodb::Client::new(&aws);
    let streams = aws_sdk_dynamodbstreams::Client::new(&aws);
    let queue = stream_poller::bus_with_queue(&eventbridge, &sqs, &opts.bus).await?;
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
