//! An account's history: one entry per transition, written with the account change it
//! records (one transaction), kept 400 days, listed newest first, and published as an
//! event. Never a token, code or secret: states, reasons, causes and the network's error
//! code.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::account::{Account, Milestone, Reason, Status, Transition};
use super::ids::{AccountId, TeamId, UserId};
use super::provider::Provider;

/// How long history is kept.
pub const HISTORY_KEPT: Duration = Duration::days(400);

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HistoryKind {
    /// A new connection.
    Connected,
    /// New tokens for a working connection, from a person reconnecting.
    Reconnected,
    /// A lead day before `reconnect_by` was reached.
    Expiring,
    /// `reconnect_by` passed.
    Expired,
    /// The network refused the connection (revoked, or expired early), with the reason.
    Broken,
    /// A platform service reported a failure that the check did not confirm.
    FailureNotConfirmed,
    /// A transient failure began a streak (a network outage).
    Failing,
    /// Working again.
    Recovered,
    /// Removed from tokenwarden (disconnected by a person).
    Disconnected,
}

impl HistoryKind {
    pub const ALL: [HistoryKind; 9] = [
        HistoryKind::Connected,
        HistoryKind::Reconnected,
        HistoryKind::Expiring,
        HistoryKind::Expired,
        HistoryKind::Broken,
        HistoryKind::FailureNotConfirmed,
        HistoryKind::Failing,
        HistoryKind::Recovered,
        HistoryKind::Disconnected,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            HistoryKind::Connected => "connected",
            HistoryKind::Reconnected => "reconnected",
            HistoryKind::Expiring => "expiring",
            HistoryKind::Expired => "expired",
            HistoryKind::Broken => "broken",
            HistoryKind::FailureNotConfirmed => "failure_not_confirmed",
            HistoryKind::Failing => "failing",
            HistoryKind::Recovered => "recovered",
            HistoryKind::Disconnected => "disconnected",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == raw)
    }

    /// The EventBridge detail-type of its event.
    pub fn detail_type(self) -> &'static str {
        match self {
            HistoryKind::Connected => "Connection Created",
            HistoryKind::Reconnected => "Connection Reconnected",
            HistoryKind::Expiring => "Connection Expiring",
            HistoryKind::Expired => "Connection Expired",
            HistoryKind::Broken => "Connection Broken",
            HistoryKind::FailureNotConfirmed => "Connection Failure Not Confirmed",
            HistoryKind::Failing => "Connection Failing",
            HistoryKind::Recovered => "Connection Recovered",
            HistoryKind::Disconnected => "Connection Removed",
        }
    }
}

impl From<Transition> for HistoryKind {
    fn from(t: Transition) -> Self {
        match t {
            Transition::Broken {
                status: Status::Expired,
                ..
            } => HistoryKind::Expired,
            Transition::Broken { .. } => HistoryKind::Broken,
            Transition::FailingTransiently => HistoryKind::Failing,
            Transition::Recovered | Transition::StreakEnded => HistoryKind::Recovered,
            Transition::Reconnected => HistoryKind::Reconnected,
        }
    }
}

/// The newest history entry's kind and time, kept on the account (the list shows it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct LastChange {
    pub kind: HistoryKind,
    pub at: DateTime<Utc>,
}

impl LastChange {
    pub fn of(entry: &HistoryEntry) -> Self {
        Self {
            kind: entry.kind,
            at: entry.at,
        }
    }
}

/// What caused a change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Cause {
    /// The nightly sweep's run (its scheduled time).
    Sweep { run: String },
    /// A call of the credentials function (its request id).
    Credentials { request: String },
    /// The OAuth callback completing a consent of this user.
    Callback { user: UserId },
    /// An API call of this user.
    Api { user: UserId },
}

impl Cause {
    pub fn type_str(&self) -> &'static str {
        match self {
            Cause::Sweep { .. } => "sweep",
            Cause::Credentials { .. } => "credentials",
            Cause::Callback { .. } => "callback",
            Cause::Api { .. } => "api",
        }
    }

    /// The run, request or user it names.
    pub fn id(&self) -> &str {
        match self {
            Cause::Sweep { run } => run,
            Cause::Credentials { request } => request,
            Cause::Callback { user } | Cause::Api { user } => user.as_str(),
        }
    }

    pub fn from_parts(kind: &str, id: &str) -> Option<Self> {
        Some(match kind {
            "sweep" => Cause::Sweep { run: id.to_owned() },
            "credentials" => Cause::Credentials {
                request: id.to_owned(),
            },
            "callback" => Cause::Callback {
                user: UserId::parse(id).ok()?,
            },
            "api" => Cause::Api {
                user: UserId::parse(id).ok()?,
            },
            _ => return None,
        })
    }
}

/// The state part of the token column, before or after.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StateAt {
    pub status: Status,
    pub reason: Option<Reason>,
}

impl StateAt {
    pub fn of(account: &Account, now: DateTime<Utc>) -> Self {
        Self {
            status: account.status(now),
            reason: account.broken.and_then(|b| b.reason),
        }
    }
}

/// One entry of an account's history.
#[derive(Debug, Clone, PartialEq)]
pub struct HistoryEntry {
    /// Sorts by time within the account; also the event's id (consumers deduplicate on it).
    pub id: String,
    pub team: TeamId,
    pub account: AccountId,
    pub provider: Provider,
    pub at: DateTime<Utc>,
    pub kind: HistoryKind,
    /// `None` for a new connection.
    pub before: Option<StateAt>,
    /// `None` once removed.
    pub after: Option<StateAt>,
    pub reconnect_by: Option<DateTime<Utc>>,
    /// The lead day, for `expiring`.
    pub days_left: Option<u32>,
    pub cause: Cause,
    /// The network's error code (and subcode), when a network answer caused it.
    pub provider_error: Option<String>,
}

impl HistoryEntry {
    /// A new id: the time to the millisecond, then random, so ids sort by time.
    pub fn new_id(at: DateTime<Utc>) -> String {
        format!(
            "{}-{}",
            at.format("%Y%m%dT%H%M%S%.3fZ"),
            &uuid::Uuid::new_v4().simple().to_string()[..12]
        )
    }

    /// The entry for `kind`, from the account as it was (`before`) to as it is now.
    pub fn of(
        kind: HistoryKind,
        before: Option<StateAt>,
        account: &Account,
        now: DateTime<Utc>,
        cause: &Cause,
    ) -> Self {
        Self {
            id: Self::new_id(now),
            team: account.team.clone(),
            account: account.id.clone(),
            provider: account.provider,
            at: now,
            kind,
            before,
            after: Some(StateAt::of(account, now)),
            reconnect_by: account.reconnect_by(),
            days_left: None,
            cause: cause.clone(),
            provider_error: None,
        }
    }

    /// The entry of a transition a domain method reported.
    pub fn of_transition(
        transition: Transition,
        before: StateAt,
        account: &Account,
        now: DateTime<Utc>,
        cause: &Cause,
    ) -> Self {
        Self::of(transition.into(), Some(before), account, now, cause)
    }

    /// The entry of a milestone the sweep reached (expiring at a lead day, expired).
    pub fn of_milestone(
        milestone: Milestone,
        before: StateAt,
        account: &Account,
        now: DateTime<Utc>,
        cause: &Cause,
    ) -> Option<Self> {
        let (kind, days) = match milestone {
            Milestone::Expiring { days } => (HistoryKind::Expiring, Some(days)),
            Milestone::Expired => (HistoryKind::Expired, None),
            // Disconnected and recovered are transitions of their own.
            Milestone::Disconnected | Milestone::Recovered => return None,
        };
        let mut entry = Self::of(kind, Some(before), account, now, cause);
        entry.days_left = days;
        Some(entry)
    }

    pub fn with_provider_error(mut self, code: Option<String>) -> Self {
        self.provider_error = code;
        self
    }

    /// When DynamoDB's TTL removes it.
    pub fn expires_at(&self) -> DateTime<Utc> {
        self.at + HISTORY_KEPT
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn ids_sort_by_time_and_kinds_round_trip() {
        let a = Utc.with_ymd_and_hms(2026, 11, 1, 3, 0, 0).unwrap();
        let b = a + Duration::milliseconds(1);
        assert!(HistoryEntry::new_id(a) < HistoryEntry::new_id(b));
        for kind in HistoryKind::ALL {
            assert_eq!(HistoryKind::parse(kind.as_str()), Some(kind));
            assert!(kind.detail_type().starts_with("Connection "));
        }
        let cause = Cause::Callback {
            user: UserId::parse("u1").unwrap(),
        };
        assert_eq!(Cause::from_parts(cause.type_str(), cause.id()), Some(cause));
    }
}
