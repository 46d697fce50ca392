//! Lambda function `mail-links`: the public `GET`/`POST /mail/confirm` and
//! `/mail/unsubscribe` the links in mails open. Wiring only; the handler is
//! `tokenwarden::api::mail_links`.
//!
//! Environment: `TOKENWARDEN_TABLE_NAME`, `TOKENWARDEN_MAIL_FROM`,
//! `TOKENWARDEN_PRODUCT_NAME`, `TOKENWARDEN_MAIL_LINK_KEY_ID`,
//! `TOKENWARDEN_CALLBACK_BASE_URL`, `TOKENWARDEN_FRONTEND_URL` (required);
//! `TOKENWARDEN_SUPPORT_URL`, `TOKENWARDEN_LOGO_URL` (optional); the AWS SDK's own
//! variables.

use std::convert::Infallible;

use lambda_http::{service_fn, Error, Request};
use tokenwarden::api::mail_links::{self, MailLinksApi};
use tokenwarden::runtime;

#[tokio::main]
async fn main() -> Result<(), Error> {
    runtime::init_tracing();
    let aws = runtime::aws_config().await;
    let store = runtime::store(&aws);
    let api = MailLinksApi {
        recipients: runtime::recipients(&aws, store),
    };
    let api = &api;
    lambda_http::run(service_fn(move |req: Request| async move {
        Ok::<_, Infallible>(mail_links::handle(api, req).await)
    }))
    .await
}
