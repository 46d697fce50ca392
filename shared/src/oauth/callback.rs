//! Completing an authorization: state, code exchange, accounts, sealed tokens.

use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::{random_token, OAuthResult};
use crate::domain::ExposeSecret;
use crate::domain::Secret;
use crate::domain::{
    Account, AccountId, Cause, Clock, Failures, HistoryEntry, HistoryKind, Milestone, Profile,
    Provider, ReturnUrl, SchedulePolicy, StateAt, TeamId, Transition, UserId,
};
use crate::grant::{lifetimes, renewal, seal_grant, Lifetimes};
use crate::providers::{ProviderClient, ProviderError, RemoteAccount, TokenGrant};
use crate::seal::Keyring;
use crate::store::{
    AccountStore, Consumed, Ledger, LedgerEntry, OAuthState, Parked, StateStore, StoreError,
};

/// How often a write that lost to a concurrent one (the sweep) is re-read and re-applied.
const WRITE_ATTEMPTS: usize = 3;

/// The most accounts one consent connects ([`crate::providers::MAX_ACCOUNTS_PER_GRANT`]).
/// A consent reaching more is refused with `too_many_accounts`, nothing stored: the person
/// chooses fewer Pages in Meta's dialog. At 16 writes in flight, 500 accounts store well
/// within the function's time limit.
pub const MAX_ACCOUNTS_PER_CONSENT: usize = crate::providers::MAX_ACCOUNTS_PER_GRANT;

/// The most accounts one team keeps; a consent that would take it past this is refused with
/// `team_account_limit`, nothing stored.
pub const MAX_ACCOUNTS_PER_TEAM: u64 = 5_000;

/// Accounts of one consent stored at once.
const STORE_CONCURRENCY: usize = 16;

/// The callback's query parameters, as the network sent the browser back.
#[derive(Debug, Default)]
pub struct CallbackParams {
    pub state: Option<String>,
    pub code: Option<Secret>,
    /// The network's `error` (e.g. `access_denied`).
    pub error: Option<String>,
}

/// How long a parked code waits for the person who started the authorization to complete
/// it. Networks' codes live about as long (X's 30 seconds is the shortest; the frontend
/// completes within a second of landing).
pub const PARK_LIFETIME: chrono::Duration = chrono::Duration::minutes(5);

/// Where the browser goes.
#[derive(Debug, Clone)]
pub enum Completion {
    /// No state we issued and still hold (garbage, unknown, already used): there is no
    /// trustworthy place to send the browser, so none is used.
    UnknownState,
    /// The code is parked: back to the frontend with `result=pending` and the handle, which
    /// the frontend completes with the signed-in person's credentials.
    Parked {
        return_to: ReturnUrl,
        handle: Secret,
    },
    /// Back to the frontend with a result.
    Back {
        return_to: ReturnUrl,
        result: OAuthResult,
        /// The accounts stored, or the account a reconnect was for.
        accounts: Vec<AccountId>,
        /// A finer reason for some `error` results (`no_accounts`).
        reason: Option<&'static str>,
    },
}

impl Completion {
    /// The `return_to` URL with `result`, `account` (repeated) and `reason` appended.
    pub fn location(&self) -> Option<url::Url> {
        match self {
            Completion::UnknownState => None,
            Completion::Parked { return_to, handle } => Some(
                return_to.with_params(&[("result", "pending"), ("handle", handle.expose_secret())]),
            ),
            Completion::Back {
                return_to,
                result,
                accounts,
                reason,
            } => {
                let mut params = vec![("result", result.as_str())];
                params.extend(accounts.iter().map(|a| ("account", a.as_str())));
                params.extend(reason.map(|r| ("reason", r)));
                Some(return_to.with_params(&params))
            }
        }
    }
}

/// What a completion connected.
#[derive(Debug, Clone)]
pub struct Finished {
    pub provider: Provider,
    pub result: OAuthResult,
    /// The accounts stored (a reconnect: the one account).
    pub accounts: Vec<Account>,
    /// The account a reconnect was for, whatever the result.
    pub reconnect: Option<AccountId>,
    /// A finer reason for some `error` results (`no_accounts`).
    pub reason: Option<&'static str>,
}

/// Why a completion was refused before anything was exchanged.
#[derive(Debug, thiserror::Error)]
pub enum FinishError {
    /// Never parked, already completed, or malformed.
    #[error("no sign-in is waiting under this handle")]
    Unknown,
    /// Parked, but too long ago; it is gone now.
    #[error("this sign-in waited too long; connect the account again")]
    Expired,
    /// Parked for another person (or team): nothing consumed, nothing stored.
    #[error("this sign-in was started by someone else")]
    NotYours,
    #[error("the parked sign-in could not be read or removed")]
    Store(#[from] StoreError),
    #[error("the parked code does not open")]
    Seal(#[from] crate::seal::SealError),
}

/// The key a handle is parked under: its SHA-256 in hex (the handle is never stored).
pub fn parked_key(handle: &str) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(handle.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Why a callback with a good state did not connect.
#[derive(Debug, thiserror::Error)]
enum ConnectError {
    #[error("the network refused or failed")]
    Provider(#[from] ProviderError),
    #[error("storing the account failed")]
    Store(#[from] StoreError),
    #[error("the grant reaches no account (no Page or business account granted)")]
    NoAccounts,
    #[error("the grant reaches more accounts than one consent connects")]
    TooManyAccounts,
    #[error("the team would hold more accounts than a team may")]
    TeamLimit,
    #[error("the grant is for another external account than the one being reconnected")]
    DifferentAccount,
    #[error("the account being reconnected was removed meanwhile")]
    AccountGone,
}

/// What `oauth-callback` works with, built once at cold start.
pub struct Callback {
    /// The most accounts a team keeps ([`MAX_ACCOUNTS_PER_TEAM`] in the functions).
    pub team_account_limit: u64,
    pub accounts: Arc<dyn AccountStore>,
    pub states: Arc<dyn StateStore>,
    pub ledger: Arc<dyn Ledger>,
    pub providers: Arc<dyn ProviderClient>,
    pub keyring: Arc<Keyring>,
    pub clock: Arc<dyn Clock>,
}

/// The errors a network sends when the person declined (OAuth's `access_denied`,
/// LinkedIn's cancel codes).
fn is_denial(error: &str) -> bool {
    matches!(
        error,
        "access_denied" | "user_cancelled_login" | "user_cancelled_authorize"
    )
}

/// A browser-supplied error code, shortened to something safe to log.
fn loggable(error: &str) -> String {
    error
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
        .take(40)
        .collect()
}

impl Callback {
    /// Handles the network's answer for `provider` (the callback path's network). A store
    /// failure before the state is read is an `Err` (nowhere to send the browser); every
    /// later failure is a `Back` with `result=error`, nothing stored.
    pub async fn complete(
        &self,
        provider: Provider,
        params: CallbackParams,
    ) -> Result<Completion, StoreError> {
        let now = self.clock.now();
        let Some(state_id) = params.state.as_deref().filter(|s| !s.is_empty()) else {
            tracing::info!(provider = %provider, "callback without a state refused");
            return Ok(Completion::UnknownState);
        };
        let state = match self.states.consume_state(state_id, now).await? {
            Consumed::Missing => {
                tracing::info!(provider = %provider, "callback with an unknown or used state refused");
                return Ok(Completion::UnknownState);
            }
            Consumed::Expired(state) => {
                tracing::info!(provider = %provider, team = %state.team, "callback after the state expired");
                return Ok(back(&state, OAuthResult::ExpiredState, Vec::new()));
            }
            Consumed::Fresh(state) => state,
        };
        match code_for(&state, provider, params) {
            Ok(code) => Ok(self.park(state, provider, &code, now).await),
            Err(result) => Ok(back(&state, result, Vec::new())),
        }
    }

    /// Parks the code, not exchanged: only the person who started the authorization,
    /// signed in, completes it (RFC 9700 §4.7.1). The browser goes back with the handle, or
    /// with an error when the code could not be parked.
    async fn park(
        &self,
        state: OAuthState,
        provider: Provider,
        code: &Secret,
        now: DateTime<Utc>,
    ) -> Completion {
        let handle = random_token();
        let key = parked_key(handle.expose_secret());
        let parked = Parked {
            code: self.keyring.seal_in_flight(code, &key),
            verifier: state
                .pkce_verifier
                .as_ref()
                .map(|v| self.keyring.seal_in_flight(v, &format!("{key}/verifier"))),
            key,
            expires_at: now + PARK_LIFETIME,
            state,
        };
        if let Err(e) = self.states.park(&parked).await {
            tracing::error!(team = %parked.state.team, provider = %provider,
                error = %crate::error_chain::cause_chain(&e), "the code could not be parked");
            return back(&parked.state, OAuthResult::Error, Vec::new());
        }
        tracing::info!(team = %parked.state.team, user = %parked.state.user, provider = %provider,
            "code parked for its completion");
        Completion::Parked {
            return_to: parked.state.return_to.clone(),
            handle,
        }
    }

    /// `POST /connections/complete`: the person who started the authorization, signed in,
    /// exchanges the parked code. Anyone else (another user, another team) is refused with
    /// nothing consumed and nothing stored.
    pub async fn finish(
        &self,
        team: &TeamId,
        user: &UserId,
        handle: &str,
    ) -> Result<Finished, FinishError> {
        let now = self.clock.now();
        let (state, code) = self.take_parked(team, user, handle, now).await?;
        let provider = state.provider;
        let connected = self.connect(&state, &code, now).await;
        let (result, accounts, reason) = outcome(&state, team, connected);
        let ids: Vec<&str> = accounts.iter().map(|a| a.id.as_str()).collect();
        tracing::info!(team = %team, user = %user, provider = %provider, result = %result,
            accounts = ids.len(), first = ids.first().copied().unwrap_or("-"), "authorization completed");
        Ok(Finished {
            provider,
            result,
            accounts,
            reconnect: state.account.clone(),
            reason,
        })
    }

    /// Takes the sign-in parked under `handle` for good, when it is the caller's and still
    /// fresh: its state with the PKCE verifier back in place, and the code.
    async fn take_parked(
        &self,
        team: &TeamId,
        user: &UserId,
        handle: &str,
        now: DateTime<Utc>,
    ) -> Result<(OAuthState, Secret), FinishError> {
        let key = parked_key(handle);
        let parked = self
            .states
            .parked(&key)
            .await?
            .ok_or(FinishError::Unknown)?;
        let state = &parked.state;
        if state.team != *team || state.user != *user {
            tracing::warn!(caller_team = %team, caller = %user, started_by = %state.user,
                started_in = %state.team, provider = %state.provider,
                "completion refused: the sign-in was started by someone else");
            return Err(FinishError::NotYours);
        }
        if !self.states.take_parked(&key).await? {
            return Err(FinishError::Unknown);
        }
        if now >= parked.expires_at {
            tracing::info!(team = %team, provider = %state.provider, "completion after the parked code expired");
            return Err(FinishError::Expired);
        }
        let code = self.keyring.open_in_flight(&parked.code, &key)?;
        let verifier = parked
            .verifier
            .as_ref()
            .map(|v| self.keyring.open_in_flight(v, &format!("{key}/verifier")))
            .transpose()?;
        let state = OAuthState {
            pkce_verifier: verifier,
            ..state.clone()
        };
        Ok((state, code))
    }

    /// Exchanges the code and stores what the grant reaches. Returns the accounts stored.
    async fn connect(
        &self,
        state: &OAuthState,
        code: &Secret,
        now: DateTime<Utc>,
    ) -> Result<Vec<Account>, ConnectError> {
        let provider = state.provider;
        let grant = self
            .providers
            .exchange_code(
                provider,
                code,
                &state.redirect_uri,
                state.pkce_verifier.as_ref(),
            )
            .await?;
        // Meta, Instagram Login and Threads: short-lived to long-lived; others unchanged.
        let grant = self.providers.long_lived(provider, grant).await?;
        let mut remote = self
            .providers
            .accounts(provider, &grant.access_token)
            .await?;
        let mut seen = std::collections::HashSet::new();
        remote.retain(|r| seen.insert(r.external_id.clone()));
        if remote.is_empty() {
            return Err(ConnectError::NoAccounts);
        }

        if let Some(id) = &state.account {
            let account = self
                .accounts
                .get_account(&state.team, id)
                .await?
                .ok_or(ConnectError::AccountGone)?;
            let Some(found) = remote.iter().find(|r| r.external_id == account.external_id) else {
                tracing::info!(team = %state.team, account = %id, provider = %provider,
                    "reconnect refused: signed in as another external account");
                return Err(ConnectError::DifferentAccount);
            };
            let saved = self.renew(account, found, &grant, &state.user, now).await?;
            return Ok(vec![saved]);
        }

        if remote.len() > MAX_ACCOUNTS_PER_CONSENT {
            tracing::warn!(team = %state.team, provider = %provider, reached = remote.len(),
                cap = MAX_ACCOUNTS_PER_CONSENT, "consent refused: it reaches too many accounts");
            return Err(ConnectError::TooManyAccounts);
        }
        let held = self
            .accounts
            .count_accounts(&state.team, self.team_account_limit)
            .await?;
        // Accounts the team already has are renewed in place, not added; counting them as
        // new only errs on the safe side by at most this consent's size.
        if held + remote.len() as u64 > self.team_account_limit {
            tracing::warn!(team = %state.team, provider = %provider, held, adding = remote.len(),
                cap = self.team_account_limit, "consent refused: the team is at its account limit");
            return Err(ConnectError::TeamLimit);
        }
        use futures::{StreamExt, TryStreamExt};
        // Made up front (each runs only when the stream polls it): a stream of borrows
        // mapped by a closure would not be `Send` for the runtime.
        let writes: Vec<_> = remote
            .iter()
            .map(|r| self.store_new(state, r, &grant, now))
            .collect();
        futures::stream::iter(writes)
            .buffered(STORE_CONCURRENCY)
            .try_collect()
            .await
    }

    /// Stores a newly connected account; one the team already has (by external id) is
    /// renewed in place instead of duplicated.
    async fn store_new(
        &self,
        state: &OAuthState,
        remote: &RemoteAccount,
        grant: &TokenGrant,
        now: DateTime<Utc>,
    ) -> Result<Account, ConnectError> {
        let provider = state.provider;
        let team = &state.team;
        if let Some(existing) = self
            .accounts
            .find_by_external_id(team, provider, &remote.external_id)
            .await?
        {
            return self.renew(existing, remote, grant, &state.user, now).await;
        }
        let account = AccountGrant::of(grant, remote).new_account(&self.keyring, state, now);
        let connected = HistoryEntry::of(
            HistoryKind::Connected,
            None,
            &account,
            now,
            &Cause::Callback {
                user: state.user.clone(),
            },
        );
        match self
            .accounts
            .create_account_with(&account, std::slice::from_ref(&connected))
            .await
        {
            Ok(saved) => Ok(saved),
            // Two callbacks of one consent racing (a double-clicked "Allow"): the other
            // created it a moment ago; renew that one.
            Err(StoreError::AlreadyExists) => {
                let existing = self
                    .accounts
                    .find_by_external_id(team, provider, &remote.external_id)
                    .await?
                    .ok_or(StoreError::Conflict)?;
                self.renew(existing, remote, grant, &state.user, now).await
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Replaces an account's tokens in place (version-conditioned, re-read and re-applied
    /// if the sweep wrote meanwhile): keeps the stored refresh token when the network sent
    /// none, refreshes the profile, sets it active with clean failure counters, clears its
    /// notification milestones and, if it had been broken or expired, records `recovered`.
    async fn renew(
        &self,
        account: Account,
        remote: &RemoteAccount,
        grant: &TokenGrant,
        user: &UserId,
        now: DateTime<Utc>,
    ) -> Result<Account, ConnectError> {
        let grant = AccountGrant::of(grant, remote);
        let team = account.team.clone();
        let id = account.id.clone();
        let (saved, was_down) = self.store_renewal(account, &grant, user, now).await?;
        // The tokens are in place; the milestones start afresh. A failure here does not
        // undo the reconnect: it is logged for operators.
        self.restart_milestones(&team, &id, was_down, now).await;
        tracing::info!(team = %team, account = %id, provider = %saved.provider, recovered = was_down,
            version = saved.version, "account tokens replaced in place");
        Ok(saved)
    }

    /// Writes the renewed account, version-conditioned: a write that lost to the sweep is
    /// re-read and re-applied. With the account saved, whether it had been down.
    async fn store_renewal(
        &self,
        mut account: Account,
        grant: &AccountGrant<'_>,
        user: &UserId,
        now: DateTime<Utc>,
    ) -> Result<(Account, bool), ConnectError> {
        let team = account.team.clone();
        let id = account.id.clone();
        let mut attempt = 0;
        let cause = Cause::Callback { user: user.clone() };
        loop {
            attempt += 1;
            let (entry, was_down) = grant.renew(&mut account, &self.keyring, user, now, &cause);
            match self
                .accounts
                .update_account_with(&account, std::slice::from_ref(&entry))
                .await
            {
                Ok(saved) => return Ok((saved, was_down)),
                Err(StoreError::Conflict) if attempt < WRITE_ATTEMPTS => {
                    account = self
                        .accounts
                        .get_account(&team, &id)
                        .await?
                        .ok_or(ConnectError::AccountGone)?;
                }
                Err(StoreError::NotFound) => return Err(ConnectError::AccountGone),
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Clears a reconnected account's notification milestones; one that had been down gets
    /// a pending "connected again", which goes only to the people who were told it broke
    /// (read before the entries that say so go). Failures are logged, nothing undone.
    async fn restart_milestones(
        &self,
        team: &TeamId,
        id: &AccountId,
        was_down: bool,
        now: DateTime<Utc>,
    ) {
        let told = if was_down {
            match self.ledger.told_broken(team, id).await {
                Ok(told) => told,
                Err(e) => {
                    tracing::error!(team = %team, account = %id, error = %crate::error_chain::cause_chain(&e),
                        "who was told of the breakage could not be read; nobody is told it recovered");
                    Vec::new()
                }
            }
        } else {
            Vec::new()
        };
        match self.ledger.clear_for_reconnect(team, id, now).await {
            Ok(_) => {
                if was_down {
                    let mut entry = LedgerEntry::pending(team, id, Milestone::Recovered, now);
                    entry.audience = Some(told);
                    if let Err(e) = self.ledger.record_pending(&entry).await {
                        tracing::error!(team = %team, account = %id, error = %crate::error_chain::cause_chain(&e),
                            "the recovered milestone could not be recorded");
                    }
                }
            }
            Err(e) => {
                tracing::error!(team = %team, account = %id, error = %crate::error_chain::cause_chain(&e),
                    "the account's notification milestones could not be cleared");
            }
        }
    }
}

/// What one account is connected or renewed with: its own grant (the user's, or for a
/// Facebook Page and an Instagram business account reached through one, the Page's own
/// token) and what the network says of the account.
struct AccountGrant<'a> {
    remote: &'a RemoteAccount,
    own: TokenGrant,
    /// `own` is a Page token.
    page: bool,
}

impl<'a> AccountGrant<'a> {
    /// The grant `remote` is stored with, out of the consent's `grant`.
    fn of(grant: &TokenGrant, remote: &'a RemoteAccount) -> Self {
        // The scopes the token answer lists, else those the network stated beside it (Meta's
        // `debug_token`).
        let scopes = grant.scopes.clone().or_else(|| remote.scopes.clone());
        let (own, page) = match &remote.access_token {
            None => (
                TokenGrant {
                    scopes,
                    ..grant.clone()
                },
                false,
            ),
            Some(page_token) => (
                TokenGrant {
                    access_token: page_token.clone(),
                    refresh_token: None,
                    expires_in: None,
                    refresh_expires_in: None,
                    scopes,
                    user_id: None,
                },
                true,
            ),
        };
        Self { remote, own, page }
    }

    /// A newly connected account of `state`'s team, its tokens sealed, its scopes checked
    /// and its first look scheduled.
    fn new_account(&self, keyring: &Keyring, state: &OAuthState, now: DateTime<Utc>) -> Account {
        let (provider, team, remote, own) = (state.provider, &state.team, self.remote, &self.own);
        let id = AccountId::generate();
        let Lifetimes {
            access_expires_at,
            refresh_expires_at,
        } = if self.page {
            page_lifetimes()
        } else {
            lifetimes(provider, own, now, None)
        };
        let scopes = own.scopes.clone().unwrap_or_else(|| {
            provider
                .spec()
                .default_scopes
                .iter()
                .map(|s| (*s).to_owned())
                .collect()
        });
        let mut account = Account {
            team: team.clone(),
            tokens: seal_grant(keyring, team, provider, &id, own, None),
            id,
            provider,
            external_id: remote.external_id.clone(),
            display_name: remote.display_name.clone(),
            picture_url: remote.picture_url.clone(),
            scopes,
            connected_by: state.user.clone(),
            access_issued_at: now,
            access_expires_at,
            refresh_expires_at,
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
        // A consent without a permission needed to publish connects the account as revoked,
        // naming the permission, instead of "active" until the first post fails.
        account.scopes_checked(now);
        account.next_due_at = account.next_due(now, &SchedulePolicy::default());
        account
    }

    /// Puts the grant and the network's profile in place of the account's (one attempt of
    /// the write): keeps the stored refresh token when the network sent none, sets it active
    /// with clean failure counters. The history entry of the change, and whether the
    /// account had been down.
    fn renew(
        &self,
        account: &mut Account,
        keyring: &Keyring,
        user: &UserId,
        now: DateTime<Utc>,
        cause: &Cause,
    ) -> (HistoryEntry, bool) {
        let before = StateAt::of(account, now);
        if self.own.refresh_token.is_some() {
            // A new authorization starts a new refresh token, with a clock of its own
            // (LinkedIn's "fixed at first issue" is about refreshes of one token).
            account.refresh_expires_at = None;
        }
        let mut renewal = renewal(account, keyring, &self.own, now);
        renewal.data_access_expires_at = self.remote.data_access_expires_at;
        if self.page {
            let l = page_lifetimes();
            renewal.access_expires_at = l.access_expires_at;
            renewal.refresh_expires_at = l.refresh_expires_at;
        }
        let transition = account.reconnected(
            renewal,
            Profile {
                display_name: self.remote.display_name.clone(),
                picture_url: self.remote.picture_url.clone(),
                grant_owner: self.remote.grant_owner.clone(),
            },
            user.clone(),
            now,
        );
        let transition = account.scopes_checked(now).unwrap_or(transition);
        let was_down = transition == Transition::Recovered;
        account.next_due_at = account.next_due(now, &SchedulePolicy::default());
        let entry = HistoryEntry::of_transition(transition, before, account, now, cause);
        (entry, was_down)
    }
}

/// A Page token derived from a long-lived user token has no expiry date (Meta documents
/// it; `debug_token` answers `expires_at: 0`). It dies only by invalidation, which the
/// sweep's weekly `debug_token` check finds. The catalogue's 60 days are the user token's.
fn page_lifetimes() -> Lifetimes {
    Lifetimes {
        access_expires_at: None,
        refresh_expires_at: None,
    }
}

/// The code the network sent back for `state`, or the result the browser goes back with
/// (a state issued for another network, the network's own error, no code at all).
fn code_for(
    state: &OAuthState,
    provider: Provider,
    params: CallbackParams,
) -> Result<Secret, OAuthResult> {
    let team = &state.team;
    if state.provider != provider {
        // Mix-up defence: a state issued for one network arriving at another's redirect
        // URI is never exchanged anywhere.
        tracing::warn!(team = %team, issued_for = %state.provider, arrived_at = %provider,
            "callback refused: the state was issued for another network");
        return Err(OAuthResult::Error);
    }
    if let Some(error) = params.error.as_deref() {
        let result = if is_denial(error) {
            OAuthResult::Denied
        } else {
            OAuthResult::Error
        };
        tracing::info!(team = %team, provider = %provider, provider_error = %loggable(error), result = %result,
            "the network sent the browser back without a code");
        return Err(result);
    }
    let Some(code) = params.code.filter(|c| !c.expose_secret().is_empty()) else {
        tracing::info!(team = %team, provider = %provider, "callback without a code or an error");
        return Err(OAuthResult::Error);
    };
    Ok(code)
}

/// What a completion tells the frontend: its result, the accounts stored and, for some
/// errors, a finer reason. `team` is the caller's.
fn outcome(
    state: &OAuthState,
    team: &TeamId,
    connected: Result<Vec<Account>, ConnectError>,
) -> (OAuthResult, Vec<Account>, Option<&'static str>) {
    match connected {
        Ok(stored) => {
            let result = if state.account.is_some() {
                OAuthResult::Reconnected
            } else {
                OAuthResult::Connected
            };
            (result, stored, None)
        }
        Err(ConnectError::DifferentAccount) => (OAuthResult::DifferentAccount, Vec::new(), None),
        Err(ConnectError::NoAccounts) => (OAuthResult::Error, Vec::new(), Some("no_accounts")),
        Err(ConnectError::TooManyAccounts) => {
            (OAuthResult::Error, Vec::new(), Some("too_many_accounts"))
        }
        Err(ConnectError::TeamLimit) => {
            (OAuthResult::Error, Vec::new(), Some("team_account_limit"))
        }
        Err(ref e) => {
            tracing::error!(team = %team, provider = %state.provider,
                error = %crate::error_chain::cause_chain(e), "connection not completed");
            (OAuthResult::Error, Vec::new(), None)
        }
    }
}

fn back(state: &OAuthState, result: OAuthResult, stored: Vec<AccountId>) -> Completion {
    // A reconnect's answer always names its account, so the frontend can point at it.
    let accounts = match (&state.account, stored.is_empty()) {
        (Some(id), true) => vec![id.clone()],
        _ => stored,
    };
    Completion::Back {
        return_to: state.return_to.clone(),
        result,
        accounts,
        reason: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn denials_are_told_apart_from_errors() {
        assert!(is_denial("access_denied"));
        assert!(is_denial("user_cancelled_authorize"));
        assert!(!is_denial("invalid_scope"));
        assert!(!is_denial("server_error"));
    }

    #[test]
    fn a_logged_error_code_is_short_and_plain() {
        assert_eq!(loggable("access_denied"), "access_denied");
        assert_eq!(loggable("<script>x</script>"), "scriptxscript");
        assert_eq!(loggable(&"a".repeat(100)).len(), 40);
    }
}
