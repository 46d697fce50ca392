//! Secrets: a port and its Secrets Manager adapter. Functions read their secrets once per
//! cold start and keep them for the life of the process.

use async_trait::async_trait;

use crate::seal::Secret;

#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("secret '{0}' does not exist")]
    NotFound(String),
    #[error("secret '{0}' has no string value")]
    NotAString(String),
    #[error("reading secret '{name}' failed")]
    Backend {
        name: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

#[async_trait]
pub trait SecretSource: Send + Sync {
    /// The current string value of the secret named (or ARN'd) `name`.
    async fn secret(&self, name: &str) -> Result<Secret, SecretError>;
}

/// AWS Secrets Manager. Reaches a local stand-in through `AWS_ENDPOINT_URL_SECRETS_MANAGER`.
#[derive(Debug, Clone)]
pub struct SecretsManager {
    client: aws_sdk_secretsmanager::Client,
}

impl SecretsManager {
    pub fn new(client: aws_sdk_secretsmanager::Client) -> Self {
        Self { client }
    }
}

#[async_trait]
impl SecretSource for SecretsManager {
    async fn secret(&self, name: &str) -> Result<Secret, SecretError> {
        use aws_sdk_secretsmanager::operation::get_secret_value::GetSecretValueError;
        let out = self
            .client
            .get_secret_value()
            .secret_id(name)
            .send()
            .await
            .map_err(|e| match e.as_service_error() {
                Some(GetSecretValueError::ResourceNotFoundException(_)) => {
                    SecretError::NotFound(name.to_owned())
                }
                _ => SecretError::Backend {
                    name: name.to_owned(),
                    source: Box::new(e.into_service_error()),
                },
            })?;
        out.secret_string()
            .map(Secret::new)
            .ok_or_else(|| SecretError::NotAString(name.to_owned()))
    }
}
