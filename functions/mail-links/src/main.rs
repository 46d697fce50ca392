//! Lambda function `mail-links`: the public `GET`/`POST /mail/confirm` and
//! `/mail/unsubscribe` the links in mails open. Wiring only; the handler is
//! `tokenwarden::api::mail_links`.
//!
//! Environment: `tokenwarden::runtime::config::MailLinks` (every variable it reads, in
//! `VARIABLES`); the AWS SDK's own variables.

use std::convert::Infallible;

use lambda_http::{service_fn, Error, Request};
use tokenwarden::api::mail_links::{self, MailLinksApi};
use tokenwarden::runtime::{self, clients, config};

#[tokio::main]
async fn main() -> Result<(), Error> {
    runtime::init_tracing();
    let config: config::MailLinks = runtime::read_config()?;

    let aws = runtime::aws_config().await;
    let store = clients::store(&aws, &config.table);
    let api = MailLinksApi {
        recipients: clients::recipients(&aws, store, &config.mail),
    };
    let api = &api;
    lambda_http::run(service_fn(move |req: Request| async move {
        Ok::<_, Infallible>(mail_links::handle(api, req).await)
    }))
    .await
}
