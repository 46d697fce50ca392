//! OAuth connect and reconnect (functions `oauth-start` and `oauth-callback`), through the
//! handlers the functions run, fed with the sample events of `events/`, over the wire:
//! DynamoDB Local (a fresh table per test), the provider fakes in-process (a fresh fake per
//! test) reached by the real HTTP provider client, a browser that never follows redirects.
//! Every response is checked against `infra/openapi.yaml` (see `api_support::read`).

#[allow(dead_code)]
#[path = "../api_support.rs"]
mod api_support;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration as StdDuration;

use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{Duration, Utc};
use provider_fakes::{EndpointKind, FakeHandle, FakeUser, Fault, RecordedRequest, SettingsPatch};
use serde_json::json;
use tokenwarden::api::oauth_callback::{self, CallbackApi};
use tokenwarden::api::oauth_start::{self, StartApi};
use tokenwarden::domain::{
    Account, AccountId, Broken, Clock, ManualClock, Milestone, OriginAllowlist, Provider, Reason,
    ReturnUrl, Status,
};
use tokenwarden::domain::{ExposeSecret, Secret};
use tokenwarden::oauth::{Callback, CallbackBase, Start, STATE_LIFETIME};
use tokenwarden::providers::{
    AuthorizeRequest, Credentials, GraphVersion, HeldTokens, HttpProviderClient, NetworkSettings,
    ProviderClient, ProviderError, RemoteAccount, TokenCheck, TokenGrant,
};
use tokenwarden::seal::{Binding, Keyring, TokenSlot};
use tokenwarden::store::dynamo::DynamoStore;
use tokenwarden::store::{AccountStore, Ledger, LedgerEntry, MailState, OAuthState, StateStore};
use tokenwarden_integration::{account_id, team};
use url::Url;

use api_support::{read, Event, LogCapture, Resp, FRONTEND};

const CALLBACK_BASE: &str = "https://api.example.com";
const TEAM: &str = "team-demo";
const USER: &str = "user-ana";
const SETTINGS: &str = "https://app.example.com/settings/social";

// ---- the harness -------------------------------------------------------------------------

/// The real HTTP provider client, keeping every grant the networks handed out (in order),
/// so a test knows exactly what the fake returned.
struct Recording {
    inner: HttpProviderClient,
    grants: Mutex<Vec<(Provider, TokenGrant)>>,
}

impl Recording {
    fn keep(&self, provider: Provider, grant: &TokenGrant) {
        self.grants
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((provider, grant.clone()));
    }

    /// The last grant of `provider` (after the long-lived exchange where there is one).
    fn last_grant(&self, provider: Provider) -> TokenGrant {
        self.grants
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .rev()
            .find(|(p, _)| *p == provider)
            .map(|(_, g)| g.clone())
            .expect("a grant was handed out")
    }
}

#[async_trait]
impl ProviderClient for Recording {
    fn offered(&self) -> Vec<Provider> {
        self.inner.offered()
    }

    fn authorize_url(&self, request: &AuthorizeRequest<'_>) -> Result<Url, ProviderError> {
        self.inner.authorize_url(request)
    }

    async fn exchange_code(
        &self,
        provider: Provider,
        code: &Secret,
        redirect_uri: &str,
        code_verifier: Option<&Secret>,
    ) -> Result<TokenGrant, ProviderError> {
        let grant = self
            .inner
            .exchange_code(provider, code, redirect_uri, code_verifier)
            .await?;
        self.keep(provider, &grant);
        Ok(grant)
    }

    async fn long_lived(
        &self,
        provider: Provider,
        grant: TokenGrant,
    ) -> Result<TokenGrant, ProviderError> {
        let grant = self.inner.long_lived(provider, grant).await?;
        self.keep(provider, &grant);
        Ok(grant)
    }

    async fn refresh(
        &self,
        provider: Provider,
        access_token: &Secret,
        refresh_token: Option<&Secret>,
    ) -> Result<TokenGrant, ProviderError> {
        self.inner
            .refresh(provider, access_token, refresh_token)
            .await
    }

    async fn check(
        &self,
        provider: Provider,
        access_token: &Secret,
    ) -> Result<TokenCheck, ProviderError> {
        self.inner.check(provider, access_token).await
    }

    async fn accounts(
        &self,
        provider: Provider,
        access_token: &Secret,
    ) -> Result<Vec<RemoteAccount>, ProviderError> {
        self.inner.accounts(provider, access_token).await
    }

    async fn revoke(
        &self,
        provider: Provider,
        tokens: HeldTokens<'_>,
    ) -> Result<(), ProviderError> {
        self.inner.revoke(provider, tokens).await
    }
}

/// Both OAuth handlers on a fresh table, with a fresh provider fake and a manual clock.
struct OAuth {
    store: Arc<DynamoStore>,
    dynamo: aws_sdk_dynamodb::Client,
    fakes: FakeHandle,
    providers: Arc<Recording>,
    keyring: Arc<Keyring>,
    clock: Arc<ManualClock>,
    start_api: StartApi,
    callback_api: CallbackApi,
    /// A browser that never follows a redirect: each hop is read by hand.
    browser: reqwest::Client,
}

impl OAuth {
    async fn new() -> Self {
        let fakes = provider_fakes::start_local()
            .await
            .expect("the provider fakes start");
        let credentials = fakes.credentials();
        Self::with_credentials(fakes, credentials).await
    }

    async fn with_credentials(fakes: FakeHandle, credentials: Credentials) -> Self {
        Self::with(fakes, credentials, NetworkSettings::default()).await
    }

    /// With the networks' settings (Graph version, Google's testing status).
    async fn with_settings(settings: NetworkSettings) -> Self {
        let fakes = provider_fakes::start_local()
            .await
            .expect("the provider fakes start");
        let credentials = fakes.credentials();
        Self::with(fakes, credentials, settings).await
    }

    async fn with(fakes: FakeHandle, credentials: Credentials, settings: NetworkSettings) -> Self {
        let (dynamo, table) = tokenwarden_integration::dynamo().await;
        let store = Arc::new(DynamoStore::new(dynamo.clone(), table));
        let providers = Arc::new(Recording {
            inner: HttpProviderClient::new(
                credentials,
                fakes.endpoints(),
                StdDuration::from_secs(5),
            )
            .expect("the HTTP client builds")
            .with_settings(settings),
            grants: Mutex::default(),
        });
        let keyring = Arc::new(
            Keyring::from_secret(&Keyring::generate_secret("k1")).expect("a fresh keyring"),
        );
        let clock = Arc::new(ManualClock::at(Utc::now()));
        let origins = OriginAllowlist::parse(&format!("{FRONTEND}, http://localhost:5173"))
            .expect("test origins parse");
        let start_api = StartApi {
            start: Start {
                accounts: store.clone(),
                states: store.clone(),
                providers: providers.clone(),
                clock: clock.clone(),
                callback: CallbackBase::parse(CALLBACK_BASE).expect("callback base"),
            },
            default_return_to: ReturnUrl::parse(SETTINGS, &origins).expect("default return_to"),
            http: api_support::http_config(),
        };
        let callback_api = CallbackApi {
            http: api_support::http_config(),
            callback: Callback {
                team_account_limit: tokenwarden::oauth::MAX_ACCOUNTS_PER_TEAM,
                accounts: store.clone(),
                states: store.clone(),
                ledger: store.clone(),
                providers: providers.clone(),
                keyring: keyring.clone(),
                clock: clock.clone(),
            },
        };
        let browser = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("a browser");
        Self {
            store,
            dynamo,
            fakes,
            providers,
            keyring,
            clock,
            start_api,
            callback_api,
            browser,
        }
    }

    async fn start(&self, event: &Event) -> Resp {
        let resp = oauth_start::handle(&self.start_api, event.request()).await;
        read(&event.method_str(), &event.path_str(), resp)
    }

    /// Runs the callback handler; every answer must carry the no-referrer and no-store
    /// headers.
    async fn callback(&self, event: &Event) -> Resp {
        let resp = oauth_callback::handle(&self.callback_api, event.request()).await;
        let resp = read(&event.method_str(), &event.path_str(), resp);
        assert_eq!(
            resp.header("referrer-policy"),
            Some("no-referrer"),
            "{}",
            resp.text
        );
        assert_eq!(
            resp.header("cache-control"),
            Some("no-store"),
            "{}",
            resp.text
        );
        resp
    }

    /// `POST /connections/{provider}/start` for the default caller; the authorize URL.
    async fn start_connect(&self, provider: Provider) -> Url {
        let resp = self.start(&connect_event(provider.id())).await;
        assert_eq!(resp.status, 200, "{}", resp.text);
        authorize_url(&resp)
    }

    /// `POST /accounts/{id}/reconnect` for the default caller; the authorize URL.
    async fn start_reconnect(&self, id: &AccountId) -> Url {
        let resp = self.start(&reconnect_event(id.as_str())).await;
        assert_eq!(resp.status, 200, "{}", resp.text);
        authorize_url(&resp)
    }

    /// The browser at the network's authorize page: where it is sent next.
    async fn authorize(&self, url: &Url) -> Url {
        provider_fakes::consent(&self.browser, url)
            .await
            .unwrap_or_else(|e| panic!("authorize answered {e:?}"))
    }

    /// `POST /connections/complete {handle}` as `team`/`user`.
    async fn complete_as(&self, handle: &str, team_id: &str, user: &str) -> Resp {
        let event = Event::load("oauth-callback/complete.json")
            .caller(team_id, user)
            .body(&serde_json::json!({ "handle": handle }));
        let resp = oauth_callback::handle(&self.callback_api, event.request()).await;
        read(&event.method_str(), &event.path_str(), resp)
    }

    /// Where the callback sent the browser; for `result=pending`, what the frontend does
    /// next: complete it as the person who started the authorization (the default caller),
    /// and land on what was connected.
    async fn land(&self, resp: &Resp) -> Landing {
        let first = landing(resp);
        if first.result != "pending" {
            return first;
        }
        let handle = param(&first.url, "handle").expect("a handle");
        let done = self.complete_as(&handle, TEAM, USER).await;
        assert_eq!(done.status, 200, "{}", done.text);
        let mut accounts: Vec<AccountId> = done.json["accounts"]
            .as_array()
            .expect("accounts")
            .iter()
            .map(|a| account_id(a["id"].as_str().expect("an id")))
            .collect();
        // A reconnect's answer always names its account.
        if let (true, Some(id)) = (accounts.is_empty(), done.json["account"].as_str()) {
            accounts.push(account_id(id));
        }
        Landing {
            url: first.url,
            result: done.json["result"].as_str().expect("a result").to_owned(),
            accounts,
            reason: done.json["reason"].as_str().map(str::to_owned),
            completion: Some(done),
        }
    }

    /// start → authorize → callback → complete for a new connection; where it landed.
    async fn connect(&self, provider: Provider) -> Landing {
        let authorize = self.start_connect(provider).await;
        let back = self.authorize(&authorize).await;
        let resp = self.callback(&callback_event(&back)).await;
        self.land(&resp).await
    }

    async fn stored(&self, id: &AccountId) -> Account {
        self.store
            .get_account(&team(TEAM), id)
            .await
            .expect("the store answers")
            .unwrap_or_else(|| panic!("account {id} is stored"))
    }

    fn open(&self, account: &Account, slot: TokenSlot) -> Option<String> {
        let binding = Binding {
            team: &account.team,
            provider: account.provider,
            account: &account.id,
        };
        let sealed = match slot {
            TokenSlot::Access => Some(&account.tokens.access),
            TokenSlot::Refresh => account.tokens.refresh.as_ref(),
        }?;
        Some(
            self.keyring
                .open(sealed, binding, slot)
                .expect("the sealed token opens on its row")
                .expose_secret()
                .to_owned(),
        )
    }

    async fn log(&self) -> Vec<RecordedRequest> {
        self.fakes
            .control
            .requests()
            .await
            .expect("the fakes' request log")
    }

    /// Every item of the table, sorted by key: "nothing changed" is this, equal.
    async fn items(&self) -> Vec<HashMap<String, AttributeValue>> {
        let mut items = Vec::new();
        let mut start = None;
        loop {
            let out = self
                .dynamo
                .scan()
                .table_name(self.store.table())
                .consistent_read(true)
                .set_exclusive_start_key(start)
                .send()
                .await
                .expect("scan");
            items.extend(out.items().iter().cloned());
            match out.last_evaluated_key() {
                Some(k) => start = Some(k.clone()),
                None => break,
            }
        }
        let key = |i: &HashMap<String, AttributeValue>| {
            let s = |n: &str| {
                i.get(n)
                    .and_then(|v| v.as_s().ok())
                    .cloned()
                    .unwrap_or_default()
            };
            (s("pk"), s("sk"))
        };
        items.sort_by_key(key);
        items
    }

    /// The account items of the team.
    async fn accounts(&self) -> Vec<Account> {
        let page = self
            .store
            .list_accounts(&team(TEAM), 100, None)
            .await
            .expect("list");
        page.items
    }
}

fn connect_event(provider: &str) -> Event {
    Event::load("oauth-start/start.json")
        .caller(TEAM, USER)
        .path(&format!("/connections/{provider}/start"))
}

fn reconnect_event(id: &str) -> Event {
    Event::load("oauth-start/reconnect.json")
        .caller(TEAM, USER)
        .path(&format!("/accounts/{id}/reconnect"))
}

/// The callback event for where the network sent the browser.
fn callback_event(back: &Url) -> Event {
    assert!(
        back.as_str().starts_with(CALLBACK_BASE),
        "the network sent the browser to {back}"
    );
    let pairs: Vec<(String, String)> = back.query_pairs().into_owned().collect();
    let pairs: Vec<(&str, &str)> = pairs
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    Event::load("oauth-callback/success.json")
        .path(back.path())
        .query(&pairs)
}

fn authorize_url(resp: &Resp) -> Url {
    Url::parse(resp.json["authorize_url"].as_str().expect("authorize_url")).expect("a URL")
}

fn param(url: &Url, name: &str) -> Option<String> {
    url.query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// Where a callback sent the browser: the Location, its `result` and `account` ids.
struct Landing {
    url: Url,
    result: String,
    accounts: Vec<AccountId>,
    /// The finer reason of an `error` (`no_accounts`).
    reason: Option<String>,
    /// The completion's answer, when the callback parked a code.
    completion: Option<Resp>,
}

fn landing(resp: &Resp) -> Landing {
    assert_eq!(resp.status, 302, "{}", resp.text);
    assert!(resp.text.is_empty(), "a redirect has no body");
    let url = Url::parse(resp.header("location").expect("Location")).expect("absolute");
    assert!(
        url.as_str().starts_with(SETTINGS),
        "back to the frontend: {url}"
    );
    let result = param(&url, "result").expect("a result");
    let accounts = url
        .query_pairs()
        .filter(|(k, _)| k == "account")
        .map(|(_, v)| account_id(&v))
        .collect();
    for name in ["code", "state", "access_token", "refresh_token", "token"] {
        assert!(param(&url, name).is_none(), "{name} in {url}");
    }
    Landing {
        reason: param(&url, "reason"),
        url,
        result,
        accounts,
        completion: None,
    }
}

fn kinds(log: &[RecordedRequest], kind: EndpointKind) -> Vec<&RecordedRequest> {
    log.iter().filter(|r| r.kind == Some(kind)).collect()
}

// ---- a full connect for each network -------------------------------------------------

/// The lifetimes the account must store for `grant` (what the fake returned), connected
/// at `now`: the answer's `expires_in` / refresh expiry, the catalogue's default only where
/// the answer is silent; a Page token (`page`) has no expiry.
fn lifetimes_from(
    provider: Provider,
    grant: &TokenGrant,
    page: bool,
    now: chrono::DateTime<Utc>,
) -> (Option<chrono::DateTime<Utc>>, Option<chrono::DateTime<Utc>>) {
    if page {
        return (None, None);
    }
    let spec = provider.spec();
    let access = grant.expires_in.or(spec.default_access_lifetime);
    let refresh = match grant.refresh_token {
        Some(_) => grant.refresh_expires_in.or(spec.default_refresh_lifetime),
        None => None,
    };
    (access.map(|d| now + d), refresh.map(|d| now + d))
}

/// The Page tokens the fake hands out for a user token (stable per grant).
async fn page_tokens(h: &OAuth, provider: Provider, user_token: &str) -> HashMap<String, String> {
    let mut url = h.fakes.base_url.clone();
    url.set_path(&format!(
        "/{}/{}/me/accounts",
        provider.id(),
        GraphVersion::DEFAULT
    ));
    let body: serde_json::Value = h
        .browser
        .get(url)
        .query(&[
            ("fields", "id,access_token,instagram_business_account{id}"),
            ("limit", "100"),
        ])
        .bearer_auth(user_token)
        .send()
        .await
        .expect("/me/accounts")
        .json()
        .await
        .expect("JSON");
    let mut out = HashMap::new();
    for page in body["data"].as_array().expect("data") {
        let token = page["access_token"]
            .as_str()
            .expect("page token")
            .to_owned();
        out.insert(page["id"].as_str().expect("id").to_owned(), token.clone());
        if let Some(ig) = page["instagram_business_account"]["id"].as_str() {
            out.insert(ig.to_owned(), token);
        }
    }
    out
}

/// start → the fake's authorize page → callback, then everything the account holds.
async fn connects(provider: Provider) {
    let h = OAuth::new().await;
    let now = h.clock.now();

    let back = h.connect(provider).await;

    assert_eq!(back.result, "connected", "{}", back.url);
    let log = h.log().await;
    // PKCE: a challenge at authorize exactly where the network takes one, and the verifier
    // sent at the token endpoint is the challenge's.
    let authorize = kinds(&log, EndpointKind::Authorize);
    let token = kinds(&log, EndpointKind::Token);
    assert_eq!((authorize.len(), token.len()), (1, 1), "{log:#?}");
    let spec = provider.spec();
    match (&authorize[0].code_challenge, &token[0].code_verifier) {
        (Some(ch), Some(verifier)) => {
            assert!(spec.pkce.used(), "{provider}");
            assert_eq!(*ch, provider_fakes::s256_challenge(verifier));
            assert!(verifier.len() >= 43);
        }
        (None, None) => assert!(!spec.pkce.used(), "{provider} takes PKCE"),
        other => panic!("{provider}: challenge and verifier do not pair: {other:?}"),
    }
    // The exact redirect URI, at authorize and at the exchange.
    let redirect = format!("{CALLBACK_BASE}/oauth/{}/callback", provider.id());
    assert_eq!(
        authorize[0].redirect_uri.as_deref(),
        Some(redirect.as_str())
    );
    assert_eq!(token[0].redirect_uri.as_deref(), Some(redirect.as_str()));
    // Meta, Instagram Login and Threads: the short-lived token is exchanged.
    let exchanged = kinds(&log, EndpointKind::Exchange).len();
    assert_eq!(
        exchanged,
        usize::from(matches!(
            provider,
            Provider::Facebook | Provider::Instagram | Provider::InstagramLogin | Provider::Threads
        )),
        "{provider}"
    );

    let user = FakeUser::default_for(provider);
    let accounts = h.accounts().await;
    assert_eq!(
        accounts.len(),
        back.accounts.len(),
        "one account per id in the URL"
    );
    let grant = h.providers.last_grant(provider);
    // The fake states the access lifetime everywhere (after the long-lived exchange).
    assert!(grant.expires_in.is_some(), "{provider}: {grant:?}");
    let expected: Vec<(String, String, Option<String>)> = match provider {
        Provider::Facebook => user
            .pages
            .iter()
            .map(|p| {
                let pic = format!("https://fake.invalid/pages/{}.png", p.id);
                (p.id.clone(), p.name.clone(), Some(pic))
            })
            .collect(),
        Provider::Instagram => user
            .pages
            .iter()
            .filter_map(|p| p.instagram_business_account.as_ref())
            .map(|ig| {
                (
                    ig.id.clone(),
                    ig.username.clone(),
                    ig.profile_picture_url.clone(),
                )
            })
            .collect(),
        _ => vec![(
            user.external_id.clone(),
            user.name.clone(),
            user.picture_url.clone(),
        )],
    };
    assert_eq!(accounts.len(), expected.len(), "{provider}");
    // The token the fake issued last is the one the profile or Pages read presented.
    let reads = match provider {
        Provider::Facebook | Provider::Instagram => kinds(&log, EndpointKind::Accounts),
        _ => kinds(&log, EndpointKind::Profile),
    };
    let user_token = grant.access_token.expose_secret().to_owned();
    assert_eq!(
        reads.last().and_then(|r| r.access_token.clone()),
        Some(user_token.clone())
    );
    let pages = match provider {
        Provider::Facebook | Provider::Instagram => page_tokens(&h, provider, &user_token).await,
        _ => HashMap::new(),
    };
    for (external_id, name, picture) in expected {
        let account = accounts
            .iter()
            .find(|a| a.external_id == external_id)
            .unwrap_or_else(|| panic!("{provider}: {external_id} not stored"));
        assert!(back.accounts.contains(&account.id));
        assert_eq!(account.provider, provider);
        assert_eq!(account.display_name, name);
        assert_eq!(account.picture_url, picture);
        assert!(!account.scopes.is_empty());
        assert_eq!(account.connected_by.as_str(), USER);
        assert_eq!(account.status(now), Status::Active);
        assert!(account.next_due_at.is_some_and(|d| d > now));
        assert_eq!(account.version, 1);
        let (access_at, refresh_at) =
            lifetimes_from(provider, &grant, pages.contains_key(&external_id), now);
        assert_eq!(
            account.access_expires_at, access_at,
            "{provider}: access lifetime"
        );
        assert_eq!(
            account.refresh_expires_at, refresh_at,
            "{provider}: refresh lifetime"
        );
        // Sealed at rest, and opening to exactly the token the fake issued.
        assert!(account.tokens.access.as_stored().starts_with("tw1.k1."));
        let access = h.open(account, TokenSlot::Access).expect("an access token");
        let issued = pages
            .get(&external_id)
            .cloned()
            .unwrap_or_else(|| user_token.clone());
        assert_eq!(access, issued, "{provider}");
        let refresh = h.open(account, TokenSlot::Refresh);
        let issued_refresh = grant
            .refresh_token
            .as_ref()
            .map(|r| r.expose_secret().to_owned());
        assert_eq!(refresh, issued_refresh, "{provider}: refresh token");
        assert_eq!(
            refresh.is_some(),
            spec.keep_alive.uses_refresh_token(),
            "{provider}: a refresh token where the network keeps alive with one"
        );
    }
}

#[tokio::test]
async fn connect_facebook_stores_one_account_per_page_with_page_tokens() {
    connects(Provider::Facebook).await;
}

#[tokio::test]
async fn connect_instagram_via_facebook_stores_the_business_accounts_of_the_pages() {
    connects(Provider::Instagram).await;
}

#[tokio::test]
async fn connect_instagram_login_exchanges_for_a_long_lived_token() {
    connects(Provider::InstagramLogin).await;
}

#[tokio::test]
async fn connect_threads_exchanges_for_a_long_lived_token() {
    connects(Provider::Threads).await;
}

#[tokio::test]
async fn connect_linkedin_stores_the_refresh_token_and_its_expiry() {
    connects(Provider::Linkedin).await;
}

#[tokio::test]
async fn connect_x_uses_pkce_and_basic_auth() {
    connects(Provider::X).await;
    // Basic auth is the fake's to check: a wrong form would have failed the exchange.
}

#[tokio::test]
async fn connect_google_asks_for_offline_access() {
    connects(Provider::Google).await;
}

#[tokio::test]
async fn connect_tiktok_reads_the_lifetimes_from_the_answer() {
    connects(Provider::Tiktok).await;
}

#[tokio::test]
async fn connect_pinterest_stores_the_refresh_token_and_its_expiry() {
    connects(Provider::Pinterest).await;
}

#[tokio::test]
async fn the_authorize_urls_carry_each_networks_parameters() {
    let h = OAuth::new().await;

    let x = h.start_connect(Provider::X).await;
    let google = h.start_connect(Provider::Google).await;
    let tiktok = h.start_connect(Provider::Tiktok).await;

    assert_eq!(param(&x, "code_challenge_method").as_deref(), Some("S256"));
    assert!(param(&x, "scope").is_some_and(|s| s.split(' ').any(|s| s == "offline.access")));
    assert_eq!(param(&google, "access_type").as_deref(), Some("offline"));
    assert_eq!(param(&google, "prompt").as_deref(), Some("consent"));
    assert!(param(&tiktok, "client_key").is_some() && param(&tiktok, "client_id").is_none());
    assert!(param(&tiktok, "code_challenge").is_none());
    for url in [&x, &google, &tiktok] {
        let state = param(url, "state").expect("a state");
        assert_eq!(state.len(), 43, "256 random bits, base64url");
        assert!(!url.as_str().contains("client-secret"), "{url}");
    }
    assert_ne!(param(&x, "state"), param(&google, "state"));
}

#[tokio::test]
async fn facebook_without_pages_goes_back_with_an_error_and_stores_nothing() {
    let h = OAuth::new().await;
    let mut user = FakeUser::default_for(Provider::Facebook);
    user.pages.clear();
    h.fakes
        .control
        .set_user(Provider::Facebook, &user)
        .await
        .unwrap();

    let back = h.connect(Provider::Facebook).await;

    assert_eq!(back.result, "error");
    assert_eq!(back.reason.as_deref(), Some("no_accounts"));
    assert!(
        h.items().await.is_empty(),
        "nothing stored, the state consumed"
    );
}

#[tokio::test]
async fn connecting_an_account_the_team_already_has_updates_it_in_place() {
    let h = OAuth::new().await;
    let first = h.connect(Provider::X).await;
    let before = h.stored(&first.accounts[0]).await;

    let second = h.connect(Provider::X).await;

    assert_eq!(second.result, "connected");
    assert_eq!(
        second.accounts, first.accounts,
        "the same account, not a second one"
    );
    assert_eq!(h.accounts().await.len(), 1);
    let after = h.stored(&first.accounts[0]).await;
    assert_eq!(after.version, before.version + 1);
    assert_ne!(
        h.open(&after, TokenSlot::Access),
        h.open(&before, TokenSlot::Access),
        "the new grant's tokens"
    );
    assert_eq!(after.connected_at, before.connected_at);
}

// ---- reconnect ------------------------------------------------------------------------

#[tokio::test]
async fn reconnect_replaces_the_tokens_in_place_and_keeps_the_refresh_token_when_none_is_sent() {
    let h = OAuth::new().await;
    let first = h.connect(Provider::Google).await;
    let id = first.accounts[0].clone();
    let before = h.stored(&id).await;
    let old_refresh = h
        .open(&before, TokenSlot::Refresh)
        .expect("a refresh token");
    h.clock.advance(Duration::days(3));

    // Google sends no new refresh token when the person had granted offline access
    // before and is not asked to consent again: the fake does the same without
    // `access_type=offline`.
    let mut authorize = h.start_reconnect(&id).await;
    let kept: Vec<(String, String)> = authorize
        .query_pairs()
        .into_owned()
        .filter(|(k, _)| k != "access_type")
        .collect();
    authorize.query_pairs_mut().clear().extend_pairs(kept);
    let back = h.authorize(&authorize).await;
    let resp = h.callback(&callback_event(&back)).await;

    let back = h.land(&resp).await;
    assert_eq!(back.result, "reconnected");
    assert_eq!(back.accounts, vec![id.clone()]);
    let token_answer = kinds(&h.log().await, EndpointKind::Token).len();
    assert_eq!(token_answer, 2);
    let after = h.stored(&id).await;
    assert_eq!(h.accounts().await.len(), 1, "replaced in place");
    assert_eq!(after.version, before.version + 1);
    assert_eq!(after.external_id, before.external_id);
    assert_ne!(
        h.open(&after, TokenSlot::Access),
        h.open(&before, TokenSlot::Access)
    );
    assert_eq!(
        h.open(&after, TokenSlot::Refresh),
        Some(old_refresh),
        "refresh token kept"
    );
    let now = h.clock.now();
    let grant = h.providers.last_grant(Provider::Google);
    assert!(
        grant.refresh_token.is_none(),
        "the network sent no refresh token"
    );
    assert_eq!(after.access_issued_at, now);
    assert_eq!(
        after.access_expires_at,
        grant.expires_in.map(|d| now + d),
        "the new grant's lifetime"
    );
    assert_eq!(after.connected_at, before.connected_at);
}

#[tokio::test]
async fn reconnect_of_a_broken_account_makes_it_active_again_and_records_recovered() {
    let h = OAuth::new().await;
    let first = h.connect(Provider::Linkedin).await;
    let id = first.accounts[0].clone();
    let mut broken = h.stored(&id).await;
    let old_refresh_expiry = broken.refresh_expires_at;
    broken.broken = Some(Broken {
        status: Status::Revoked,
        reason: Some(Reason::PasswordChanged),
        since: h.clock.now(),
    });
    broken.failures.record(h.clock.now());
    broken.next_due_at = None;
    let broken = h.store.update_account(&broken).await.unwrap();
    for milestone in [Milestone::Expiring { days: 14 }, Milestone::Disconnected] {
        let entry = LedgerEntry {
            team: team(TEAM),
            account: id.clone(),
            milestone,
            state: MailState::Sent,
            created_at: h.clock.now(),
            updated_at: h.clock.now(),
            detail: None,
            sent_to: Vec::new(),
            audience: None,
        };
        assert!(h.store.record_pending(&entry).await.unwrap());
    }
    h.clock.advance(Duration::days(30));

    let authorize = h.start_reconnect(&id).await;
    let back = h
        .land(
            &h.callback(&callback_event(&h.authorize(&authorize).await))
                .await,
        )
        .await;

    assert_eq!(back.result, "reconnected");
    let now = h.clock.now();
    let after = h.stored(&id).await;
    assert_eq!(after.broken, None);
    assert_eq!(after.status(now), Status::Active);
    assert_eq!(after.failures, Default::default());
    assert!(
        after.next_due_at.is_some_and(|d| d > now),
        "back in the due index"
    );
    assert_eq!(after.version, broken.version + 1);
    // A new authorization brings a new refresh token with a clock of its own.
    let grant = h.providers.last_grant(Provider::Linkedin);
    assert!(grant.refresh_token.is_some());
    assert_eq!(
        after.refresh_expires_at,
        grant.refresh_expires_in.map(|d| now + d)
    );
    assert_ne!(after.refresh_expires_at, old_refresh_expiry);
    let pending = h.store.pending_for_team(&team(TEAM)).await.unwrap();
    let milestones: Vec<Milestone> = pending.iter().map(|e| e.milestone).collect();
    assert_eq!(
        milestones,
        vec![Milestone::Recovered],
        "old milestones cleared, recovered recorded"
    );
    assert!(pending[0].sent_to.is_empty());
    let ledger_items = h
        .items()
        .await
        .into_iter()
        .filter(|i| {
            i.get("kind")
                .and_then(|k| k.as_s().ok())
                .map(String::as_str)
                == Some("ledger")
        })
        .count();
    assert_eq!(ledger_items, 1, "the sent entries are gone too");
    // Exactly one history item for the reconnect: recovered, from revoked to active, by
    // the callback of the user who reconnected; the account's last change says so.
    use tokenwarden::domain::{Cause, HistoryKind};
    use tokenwarden::store::HistoryStore;
    let history = h
        .store
        .history(&team(TEAM), &id, 10, None)
        .await
        .unwrap()
        .items;
    let kinds: Vec<HistoryKind> = history.iter().map(|e| e.kind).collect();
    assert_eq!(kinds, vec![HistoryKind::Recovered, HistoryKind::Connected]);
    let recovered = &history[0];
    assert_eq!(
        recovered.before.map(|b| (b.status, b.reason)),
        Some((Status::Revoked, Some(Reason::PasswordChanged)))
    );
    assert_eq!(
        recovered.after.map(|a| (a.status, a.reason)),
        Some((Status::Active, None))
    );
    assert!(
        matches!(&recovered.cause, Cause::Callback { .. }),
        "{:?}",
        recovered.cause
    );
    assert_eq!(
        after.last_change.map(|l| (l.kind, l.at)),
        Some((HistoryKind::Recovered, now))
    );
}

#[tokio::test]
async fn reconnect_with_a_different_account_is_refused_and_changes_nothing() {
    let h = OAuth::new().await;
    let first = h.connect(Provider::X).await;
    let id = first.accounts[0].clone();
    let mut someone_else = FakeUser::default_for(Provider::X);
    someone_else.external_id = "x-user-2".into();
    someone_else.name = "Another Person".into();
    h.fakes
        .control
        .set_user(Provider::X, &someone_else)
        .await
        .unwrap();
    let authorize = h.start_reconnect(&id).await;
    let back_from_network = h.authorize(&authorize).await;
    let before = h.items().await;
    let account_before = h.stored(&id).await;

    let resp = h.callback(&callback_event(&back_from_network)).await;

    let back = h.land(&resp).await;
    assert_eq!(back.result, "different_account");
    assert_eq!(back.accounts, vec![id.clone()]);
    let mut after = h.items().await;
    // The only change: the state item is consumed.
    let state_items = before.len() - after.len();
    assert_eq!(state_items, 1);
    after.retain(|i| {
        i.get("kind")
            .and_then(|k| k.as_s().ok())
            .map(String::as_str)
            != Some("oauth_state")
    });
    let mut before = before;
    before.retain(|i| {
        i.get("kind")
            .and_then(|k| k.as_s().ok())
            .map(String::as_str)
            != Some("oauth_state")
    });
    assert_eq!(after, before, "nothing changed");
    assert_eq!(h.stored(&id).await, account_before);
    assert_eq!(
        h.accounts().await.len(),
        1,
        "the other account was not connected either"
    );
}

#[tokio::test]
async fn reconnect_of_an_account_of_another_team_is_not_found() {
    let h = OAuth::new().await;
    let first = h.connect(Provider::X).await;
    let id = first.accounts[0].clone();

    let resp = h
        .start(&reconnect_event(id.as_str()).caller("team-other", "user-eve"))
        .await;
    let unknown = h.start(&reconnect_event("acc-nope")).await;
    let invalid = h.start(&reconnect_event("a%23b")).await;

    assert_eq!(resp.status, 404, "{}", resp.text);
    assert_eq!(resp.error_code(), "not_found");
    assert_eq!(unknown.status, 404);
    assert_eq!(invalid.status, 404);
}

// ---- security ------------------------------------------------------------------------------

#[tokio::test]
async fn garbage_unknown_and_missing_states_get_a_400_and_no_redirect() {
    let h = OAuth::new().await;
    let authorize = h.start_connect(Provider::X).await;
    let real = h.authorize(&authorize).await;
    let code = param(&real, "code").unwrap();
    let long = "A".repeat(5000);
    let bad_states = [
        vec![("state", "not-a-state-we-issued"), ("code", code.as_str())],
        vec![("state", ""), ("code", code.as_str())],
        vec![("code", code.as_str())],
        vec![("state", long.as_str()), ("code", code.as_str())],
        vec![("error", "access_denied")],
        vec![],
    ];

    for query in bad_states {
        let event = Event::load("oauth-callback/success.json").query(&query);
        let resp = h.callback(&event).await;

        assert_eq!(resp.status, 400, "{query:?}: {}", resp.text);
        assert_eq!(resp.error_code(), "invalid_state");
        assert!(resp.header("location").is_none());
    }
    assert!(
        kinds(&h.log().await, EndpointKind::Token).is_empty(),
        "no code exchanged"
    );
    assert_eq!(h.accounts().await.len(), 0);
}

#[tokio::test]
async fn a_replayed_state_succeeds_exactly_once() {
    let h = OAuth::new().await;
    let authorize = h.start_connect(Provider::Pinterest).await;
    let event = callback_event(&h.authorize(&authorize).await);

    // Two callbacks at once (a double-clicked link, a replay), then one more afterwards.
    let (a, b) = tokio::join!(h.callback(&event), h.callback(&event));
    let later = h.callback(&event).await;

    let mut statuses = vec![a.status, b.status];
    statuses.sort_unstable();
    assert_eq!(statuses, vec![302, 400], "exactly one succeeds");
    let winner = if a.status == 302 { &a } else { &b };
    assert_eq!(h.land(winner).await.result, "connected");
    assert_eq!(later.status, 400);
    assert_eq!(h.accounts().await.len(), 1);
    assert_eq!(
        kinds(&h.log().await, EndpointKind::Token).len(),
        1,
        "the code exchanged once"
    );
}

#[tokio::test]
async fn an_expired_state_goes_back_with_expired_state_and_stores_nothing() {
    let h = OAuth::new().await;
    let authorize = h.start_connect(Provider::Linkedin).await;
    let event = callback_event(&h.authorize(&authorize).await);
    h.clock.advance(STATE_LIFETIME + Duration::seconds(1));

    let back = h.land(&h.callback(&event).await).await;
    let again = h.callback(&event).await;

    assert_eq!(back.result, "expired_state");
    assert_eq!(again.status, 400, "an expired state is gone too");
    assert!(kinds(&h.log().await, EndpointKind::Token).is_empty());
    assert!(h.items().await.is_empty());
}

#[tokio::test]
async fn a_state_for_one_network_arriving_at_another_networks_callback_is_refused() {
    let h = OAuth::new().await;
    let authorize = h.start_connect(Provider::X).await;
    let back_from_x = h.authorize(&authorize).await;
    let at_google =
        Url::parse(&back_from_x.as_str().replace("/oauth/x/", "/oauth/google/")).unwrap();

    let back = h.land(&h.callback(&callback_event(&at_google)).await).await;
    let at_x_after = h.callback(&callback_event(&back_from_x)).await;

    assert_eq!(back.result, "error");
    assert!(
        kinds(&h.log().await, EndpointKind::Token).is_empty(),
        "no exchange anywhere"
    );
    assert_eq!(at_x_after.status, 400, "the state is used up");
    assert!(h.items().await.is_empty());
}

#[tokio::test]
async fn return_to_outside_the_allowlist_is_refused_at_start() {
    let h = OAuth::new().await;
    for bad in [
        "//evil.example",
        "//evil.example/settings",
        "https://app.example.com.evil.example/settings",
        "https://evil.example/https://app.example.com",
        "https:\\\\evil.example",
        "https://app.example.com\\@evil.example",
        "/\\evil.example",
        "https://app.example.com%2eevil.example/",
        "https://evil%2eexample/",
        "https%3A%2F%2Fevil.example",
        "https://app.example.com@evil.example/",
        "http://app.example.com/settings",
        "javascript:alert(1)",
        "",
    ] {
        let event = connect_event("x").body(&json!({ "return_to": bad }));

        let resp = h.start(&event).await;

        assert_eq!(resp.status, 422, "{bad}: {}", resp.text);
        assert_eq!(resp.json["error"]["field"], "return_to");
    }
    assert!(h.items().await.is_empty(), "no state stored");
}

#[tokio::test]
async fn return_to_defaults_to_the_frontend_page_and_keeps_its_query() {
    let h = OAuth::new().await;
    let custom = "https://app.example.com/settings/social?tab=accounts";
    let with_body = connect_event("x").body(&json!({ "return_to": custom }));
    let without = connect_event("x").raw_body("");

    let a = h.start(&with_body).await;
    let b = h.start(&without).await;
    let c = h.start(&connect_event("x").body(&json!({}))).await;

    for resp in [&a, &b, &c] {
        assert_eq!(resp.status, 200, "{}", resp.text);
    }
    let back = h
        .land(
            &h.callback(&callback_event(&h.authorize(&authorize_url(&a)).await))
                .await,
        )
        .await;
    assert_eq!(param(&back.url, "tab").as_deref(), Some("accounts"));
    let back = h
        .land(
            &h.callback(&callback_event(&h.authorize(&authorize_url(&b)).await))
                .await,
        )
        .await;
    assert_eq!(back.url.path(), "/settings/social");
}

#[tokio::test]
async fn denied_at_the_network_goes_back_with_denied_and_stores_nothing() {
    let h = OAuth::new().await;
    for provider in [Provider::Facebook, Provider::Linkedin, Provider::Tiktok] {
        h.fakes.control.set_deny(provider, true).await.unwrap();

        let authorize = h.start_connect(provider).await;
        let back_from_network = h.authorize(&authorize).await;
        let back = h
            .land(&h.callback(&callback_event(&back_from_network)).await)
            .await;

        assert_eq!(
            param(&back_from_network, "error").as_deref(),
            Some("access_denied")
        );
        assert_eq!(back.result, "denied", "{provider}");
    }
    assert!(kinds(&h.log().await, EndpointKind::Token).is_empty());
    assert!(h.items().await.is_empty());
}

#[tokio::test]
async fn a_redirect_from_the_token_endpoint_is_not_followed() {
    let h = OAuth::new().await;
    h.fakes
        .control
        .set_fault(
            Provider::Tiktok,
            EndpointKind::Token,
            Fault::Redirect { location: None },
            1,
        )
        .await
        .unwrap();

    let back = h.connect(Provider::Tiktok).await;

    assert_eq!(back.result, "error");
    let log = h.log().await;
    assert_eq!(
        log.iter()
            .filter(|r| r.fault.as_deref() == Some("redirect"))
            .count(),
        1
    );
    assert!(
        log.iter().all(|r| r.path != "/_fake/trap"),
        "the redirect target was never requested: {log:#?}"
    );
    assert!(h.items().await.is_empty(), "nothing stored");
}

#[tokio::test]
async fn a_failing_network_goes_back_with_an_error_and_stores_nothing() {
    let h = OAuth::new().await;
    for (provider, kind, fault) in [
        (Provider::X, EndpointKind::Token, Fault::InvalidGrant),
        (
            Provider::Google,
            EndpointKind::Token,
            Fault::Status5xx { status: None },
        ),
        (
            Provider::Threads,
            EndpointKind::Exchange,
            Fault::RateLimited,
        ),
        (
            Provider::Facebook,
            EndpointKind::Accounts,
            Fault::Meta190 { subcode: None },
        ),
    ] {
        h.fakes
            .control
            .set_fault(provider, kind, fault, 1)
            .await
            .unwrap();

        let back = h.connect(provider).await;

        assert_eq!(back.result, "error", "{provider}");
    }
    assert!(h.items().await.is_empty());
}

#[tokio::test]
async fn an_unknown_provider_is_not_found_at_start_and_callback() {
    let h = OAuth::new().await;

    let start = h.start(&connect_event("myspace")).await;
    let callback = h
        .callback(&Event::load("oauth-callback/unknown-provider.json"))
        .await;
    let other_route = h
        .callback(&Event::load("oauth-callback/success.json").path("/oauth/x"))
        .await;

    assert_eq!(start.status, 404, "{}", start.text);
    assert!(start.error_message().contains("unknown provider"));
    assert_eq!(callback.status, 404);
    assert_eq!(other_route.status, 404);
}

#[tokio::test]
async fn a_network_without_credentials_is_reported_as_not_offered() {
    let fakes = provider_fakes::start_local().await.unwrap();
    let mut map = std::collections::BTreeMap::new();
    for p in [Provider::X, Provider::Google] {
        let all = fakes.credentials();
        map.insert(p, all.get(p).unwrap().clone());
    }
    let h = OAuth::with_credentials(fakes, Credentials::from_map(map)).await;

    let resp = h.start(&connect_event("tiktok")).await;
    let offered = h.start(&connect_event("x")).await;

    assert_eq!(resp.status, 404, "{}", resp.text);
    assert!(
        resp.error_message().contains("not offered"),
        "{}",
        resp.text
    );
    assert_eq!(offered.status, 200);
    assert!(
        h.items().await.len() == 1,
        "only the offered network's state"
    );
}

#[tokio::test]
async fn start_needs_the_callers_claims_and_refuses_unknown_fields() {
    let h = OAuth::new().await;

    let anonymous = h.start(&connect_event("x").without_claims()).await;
    let smuggled = h
        .start(&connect_event("x").body(&json!({"return_to": SETTINGS, "team_id": "team-b"})))
        .await;
    let wrong_method = h.start(&connect_event("x").method("GET")).await;

    assert_eq!(anonymous.status, 401);
    assert_eq!(smuggled.status, 400);
    assert_eq!(wrong_method.status, 405);
    assert!(h.items().await.is_empty());
}

// ---- canaries -------------------------------------------------------------------------------

#[tokio::test]
async fn no_token_code_verifier_or_client_secret_in_any_response_url_or_log_line() {
    // Everything the functions would log at their most verbose (RUST_LOG=trace).
    let logs = LogCapture::with_filter(tokenwarden::runtime::log_filter("trace"));
    let h = OAuth::new().await;
    let mut texts = Vec::new();
    let mut states = Vec::new();
    fn record(resp: &Resp, texts: &mut Vec<String>) {
        texts.push(resp.text.clone());
        texts.push(format!("{:?}", resp.headers));
    }
    fn record_landing(back: &Landing, texts: &mut Vec<String>) {
        texts.push(back.url.to_string());
        if let Some(done) = &back.completion {
            record(done, texts);
        }
    }

    for provider in Provider::ALL {
        let authorize = h.start_connect(provider).await;
        states.push(param(&authorize, "state").unwrap());
        let resp = h
            .callback(&callback_event(&h.authorize(&authorize).await))
            .await;
        let back = h.land(&resp).await;
        assert_eq!(back.result, "connected");
        record(&resp, &mut texts);
        record_landing(&back, &mut texts);
    }
    // A reconnect, a denial, a replay, and careless networks quoting what they were sent.
    let x = h
        .accounts()
        .await
        .into_iter()
        .find(|a| a.provider == Provider::X)
        .unwrap();
    let authorize = h.start_reconnect(&x.id).await;
    let event = callback_event(&h.authorize(&authorize).await);
    let resp = h.callback(&event).await;
    let back = h.land(&resp).await;
    assert_eq!(back.result, "reconnected");
    record(&resp, &mut texts);
    record_landing(&back, &mut texts);
    record(&h.callback(&event).await, &mut texts);
    h.fakes
        .control
        .set_deny(Provider::Pinterest, true)
        .await
        .unwrap();
    record_landing(&h.connect(Provider::Pinterest).await, &mut texts);
    for (provider, kind) in [
        (Provider::X, EndpointKind::Token),
        (Provider::Facebook, EndpointKind::Token),
        (Provider::Threads, EndpointKind::Exchange),
        (Provider::Linkedin, EndpointKind::Profile),
    ] {
        h.fakes
            .control
            .set_fault(provider, kind, Fault::EchoRequest, 1)
            .await
            .unwrap();
        let back = h.connect(provider).await;
        assert_eq!(back.result, "error");
        record_landing(&back, &mut texts);
    }

    let log = h.log().await;
    let echoed = log
        .iter()
        .filter(|r| r.fault.as_deref() == Some("echo_request"))
        .count();
    assert_eq!(echoed, 4, "the careless answers were given");
    let mut secrets: Vec<String> = log
        .iter()
        .flat_map(|r| {
            [
                r.code.clone(),
                r.code_verifier.clone(),
                r.refresh_token.clone(),
                r.access_token.clone(),
            ]
        })
        .flatten()
        .collect();
    secrets.extend(Provider::ALL.map(provider_fakes::default_client_secret));
    let verifiers = log.iter().filter(|r| r.code_verifier.is_some()).count();
    assert!(verifiers >= 4, "PKCE verifiers were sent");
    let lines = logs.text();
    assert!(
        lines.contains("authorization completed"),
        "logs were captured"
    );
    assert!(
        lines.contains("connection not completed"),
        "failures were logged"
    );
    for text in &texts {
        assert!(
            !text.contains("canary-"),
            "a response carries a canary: {text}"
        );
        for secret in secrets.iter().chain(&states) {
            assert!(
                !text.contains(secret.as_str()),
                "a response carries {secret}"
            );
        }
    }
    assert!(!lines.contains("canary-"), "a log line carries a canary");
    for secret in secrets.iter().chain(&states) {
        if let Some(line) = lines.lines().find(|l| l.contains(secret.as_str())) {
            panic!("a log line carries {secret}: {line}");
        }
    }
}

// ---- the sample events ------------------------------------------------------------------

/// The status (and for a 302, the result) each sample event gets, on a table with
/// `acc-demo-1` (X) of `team-demo` and the callback events' states stored.
const EVENT_STATUS: &[(&str, u16, Option<&str>)] = &[
    ("oauth-start/start.json", 200, None),
    ("oauth-start/start-default-return.json", 200, None),
    ("oauth-start/reconnect.json", 200, None),
    ("oauth-start/reconnect-not-found.json", 404, None),
    ("oauth-start/start-bad-return-to.json", 422, None),
    (
        "oauth-start/start-scheme-relative-return-to.json",
        422,
        None,
    ),
    ("oauth-start/start-unknown-field.json", 400, None),
    ("oauth-start/start-unknown-provider.json", 404, None),
    ("oauth-start/start-missing-claims.json", 401, None),
    ("oauth-callback/success.json", 302, Some("pending")),
    // Its handle was never parked.
    ("oauth-callback/complete.json", 404, None),
    ("oauth-callback/denied.json", 302, Some("denied")),
    (
        "oauth-callback/expired-state.json",
        302,
        Some("expired_state"),
    ),
    ("oauth-callback/unknown-state.json", 400, None),
    ("oauth-callback/missing-state.json", 400, None),
    ("oauth-callback/unknown-provider.json", 404, None),
];

/// Stores the state a sample callback event names, for `provider`, created at `at`.
async fn seed_state(
    h: &OAuth,
    id: &str,
    provider: Provider,
    at: chrono::DateTime<Utc>,
) -> OAuthState {
    let origins = OriginAllowlist::parse(FRONTEND).unwrap();
    let verifier = provider
        .spec()
        .pkce
        .used()
        .then(|| Secret::from(format!("verifier-{id}-{}", "0".repeat(43))));
    let state = OAuthState {
        id: id.to_owned(),
        team: team(TEAM),
        user: tokenwarden::domain::UserId::parse(USER).unwrap(),
        provider,
        return_to: ReturnUrl::parse(SETTINGS, &origins).unwrap(),
        account: None,
        pkce_verifier: verifier,
        redirect_uri: format!("{CALLBACK_BASE}/oauth/{}/callback", provider.id()),
        created_at: at,
        expires_at: at + STATE_LIFETIME,
    };
    h.store.put_state(&state).await.unwrap();
    state
}

#[tokio::test]
async fn every_sample_event_runs_through_its_handler_as_documented() {
    let mut on_disk = Vec::new();
    for dir in ["oauth-start", "oauth-callback"] {
        for entry in std::fs::read_dir(api_support::repo_root().join("events").join(dir)).unwrap() {
            let name = entry.unwrap().file_name().into_string().unwrap();
            on_disk.push(format!("{dir}/{name}"));
        }
    }
    on_disk.sort();
    let mut listed: Vec<String> = EVENT_STATUS
        .iter()
        .map(|(f, _, _)| (*f).to_owned())
        .collect();
    listed.sort();
    assert_eq!(
        on_disk, listed,
        "every event file has an expected status here"
    );

    for (file, status, result) in EVENT_STATUS {
        let h = OAuth::new().await;
        let demo = tokenwarden_integration::AccountBuilder::new(TEAM, "acc-demo-1")
            .provider(Provider::X)
            .build();
        h.store.create_account(&demo).await.unwrap();
        let mut event = Event::load(file);
        if file.starts_with("oauth-callback/") {
            let query = event.0["queryStringParameters"].clone();
            let state_id = query["state"].as_str().unwrap_or_default().to_owned();
            let now = h.clock.now();
            match *file {
                "oauth-callback/expired-state.json" => {
                    seed_state(&h, &state_id, Provider::X, now - Duration::minutes(30)).await;
                }
                "oauth-callback/success.json" => {
                    // The event's state, with a real code from the fake for it.
                    let state = seed_state(&h, &state_id, Provider::X, now).await;
                    let authorize = h
                        .providers
                        .authorize_url(&tokenwarden::providers::AuthorizeRequest {
                            provider: Provider::X,
                            state: &state.id,
                            redirect_uri: &state.redirect_uri,
                            code_verifier: state.pkce_verifier.as_ref(),
                            consent: Default::default(),
                        })
                        .unwrap();
                    let back = h.authorize(&authorize).await;
                    let code = param(&back, "code").unwrap();
                    event = event.query(&[("state", &state_id), ("code", &code)]);
                }
                "oauth-callback/denied.json" => {
                    seed_state(&h, &state_id, Provider::X, now).await;
                }
                _ => {}
            }
        }

        let resp = if file.starts_with("oauth-start/") {
            h.start(&event).await
        } else if *file == "oauth-callback/complete.json" {
            let answer = oauth_callback::handle(&h.callback_api, event.request()).await;
            read(&event.method_str(), &event.path_str(), answer)
        } else {
            h.callback(&event).await
        };

        assert_eq!(resp.status, *status, "{file}: {}", resp.text);
        if let Some(result) = result {
            assert_eq!(landing(&resp).result, *result, "{file}");
        }
        if *file == "oauth-callback/success.json" {
            assert_eq!(h.land(&resp).await.result, "connected", "{file}");
        }
    }
}

// ---- every network's true clock at connect (issue: the networks' own rules) -------------------

/// Meta's data access runs out 90 days after the person last used the app: the connect reads
/// it from `debug_token`, stores it with the person whose grant the Pages stand on, and the
/// token column's deadline is the earliest clock (the Page token itself never expires).
#[tokio::test]
async fn a_facebook_connect_keeps_the_persons_data_access_clock_as_the_deadline() {
    let h = OAuth::new().await;
    let deadline = (Utc::now() + Duration::days(20)).timestamp();
    h.fakes
        .control
        .patch_settings(
            Provider::Facebook,
            &SettingsPatch {
                data_access_expires_at: Some(deadline as u64),
                ..SettingsPatch::default()
            },
        )
        .await
        .unwrap();

    let back = h.connect(Provider::Facebook).await;

    assert_eq!(back.result, "connected");
    let user = FakeUser::default_for(Provider::Facebook);
    for id in &back.accounts {
        let account = h.stored(id).await;
        assert_eq!(
            account.data_access_expires_at.map(|t| t.timestamp()),
            Some(deadline)
        );
        assert_eq!(
            account.grant_owner.as_deref(),
            Some(format!("facebook_login:{}", user.external_id).as_str())
        );
        assert_eq!(
            account.access_expires_at, None,
            "a Page token never expires"
        );
        let column = account.token_column(h.clock.now());
        assert_eq!(column.reconnect_by.map(|t| t.timestamp()), Some(deadline));
        assert!(
            column.days_left.is_some_and(|d| (19..=20).contains(&d)),
            "{column:?}"
        );
        assert!(!column.auto_refresh);
    }
}

/// A consent that leaves out a permission needed to publish connects the account as
/// revoked, naming the permission; the reconnect asks for it again (`rerequest`), and once
/// granted a later reconnect only renews data access (`reauthorize`).
#[tokio::test]
async fn a_declined_posting_permission_connects_revoked_and_the_reconnect_asks_again() {
    let h = OAuth::new().await;
    let decline = |scopes: Vec<String>| SettingsPatch {
        decline: Some(scopes),
        ..SettingsPatch::default()
    };
    h.fakes
        .control
        .patch_settings(
            Provider::Facebook,
            &decline(vec!["pages_manage_posts".into()]),
        )
        .await
        .unwrap();

    let back = h.connect(Provider::Facebook).await;

    let id = back.accounts[0].clone();
    let column = h.stored(&id).await.token_column(h.clock.now());
    assert_eq!(column.status, Status::Revoked);
    assert_eq!(column.reason, Some(Reason::ScopesChanged));
    assert!(
        column.message.contains("pages_manage_posts"),
        "{}",
        column.message
    );

    let again = h.start_reconnect(&id).await;
    assert_eq!(param(&again, "auth_type").as_deref(), Some("rerequest"));
    h.fakes
        .control
        .patch_settings(Provider::Facebook, &decline(Vec::new()))
        .await
        .unwrap();
    let back = h.authorize(&again).await;
    let resp = h.callback(&callback_event(&back)).await;
    assert_eq!(h.land(&resp).await.result, "reconnected");
    let column = h.stored(&id).await.token_column(h.clock.now());
    assert_eq!(column.status, Status::Active, "{column:?}");

    let renew = h.start_reconnect(&id).await;
    assert_eq!(param(&renew, "auth_type").as_deref(), Some("reauthorize"));
    let log = h.log().await;
    let asked: Vec<_> = kinds(&log, EndpointKind::Authorize)
        .iter()
        .map(|r| r.auth_type.clone())
        .collect();
    assert_eq!(asked, [None, Some("rerequest".to_owned())]);
}

/// Apps in Google's "Testing" status get refresh tokens that die after 7 days: the column
/// shows that deadline. A reconnect revokes nothing: Google's revocation ends the person's
/// grant to the app, which would end the refresh token the reconnect just stored (the one
/// it replaced is the oldest of Google's 100 and goes first).
#[tokio::test]
async fn google_in_testing_status_shows_seven_days_and_a_reconnect_revokes_nothing() {
    let h = OAuth::with_settings(NetworkSettings {
        google_testing: true,
        ..NetworkSettings::default()
    })
    .await;
    let back = h.connect(Provider::Google).await;
    let id = back.accounts[0].clone();
    let first = h.stored(&id).await;
    let now = h.clock.now();
    assert_eq!(first.refresh_expires_at, Some(now + Duration::days(7)));
    let column = first.token_column(now);
    assert_eq!(column.status, Status::Expiring);
    assert_eq!(column.days_left, Some(7));
    assert_eq!(
        first.grant_owner,
        Some(format!("google:{}", first.external_id))
    );

    let again = h.start_reconnect(&id).await;
    let back = h.authorize(&again).await;
    assert_eq!(
        h.land(&h.callback(&callback_event(&back)).await)
            .await
            .result,
        "reconnected"
    );

    assert!(kinds(&h.log().await, EndpointKind::Revoke).is_empty());
    let after = h.stored(&id).await;
    let token = h.open(&after, TokenSlot::Refresh).expect("a refresh token");
    let refreshed = h
        .providers
        .refresh(
            Provider::Google,
            &tokenwarden::domain::Secret::from(h.open(&after, TokenSlot::Access).unwrap()),
            Some(&tokenwarden::domain::Secret::from(token)),
        )
        .await;
    assert!(refreshed.is_ok(), "the new grant works: {refreshed:?}");
}

/// Pinterest apps created before 2025-09-25 get the continuous refresh token only when the
/// code exchange asks for it; the fake is such an app.
#[tokio::test]
async fn pinterest_asks_for_continuous_refresh_and_gets_sixty_days() {
    let h = OAuth::new().await;

    let back = h.connect(Provider::Pinterest).await;

    let log = h.log().await;
    let exchange = kinds(&log, EndpointKind::Token);
    assert_eq!(exchange[0].continuous_refresh.as_deref(), Some("true"));
    let account = h.stored(&back.accounts[0]).await;
    assert_eq!(
        account.refresh_expires_at,
        Some(h.clock.now() + Duration::days(60))
    );
}

/// The Graph API version is a setting: every Facebook call goes to it, and a version Meta
/// does not serve fails the connect instead of storing anything.
#[tokio::test]
async fn the_graph_version_setting_moves_every_call_and_an_unserved_one_fails() {
    let version = |v: &str| NetworkSettings {
        graph_version: GraphVersion::parse(v).unwrap(),
        ..NetworkSettings::default()
    };
    let h = OAuth::with_settings(version("v27.0")).await;
    assert_eq!(h.connect(Provider::Facebook).await.result, "connected");
    let log = h.log().await;
    let graph: Vec<_> = log
        .iter()
        .filter(|r| r.provider == Some(Provider::Facebook))
        .collect();
    assert!(graph.len() >= 4, "{graph:?}");
    for r in graph {
        assert!(r.path.starts_with("/facebook/v27.0/"), "{}", r.path);
    }

    // v19.0 is past its end of life: Meta's dialog itself refuses it.
    let gone = OAuth::with_settings(version("v19.0")).await;
    let authorize = gone.start_connect(Provider::Facebook).await;
    assert!(
        authorize.path().starts_with("/facebook/v19.0/"),
        "{authorize}"
    );
    let answer = gone.browser.get(authorize).send().await.unwrap();
    assert_eq!(answer.status().as_u16(), 400);
    assert!(answer.text().await.unwrap().contains("2500"));
    assert!(gone.accounts().await.is_empty());
}

// ---- completion bound to the person who started it (RFC 9700 §4.7.1) ------------------------

/// An attacker starts a connect in their own team and sends the authorize link to a
/// social-media manager, who consents: the code is only parked, and the manager's own
/// completion is refused. Nothing lands in the attacker's team (or anywhere).
#[tokio::test]
async fn a_consent_to_an_attackers_link_lands_nothing_in_the_attackers_team() {
    let h = OAuth::new().await;
    let start = Event::load("oauth-start/start.json")
        .caller("team-evil", "user-mallory")
        .path("/connections/facebook/start");
    let resp = h.start(&start).await;
    assert_eq!(resp.status, 200, "{}", resp.text);
    let link = authorize_url(&resp);

    // The manager clicks "Continue" at Facebook; their browser lands on the frontend.
    let back = h.authorize(&link).await;
    let at_frontend = landing(&h.callback(&callback_event(&back)).await);
    assert_eq!(
        at_frontend.result, "pending",
        "the code is parked, not exchanged"
    );
    let handle = param(&at_frontend.url, "handle").expect("a handle");
    let done = h.complete_as(&handle, TEAM, USER).await;

    assert_eq!(done.status, 403, "{}", done.text);
    assert_eq!(done.error_code(), "not_your_authorization");
    assert!(h.accounts().await.is_empty(), "nothing stored in any team");
    let token_calls = kinds(&h.log().await, EndpointKind::Token).len();
    assert_eq!(token_calls, 0, "the code was never exchanged");
}

/// A leaked authorize URL of the victim's: the attacker consents with their own account,
/// and their completion is refused. Nothing is planted in the victim's team, and the
/// refusal consumes nothing.
#[tokio::test]
async fn a_leaked_authorize_url_cannot_plant_the_attackers_account_in_the_victims_team() {
    let h = OAuth::new().await;
    let leaked = h.start_connect(Provider::X).await;
    let mut mallory = FakeUser::default_for(Provider::X);
    mallory.external_id = "mallory-x-1".into();
    h.fakes
        .control
        .set_user(Provider::X, &mallory)
        .await
        .unwrap();

    let back = h.authorize(&leaked).await;
    let at_frontend = landing(&h.callback(&callback_event(&back)).await);
    let handle = param(&at_frontend.url, "handle").expect("a handle");
    let refused = h.complete_as(&handle, "team-evil", "user-mallory").await;
    let same_team = h.complete_as(&handle, TEAM, "user-bob").await;

    assert_eq!(refused.status, 403, "{}", refused.text);
    assert_eq!(
        same_team.status, 403,
        "another user of the team is refused too"
    );
    assert!(h.accounts().await.is_empty(), "nothing planted");
    assert_eq!(kinds(&h.log().await, EndpointKind::Token).len(), 0);
    // Nothing valuable consumed: the parked code is still there for the one who started it.
    assert!(h
        .store
        .parked(&tokenwarden::oauth::parked_key(&handle))
        .await
        .unwrap()
        .is_some());
}

/// A handle completes once; a parked code waits five minutes.
#[tokio::test]
async fn a_handle_completes_once_and_not_after_five_minutes() {
    let h = OAuth::new().await;
    let first = landing(
        &h.callback(&callback_event(
            &h.authorize(&h.start_connect(Provider::Linkedin).await)
                .await,
        ))
        .await,
    );
    let handle = param(&first.url, "handle").unwrap();
    let done = h.complete_as(&handle, TEAM, USER).await;
    let again = h.complete_as(&handle, TEAM, USER).await;
    assert_eq!(done.status, 200, "{}", done.text);
    assert_eq!(done.json["result"], "connected");
    assert_eq!(done.json["accounts"].as_array().unwrap().len(), 1);
    assert_eq!(again.status, 404, "{}", again.text);

    let late = landing(
        &h.callback(&callback_event(
            &h.authorize(&h.start_connect(Provider::Google).await).await,
        ))
        .await,
    );
    h.clock
        .advance(tokenwarden::oauth::PARK_LIFETIME + Duration::seconds(1));
    let expired = h
        .complete_as(&param(&late.url, "handle").unwrap(), TEAM, USER)
        .await;
    assert_eq!(expired.status, 400, "{}", expired.text);
    assert_eq!(expired.error_code(), "expired_handle");
    assert_eq!(h.accounts().await.len(), 1, "only the LinkedIn account");
}

/// What a network says about an account reaches the token column, mails and events: a
/// hostile or careless profile cannot carry bidi overrides, zero-width characters or a
/// script URL into them.
#[tokio::test]
async fn a_hostile_profile_is_stored_without_bidi_characters_or_a_script_picture() {
    let h = OAuth::new().await;
    let mut user = FakeUser::default_for(Provider::X);
    user.name = "\u{202E}gnp.exe\u{200B}\u{2066} Ada \u{2069}".into();
    user.picture_url = Some("javascript:alert(1)".into());
    h.fakes.control.set_user(Provider::X, &user).await.unwrap();

    let back = h.connect(Provider::X).await;

    assert_eq!(back.result, "connected");
    let account = h.stored(&back.accounts[0]).await;
    assert_eq!(account.display_name, "gnp.exe Ada");
    assert_eq!(account.picture_url, None);
}

/// A consent that brings hundreds of Pages is handled within the function's time: they are
/// stored 16 at a time; one bringing more than 500 is refused as `too_many_accounts` with
/// nothing stored, after reading no more of `/me/accounts` than it takes to know.
#[tokio::test]
async fn a_consent_with_hundreds_of_pages_is_bounded() {
    let pages = |n: usize| {
        let mut user = FakeUser::default_for(Provider::Facebook);
        user.pages = (0..n)
            .map(|i| provider_fakes::FakePage {
                id: format!("{}", 200_000_000_000_000u64 + i as u64),
                name: format!("Page {i}"),
                instagram_business_account: None,
            })
            .collect();
        user
    };
    let h = OAuth::new().await;
    h.fakes
        .control
        .set_user(Provider::Facebook, &pages(300))
        .await
        .unwrap();

    let started = std::time::Instant::now();
    let many = h.connect(Provider::Facebook).await;
    let took = started.elapsed();

    assert_eq!(many.result, "connected");
    assert_eq!(many.accounts.len(), 300);
    let mut stored = 0;
    let mut cursor = None;
    loop {
        let page = h
            .store
            .list_accounts(&team(TEAM), 100, cursor.as_ref())
            .await
            .unwrap();
        stored += page.items.len();
        match page.next {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    assert_eq!(stored, 300);
    eprintln!("300 Pages connected in {took:?}");
    assert!(
        many.url.as_str().len() < 200,
        "the redirect carries a handle, not ids"
    );

    let too_many = OAuth::new().await;
    too_many
        .fakes
        .control
        .set_user(Provider::Facebook, &pages(1_200))
        .await
        .unwrap();
    let refused = too_many.connect(Provider::Facebook).await;
    assert_eq!(refused.result, "error");
    assert_eq!(refused.reason.as_deref(), Some("too_many_accounts"));
    assert!(too_many.accounts().await.is_empty());
    let reads = kinds(&too_many.log().await, EndpointKind::Accounts).len();
    assert!(reads <= 7, "{reads} /me/accounts reads");
}

/// While an authorization is in flight, the table holds neither the state, the PKCE
/// verifier nor the code in a form that completes it: the state under its hash, the verifier
/// sealed under the raw state (then with the keyring once parked), the code sealed.
#[tokio::test]
async fn the_table_never_holds_a_state_verifier_or_code_in_the_clear() {
    let h = OAuth::new().await;
    let authorize = h.start_connect(Provider::X).await;
    let state = param(&authorize, "state").unwrap();
    let at_start = format!("{:?}", h.items().await);
    let back = h.authorize(&authorize).await;
    let code = param(&back, "code").unwrap();
    let parked = landing(&h.callback(&callback_event(&back)).await);
    let while_parked = format!("{:?}", h.items().await);
    let handle = param(&parked.url, "handle").unwrap();

    let done = h.complete_as(&handle, TEAM, USER).await;

    assert_eq!(done.json["result"], "connected", "{}", done.text);
    let log = h.log().await;
    let verifier = kinds(&log, EndpointKind::Token)[0]
        .code_verifier
        .clone()
        .expect("X takes PKCE");
    for (when, items) in [("at start", &at_start), ("while parked", &while_parked)] {
        for (what, value) in [
            ("state", &state),
            ("verifier", &verifier),
            ("code", &code),
            ("handle", &handle),
        ] {
            assert!(
                !items.contains(value.as_str()),
                "{what} in the table {when}"
            );
        }
    }
}

/// A team's accounts are capped: a consent that would take it past the limit is refused
/// as `team_account_limit`, nothing stored (here with a limit of 3; the functions use
/// `MAX_ACCOUNTS_PER_TEAM`).
#[tokio::test]
async fn a_consent_past_the_teams_account_limit_is_refused() {
    let mut h = OAuth::new().await;
    h.callback_api.callback.team_account_limit = 3;
    assert_eq!(h.connect(Provider::X).await.result, "connected");
    assert_eq!(h.connect(Provider::Linkedin).await.result, "connected");

    // Facebook brings two Pages: 2 + 2 is past 3.
    let refused = h.connect(Provider::Facebook).await;

    assert_eq!(refused.result, "error");
    assert_eq!(refused.reason.as_deref(), Some("team_account_limit"));
    assert_eq!(h.accounts().await.len(), 2);
    // One more fits.
    assert_eq!(h.connect(Provider::Google).await.result, "connected");
    assert_eq!(h.accounts().await.len(), 3);
}
