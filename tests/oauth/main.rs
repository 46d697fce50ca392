//! OAuth connect and reconnect (functions `oauth-start` and `oauth-callback`), through the
//! handlers the functions run, fed with the sample events of `events/`, over the wire:
//! DynamoDB Local (a fresh table per test), the provider fakes in-process (a fresh fake per
//! test) reached by the real HTTP provider client, a browser that never follows redirects.
//! Every response is checked against `infra/openapi.yaml` (see `api_support::read`).

#[allow(dead_code)]
#[path = "../api_support.rs"]
mod api_support;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration as StdDuration;

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
    Credentials, GraphVersion, HttpProviderClient, NetworkSettings, ProviderClient, TokenGrant,
};
use tokenwarden::seal::{Binding, Keyring, TokenSlot};
use tokenwarden::store::dynamo::DynamoStore;
use tokenwarden::store::{AccountStore, Ledger, LedgerEntry, MailState, OAuthState, StateStore};
use tokenwarden_integration::{account_id, team, GrantLog, ObservedProviders};
use url::Url;

use api_support::{read, Event, LogCapture, Resp, FRONTEND};

/// Completion bound to the person who started it (RFC 9700 §4.7.1).
mod completion;
/// A full connect for each network, and the bounds on what one consent may bring.
mod connect;
/// Each network's own rules at connect: its true clocks, declined permissions, Graph version.
mod network_rules;
/// Reconnect: tokens replaced in place, a broken account recovered, a mismatch refused.
mod reconnect;
/// Every sample event of `events/` through its handler, with the documented status.
mod sample_events;
/// Refusals at start and callback, and no secret in any response, URL or log line.
mod security;

const CALLBACK_BASE: &str = "https://api.example.com";
const TEAM: &str = "team-demo";
const USER: &str = "user-ana";
const SETTINGS: &str = "https://app.example.com/settings/social";

// ---- the harness -------------------------------------------------------------------------

/// Both OAuth handlers on a fresh table, with a fresh provider fake and a manual clock.
struct OAuth {
    store: Arc<DynamoStore>,
    dynamo: aws_sdk_dynamodb::Client,
    fakes: FakeHandle,
    /// The real HTTP provider client, keeping every grant the networks handed out.
    providers: Arc<ObservedProviders<GrantLog>>,
    keyring: Arc<Keyring>,
    clock: Arc<ManualClock>,
    start_api: StartApi,
    callback_api: CallbackApi,
    /// A browser that never follows a redirect: each hop is read by hand.
    browser: reqwest::Client,
}

impl OAuth {
    /// The last grant of `provider` a connect handed out (after the long-lived exchange
    /// where there is one).
    fn last_grant(&self, provider: Provider) -> TokenGrant {
        (self.providers.observer)
            .last_connect_grant(provider)
            .expect("a grant was handed out")
    }

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
        let http =
            HttpProviderClient::new(credentials, fakes.endpoints(), StdDuration::from_secs(5))
                .expect("the HTTP client builds")
                .with_settings(settings);
        let providers = Arc::new(ObservedProviders::new(Arc::new(http), GrantLog::default()));
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
