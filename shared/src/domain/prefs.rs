//! A team's notification preferences: who is warned, how early, about what.

use serde::{Deserialize, Serialize};

use super::ids::{EmailAddress, TeamId, UserId};

/// A team member who receives the digest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Recipient {
    pub user_id: UserId,
    pub email: EmailAddress,
    pub name: String,
}

/// Which events send mail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct MailEvents {
    pub expiring: bool,
    pub expired: bool,
    pub disconnected: bool,
    pub recovered: bool,
}

impl Default for MailEvents {
    fn default() -> Self {
        Self {
            expiring: true,
            expired: true,
            disconnected: true,
            recovered: true,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotificationPrefs {
    pub team: TeamId,
    pub recipients: Vec<Recipient>,
    /// Sorted descending, without duplicates.
    pub lead_days: Vec<u32>,
    pub events: MailEvents,
    pub enabled: bool,
    /// 0 until first saved; every save is conditioned on it.
    pub version: u64,
}

impl NotificationPrefs {
    /// What a team gets before it saves anything: warnings 14, 7, 3 and 1 days ahead,
    /// every event, nobody to mail yet.
    pub fn defaults(team: TeamId) -> Self {
        Self {
            team,
            recipients: Vec::new(),
            lead_days: vec![14, 7, 3, 1],
            events: MailEvents::default(),
            enabled: true,
            version: 0,
        }
    }
}
