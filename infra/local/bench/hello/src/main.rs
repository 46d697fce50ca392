//! The start-up baseline: a bare `lambda_runtime` function that answers its event. Built
//! with the workspace's release profile, like the functions it is compared with.

use lambda_http::lambda_runtime::{self, service_fn, Error, LambdaEvent};
use serde_json::{json, Value};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| async move {
        Ok::<_, Error>(json!({ "hello": event.context.request_id }))
    }))
    .await
}
