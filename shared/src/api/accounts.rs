//! Function `accounts`: the networks offered, the team's accounts with their token column,
//! one account, and disconnect.

use std::sync::Arc;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, Utc};
use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Request, Response};
use serde::{Deserialize, Serialize};

use crate::disconnect::{Disconnection, Revocation};
use crate::domain::{
    Account, AccountId, Clock, Disconnect, HistoryEntry, HistoryKind, KeepAlive, LastChange,
    Provider, Status, TeamId, TokenColumn,
};
use crate::http::{self, query, ApiError, HttpConfig, Query, Route, Tenant};
use crate::providers::ProviderClient;
use crate::store::{AccountStore, Cursor, HistoryStore};

/// Page size when the caller gives none.
pub const DEFAULT_LIMIT: u32 = 50;
/// The largest page a caller may ask for.
pub const MAX_LIMIT: u32 = 100;
/// Store pages read at most per request when filters match few accounts; the answer is then
/// shorter than `limit` and carries a cursor.
pub const MAX_STORE_PAGES_PER_REQUEST: usize = 10;

/// The routes of this function, as written in `infra/openapi.yaml`.
pub const ROUTES: &[(&str, &str)] = &[
    ("GET", "/providers"),
    ("GET", "/accounts"),
    ("GET", "/accounts/{id}"),
    ("DELETE", "/accounts/{id}"),
    ("GET", "/accounts/{id}/history"),
];

/// What the `accounts` function works with, built once at cold start.
pub struct AccountsApi {
    pub accounts: Arc<dyn AccountStore>,
    pub history: Arc<dyn HistoryStore>,
    /// The networks offered (GET /providers).
    pub providers: Arc<dyn ProviderClient>,
    /// Disconnect with revocation: the one operation that opens tokens, behind a service.
    pub disconnection: Disconnection,
    pub clock: Arc<dyn Clock>,
    pub http: HttpConfig,
}

enum AccountsRoute {
    Providers,
    Accounts,
    Account(String),
    History(String),
}

impl Route for AccountsRoute {
    fn find(segments: &[&str]) -> Option<Self> {
        match segments {
            ["providers"] => Some(AccountsRoute::Providers),
            ["accounts"] => Some(AccountsRoute::Accounts),
            ["accounts", id] => Some(AccountsRoute::Account((*id).to_owned())),
            ["accounts", id, "history"] => Some(AccountsRoute::History((*id).to_owned())),
            _ => None,
        }
    }

    fn methods(&self) -> &'static [Method] {
        match self {
            AccountsRoute::Providers | AccountsRoute::Accounts | AccountsRoute::History(_) => {
                &[Method::GET]
            }
            AccountsRoute::Account(_) => &[Method::GET, Method::DELETE],
        }
    }

    fn template(&self) -> &'static str {
        match self {
            AccountsRoute::Providers => "/providers",
            AccountsRoute::Accounts => "/accounts",
            AccountsRoute::Account(_) => "/accounts/{id}",
            AccountsRoute::History(_) => "/accounts/{id}/history",
        }
    }
}

/// The function's handler: one API Gateway request in, one response out.
pub async fn handle(api: &AccountsApi, req: Request) -> Response<Body> {
    http::serve(&api.http, req, |req, caller, route| async move {
        match (req.method().clone(), route) {
            (_, AccountsRoute::Providers) => Ok(providers(api)),
            (_, AccountsRoute::Accounts) => list(api, &req, &caller).await,
            (Method::DELETE, AccountsRoute::Account(id)) => {
                disconnect(api, &caller, &account_id(&id)?).await
            }
            (_, AccountsRoute::Account(id)) => get(api, &caller, &account_id(&id)?).await,
            (_, AccountsRoute::History(id)) => history(api, &req, &caller, &account_id(&id)?).await,
        }
    })
    .await
}

/// The `limit` parameter: [`DEFAULT_LIMIT`] when absent, 1 to [`MAX_LIMIT`] when given.
fn page_limit(raw: Option<&str>) -> Result<u32, ApiError> {
    match raw {
        None => Ok(DEFAULT_LIMIT),
        Some(raw) => raw
            .parse::<u32>()
            .ok()
            .filter(|n| (1..=MAX_LIMIT).contains(n))
            .ok_or_else(|| {
                ApiError::bad_request(
                    "invalid_parameter",
                    format!("limit must be a whole number from 1 to {MAX_LIMIT}"),
                )
            }),
    }
}

/// An id that cannot exist is simply not found.
fn account_id(raw: &str) -> Result<AccountId, ApiError> {
    AccountId::parse(raw).map_err(|_| not_found())
}

fn not_found() -> ApiError {
    ApiError::NotFound("no account with this id in your team".into())
}

// ---- GET /providers -------------------------------------------------------------------

/// A network the team can connect, and what tokenwarden can do for it.
#[derive(Debug, Serialize)]
pub struct ProviderView {
    pub id: Provider,
    pub name: &'static str,
    /// Whether tokenwarden can keep a connection alive without a person.
    pub auto_refresh: bool,
    /// How: `none`, `refresh_token`, `rotating_refresh_token` or `self_refresh` (a
    /// long-lived token that renews itself).
    pub keep_alive: &'static str,
    /// Auto-refresh works only when the network grants a refresh token (LinkedIn: partner
    /// apps; X: `offline.access`).
    pub needs_refresh_token: bool,
    /// The typical access token lifetime when the network does not say (seconds; `null`:
    /// no expiry).
    pub typical_access_lifetime_seconds: Option<i64>,
    /// The typical refresh token lifetime (seconds; `null`: none or no fixed expiry).
    pub typical_refresh_lifetime_seconds: Option<i64>,
    /// Whether disconnecting also revokes the app's access at the network.
    pub revokes_on_disconnect: bool,
    /// What a disconnect does at the network: `revokes_refresh_token`,
    /// `revokes_access_token`, `removes_app_for_person` (Meta: only when no other account,
    /// in any team, stands on that person's grant) or `not_offered`.
    pub disconnect: Disconnect,
}

impl ProviderView {
    pub fn of(provider: Provider) -> Self {
        let spec = provider.spec();
        let keep_alive = match spec.keep_alive {
            KeepAlive::None => "none",
            KeepAlive::RefreshGrant => "refresh_token",
            KeepAlive::RefreshGrantRotating => "rotating_refresh_token",
            KeepAlive::Exchange { .. } => "self_refresh",
        };
        Self {
            id: provider,
            name: spec.display_name,
            // With the refresh token the network grants (see `needs_refresh_token`).
            auto_refresh: spec.auto_refresh(true),
            keep_alive,
            needs_refresh_token: spec.keep_alive.uses_refresh_token(),
            typical_access_lifetime_seconds: spec.default_access_lifetime.map(|d| d.num_seconds()),
            typical_refresh_lifetime_seconds: spec
                .default_refresh_lifetime
                .map(|d| d.num_seconds()),
            revokes_on_disconnect: spec.disconnect.revokes(),
            disconnect: spec.disconnect,
        }
    }
}

fn providers(api: &AccountsApi) -> Response<Body> {
    #[derive(Serialize)]
    struct Providers {
        providers: Vec<ProviderView>,
    }
    let mut offered = api.providers.offered();
    offered.sort_unstable(); // catalogue order
    offered.dedup();
    let providers = offered.into_iter().map(ProviderView::of).collect();
    http::json(StatusCode::OK, &Providers { providers })
}

// ---- GET /accounts, GET /accounts/{id} ------------------------------------------------

/// One account as the frontend shows it. Never a token, sealed or not.
#[derive(Debug, Serialize)]
pub struct AccountView {
    pub id: AccountId,
    pub provider: Provider,
    pub provider_name: &'static str,
    pub display_name: String,
    pub picture_url: Option<String>,
    pub connected_at: DateTime<Utc>,
    /// The newest history entry's kind and time.
    pub last_change: Option<LastChange>,
    /// The token column.
    pub token: TokenColumn,
}

impl AccountView {
    pub fn of(account: &Account, now: DateTime<Utc>) -> Self {
        Self {
            id: account.id.clone(),
            provider: account.provider,
            provider_name: account.provider.spec().display_name,
            display_name: account.display_name.clone(),
            picture_url: account.picture_url.clone(),
            connected_at: account.connected_at,
            last_change: account.last_change,
            token: account.token_column(now),
        }
    }
}

async fn get(
    api: &AccountsApi,
    caller: &Tenant,
    id: &AccountId,
) -> Result<Response<Body>, ApiError> {
    let account = api
        .accounts
        .get_account(&caller.team, id)
        .await?
        .ok_or_else(not_found)?;
    Ok(http::json(
        StatusCode::OK,
        &AccountView::of(&account, api.clock.now()),
    ))
}

/// Which accounts a listing keeps.
#[derive(Debug, Default, PartialEq, Eq)]
struct Filter {
    statuses: Vec<Status>,
    providers: Vec<Provider>,
}

impl Filter {
    /// The filter the `status` and `provider` parameters ask for (each may repeat or list
    /// several values).
    fn from_query(q: &Query) -> Result<Self, ApiError> {
        let mut filter = Filter::default();
        for raw in q.list("status") {
            filter.statuses.push(parse_status(raw)?);
        }
        for raw in q.list("provider") {
            filter.providers.push(parse_provider(raw)?);
        }
        Ok(filter)
    }

    fn keeps(&self, account: &Account, status: Status) -> bool {
        (self.statuses.is_empty() || self.statuses.contains(&status))
            && (self.providers.is_empty() || self.providers.contains(&account.provider))
    }

    /// A stable text of the filter, bound into the cursor.
    fn fingerprint(&self) -> String {
        let mut s: Vec<&str> = self.statuses.iter().map(|s| s.as_str()).collect();
        s.sort_unstable();
        s.dedup();
        let mut p: Vec<&str> = self.providers.iter().map(|p| p.id()).collect();
        p.sort_unstable();
        p.dedup();
        format!("status={};provider={}", s.join(","), p.join(","))
    }
}

/// The statuses a `status` parameter may name.
const LISTED_STATUSES: [Status; 4] = [
    Status::Active,
    Status::Expiring,
    Status::Expired,
    Status::Revoked,
];

fn parse_status(raw: &str) -> Result<Status, ApiError> {
    LISTED_STATUSES
        .into_iter()
        .find(|s| s.as_str() == raw)
        .ok_or_else(|| {
            ApiError::bad_request(
                "invalid_parameter",
                "status must be active, expiring, expired or revoked",
            )
        })
}

fn parse_provider(raw: &str) -> Result<Provider, ApiError> {
    raw.parse().map_err(|e: crate::domain::InvalidValue| {
        ApiError::bad_request("invalid_parameter", e.to_string())
    })
}

/// The listing's position, opaque to the caller: the store cursor of the page being read,
/// how many of that page's items were already answered, and the store page size (so the
/// page reads the same again). Bound to the team and the filter it was issued for.
#[derive(Debug, Serialize, Deserialize)]
struct ListCursor {
    /// Store cursor of the page to read (`None`: the first page).
    s: Option<String>,
    /// Items of that page already answered.
    k: u32,
    /// Store page size.
    p: u32,
    t: String,
    f: String,
}

impl ListCursor {
    /// The position `k` items into the store page that `store` starts (`None`: the first).
    fn at(
        store: Option<&Cursor>,
        k: usize,
        page_size: u32,
        team: &TeamId,
        filter: &Filter,
    ) -> Self {
        ListCursor {
            s: store.map(|c| c.as_str().to_owned()),
            k: k as u32,
            p: page_size,
            t: team.as_str().to_owned(),
            f: filter.fingerprint(),
        }
    }

    /// Where the listing starts: the caller's cursor, or the first page read `limit` at a
    /// time. An empty `cursor=` is no cursor (the first page), as a client generator
    /// sends it.
    fn start(
        raw: Option<&str>,
        team: &TeamId,
        filter: &Filter,
        limit: u32,
    ) -> Result<Self, ApiError> {
        match raw.filter(|c| !c.is_empty()) {
            Some(raw) => ListCursor::decode(raw, team, filter),
            None => Ok(ListCursor::at(None, 0, limit, team, filter)),
        }
    }

    fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(self).unwrap_or_default())
    }

    fn decode(raw: &str, team: &TeamId, filter: &Filter) -> Result<Self, ApiError> {
        let bad =
            || ApiError::bad_request("invalid_cursor", "the cursor is not valid for this listing");
        let bytes = URL_SAFE_NO_PAD.decode(raw).map_err(|_| bad())?;
        let cursor: ListCursor = serde_json::from_slice(&bytes).map_err(|_| bad())?;
        if cursor.t != team.as_str()
            || cursor.f != filter.fingerprint()
            || cursor.p == 0
            || cursor.p > MAX_LIMIT
        {
            return Err(bad());
        }
        Ok(cursor)
    }
}

/// What one answer of the listing holds: the accounts kept so far, at most `limit`.
struct Gathered<'a> {
    filter: &'a Filter,
    limit: usize,
    now: DateTime<Utc>,
    items: Vec<AccountView>,
}

impl Gathered<'_> {
    /// Keeps the accounts of one store page, from `skip` on, that pass the filter.
    /// `Some(k)` when the answer filled up, the page's first `k` items being read.
    fn take(&mut self, page: &[Account], skip: usize) -> Option<usize> {
        for (i, account) in page.iter().enumerate().skip(skip) {
            let view = AccountView::of(account, self.now);
            if self.filter.keeps(account, view.token.status) {
                self.items.push(view);
                if self.items.len() == self.limit {
                    return Some(i + 1);
                }
            }
        }
        None
    }
}

/// What comes after one store page of a listing.
enum AfterPage {
    /// The answer is complete; `Some((store, k))`: the next one starts `k` items into the
    /// store page that `store` starts.
    Answer(Option<(Option<Cursor>, usize)>),
    /// The answer wants the store page that this cursor starts.
    ReadOn(Cursor),
}

/// Decides what follows a store page of `len` items read from `current`, given where the
/// answer filled up (`cut`) and the store's cursor past the page (`following`).
fn after_page(
    cut: Option<usize>,
    len: usize,
    current: Option<Cursor>,
    following: Option<Cursor>,
) -> AfterPage {
    match (cut, following) {
        // Stopped inside the page: the next answer re-reads it and skips what was sent.
        (Some(k), _) if k < len => AfterPage::Answer(Some((current, k))),
        (_, None) => AfterPage::Answer(None),
        (Some(_), Some(after)) => AfterPage::Answer(Some((Some(after), 0))),
        (None, Some(after)) => AfterPage::ReadOn(after),
    }
}

async fn list(
    api: &AccountsApi,
    req: &Request,
    caller: &Tenant,
) -> Result<Response<Body>, ApiError> {
    let q = query(req, &["status", "provider", "limit", "cursor"])?;
    let filter = Filter::from_query(&q)?;
    let limit = page_limit(q.one("limit")?)?;
    let start = ListCursor::start(q.one("cursor")?, &caller.team, &filter, limit)?;
    let (items, next) = read_listing(api, &caller.team, &filter, limit, start).await?;

    #[derive(Serialize)]
    struct Listing {
        accounts: Vec<AccountView>,
        next_cursor: Option<String>,
    }
    Ok(http::json(
        StatusCode::OK,
        &Listing {
            accounts: items,
            next_cursor: next.map(|c| c.encode()),
        },
    ))
}

/// Reads store pages from `start`, keeping what passes the filter, until the answer holds
/// `limit` accounts, the store has no more, or [`MAX_STORE_PAGES_PER_REQUEST`] pages were
/// read. Returns the answer and where the next one starts, if anywhere.
async fn read_listing(
    api: &AccountsApi,
    team: &TeamId,
    filter: &Filter,
    limit: u32,
    start: ListCursor,
) -> Result<(Vec<AccountView>, Option<ListCursor>), ApiError> {
    let page_size = start.p;
    let position = |s: Option<&Cursor>, k: usize| ListCursor::at(s, k, page_size, team, filter);
    let mut gathered = Gathered {
        filter,
        limit: limit as usize,
        now: api.clock.now(),
        items: Vec::new(),
    };
    let mut store_cursor = start.s.map(|s| Cursor::from_client(&s));
    let mut skip = start.k as usize;
    let mut reads = 0;
    loop {
        let page = api
            .accounts
            .list_accounts(team, page_size, store_cursor.as_ref())
            .await?;
        reads += 1;
        let cut = gathered.take(&page.items, skip);
        skip = 0;
        match after_page(cut, page.items.len(), store_cursor, page.next) {
            AfterPage::Answer(next) => {
                let next = next.map(|(s, k)| position(s.as_ref(), k));
                return Ok((gathered.items, next));
            }
            AfterPage::ReadOn(after) if reads >= MAX_STORE_PAGES_PER_REQUEST => {
                return Ok((gathered.items, Some(position(Some(&after), 0))));
            }
            AfterPage::ReadOn(after) => store_cursor = Some(after),
        }
    }
}

// ---- GET /accounts/{id}/history ---------------------------------------------------------

/// One history entry as the frontend and support staff read it.
#[derive(Debug, Serialize)]
pub struct HistoryView {
    pub id: String,
    pub at: DateTime<Utc>,
    pub kind: HistoryKind,
    pub status_before: Option<Status>,
    pub reason_before: Option<crate::domain::Reason>,
    /// `null` once removed.
    pub status: Option<Status>,
    pub reason: Option<crate::domain::Reason>,
    pub reconnect_by: Option<DateTime<Utc>>,
    /// The lead day reached, for `expiring`.
    pub days_left: Option<u32>,
    pub cause: CauseView,
    /// The network's error code (`190/460`, `invalid_grant`) when an answer caused it.
    pub provider_error: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct CauseView {
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// The sweep invocation, the credentials request or the user.
    pub id: String,
}

impl HistoryView {
    pub fn of(e: &HistoryEntry) -> Self {
        Self {
            id: e.id.clone(),
            at: e.at,
            kind: e.kind,
            status_before: e.before.map(|b| b.status),
            reason_before: e.before.and_then(|b| b.reason),
            status: e.after.map(|a| a.status),
            reason: e.after.and_then(|a| a.reason),
            reconnect_by: e.reconnect_by,
            days_left: e.days_left,
            cause: CauseView {
                kind: e.cause.type_str(),
                id: e.cause.id().to_owned(),
            },
            provider_error: e.provider_error.clone(),
        }
    }
}

/// The account's history, newest first, a page at a time. The account must be the
/// caller team's (404 otherwise, even if it had history); a cursor works only for the
/// account it was issued for.
async fn history(
    api: &AccountsApi,
    req: &Request,
    caller: &Tenant,
    id: &AccountId,
) -> Result<Response<Body>, ApiError> {
    let q = query(req, &["limit", "cursor"])?;
    let limit = page_limit(q.one("limit")?)?;
    api.accounts
        .get_account(&caller.team, id)
        .await?
        .ok_or_else(not_found)?;
    let cursor = q
        .one("cursor")?
        .filter(|c| !c.is_empty())
        .map(Cursor::from_client);
    let page = api
        .history
        .history(&caller.team, id, limit, cursor.as_ref())
        .await?;
    #[derive(Serialize)]
    struct History {
        history: Vec<HistoryView>,
        next_cursor: Option<String>,
    }
    Ok(http::json(
        StatusCode::OK,
        &History {
            history: page.items.iter().map(HistoryView::of).collect(),
            next_cursor: page.next.map(|c| c.as_str().to_owned()),
        },
    ))
}

// ---- DELETE /accounts/{id} -------------------------------------------------------------

/// Disconnects (the rules are [`crate::disconnect`]'s) and answers what it did at the
/// network.
async fn disconnect(
    api: &AccountsApi,
    caller: &Tenant,
    id: &AccountId,
) -> Result<Response<Body>, ApiError> {
    let done = api
        .disconnection
        .disconnect(&caller.team, id, &caller.user)
        .await?
        .ok_or_else(not_found)?;
    Ok(http::json(
        StatusCode::OK,
        &DisconnectedView {
            id,
            removed: true,
            revocation: done.revocation,
            message: done.message,
        },
    ))
}

/// The answer of a disconnect.
#[derive(Serialize)]
struct DisconnectedView<'a> {
    id: &'a AccountId,
    removed: bool,
    revocation: Revocation,
    message: String,
}

#[cfg(test)]
mod cursor_props {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        #![proptest_config(ProptestConfig { cases: crate::parser_props::CASES, ..ProptestConfig::default() })]

        /// A cursor is whatever a client sends back: any text is refused as a 400 or read as
        /// a cursor of the caller's own team and listing, never anything else.
        #[test]
        fn any_cursor_text_is_refused_or_names_this_listing(
            raw in prop_oneof![".{0,120}", "[A-Za-z0-9_-]{0,160}"],
        ) {
            let team = TeamId::parse("team-a").unwrap();
            let filter = Filter::default();
            if let Ok(cursor) = ListCursor::decode(&raw, &team, &filter) {
                prop_assert_eq!(cursor.t, "team-a");
                prop_assert_eq!(cursor.f, filter.fingerprint());
            }
            // A real cursor of another team is refused.
            let other = ListCursor { s: None, k: 0, p: 50, t: "team-b".into(), f: filter.fingerprint() };
            prop_assert!(ListCursor::decode(&other.encode(), &team, &filter).is_err());
        }
    }
}
