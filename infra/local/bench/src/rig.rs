//! What every measurement stands on: the SDK pointed at the local stack, the sealing
//! keyring, the provider fakes in this process, real grants from them, accounts built the
//! way the callback builds them, and counting decorators over the ports being measured.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use futures::stream::{self, StreamExt, TryStreamExt};
use provider_fakes::FakeHandle;
use tokenwarden::domain::Secret;
use tokenwarden::domain::{
    Account, AccountId, Clock, Failures, Provider, SealedTokens, TeamId, UserId,
};
use tokenwarden::grant::{lifetimes, seal_grant};
use tokenwarden::mail::links::KmsLinkSigner;
use tokenwarden::mail::recipients::MailSettings;
use tokenwarden::mail::{Branding, Email, MailError, Mailer};
use tokenwarden::providers::{AuthorizeRequest, HttpProviderClient, ProviderClient, TokenGrant};
use tokenwarden::seal::Keyring;
use tokenwarden::store::dynamo::{create_table, DynamoStore};
use tokenwarden::store::{AccountStore, Cursor, DueIndex, DueItem, Page, StoreError};
use tokenwarden::sweep::{Sweep, SweepConfig};

/// Where the fakes send the browser back to (never followed: the code is read off the
/// redirect).
const REDIRECT_URI: &str = "https://api.example.com/oauth/callback";

pub const FRONTEND: &str = "https://app.example.com";

/// Networks the sweep measurements mix, each checked or refreshed by its own rule:
/// Meta's `debug_token` (facebook, instagram), a refresh grant that keeps its token
/// (linkedin, google), and rotating refresh tokens (x, tiktok, pinterest).
pub const SWEEP_MIX: [Provider; 7] = [
    Provider::Facebook,
    Provider::Instagram,
    Provider::Linkedin,
    Provider::Google,
    Provider::X,
    Provider::Tiktok,
    Provider::Pinterest,
];

pub struct Rig {
    pub aws: aws_config::SdkConfig,
    pub ddb: aws_sdk_dynamodb::Client,
    pub keyring: Arc<Keyring>,
    /// The keyring as its Secrets Manager secret (the functions read it at cold start).
    pub keyring_secret: Secret,
    pub fakes: FakeHandle,
    pub providers: Arc<HttpProviderClient>,
    /// Signs the unsubscribe links of digests (a KMS HMAC key in moto).
    pub signer: Arc<KmsLinkSigner>,
    /// That key's id (the functions get it as TOKENWARDEN_MAIL_LINK_KEY_ID).
    pub mail_link_key: String,
    browser: reqwest::Client,
    /// Tables made and not yet deleted, for `drop_remaining`.
    made: std::sync::Mutex<Vec<String>>,
}

impl Rig {
    /// Refuses to run unless the SDK points at a loopback endpoint: the harness creates
    /// tables and secrets and must never reach a real account.
    pub async fn new() -> anyhow::Result<Rig> {
        for var in [
            "AWS_ENDPOINT_URL_DYNAMODB",
            "AWS_ENDPOINT_URL_SECRETS_MANAGER",
        ] {
            let url = std::env::var(var).unwrap_or_default();
            if !url.starts_with("http://127.0.0.1") && !url.starts_with("http://localhost") {
                bail!(
                    "{var} must point at the local stack (run infra/local/bench.sh); got {url:?}"
                );
            }
        }
        // The functions' own SDK configuration (and HTTPS client).
        let aws = tokenwarden::runtime::aws_config().await;
        let ddb = aws_sdk_dynamodb::Client::new(&aws);
        let keyring_secret = Keyring::generate_secret("bench-1");
        let keyring = Arc::new(Keyring::from_secret(&keyring_secret)?);
        let fakes = provider_fakes::start_local().await?;
        let providers = Arc::new(HttpProviderClient::new(
            fakes.credentials(),
            fakes.endpoints(),
            Duration::from_secs(10),
        )?);
        let browser = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        // The test kit's key in moto for the links in mails.
        let mail_link_key = tokenwarden_integration::mail_link_key().await;
        let signer = Arc::new(KmsLinkSigner::new(
            aws_sdk_kms::Client::new(&aws),
            mail_link_key.clone(),
        ));
        Ok(Rig {
            aws,
            ddb,
            keyring,
            keyring_secret,
            fakes,
            providers,
            signer,
            mail_link_key,
            browser,
            made: Default::default(),
        })
    }

    /// A new table made by the adapter's own `create_table`.
    pub async fn table(&self, what: &str) -> anyhow::Result<String> {
        let name = format!("tw-bench-{what}-{}", uuid::Uuid::new_v4().simple());
        create_table(&self.ddb, &name)
            .await
            .with_context(|| format!("creating table {name}"))?;
        self.made.lock().expect("not poisoned").push(name.clone());
        Ok(name)
    }

    /// A fresh table whose stream is off, for measurements of reads over many items:
    /// DynamoDB Local (one SQLite file behind a lock) keeps a stream record per write, and
    /// with them every later write slows down until transactions time out waiting for the
    /// lock, and deleting the table takes minutes.
    pub async fn table_without_stream(&self, what: &str) -> anyhow::Result<String> {
        let table = self.table(what).await?;
        self.ddb
            .update_table()
            .table_name(&table)
            .stream_specification(
                aws_sdk_dynamodb::types::StreamSpecification::builder()
                    .stream_enabled(false)
                    .build()?,
            )
            .send()
            .await?;
        Ok(table)
    }

    /// Deletes a table a measurement is done with, so that the next measurement times
    /// DynamoDB Local without its items. A failure is only reported: nothing measured
    /// depends on it.
    pub async fn drop_table(&self, table: &str) {
        self.made
            .lock()
            .expect("not poisoned")
            .retain(|t| t != table);
        let started = Instant::now();
        match self.ddb.delete_table().table_name(table).send().await {
            Ok(_) => eprintln!(
                "bench: deleted table {table} in {:.1} s",
                started.elapsed().as_secs_f64()
            ),
            Err(e) => eprintln!("bench: warning: deleting table {table}: {e}"),
        }
    }

    /// Deletes every table made so far and not yet deleted: the sections before the cost
    /// model and the million leave their tables (and stream records) behind, and DynamoDB
    /// Local, one SQLite file, answers every later call more slowly while they exist.
    pub async fn drop_remaining(&self) {
        let tables = std::mem::take(&mut *self.made.lock().expect("not poisoned"));
        for table in tables {
            self.drop_table(&table).await;
        }
    }

    pub fn store(&self, table: &str) -> Arc<DynamoStore> {
        Arc::new(DynamoStore::new(self.ddb.clone(), table))
    }

    /// Follows the authorize URL like a browser that consents: returns the code and the
    /// state the fake network sent back.
    pub async fn authorize(
        &self,
        provider: Provider,
        redirect_uri: &str,
        verifier: Option<&str>,
    ) -> anyhow::Result<(Secret, String)> {
        let verifier = verifier.map(Secret::from);
        let state = format!("state-{}", uuid::Uuid::new_v4().simple());
        let url = self.providers.authorize_url(&AuthorizeRequest {
            provider,
            state: &state,
            redirect_uri,
            code_verifier: verifier.as_ref(),
            consent: Default::default(),
        })?;
        let back = provider_fakes::consent(&self.browser, &url)
            .await
            .with_context(|| format!("{provider}: authorize"))?;
        let code = back
            .query_pairs()
            .find(|(k, _)| k == "code")
            .map(|(_, v)| v.into_owned())
            .with_context(|| format!("{provider}: no code in the redirect"))?;
        Ok((Secret::from(code), state))
    }

    /// A real grant from the fakes: authorize (with PKCE where the network takes it), code
    /// exchange, and Meta's long-lived exchange where it applies.
    pub async fn grant(&self, provider: Provider) -> anyhow::Result<TokenGrant> {
        let verifier = provider.spec().pkce.used().then(|| {
            format!(
                "bench-verifier-{}{}",
                uuid::Uuid::new_v4().simple(),
                uuid::Uuid::new_v4().simple()
            )
        });
        let (code, _) = self
            .authorize(provider, REDIRECT_URI, verifier.as_deref())
            .await?;
        let grant = self
            .providers
            .exchange_code(
                provider,
                &code,
                REDIRECT_URI,
                verifier.map(Secret::from).as_ref(),
            )
            .await?;
        Ok(self.providers.long_lived(provider, grant).await?)
    }

    /// `n` accounts of `teams`, all due at `now` with a real grant each, spread over
    /// [`SWEEP_MIX`]: each makes exactly one provider call when swept (a check, or a
    /// refresh where the refresh is the check).
    pub async fn due_accounts(
        &self,
        ids: Vec<(TeamId, AccountId)>,
        now: DateTime<Utc>,
    ) -> anyhow::Result<Vec<Account>> {
        stream::iter(ids.into_iter().enumerate())
            .map(|(i, (team, id))| async move {
                let provider = SWEEP_MIX[i % SWEEP_MIX.len()];
                let grant = self.grant(provider).await?;
                let mut account = self.account(team, id, provider, &grant, now);
                // Last checked over a week ago: due for its check now.
                account.last_checked_at = Some(now - chrono::Duration::days(8));
                account.next_due_at = Some(now - chrono::Duration::minutes(1));
                anyhow::Ok(account)
            })
            .buffer_unordered(16)
            .try_collect()
            .await
    }

    /// An account holding `grant`, issued at `now`, as the callback stores it.
    pub fn account(
        &self,
        team: TeamId,
        id: AccountId,
        provider: Provider,
        grant: &TokenGrant,
        now: DateTime<Utc>,
    ) -> Account {
        let tokens: SealedTokens = seal_grant(&self.keyring, &team, provider, &id, grant, None);
        let l = lifetimes(provider, grant, now, None);
        let connected_at = now - chrono::Duration::days(30);
        Account {
            external_id: format!("ext-{id}"),
            display_name: format!("Bench {id}"),
            picture_url: Some(format!("https://cdn.example.com/{id}.png")),
            scopes: provider
                .spec()
                .default_scopes
                .iter()
                .map(|s| (*s).to_owned())
                .collect(),
            connected_by: UserId::parse("user-bench").unwrap_or_else(|e| panic!("{e}")),
            tokens,
            access_issued_at: now,
            access_expires_at: l.access_expires_at,
            refresh_expires_at: l.refresh_expires_at,
            data_access_expires_at: None,
            grant_owner: None,
            broken: None,
            failures: Failures::default(),
            last_checked_at: Some(now),
            last_refreshed_at: None,
            connected_at,
            updated_at: now,
            next_due_at: None,
            last_change: None,
            noted: None,
            version: 0,
            team,
            id,
            provider,
        }
    }

    /// A grant the fakes never issued, for accounts that are only stored and listed (their
    /// tokens are sealed like any other, never opened).
    pub fn synthetic_grant(provider: Provider, n: usize) -> TokenGrant {
        let spec = provider.spec();
        TokenGrant {
            access_token: Secret::from(format!("bench-{}-access-{n:06}", provider.id())),
            refresh_token: spec
                .keep_alive
                .uses_refresh_token()
                .then(|| Secret::from(format!("bench-{}-refresh-{n:06}", provider.id()))),
            expires_in: None,
            refresh_expires_in: None,
            scopes: None,
            user_id: None,
        }
    }

    /// The sweep as `expiry-sweep` wires it, on `store`, with the fakes as the networks.
    pub fn sweep(
        &self,
        store: Arc<DynamoStore>,
        due: Arc<dyn DueIndex>,
        providers: Arc<dyn ProviderClient>,
        clock: Arc<dyn Clock>,
        config: SweepConfig,
    ) -> Sweep {
        Sweep {
            accounts: store.clone(),
            due,
            prefs: store.clone(),
            ledger: store.clone(),
            leases: store,
            providers,
            mailer: Arc::new(NullMailer::default()),
            signer: self.signer.clone(),
            mail: Arc::new(mail_settings()),
            mail_soon: None,
            keyring: self.keyring.clone(),
            clock,
            config,
        }
    }
}

/// The bench's mail settings (its digests go to the null mailer).
pub fn mail_settings() -> MailSettings {
    let url = |raw: &str| url::Url::parse(raw).unwrap_or_else(|e| panic!("{raw}: {e}"));
    MailSettings::new(
        Branding {
            product: "Bench".into(),
            support_url: None,
            logo_url: None,
        },
        url("https://api.example.com"),
        url(&format!("{FRONTEND}/settings/accounts")),
    )
}

pub fn sweep_config() -> SweepConfig {
    SweepConfig::new("bench")
}

pub fn team(raw: &str) -> TeamId {
    TeamId::parse(raw).unwrap_or_else(|e| panic!("team id {raw:?}: {e}"))
}

pub fn account_id(raw: &str) -> AccountId {
    AccountId::parse(raw).unwrap_or_else(|e| panic!("account id {raw:?}: {e}"))
}

/// Stores accounts through the adapter's own `create_account` (a transaction of the
/// account item and its external-id item, as the callback writes them), `concurrency` at
/// a time. Returns the wall time.
pub async fn seed(
    store: &DynamoStore,
    accounts: Vec<Account>,
    concurrency: usize,
) -> anyhow::Result<Duration> {
    let started = Instant::now();
    stream::iter(accounts)
        .map(|account| async move {
            let mut attempt = 0u32;
            loop {
                attempt += 1;
                match store.create_account(&account).await {
                    Ok(_) => return anyhow::Ok(()),
                    // An earlier try went through although its answer was lost.
                    Err(StoreError::AlreadyExists) if attempt > 1 => return Ok(()),
                    // DynamoDB Local's transactions conflict under load: try again.
                    Err(StoreError::Conflict | StoreError::Backend(_)) if attempt < 8 => {
                        tokio::time::sleep(Duration::from_millis(20 << attempt)).await;
                    }
                    Err(e) => {
                        return Err(anyhow::Error::new(e)
                            .context(format!("creating account {}/{}", account.team, account.id)))
                    }
                }
            }
        })
        .buffer_unordered(concurrency)
        .try_collect::<()>()
        .await?;
    Ok(started.elapsed())
}

/// Stores many new accounts fast: the same two items `create_account` writes per account
/// (`DynamoStore::new_account_items`), 25 items per BatchWriteItem, `concurrency` batches
/// at a time, unprocessed items sent again. Returns the wall time.
pub async fn seed_batch(
    ddb: &aws_sdk_dynamodb::Client,
    store: &DynamoStore,
    accounts: &[Account],
    concurrency: usize,
) -> anyhow::Result<Duration> {
    use aws_sdk_dynamodb::types::{PutRequest, WriteRequest};
    let started = Instant::now();
    let items: Vec<_> = accounts
        .iter()
        .flat_map(|a| store.new_account_items(a))
        .collect();
    stream::iter(items.chunks(25))
        .map(|chunk| async move {
            let requests = chunk
                .iter()
                .map(|item| {
                    Ok(WriteRequest::builder()
                        .put_request(PutRequest::builder().set_item(Some(item.clone())).build()?)
                        .build())
                })
                .collect::<Result<Vec<_>, aws_sdk_dynamodb::error::BuildError>>()?;
            let mut pending = Some(HashMap::from([(store.table().to_owned(), requests)]));
            let mut attempt = 0u32;
            while let Some(batch) = pending.take() {
                attempt += 1;
                if attempt > 10 {
                    bail!("BatchWriteItem left items unprocessed 10 times");
                }
                if attempt > 1 {
                    tokio::time::sleep(Duration::from_millis(10 << attempt.min(6))).await;
                }
                let out = ddb
                    .batch_write_item()
                    .set_request_items(Some(batch))
                    .send()
                    .await
                    .context("BatchWriteItem")?;
                pending = out
                    .unprocessed_items()
                    .filter(|u| u.values().any(|v| !v.is_empty()))
                    .cloned();
            }
            anyhow::Ok(())
        })
        .buffer_unordered(concurrency)
        .try_collect::<()>()
        .await?;
    Ok(started.elapsed())
}

// ---- decorators ---------------------------------------------------------------------------

/// Mails nothing, counts what it was asked to send.
#[derive(Default)]
pub struct NullMailer {
    pub sent: AtomicU64,
}

#[async_trait]
impl Mailer for NullMailer {
    async fn send(&self, _email: &Email) -> Result<String, MailError> {
        let n = self.sent.fetch_add(1, Ordering::Relaxed);
        Ok(format!("bench-{n}"))
    }
}

/// The due index, counting queries and what they read.
pub struct CountingDue {
    inner: Arc<dyn DueIndex>,
    pub queries: AtomicU64,
    pub items: AtomicU64,
    pub items_read: AtomicU64,
}

impl CountingDue {
    pub fn new(inner: Arc<dyn DueIndex>) -> Self {
        Self {
            inner,
            queries: AtomicU64::new(0),
            items: AtomicU64::new(0),
            items_read: AtomicU64::new(0),
        }
    }
}

#[async_trait]
impl DueIndex for CountingDue {
    fn shards(&self) -> u16 {
        self.inner.shards()
    }

    async fn due_accounts(
        &self,
        shard: u16,
        before: DateTime<Utc>,
        limit: u32,
        cursor: Option<&Cursor>,
    ) -> Result<Page<DueItem>, StoreError> {
        let page = self
            .inner
            .due_accounts(shard, before, limit, cursor)
            .await?;
        self.queries.fetch_add(1, Ordering::Relaxed);
        self.items
            .fetch_add(page.items.len() as u64, Ordering::Relaxed);
        self.items_read
            .fetch_add(page.items_read, Ordering::Relaxed);
        Ok(page)
    }
}

/// The account store counting its calls (the test kit's decorator).
pub use tokenwarden_integration::{CountingAccounts, ObservedProviders, Op};

/// (list queries, other store calls) so far.
pub fn calls(counting: &CountingAccounts) -> (u64, u64) {
    let list = counting.observer.of(Op::List);
    (list, counting.observer.total() - list)
}

/// The provider client, counting its calls and the most in flight at once (the test
/// kit's decorator and counter).
pub type InFlight = ObservedProviders<tokenwarden_integration::InFlight>;

/// `inner`, counted.
pub fn in_flight(inner: Arc<dyn ProviderClient>) -> InFlight {
    ObservedProviders::new(inner, tokenwarden_integration::InFlight::default())
}
