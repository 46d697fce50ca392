//! The fake networks' memory and behaviour: codes, token chains, users, faults, the log.
//!
//! Every grant starts a chain (the code exchange); the long-lived, refreshed and Page
//! tokens derived from it belong to the same chain. Revoking, or replaying a rotated
//! refresh token, kills the whole chain, as X documents.
//!
//! The rules every network shares live here; each network's own endpoint answers live in
//! its module (`meta`, `linkedin`, `x`, `google`, `tiktok`, `pinterest`).

use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};
use tokenwarden::domain::Provider;
use url::Url;

use crate::dialect::{self, is_meta, Dead, Failure};
use crate::documented::{self, Pkce, Refresh};
use crate::model::{EndpointKind, FakeUser, Fault, FaultRule, RecordedRequest, SettingsPatch};
use crate::request::Incoming;
use crate::routes::{Route, Routed};
use crate::{default_client_id, default_client_secret, s256_challenge};

mod google;
mod linkedin;
mod meta;
mod pinterest;
mod tiktok;
mod x;

/// How long an authorization code can be exchanged.
const CODE_LIFETIME: u64 = 600;
/// The longest a `timeout` fault holds an answer back.
const MAX_TIMEOUT: u64 = 30;
/// The request log keeps the latest calls only (a benchmark makes many).
const MAX_LOG: usize = 10_000;

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

/// What the server sends back.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Reply {
    Json(u16, Value),
    /// 302 to this URL.
    Redirect(String),
    /// A browser page (authorize errors that must not redirect).
    Page(u16, String),
    Empty(u16),
}

impl Reply {
    pub fn status(&self) -> u16 {
        match self {
            Reply::Json(s, _) | Reply::Page(s, _) | Reply::Empty(s) => *s,
            Reply::Redirect(_) => 302,
        }
    }
}

impl From<(u16, Value)> for Reply {
    fn from((status, body): (u16, Value)) -> Self {
        Reply::Json(status, body)
    }
}

/// The answer and how long to hold it back.
pub(crate) struct Handled {
    pub reply: Reply,
    pub delay: Duration,
}

#[derive(Debug, Clone)]
struct Settings {
    deny: bool,
    flat_token_response: bool,
    client_id: String,
    client_secret: String,
    /// Scopes the person unticks on the consent screen.
    decline: Vec<String>,
    /// What `debug_token` answers as `data_access_expires_at` instead of the chain's
    /// authorization time + 90 days.
    data_access_expires_at: Option<u64>,
    /// Pinterest: the app was created before 2025-09-25 (continuous refresh only when
    /// asked for).
    legacy_app: bool,
}

#[derive(Debug, Clone)]
struct CodeGrant {
    redirect_uri: String,
    challenge: Option<String>,
    /// `S256`, or `plain` where the network documents it.
    challenge_method: String,
    scopes: Vec<String>,
    offline: bool,
    issued_at: u64,
    used: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Form {
    /// A user token without a documented short/long distinction.
    User,
    ShortLived,
    LongLived,
    Page,
}

#[derive(Debug, Clone)]
struct AccessToken {
    chain: usize,
    form: Form,
    issued_at: u64,
    expires_at: Option<u64>,
    page_id: Option<String>,
    /// A Page token whose user lost their role on the Page.
    admin_lost: bool,
}

#[derive(Debug, Clone)]
struct RefreshToken {
    chain: usize,
    /// Replaced by a newer one (rotation): presenting it again kills the chain.
    rotated_out: bool,
}

#[derive(Debug, Clone)]
struct Chain {
    scopes: Vec<String>,
    dead: Option<Dead>,
    refresh_expires_at: Option<u64>,
    authorized_at: u64,
    /// The person who granted it (the fake user's `external_id` then).
    user_id: String,
    /// The app it was granted to.
    client_id: String,
    /// Whether a refresh token was issued (Google's 100-token limit counts these).
    has_refresh: bool,
    /// Pinterest: a continuous-refresh grant (every refresh rotates).
    continuous: bool,
}

struct ActiveFault {
    rule: FaultRule,
}

struct Net {
    provider: Provider,
    settings: Settings,
    user: FakeUser,
    faults: Vec<ActiveFault>,
    counter: u64,
    codes: HashMap<String, CodeGrant>,
    access: HashMap<String, AccessToken>,
    refresh: HashMap<String, RefreshToken>,
    chains: Vec<Chain>,
    page_tokens: HashMap<(usize, String), String>,
}

pub(crate) struct World {
    nets: HashMap<Provider, Net>,
    latency: Duration,
    log: Vec<RecordedRequest>,
    seq: u64,
}

impl Default for World {
    fn default() -> Self {
        Self {
            nets: HashMap::new(),
            latency: Duration::ZERO,
            log: Vec::new(),
            seq: 0,
        }
    }
}

fn kind_of(route: Route, inc: &Incoming) -> EndpointKind {
    match route {
        Route::Authorize => EndpointKind::Authorize,
        Route::Token => match inc.param("grant_type") {
            Some("refresh_token") => EndpointKind::Refresh,
            Some("fb_exchange_token") => EndpointKind::Exchange,
            _ => EndpointKind::Token,
        },
        Route::Exchange => EndpointKind::Exchange,
        Route::RefreshExchange => EndpointKind::Refresh,
        Route::Introspect => EndpointKind::Introspect,
        Route::Profile => EndpointKind::Profile,
        Route::Accounts => EndpointKind::Accounts,
        Route::Revoke => EndpointKind::Revoke,
    }
}

fn record(
    seq: u64,
    provider: Option<Provider>,
    kind: Option<EndpointKind>,
    inc: &Incoming,
) -> RecordedRequest {
    let client = inc.client();
    let own = |s: Option<&str>| s.map(str::to_owned);
    RecordedRequest {
        seq,
        provider,
        kind,
        method: inc.method.to_string(),
        path: inc.path.clone(),
        client_auth: client.how,
        client_id: client.id.or_else(|| {
            provider.and_then(|p| own(inc.query_param(documented::of(p).client_id_param)))
        }),
        grant_type: own(inc.param("grant_type")),
        code: own(inc.param("code")),
        code_challenge: own(inc.param("code_challenge")),
        code_verifier: own(inc.param("code_verifier")),
        redirect_uri: own(inc.param("redirect_uri")),
        refresh_token: own(inc.param("refresh_token")),
        access_token: own(inc.presented_token()),
        auth_type: own(inc.param("auth_type")),
        continuous_refresh: own(inc.param("continuous_refresh")),
        params: inc.visible_params(),
        status: 0,
        fault: None,
    }
}

impl World {
    pub fn reset(&mut self) {
        *self = World::default();
    }

    fn net(&mut self, provider: Provider) -> &mut Net {
        self.nets
            .entry(provider)
            .or_insert_with(|| Net::new(provider))
    }

    pub fn set_user(&mut self, provider: Provider, user: FakeUser) {
        self.net(provider).user = user;
    }

    pub fn patch_settings(&mut self, provider: Provider, patch: SettingsPatch) {
        let s = &mut self.net(provider).settings;
        if let Some(deny) = patch.deny {
            s.deny = deny;
        }
        if let Some(flat) = patch.flat_token_response {
            s.flat_token_response = flat;
        }
        if let Some(id) = patch.client_id {
            s.client_id = id;
        }
        if let Some(secret) = patch.client_secret {
            s.client_secret = secret;
        }
        if let Some(decline) = patch.decline {
            s.decline = decline;
        }
        if let Some(at) = patch.data_access_expires_at {
            // 0: back to the chain's authorization time + 90 days.
            s.data_access_expires_at = (at > 0).then_some(at);
        }
        if let Some(legacy) = patch.legacy_app {
            s.legacy_app = legacy;
        }
    }

    /// The user loses their role on a Page: it leaves `/me/accounts`, and every Page
    /// token issued for it so far fails as Meta's "must be an administrator" error.
    /// `false` when the user has no such Page.
    pub fn remove_page(&mut self, provider: Provider, page_id: &str) -> bool {
        let net = self.net(provider);
        let before = net.user.pages.len();
        net.user.pages.retain(|p| p.id != page_id);
        if net.user.pages.len() == before {
            return false;
        }
        for token in net.access.values_mut() {
            if token.page_id.as_deref() == Some(page_id) {
                token.admin_lost = true;
            }
        }
        net.page_tokens.retain(|(_, page), _| page != page_id);
        true
    }

    pub fn add_fault(&mut self, provider: Provider, rule: FaultRule) {
        if rule.times != Some(0) {
            self.net(provider).faults.push(ActiveFault { rule });
        }
    }

    pub fn clear_faults(&mut self, provider: Provider) {
        self.net(provider).faults.clear();
    }

    pub fn set_latency(&mut self, latency: Duration) {
        self.latency = latency;
    }

    pub fn log(&self) -> Vec<RecordedRequest> {
        self.log.clone()
    }

    fn push_log(&mut self, entry: RecordedRequest) {
        if self.log.len() >= MAX_LOG {
            self.log.drain(..MAX_LOG / 10);
        }
        self.log.push(entry);
    }

    /// A call to a path that is no provider endpoint (or the trap).
    pub fn unrouted(&mut self, inc: &Incoming, reply: Reply) -> Handled {
        self.seq += 1;
        let mut entry = record(self.seq, None, None, inc);
        entry.status = reply.status();
        self.push_log(entry);
        Handled {
            reply,
            delay: Duration::ZERO,
        }
    }

    pub fn handle(&mut self, routed: &Routed, inc: &Incoming) -> Handled {
        self.seq += 1;
        let seq = self.seq;
        let latency = self.latency;
        let (provider, route) = (routed.provider, routed.route);
        let kind = kind_of(route, inc);
        let mut entry = record(seq, Some(provider), Some(kind), inc);
        let net = self.net(provider);
        let (reply, delay) = if let Some(version) = routed.unserved_version() {
            // A Graph version Meta does not serve: no such path, no fault consumed.
            let tail = inc.path.split_once(version).map_or("", |(_, after)| after);
            let message = format!("Unknown path components: /{version}{tail}");
            (
                dialect::meta_error(400, 2500, None, &message, seq).into(),
                Duration::ZERO,
            )
        } else {
            match net.take_fault(kind) {
                Some(fault) => {
                    entry.fault = Some(fault.name().to_owned());
                    net.fault_answer(routed, kind, &fault, inc, seq)
                }
                None => (net.serve(routed, kind, inc, seq), Duration::ZERO),
            }
        };
        entry.status = reply.status();
        self.push_log(entry);
        Handled {
            reply,
            delay: latency + delay,
        }
    }
}

/// Scopes as sent at authorize (commas or spaces, by network).
fn split_scopes(raw: &str) -> Vec<String> {
    raw.split([',', ' '])
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

fn add_query(base: &str, params: &[(&str, &str)]) -> Option<String> {
    let mut url = Url::parse(base).ok()?;
    {
        let mut q = url.query_pairs_mut();
        for (k, v) in params {
            q.append_pair(k, v);
        }
    }
    Some(url.into())
}

impl Net {
    fn new(provider: Provider) -> Self {
        Self {
            provider,
            settings: Settings {
                deny: false,
                flat_token_response: false,
                client_id: default_client_id(provider),
                client_secret: default_client_secret(provider),
                decline: Vec::new(),
                data_access_expires_at: None,
                legacy_app: true,
            },
            user: FakeUser::default_for(provider),
            faults: Vec::new(),
            counter: 0,
            codes: HashMap::new(),
            access: HashMap::new(),
            refresh: HashMap::new(),
            chains: Vec::new(),
            page_tokens: HashMap::new(),
        }
    }

    fn take_fault(&mut self, kind: EndpointKind) -> Option<Fault> {
        let index = self
            .faults
            .iter()
            .position(|f| f.rule.kind == kind && f.rule.times != Some(0))?;
        let active = &mut self.faults[index];
        let fault = active.rule.fault.clone();
        if let Some(n) = active.rule.times.as_mut() {
            *n -= 1;
            if *n == 0 {
                self.faults.remove(index);
            }
        }
        Some(fault)
    }

    fn next(&mut self, what: &str) -> String {
        self.counter += 1;
        format!("canary-{}-{what}-{}", self.provider.id(), self.counter)
    }

    fn fail(&self, route: Route, failure: Failure, seq: u64) -> Reply {
        dialect::failure(self.provider, route, failure, seq).into()
    }

    fn scope_answer(&self, scopes: &[String]) -> String {
        let sep = match self.provider {
            // LinkedIn asks with spaces and answers with commas.
            Provider::Linkedin => ",",
            p => documented::of(p).scope_separator,
        };
        scopes.join(sep)
    }

    // ----- tokens -----

    fn new_chain(&mut self, scopes: Vec<String>) -> usize {
        self.chains.push(Chain {
            scopes,
            dead: None,
            refresh_expires_at: None,
            authorized_at: now(),
            user_id: self.user.external_id.clone(),
            client_id: self.settings.client_id.clone(),
            has_refresh: false,
            continuous: false,
        });
        self.chains.len() - 1
    }

    fn issue_access(&mut self, chain: usize, form: Form, lifetime: Option<u64>) -> String {
        let token = self.next(if form == Form::Page { "page" } else { "access" });
        let issued_at = now();
        self.access.insert(
            token.clone(),
            AccessToken {
                chain,
                form,
                issued_at,
                expires_at: lifetime.map(|l| issued_at + l),
                page_id: None,
                admin_lost: false,
            },
        );
        token
    }

    fn issue_refresh(&mut self, chain: usize) -> String {
        if let Some(c) = self.chains.get_mut(chain) {
            c.has_refresh = true;
        }
        let token = self.next("refresh");
        self.refresh.insert(
            token.clone(),
            RefreshToken {
                chain,
                rotated_out: false,
            },
        );
        token
    }

    /// The access token's record when it still works, else why not.
    fn live(&self, token: Option<&str>) -> Result<&AccessToken, Dead> {
        let record = token
            .and_then(|t| self.access.get(t))
            .ok_or(Dead::Unknown)?;
        if let Some(dead) = self.chains[record.chain].dead {
            return Err(dead);
        }
        if record.admin_lost {
            return Err(Dead::AdminLost);
        }
        if record.expires_at.is_some_and(|e| e <= now()) {
            return Err(Dead::Expired);
        }
        Ok(record)
    }

    fn chain_of(&self, token: &str) -> Option<usize> {
        self.access
            .get(token)
            .map(|a| a.chain)
            .or_else(|| self.refresh.get(token).map(|r| r.chain))
    }

    fn kill(&mut self, chain: usize, why: Dead) {
        if let Some(c) = self.chains.get_mut(chain) {
            c.dead.get_or_insert(why);
        }
    }

    /// The person removed the app: every grant they made to it dies.
    fn remove_app_for(&mut self, user_id: &str) {
        let theirs: Vec<usize> = (0..self.chains.len())
            .filter(|c| self.chains[*c].user_id == user_id)
            .collect();
        for chain in theirs {
            self.kill(chain, Dead::Revoked);
        }
    }

    fn client_ok(&self, inc: &Incoming) -> bool {
        let seen = inc.client();
        documented::of(self.provider)
            .client_auth
            .contains(&seen.how)
            && seen.is(&self.settings.client_id, &self.settings.client_secret)
    }

    // ----- faults -----

    fn fault_answer(
        &mut self,
        routed: &Routed,
        kind: EndpointKind,
        fault: &Fault,
        inc: &Incoming,
        seq: u64,
    ) -> (Reply, Duration) {
        let route = routed.route;
        let reply = match fault {
            Fault::Status5xx { status } => {
                let status = status.filter(|s| (500..=599).contains(s)).unwrap_or(503);
                self.fail(route, Failure::Server(status), seq)
            }
            Fault::Timeout { seconds } => {
                let secs = seconds.unwrap_or(MAX_TIMEOUT).min(MAX_TIMEOUT);
                return (
                    self.fail(route, Failure::Server(504), seq),
                    Duration::from_secs(secs),
                );
            }
            Fault::RateLimited => self.fail(route, Failure::RateLimited, seq),
            Fault::Redirect { location } => {
                let target = location.clone().unwrap_or_else(|| {
                    format!(
                        "http://{}/_fake/trap",
                        inc.host.as_deref().unwrap_or("127.0.0.1")
                    )
                });
                Reply::Redirect(target)
            }
            Fault::InvalidGrant => self.dead_answer(route, kind, Dead::Unknown, inc, seq),
            Fault::Meta190 { subcode } => {
                self.dead_answer(route, kind, Dead::Meta(subcode.unwrap_or(460)), inc, seq)
            }
            Fault::AdminLost => self.dead_answer(route, kind, Dead::AdminLost, inc, seq),
            Fault::EchoRequest => {
                let mut quoted: Vec<String> = inc
                    .query
                    .iter()
                    .chain(inc.form.iter())
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect();
                if let Some(bearer) = &inc.bearer {
                    quoted.push(format!("bearer={bearer}"));
                }
                if let Some((id, secret)) = &inc.basic {
                    quoted.push(format!("basic={id}:{secret}"));
                }
                let text = format!("Invalid request: {}", quoted.join(" "));
                match self.fail(route, Failure::InvalidRequest(ECHO), seq) {
                    Reply::Json(status, mut body) => {
                        replace_text(&mut body, ECHO, &text);
                        Reply::Json(status, body)
                    }
                    other => other,
                }
            }
            Fault::AbsurdLifetime { seconds } => {
                let seconds = seconds.unwrap_or(i64::MAX);
                match self.serve(routed, kind, inc, seq) {
                    Reply::Json(200, mut body) => {
                        for key in [
                            "expires_in",
                            "refresh_expires_in",
                            "refresh_token_expires_in",
                        ] {
                            if let Some(v) = body.get_mut(key) {
                                *v = json!(seconds);
                            }
                        }
                        Reply::Json(200, body)
                    }
                    other => other,
                }
            }
            Fault::Revoked => {
                let presented = inc
                    .param("refresh_token")
                    .or_else(|| inc.presented_token())
                    .map(str::to_owned);
                if let Some(chain) = presented.and_then(|t| self.chain_of(&t)) {
                    self.kill(chain, Dead::Revoked);
                }
                self.dead_answer(route, kind, Dead::Revoked, inc, seq)
            }
        };
        (reply, Duration::ZERO)
    }

    /// How the network says "this token or grant is dead" at this endpoint.
    fn dead_answer(
        &self,
        route: Route,
        kind: EndpointKind,
        dead: Dead,
        inc: &Incoming,
        seq: u64,
    ) -> Reply {
        let provider = self.provider;
        match (route, kind) {
            (Route::Authorize, _) => self
                .denied(inc)
                .unwrap_or_else(|| Reply::Page(400, "<h1>Something went wrong</h1>".to_owned())),
            (Route::Introspect, _) => match provider {
                Provider::Facebook | Provider::Instagram => self.debug_token_invalid(dead),
                Provider::Linkedin => Reply::Json(200, linkedin::inactive(dead)),
                _ => self.fail(route, Failure::DeadToken(dead), seq),
            },
            // Grants at OAuth 2 token endpoints: invalid_grant; Meta's exchanges: code 190.
            (Route::Token, EndpointKind::Token | EndpointKind::Refresh)
                if !matches!(dead, Dead::Meta(_) | Dead::AdminLost) =>
            {
                self.fail(
                    route,
                    Failure::InvalidGrant("Token has been expired or revoked."),
                    seq,
                )
            }
            _ => self.fail(route, Failure::DeadToken(dead), seq),
        }
    }

    // ----- endpoints -----

    fn serve(&mut self, routed: &Routed, kind: EndpointKind, inc: &Incoming, seq: u64) -> Reply {
        use axum::http::Method;
        let route = routed.route;
        let provider = self.provider;
        let meta_graph = matches!(provider, Provider::Facebook | Provider::Instagram);
        let method_ok = match route {
            Route::Authorize
            | Route::Exchange
            | Route::RefreshExchange
            | Route::Profile
            | Route::Accounts => inc.method == Method::GET,
            Route::Token => inc.method == Method::POST || (meta_graph && inc.method == Method::GET),
            Route::Introspect => match provider {
                Provider::Linkedin => inc.method == Method::POST,
                _ => inc.method == Method::GET || inc.method == Method::POST,
            },
            Route::Revoke => inc.method.as_str() == documented::of(provider).revoke_method,
        };
        if !method_ok {
            return Reply::Json(
                405,
                json!({ "error": "method_not_allowed", "error_description": "Method not allowed" }),
            );
        }
        let result = match (route, kind) {
            (Route::Authorize, _) => Ok(self.authorize(inc)),
            (Route::Token, EndpointKind::Refresh) => self.refresh_grant(inc),
            (Route::Token, EndpointKind::Exchange) => self.fb_exchange(inc),
            (Route::Token, _) => self.exchange_code(inc),
            (Route::Exchange, _) => self.graph_exchange(inc, false),
            (Route::RefreshExchange, _) => self.graph_exchange(inc, true),
            (Route::Introspect, _) => self.introspect(inc),
            (Route::Profile, _) => self.profile(inc, seq),
            (Route::Accounts, _) => self.accounts(inc),
            (Route::Revoke, _) => self.revoke(routed, inc, seq),
        };
        result.unwrap_or_else(|failure| self.fail(route, failure, seq))
    }

    /// The deny redirect, when the request names a usable redirect URI.
    fn denied(&self, inc: &Incoming) -> Option<Reply> {
        let redirect = inc.query_param("redirect_uri")?;
        let state = inc.query_param("state").unwrap_or_default();
        let mut params = vec![
            ("error", "access_denied"),
            ("error_description", "The user denied your request."),
        ];
        if is_meta(self.provider) {
            params.push(("error_code", "200"));
            params.push(("error_reason", "user_denied"));
        }
        params.push(("state", state));
        add_query(redirect, &params).map(Reply::Redirect)
    }

    fn authorize(&mut self, inc: &Incoming) -> Reply {
        let spec = documented::of(self.provider);
        let page =
            |msg: &str| Reply::Page(400, format!("<h1>{}</h1><p>{msg}</p>", spec.display_name));
        if inc.query_param(spec.client_id_param) != Some(self.settings.client_id.as_str()) {
            return page(&format!("Invalid {}.", spec.client_id_param));
        }
        let Some(redirect) = inc
            .query_param("redirect_uri")
            .filter(|r| Url::parse(r).is_ok_and(|u| matches!(u.scheme(), "http" | "https")))
        else {
            return page("Invalid redirect_uri.");
        };
        let Some(state) = inc.query_param("state").filter(|s| !s.is_empty()) else {
            return page("The state parameter is required.");
        };
        let back = |error: &str, description: &str| {
            add_query(
                redirect,
                &[
                    ("error", error),
                    ("error_description", description),
                    ("state", state),
                ],
            )
            .map_or_else(|| page("Invalid redirect_uri."), Reply::Redirect)
        };
        if inc.query_param("response_type") != Some("code") {
            return back("unsupported_response_type", "response_type must be code");
        }
        let Some(scope) = inc.query_param("scope").filter(|s| !s.is_empty()) else {
            return back("invalid_scope", "The scope parameter is required.");
        };
        let challenge = inc.query_param("code_challenge");
        let method = inc.query_param("code_challenge_method").unwrap_or_default();
        if challenge.is_some() && !spec.pkce_methods.contains(&method) {
            let message = if spec.pkce_methods.contains(&"plain") {
                "code_challenge_method must be S256 or plain"
            } else {
                "code_challenge_method must be S256"
            };
            return back("invalid_request", message);
        }
        if spec.pkce == Pkce::Required && challenge.is_none() {
            return back("invalid_request", "code_challenge is required");
        }
        if self.settings.deny {
            return self
                .denied(inc)
                .unwrap_or_else(|| page("Invalid redirect_uri."));
        }
        let code = self.next("code");
        self.codes.insert(
            code.clone(),
            CodeGrant {
                redirect_uri: redirect.to_owned(),
                challenge: challenge.filter(|_| spec.pkce.used()).map(str::to_owned),
                challenge_method: method.to_owned(),
                scopes: self.granted(split_scopes(scope)),
                offline: inc.query_param("access_type") == Some("offline"),
                issued_at: now(),
                used: false,
            },
        );
        back_with_code(redirect, &code, state).unwrap_or_else(|| page("Invalid redirect_uri."))
    }

    /// The requested scopes the person leaves ticked on the consent screen.
    fn granted(&self, requested: Vec<String>) -> Vec<String> {
        // LinkedIn: "the user must consent to all of them and may not select the
        // individual scopes".
        if self.provider == Provider::Linkedin {
            return requested;
        }
        requested
            .into_iter()
            .filter(|s| !self.settings.decline.contains(s))
            .collect()
    }

    fn exchange_code(&mut self, inc: &Incoming) -> Result<Reply, Failure> {
        let provider = self.provider;
        if !self.client_ok(inc) {
            return Err(Failure::InvalidClient);
        }
        let meta_graph = matches!(provider, Provider::Facebook | Provider::Instagram);
        if !meta_graph && inc.param("grant_type") != Some("authorization_code") {
            return Err(Failure::InvalidRequest(
                "grant_type must be authorization_code",
            ));
        }
        let (code, grant) = self.redeemable(inc)?;
        if let Some(g) = self.codes.get_mut(code) {
            g.used = true;
        }
        let chain = self.new_chain(grant.scopes.clone());
        let scope = self.scope_answer(&grant.scopes);
        let user_id = self.user.external_id.clone();
        let body = match provider {
            Provider::Facebook | Provider::Instagram => self.meta_code_exchange(chain),
            Provider::InstagramLogin => {
                self.instagram_login_code_exchange(chain, &grant, &scope, &user_id)
            }
            Provider::Threads => self.threads_code_exchange(chain, &user_id),
            Provider::Linkedin => self.linkedin_code_exchange(chain, &scope),
            Provider::X => self.x_code_exchange(chain, &grant, &scope),
            Provider::Google => self.google_code_exchange(chain, &grant, &scope),
            Provider::Tiktok => self.tiktok_code_exchange(chain, &scope, &user_id),
            Provider::Pinterest => self.pinterest_code_exchange(chain, inc, &scope),
        };
        Ok(Reply::Json(200, body))
    }

    /// The grant behind the presented code while it can be exchanged: unused, within its
    /// lifetime, asked for with the same redirect URI and, where a challenge was sent,
    /// with the matching verifier.
    fn redeemable<'a>(&self, inc: &'a Incoming) -> Result<(&'a str, CodeGrant), Failure> {
        let code = inc
            .param("code")
            .ok_or(Failure::InvalidRequest("The code parameter is required."))?;
        let grant = self
            .codes
            .get(code)
            .ok_or(Failure::InvalidGrant("Invalid authorization code."))?;
        if grant.used {
            return Err(Failure::InvalidGrant(
                "This authorization code has been used.",
            ));
        }
        if now() > grant.issued_at + CODE_LIFETIME {
            return Err(Failure::InvalidGrant(
                "This authorization code has expired.",
            ));
        }
        if inc.param("redirect_uri") != Some(grant.redirect_uri.as_str()) {
            return Err(Failure::RedirectMismatch);
        }
        if let Some(challenge) = &grant.challenge {
            let matches = |v: &str| match grant.challenge_method.as_str() {
                "plain" => v == challenge,
                _ => s256_challenge(v) == *challenge,
            };
            match inc.param("code_verifier") {
                None => return Err(Failure::InvalidGrant("The code_verifier is missing.")),
                Some(v) if !matches(v) => {
                    return Err(Failure::InvalidGrant("Invalid code verifier."))
                }
                Some(_) => {}
            }
        }
        Ok((code, grant.clone()))
    }

    fn refresh_grant(&mut self, inc: &Incoming) -> Result<Reply, Failure> {
        let provider = self.provider;
        let spec = documented::of(provider);
        if !spec.refresh.uses_refresh_token() {
            return Err(Failure::InvalidRequest("Unsupported grant_type."));
        }
        if !self.client_ok(inc) {
            return Err(Failure::InvalidClient);
        }
        let presented = inc
            .param("refresh_token")
            .ok_or(Failure::InvalidRequest(
                "The refresh_token parameter is required.",
            ))?
            .to_owned();
        let record = self
            .refresh
            .get(&presented)
            .cloned()
            .ok_or(Failure::InvalidGrant("Invalid refresh token."))?;
        let chain = record.chain;
        if self.chains[chain].dead.is_some() {
            return Err(Failure::InvalidGrant("Token has been expired or revoked."));
        }
        if record.rotated_out {
            // Replay of a rotated refresh token: the whole chain dies (X documents this).
            self.kill(chain, Dead::Revoked);
            return Err(Failure::InvalidGrant("Refresh token was already used."));
        }
        let at = now();
        if self.chains[chain]
            .refresh_expires_at
            .is_some_and(|e| e <= at)
        {
            return Err(Failure::InvalidGrant("Refresh token has expired."));
        }
        let new_refresh = self.rotate(spec.refresh, chain, &presented, inc);
        let scopes = self.chains[chain].scopes.clone();
        let scope = self.scope_answer(&scopes);
        let body = match provider {
            Provider::Linkedin => self.linkedin_refresh(chain, &presented, at, &scope),
            Provider::X => self.x_refresh(chain, new_refresh, &scope),
            Provider::Google => self.google_refresh(chain, &scope),
            Provider::Tiktok => self.tiktok_refresh(chain, new_refresh, at, &scope),
            Provider::Pinterest => self.pinterest_refresh(chain, new_refresh, at, &scope),
            _ => return Err(Failure::InvalidRequest("Unsupported grant_type.")),
        };
        Ok(Reply::Json(200, body))
    }

    /// A new refresh token where this refresh rotates (the presented one is then rotated
    /// out); `None` where the refresh token stays.
    fn rotate(
        &mut self,
        refresh: Refresh,
        chain: usize,
        presented: &str,
        inc: &Incoming,
    ) -> Option<String> {
        let rotating = match refresh {
            Refresh::Rotates => true,
            // Pinterest's `refresh_on=true` turns a legacy grant into a continuous one.
            Refresh::PinterestContinuous => {
                let continuous =
                    self.chains[chain].continuous || inc.param("refresh_on") == Some("true");
                self.chains[chain].continuous = continuous;
                continuous
            }
            Refresh::None | Refresh::Keeps | Refresh::Exchange => false,
        };
        if rotating {
            if let Some(old) = self.refresh.get_mut(presented) {
                old.rotated_out = true;
            }
            Some(self.issue_refresh(chain))
        } else {
            None
        }
    }

    fn introspect(&mut self, inc: &Incoming) -> Result<Reply, Failure> {
        match self.provider {
            Provider::Facebook | Provider::Instagram => self.debug_token(inc),
            Provider::Linkedin => self.linkedin_introspect(inc),
            // Google tokeninfo.
            _ => self.google_tokeninfo(inc),
        }
    }

    fn profile(&mut self, inc: &Incoming, seq: u64) -> Result<Reply, Failure> {
        let record = self.live(inc.user_token()).map_err(Failure::DeadToken)?;
        let page_id = record.page_id.clone();
        let u = &self.user;
        let body = match self.provider {
            Provider::Facebook | Provider::Instagram => meta::graph_me(u, page_id),
            Provider::InstagramLogin => meta::instagram_login_me(u),
            Provider::Threads => meta::threads_me(u),
            Provider::Linkedin | Provider::Google => openid_userinfo(u),
            Provider::X => x::users_me(u),
            Provider::Tiktok => tiktok::user_info(u, seq),
            Provider::Pinterest => pinterest::user_account(u),
        };
        Ok(Reply::Json(200, body))
    }

    fn revoke(&mut self, routed: &Routed, inc: &Incoming, seq: u64) -> Result<Reply, Failure> {
        match self.provider {
            Provider::Facebook | Provider::Instagram => {
                Ok(self.graph_remove_app(routed.node.as_deref(), inc, seq))
            }
            Provider::Google => self.google_revoke(inc),
            Provider::X => self.x_revoke(inc),
            Provider::Tiktok => self.tiktok_revoke(inc),
            // LinkedIn: client_id, client_secret and token in the form.
            _ => self.linkedin_revoke(inc),
        }
    }
}

/// The placeholder message the `echo_request` fault replaces.
const ECHO: &str = "__echo__";

fn replace_text(value: &mut Value, placeholder: &str, text: &str) {
    match value {
        Value::String(s) if s == placeholder => *s = text.to_owned(),
        Value::Array(items) => items
            .iter_mut()
            .for_each(|v| replace_text(v, placeholder, text)),
        Value::Object(map) => map
            .values_mut()
            .for_each(|v| replace_text(v, placeholder, text)),
        _ => {}
    }
}

/// LinkedIn's and Google's `userinfo`: OpenID Connect's standard claims.
fn openid_userinfo(u: &FakeUser) -> Value {
    let picture = u.picture_url.clone();
    json!({
        "sub": u.external_id,
        "name": u.name,
        "given_name": u.name.split(' ').next().unwrap_or_default(),
        "picture": picture,
        "email": format!("{}@fake.invalid", u.external_id),
        "email_verified": true,
    })
}

fn back_with_code(redirect: &str, code: &str, state: &str) -> Option<Reply> {
    add_query(redirect, &[("code", code), ("state", state)]).map(Reply::Redirect)
}

#[cfg(test)]
#[path = "state_tests.rs"]
mod tests;
