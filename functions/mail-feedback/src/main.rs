//! Lambda function `mail-feedback`: SES's events about our mails (the configuration set's
//! EventBridge destination, a rule on the default bus, an SQS queue with partial batch
//! responses) in; dispatches confirmed, bounced and complained recipients marked. Wiring
//! only; the work is `tokenwarden::mail::feedback`.
//!
//! Environment: `tokenwarden::runtime::config::MailFeedback` (every variable it reads, in
//! `VARIABLES`); the AWS SDK's own variables.

use std::sync::Arc;

use aws_lambda_events::event::sqs::SqsEvent;
use lambda_runtime::{service_fn, Error, LambdaEvent};
use tokenwarden::domain::SystemClock;
use tokenwarden::mail::feedback::FeedbackService;
use tokenwarden::runtime::{self, clients, config};

#[tokio::main]
async fn main() -> Result<(), Error> {
    runtime::init_tracing();
    let config: config::MailFeedback = runtime::read_config()?;

    let aws = runtime::aws_config().await;
    let store = clients::store(&aws, &config.table);
    let service = FeedbackService {
        prefs: store.clone(),
        ledger: store,
        clock: Arc::new(SystemClock),
    };
    let service = &service;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        Ok::<_, Error>(service.handle(event.payload).await)
    }))
    .await
}
