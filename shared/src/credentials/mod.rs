//! The credentials function: the platform's own services (publishing, insights) get a
//! working token right before they call a network, and tell tokenwarden when a call
//! failed. Invoked directly (IAM `lambda:InvokeFunction`), never through the public API.
//!
//! - `get_token` answers a token valid for at least `min_valid_seconds`, refreshing it
//!   first when needed, under the account's lease and by the sweep's own code
//!   ([`crate::refresh`]): of many callers at once, one calls the network and the others
//!   wait for its result (bounded; then `busy`, never a stale token). A dead connection
//!   answers `reconnect_needed`, never a token.
//! - `report_failure` classifies the network's error body with the sweep's mapping and,
//!   when it looks like a dead token, verifies it with one check before anything changes;
//!   at most one verification per account per 10 minutes. A confirmed breakage is written
//!   to the ledger and the team's digest is scheduled within minutes.
//!
//! The token answer is the one designed exit of a token: it is never logged.

pub(crate) mod wire;

use std::sync::Arc;
use std::time::{Duration as StdDuration, Instant};

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use serde_json::Value;

pub use wire::{
    BadRequest, ErrorAnswer, ErrorBody, ErrorCode, Outcome, ReportAnswer, Request, TokenAnswer,
    DEFAULT_MIN_VALID_SECONDS, MAX_MIN_VALID_SECONDS, MAX_REPORT_BODY, MAX_REQUEST_BYTES,
};

use crate::domain::{
    Account, AccountId, Cause, Clock, HistoryEntry, HistoryKind, KeepAlive, NotificationPrefs,
    ProviderReply, Reason, SchedulePolicy, StateAt, Status, TeamId, Verdict,
};
use crate::providers::ProviderClient;
use crate::providers::{classify, error_code};
use crate::refresh::{open_tokens, OpenTokens, RefreshError, RefreshPolicy, Refreshed, Refresher};
use crate::seal::Keyring;
use crate::store::{
    AccountStore, HistoryStore, LeaseKey, Leases, Ledger, LedgerEntry, PrefsStore, StoreError,
};
use crate::sweep::invoke::MailSoon;

/// Everything the credentials function talks to, built once per cold start.
#[derive(Clone)]
pub struct CredentialsService {
    pub accounts: Arc<dyn AccountStore>,
    pub leases: Arc<dyn Leases>,
    pub ledger: Arc<dyn Ledger>,
    pub prefs: Arc<dyn PrefsStore>,
    pub history: Arc<dyn HistoryStore>,
    pub providers: Arc<dyn ProviderClient>,
    pub keyring: Arc<Keyring>,
    pub clock: Arc<dyn Clock>,
    /// Where a breakage found here asks for the team's digest to go out soon; without
    /// one it waits for the nightly run (the ledger keeps it either way).
    pub mail_soon: Option<Arc<dyn MailSoon>>,
    pub config: CredentialsConfig,
}

#[derive(Debug, Clone)]
pub struct CredentialsConfig {
    /// How long a caller waits for another holder's refresh before it answers `busy`.
    pub wait: StdDuration,
    /// How often a waiting caller looks again.
    pub poll: StdDuration,
    /// How long this function's hold on an account lasts (a crashed holder loses it). After
    /// a network outage the hold is kept to its end: the back-off before the next try.
    pub lease_ttl: Duration,
    /// An account is refreshed here at most this often (`force_refresh` included).
    pub refresh_at_most_every: Duration,
    /// A reported failure is verified at most this often per account.
    pub verify_at_most_every: Duration,
    /// The sweep's schedule (the stored `next_due_at` follows it).
    pub policy: SchedulePolicy,
    /// Times the write of a rotated pair is tried.
    pub store_attempts: u32,
    /// What `busy` and `provider_unavailable` tell the caller to wait.
    pub retry_after: StdDuration,
}

impl Default for CredentialsConfig {
    fn default() -> Self {
        Self {
            wait: StdDuration::from_secs(3),
            poll: StdDuration::from_millis(50),
            lease_ttl: Duration::seconds(30),
            refresh_at_most_every: Duration::minutes(1),
            verify_at_most_every: Duration::minutes(10),
            policy: SchedulePolicy::default(),
            store_attempts: 6,
            retry_after: StdDuration::from_secs(1),
        }
    }
}

/// What the verification of a reported failure found.
enum Verified {
    /// The account works: refreshed, or its token passed the check.
    Working(Box<Account>),
    /// The network refused: its verdict and its own error code.
    Failed(Verdict, Option<String>),
}

/// What to do for a `get_token`.
enum Plan {
    /// The stored token serves.
    Answer,
    /// Refresh first.
    Refresh,
}

fn json<T: Serialize>(value: &T) -> Value {
    // Every answer type serializes (plain fields, no maps with non-string keys).
    serde_json::to_value(value).unwrap_or(Value::Null)
}

fn internal(what: &str, error: &(dyn std::error::Error + 'static)) -> ErrorAnswer {
    tracing::error!(error = %crate::error_chain::cause_chain(error), "{what}");
    ErrorAnswer::new(
        ErrorCode::Internal,
        "tokenwarden failed to answer; the cause is logged",
    )
}

fn store_failed(e: StoreError) -> ErrorAnswer {
    internal("the store failed", &e)
}

impl CredentialsService {
    /// Answers one invocation's payload bytes (what `aws lambda invoke` sends).
    pub async fn handle_bytes(&self, request_id: &str, payload: &[u8]) -> Value {
        match Request::from_bytes(payload) {
            Ok(request) => self.serve(request_id, request).await,
            Err(bad) => refused(request_id, bad),
        }
    }

    /// Answers one invocation's payload.
    pub async fn handle(&self, request_id: &str, payload: Value) -> Value {
        match Request::from_value(payload) {
            Ok(request) => self.serve(request_id, request).await,
            Err(bad) => refused(request_id, bad),
        }
    }

    /// Answers a request. `request_id` names this invocation (it holds the leases).
    pub async fn serve(&self, request_id: &str, request: Request) -> Value {
        match request {
            Request::GetToken {
                team,
                account,
                min_valid_seconds,
                force_refresh,
            } => {
                let result = self
                    .get_token(
                        request_id,
                        &team,
                        &account,
                        min_valid_seconds,
                        force_refresh,
                    )
                    .await;
                match result {
                    Ok(answer) => {
                        // The answer carries the token: only ids go to the log.
                        tracing::info!(request_id, team = %team, account = %account,
                            refreshed = answer.refreshed, degraded = answer.degraded, "get_token answered");
                        json(&answer)
                    }
                    Err(e) => {
                        tracing::info!(request_id, team = %team, account = %account, code = ?e.code(), "get_token refused");
                        json(&e)
                    }
                }
            }
            Request::ReportFailure {
                team,
                account,
                http_status,
                body,
                request,
            } => {
                let result = self
                    .report_failure(request_id, &team, &account, http_status, &body)
                    .await;
                match result {
                    Ok(answer) => {
                        tracing::info!(request_id, team = %team, account = %account, http_status,
                            request = request.as_deref().unwrap_or(""), outcome = ?answer.outcome, "failure report handled");
                        json(&answer)
                    }
                    Err(e) => {
                        tracing::info!(request_id, team = %team, account = %account, code = ?e.code(), "failure report refused");
                        json(&e)
                    }
                }
            }
        }
    }

    // ---- get_token ----------------------------------------------------------------------

    /// A token valid for at least `min_valid_seconds` (or the longest the network gives).
    pub async fn get_token(
        &self,
        holder: &str,
        team: &TeamId,
        id: &AccountId,
        min_valid_seconds: u32,
        force_refresh: bool,
    ) -> Result<TokenAnswer, ErrorAnswer> {
        let min_valid = Duration::seconds(i64::from(min_valid_seconds));
        let now = self.clock.now();
        let account = self.read(team, id).await?;
        match self.plan(&account, now, min_valid, force_refresh)? {
            Plan::Answer => self.answer(account, now, false, false),
            Plan::Refresh => {
                self.refresh_single_flight(holder, account, min_valid, force_refresh)
                    .await
            }
        }
    }

    fn plan(
        &self,
        account: &Account,
        now: DateTime<Utc>,
        min_valid: Duration,
        force: bool,
    ) -> Result<Plan, ErrorAnswer> {
        if let Some(dead) = reconnect_needed(account, now) {
            return Err(dead);
        }
        let short = account
            .access_expires_at
            .is_some_and(|e| e - now < min_valid);
        if (short || force) && self.can_refresh(account, now) {
            Ok(Plan::Refresh)
        } else {
            // Fresh enough, or the longest the network gives.
            Ok(Plan::Answer)
        }
    }

    /// Whether the network lets this account be refreshed now, and it was not refreshed
    /// within the last minute.
    fn can_refresh(&self, account: &Account, now: DateTime<Utc>) -> bool {
        if !account.auto_refresh() {
            return false;
        }
        if account
            .last_refreshed_at
            .is_some_and(|t| now - t < self.config.refresh_at_most_every)
        {
            return false;
        }
        match account.provider.spec().keep_alive {
            KeepAlive::Exchange { min_age } => {
                now >= account.access_issued_at + min_age
                    && account.access_expires_at.is_none_or(|e| e > now)
            }
            KeepAlive::None => false,
            KeepAlive::RefreshGrant | KeepAlive::RefreshGrantRotating => true,
        }
    }

    /// One provider call for many callers: the lease holder refreshes; the others wait
    /// for the tokens to change and answer the new ones. A holder that ends without new
    /// tokens (a check, a failure) leaves the lease to the next waiter.
    async fn refresh_single_flight(
        &self,
        holder: &str,
        account: Account,
        min_valid: Duration,
        force: bool,
    ) -> Result<TokenAnswer, ErrorAnswer> {
        let (team, id) = (account.team.clone(), account.id.clone());
        let key = LeaseKey::Account(team.clone(), id.clone());
        let original = account.tokens.clone();
        let started = Instant::now();
        loop {
            let now = self.clock.now();
            let taken = self
                .leases
                .acquire(&key, holder, now, self.config.lease_ttl)
                .await
                .map_err(store_failed)?;
            if taken {
                let cause = Cause::Credentials {
                    request: holder.to_owned(),
                };
                let result = self
                    .refresh_leased(&team, &id, &original, min_valid, force, &cause)
                    .await;
                // After an outage answer the lease is kept until it runs out: the network
                // is tried again once per lease, not once per waiting caller.
                let outage = match &result {
                    Ok(answer) => answer.degraded,
                    Err(e) => e.code() == ErrorCode::ProviderUnavailable,
                };
                if outage {
                    tracing::info!(team = %team, account = %id, "the network is down: the lease is kept as a back-off");
                } else if let Err(e) = self.leases.release(&key, holder).await {
                    // The lease runs out by itself; nothing is lost.
                    tracing::warn!(team = %team, account = %id, error = %e, "lease not released");
                }
                return result;
            }
            if started.elapsed() >= self.config.wait {
                return Err(self.retry_later(
                    ErrorCode::Busy,
                    "another caller is refreshing this account; try again shortly",
                ));
            }
            tokio::time::sleep(self.config.poll).await;
            let current = self.read(&team, &id).await?;
            let now = self.clock.now();
            if let Some(dead) = reconnect_needed(&current, now) {
                return Err(dead);
            }
            if current.tokens != original {
                // Another holder (a caller, the sweep) refreshed: its tokens are ours.
                return self.answer(current, now, true, false);
            }
        }
    }

    async fn refresh_leased(
        &self,
        team: &TeamId,
        id: &AccountId,
        original: &crate::domain::SealedTokens,
        min_valid: Duration,
        force: bool,
        cause: &Cause,
    ) -> Result<TokenAnswer, ErrorAnswer> {
        let now = self.clock.now();
        // Re-read under the lease: another holder may have refreshed already.
        let account = self.read(team, id).await?;
        if account.tokens != *original {
            return self.answer(account, now, true, false);
        }
        if let Plan::Answer = self.plan(&account, now, min_valid, force)? {
            return self.answer(account, now, false, false);
        }
        let tokens = open_tokens(&self.keyring, &account)
            .map_err(|e| internal("the account's tokens do not open", &e))?;
        match self.refresh(account.clone(), &tokens, now, cause).await {
            Ok(refreshed) => self.answer(refreshed.into_account(), now, true, false),
            Err(RefreshError::Provider(e)) => {
                tracing::info!(team = %team, account = %id, provider = %account.provider, error = %e, "refresh on demand failed");
                match e.verdict() {
                    Verdict::Broken { status, reason } => {
                        // The network says the grant is dead: the account breaks now, and
                        // the team hears of it within minutes.
                        let broken = self
                            .break_account(account, status, reason, cause, e.code())
                            .await?;
                        Err(reconnect_needed(&broken, now).unwrap_or_else(|| {
                            ErrorAnswer::new(ErrorCode::ReconnectNeeded, "reconnect the account")
                        }))
                    }
                    // An outage says nothing about the token: the stored one serves while
                    // it is valid; the sweep counts the outage.
                    _ if account.access_expires_at.is_none_or(|e| e > now) => {
                        self.answer(account, now, false, true)
                    }
                    _ => Err(self.retry_later(
                        ErrorCode::ProviderUnavailable,
                        "the network did not answer the refresh and the stored token has expired; try again shortly",
                    )),
                }
            }
            Err(RefreshError::Store(e)) => {
                Err(internal("the refreshed tokens were not stored", &e))
            }
        }
    }

    /// The answer with the account's token; never an expired or dead one.
    fn answer(
        &self,
        account: Account,
        now: DateTime<Utc>,
        refreshed: bool,
        degraded: bool,
    ) -> Result<TokenAnswer, ErrorAnswer> {
        if let Some(dead) = reconnect_needed(&account, now) {
            return Err(dead);
        }
        if account.access_expires_at.is_some_and(|e| e <= now) {
            return Err(self.retry_later(
                ErrorCode::ProviderUnavailable,
                "the stored token has expired and could not be refreshed yet; try again shortly",
            ));
        }
        let tokens = open_tokens(&self.keyring, &account)
            .map_err(|e| internal("the account's tokens do not open", &e))?;
        Ok(TokenAnswer {
            access_token: tokens.access,
            token_type: "Bearer",
            expires_at: account.access_expires_at,
            scopes: account.scopes.clone(),
            account_id: account.id.clone(),
            provider: account.provider,
            external_id: account.external_id.clone(),
            refreshed,
            degraded,
            token: account.token_column(now),
        })
    }

    fn retry_later(&self, code: ErrorCode, message: &str) -> ErrorAnswer {
        let mut e = ErrorAnswer::new(code, message);
        e.error.retry_after_ms =
            Some(u64::try_from(self.config.retry_after.as_millis()).unwrap_or(u64::MAX));
        e
    }

    // ---- report_failure -----------------------------------------------------------------

    /// A platform service's call to the network failed with `http_status` and `body`.
    pub async fn report_failure(
        &self,
        holder: &str,
        team: &TeamId,
        id: &AccountId,
        http_status: u16,
        body: &str,
    ) -> Result<ReportAnswer, ErrorAnswer> {
        let now = self.clock.now();
        let account = self.read(team, id).await?;
        if account.broken.is_some() || account.status(now) == Status::Expired {
            return Ok(report(Outcome::Deduplicated, &account, now));
        }
        let reply = ProviderReply::Http {
            status: http_status,
            body: body.as_bytes(),
        };
        let Verdict::Broken { status, reason } = classify(account.provider, reply) else {
            return Ok(report(Outcome::Transient, &account, now));
        };
        // At most one verification per account per period, whoever reports.
        let verification = LeaseKey::Verification(team.clone(), id.clone());
        if !self
            .leases
            .acquire(&verification, holder, now, self.config.verify_at_most_every)
            .await
            .map_err(store_failed)?
        {
            return Ok(report(Outcome::Deduplicated, &account, now));
        }
        // The check runs under the account's lease, like every call on its tokens.
        let key = LeaseKey::Account(team.clone(), id.clone());
        let started = Instant::now();
        while !self
            .leases
            .acquire(&key, holder, self.clock.now(), self.config.lease_ttl)
            .await
            .map_err(store_failed)?
        {
            if started.elapsed() >= self.config.wait {
                // Let a later report verify it.
                if let Err(e) = self.leases.release(&verification, holder).await {
                    tracing::warn!(team = %team, account = %id, error = %e, "verification lease not released");
                }
                return Err(self.retry_later(
                    ErrorCode::Busy,
                    "the account is being refreshed; report again shortly",
                ));
            }
            tokio::time::sleep(self.config.poll).await;
        }
        let cause = Cause::Credentials {
            request: holder.to_owned(),
        };
        let reported_code = error_code(body.as_bytes());
        let result = self
            .verify_leased(team, id, (status, reason), &cause, reported_code)
            .await;
        if let Err(e) = self.leases.release(&key, holder).await {
            tracing::warn!(team = %team, account = %id, error = %e, "lease not released");
        }
        result
    }

    /// One check of the reported account (its lease held): a confirmed failure breaks it,
    /// an unconfirmed one is noted in its history.
    async fn verify_leased(
        &self,
        team: &TeamId,
        id: &AccountId,
        reported: (Status, Reason),
        cause: &Cause,
        reported_code: Option<String>,
    ) -> Result<ReportAnswer, ErrorAnswer> {
        let now = self.clock.now();
        let account = self.read(team, id).await?;
        if account.broken.is_some() {
            return Ok(report(Outcome::Deduplicated, &account, now));
        }
        let tokens = open_tokens(&self.keyring, &account)
            .map_err(|e| internal("the account's tokens do not open", &e))?;
        match self.verify(&account, &tokens, reported, now, cause).await? {
            Verified::Working(working) => {
                tracing::info!(team = %team, account = %id, provider = %account.provider,
                    metric = "report_not_confirmed", "a reported failure was not confirmed by the check");
                self.not_confirmed(&working, now, cause, reported_code)
                    .await
            }
            Verified::Failed(Verdict::Broken { status, reason }, code) => {
                // The reported cause names more than the check's generic "invalid".
                let reason = if reason == Reason::TokenInvalid {
                    reported.1
                } else {
                    reason
                };
                let broken = self
                    .break_account(account, status, reason, cause, code.or(reported_code))
                    .await?;
                Ok(report(Outcome::Confirmed, &broken, now))
            }
            Verified::Failed(..) => Ok(report(Outcome::Transient, &account, now)),
        }
    }

    /// Whether the account works. A refresh-grant account whose access token ran out is
    /// checked by refreshing: an expired access token says nothing about the grant.
    async fn verify(
        &self,
        account: &Account,
        tokens: &OpenTokens,
        reported: (Status, Reason),
        now: DateTime<Utc>,
        cause: &Cause,
    ) -> Result<Verified, ErrorAnswer> {
        let access_spent = account
            .access_expires_at
            .is_some_and(|e| e - now < Duration::minutes(1));
        let by_refresh = access_spent
            && tokens.refresh.is_some()
            && account.provider.spec().keep_alive.uses_refresh_token();
        if by_refresh {
            return match self.refresh(account.clone(), tokens, now, cause).await {
                Ok(refreshed) => Ok(Verified::Working(Box::new(refreshed.into_account()))),
                Err(RefreshError::Provider(e)) => Ok(Verified::Failed(e.verdict(), e.code())),
                Err(RefreshError::Store(e)) => {
                    Err(internal("the refreshed tokens were not stored", &e))
                }
            };
        }
        let checked = match self.providers.check(account.provider, &tokens.access).await {
            Ok(check) if check.valid => Verified::Working(Box::new(account.clone())),
            Ok(_) => Verified::Failed(
                Verdict::Broken {
                    status: reported.0,
                    reason: reported.1,
                },
                None,
            ),
            Err(e) => Verified::Failed(e.verdict(), e.code()),
        };
        Ok(checked)
    }

    /// Notes in the account's history that a reported failure was not confirmed.
    async fn not_confirmed(
        &self,
        working: &Account,
        now: DateTime<Utc>,
        cause: &Cause,
        reported_code: Option<String>,
    ) -> Result<ReportAnswer, ErrorAnswer> {
        let state = StateAt::of(working, now);
        let entry = HistoryEntry::of(
            HistoryKind::FailureNotConfirmed,
            Some(state),
            working,
            now,
            cause,
        )
        .with_provider_error(reported_code);
        self.history.record(&entry).await.map_err(store_failed)?;
        Ok(report(Outcome::NotConfirmed, working, now))
    }

    // ---- shared ---------------------------------------------------------------------------

    /// The sweep's refresh (one implementation), for an account whose lease is held.
    async fn refresh(
        &self,
        account: Account,
        tokens: &OpenTokens,
        now: DateTime<Utc>,
        cause: &Cause,
    ) -> Result<Refreshed, RefreshError> {
        let policy = RefreshPolicy {
            schedule: self.config.policy.clone(),
            store_attempts: self.config.store_attempts,
        };
        Refresher {
            providers: &*self.providers,
            accounts: &*self.accounts,
            keyring: &self.keyring,
            policy: &policy,
            cause,
        }
        .refresh(account, tokens, now, None)
        .await
    }

    async fn read(&self, team: &TeamId, id: &AccountId) -> Result<Account, ErrorAnswer> {
        match self.accounts.get_account(team, id).await {
            Ok(Some(a)) => Ok(a),
            Ok(None) => Err(ErrorAnswer::new(
                ErrorCode::NotFound,
                "no such account in this team",
            )),
            Err(e) => Err(store_failed(e)),
        }
    }

    /// Breaks the account (a version-conditioned write, re-read on conflict), records its
    /// milestone in the ledger and asks for the team's digest soon.
    async fn break_account(
        &self,
        mut account: Account,
        status: Status,
        reason: Reason,
        cause: &Cause,
        code: Option<String>,
    ) -> Result<Account, ErrorAnswer> {
        const ATTEMPTS: u32 = 3;
        for attempt in 1..=ATTEMPTS {
            let now = self.clock.now();
            let was_broken = account.broken.is_some();
            let before = StateAt::of(&account, now);
            let transition = account.broke(status, reason, now);
            account.next_due_at = account.next_look(now, &self.config.policy, true);
            let history: Vec<HistoryEntry> = transition
                .map(|t| {
                    HistoryEntry::of_transition(t, before, &account, now, cause)
                        .with_provider_error(code.clone())
                })
                .into_iter()
                .collect();
            match self.accounts.update_account_with(&account, &history).await {
                Ok(saved) => {
                    if !was_broken {
                        self.record_breakage(&saved, now).await?;
                    }
                    return Ok(saved);
                }
                Err(StoreError::Conflict) if attempt < ATTEMPTS => {
                    account = self.read(&account.team, &account.id).await?;
                }
                Err(e) => return Err(store_failed(e)),
            }
        }
        Err(store_failed(StoreError::Conflict))
    }

    async fn record_breakage(
        &self,
        account: &Account,
        now: DateTime<Utc>,
    ) -> Result<(), ErrorAnswer> {
        let prefs = self
            .prefs
            .get_prefs(&account.team)
            .await
            .map_err(store_failed)?
            .unwrap_or_else(|| NotificationPrefs::defaults(account.team.clone()));
        let mut recorded = false;
        for milestone in account.milestones_crossed(now, &prefs, false, false) {
            let entry = LedgerEntry::pending(&account.team, &account.id, milestone, now);
            recorded |= self
                .ledger
                .record_pending(&entry)
                .await
                .map_err(store_failed)?;
        }
        if recorded {
            if let Some(soon) = &self.mail_soon {
                if let Err(e) = soon.mail_team_soon(&account.team).await {
                    // The entry is pending in the ledger: the nightly run sends it.
                    tracing::warn!(team = %account.team, error = %crate::error_chain::cause_chain(&e),
                        "the digest could not be scheduled; the nightly run sends it");
                }
            }
        }
        Ok(())
    }
}

/// `reconnect_needed` for an expired or broken connection, with its token column.
fn reconnect_needed(account: &Account, now: DateTime<Utc>) -> Option<ErrorAnswer> {
    let column = account.token_column(now);
    if !matches!(column.status, Status::Expired | Status::Revoked) {
        return None;
    }
    let mut e = ErrorAnswer::new(ErrorCode::ReconnectNeeded, column.message.clone());
    e.error.token = Some(column);
    Some(e)
}

fn report(outcome: Outcome, account: &Account, now: DateTime<Utc>) -> ReportAnswer {
    ReportAnswer {
        outcome,
        account_id: account.id.clone(),
        provider: account.provider,
        token: account.token_column(now),
    }
}

fn refused(request_id: &str, bad: BadRequest) -> Value {
    let answer = ErrorAnswer::from(bad);
    // The message can quote a value of the request (serde names a mistyped string); only
    // the code goes to the log.
    tracing::info!(request_id, code = ?answer.code(), "request refused");
    json(&answer)
}
