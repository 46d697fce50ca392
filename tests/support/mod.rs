//! What the integration tests share: SDK clients for the local stack (found through the
//! SDK's own endpoint variables, e.g. `AWS_ENDPOINT_URL_DYNAMODB`, as set by
//! `eval "$(infra/local/stack env)"`), a fresh DynamoDB table per test, and builders for
//! domain values.

mod providers;

pub use providers::{
    GrantCall, GrantLog, InFlight, InFlightGuard, ObservedProviders, ProviderObserver,
};

use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;

use chrono::{DateTime, Duration, TimeZone, Utc};
use tokenwarden::domain::SealedToken;
use tokenwarden::domain::{
    Account, AccountId, Broken, Failures, HistoryEntry, Provider, Reason, SealedTokens, Status,
    TeamId, UserId,
};
use tokenwarden::store::dynamo::{create_table, DynamoStore};
use tokenwarden::store::{AccountStore, Cursor, Page, StoreError};

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
    tokenwarden::runtime::aws_config().await
}

/// The KMS HMAC key (in moto) that signs the links in these tests' mails: one per test
/// process, made on first use.
pub async fn mail_link_key() -> String {
    static KEY: tokio::sync::OnceCell<String> = tokio::sync::OnceCell::const_new();
    KEY.get_or_init(|| async {
        use aws_sdk_kms::types::{KeySpec, KeyUsageType};
        let kms = aws_sdk_kms::Client::new(&aws_config("AWS_ENDPOINT_URL_KMS").await);
        kms.create_key()
            .key_spec(KeySpec::Hmac256)
            .key_usage(KeyUsageType::GenerateVerifyMac)
            .send()
            .await
            .expect("an HMAC key in moto")
            .key_metadata()
            .map(|m| m.key_id().to_owned())
            .expect("a key id")
    })
    .await
    .clone()
}

/// The real KMS signer on [`mail_link_key`].
pub async fn link_signer() -> tokenwarden::mail::links::KmsLinkSigner {
    tokenwarden::mail::links::KmsLinkSigner::new(
        aws_sdk_kms::Client::new(&aws_config("AWS_ENDPOINT_URL_KMS").await),
        mail_link_key().await,
    )
}

/// The product, links and pages these tests' mails use.
pub fn mail_settings() -> tokenwarden::mail::recipients::MailSettings {
    tokenwarden::mail::recipients::MailSettings::new(
        tokenwarden::mail::Branding {
            product: "Maybe*".into(),
            support_url: Some(url::Url::parse("https://help.example.com/").expect("a URL")),
            logo_url: None,
        },
        url::Url::parse("https://api.example.com").expect("a URL"),
        url::Url::parse(FRONTEND_URL).expect("a URL"),
    )
}

/// The frontend page the tests' mails link to.
pub const FRONTEND_URL: &str = "https://app.example.com/settings/social";

/// The poller of `table`'s stream in DynamoDB Local, from its first record.
pub async fn poll_stream(
    dynamo: &aws_sdk_dynamodb::Client,
    table: &str,
) -> stream_poller::StreamPoller {
    let config = aws_config("AWS_ENDPOINT_URL_DYNAMODB_STREAMS").await;
    stream_poller::StreamPoller::for_table(
        dynamo,
        aws_sdk_dynamodbstreams::Client::new(&config),
        table,
    )
    .await
    .unwrap_or_else(|e| panic!("the stream of {table}: {e:#}"))
}

/// A DynamoDB client for DynamoDB Local and the name of a new table of its own, made by
/// the adapter's `create_table` (so every test can run in parallel with the others), with
/// its stream turned off: with every parallel test's table streaming, DynamoDB Local (one
/// SQLite file behind a lock) lets transactions time out waiting for the lock. Tests that
/// read the stream take [`dynamo_with_stream`].
pub async fn dynamo() -> (aws_sdk_dynamodb::Client, String) {
    let (client, table) = dynamo_with_stream().await;
    client
        .update_table()
        .table_name(&table)
        .stream_specification(
            aws_sdk_dynamodb::types::StreamSpecification::builder()
                .stream_enabled(false)
                .build()
                .expect("a stream specification"),
        )
        .send()
        .await
        .unwrap_or_else(|e| panic!("turning the stream of {table} off: {e:?}"));
    (client, table)
}

/// As [`dynamo`], with the table's stream on, as deployed (NEW_IMAGE).
pub async fn dynamo_with_stream() -> (aws_sdk_dynamodb::Client, String) {
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
            data_access_expires_at: None,
            grant_owner: None,
            broken: None,
            failures: Failures::default(),
            last_checked_at: Some(t0()),
            last_refreshed_at: None,
            connected_at: t0(),
            updated_at: t0(),
            next_due_at: None,
            last_change: None,
            noted: None,
            version: 0,
        })
    }

    /// The network, with the scopes its consent grants by default.
    pub fn provider(mut self, provider: Provider) -> Self {
        self.0.provider = provider;
        self.0.scopes = provider
            .spec()
            .default_scopes
            .iter()
            .map(|s| (*s).to_owned())
            .collect();
        self
    }

    pub fn scopes(mut self, scopes: &[&str]) -> Self {
        self.0.scopes = scopes.iter().map(|s| (*s).to_owned()).collect();
        self
    }

    /// The person whose grant the account stands on (Meta's `facebook_login:{id}`).
    pub fn grant_owner(mut self, owner: &str) -> Self {
        self.0.grant_owner = Some(owner.into());
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

// ---- captured logs ----------------------------------------------------------------------

/// Captures every log line (all levels, the AWS SDK's included) of this thread.
#[derive(Clone, Default)]
pub struct LogCapture(Arc<Mutex<Vec<u8>>>);

impl LogCapture {
    /// Every log line, all levels.
    pub fn start() -> LogGuard {
        Self::with_filter(tracing_subscriber::EnvFilter::new("trace"))
    }

    /// Captures the log lines `filter` lets through (e.g. the functions' own filter,
    /// `tokenwarden::runtime::log_filter`, at its most verbose).
    pub fn with_filter(filter: tracing_subscriber::EnvFilter) -> LogGuard {
        let buf = LogCapture::default();
        let subscriber = tracing_subscriber::fmt()
            .json()
            .with_env_filter(filter)
            .with_writer(buf.clone())
            .finish();
        LogGuard {
            buf,
            _guard: tracing::subscriber::set_default(subscriber),
        }
    }
}

pub struct LogGuard {
    buf: LogCapture,
    _guard: tracing::subscriber::DefaultGuard,
}

impl LogGuard {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.buf.0.lock().unwrap_or_else(|e| e.into_inner())).into_owned()
    }
}

impl Write for LogCapture {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogCapture {
    type Writer = LogCapture;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

// ---- store decorators ----------------------------------------------------------------------

/// One operation of the account store, as an observer sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Op {
    Create,
    Get,
    FindByExternalId,
    List,
    Update,
    Delete,
    CreateWith,
    UpdateWith,
    DeleteWith,
    Count,
    SealedWithOtherKeys,
    OthersOnGrant,
}

/// What an observed store tells around each call: `before` may refuse the call (a fault
/// injected as the database would answer it); `listed` sees each page.
pub trait Observer: Send + Sync {
    fn before(&self, _op: Op) -> Result<(), StoreError> {
        Ok(())
    }
    fn listed(&self, _page: &Page<Account>) {}
}

/// The one decorator of the account store the tests and the bench use: every call goes
/// to `inner`, told to the observer first.
pub struct Observed<O> {
    inner: Arc<dyn AccountStore>,
    pub observer: O,
}

impl<O: Observer> Observed<O> {
    pub fn new(inner: Arc<dyn AccountStore>, observer: O) -> Self {
        Self { inner, observer }
    }
}

/// Counts every call by operation, and the items the listing read.
#[derive(Default)]
pub struct Counts {
    by_op: Mutex<std::collections::HashMap<Op, u64>>,
    pub items_read: AtomicU64,
}

impl Counts {
    /// Calls of `op` so far.
    pub fn of(&self, op: Op) -> u64 {
        let by_op = self.by_op.lock().unwrap_or_else(|e| e.into_inner());
        by_op.get(&op).copied().unwrap_or(0)
    }

    /// Calls of any operation so far.
    pub fn total(&self) -> u64 {
        let by_op = self.by_op.lock().unwrap_or_else(|e| e.into_inner());
        by_op.values().sum()
    }

    pub fn reset(&self) {
        self.by_op.lock().unwrap_or_else(|e| e.into_inner()).clear();
        self.items_read.store(0, Ordering::SeqCst);
    }
}

impl Observer for Counts {
    fn before(&self, op: Op) -> Result<(), StoreError> {
        *self
            .by_op
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(op)
            .or_default() += 1;
        Ok(())
    }

    fn listed(&self, page: &Page<Account>) {
        self.items_read.fetch_add(page.items_read, Ordering::SeqCst);
    }
}

/// The account store counting its calls.
pub type CountingAccounts = Observed<Counts>;

impl CountingAccounts {
    pub fn counting(inner: Arc<dyn AccountStore>) -> Self {
        Observed::new(inner, Counts::default())
    }
}

/// Fails the first `n` updates (plain or with history) as a database fault would, counting
/// every update and every failure.
pub struct FailFirstUpdates {
    fail: std::sync::atomic::AtomicU32,
    pub updates: std::sync::atomic::AtomicU32,
    pub failed: std::sync::atomic::AtomicU32,
}

impl FailFirstUpdates {
    pub fn new(n: u32) -> Self {
        Self {
            fail: std::sync::atomic::AtomicU32::new(n),
            updates: Default::default(),
            failed: Default::default(),
        }
    }
}

impl Observer for FailFirstUpdates {
    fn before(&self, op: Op) -> Result<(), StoreError> {
        if !matches!(op, Op::Update | Op::UpdateWith) {
            return Ok(());
        }
        self.updates.fetch_add(1, Ordering::SeqCst);
        let fail = self
            .fail
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
        if fail {
            self.failed.fetch_add(1, Ordering::SeqCst);
            return Err(StoreError::Backend(
                "injected: the database could not be reached".into(),
            ));
        }
        Ok(())
    }
}

/// The account store with its first updates failing.
pub type FlakyAccounts = Observed<FailFirstUpdates>;

impl FlakyAccounts {
    pub fn failing_first_updates(inner: Arc<dyn AccountStore>, n: u32) -> Self {
        Observed::new(inner, FailFirstUpdates::new(n))
    }
}

#[async_trait]
impl<O: Observer> AccountStore for Observed<O> {
    async fn create_account(&self, account: &Account) -> Result<Account, StoreError> {
        self.observer.before(Op::Create)?;
        self.inner.create_account(account).await
    }

    async fn get_account(
        &self,
        team: &TeamId,
        id: &AccountId,
    ) -> Result<Option<Account>, StoreError> {
        self.observer.before(Op::Get)?;
        self.inner.get_account(team, id).await
    }

    async fn find_by_external_id(
        &self,
        team: &TeamId,
        provider: Provider,
        external_id: &str,
    ) -> Result<Option<Account>, StoreError> {
        self.observer.before(Op::FindByExternalId)?;
        self.inner
            .find_by_external_id(team, provider, external_id)
            .await
    }

    async fn list_accounts(
        &self,
        team: &TeamId,
        limit: u32,
        cursor: Option<&Cursor>,
    ) -> Result<Page<Account>, StoreError> {
        self.observer.before(Op::List)?;
        let page = self.inner.list_accounts(team, limit, cursor).await?;
        self.observer.listed(&page);
        Ok(page)
    }

    async fn update_account(&self, account: &Account) -> Result<Account, StoreError> {
        self.observer.before(Op::Update)?;
        self.inner.update_account(account).await
    }

    async fn delete_account(&self, team: &TeamId, id: &AccountId) -> Result<bool, StoreError> {
        self.observer.before(Op::Delete)?;
        self.inner.delete_account(team, id).await
    }

    async fn create_account_with(
        &self,
        account: &Account,
        history: &[HistoryEntry],
    ) -> Result<Account, StoreError> {
        self.observer.before(Op::CreateWith)?;
        self.inner.create_account_with(account, history).await
    }

    async fn update_account_with(
        &self,
        account: &Account,
        history: &[HistoryEntry],
    ) -> Result<Account, StoreError> {
        self.observer.before(Op::UpdateWith)?;
        self.inner.update_account_with(account, history).await
    }

    async fn delete_account_with(
        &self,
        team: &TeamId,
        id: &AccountId,
        history: &HistoryEntry,
    ) -> Result<bool, StoreError> {
        self.observer.before(Op::DeleteWith)?;
        self.inner.delete_account_with(team, id, history).await
    }

    async fn count_accounts(&self, team: &TeamId, up_to: u64) -> Result<u64, StoreError> {
        self.observer.before(Op::Count)?;
        self.inner.count_accounts(team, up_to).await
    }

    async fn sealed_with_other_keys(
        &self,
        key_id: &str,
        limit: u32,
        cursor: Option<&Cursor>,
    ) -> Result<Page<Account>, StoreError> {
        self.observer.before(Op::SealedWithOtherKeys)?;
        self.inner
            .sealed_with_other_keys(key_id, limit, cursor)
            .await
    }

    async fn others_on_grant(
        &self,
        grant_owner: &str,
        team: &TeamId,
        id: &AccountId,
    ) -> Result<bool, StoreError> {
        self.observer.before(Op::OthersOnGrant)?;
        self.inner.others_on_grant(grant_owner, team, id).await
    }
}
