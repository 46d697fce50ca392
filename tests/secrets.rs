//! Secrets from Secrets Manager (moto over the wire): the sealing keyring and its rotation,
//! the client credentials, and the errors a cold start reports.

use aws_sdk_secretsmanager::primitives::Blob;
use tokenwarden::domain::{AccountId, Provider};
use tokenwarden::domain::{ExposeSecret, Secret};
use tokenwarden::providers::Credentials;
use tokenwarden::seal::{Binding, Keyring, TokenSlot};
use tokenwarden::secrets::{SecretError, SecretSource, SecretsManager};
use tokenwarden_integration::{aws_config, team};

async fn client() -> aws_sdk_secretsmanager::Client {
    aws_sdk_secretsmanager::Client::new(&aws_config("AWS_ENDPOINT_URL_SECRETS_MANAGER").await)
}

fn unique(name: &str) -> String {
    format!("tokenwarden/test/{name}-{}", uuid::Uuid::new_v4().simple())
}

#[tokio::test]
async fn a_rotated_keyring_opens_old_envelopes_and_seals_with_the_new_key() {
    let sm = client().await;
    let name = unique("sealing-keys");
    let first = Keyring::generate_secret("2026-05");
    sm.create_secret()
        .name(&name)
        .secret_string(first.expose_secret())
        .send()
        .await
        .unwrap();
    let source = SecretsManager::new(sm.clone());

    // Cold start 1 seals under the first key.
    let ring = Keyring::from_secret(&source.secret(&name).await.unwrap()).unwrap();
    let t = team("t");
    let a = AccountId::parse("acc").unwrap();
    let b = Binding {
        team: &t,
        provider: Provider::Linkedin,
        account: &a,
    };
    let sealed = ring.seal(&Secret::from("canary-refresh"), b, TokenSlot::Refresh);
    assert_eq!(sealed.key_id(), Some("2026-05"));

    // An operator adds a key and makes it active.
    let mut json: serde_json::Value = serde_json::from_str(first.expose_secret()).unwrap();
    let second: serde_json::Value =
        serde_json::from_str(Keyring::generate_secret("2026-11").expose_secret()).unwrap();
    json["keys"]["2026-11"] = second["keys"]["2026-11"].clone();
    json["active"] = "2026-11".into();
    sm.put_secret_value()
        .secret_id(&name)
        .secret_string(json.to_string())
        .send()
        .await
        .unwrap();

    // Cold start 2 reads the rotated secret.
    let rotated = Keyring::from_secret(&source.secret(&name).await.unwrap()).unwrap();
    assert_eq!(rotated.active_key_id(), "2026-11");
    assert_eq!(
        rotated
            .open(&sealed, b, TokenSlot::Refresh)
            .unwrap()
            .expose_secret(),
        "canary-refresh"
    );
    let resealed = rotated.seal(&Secret::from("canary-refresh"), b, TokenSlot::Refresh);
    assert_eq!(resealed.key_id(), Some("2026-11"));
}

#[tokio::test]
async fn client_credentials_name_the_networks_offered() {
    let sm = client().await;
    let name = unique("client-credentials");
    let body = serde_json::json!({
        "facebook": {"client_id": "fb-app", "client_secret": "canary-fb-secret"},
        "x": {"client_id": "x-app", "client_secret": "canary-x-secret"},
        "tiktok": {"client_id": "", "client_secret": ""}
    });
    sm.create_secret()
        .name(&name)
        .secret_string(body.to_string())
        .send()
        .await
        .unwrap();

    let secret = SecretsManager::new(sm).secret(&name).await.unwrap();
    assert!(!format!("{secret:?}").contains("canary"));
    let credentials = Credentials::from_secret(&secret).unwrap();

    assert_eq!(credentials.offered(), [Provider::Facebook, Provider::X]);
    assert_eq!(
        credentials
            .get(Provider::X)
            .unwrap()
            .client_secret
            .expose_secret(),
        "canary-x-secret"
    );
    assert!(!format!("{credentials:?}").contains("canary"));
}

#[tokio::test]
async fn a_missing_or_binary_secret_is_a_clear_error() {
    let sm = client().await;
    let source = SecretsManager::new(sm.clone());
    let missing = unique("missing");
    assert!(matches!(
        source.secret(&missing).await,
        Err(SecretError::NotFound(n)) if n == missing
    ));

    let binary = unique("binary");
    sm.create_secret()
        .name(&binary)
        .secret_binary(Blob::new(vec![1u8, 2, 3]))
        .send()
        .await
        .unwrap();
    let err = source.secret(&binary).await.unwrap_err();
    assert!(matches!(err, SecretError::NotAString(_)), "{err:?}");
}

#[tokio::test]
async fn a_malformed_credentials_secret_names_the_position_not_the_content() {
    let secret = Secret::from(r#"{"x": {"client_id": "a", "client_secret": canary-oops}}"#);
    let err = Credentials::from_secret(&secret).unwrap_err().to_string();
    assert!(err.contains("line 1"), "{err}");
    assert!(!err.contains("canary"), "{err}");
}

/// A cold start reads both secrets in one `BatchGetSecretValue`, each in the order asked;
/// a secret that is not there is named in the error.
#[tokio::test]
async fn several_secrets_are_read_in_one_call_in_the_order_asked() {
    let sm = client().await;
    let (a, b) = (unique("batch-a"), unique("batch-b"));
    for (name, value) in [(&a, "value-a"), (&b, "value-b")] {
        sm.create_secret()
            .name(name)
            .secret_string(value)
            .send()
            .await
            .unwrap();
    }
    let source = SecretsManager::new(sm);
    let read = source.secrets(&[&b, &a]).await.unwrap();
    assert_eq!(
        read.iter()
            .map(|s| s.expose_secret().to_owned())
            .collect::<Vec<_>>(),
        ["value-b", "value-a"]
    );
    let missing = unique("batch-missing");
    match source.secrets(&[&a, &missing]).await {
        Err(SecretError::NotFound(name)) => assert_eq!(name, missing),
        Err(other) => panic!("expected NotFound({missing}), got {other:?}"),
        Ok(_) => panic!("a missing secret is an error"),
    }
}
