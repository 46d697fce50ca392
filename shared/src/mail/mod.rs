//! Mail: the port the sweep sends digests through, the SES v2 adapter, and the digest itself.

pub mod digest;
mod ses;

use async_trait::async_trait;

pub use ses::SesMailer;

use crate::domain::EmailAddress;

/// One message, with both a text and an HTML body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email {
    pub to: EmailAddress,
    pub subject: String,
    pub text: String,
    pub html: String,
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
