//! Cold-start wiring shared by every function's `main.rs`: logging, the AWS SDK
//! configuration, and the two halves every function uses: [`config`] (one typed struct per
//! function, read once from the environment) and [`clients`] (the store, the secrets, the
//! provider client, SES, KMS and SQS built from it).
//!
//! Endpoints of local stand-ins come from the SDK's own `AWS_ENDPOINT_URL_*` variables;
//! there is no local branch here.
#![allow(clippy::expect_used)]

use std::env;

pub mod clients;
pub mod config;

pub use config::{vars, FunctionConfig};

/// The AWS SDK's wire log: at TRACE it prints every response body and every deserialized
/// output, i.e. every DynamoDB item read (OAuth states with their PKCE verifier, sealed
/// envelopes, e-mail addresses). It is capped at DEBUG whatever level is asked for.
pub const SDK_WIRE_LOG_CAP: &str = "aws_smithy_runtime::client::orchestrator=debug";

/// The functions' log filter at `level` (an `EnvFilter` directive list such as `info` or
/// `tokenwarden=debug`), with the SDK's wire log capped ([`SDK_WIRE_LOG_CAP`]).
pub fn log_filter(level: &str) -> tracing_subscriber::EnvFilter {
    use tracing_subscriber::filter::LevelFilter;
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_new(level).unwrap_or_else(|_| EnvFilter::new("info"));
    // The cap is a directive of its own: added below TRACE it would turn DEBUG on for the
    // SDK's orchestrator, so it is added only when something asks for TRACE.
    if filter
        .max_level_hint()
        .is_none_or(|max| max >= LevelFilter::TRACE)
    {
        filter.add_directive(
            SDK_WIRE_LOG_CAP
                .parse()
                .expect("the cap is a valid directive"),
        )
    } else {
        filter
    }
}

/// JSON log lines for CloudWatch: no ANSI colours, no timestamp (Lambda adds one), level
/// from `RUST_LOG` or else `AWS_LAMBDA_LOG_LEVEL` (set by the function's logging config),
/// default `info`; the SDK's wire log never above DEBUG ([`log_filter`]).
pub fn init_tracing() {
    let level = env::var("RUST_LOG")
        .ok()
        .filter(|v| !v.trim().is_empty())
        .or_else(|| {
            env::var("AWS_LAMBDA_LOG_LEVEL")
                .ok()
                .map(|v| v.to_ascii_lowercase())
        })
        .unwrap_or_else(|| "info".into());
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(log_filter(&level))
        .with_ansi(false)
        .without_time()
        .with_current_span(false)
        .with_target(false)
        .init();
}

/// The AWS SDK configuration: region, credentials and endpoints from the standard chain
/// (`AWS_ENDPOINT_URL_DYNAMODB` and friends point it at local stand-ins). HTTPS goes over
/// rustls with ring, the crypto provider the networks' client (reqwest) uses too, so a
/// function carries one TLS stack (the SDK's default client would add aws-lc).
pub async fn aws_config() -> aws_config::SdkConfig {
    use aws_smithy_http_client::tls::{rustls_provider::CryptoMode, Provider};
    let https = aws_smithy_http_client::Builder::new()
        .tls_provider(Provider::Rustls(CryptoMode::Ring))
        .build_https();
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .http_client(https)
        .load()
        .await
}

/// A cold-start step that failed: logged with its cause chain (the runtime prints only the
/// outer message), then returned so the function's init fails.
pub fn startup<T, E>(result: Result<T, E>, step: &str) -> Result<T, lambda_http::Error>
where
    E: std::error::Error + Send + Sync + 'static,
{
    result.map_err(|e| {
        tracing::error!(step, error = %crate::error_chain::cause_chain(&e), "cold start failed");
        lambda_http::Error::from(e)
    })
}

/// The function's configuration from the environment, read once at cold start; every
/// problem is logged and the function's init fails.
pub fn read_config<C: FunctionConfig>() -> Result<C, lambda_http::Error> {
    startup(C::from_env(), "read the configuration")
}
