//! What the integration tests share: SDK clients for the local stack (found through the
//! SDK's own endpoint variables, e.g. `AWS_ENDPOINT_URL_DYNAMODB`, as set by
//! `eval "$(infra/local/stack env)"`), a fresh DynamoDB table per test, and builders for
//! domain values.

use aws_config::BehaviorVersion;
use chrono::{DateTime, Duration, TimeZone, Utc};
use tokenwarden::domain::{
    Account, AccountId, Broken, Failures, Provider, Reason, SealedTokens, Status, TeamId, UserId,
};
use tokenwarden::seal::SealedToken;
use tokenwarden::store::dynamo::{create_table, DynamoStore};

/// The SDK configuration from the environment. Panics unless the environment points the
/// SDK at a local endpoint: these tests create tables and must never reach a real account.
pub async fn aws_config(service_endpoint_var: &str) -> aws_config::SdkConfig {
    let endpoint = std::env::var(service_endpoint_var)
        .or_else(|_| std::env::var("AWS_ENDPOINT_URL"))
        .unwrap_or_default();
    let local = ["http://127.0.0.1", "http://localhost", "http://[::1]"]
        .iter()
        .any(|prefix| endpoint.starts_with(prefix));
    assert!(
        local,
        "{service_endpoint_var} must point at the local stack (run ./tests/run, or \
         eval \"$(infra/local/stack env)\" first); got {endpoint:?}"
    );
    aws_config::defaults(BehaviorVersion::latest()).load().await
}

/// A DynamoDB client for DynamoDB Local and the name of a new table of its own, made by
/// the adapter's `create_table` (so every test can run in parallel with the others).
pub async fn dynamo() -> (aws_sdk_dynamodb::Client, String) {
    let config = aws_config("AWS_ENDPOINT_URL_DYNAMODB").await;
    let client = aws_sdk_dynamodb::Client::new(&config);
    let table = format!("tw-test-{}", uuid::Uuid::new_v4().simple());
    create_table(&client, &table)
        .await
        .unwrap_or_else(|e| panic!("creating table {table} in DynamoDB Local: {e:?}"));
    (client, table)
}

/// The DynamoDB adapter on a fresh table.
pub async fn dynamo_store() -> DynamoStore {
    let (client, table) = dynamo().await;
    DynamoStore::new(client, table)
}

/// A fixed moment the builders count from.
pub fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 1, 3, 0, 0)
        .single()
        .unwrap_or_else(Utc::now)
}

pub fn team(id: &str) -> TeamId {
    TeamId::parse(id).unwrap_or_else(|e| panic!("test team id {id:?}: {e}"))
}

pub fn account_id(id: &str) -> AccountId {
    AccountId::parse(id).unwrap_or_else(|e| panic!("test account id {id:?}: {e}"))
}

/// Builds an account as connected at [`t0`]: Facebook by default, whose token cannot be
/// refreshed, so `reconnect_by` is simply the access token's expiry (60 days).
#[derive(Debug, Clone)]
pub struct AccountBuilder(Account);

impl AccountBuilder {
    pub fn new(team_id: &str, id: &str) -> Self {
        Self(Account {
            team: team(team_id),
            id: account_id(id),
            provider: Provider::Facebook,
            external_id: format!("ext-{id}"),
            display_name: format!("Page {id}"),
            picture_url: None,
            scopes: vec!["pages_show_list".into(), "pages_manage_posts".into()],
            connected_by: UserId::parse("user-1").unwrap_or_else(|e| panic!("{e}")),
            tokens: SealedTokens {
                access: SealedToken::from_stored(format!("tw1.k1.bm9uY2U.access-{id}")),
                refresh: None,
            },
            access_issued_at: t0(),
            access_expires_at: Some(t0() + Duration::days(60)),
            refresh_expires_at: None,
            broken: None,
            failures: Failures::default(),
            last_checked_at: Some(t0()),
            last_refreshed_at: None,
            connected_at: t0(),
            updated_at: t0(),
            next_due_at: None,
            version: 0,
        })
    }

    pub fn provider(mut self, provider: Provider) -> Self {
        self.0.provider = provider;
        self
    }

    pub fn external_id(mut self, external_id: &str) -> Self {
        self.0.external_id = external_id.into();
        self
    }

    /// For the default (non-refreshable) provider: the access token's expiry.
    pub fn reconnect_by(mut self, at: Option<DateTime<Utc>>) -> Self {
        self.0.access_expires_at = at;
        self
    }

    pub fn refresh_token(mut self, envelope: &str, expires_at: Option<DateTime<Utc>>) -> Self {
        self.0.tokens.refresh = Some(SealedToken::from_stored(envelope.into()));
        self.0.refresh_expires_at = expires_at;
        self
    }

    pub fn broken(mut self, status: Status, reason: Option<Reason>) -> Self {
        self.0.broken = Some(Broken {
            status,
            reason,
            since: t0() + Duration::days(1),
        });
        self
    }

    pub fn failures(mut self, failures: Failures) -> Self {
        self.0.failures = failures;
        self
    }

    pub fn next_due(mut self, at: Option<DateTime<Utc>>) -> Self {
        self.0.next_due_at = at;
        self
    }

    pub fn build(self) -> Account {
        self.0
    }
}
