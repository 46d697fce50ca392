//! Client construction at cold start, from a function's typed configuration
//! ([`super::config`]): the store, the secrets, the provider client, SES, KMS, SQS.

use std::sync::Arc;
use std::time::Duration;

use aws_config::SdkConfig;

use super::config::{Mail, Networks, SecretNames, TokenSettings};
use super::startup;
use crate::domain::Secret;
use crate::domain::SystemClock;
use crate::mail::links::KmsLinkSigner;
use crate::mail::recipients::Recipients;
use crate::mail::SesMailer;
use crate::providers::{Credentials, HttpProviderClient};
use crate::seal::Keyring;
use crate::secrets::{SecretSource, SecretsManager};
use crate::store::dynamo::DynamoStore;
use crate::sweep::invoke::SqsShardQueue;

/// The Secrets Manager source every cold start reads its secrets from.
pub fn secrets(aws: &SdkConfig) -> SecretsManager {
    SecretsManager::new(aws_sdk_secretsmanager::Client::new(aws))
}

/// The store on `table`.
pub fn store(aws: &SdkConfig, table: &str) -> Arc<DynamoStore> {
    Arc::new(DynamoStore::new(
        aws_sdk_dynamodb::Client::new(aws),
        table.to_owned(),
    ))
}

/// The provider client for `credentials`, at `networks`' endpoints and settings.
pub fn provider_client(
    credentials: Credentials,
    networks: &Networks,
    timeout: Duration,
) -> Result<HttpProviderClient, lambda_http::Error> {
    startup(
        HttpProviderClient::new(credentials, networks.endpoints.clone(), timeout)
            .map(|c| c.with_settings(networks.settings.clone())),
        "build the provider client",
    )
}

/// What a function that holds tokens builds at cold start: the SDK configuration, the
/// sealing keyring and the provider client (their two secrets in one round trip), and the
/// store.
pub struct TokenKeeping {
    pub aws: SdkConfig,
    pub keyring: Arc<Keyring>,
    pub providers: Arc<HttpProviderClient>,
    pub store: Arc<DynamoStore>,
}

/// Builds [`TokenKeeping`] from the function's settings; provider calls wait at most
/// `timeout`.
pub async fn token_keeping(
    settings: &impl TokenSettings,
    timeout: Duration,
) -> Result<TokenKeeping, lambda_http::Error> {
    let aws = super::aws_config().await;
    let (keyring, providers) = keyring_and_providers(
        &secrets(&aws),
        settings.secrets(),
        settings.networks(),
        timeout,
    )
    .await?;
    let store = store(&aws, settings.table());
    Ok(TokenKeeping {
        aws,
        keyring: Arc::new(keyring),
        providers: Arc::new(providers),
        store,
    })
}

/// The sealing keyring and the provider client, from their two secrets read in one round
/// trip (`BatchGetSecretValue`).
pub async fn keyring_and_providers(
    secrets: &dyn SecretSource,
    names: &SecretNames,
    networks: &Networks,
    timeout: Duration,
) -> Result<(Keyring, HttpProviderClient), lambda_http::Error> {
    let read = startup(
        secrets.secrets(&[&names.keys, &names.credentials]).await,
        "read the sealing keys and the client credentials",
    )?;
    let [key_secret, credential_secret] = <[Secret; 2]>::try_from(read).map_err(|_| {
        lambda_http::Error::from("the secret source answered another number of secrets")
    })?;
    let keyring = startup(
        Keyring::from_secret(&key_secret),
        &format!("parse the sealing keys (secret {})", names.keys),
    )?;
    let credentials = startup(
        Credentials::from_secret(&credential_secret),
        &format!(
            "parse the client credentials (secret {})",
            names.credentials
        ),
    )?;
    Ok((keyring, provider_client(credentials, networks, timeout)?))
}

/// The SES sender of `mail`.
pub fn mailer(aws: &SdkConfig, mail: &Mail) -> SesMailer {
    SesMailer::new(
        aws_sdk_sesv2::Client::new(aws),
        mail.sender.from.clone(),
        mail.sender.name.as_deref(),
        mail.sender.configuration_set.clone(),
    )
}

/// The KMS HMAC key that signs the links in mails.
pub fn link_signer(aws: &SdkConfig, mail: &Mail) -> KmsLinkSigner {
    KmsLinkSigner::new(aws_sdk_kms::Client::new(aws), mail.link_key.clone())
}

/// The recipient rules with their store, mailer, signer and settings.
pub fn recipients(aws: &SdkConfig, store: Arc<DynamoStore>, mail: &Mail) -> Recipients {
    Recipients {
        prefs: store,
        mailer: Arc::new(mailer(aws, mail)),
        signer: Arc::new(link_signer(aws, mail)),
        settings: Arc::new(mail.settings.clone()),
        clock: Arc::new(SystemClock),
    }
}

/// The sweep's queue (shard and mail tasks) at `url`.
pub fn queue(aws: &SdkConfig, url: &str) -> Arc<SqsShardQueue> {
    Arc::new(SqsShardQueue::new(
        aws_sdk_sqs::Client::new(aws),
        url.to_owned(),
    ))
}
