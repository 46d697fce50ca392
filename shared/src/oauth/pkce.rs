//! Random values of the OAuth flow: the `state`, and the PKCE verifier (RFC 7636) made by
//! the `oauth2` crate (the network module derives its S256 challenge).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::RngCore;

use crate::domain::Secret;

/// 256 random bits from the OS, base64url without padding (43 characters, the shortest
/// verifier RFC 7636 allows, and as a `state` not guessable).
pub fn random_token() -> Secret {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    let token = Secret::from(URL_SAFE_NO_PAD.encode(bytes));
    bytes.fill(0);
    token
}

/// A fresh PKCE code verifier (32 random bytes, base64url: 43 characters).
pub fn code_verifier() -> Secret {
    let (_, verifier) = oauth2::PkceCodeChallenge::new_random_sha256();
    Secret::from(verifier.into_secret())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ExposeSecret;

    #[test]
    fn tokens_and_verifiers_are_43_url_safe_characters_and_differ() {
        for (a, b) in [
            (random_token(), random_token()),
            (code_verifier(), code_verifier()),
        ] {
            assert_eq!(a.expose_secret().len(), 43);
            assert!(a
                .expose_secret()
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'));
            assert_ne!(a.expose_secret(), b.expose_secret());
        }
    }
}
