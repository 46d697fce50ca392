//! The connected account and its token column: what a user sees in the account list,
//! and when the sweep must next look at the account.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use super::ids::{AccountId, TeamId, UserId};
use super::prefs::NotificationPrefs;
use super::provider::{KeepAlive, Provider};
use super::provider_error::Verdict;
use crate::domain::SealedToken;

/// The state shown in the token column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Active,
    Expiring,
    Expired,
    Revoked,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Active => "active",
            Status::Expiring => "expiring",
            Status::Expired => "expired",
            Status::Revoked => "revoked",
        }
    }
}

/// Why a connection is not active.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    PasswordChanged,
    AccessRevoked,
    AdminLost,
    /// Meta's 90-day data access ran out: the person has not used the app for 90 days.
    DataAccessExpired,
    Checkpoint,
    TokenInvalid,
    RefreshFailed,
    ScopesChanged,
    AppLimit,
    Unknown,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::PasswordChanged => "password_changed",
            Reason::AccessRevoked => "access_revoked",
            Reason::AdminLost => "admin_lost",
            Reason::DataAccessExpired => "data_access_expired",
            Reason::Checkpoint => "checkpoint",
            Reason::TokenInvalid => "token_invalid",
            Reason::RefreshFailed => "refresh_failed",
            Reason::ScopesChanged => "scopes_changed",
            Reason::AppLimit => "app_limit",
            Reason::Unknown => "unknown",
        }
    }

    pub fn parse(raw: &str) -> Option<Reason> {
        [
            Reason::PasswordChanged,
            Reason::AccessRevoked,
            Reason::AdminLost,
            Reason::DataAccessExpired,
            Reason::Checkpoint,
            Reason::TokenInvalid,
            Reason::RefreshFailed,
            Reason::ScopesChanged,
            Reason::AppLimit,
            Reason::Unknown,
        ]
        .into_iter()
        .find(|r| r.as_str() == raw)
    }

    /// What happened and what to do, in plain words, for the network named `network`.
    pub fn sentence(self, network: &str) -> String {
        match self {
            Reason::PasswordChanged => format!(
                "The password of the {network} account was changed, which signs out connected apps. Reconnect the account to continue posting."
            ),
            Reason::AccessRevoked => format!(
                "Access for this app was removed in the {network} account's settings. Reconnect the account and approve access again."
            ),
            Reason::AdminLost => format!(
                "The person who connected this {network} account is no longer an admin of it. Ask a current admin to reconnect it."
            ),
            Reason::DataAccessExpired => format!(
                "{network} stopped this app's access to the account's data because the person who connected it has not used the app for 90 days. Reconnect the account to renew access."
            ),
            Reason::Checkpoint => format!(
                "{network} locked the account for a security check. Log in on {network}, complete the check, then reconnect the account."
            ),
            Reason::TokenInvalid => format!(
                "{network} no longer accepts the saved sign-in for this account. Reconnect the account to continue posting."
            ),
            Reason::RefreshFailed => format!(
                "The connection could not be renewed with {network} for several days. Reconnect the account before posts start to fail."
            ),
            Reason::ScopesChanged => format!(
                "Some permissions this app needs on {network} were removed. Reconnect the account and allow all requested permissions."
            ),
            Reason::AppLimit => format!(
                "{network} is limiting this app for now; nothing is wrong with the account and no action is needed. We keep trying."
            ),
            Reason::Unknown => format!(
                "{network} stopped accepting the connection for a reason it did not say. Reconnect the account to continue posting."
            ),
        }
    }
}

/// A connection the sweep or a provider answer found broken. It stays broken until a
/// person reconnects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Broken {
    /// `Expired` or `Revoked`.
    pub status: Status,
    pub reason: Option<Reason>,
    pub since: DateTime<Utc>,
}

/// Days of transient failures (5xx, timeouts, 429) after which an account shows
/// `refresh_failed`: a provider outage of a day or two must not send anyone to reconnect.
pub const FAILURE_DAYS_BEFORE_REFRESH_FAILED: u32 = 5;

/// Transient failures, counted at most once per UTC day.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failures {
    pub days: u32,
    pub first_at: Option<DateTime<Utc>>,
    pub last_counted_on: Option<NaiveDate>,
}

impl Failures {
    /// Counts a transient failure; returns whether the counter moved (once a day).
    pub fn record(&mut self, now: DateTime<Utc>) -> bool {
        let today = now.date_naive();
        if self.last_counted_on == Some(today) {
            return false;
        }
        self.days += 1;
        self.first_at.get_or_insert(now);
        self.last_counted_on = Some(today);
        true
    }

    pub fn exhausted(&self) -> bool {
        self.days >= FAILURE_DAYS_BEFORE_REFRESH_FAILED
    }

    pub fn clear(&mut self) {
        *self = Failures::default();
    }
}

/// The sealed token pair of an account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedTokens {
    pub access: SealedToken,
    pub refresh: Option<SealedToken>,
}

/// A connected social account.
#[derive(Debug, Clone, PartialEq)]
pub struct Account {
    pub team: TeamId,
    pub id: AccountId,
    pub provider: Provider,
    /// The network's id for the account (Page id, user id, channel id).
    pub external_id: String,
    pub display_name: String,
    pub picture_url: Option<String>,
    pub scopes: Vec<String>,
    pub connected_by: UserId,
    pub tokens: SealedTokens,
    pub access_issued_at: DateTime<Utc>,
    pub access_expires_at: Option<DateTime<Utc>>,
    pub refresh_expires_at: Option<DateTime<Utc>>,
    /// Meta's data access clock (`data_access_expires_at`), for the networks that have one.
    pub data_access_expires_at: Option<DateTime<Utc>>,
    /// The person whose grant the token stands on, where one grant reaches several
    /// accounts (Meta: the person who connected the Pages), as the network module names it.
    pub grant_owner: Option<String>,
    pub broken: Option<Broken>,
    pub failures: Failures,
    pub last_checked_at: Option<DateTime<Utc>>,
    pub last_refreshed_at: Option<DateTime<Utc>>,
    pub connected_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// The next moment the sweep must look at the account; `None` keeps it out of the
    /// due index.
    pub next_due_at: Option<DateTime<Utc>>,
    /// The newest history entry's kind and time (written with it).
    pub last_change: Option<super::history::LastChange>,
    /// The last milestone (expiring at a lead day, expired) written to the history, so
    /// each is recorded once until a reconnect.
    pub noted: Option<Milestone>,
    /// Optimistic-locking version: the store refuses a write whose version is stale.
    pub version: u64,
}

/// The token column of one account at one moment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TokenColumn {
    pub status: Status,
    pub reason: Option<Reason>,
    pub message: String,
    pub reconnect_by: Option<DateTime<Utc>>,
    pub days_left: Option<i64>,
    pub auto_refresh: bool,
    pub last_checked_at: Option<DateTime<Utc>>,
}

/// How far ahead an account shows `expiring`.
pub const EXPIRING_WITHIN: Duration = Duration::days(14);

/// What the sweep's schedule depends on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchedulePolicy {
    /// Days before `reconnect_by` at which the team wants a warning (e.g. 14, 7, 3, 1).
    pub lead_days: Vec<u32>,
    /// How often a healthy account's validity is checked.
    pub check_every: Duration,
    /// How early a long-lived token is refreshed before it expires, and how often a
    /// short-lived one's refresh token is exercised (refresh only when due).
    pub refresh_margin: Duration,
}

impl Default for SchedulePolicy {
    fn default() -> Self {
        Self {
            lead_days: vec![14, 7, 3, 1],
            check_every: Duration::days(7),
            refresh_margin: Duration::days(7),
        }
    }
}

/// A notification milestone of an account; each is mailed at most once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Milestone {
    Expiring { days: u32 },
    Expired,
    Disconnected,
    Recovered,
}

impl Milestone {
    /// The key used in the notification ledger.
    pub fn key(self) -> String {
        match self {
            Milestone::Expiring { days } => format!("expiring-{days:03}"),
            Milestone::Expired => "expired".into(),
            Milestone::Disconnected => "disconnected".into(),
            Milestone::Recovered => "recovered".into(),
        }
    }

    /// Disconnected and recovered can happen again after a reconnect: they are mailed at
    /// most once per UTC day, the others once until the next reconnect.
    pub fn once_a_day(self) -> bool {
        matches!(self, Milestone::Disconnected | Milestone::Recovered)
    }

    pub fn parse(key: &str) -> Option<Milestone> {
        match key {
            "expired" => Some(Milestone::Expired),
            "disconnected" => Some(Milestone::Disconnected),
            "recovered" => Some(Milestone::Recovered),
            _ => key
                .strip_prefix("expiring-")
                .and_then(|d| d.parse().ok())
                .map(|days| Milestone::Expiring { days }),
        }
    }
}

/// The earlier of two optional moments.
fn earliest(a: Option<DateTime<Utc>>, b: Option<DateTime<Utc>>) -> Option<DateTime<Utc>> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// How soon an account whose look failed is looked at again.
pub const RETRY_AFTER: Duration = Duration::days(1);

/// What a change did to a connection's state: the moves the token column, the mails and
/// (soon) the account's history are made of. Changes that keep the state (a routine
/// refresh, a passed check) make none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    /// Found dead: revoked or expired, with the reason.
    Broken { status: Status, reason: Reason },
    /// A transient failure began a streak (the first day counted).
    FailingTransiently,
    /// Working again: after `refresh_failed` without anyone reconnecting, or a person
    /// reconnected a connection that was down.
    Recovered,
    /// A person reconnected a connection that was working (new tokens in place).
    Reconnected,
    /// A streak of transient failures ended before it came to `refresh_failed` (the
    /// network is back; nobody is told by mail).
    StreakEnded,
}

/// What a passed validity check reported about the token.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reported {
    pub expires_at: Option<DateTime<Utc>>,
    pub data_access_expires_at: Option<DateTime<Utc>>,
    pub scopes: Option<Vec<String>>,
    /// The person whose grant the token stands on, when the check names it.
    pub grant_owner: Option<String>,
}

/// A grant's tokens as the account keeps them: sealed, with the lifetimes they carry.
#[derive(Debug, Clone, PartialEq)]
pub struct Renewal {
    pub tokens: SealedTokens,
    pub access_expires_at: Option<DateTime<Utc>>,
    pub refresh_expires_at: Option<DateTime<Utc>>,
    /// The granted scopes, when the answer listed them.
    pub scopes: Option<Vec<String>>,
    /// Meta's data access clock, when the network stated it.
    pub data_access_expires_at: Option<DateTime<Utc>>,
}

/// What a reconnect brings besides new tokens: the account as the network shows it now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Profile {
    pub display_name: String,
    pub picture_url: Option<String>,
    pub grant_owner: Option<String>,
}

/// The state changes of an account. The sweep, the OAuth callback, the credentials
/// function and disconnect all change accounts through these, so one event means one
/// thing wherever it is seen.
impl Account {
    /// New tokens from a refresh (or a reconnect's grant): they replace the old ones, the
    /// failure streak ends, and an account that only failed to refresh is working again.
    pub fn renewed(&mut self, renewal: Renewal, now: DateTime<Utc>) -> Option<Transition> {
        let deadline = self.reconnect_by();
        self.tokens = renewal.tokens;
        self.access_issued_at = now;
        self.access_expires_at = renewal.access_expires_at;
        self.refresh_expires_at = renewal.refresh_expires_at;
        if let Some(scopes) = renewal.scopes {
            self.scopes = scopes;
        }
        if renewal.data_access_expires_at.is_some() {
            self.data_access_expires_at = renewal.data_access_expires_at;
        }
        self.last_refreshed_at = Some(now);
        self.updated_at = now;
        if self.reconnect_by() != deadline {
            // A new deadline: its milestones are new.
            self.noted = None;
        }
        self.worked(now)
    }

    /// A person reconnected the same external account: the new tokens in place, the
    /// profile as the network shows it now, active again with a clean failure record, the
    /// refresh cadence counting from now.
    pub fn reconnected(
        &mut self,
        renewal: Renewal,
        profile: Profile,
        by: UserId,
        now: DateTime<Utc>,
    ) -> Transition {
        let was_down = self.broken.is_some() || self.status(now) == Status::Expired;
        // A new consent starts the data access clock afresh: what it states, or nothing.
        let data_access = renewal.data_access_expires_at;
        self.renewed(renewal, now);
        self.data_access_expires_at = data_access;
        self.display_name = profile.display_name;
        self.picture_url = profile.picture_url;
        if profile.grant_owner.is_some() {
            self.grant_owner = profile.grant_owner;
        }
        self.connected_by = by;
        self.broken = None;
        // Fresh tokens: the refresh cadence counts from now; the milestones start afresh.
        self.last_refreshed_at = None;
        self.noted = None;
        if was_down {
            Transition::Recovered
        } else {
            Transition::Reconnected
        }
    }

    /// A validity check passed. A token that cannot be refreshed takes the expiry the
    /// network reports now; Meta's data access clock is taken as reported.
    pub fn check_passed(&mut self, reported: Reported, now: DateTime<Utc>) -> Option<Transition> {
        let deadline = self.reconnect_by();
        if !self.auto_refresh() {
            if let Some(expires) = reported.expires_at {
                self.access_expires_at = Some(expires);
            }
        }
        if reported.data_access_expires_at.is_some() {
            self.data_access_expires_at = reported.data_access_expires_at;
        }
        if let Some(scopes) = reported.scopes {
            self.scopes = scopes;
        }
        if reported.grant_owner.is_some() {
            self.grant_owner = reported.grant_owner;
        }
        if self.reconnect_by() != deadline {
            self.noted = None;
        }
        let worked = self.worked(now);
        self.scopes_checked(now).or(worked)
    }

    /// The network proved the connection works at `now`.
    fn worked(&mut self, now: DateTime<Utc>) -> Option<Transition> {
        let streak = self.failures.days > 0;
        self.failures.clear();
        self.last_checked_at = Some(now);
        self.updated_at = now;
        if self
            .broken
            .is_some_and(|b| b.reason == Some(Reason::RefreshFailed))
        {
            self.broken = None;
            return Some(Transition::Recovered);
        }
        streak.then_some(Transition::StreakEnded)
    }

    /// A refresh or check failed with `verdict`: a dead token breaks the connection, an
    /// app limit changes nothing, anything else counts toward `refresh_failed` (once a
    /// day).
    pub fn failed(&mut self, verdict: Verdict, now: DateTime<Utc>) -> Option<Transition> {
        match verdict {
            Verdict::Broken { status, reason } => self.broke(status, reason, now),
            // The app over a network limit is not the user's problem: retried, not counted.
            Verdict::AppLimit => None,
            Verdict::Transient | Verdict::Unrecognised => {
                let first = self.failures.days == 0;
                let counted = self.failures.record(now);
                self.updated_at = now;
                if self.failures.exhausted() && self.broken.is_none() {
                    self.broken = Some(Broken {
                        status: Status::Revoked,
                        reason: Some(Reason::RefreshFailed),
                        since: now,
                    });
                    Some(Transition::Broken {
                        status: Status::Revoked,
                        reason: Reason::RefreshFailed,
                    })
                } else if first && counted {
                    Some(Transition::FailingTransiently)
                } else {
                    None
                }
            }
        }
    }

    /// Checks the granted scopes against what the network needs for posting: a consent
    /// missing one leaves the connection revoked with `scopes_changed` (its token column
    /// names the permission).
    pub fn scopes_checked(&mut self, now: DateTime<Utc>) -> Option<Transition> {
        if self.missing_scopes().is_empty() {
            return None;
        }
        self.broken = None;
        self.broke(Status::Revoked, Reason::ScopesChanged, now)
    }

    /// The connection is dead until a person reconnects. A connection already broken
    /// takes the newer reason without a new transition.
    pub fn broke(
        &mut self,
        status: Status,
        reason: Reason,
        now: DateTime<Utc>,
    ) -> Option<Transition> {
        let was_broken = self.broken.is_some();
        self.broken = Some(Broken {
            status,
            reason: Some(reason),
            since: now,
        });
        self.last_checked_at = Some(now);
        self.updated_at = now;
        (!was_broken).then_some(Transition::Broken { status, reason })
    }

    /// The milestones crossed now, filtered by what the team wants mailed. `was_broken`:
    /// whether the account was broken before this change; `recovered`: whether this change
    /// recovered it.
    pub fn milestones_crossed(
        &self,
        now: DateTime<Utc>,
        prefs: &NotificationPrefs,
        was_broken: bool,
        recovered: bool,
    ) -> Vec<Milestone> {
        if !prefs.enabled || prefs.active_recipients().next().is_none() {
            return Vec::new();
        }
        let mut out = Vec::new();
        if recovered && prefs.events.recovered {
            out.push(Milestone::Recovered);
        }
        match (self.broken, was_broken) {
            (Some(b), false) if b.status == Status::Expired => {
                if prefs.events.expired {
                    out.push(Milestone::Expired)
                }
            }
            (Some(_), false) => {
                if prefs.events.disconnected {
                    out.push(Milestone::Disconnected)
                }
            }
            (Some(_), true) => {}
            (None, _) => {
                if self.status(now) == Status::Expired {
                    if prefs.events.expired {
                        out.push(Milestone::Expired);
                    }
                } else if prefs.events.expiring {
                    out.extend(self.expiring_milestone(now, &prefs.lead_days));
                }
            }
        }
        out
    }

    /// The history milestone reached now and not yet noted (expired, or the tightest lead
    /// day before `reconnect_by`); notes it. Independent of what the team wants mailed.
    pub fn note_milestone(&mut self, now: DateTime<Utc>, lead_days: &[u32]) -> Option<Milestone> {
        if self.broken.is_some() {
            return None;
        }
        let reached = if self.status(now) == Status::Expired {
            Some(Milestone::Expired)
        } else {
            self.expiring_milestone(now, lead_days)
        }?;
        if self.noted == Some(reached) {
            return None;
        }
        self.noted = Some(reached);
        Some(reached)
    }

    /// The sweep's next look, always in the future: after a failure, no later than
    /// [`RETRY_AFTER`] from now; a `refresh_failed` account is retried daily.
    pub fn next_look(
        &self,
        now: DateTime<Utc>,
        policy: &SchedulePolicy,
        failed: bool,
    ) -> Option<DateTime<Utc>> {
        let retry = now + RETRY_AFTER;
        if self
            .broken
            .is_some_and(|b| b.reason == Some(Reason::RefreshFailed))
        {
            return Some(retry);
        }
        let next = self.next_due(now, policy)?;
        Some(if next <= now {
            retry
        } else if failed {
            next.min(retry)
        } else {
            next
        })
    }
}

impl Account {
    pub fn auto_refresh(&self) -> bool {
        self.provider
            .spec()
            .auto_refresh(self.tokens.refresh.is_some())
    }

    /// The posting permissions the account lacks (catalogue order).
    pub fn missing_scopes(&self) -> Vec<&'static str> {
        self.provider.spec().missing_scopes(&self.scopes)
    }

    /// The moment after which only a person can fix the connection: the earliest of its
    /// clocks. The token's own: the access token's expiry when it cannot be refreshed, the
    /// refresh token's expiry (or none) when it can. Meta's data access clock, where the
    /// network has one.
    pub fn reconnect_by(&self) -> Option<DateTime<Utc>> {
        let spec = self.provider.spec();
        let token = if !self.auto_refresh() {
            self.access_expires_at
        } else {
            match spec.keep_alive {
                KeepAlive::Exchange { .. } | KeepAlive::None => None,
                KeepAlive::RefreshGrant | KeepAlive::RefreshGrantRotating => {
                    self.refresh_expires_at
                }
            }
        };
        earliest(token, self.data_access_clock())
    }

    /// Meta's data access expiry, for networks it binds.
    fn data_access_clock(&self) -> Option<DateTime<Utc>> {
        self.provider
            .spec()
            .data_access_clock
            .then_some(self.data_access_expires_at)
            .flatten()
    }

    /// When the connection is dead unless renewed: for an exchange-style token that is its
    /// own expiry, because an expired token cannot be refreshed.
    pub fn dead_at(&self) -> Option<DateTime<Utc>> {
        match self.provider.spec().keep_alive {
            KeepAlive::Exchange { .. } => earliest(self.access_expires_at, self.reconnect_by()),
            _ => self.reconnect_by(),
        }
    }

    pub fn status(&self, now: DateTime<Utc>) -> Status {
        if let Some(b) = self.broken {
            return b.status;
        }
        if self.dead_at().is_some_and(|t| now >= t) {
            return Status::Expired;
        }
        match self.reconnect_by() {
            Some(t) if t - now <= EXPIRING_WITHIN => Status::Expiring,
            _ => Status::Active,
        }
    }

    /// Why the connection is down: the recorded reason, or the data access clock that ran
    /// out.
    fn reason(&self, now: DateTime<Utc>) -> Option<Reason> {
        match self.broken {
            Some(b) => b.reason,
            None => self
                .data_access_clock()
                .filter(|t| now >= *t)
                .map(|_| Reason::DataAccessExpired),
        }
    }

    /// The token column. A connection that is down (expired or revoked) shows no future
    /// deadline, no days left and no automatic refresh: only a person can bring it back.
    pub fn token_column(&self, now: DateTime<Utc>) -> TokenColumn {
        let spec = self.provider.spec();
        let status = self.status(now);
        let reason = self.reason(now);
        let down = matches!(status, Status::Expired | Status::Revoked);
        let reconnect_by = if down {
            self.reconnect_by().filter(|t| *t <= now)
        } else {
            self.reconnect_by()
        };
        let days_left = if down {
            None
        } else {
            reconnect_by.map(|t| (t - now).num_days().max(0))
        };
        let auto_refresh = !down && self.auto_refresh();
        let name = spec.display_name;
        let missing = self.missing_scopes();
        let message = match (status, reason) {
            (_, Some(Reason::ScopesChanged)) if !missing.is_empty() => format!(
                "{name} did not grant the permission{} {} this app needs to publish. Reconnect the account and allow {}.",
                if missing.len() > 1 { "s" } else { "" },
                missing.join(", "),
                if missing.len() > 1 { "them" } else { "it" }
            ),
            (_, Some(r)) => r.sentence(name),
            (Status::Expired, None) => format!(
                "The connection to {name} expired. Reconnect the account to continue posting."
            ),
            (Status::Expiring, None) => format!(
                "{name} will end this connection in {} day(s) and it cannot be renewed automatically. Reconnect the account before then.",
                days_left.unwrap_or(0)
            ),
            _ if auto_refresh => format!(
                "Connected. tokenwarden renews the {name} connection automatically."
            ),
            _ => match days_left {
                Some(d) => format!(
                    "Connected. {name} needs a reconnect in {d} day(s); you will be reminded before then."
                ),
                None => format!("Connected. The {name} connection has no expiry date."),
            },
        };
        TokenColumn {
            status,
            reason,
            message,
            reconnect_by,
            days_left,
            auto_refresh,
            last_checked_at: self.last_checked_at,
        }
    }

    /// The milestone warning that applies now: the tightest lead day already reached
    /// before `reconnect_by`, if any.
    pub fn expiring_milestone(&self, now: DateTime<Utc>, lead_days: &[u32]) -> Option<Milestone> {
        let by = self.reconnect_by()?;
        if now >= by || self.broken.is_some() {
            return None;
        }
        lead_days
            .iter()
            .copied()
            .filter(|d| now >= by - Duration::days(i64::from(*d)))
            .min()
            .map(|days| Milestone::Expiring { days })
    }

    /// When the sweep should refresh this account, if it can: long-lived tokens a margin
    /// before expiry; short-lived ones no more often than every `refresh_margin`; and an
    /// exchange-style token never before it is `min_age` old.
    pub fn refresh_due_at(&self, policy: &SchedulePolicy) -> Option<DateTime<Utc>> {
        if !self.auto_refresh() {
            return None;
        }
        let last = self.last_refreshed_at.unwrap_or(self.access_issued_at);
        let margin = policy.refresh_margin;
        match (self.provider.spec().keep_alive, self.access_expires_at) {
            (KeepAlive::Exchange { min_age }, Some(expires)) => {
                Some((expires - margin).max(self.access_issued_at + min_age))
            }
            (KeepAlive::Exchange { min_age }, None) => Some(self.access_issued_at + min_age),
            (_, Some(expires)) => Some((expires - margin).max(last + margin)),
            (_, None) => Some(last + margin),
        }
    }

    /// The next moment the sweep must look at this account: a refresh to do, a milestone to
    /// mail, the expiry itself, or a validity check. `None` for a broken account (nothing to
    /// do until a person reconnects), which keeps it out of the due index.
    pub fn next_due(&self, now: DateTime<Utc>, policy: &SchedulePolicy) -> Option<DateTime<Utc>> {
        if self.broken.is_some() || self.status(now) == Status::Expired {
            return None;
        }
        let mut candidates =
            vec![self.last_checked_at.unwrap_or(self.connected_at) + policy.check_every];
        candidates.extend(self.refresh_due_at(policy));
        if let Some(dead) = self.dead_at() {
            candidates.push(dead);
        }
        if let Some(by) = self.reconnect_by() {
            candidates.extend(
                policy
                    .lead_days
                    .iter()
                    .map(|d| by - Duration::days(i64::from(*d)))
                    .filter(|m| *m > now),
            );
        }
        candidates.into_iter().min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::SealedToken;
    use chrono::TimeZone;
    use proptest::prelude::*;

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 1, 3, 0, 0).unwrap()
    }

    /// An account as it stands right after connecting at `t0` with the catalogue's lifetimes.
    fn connected(provider: Provider, with_refresh: bool) -> Account {
        let spec = provider.spec();
        Account {
            team: TeamId::parse("team").unwrap(),
            id: AccountId::parse("acc").unwrap(),
            provider,
            external_id: "ext".into(),
            display_name: "Shop".into(),
            picture_url: None,
            scopes: spec.default_scopes.iter().map(|s| s.to_string()).collect(),
            connected_by: UserId::parse("user").unwrap(),
            tokens: SealedTokens {
                access: SealedToken::from_stored("tw1.k.n.c".into()),
                refresh: with_refresh.then(|| SealedToken::from_stored("tw1.k.n.r".into())),
            },
            access_issued_at: t0(),
            access_expires_at: spec.default_access_lifetime.map(|d| t0() + d),
            refresh_expires_at: spec.default_refresh_lifetime.map(|d| t0() + d),
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
            version: 1,
        }
    }

    #[test]
    fn non_refreshable_token_reconnect_by_is_its_expiry_with_expiring_window() {
        let a = connected(Provider::Facebook, false);
        let expiry = t0() + Duration::days(60);
        assert_eq!(a.reconnect_by(), Some(expiry));
        assert!(!a.auto_refresh());
        let just_outside = expiry - EXPIRING_WITHIN - Duration::seconds(1);
        assert_eq!(a.status(just_outside), Status::Active);
        assert_eq!(a.status(expiry - EXPIRING_WITHIN), Status::Expiring);
        assert_eq!(a.status(expiry - Duration::seconds(1)), Status::Expiring);
        assert_eq!(a.status(expiry), Status::Expired);
        let col = a.token_column(expiry - Duration::days(3) - Duration::hours(1));
        assert_eq!(col.days_left, Some(3));
        assert!(col.message.contains("3 day"), "{}", col.message);
    }

    #[test]
    fn refresh_grant_reconnect_by_follows_the_refresh_token() {
        let li = connected(Provider::Linkedin, true);
        assert!(li.auto_refresh());
        assert_eq!(li.reconnect_by(), Some(t0() + Duration::days(365)));
        // The access token's own expiry does not matter while the refresh token lives.
        assert_eq!(li.status(t0() + Duration::days(61)), Status::Active);
        assert_eq!(li.status(t0() + Duration::days(355)), Status::Expiring);
        assert_eq!(li.status(t0() + Duration::days(365)), Status::Expired);

        // Without a refresh token (not a partner app) LinkedIn is a 60-day token.
        let li_plain = connected(Provider::Linkedin, false);
        assert!(!li_plain.auto_refresh());
        assert_eq!(li_plain.reconnect_by(), Some(t0() + Duration::days(60)));

        // Google: no refresh expiry at all.
        let g = connected(Provider::Google, true);
        assert_eq!(g.reconnect_by(), None);
        assert_eq!(g.status(t0() + Duration::days(400)), Status::Active);
        assert_eq!(g.token_column(t0()).days_left, None);
    }

    #[test]
    fn exchange_style_token_is_kept_alive_but_dies_at_its_own_expiry() {
        let ig = connected(Provider::InstagramLogin, false);
        assert!(ig.auto_refresh());
        assert_eq!(ig.reconnect_by(), None);
        assert_eq!(ig.status(t0() + Duration::days(59)), Status::Active);
        assert_eq!(ig.status(t0() + Duration::days(60)), Status::Expired);
        // Refreshed no earlier than 24 h after issue, a margin before expiry.
        let due = ig.refresh_due_at(&SchedulePolicy::default()).unwrap();
        assert_eq!(due, t0() + Duration::days(53));
        let mut young = ig.clone();
        young.access_expires_at = Some(t0() + Duration::hours(30));
        assert_eq!(
            young.refresh_due_at(&SchedulePolicy::default()),
            Some(t0() + Duration::hours(24))
        );
    }

    #[test]
    fn broken_account_shows_its_reason_and_leaves_the_due_index() {
        let mut a = connected(Provider::Facebook, false);
        a.broken = Some(Broken {
            status: Status::Revoked,
            reason: Some(Reason::PasswordChanged),
            since: t0(),
        });
        let col = a.token_column(t0());
        assert_eq!(col.status, Status::Revoked);
        assert_eq!(col.reason, Some(Reason::PasswordChanged));
        assert!(col.message.contains("password"));
        assert!(col.message.contains("Facebook"));
        assert_eq!(a.next_due(t0(), &SchedulePolicy::default()), None);
    }

    #[test]
    fn next_due_is_the_first_lead_day_milestone_for_a_facebook_token() {
        let a = connected(Provider::Facebook, false);
        let policy = SchedulePolicy {
            check_every: Duration::days(90),
            ..SchedulePolicy::default()
        };
        let expiry = t0() + Duration::days(60);
        assert_eq!(a.next_due(t0(), &policy), Some(expiry - Duration::days(14)));
        let after_14 = expiry - Duration::days(14) + Duration::minutes(1);
        assert_eq!(
            a.next_due(after_14, &policy),
            Some(expiry - Duration::days(7))
        );
        let after_1 = expiry - Duration::days(1) + Duration::minutes(1);
        assert_eq!(a.next_due(after_1, &policy), Some(expiry));
        assert_eq!(a.next_due(expiry, &policy), None);
    }

    #[test]
    fn short_lived_refresh_grant_is_not_refreshed_on_a_short_cadence() {
        for p in [Provider::X, Provider::Google, Provider::Tiktok] {
            let a = connected(p, true);
            let due = a.refresh_due_at(&SchedulePolicy::default()).unwrap();
            assert_eq!(due, t0() + Duration::days(7), "{p}");
        }
        let pin = connected(Provider::Pinterest, true);
        assert_eq!(
            pin.refresh_due_at(&SchedulePolicy::default()),
            Some(t0() + Duration::days(23))
        );
    }

    #[test]
    fn expiring_milestone_is_the_tightest_lead_day_reached() {
        let a = connected(Provider::Facebook, false);
        let by = a.reconnect_by().unwrap();
        let leads = [14, 7, 3, 1];
        assert_eq!(a.expiring_milestone(by - Duration::days(15), &leads), None);
        assert_eq!(
            a.expiring_milestone(by - Duration::days(14), &leads),
            Some(Milestone::Expiring { days: 14 })
        );
        assert_eq!(
            a.expiring_milestone(by - Duration::days(5), &leads),
            Some(Milestone::Expiring { days: 7 })
        );
        assert_eq!(
            a.expiring_milestone(by - Duration::hours(2), &leads),
            Some(Milestone::Expiring { days: 1 })
        );
        assert_eq!(a.expiring_milestone(by, &leads), None);
    }

    #[test]
    fn failures_count_once_a_day_and_exhaust_after_the_threshold() {
        let mut f = Failures::default();
        assert!(f.record(t0()));
        assert!(!f.record(t0() + Duration::hours(5)));
        for day in 1..FAILURE_DAYS_BEFORE_REFRESH_FAILED {
            assert!(!f.exhausted());
            assert!(f.record(t0() + Duration::days(i64::from(day))));
        }
        assert!(f.exhausted());
        assert_eq!(f.first_at, Some(t0()));
        f.clear();
        assert_eq!(f, Failures::default());
    }

    #[test]
    fn milestone_keys_round_trip() {
        for m in [
            Milestone::Expiring { days: 7 },
            Milestone::Expiring { days: 14 },
            Milestone::Expired,
            Milestone::Disconnected,
            Milestone::Recovered,
        ] {
            assert_eq!(Milestone::parse(&m.key()), Some(m));
        }
        assert_eq!(Milestone::parse("expiring-x"), None);
    }

    fn any_provider() -> impl Strategy<Value = Provider> {
        proptest::sample::select(Provider::ALL.to_vec())
    }

    proptest! {
        /// For any network, lifetime and moment: the status agrees with the deadline, and
        /// the next due moment is never later than the next milestone or the expiry.
        #[test]
        fn status_and_next_due_agree_with_the_deadlines(
            provider in any_provider(),
            with_refresh in any::<bool>(),
            access_secs in 60i64..(400 * 86_400),
            refresh_days in proptest::option::of(1i64..800),
            at_secs in 0i64..(500 * 86_400),
        ) {
            let mut a = connected(provider, with_refresh);
            a.access_expires_at = Some(t0() + Duration::seconds(access_secs));
            a.refresh_expires_at = refresh_days.map(|d| t0() + Duration::days(d));
            let now = t0() + Duration::seconds(at_secs);
            let policy = SchedulePolicy::default();
            let status = a.status(now);
            let deadline = if matches!(provider.spec().keep_alive, KeepAlive::Exchange { .. }) {
                a.access_expires_at
            } else {
                a.reconnect_by()
            };
            prop_assert_eq!(status == Status::Expired, deadline.is_some_and(|d| now >= d));
            if let Some(by) = a.reconnect_by() {
                if now < by {
                    prop_assert_eq!(status == Status::Expiring, by - now <= EXPIRING_WITHIN);
                }
            }
            match a.next_due(now, &policy) {
                None => prop_assert_eq!(status, Status::Expired),
                Some(due) => {
                    if let Some(d) = deadline {
                        prop_assert!(due <= d);
                    }
                    if let Some(by) = a.reconnect_by() {
                        for lead in &policy.lead_days {
                            let m = by - Duration::days(i64::from(*lead));
                            if m > now {
                                prop_assert!(due <= m);
                            }
                        }
                    }
                    prop_assert!(due <= a.last_checked_at.unwrap() + policy.check_every);
                }
            }
        }
    }

    proptest! {
        /// A connection that is down never promises anything: no future deadline, no days
        /// left, no automatic refresh; whatever the network, the clocks and the way it broke.
        #[test]
        fn a_down_connection_shows_no_future_deadline_days_left_or_auto_refresh(
            provider in prop::sample::select(Provider::ALL.to_vec()),
            with_refresh in any::<bool>(),
            broken_as in prop::option::of((
                prop::sample::select(vec![Status::Revoked, Status::Expired]),
                prop::sample::select(vec![
                    Reason::TokenInvalid, Reason::AccessRevoked, Reason::AdminLost,
                    Reason::RefreshFailed, Reason::ScopesChanged, Reason::DataAccessExpired,
                ]),
            )),
            data_access_days in prop::option::of(-100i64..200),
            hours_later in 0i64..(24 * 400),
        ) {
            let mut a = connected(provider, with_refresh);
            a.data_access_expires_at = data_access_days.map(|d| t0() + Duration::days(d));
            if let Some((status, reason)) = broken_as {
                a.broke(status, reason, t0());
            }
            let now = t0() + Duration::hours(hours_later);
            let col = a.token_column(now);
            if matches!(col.status, Status::Expired | Status::Revoked) {
                prop_assert_eq!(col.days_left, None);
                prop_assert!(!col.auto_refresh);
                prop_assert!(col.reconnect_by.is_none_or(|t| t <= now), "{:?}", col);
            } else {
                prop_assert!(col.reconnect_by.is_none_or(|t| t > now), "{:?}", col);
                prop_assert!(col.reason.is_none(), "{:?}", col);
            }
        }
    }

    #[test]
    fn meta_data_access_is_a_clock_of_its_own_and_the_earliest_wins() {
        let mut fb = connected(Provider::Facebook, false);
        // The Page token never expires; the person's data access does, in 90 days.
        fb.access_expires_at = None;
        fb.data_access_expires_at = Some(t0() + Duration::days(90));
        assert_eq!(fb.reconnect_by(), Some(t0() + Duration::days(90)));
        assert_eq!(
            fb.expiring_milestone(t0() + Duration::days(83), &[14, 7]),
            Some(Milestone::Expiring { days: 7 })
        );
        let col = fb.token_column(t0() + Duration::days(91));
        assert_eq!(col.status, Status::Expired);
        assert_eq!(col.reason, Some(Reason::DataAccessExpired));
        // Not a clock for networks Meta's data access does not bind.
        let mut ig = connected(Provider::InstagramLogin, false);
        ig.data_access_expires_at = Some(t0() + Duration::days(1));
        assert_eq!(ig.reconnect_by(), None);
    }

    #[test]
    fn a_consent_without_a_posting_permission_connects_revoked_and_names_it() {
        let mut a = connected(Provider::Facebook, false);
        a.scopes = vec!["pages_show_list".into(), "business_management".into()];

        let t = a.scopes_checked(t0());

        assert_eq!(
            t,
            Some(Transition::Broken {
                status: Status::Revoked,
                reason: Reason::ScopesChanged
            })
        );
        let col = a.token_column(t0());
        assert!(
            col.message.contains("pages_manage_posts"),
            "{}",
            col.message
        );
        assert!(!col.auto_refresh);
        let mut ok = connected(Provider::Facebook, false);
        ok.scopes = Provider::Facebook
            .spec()
            .default_scopes
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(ok.scopes_checked(t0()), None);
    }
}
