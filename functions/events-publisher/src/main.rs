//! Lambda function `events-publisher`: the table's DynamoDB stream (an event source
//! mapping filtered to inserted history items, partial batch responses, bisect on error,
//! an on-failure destination) in, one EventBridge event per history item out. Wiring only;
//! the work is `tokenwarden::events`.
//!
//! Environment: `tokenwarden::runtime::config::EventsPublisher` (every variable it reads, in
//! `VARIABLES`); the AWS SDK's own variables.

use std::sync::Arc;

use aws_lambda_events::event::dynamodb::Event;
use lambda_runtime::{service_fn, Error, LambdaEvent};
use tokenwarden::events::{EventBridgeSink, Publisher};
use tokenwarden::runtime::{self, config};

#[tokio::main]
async fn main() -> Result<(), Error> {
    runtime::init_tracing();
    let config: config::EventsPublisher = runtime::read_config()?;

    let aws = runtime::aws_config().await;
    let publisher = Publisher {
        sink: Arc::new(EventBridgeSink::new(
            aws_sdk_eventbridge::Client::new(&aws),
            config.bus,
        )),
        frontend_url: config.frontend_url,
    };
    let publisher = &publisher;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Event>| async move {
        Ok::<_, Error>(publisher.handle(event.payload).await)
    }))
    .await
}
