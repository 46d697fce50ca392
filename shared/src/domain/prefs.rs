//! A team's notification preferences: who is warned, how early, about what, and in whose
//! words and time zone.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::ids::{EmailAddress, TeamId, UserId};

/// A recipient's id within a team: derived from the address (lower-cased), so the same
/// address is one recipient however it was added, and a link naming it stays valid after
/// the list changes.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct RecipientId(String);

impl RecipientId {
    /// `r` and the first 20 hex digits of the address's SHA-256.
    pub fn of(email: &EmailAddress) -> Self {
        let digest = Sha256::digest(email.as_str().to_ascii_lowercase().as_bytes());
        let hex: String = digest.iter().take(10).map(|b| format!("{b:02x}")).collect();
        Self(format!("r{hex}"))
    }

    pub fn parse(raw: &str) -> Option<Self> {
        (raw.len() == 21
            && raw.starts_with('r')
            && raw[1..].chars().all(|c| matches!(c, '0'..='9' | 'a'..='f')))
        .then(|| Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for RecipientId {
    type Error = String;
    fn try_from(raw: String) -> Result<Self, Self::Error> {
        Self::parse(&raw).ok_or_else(|| "not a recipient id".to_owned())
    }
}

impl From<RecipientId> for String {
    fn from(id: RecipientId) -> Self {
        id.0
    }
}

impl std::fmt::Display for RecipientId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Where a recipient stands. Only `Active` ones get digests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecipientState {
    /// Added by someone else; waits for the owner of the address to confirm.
    Pending,
    Active,
    /// Used the unsubscribe link: only the person can join again (by adding themself).
    Unsubscribed,
    /// A hard bounce came back: the address does not take mail.
    Bounced,
    /// The person marked a mail as spam.
    Complained,
}

impl RecipientState {
    pub fn as_str(self) -> &'static str {
        match self {
            RecipientState::Pending => "pending",
            RecipientState::Active => "active",
            RecipientState::Unsubscribed => "unsubscribed",
            RecipientState::Bounced => "bounced",
            RecipientState::Complained => "complained",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        [
            RecipientState::Pending,
            RecipientState::Active,
            RecipientState::Unsubscribed,
            RecipientState::Bounced,
            RecipientState::Complained,
        ]
        .into_iter()
        .find(|s| s.as_str() == raw)
    }

    /// Whether the address's owner said no (or its server did): kept on the list so that
    /// nobody else can mail it again; only the person can join again.
    pub fn refused(self) -> bool {
        matches!(
            self,
            RecipientState::Unsubscribed | RecipientState::Bounced | RecipientState::Complained
        )
    }
}

/// The open invitation of a pending recipient: the confirm link carries `nonce`, and a
/// confirmation consumes it (a link works once).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invitation {
    pub nonce: String,
    pub expires_at: DateTime<Utc>,
}

/// A person who receives the team's digests (once active).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recipient {
    pub team: TeamId,
    pub id: RecipientId,
    pub email: EmailAddress,
    pub name: String,
    pub state: RecipientState,
    /// The team member this address belongs to, when they added themself.
    pub user_id: Option<UserId>,
    pub added_by: UserId,
    pub added_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub invitation: Option<Invitation>,
}

impl Recipient {
    /// A team member's own address, added by themself: active at once.
    pub fn own(
        team: TeamId,
        user: UserId,
        email: EmailAddress,
        name: impl Into<String>,
        now: DateTime<Utc>,
    ) -> Self {
        Self {
            team,
            id: RecipientId::of(&email),
            email,
            name: name.into(),
            state: RecipientState::Active,
            user_id: Some(user.clone()),
            added_by: user,
            added_at: now,
            updated_at: now,
            invitation: None,
        }
    }

    pub fn active(&self) -> bool {
        self.state == RecipientState::Active
    }
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
    /// Every recipient of the team in any state, as read (written through their own
    /// operations, not with the preferences).
    pub recipients: Vec<Recipient>,
    /// How the mails name the team; the team id when never set.
    pub team_name: Option<String>,
    /// The team's time zone, for the dates and days left in its mails.
    pub time_zone: chrono_tz::Tz,
    /// Sorted descending, without duplicates.
    pub lead_days: Vec<u32>,
    pub events: MailEvents,
    pub enabled: bool,
    /// 0 until first saved; every save is conditioned on it.
    pub version: u64,
}

impl NotificationPrefs {
    /// What a team gets before it saves anything: warnings 14, 7, 3 and 1 days ahead,
    /// every event, UTC, nobody to mail yet.
    pub fn defaults(team: TeamId) -> Self {
        Self {
            team,
            recipients: Vec::new(),
            team_name: None,
            time_zone: chrono_tz::UTC,
            lead_days: vec![14, 7, 3, 1],
            events: MailEvents::default(),
            enabled: true,
            version: 0,
        }
    }

    /// The recipients who get digests.
    pub fn active_recipients(&self) -> impl Iterator<Item = &Recipient> {
        self.recipients.iter().filter(|r| r.active())
    }

    /// The team's name as mails show it.
    pub fn display_team_name(&self) -> &str {
        self.team_name.as_deref().unwrap_or(self.team.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_recipient_id_is_the_same_for_any_case_of_the_address_and_parses_back() {
        let a = RecipientId::of(&EmailAddress::parse("Ana@Example.com").unwrap());
        let b = RecipientId::of(&EmailAddress::parse("ana@example.COM").unwrap());
        assert_eq!(a, b);
        assert_eq!(RecipientId::parse(a.as_str()), Some(a.clone()));
        assert_ne!(
            a,
            RecipientId::of(&EmailAddress::parse("bo@example.com").unwrap())
        );
        assert_eq!(RecipientId::parse("r12"), None);
        assert_eq!(RecipientId::parse("x0123456789abcdef0123"), None);
    }
}
