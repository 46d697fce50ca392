//! Secrets: a port and its Secrets Manager adapter. Functions read their secrets once per
//! cold start and keep them for the life of the process.

use async_trait::async_trait;

use serde::de::DeserializeOwned;

use crate::domain::ExposeSecret;
use crate::domain::Secret;

/// Reads a secret's JSON into `T`. On failure, says where: the JSON path and the position,
/// and what kind of fault (syntax, a wrong type or a missing field), never serde's message,
/// which can quote the value it found (a key, a client secret).
pub fn parse_json<T: DeserializeOwned>(secret: &Secret) -> Result<T, String> {
    let mut de = serde_json::Deserializer::from_str(secret.expose_secret());
    serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.inner();
        let what = match inner.classify() {
            serde_json::error::Category::Syntax | serde_json::error::Category::Eof => {
                "not valid JSON"
            }
            serde_json::error::Category::Data => {
                "a value of the wrong type, or a field missing or unknown"
            }
            serde_json::error::Category::Io => "unreadable",
        };
        format!(
            "{what} at `{}` (line {} column {})",
            if path.is_empty() || path == "." {
                "(the top level)".to_owned()
            } else {
                path
            },
            inner.line(),
            inner.column()
        )
    })
}

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

    /// Several secrets, in the order of `names`. Sources that can read them in one call do
    /// (Secrets Manager's `BatchGetSecretValue`); the default reads them one by one.
    async fn secrets(&self, names: &[&str]) -> Result<Vec<Secret>, SecretError> {
        let mut out = Vec::with_capacity(names.len());
        for name in names {
            out.push(self.secret(name).await?);
        }
        Ok(out)
    }
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
            .map(Secret::from)
            .ok_or_else(|| SecretError::NotAString(name.to_owned()))
    }

    /// One `BatchGetSecretValue` for all of them: a cold start waits for one round trip.
    /// A secret the answer lacks is named in the error (its `Errors` entry or its absence).
    async fn secrets(&self, names: &[&str]) -> Result<Vec<Secret>, SecretError> {
        let out = self
            .client
            .batch_get_secret_value()
            .set_secret_id_list(Some(names.iter().map(|n| (*n).to_owned()).collect()))
            .send()
            .await
            .map_err(|e| SecretError::Backend {
                name: names.join(", "),
                source: Box::new(e.into_service_error()),
            })?;
        let values = out.secret_values();
        names
            .iter()
            .map(|name| {
                let found = values
                    .iter()
                    .find(|v| v.name() == Some(*name) || v.arn() == Some(*name))
                    .ok_or_else(|| SecretError::NotFound((*name).to_owned()))?;
                found
                    .secret_string()
                    .map(Secret::from)
                    .ok_or_else(|| SecretError::NotAString((*name).to_owned()))
            })
            .collect()
    }
}

#[cfg(test)]
mod json_tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Shape {
        active: String,
        keys: std::collections::BTreeMap<String, String>,
    }

    #[test]
    fn a_malformed_secret_is_named_by_path_never_by_value() {
        for (raw, path) in [
            (
                r#"{"active":"k1","keys":"c2VjcmV0LWtleS1tYXRlcmlhbA=="}"#,
                "keys",
            ),
            (r#"{"active":"k1","keys":{"k1":12345678901234}}"#, "keys.k1"),
            (r#"{"active":["s3cr3t-value"],"keys":{}}"#, "active"),
        ] {
            let err = parse_json::<Shape>(&Secret::from(raw)).unwrap_err();
            assert!(err.contains(&format!("`{path}`")), "{err}");
            for value in ["c2VjcmV0", "12345678901234", "s3cr3t"] {
                assert!(!err.contains(value), "{err}");
            }
        }
        let err = parse_json::<Shape>(&Secret::from("{\"active\": s3cr3t}")).unwrap_err();
        assert!(err.starts_with("not valid JSON"), "{err}");
        assert!(!err.contains("s3cr3t"), "{err}");
    }
}
