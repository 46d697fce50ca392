//! Lambda function `events-publisher`: the table's DynamoDB stream (an event source
//! mapping filtered to inserted history items, partial batch responses, bisect on error,
//! an on-failure destination) in, one EventBridge event per history item out. Wiring only;
//! the work is `tokenwarden::events`.
//!
//! Environment: `TOKENWARDEN_EVENT_BUS_NAME`, `TOKENWARDEN_FRONTEND_URL` (required); the
//! AWS SDK's own variables.

use std::sync::Arc;

use aws_lambda_events::event::dynamodb::Event;
use lambda_runtime::{service_fn, Error, LambdaEvent};
use tokenwarden::events::{EventBridgeSink, Publisher};
use tokenwarden::runtime::{self, vars};

#[tokio::main]
async fn main() -> Result<(), Error> {
    runtime::init_tracing();
    let bus = runtime::required(vars::EVENT_BUS_NAME);
    let frontend = runtime::required(vars::FRONTEND_URL);
    let frontend_url = url::Url::parse(&frontend)
        .unwrap_or_else(|e| panic!("{} must be an absolute URL: {e}", vars::FRONTEND_URL));
    let aws = runtime::aws_config().await;
    let publisher = Publisher {
        sink: Arc::new(EventBridgeSink::new(
            aws_sdk_eventbridge::Client::new(&aws),
            bus,
        )),
        frontend_url,
    };
    let publisher = &publisher;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Event>| async move {
        Ok::<_, Error>(publisher.handle(event.payload).await)
    }))
    .await
}
