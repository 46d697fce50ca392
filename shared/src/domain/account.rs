//! The connected account and its token column: what a user sees in the account list,
//! and when the sweep must next look at the account.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use super::ids::{AccountId, TeamId, UserId};
use super::provider::{KeepAlive, Provider};
use crate::seal::SealedToken;

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
    pub broken: Option<Broken>,
    pub failures: Failures,
    pub last_checked_at: Option<DateTime<Utc>>,
    pub last_refreshed_at: Option<DateTime<Utc>>,
    pub connected_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// The next moment the sweep must look at the account; `None` keeps it out of the
    /// due index.
    pub next_due_at: Option<DateTime<Utc>>,
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

impl Account {
    pub fn auto_refresh(&self) -> bool {
        self.provider
            .spec()
            .auto_refresh(self.tokens.refresh.is_some())
    }

    /// The moment after which only a person can fix the connection: the access token's
    /// expiry when it cannot be refreshed, the refresh token's expiry (or none) when it can.
    pub fn reconnect_by(&self) -> Option<DateTime<Utc>> {
        let spec = self.provider.spec();
        if !self.auto_refresh() {
            return self.access_expires_at;
        }
        match spec.keep_alive {
            KeepAlive::Exchange { .. } | KeepAlive::None => None,
            KeepAlive::RefreshGrant | KeepAlive::RefreshGrantRotating => self.refresh_expires_at,
        }
    }

    /// When the connection is dead unless renewed: for an exchange-style token that is its
    /// own expiry, because an expired token cannot be refreshed.
    fn dead_at(&self) -> Option<DateTime<Utc>> {
        match self.provider.spec().keep_alive {
            KeepAlive::Exchange { .. } => self.access_expires_at,
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

    pub fn token_column(&self, now: DateTime<Utc>) -> TokenColumn {
        let spec = self.provider.spec();
        let status = self.status(now);
        let reason = self.broken.and_then(|b| b.reason);
        let reconnect_by = self.reconnect_by();
        let days_left = reconnect_by.map(|t| (t - now).num_days().max(0));
        let name = spec.display_name;
        let message = match (status, reason) {
            (_, Some(r)) => r.sentence(name),
            (Status::Expired, None) => format!(
                "The connection to {name} expired. Reconnect the account to continue posting."
            ),
            (Status::Expiring, None) => format!(
                "{name} will end this connection in {} day(s) and it cannot be renewed automatically. Reconnect the account before then.",
                days_left.unwrap_or(0)
            ),
            _ if self.auto_refresh() => format!(
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
            auto_refresh: self.auto_refresh(),
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
