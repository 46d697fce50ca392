//! Cold-start wiring shared by every function's `main.rs`: logging, configuration from the
//! environment (read once, before the first request), the AWS SDK configuration.
//!
//! Endpoints of local stand-ins come from the SDK's own `AWS_ENDPOINT_URL_*` variables;
//! there is no local branch here.
//!
//! The one place allowed to panic: a missing or malformed setting stops the function at
//! cold start, before it takes any request, with a message naming the variable.
#![allow(clippy::panic, clippy::expect_used)]

use std::env;

use crate::domain::OriginAllowlist;
use crate::http::{ClaimNames, HttpConfig, DEFAULT_BODY_LIMIT};

/// The environment variables tokenwarden's functions read.
pub mod vars {
    /// The DynamoDB table.
    pub const TABLE_NAME: &str = "TOKENWARDEN_TABLE_NAME";
    /// Secret (name or ARN) holding the sealing keyring `{"active":..,"keys":{..}}`.
    pub const SEALING_KEYS_SECRET: &str = "TOKENWARDEN_SEALING_KEYS_SECRET";
    /// Secret (name or ARN) holding the networks' client credentials.
    pub const CLIENT_CREDENTIALS_SECRET: &str = "TOKENWARDEN_CLIENT_CREDENTIALS_SECRET";
    /// Optional: every provider endpoint moved under this base URL (the provider fakes).
    pub const PROVIDER_BASE_URL: &str = "TOKENWARDEN_PROVIDER_BASE_URL";
    /// The networks' public client ids, `provider=id` pairs separated by commas (oauth-start:
    /// it builds authorize URLs and reads no secret).
    pub const CLIENT_IDS: &str = "TOKENWARDEN_CLIENT_IDS";
    /// Optional: Meta's Graph API version, e.g. `v25.0` (default in `providers::GraphVersion`).
    pub const META_GRAPH_VERSION: &str = "TOKENWARDEN_META_GRAPH_VERSION";
    /// Optional: `true` when the Google app's consent screen is in "Testing" status (its
    /// refresh tokens die after 7 days); default `false`.
    pub const GOOGLE_APP_TESTING: &str = "TOKENWARDEN_GOOGLE_APP_TESTING";
    /// Comma-separated frontend origins (CORS, return URLs).
    pub const ALLOWED_ORIGINS: &str = "TOKENWARDEN_ALLOWED_ORIGINS";
    /// Optional: the JWT claim naming the team (default `team_id`).
    pub const TEAM_CLAIM: &str = "TOKENWARDEN_TEAM_CLAIM";
    /// Optional: the JWT claim naming the user (default `sub`).
    pub const USER_CLAIM: &str = "TOKENWARDEN_USER_CLAIM";
    /// Optional: the JWT claim with the user's own email address (default `email`): the
    /// address a team member adds themself with, without a confirmation mail.
    pub const EMAIL_CLAIM: &str = "TOKENWARDEN_EMAIL_CLAIM";
    /// Optional: the largest request body accepted, in bytes (default 65536).
    pub const MAX_BODY_BYTES: &str = "TOKENWARDEN_MAX_BODY_BYTES";
    /// The frontend page with the account list (reconnect links in mails point there; the
    /// OAuth flow goes back there when the start request names no `return_to`).
    pub const FRONTEND_URL: &str = "TOKENWARDEN_FRONTEND_URL";
    /// The API's public base URL: each network's one redirect URI is
    /// `{base}/oauth/{provider}/callback`; the links in mails are `{base}/mail/…`.
    pub const CALLBACK_BASE_URL: &str = "TOKENWARDEN_CALLBACK_BASE_URL";
    /// The verified SES sender of the digests.
    pub const MAIL_FROM: &str = "TOKENWARDEN_MAIL_FROM";
    /// Optional: the sender's display name (the platform's own, e.g. `Maybe* Alerts`).
    pub const MAIL_FROM_NAME: &str = "TOKENWARDEN_MAIL_FROM_NAME";
    /// The product name mails and link pages use (the platform's, e.g. `Maybe*`).
    pub const PRODUCT_NAME: &str = "TOKENWARDEN_PRODUCT_NAME";
    /// Optional: the platform's support page, linked from every mail.
    pub const SUPPORT_URL: &str = "TOKENWARDEN_SUPPORT_URL";
    /// Optional: an https logo shown on top of every mail.
    pub const LOGO_URL: &str = "TOKENWARDEN_LOGO_URL";
    /// The KMS HMAC key (id, ARN or alias) that signs the links in mails.
    pub const MAIL_LINK_KEY_ID: &str = "TOKENWARDEN_MAIL_LINK_KEY_ID";
    /// Optional: confirmation mails a team may send a day (default 20).
    pub const CONFIRMATIONS_PER_DAY: &str = "TOKENWARDEN_CONFIRMATIONS_PER_DAY";
    /// Optional: digests a team may be sent a day (default 500).
    pub const DIGESTS_PER_DAY: &str = "TOKENWARDEN_DIGESTS_PER_DAY";
    /// Optional: the SES configuration set the digests go through.
    pub const SES_CONFIGURATION_SET: &str = "TOKENWARDEN_SES_CONFIGURATION_SET";
    /// Optional: the SQS queue shard tasks go to (fan-out); unset runs every shard in one
    /// invocation.
    pub const SWEEP_QUEUE_URL: &str = "TOKENWARDEN_SWEEP_QUEUE_URL";
    /// Optional: accounts the sweep handles at once (default 16).
    pub const SWEEP_CONCURRENCY: &str = "TOKENWARDEN_SWEEP_CONCURRENCY";
    /// Optional: calls in flight per network, e.g. `x=4,tiktok=2`.
    pub const PROVIDER_CONCURRENCY: &str = "TOKENWARDEN_PROVIDER_CONCURRENCY";
    /// The EventBridge bus connection events go to.
    pub const EVENT_BUS_NAME: &str = "TOKENWARDEN_EVENT_BUS_NAME";
}

/// Accounts the sweep handles at once: `TOKENWARDEN_SWEEP_CONCURRENCY` or `default`.
pub fn sweep_concurrency(default: usize) -> usize {
    optional(vars::SWEEP_CONCURRENCY)
        .map(|v| match v.parse::<usize>() {
            Ok(n) if n > 0 => n,
            _ => panic!("{} must be a positive number", vars::SWEEP_CONCURRENCY),
        })
        .unwrap_or(default)
}

/// Per-network limits on calls in flight, from `TOKENWARDEN_PROVIDER_CONCURRENCY`
/// (`x=4,tiktok=2`).
pub fn provider_concurrency() -> std::collections::BTreeMap<crate::domain::Provider, usize> {
    let Some(raw) = optional(vars::PROVIDER_CONCURRENCY) else {
        return Default::default();
    };
    raw.split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let parsed = pair.split_once('=').and_then(|(p, n)| {
                Some((
                    p.trim().parse().ok()?,
                    n.trim().parse::<usize>().ok().filter(|n| *n > 0)?,
                ))
            });
            parsed.unwrap_or_else(|| {
                panic!(
                    "{} must be provider=limit pairs, e.g. x=4,tiktok=2 (got '{pair}')",
                    vars::PROVIDER_CONCURRENCY
                )
            })
        })
        .collect()
}

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

/// A required variable. Panics at cold start, naming the variable, when it is missing:
/// a function without its configuration must not serve.
pub fn required(name: &str) -> String {
    match env::var(name) {
        Ok(v) if !v.trim().is_empty() => v,
        _ => panic!("missing required environment variable {name}"),
    }
}

/// An optional variable; empty counts as unset.
pub fn optional(name: &str) -> Option<String> {
    env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// The HTTP configuration of an API function: frontend origins (required), claim names and
/// body limit (optional).
pub fn http_config() -> HttpConfig {
    let origins = OriginAllowlist::parse(&required(vars::ALLOWED_ORIGINS)).unwrap_or_else(|e| {
        panic!(
            "{} must be comma-separated https origins (http only for localhost): {e}",
            vars::ALLOWED_ORIGINS
        )
    });
    let defaults = ClaimNames::default();
    let claims = ClaimNames {
        team: optional(vars::TEAM_CLAIM).unwrap_or(defaults.team),
        user: optional(vars::USER_CLAIM).unwrap_or(defaults.user),
        email: optional(vars::EMAIL_CLAIM).unwrap_or(defaults.email),
    };
    let body_limit = optional(vars::MAX_BODY_BYTES)
        .map(|v| {
            v.parse::<usize>()
                .unwrap_or_else(|_| panic!("{} must be a number of bytes", vars::MAX_BODY_BYTES))
        })
        .unwrap_or(DEFAULT_BODY_LIMIT);
    HttpConfig {
        claims,
        origins,
        body_limit,
    }
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

/// Where provider calls go: under `TOKENWARDEN_PROVIDER_BASE_URL` when it is set (the
/// provider fakes), else the networks' real endpoints.
pub fn provider_endpoints() -> crate::domain::Endpoints {
    match optional(vars::PROVIDER_BASE_URL) {
        None => crate::domain::Endpoints::real(),
        Some(raw) => {
            crate::domain::Endpoints::overridden(url::Url::parse(&raw).unwrap_or_else(|e| {
                panic!("{} must be an absolute URL: {e}", vars::PROVIDER_BASE_URL)
            }))
        }
    }
}

/// The networks' public client ids from `TOKENWARDEN_CLIENT_IDS` (`x=abc,google=123-x.apps…`):
/// what an authorize URL needs, without the client secrets. A network missing there is not
/// offered by `oauth-start`.
pub fn client_ids() -> crate::providers::Credentials {
    let raw = required(vars::CLIENT_IDS);
    match crate::providers::Credentials::from_client_ids(&raw) {
        Ok(ids) => ids,
        Err(e) => panic!("{}: {e}", vars::CLIENT_IDS),
    }
}

/// The provider client of a function that only builds authorize URLs (`oauth-start`): the
/// public client ids, no secret read.
pub fn authorize_only_client() -> Result<crate::providers::HttpProviderClient, lambda_http::Error> {
    startup(
        crate::providers::HttpProviderClient::new(
            client_ids(),
            provider_endpoints(),
            std::time::Duration::from_secs(8),
        )
        .map(|c| c.with_settings(network_settings())),
        "build the provider client",
    )
}

/// The networks' settings: `TOKENWARDEN_META_GRAPH_VERSION`, `TOKENWARDEN_GOOGLE_APP_TESTING`.
pub fn network_settings() -> crate::providers::NetworkSettings {
    let graph_version = match optional(vars::META_GRAPH_VERSION) {
        None => crate::providers::GraphVersion::default(),
        Some(raw) => crate::providers::GraphVersion::parse(&raw).unwrap_or_else(|| {
            panic!(
                "{} must be a Graph API version such as v25.0",
                vars::META_GRAPH_VERSION
            )
        }),
    };
    let google_testing = match optional(vars::GOOGLE_APP_TESTING).as_deref() {
        None | Some("false") => false,
        Some("true") => true,
        Some(_) => panic!("{} must be true or false", vars::GOOGLE_APP_TESTING),
    };
    crate::providers::NetworkSettings {
        graph_version,
        google_testing,
    }
}

/// The sealing keyring and the provider client, from their two secrets read in one round
/// trip (`BatchGetSecretValue`).
pub async fn keyring_and_providers(
    secrets: &dyn crate::secrets::SecretSource,
    timeout: std::time::Duration,
) -> Result<(crate::seal::Keyring, crate::providers::HttpProviderClient), lambda_http::Error> {
    let keys = required(vars::SEALING_KEYS_SECRET);
    let credentials = required(vars::CLIENT_CREDENTIALS_SECRET);
    let read = startup(
        secrets.secrets(&[&keys, &credentials]).await,
        "read the sealing keys and the client credentials",
    )?;
    let [key_secret, credential_secret] =
        <[crate::seal::Secret; 2]>::try_from(read).map_err(|_| {
            lambda_http::Error::from("the secret source answered another number of secrets")
        })?;
    let keyring = startup(
        crate::seal::Keyring::from_secret(&key_secret),
        &format!("parse the sealing keys (secret {keys})"),
    )?;
    let credentials = startup(
        crate::providers::Credentials::from_secret(&credential_secret),
        &format!("parse the client credentials (secret {credentials})"),
    )?;
    let providers = startup(
        crate::providers::HttpProviderClient::new(credentials, provider_endpoints(), timeout)
            .map(|c| c.with_settings(network_settings())),
        "build the provider client",
    )?;
    Ok((keyring, providers))
}

/// The Secrets Manager source every cold start reads its secrets from.
pub fn secrets(aws: &aws_config::SdkConfig) -> crate::secrets::SecretsManager {
    crate::secrets::SecretsManager::new(aws_sdk_secretsmanager::Client::new(aws))
}

/// The store on the table named by `TOKENWARDEN_TABLE_NAME`.
pub fn store(aws: &aws_config::SdkConfig) -> std::sync::Arc<crate::store::dynamo::DynamoStore> {
    let table = required(vars::TABLE_NAME);
    std::sync::Arc::new(crate::store::dynamo::DynamoStore::new(
        aws_sdk_dynamodb::Client::new(aws),
        table,
    ))
}

/// The base of the networks' redirect URIs, from `TOKENWARDEN_CALLBACK_BASE_URL`.
pub fn callback_base() -> crate::oauth::CallbackBase {
    crate::oauth::CallbackBase::parse(&required(vars::CALLBACK_BASE_URL))
        .unwrap_or_else(|e| panic!("{}: {e}", vars::CALLBACK_BASE_URL))
}

/// Where the OAuth flow sends the browser back when the start request names no
/// `return_to`: `TOKENWARDEN_FRONTEND_URL` (which must be on an allowed origin), else the
/// first allowed origin.
pub fn default_return_to(origins: &OriginAllowlist) -> crate::domain::ReturnUrl {
    let raw = optional(vars::FRONTEND_URL)
        .or_else(|| origins.origins().first().map(|o| format!("{o}/")))
        .unwrap_or_else(|| panic!("{} names no origin", vars::ALLOWED_ORIGINS));
    crate::domain::ReturnUrl::parse(&raw, origins).unwrap_or_else(|e| {
        panic!(
            "{} must be a URL on one of {}: {e}",
            vars::FRONTEND_URL,
            vars::ALLOWED_ORIGINS
        )
    })
}

/// An absolute URL setting (`https`, or `http` on localhost for local runs).
fn url_setting(name: &str, raw: &str) -> url::Url {
    let url = url::Url::parse(raw.trim())
        .unwrap_or_else(|e| panic!("{name} must be an absolute URL: {e}"));
    let local = matches!(url.host_str(), Some("localhost") | Some("127.0.0.1"));
    if url.scheme() != "https" && !(url.scheme() == "http" && local) {
        panic!("{name} must be an https URL");
    }
    url
}

fn count_setting(name: &str, value: Option<String>, default: u32) -> u32 {
    value
        .map(|v| {
            v.trim()
                .parse::<u32>()
                .ok()
                .filter(|n| *n > 0)
                .unwrap_or_else(|| panic!("{name} must be a whole number above 0"))
        })
        .unwrap_or(default)
}

/// How mails look and where their links go: product name, support and logo URLs, the
/// API's public base for the links, the frontend page, the daily allowances.
pub fn mail_settings() -> crate::mail::recipients::MailSettings {
    use crate::mail::Branding;
    let branding = Branding {
        product: required(vars::PRODUCT_NAME).trim().to_owned(),
        support_url: optional(vars::SUPPORT_URL).map(|u| url_setting(vars::SUPPORT_URL, &u)),
        logo_url: optional(vars::LOGO_URL).map(|u| url_setting(vars::LOGO_URL, &u)),
    };
    let links = url_setting(vars::CALLBACK_BASE_URL, &required(vars::CALLBACK_BASE_URL));
    let frontend = url_setting(vars::FRONTEND_URL, &required(vars::FRONTEND_URL));
    let mut settings = crate::mail::recipients::MailSettings::new(branding, links, frontend);
    settings.confirmations_per_day = count_setting(
        vars::CONFIRMATIONS_PER_DAY,
        optional(vars::CONFIRMATIONS_PER_DAY),
        settings.confirmations_per_day,
    );
    settings.digests_per_day = count_setting(
        vars::DIGESTS_PER_DAY,
        optional(vars::DIGESTS_PER_DAY),
        settings.digests_per_day,
    );
    settings
}

/// The SES sender: `TOKENWARDEN_MAIL_FROM`, shown as `TOKENWARDEN_MAIL_FROM_NAME`, through
/// `TOKENWARDEN_SES_CONFIGURATION_SET` when set.
pub fn mailer(aws: &aws_config::SdkConfig) -> crate::mail::SesMailer {
    let from = crate::domain::EmailAddress::parse(&required(vars::MAIL_FROM))
        .unwrap_or_else(|e| panic!("{} must be an email address: {e}", vars::MAIL_FROM));
    crate::mail::SesMailer::new(
        aws_sdk_sesv2::Client::new(aws),
        from,
        optional(vars::MAIL_FROM_NAME).as_deref(),
        optional(vars::SES_CONFIGURATION_SET),
    )
}

/// The KMS HMAC key that signs the links in mails (`TOKENWARDEN_MAIL_LINK_KEY_ID`).
pub fn link_signer(aws: &aws_config::SdkConfig) -> crate::mail::links::KmsLinkSigner {
    crate::mail::links::KmsLinkSigner::new(
        aws_sdk_kms::Client::new(aws),
        required(vars::MAIL_LINK_KEY_ID),
    )
}

/// The recipient rules with their store, mailer, signer and settings.
pub fn recipients(
    aws: &aws_config::SdkConfig,
    store: std::sync::Arc<crate::store::dynamo::DynamoStore>,
) -> crate::mail::recipients::Recipients {
    crate::mail::recipients::Recipients {
        prefs: store,
        mailer: std::sync::Arc::new(mailer(aws)),
        signer: std::sync::Arc::new(link_signer(aws)),
        settings: std::sync::Arc::new(mail_settings()),
        clock: std::sync::Arc::new(crate::domain::SystemClock),
    }
}
