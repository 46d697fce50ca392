//! Secrets as values: a token, an authorization code, a PKCE verifier or a client secret in
//! memory ([`Secret`], `secrecy`'s redacting string: Debug prints a redaction, the text is
//! wiped on drop, only [`ExposeSecret::expose_secret`] gives it), and a sealed envelope as
//! stored ([`SealedToken`]). Sealing and opening are `crate::seal`'s.

use std::fmt;

pub use secrecy::ExposeSecret;

/// A secret string (`secrecy::SecretString`).
pub type Secret = secrecy::SecretString;

/// The version tag every envelope starts with (`tw1.<key id>.<nonce>.<ciphertext>`).
pub(crate) const ENVELOPE_VERSION: &str = "tw1";

/// A sealed token as stored. Its Debug names only the key id.
#[derive(Clone, PartialEq, Eq)]
pub struct SealedToken(String);

impl SealedToken {
    /// Wraps an envelope read from storage; it is checked when opened.
    pub fn from_stored(envelope: String) -> Self {
        Self(envelope)
    }

    pub fn as_stored(&self) -> &str {
        &self.0
    }

    pub fn key_id(&self) -> Option<&str> {
        let mut parts = self.0.split('.');
        (parts.next() == Some(ENVELOPE_VERSION))
            .then(|| parts.next())
            .flatten()
    }
}

impl fmt::Debug for SealedToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SealedToken(key={})", self.key_id().unwrap_or("?"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_prints_as_a_redaction_and_a_sealed_token_by_its_key_only() {
        let secret = Secret::from("canary-secret-4411");
        assert!(!format!("{secret:?}").contains("canary"));
        assert_eq!(secret.expose_secret(), "canary-secret-4411");
        let sealed = SealedToken::from_stored("tw1.k7.bm9uY2U.Y2FuYXJ5".into());
        assert_eq!(format!("{sealed:?}"), "SealedToken(key=k7)");
        assert_eq!(SealedToken::from_stored("other".into()).key_id(), None);
    }
}
