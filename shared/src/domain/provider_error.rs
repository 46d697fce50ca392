//! What a provider's answer means for a connection, as the domain sees it. Reading a
//! network's answer into a [`Verdict`] is the network module's job (`providers::classify`).

use super::account::{Reason, Status};

/// A provider's answer to a token or API call that did not succeed.
#[derive(Debug, Clone, Copy)]
pub enum ProviderReply<'a> {
    /// An HTTP answer with its status and body.
    Http { status: u16, body: &'a [u8] },
    /// No answer in time.
    Timeout,
    /// The connection failed (DNS, reset, TLS).
    Network,
}

/// What to do with the account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The connection is dead until a person reconnects.
    Broken { status: Status, reason: Reason },
    /// Says nothing about the token: try again later; count it, never break on it.
    Transient,
    /// The app (not the user) is over a network limit: nothing for the user to do.
    AppLimit,
    /// An error we do not recognise: never break on it, count it like a transient one.
    Unrecognised,
}

impl Verdict {
    pub fn revoked(reason: Reason) -> Self {
        Verdict::Broken {
            status: Status::Revoked,
            reason,
        }
    }
}
