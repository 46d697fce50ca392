//! Mail: the port digests and confirmations go out through, the SES v2 adapter, the
//! digest itself, the signed links in mails, and what SES tells us back (sends, bounces,
//! complaints).

pub mod confirmation;
mod dates;
pub mod digest;
pub mod feedback;
pub mod links;
pub mod names;
#[cfg(test)]
mod reading;
pub mod recipients;
mod ses;

use async_trait::async_trait;

pub use confirmation::{render_confirmation, Confirmation};
pub use digest::{reconnect_link, Branding, Digest, DigestEntry, Rendered};
pub use names::clean_name;
pub use ses::SesMailer;

use crate::domain::{EmailAddress, RecipientId, TeamId};

/// One message, with both a text and an HTML body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email {
    pub to: EmailAddress,
    pub subject: String,
    pub text: String,
    pub html: String,
    /// Extra headers (`List-Unsubscribe`, `List-Unsubscribe-Post`).
    pub headers: Vec<(String, String)>,
    /// What SES's events about this message must let us find again.
    pub tags: MailTags,
}

/// What a mail is, as SES message tags: SES repeats them in every event about the message
/// (send, bounce, complaint), which is how those events find their recipient and ledger
/// entries. Tag values may hold only letters, digits, `_` and `-`, so the team id is
/// carried base64url-encoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailTags {
    pub kind: MailKind,
    pub team: TeamId,
    pub recipient: RecipientId,
    /// The dispatch of a digest.
    pub dispatch: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MailKind {
    Digest,
    Confirmation,
}

pub const TAG_KIND: &str = "tw_kind";
pub const TAG_TEAM: &str = "tw_team";
pub const TAG_RECIPIENT: &str = "tw_recipient";
pub const TAG_DISPATCH: &str = "tw_dispatch";

/// The header naming a digest's dispatch, for whoever traces a mail back (support, tests):
/// a random id that says nothing about the team or the recipient.
pub const DISPATCH_HEADER: &str = "X-Tokenwarden-Dispatch";

impl MailTags {
    /// As (name, value) pairs for SES.
    pub fn pairs(&self) -> Vec<(&'static str, String)> {
        use base64::engine::general_purpose::URL_SAFE_NO_PAD;
        use base64::Engine;
        let kind = match self.kind {
            MailKind::Digest => "digest",
            MailKind::Confirmation => "confirmation",
        };
        let mut pairs = vec![
            (TAG_KIND, kind.to_owned()),
            (TAG_TEAM, URL_SAFE_NO_PAD.encode(self.team.as_str())),
            (TAG_RECIPIENT, self.recipient.to_string()),
        ];
        if let Some(d) = &self.dispatch {
            pairs.push((TAG_DISPATCH, d.clone()));
        }
        pairs
    }

    /// Reads the tags back from an SES event (`mail.tags`: each name with a list of values).
    pub fn from_event(tags: &std::collections::HashMap<String, Vec<String>>) -> Option<Self> {
        use base64::engine::general_purpose::URL_SAFE_NO_PAD;
        use base64::Engine;
        let one = |name: &str| tags.get(name).and_then(|v| v.first()).map(String::as_str);
        let kind = match one(TAG_KIND)? {
            "digest" => MailKind::Digest,
            "confirmation" => MailKind::Confirmation,
            _ => return None,
        };
        let team = URL_SAFE_NO_PAD.decode(one(TAG_TEAM)?).ok()?;
        let team = TeamId::parse(std::str::from_utf8(&team).ok()?).ok()?;
        Some(Self {
            kind,
            team,
            recipient: RecipientId::parse(one(TAG_RECIPIENT)?)?,
            dispatch: one(TAG_DISPATCH)
                .filter(|d| !d.is_empty() && d.chars().all(|c| c.is_ascii_hexdigit()))
                .map(str::to_owned),
        })
    }
}

/// Why a send failed, by what the sender should do next.
#[derive(Debug, thiserror::Error)]
pub enum MailError {
    /// Over the sending rate (SES `TooManyRequestsException`, HTTP 429): slow down and
    /// leave the rest for later.
    #[error("the mail service is throttling sends")]
    Throttled,
    /// This message will never be accepted (`MessageRejected`, a bad address): record it,
    /// do not retry.
    #[error("the mail service rejected the message: {0}")]
    Rejected(String),
    /// The account cannot send at all (sending paused, account suspended, identity not
    /// verified): stop the mail phase and raise an alarm.
    #[error("the mail account cannot send: {0}")]
    SendingStopped(String),
    /// A network fault or a 5xx: try again later.
    #[error("sending failed")]
    Transient(#[source] Box<dyn std::error::Error + Send + Sync>),
}

#[async_trait]
pub trait Mailer: Send + Sync {
    /// Sends one message; returns the service's message id.
    async fn send(&self, email: &Email) -> Result<String, MailError>;
}
