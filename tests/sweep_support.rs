//! What tests/sweep/ stands on: a rig with the sweep wired to the local stack (DynamoDB
//! Local on a fresh table, the provider fakes in-process, SES v2 through the real
//! `SesMailer` to the SES stand-in), a simulated clock, accounts connected through the
//! fakes' real OAuth flow, a reader of the SES stand-in's store, a fault-injecting proxy in
//! front of SES, and the decorators the failure tests need.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration as StdDuration;

use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Duration, Utc};
use provider_fakes::{EndpointKind, FakeHandle, RecordedRequest};
use serde_json::{json, Value};
use tokenwarden::domain::{
    Account, AccountId, Cause, Clock, EmailAddress, Failures, HistoryEntry, ManualClock, Milestone,
    NotificationPrefs, Provider, Recipient, SchedulePolicy, StateAt, TeamId, Transition, UserId,
};
use tokenwarden::domain::{ExposeSecret, Secret};
use tokenwarden::grant::{lifetimes, renewal, seal_grant};
use tokenwarden::mail::{Email, MailError, Mailer, SesMailer};
use tokenwarden::providers::{
    AuthorizeRequest, HttpProviderClient, ProviderClient, RemoteAccount, TokenCheck, TokenGrant,
};
use tokenwarden::seal::{Binding, Keyring, TokenSlot};
use tokenwarden::store::dynamo::DynamoStore;
use tokenwarden::store::{AccountStore, Ledger, LedgerEntry, PrefsStore};
use tokenwarden::sweep::{Sweep, SweepConfig};
use tokenwarden_integration::{
    aws_config, dynamo, dynamo_with_stream, link_signer, mail_settings, t0, GrantCall, InFlight,
    InFlightGuard, ObservedProviders, ProviderObserver,
};
use url::Url;

pub const FRONTEND: &str = tokenwarden_integration::FRONTEND_URL;
pub const MAIL_FROM: &str = "alerts@tokenwarden.test";
const REDIRECT_URI: &str = "https://app.example.com/oauth/callback";

/// The moment of day `n`'s nightly run: one hour past the connect time of day 0, so a
/// milestone that falls on a day boundary is never a matter of milliseconds.
pub fn at_day(n: i64) -> DateTime<Utc> {
    t0() + Duration::days(n) + Duration::hours(1)
}

// ---- the provider client as the sweep sees it -----------------------------------------

/// How the sweep tests observe the real HTTP adapter on the provider fakes:
/// - calls in flight per network (the most seen at once), to check the sweep's
///   per-network limits;
/// - the network's clock on the simulated timeline. The fakes run on the wall clock, the
///   sweep on a `ManualClock`: a token the fake issued "now" expires, in the fake's
///   answer, 60 wall-clock days from now, which on the simulated timeline is 60 days from
///   the simulated moment of issue. Expiry times a check reports are moved by the
///   (simulated - wall) offset noted when the token was issued.
pub struct SimulatedNetworks {
    pub in_flight: InFlight,
    clock: Arc<ManualClock>,
    issued: Mutex<HashMap<String, Duration>>,
}

impl SimulatedNetworks {
    fn simulated(&self, token: &Secret, t: Option<DateTime<Utc>>) -> Option<DateTime<Utc>> {
        let offset = self
            .issued
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(token.expose_secret())
            .copied();
        match (t, offset) {
            (Some(t), Some(offset)) => Some(t + offset),
            (t, _) => t,
        }
    }
}

impl ProviderObserver for SimulatedNetworks {
    type Guard<'a> = InFlightGuard<'a>;

    fn enter(&self, provider: Provider) -> InFlightGuard<'_> {
        self.in_flight.enter(provider)
    }

    fn granted(&self, _provider: Provider, _call: GrantCall, grant: &TokenGrant) {
        let offset = self.clock.now() - Utc::now();
        self.issued
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(grant.access_token.expose_secret().to_owned(), offset);
    }

    fn checked(&self, token: &Secret, mut check: TokenCheck) -> TokenCheck {
        check.expires_at = self.simulated(token, check.expires_at);
        check.data_access_expires_at = self.simulated(token, check.data_access_expires_at);
        check
    }

    fn listed(&self, token: &Secret, mut accounts: Vec<RemoteAccount>) -> Vec<RemoteAccount> {
        for a in &mut accounts {
            a.data_access_expires_at = self.simulated(token, a.data_access_expires_at);
        }
        accounts
    }
}

// ---- the rig ------------------------------------------------------------------------------

pub struct Rig {
    pub fakes: FakeHandle,
    pub providers: Arc<ObservedProviders<SimulatedNetworks>>,
    pub store: DynamoStore,
    pub dynamo: aws_sdk_dynamodb::Client,
    pub table: String,
    pub keyring: Arc<Keyring>,
    /// The secret the keyring was read from (key `k1`), to build keyrings around it.
    pub keyring_secret: Secret,
    pub clock: Arc<ManualClock>,
    /// SES v2 straight to the stand-in (the SDK's own endpoint variable).
    pub ses: aws_sdk_sesv2::Client,
    /// The real KMS signer of the links in mails (moto).
    pub signer: Arc<dyn tokenwarden::mail::links::LinkSigner>,
    browser: reqwest::Client,
    /// Unique per test: recipient addresses carry it, so parallel tests' mails never mix.
    tag: String,
}

impl Rig {
    pub async fn new() -> Self {
        Self::with_provider_timeout(StdDuration::from_secs(5)).await
    }

    pub async fn with_provider_timeout(timeout: StdDuration) -> Self {
        Self::on_table(timeout, dynamo().await).await
    }

    /// The rig on a table whose stream is on (the events tests read it).
    #[allow(dead_code)] // tests/sweep/ shares this module and reads no stream
    pub async fn with_stream() -> Self {
        Self::on_table(StdDuration::from_secs(5), dynamo_with_stream().await).await
    }

    async fn on_table(
        timeout: StdDuration,
        (dynamo, table): (aws_sdk_dynamodb::Client, String),
    ) -> Self {
        let fakes = provider_fakes::start_local()
            .await
            .expect("the provider fakes start on a free port");
        let clock = Arc::new(ManualClock::at(t0()));
        let inner = HttpProviderClient::new(fakes.credentials(), fakes.endpoints(), timeout)
            .expect("the HTTP client builds");
        let providers = Arc::new(ObservedProviders::new(
            Arc::new(inner),
            SimulatedNetworks {
                in_flight: InFlight::default(),
                clock: clock.clone(),
                issued: Mutex::default(),
            },
        ));
        let store = DynamoStore::new(dynamo.clone(), table.clone());
        let keyring_secret = Keyring::generate_secret("k1");
        let keyring = Arc::new(Keyring::from_secret(&keyring_secret).expect("a fresh keyring"));
        let ses = aws_sdk_sesv2::Client::new(&aws_config("AWS_ENDPOINT_URL_SESV2").await);
        let browser = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("the browser client builds");
        Self {
            fakes,
            providers,
            store,
            dynamo,
            table,
            keyring,
            keyring_secret,
            clock,
            ses,
            signer: Arc::new(link_signer().await),
            browser,
            tag: uuid::Uuid::new_v4().simple().to_string()[..12].to_owned(),
        }
    }

    /// The sweep's settings in these tests: the defaults, with a short throttle pause.
    pub fn config(&self) -> SweepConfig {
        let mut config = SweepConfig::new("test-sweep");
        config.throttle_pause = StdDuration::from_millis(20);
        config
    }

    /// The real SES v2 mailer on `client`.
    pub fn mailer_on(&self, client: aws_sdk_sesv2::Client) -> SesMailer {
        SesMailer::new(
            client,
            EmailAddress::parse(MAIL_FROM).expect("an address"),
            Some("Maybe* Alerts"),
            None,
        )
    }

    /// The sweep as the function wires it, on this rig's stack.
    pub fn sweep(&self) -> Sweep {
        self.sweep_with(
            self.config(),
            Arc::new(self.store.clone()),
            Arc::new(self.mailer_on(self.ses.clone())),
        )
    }

    pub fn sweep_with(
        &self,
        config: SweepConfig,
        accounts: Arc<dyn AccountStore>,
        mailer: Arc<dyn Mailer>,
    ) -> Sweep {
        let store = Arc::new(self.store.clone());
        Sweep {
            accounts,
            due: store.clone(),
            prefs: store.clone(),
            ledger: store.clone(),
            leases: store,
            providers: self.providers.clone(),
            mailer,
            signer: self.signer.clone(),
            mail: Arc::new(mail_settings()),
            mail_soon: None,
            keyring: self.keyring.clone(),
            clock: self.clock.clone(),
            config,
        }
    }

    /// A recipient address no other test uses.
    pub fn address(&self, who: &str) -> EmailAddress {
        EmailAddress::parse(&format!("{who}.{}@example.com", self.tag)).expect("an address")
    }

    /// A team whose digests go to `recipients` (names), warned `lead_days` ahead.
    pub async fn team(&self, name: &str, recipients: &[&str], lead_days: &[u32]) -> TeamId {
        let team = TeamId::parse(&format!("{name}-{}", self.tag)).expect("a team id");
        for who in recipients {
            let recipient = Recipient::own(
                team.clone(),
                UserId::parse(who).expect("a user id"),
                self.address(&format!("{name}-{who}")),
                *who,
                self.clock.now(),
            );
            self.store
                .save_recipient(&recipient, None)
                .await
                .expect("recipient saved");
        }
        let prefs = NotificationPrefs {
            lead_days: lead_days.to_vec(),
            ..NotificationPrefs::defaults(team.clone())
        };
        self.store.put_prefs(&prefs).await.expect("prefs saved");
        team
    }

    /// The address of a team member as [`Rig::team`] made it.
    pub fn member(&self, team_name: &str, who: &str) -> EmailAddress {
        self.address(&format!("{team_name}-{who}"))
    }

    /// Authorizes at the fake like a browser, exchanges the code and makes the grant
    /// long-lived where the network does that; returns the grant and what it reaches.
    pub async fn grant(&self, provider: Provider) -> (TokenGrant, Vec<RemoteAccount>) {
        let verifier = provider
            .spec()
            .pkce
            .used()
            .then(|| format!("verifier-{}-0123456789", uuid::Uuid::new_v4().simple()));
        let verifier_secret = verifier.clone().map(Secret::from);
        let state = format!("state-{}", uuid::Uuid::new_v4().simple());
        let url = self
            .providers
            .authorize_url(&AuthorizeRequest {
                provider,
                state: &state,
                redirect_uri: REDIRECT_URI,
                code_verifier: verifier_secret.as_ref(),
                consent: Default::default(),
            })
            .expect("an authorize URL");
        let back = provider_fakes::consent(&self.browser, &url)
            .await
            .unwrap_or_else(|e| panic!("{provider}: authorize redirects back: {e:?}"));
        let code = back
            .query_pairs()
            .find(|(k, _)| k == "code")
            .map(|(_, v)| v.into_owned())
            .unwrap_or_else(|| panic!("{provider}: a code in {back}"));
        let grant = self
            .providers
            .exchange_code(
                provider,
                &Secret::from(code),
                REDIRECT_URI,
                verifier.map(Secret::from).as_ref(),
            )
            .await
            .unwrap_or_else(|e| panic!("{provider}: code exchange: {e}"));
        let grant = self
            .providers
            .long_lived(provider, grant)
            .await
            .unwrap_or_else(|e| panic!("{provider}: long-lived exchange: {e}"));
        let remote = self
            .providers
            .accounts(provider, &grant.access_token)
            .await
            .unwrap_or_else(|e| panic!("{provider}: accounts: {e}"));
        assert!(
            !remote.is_empty(),
            "{provider}: the grant reaches an account"
        );
        (grant, remote)
    }

    /// An account as connecting stores it at the clock's now, holding `grant`'s tokens
    /// (sealed for its own row) and the lifetimes the grant states; not stored yet.
    ///
    /// Facebook and Instagram-via-Facebook keep the user's long-lived (60-day) token here,
    /// so they are the networks whose connection cannot be renewed and must be warned
    /// about. `label` is the display name and makes the external id unique in the team.
    pub fn build(
        &self,
        provider: Provider,
        team: &TeamId,
        label: &str,
        grant: &TokenGrant,
        remote: &RemoteAccount,
    ) -> Account {
        let now = self.clock.now();
        let id = AccountId::generate();
        let l = lifetimes(provider, grant, now, None);
        let mut account = Account {
            team: team.clone(),
            tokens: seal_grant(&self.keyring, team, provider, &id, grant, None),
            id,
            provider,
            external_id: format!("{}-{label}", remote.external_id),
            display_name: label.to_owned(),
            picture_url: remote.picture_url.clone(),
            scopes: grant.scopes.clone().unwrap_or_else(|| {
                provider
                    .spec()
                    .default_scopes
                    .iter()
                    .map(|s| (*s).to_owned())
                    .collect()
            }),
            connected_by: UserId::parse("connector").expect("a user id"),
            access_issued_at: now,
            access_expires_at: l.access_expires_at,
            refresh_expires_at: l.refresh_expires_at,
            data_access_expires_at: remote.data_access_expires_at,
            grant_owner: remote.grant_owner.clone(),
            broken: None,
            failures: Failures::default(),
            last_checked_at: Some(now),
            last_refreshed_at: None,
            connected_at: now,
            updated_at: now,
            next_due_at: None,
            last_change: None,
            noted: None,
            version: 0,
        };
        account.next_due_at = account.next_due(now, &SchedulePolicy::default());
        account
    }

    /// Connects an account of `provider` to `team` through the fake's OAuth flow, at the
    /// clock's now, named after the network.
    pub async fn connect(&self, provider: Provider, team: &TeamId) -> Account {
        self.connect_named(provider, team, provider.id()).await
    }

    pub async fn connect_named(&self, provider: Provider, team: &TeamId, label: &str) -> Account {
        let (grant, remote) = self.grant(provider).await;
        let account = self.build(provider, team, label, &grant, &remote[0]);
        self.store
            .create_account(&account)
            .await
            .unwrap_or_else(|e| panic!("{provider}: create_account: {e}"))
    }

    /// What the OAuth callback does on a reconnect (the same domain method): fresh tokens
    /// from a new authorization in place, active again, failures cleared, the account's
    /// milestones cleared (but today's disconnected/recovered), and `recovered` recorded
    /// when it had been down.
    pub async fn reconnect(&self, account: &Account) -> Account {
        let now = self.clock.now();
        let (grant, _) = self.grant(account.provider).await;
        let mut account = self.account(&account.team, &account.id).await;
        if grant.refresh_token.is_some() {
            account.refresh_expires_at = None;
        }
        let before = StateAt::of(&account, now);
        let renewal = renewal(&account, &self.keyring, &grant, now);
        let transition = account.reconnected(
            renewal,
            tokenwarden::domain::Profile {
                display_name: account.display_name.clone(),
                picture_url: account.picture_url.clone(),
                grant_owner: account.grant_owner.clone(),
            },
            account.connected_by.clone(),
            now,
        );
        account.next_due_at = account.next_due(now, &SchedulePolicy::default());
        let entry = HistoryEntry::of_transition(
            transition,
            before,
            &account,
            now,
            &Cause::Callback {
                user: account.connected_by.clone(),
            },
        );
        let saved = self
            .store
            .update_account_with(&account, std::slice::from_ref(&entry))
            .await
            .expect("reconnect stored");
        self.store
            .clear_for_reconnect(&account.team, &account.id, now)
            .await
            .expect("milestones cleared");
        if transition == Transition::Recovered {
            self.store
                .record_pending(&LedgerEntry::pending(
                    &account.team,
                    &account.id,
                    Milestone::Recovered,
                    now,
                ))
                .await
                .expect("recovered recorded");
        }
        saved
    }

    pub async fn account(&self, team: &TeamId, id: &AccountId) -> Account {
        self.store
            .get_account(team, id)
            .await
            .expect("get_account")
            .expect("the account exists")
    }

    /// The account's refresh token as stored, opened.
    pub fn refresh_token_of(&self, account: &Account) -> String {
        let sealed = account.tokens.refresh.as_ref().expect("a refresh token");
        let binding = Binding {
            team: &account.team,
            provider: account.provider,
            account: &account.id,
        };
        self.keyring
            .open(sealed, binding, TokenSlot::Refresh)
            .expect("the refresh token opens")
            .expose_secret()
            .to_owned()
    }

    pub fn access_token_of(&self, account: &Account) -> Secret {
        let binding = Binding {
            team: &account.team,
            provider: account.provider,
            account: &account.id,
        };
        self.keyring
            .open(&account.tokens.access, binding, TokenSlot::Access)
            .expect("the access token opens")
    }

    /// Every provider call the fakes received.
    pub async fn log(&self) -> Vec<RecordedRequest> {
        self.fakes
            .control
            .requests()
            .await
            .expect("the request log")
    }

    /// The calls of one kind to one network.
    pub async fn calls(&self, provider: Provider, kind: EndpointKind) -> Vec<RecordedRequest> {
        self.log()
            .await
            .into_iter()
            .filter(|r| r.provider == Some(provider) && r.kind == Some(kind))
            .collect()
    }

    /// The raw item of an account (to copy its due index keys, or learn its shard).
    pub async fn raw_account(&self, account: &Account) -> HashMap<String, AttributeValue> {
        self.raw_item(
            &format!("TEAM#{}", account.team),
            &format!("ACCOUNT#{}", account.id),
        )
        .await
        .expect("the account item")
    }

    pub async fn raw_item(&self, pk: &str, sk: &str) -> Option<HashMap<String, AttributeValue>> {
        self.dynamo
            .get_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(pk.into()))
            .key("sk", AttributeValue::S(sk.into()))
            .consistent_read(true)
            .send()
            .await
            .expect("GetItem")
            .item
    }

    /// The due index shard an account is in (its team's).
    pub async fn shard_of(&self, account: &Account) -> u16 {
        let item = self.raw_account(account).await;
        let key = item
            .get("due_shard")
            .and_then(|v| v.as_s().ok())
            .expect("the account is in the due index");
        key.trim_start_matches("DUE#").parse().expect("a shard")
    }

    /// The team's pending ledger entries.
    pub async fn pending(&self, team: &TeamId) -> Vec<(AccountId, Milestone)> {
        self.store
            .pending_for_team(team)
            .await
            .expect("pending_for_team")
            .into_iter()
            .map(|e| (e.account, e.milestone))
            .collect()
    }

    /// Mails the SES stand-in holds for `to`, each digest with the (account, milestone)
    /// entries of its dispatch (named by the mail's dispatch header).
    pub async fn mails_to(&self, to: &EmailAddress) -> Vec<StoredMail> {
        let mut mails: Vec<StoredMail> = all_mails()
            .await
            .into_iter()
            .filter(|m| m.to.iter().any(|t| t == to.as_str()))
            .collect();
        for mail in &mut mails {
            let dispatch = mail
                .header(tokenwarden::mail::DISPATCH_HEADER)
                .map(str::to_owned);
            if let Some(id) = dispatch {
                mail.dispatched = self.dispatch_entries(&id).await;
            }
        }
        mails
    }

    /// The entries of the dispatch `id` (a Scan of this test's own table).
    pub async fn dispatch_entries(&self, id: &str) -> Vec<(String, Milestone)> {
        let out = self
            .dynamo
            .scan()
            .table_name(&self.table)
            .filter_expression("#k = :k AND dispatch_id = :id")
            .expression_attribute_names("#k", "kind")
            .expression_attribute_values(":k", AttributeValue::S("dispatch".into()))
            .expression_attribute_values(":id", AttributeValue::S(id.into()))
            .send()
            .await
            .expect("a scan of the test table");
        let items = out.items();
        assert_eq!(items.len(), 1, "one dispatch {id}");
        let text = |m: &HashMap<String, AttributeValue>, k: &str| {
            m.get(k)
                .and_then(|v| v.as_s().ok())
                .cloned()
                .unwrap_or_else(|| panic!("{k} of an entry"))
        };
        items[0]
            .get("entries")
            .and_then(|v| v.as_l().ok())
            .expect("the dispatch's entries")
            .iter()
            .map(|e| {
                let m = e.as_m().expect("an entry map");
                let milestone = Milestone::parse(&text(m, "milestone")).expect("a milestone");
                (text(m, "account_id"), milestone)
            })
            .collect()
    }
}

// ---- the SES stand-in's store ---------------------------------------------------------------

/// One message as the SES stand-in stored it.
#[derive(Debug, Clone)]
pub struct StoredMail {
    pub message_id: String,
    pub from: String,
    pub to: Vec<String>,
    pub subject: String,
    pub text: String,
    pub html: String,
    pub headers: Vec<(String, String)>,
    /// A digest's (account, milestone) entries, from its dispatch ([`Rig::mails_to`]).
    pub dispatched: Vec<(String, Milestone)>,
}

/// Every message in the SES stand-in (`GET $TOKENWARDEN_SES_STORE_URL`: `{"emails": [{
/// "messageId", "from", "destination": {"to": [...]}, "subject", "body": {"text",
/// "html"}, "at"}]}`).
pub async fn all_mails() -> Vec<StoredMail> {
    let url = std::env::var("TOKENWARDEN_SES_STORE_URL")
        .expect("TOKENWARDEN_SES_STORE_URL (eval \"$(infra/local/stack env)\")");
    let store: Value = reqwest::get(&url)
        .await
        .expect("the SES stand-in answers")
        .json()
        .await
        .expect("its store is JSON");
    let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
    store["emails"]
        .as_array()
        .expect("emails")
        .iter()
        .map(|m| StoredMail {
            message_id: text(&m["messageId"]),
            from: text(&m["from"]),
            to: m["destination"]["to"]
                .as_array()
                .map(|a| a.iter().map(text).collect())
                .unwrap_or_default(),
            subject: text(&m["subject"]),
            text: text(&m["body"]["text"]),
            html: text(&m["body"]["html"]),
            headers: m["headers"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .map(|h| (text(&h["name"]), text(&h["value"])))
                        .collect()
                })
                .unwrap_or_default(),
            dispatched: Vec::new(),
        })
        .collect()
}

/// One line of a digest: the account (from its reconnect link, `None` for a "connected
/// again" line, which has none) and what the line says (name, network, what happened).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Line {
    pub account: Option<String>,
    pub headline: String,
}

impl StoredMail {
    /// A header's value (the stand-in keeps the headers the mail was sent with).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The digest's lines, read from the text body (`- Name (Network)`, what happened, an
    /// optional `Reconnect: link`); each reconnect link is checked to be in the HTML body
    /// too.
    pub fn lines(&self) -> Vec<Line> {
        let mut lines = Vec::new();
        let mut text = self.text.lines().peekable();
        while let Some(line) = text.next() {
            let Some(name) = line.strip_prefix("- ") else {
                continue;
            };
            let what = text.next().unwrap_or_default().trim().to_owned();
            let account = match text
                .peek()
                .and_then(|l| l.trim().strip_prefix("Reconnect: "))
            {
                Some(link) => {
                    let link = link.to_owned();
                    text.next();
                    let href = link.replace('&', "&amp;");
                    assert!(
                        self.html.contains(&format!("href=\"{link}\""))
                            || self.html.contains(&format!("href=\"{href}\"")),
                        "the HTML body has the reconnect link {link}"
                    );
                    let link = Url::parse(&link).expect("a reconnect link");
                    assert!(link.as_str().starts_with(FRONTEND), "{link}");
                    link.query_pairs()
                        .find(|(k, _)| k == "reconnect")
                        .map(|(_, v)| v.into_owned())
                }
                None => None,
            };
            lines.push(Line {
                account,
                headline: format!("{name} {what}"),
            });
        }
        lines
    }

    /// (account id, milestone) of every entry of the digest, sorted, from its dispatch;
    /// every entry that needs a reconnect has its link in the text.
    pub fn entries(&self) -> Vec<(String, Milestone)> {
        let mut entries = self.dispatched.clone();
        entries.sort();
        let linked: Vec<String> = self.lines().into_iter().filter_map(|l| l.account).collect();
        for (account, milestone) in &entries {
            if *milestone != Milestone::Recovered {
                assert!(
                    linked.contains(account),
                    "{account} has a reconnect link in {}",
                    self.text
                );
            }
        }
        entries
    }
}

// ---- SES fault proxy ------------------------------------------------------------------------

/// An SES v2 error, answered in SES v2's wire format (restJson1: the error type in
/// `x-amzn-ErrorType`, `{"message": ...}` in the body).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SesFault {
    /// 429 `TooManyRequestsException`.
    Throttled,
    /// 400 `MessageRejected`.
    Rejected,
    /// 400 `SendingPausedException`.
    SendingPaused,
}

impl SesFault {
    fn answer(self) -> Response {
        let (status, kind, message) = match self {
            SesFault::Throttled => (
                StatusCode::TOO_MANY_REQUESTS,
                "TooManyRequestsException",
                "Too many requests have been made to the operation.",
            ),
            SesFault::Rejected => (
                StatusCode::BAD_REQUEST,
                "MessageRejected",
                "Email address is not verified. The following identities failed the check.",
            ),
            SesFault::SendingPaused => (
                StatusCode::BAD_REQUEST,
                "SendingPausedException",
                "Sending is paused for this account.",
            ),
        };
        let mut response = (
            status,
            [("content-type", "application/json")],
            serde_json::json!({ "message": message }).to_string(),
        )
            .into_response();
        // As SES sends it: the type, then a colon and a namespace URL the SDK strips.
        let header = format!("{kind}:http://internal.amazon.com/coral/com.amazonaws.sesv2/");
        response.headers_mut().insert(
            "x-amzn-ErrorType",
            HeaderValue::from_str(&header).expect("a header value"),
        );
        response.headers_mut().insert(
            "x-amzn-RequestId",
            HeaderValue::from_static("00000000-0000-0000-0000-000000000000"),
        );
        response
    }
}

#[derive(Debug, Clone)]
struct SesRule {
    fault: SesFault,
    /// Matching sends let through before the fault starts.
    pass_first: u32,
    /// Sends answered with the fault; `None`: until cleared.
    times: Option<u32>,
    /// Only sends to these addresses match; `None`: every send.
    only_to: Option<Vec<String>>,
}

/// One `SendEmail` the proxy saw.
#[derive(Debug, Clone)]
pub struct SendSeen {
    pub to: Vec<String>,
    pub status: u16,
}

struct ProxyState {
    upstream: String,
    http: reqwest::Client,
    rule: Mutex<Option<SesRule>>,
    sends: Mutex<Vec<SendSeen>>,
}

/// A small HTTP proxy in front of the SES stand-in that answers `SendEmail` calls with
/// SES v2's real errors on switch, and forwards everything else.
pub struct SesProxy {
    pub url: String,
    state: Arc<ProxyState>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for SesProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl SesProxy {
    pub async fn start() -> Self {
        let upstream = std::env::var("AWS_ENDPOINT_URL_SESV2")
            .expect("AWS_ENDPOINT_URL_SESV2 (eval \"$(infra/local/stack env)\")");
        let state = Arc::new(ProxyState {
            upstream: upstream.trim_end_matches('/').to_owned(),
            http: reqwest::Client::new(),
            rule: Mutex::default(),
            sends: Mutex::default(),
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a free port");
        let url = format!("http://{}", listener.local_addr().expect("an address"));
        let app = axum::Router::new()
            .fallback(proxy)
            .with_state(state.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { url, state, task }
    }

    /// An SES v2 client on the proxy: the SDK's configuration from the environment with
    /// the endpoint moved, standard retries (3 attempts) with a short backoff.
    pub async fn client(&self) -> aws_sdk_sesv2::Client {
        let shared = aws_config("AWS_ENDPOINT_URL_SESV2").await;
        let config = aws_sdk_sesv2::config::Builder::from(&shared)
            .endpoint_url(&self.url)
            .retry_config(
                aws_sdk_sesv2::config::retry::RetryConfig::standard()
                    .with_initial_backoff(StdDuration::from_millis(5)),
            )
            .build();
        aws_sdk_sesv2::Client::from_conf(config)
    }

    /// Answers matching sends with `fault`: after `pass_first` of them went through, the
    /// next `times` (or all, until cleared).
    pub fn fail(&self, fault: SesFault, pass_first: u32, times: Option<u32>) {
        *self.state.rule.lock().unwrap_or_else(|e| e.into_inner()) = Some(SesRule {
            fault,
            pass_first,
            times,
            only_to: None,
        });
    }

    /// Answers every send to one of `to` with `fault`, until cleared.
    pub fn fail_to(&self, fault: SesFault, to: &[&EmailAddress]) {
        *self.state.rule.lock().unwrap_or_else(|e| e.into_inner()) = Some(SesRule {
            fault,
            pass_first: 0,
            times: None,
            only_to: Some(to.iter().map(|a| a.as_str().to_owned()).collect()),
        });
    }

    pub fn clear(&self) {
        *self.state.rule.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }

    /// Every `SendEmail` call the proxy received, with the status it answered.
    pub fn sends(&self) -> Vec<SendSeen> {
        self.state
            .sends
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

async fn proxy(
    State(state): State<Arc<ProxyState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let is_send = method == Method::POST && uri.path() == "/v2/email/outbound-emails";
    if is_send {
        let to: Vec<String> = serde_json::from_slice::<Value>(&body)
            .ok()
            .and_then(|b| {
                b["Destination"]["ToAddresses"].as_array().map(|a| {
                    a.iter()
                        .filter_map(|v| v.as_str().map(str::to_owned))
                        .collect()
                })
            })
            .unwrap_or_default();
        let fault = {
            let mut rule = state.rule.lock().unwrap_or_else(|e| e.into_inner());
            match rule.as_mut() {
                Some(r)
                    if r.only_to
                        .as_ref()
                        .is_none_or(|only| to.iter().any(|t| only.contains(t))) =>
                {
                    if r.pass_first > 0 {
                        r.pass_first -= 1;
                        None
                    } else {
                        let fault = r.fault;
                        match &mut r.times {
                            Some(0) => None,
                            Some(n) => {
                                *n -= 1;
                                Some(fault)
                            }
                            None => Some(fault),
                        }
                    }
                }
                _ => None,
            }
        };
        if let Some(fault) = fault {
            let answer = fault.answer();
            record(&state, to, answer.status().as_u16());
            return answer;
        }
        let answer = forward(&state, method, &uri, &headers, body).await;
        record(&state, to, answer.status().as_u16());
        return answer;
    }
    forward(&state, method, &uri, &headers, body).await
}

fn record(state: &ProxyState, to: Vec<String>, status: u16) {
    state
        .sends
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(SendSeen { to, status });
}

async fn forward(
    state: &ProxyState,
    method: Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    let mut request = state
        .http
        .request(method, format!("{}{path}", state.upstream));
    for (name, value) in headers {
        if name != "host" && name != "content-length" {
            request = request.header(name, value);
        }
    }
    match request.body(body).send().await {
        Ok(upstream) => {
            let status = upstream.status();
            let mut out = HeaderMap::new();
            for (name, value) in upstream.headers() {
                if name != "content-length" && name != "transfer-encoding" {
                    out.insert(name.clone(), value.clone());
                }
            }
            let body = upstream.bytes().await.unwrap_or_default();
            (status, out, body).into_response()
        }
        Err(e) => (StatusCode::BAD_GATEWAY, e.to_string()).into_response(),
    }
}

// ---- decorators -----------------------------------------------------------------------------

/// A mailer that sends `sends` messages through `inner`, then hangs on the next one, as
/// an invocation does when it is killed there (the test aborts the task).
pub struct HangsAfter {
    inner: SesMailer,
    left: Mutex<u32>,
    pub hung: tokio::sync::Notify,
}

impl HangsAfter {
    pub fn new(inner: SesMailer, sends: u32) -> Self {
        Self {
            inner,
            left: Mutex::new(sends),
            hung: tokio::sync::Notify::new(),
        }
    }
}

#[async_trait]
impl Mailer for HangsAfter {
    async fn send(&self, email: &Email) -> Result<String, MailError> {
        let go = {
            let mut left = self.left.lock().unwrap_or_else(|e| e.into_inner());
            match left.checked_sub(1) {
                Some(n) => {
                    *left = n;
                    true
                }
                None => false,
            }
        };
        if !go {
            self.hung.notify_one();
            std::future::pending::<()>().await;
        }
        self.inner.send(email).await
    }
}

// ---- SQS (moto) ----------------------------------------------------------------------------

/// An SQS event as Lambda hands a batch over.
pub fn sqs_event(records: &[(String, String)]) -> Value {
    json!({ "Records": records.iter().map(|(id, body)| json!({
        "messageId": id,
        "receiptHandle": format!("handle-{id}"),
        "body": body,
        "attributes": {"ApproximateReceiveCount": "1"},
        "messageAttributes": {},
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:tokenwarden-sweep",
        "awsRegion": "us-east-1"
    })).collect::<Vec<_>>() })
}

/// A new queue in moto.
pub async fn sqs_queue() -> (aws_sdk_sqs::Client, String) {
    let sqs = aws_sdk_sqs::Client::new(&aws_config("AWS_ENDPOINT_URL_SQS").await);
    let url = sqs
        .create_queue()
        .queue_name(format!("tw-sweep-{}", uuid::Uuid::new_v4().simple()))
        .send()
        .await
        .expect("a queue in moto")
        .queue_url
        .expect("its URL");
    (sqs, url)
}

/// Receives until `want` messages came or the queue stays empty, and deletes what it
/// received, as Lambda does after a successful invocation (so nothing comes back after the
/// visibility timeout).
pub async fn take(sqs: &aws_sdk_sqs::Client, url: &str, want: usize) -> Vec<(String, String)> {
    let mut got = Vec::new();
    let mut empty = 0;
    while got.len() < want && empty < 2 {
        let out = sqs
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .send()
            .await
            .expect("ReceiveMessage");
        let messages = out.messages.unwrap_or_default();
        if messages.is_empty() {
            empty += 1;
        }
        for m in messages {
            if let Some(handle) = &m.receipt_handle {
                sqs.delete_message()
                    .queue_url(url)
                    .receipt_handle(handle)
                    .send()
                    .await
                    .expect("DeleteMessage");
            }
            got.push((m.message_id.expect("an id"), m.body.expect("a body")));
        }
    }
    got
}

// ---- mail: what SES says back, the links in mails -------------------------------------------

/// The real SES mailer, killed right after SES accepted a mail: the first `sends` go
/// through and return; the next one reaches SES, is accepted, and then never returns (as
/// a process killed between SES's answer and the ledger write). Every mail SES accepted is
/// kept with its message id, so a test can play SES's `Send` event for it.
pub struct DiesAfterSes {
    inner: SesMailer,
    left: Mutex<u32>,
    pub accepted: Mutex<Vec<(Email, String)>>,
    pub died: tokio::sync::Notify,
}

impl DiesAfterSes {
    pub fn new(inner: SesMailer, sends: u32) -> Self {
        Self {
            inner,
            left: Mutex::new(sends),
            accepted: Mutex::new(Vec::new()),
            died: tokio::sync::Notify::new(),
        }
    }

    pub fn accepted(&self) -> Vec<(Email, String)> {
        self.accepted
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

#[async_trait]
impl Mailer for DiesAfterSes {
    async fn send(&self, email: &Email) -> Result<String, MailError> {
        let id = self.inner.send(email).await?;
        self.accepted
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((email.clone(), id.clone()));
        let last = {
            let mut left = self.left.lock().unwrap_or_else(|e| e.into_inner());
            match left.checked_sub(1) {
                Some(n) => {
                    *left = n;
                    false
                }
                None => true,
            }
        };
        if last {
            self.died.notify_one();
            std::future::pending::<()>().await;
        }
        Ok(id)
    }
}

/// One SES event about `email` (`detail_type` "Email Sent", "Email Bounced", "Email
/// Complaint Received"), as EventBridge delivers it to the feedback queue: the documented
/// sample in `events/mail-feedback/` with this mail's message id, recipient and tags.
pub fn ses_event(sample: &str, email: &Email, message_id: &str) -> String {
    ses_event_for(sample, &email.to, &email.tags, message_id)
}

/// [`ses_event`] for a mail to `to` tagged `tags`.
pub fn ses_event_for(
    sample: &str,
    to: &EmailAddress,
    tags: &tokenwarden::mail::MailTags,
    message_id: &str,
) -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../events/mail-feedback")
        .join(sample);
    let sqs: Value = serde_json::from_str(&std::fs::read_to_string(&path).expect("a sample"))
        .expect("a sample SQS event");
    let mut event: Value =
        serde_json::from_str(sqs["Records"][0]["body"].as_str().expect("a body")).expect("JSON");
    let mail = &mut event["detail"]["mail"];
    mail["messageId"] = message_id.into();
    mail["destination"] = json!([to.as_str()]);
    let mut all = serde_json::Map::new();
    all.insert("ses:configuration-set".into(), json!(["tokenwarden-mail"]));
    for (name, value) in tags.pairs() {
        all.insert(name.to_owned(), json!([value]));
    }
    mail["tags"] = Value::Object(all);
    event.to_string()
}

/// The feedback function's work on this rig's table.
impl Rig {
    pub fn feedback(&self) -> tokenwarden::mail::feedback::FeedbackService {
        let store = Arc::new(self.store.clone());
        tokenwarden::mail::feedback::FeedbackService {
            prefs: store.clone(),
            ledger: store,
            clock: self.clock.clone(),
        }
    }

    /// Hands SES events to the feedback function as one SQS batch; returns the ids of the
    /// records it reported as failed.
    pub async fn feed(&self, bodies: &[String]) -> Vec<String> {
        let records: Vec<(String, String)> = bodies
            .iter()
            .enumerate()
            .map(|(i, b)| (format!("m-{i}"), b.clone()))
            .collect();
        let batch: aws_lambda_events::event::sqs::SqsEvent =
            serde_json::from_value(sqs_event(&records)).expect("an SQS event");
        self.feedback()
            .handle(batch)
            .await
            .batch_item_failures
            .into_iter()
            .map(|f| f.item_identifier)
            .collect()
    }

    /// The recipient rules as the functions wire them, on this rig's table and clock.
    pub async fn recipients(&self) -> tokenwarden::mail::recipients::Recipients {
        tokenwarden::mail::recipients::Recipients {
            prefs: Arc::new(self.store.clone()),
            mailer: Arc::new(self.mailer_on(self.ses.clone())),
            signer: self.signer.clone(),
            settings: Arc::new(mail_settings()),
            clock: self.clock.clone(),
        }
    }

    /// Follows a link of a mail on the `mail-links` function: `method` to the link's URL
    /// as a mail client or browser sends it (`accept`); returns status and body.
    pub async fn follow(&self, method: &str, link: &Url, accept: &str) -> (u16, String) {
        let api = tokenwarden::api::mail_links::MailLinksApi {
            recipients: self.recipients().await,
        };
        let query: serde_json::Map<String, Value> = link
            .query_pairs()
            .map(|(k, v)| (k.into_owned(), Value::String(v.into_owned())))
            .collect();
        let event = json!({
            "version": "2.0",
            "routeKey": format!("{method} {}", link.path()),
            "rawPath": link.path(),
            "rawQueryString": link.query().unwrap_or(""),
            "queryStringParameters": query,
            "headers": {"accept": accept, "content-type": "application/x-www-form-urlencoded"},
            "requestContext": {"http": {"method": method, "path": link.path(),
                "protocol": "HTTP/1.1", "sourceIp": "203.0.113.9", "userAgent": "mail client"},
                "requestId": "r", "routeKey": format!("{method} {}", link.path()),
                "stage": "$default", "accountId": "123456789012", "apiId": "api",
                "domainName": "api.example.com", "domainPrefix": "api",
                "time": "01/Dec/2026:00:00:00 +0000", "timeEpoch": 0},
            "body": (method == "POST").then_some("List-Unsubscribe=One-Click"),
            "isBase64Encoded": false,
        });
        let req = lambda_http::request::from_str(&event.to_string()).expect("a payload 2.0 event");
        let resp = tokenwarden::api::mail_links::handle(&api, req).await;
        let status = resp.status().as_u16();
        let body = match resp.body() {
            lambda_http::Body::Text(t) => t.clone(),
            lambda_http::Body::Binary(b) => String::from_utf8_lossy(b).into_owned(),
            _ => String::new(),
        };
        (status, body)
    }

    /// The team's recipient of `email`.
    pub async fn recipient(
        &self,
        team: &TeamId,
        email: &EmailAddress,
    ) -> Option<tokenwarden::domain::Recipient> {
        self.store
            .recipient(team, &tokenwarden::domain::RecipientId::of(email))
            .await
            .expect("a recipient read")
    }
}

impl StoredMail {
    /// The digest's unsubscribe link: the `List-Unsubscribe` header's, which the text and
    /// HTML parts carry too.
    pub fn unsubscribe_link(&self) -> Url {
        let header = self
            .header("List-Unsubscribe")
            .unwrap_or_else(|| panic!("a List-Unsubscribe header in {:?}", self.headers));
        let link = header
            .strip_prefix('<')
            .and_then(|h| h.strip_suffix('>'))
            .expect("<URL>");
        assert!(link.starts_with("https://"), "{link}");
        assert!(self.text.contains(link), "the text part has the link");
        assert!(
            self.html
                .contains(&format!("href=\"{}\"", link.replace('&', "&amp;")))
                || self.html.contains(&format!("href=\"{link}\"")),
            "the HTML part links it"
        );
        Url::parse(link).expect("a URL")
    }
}
