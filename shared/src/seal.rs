//! Tokens at rest: AES-256-GCM envelopes bound to their row.
//!
//! An envelope is `tw1.{key id}.{nonce}.{ciphertext+tag}` (base64url, no padding). The
//! associated data names the team, provider, account and slot (access or refresh), so a
//! ciphertext copied to another row, or from the refresh slot to the access slot, fails
//! to open. Keys come from one Secrets Manager secret holding several keys and the id of
//! the active one: old envelopes open after a rotation, new ones use the new key.

use std::collections::BTreeMap;
use std::fmt;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use rand::RngCore;
use serde::Deserialize;

use crate::domain::secret::ENVELOPE_VERSION;
use crate::domain::{AccountId, ExposeSecret, Provider, SealedToken, Secret, TeamId};

/// Which token of the pair an envelope holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenSlot {
    Access,
    Refresh,
}

/// The row an envelope belongs to.
#[derive(Debug, Clone, Copy)]
pub struct Binding<'a> {
    pub team: &'a TeamId,
    pub provider: Provider,
    pub account: &'a AccountId,
}

impl Binding<'_> {
    fn associated_data(&self, slot: TokenSlot) -> Vec<u8> {
        let slot = match slot {
            TokenSlot::Access => "access",
            TokenSlot::Refresh => "refresh",
        };
        // Ids cannot contain '\n' (see ids.rs), so the fields cannot run into each other.
        format!(
            "tokenwarden/{VERSION}\n{}\n{}\n{}\n{slot}",
            self.team, self.provider, self.account
        )
        .into_bytes()
    }
}

/// The key id of envelopes sealed under a state (see [`seal_for_state`]).
const STATE_KEY_ID: &str = "state";

fn state_cipher(state: &str) -> Option<Aes256Gcm> {
    use sha2::{Digest, Sha256};
    let key = Sha256::new()
        .chain_update(b"tokenwarden/pkce-verifier\n")
        .chain_update(state.as_bytes())
        .finalize();
    Aes256Gcm::new_from_slice(&key).ok()
}

/// Seals a PKCE verifier under a key derived from its OAuth state's raw value. The table
/// keeps only the state's hash, so reading the table opens no verifier: only the browser
/// that brings the state back (to the callback) can. Needs no keyring, so `oauth-start`
/// reads no secret for it.
pub fn seal_for_state(value: &Secret, state: &str) -> Option<SealedToken> {
    let cipher = state_cipher(state)?;
    let mut nonce = [0u8; NONCE_LEN];
    rand::rngs::OsRng.fill_bytes(&mut nonce);
    let ct = cipher
        .encrypt(Nonce::from_slice(&nonce), value.expose_secret().as_bytes())
        .ok()?;
    Some(SealedToken::from_stored(format!(
        "{VERSION}.{STATE_KEY_ID}.{}.{}",
        URL_SAFE_NO_PAD.encode(nonce),
        URL_SAFE_NO_PAD.encode(ct)
    )))
}

/// Opens what [`seal_for_state`] sealed under `state`.
pub fn open_for_state(sealed: &SealedToken, state: &str) -> Result<Secret, SealError> {
    let mut parts = sealed.as_stored().split('.');
    let (Some(VERSION), Some(STATE_KEY_ID), Some(nonce), Some(ct), None) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return Err(SealError::Malformed);
    };
    let nonce = URL_SAFE_NO_PAD
        .decode(nonce)
        .ok()
        .filter(|n| n.len() == NONCE_LEN)
        .ok_or(SealError::Malformed)?;
    let ct = URL_SAFE_NO_PAD
        .decode(ct)
        .map_err(|_| SealError::Malformed)?;
    let cipher = state_cipher(state).ok_or(SealError::Open)?;
    let plain = cipher
        .decrypt(Nonce::from_slice(&nonce), ct.as_slice())
        .map_err(|_| SealError::Open)?;
    String::from_utf8(plain)
        .map(Secret::from)
        .map_err(|_| SealError::Open)
}

/// How every envelope sealed with `key_id` begins (`tw1.{key_id}.`).
pub fn envelope_prefix(key_id: &str) -> String {
    format!("{VERSION}.{key_id}.")
}

/// The associated data of an in-flight OAuth value: distinct from every account token's
/// (which starts with the team), so neither opens as the other.
fn in_flight_data(item_key: &str) -> Vec<u8> {
    format!("tokenwarden/{VERSION}/oauth\n{item_key}").into_bytes()
}

#[derive(Debug, thiserror::Error)]
pub enum SealError {
    /// Where the secret's JSON is wrong (a path and a position, never a value).
    #[error("the sealing key secret is not JSON of the form {{\"active\":\"id\",\"keys\":{{\"id\":\"base64 of 32 bytes\"}}}}: {0}")]
    KeyringFormat(String),
    #[error("sealing key '{0}' is not 32 bytes of standard base64")]
    KeyMaterial(String),
    #[error("the active sealing key '{0}' is not among the keys")]
    NoActiveKey(String),
    #[error("sealed token is malformed")]
    Malformed,
    #[error("sealed token uses key '{0}', which the keyring does not hold")]
    UnknownKey(String),
    #[error("sealed token does not open for this account (wrong row, slot or key)")]
    Open,
}

const VERSION: &str = ENVELOPE_VERSION;
const NONCE_LEN: usize = 12;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyringJson {
    active: String,
    keys: BTreeMap<String, String>,
}

/// The sealing keys, one of them active. Built once per cold start from the secret.
pub struct Keyring {
    active: String,
    keys: BTreeMap<String, Aes256Gcm>,
}

impl fmt::Debug for Keyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Keyring")
            .field("active", &self.active)
            .field("key_ids", &self.keys.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl Keyring {
    /// Parses `{"active":"2026-11","keys":{"2026-05":"<base64>","2026-11":"<base64>"}}`.
    pub fn from_secret(secret: &Secret) -> Result<Self, SealError> {
        let json: KeyringJson =
            crate::secrets::parse_json(secret).map_err(SealError::KeyringFormat)?;
        let mut keys = BTreeMap::new();
        for (id, material) in &json.keys {
            if id.is_empty() || id.contains('.') {
                return Err(SealError::KeyMaterial(id.clone()));
            }
            let bytes = STANDARD
                .decode(material)
                .map_err(|_| SealError::KeyMaterial(id.clone()))?;
            let cipher = Aes256Gcm::new_from_slice(&bytes)
                .map_err(|_| SealError::KeyMaterial(id.clone()))?;
            keys.insert(id.clone(), cipher);
        }
        if !keys.contains_key(&json.active) {
            return Err(SealError::NoActiveKey(json.active));
        }
        Ok(Self {
            active: json.active,
            keys,
        })
    }

    /// A keyring secret with one fresh random key, for a new deployment or a test.
    pub fn generate_secret(key_id: &str) -> Secret {
        let mut key = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut key);
        Secret::from(
            serde_json::json!({"active": key_id, "keys": {key_id: STANDARD.encode(key)}})
                .to_string(),
        )
    }

    pub fn active_key_id(&self) -> &str {
        &self.active
    }

    pub fn seal(&self, token: &Secret, binding: Binding<'_>, slot: TokenSlot) -> SealedToken {
        self.seal_with(token, &binding.associated_data(slot))
    }

    /// Seals a value of an authorization in flight (an authorization code waiting for its
    /// completion, a PKCE verifier), bound to the key of the item that holds it.
    pub fn seal_in_flight(&self, value: &Secret, item_key: &str) -> SealedToken {
        self.seal_with(value, &in_flight_data(item_key))
    }

    /// Opens what [`Keyring::seal_in_flight`] sealed for `item_key`.
    pub fn open_in_flight(
        &self,
        sealed: &SealedToken,
        item_key: &str,
    ) -> Result<Secret, SealError> {
        self.open_with(sealed, &in_flight_data(item_key))
    }

    // AES-GCM refuses only messages over 64 GiB; the active key is one of the keys by
    // construction (`from_secret` checks it).
    #[allow(clippy::expect_used)]
    fn seal_with(&self, token: &Secret, aad: &[u8]) -> SealedToken {
        let cipher = &self.keys[&self.active];
        let mut nonce = [0u8; NONCE_LEN];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let ciphertext = cipher
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: token.expose_secret().as_bytes(),
                    aad,
                },
            )
            .expect("AES-GCM encryption of an in-memory buffer cannot fail");
        SealedToken::from_stored(format!(
            "{VERSION}.{}.{}.{}",
            self.active,
            URL_SAFE_NO_PAD.encode(nonce),
            URL_SAFE_NO_PAD.encode(ciphertext)
        ))
    }

    pub fn open(
        &self,
        sealed: &SealedToken,
        binding: Binding<'_>,
        slot: TokenSlot,
    ) -> Result<Secret, SealError> {
        self.open_with(sealed, &binding.associated_data(slot))
    }

    fn open_with(&self, sealed: &SealedToken, aad: &[u8]) -> Result<Secret, SealError> {
        let mut parts = sealed.as_stored().split('.');
        let (Some(VERSION), Some(kid), Some(nonce), Some(ct), None) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            return Err(SealError::Malformed);
        };
        let cipher = self
            .keys
            .get(kid)
            .ok_or_else(|| SealError::UnknownKey(kid.to_owned()))?;
        let nonce = URL_SAFE_NO_PAD
            .decode(nonce)
            .ok()
            .filter(|n| n.len() == NONCE_LEN)
            .ok_or(SealError::Malformed)?;
        let ct = URL_SAFE_NO_PAD
            .decode(ct)
            .map_err(|_| SealError::Malformed)?;
        let plain = cipher
            .decrypt(Nonce::from_slice(&nonce), Payload { msg: &ct, aad })
            .map_err(|_| SealError::Open)?;
        String::from_utf8(plain)
            .map(Secret::from)
            .map_err(|_| SealError::Open)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids() -> (TeamId, AccountId, AccountId) {
        (
            TeamId::parse("team-a").unwrap(),
            AccountId::parse("acc-1").unwrap(),
            AccountId::parse("acc-2").unwrap(),
        )
    }

    #[test]
    fn sealed_token_opens_only_on_its_own_row_and_slot() {
        let ring = Keyring::from_secret(&Keyring::generate_secret("k1")).unwrap();
        let (team, a1, a2) = ids();
        let here = Binding {
            team: &team,
            provider: Provider::X,
            account: &a1,
        };
        let token = Secret::from("canary-access-token-0001");
        let sealed = ring.seal(&token, here, TokenSlot::Access);
        assert!(!sealed.as_stored().contains("canary"));
        assert_eq!(
            ring.open(&sealed, here, TokenSlot::Access)
                .unwrap()
                .expose_secret(),
            token.expose_secret()
        );

        let elsewhere = Binding {
            team: &team,
            provider: Provider::X,
            account: &a2,
        };
        assert!(matches!(
            ring.open(&sealed, elsewhere, TokenSlot::Access),
            Err(SealError::Open)
        ));
        assert!(matches!(
            ring.open(&sealed, here, TokenSlot::Refresh),
            Err(SealError::Open)
        ));
        let other_provider = Binding {
            team: &team,
            provider: Provider::Tiktok,
            account: &a1,
        };
        assert!(ring
            .open(&sealed, other_provider, TokenSlot::Access)
            .is_err());
        let other_team = TeamId::parse("team-b").unwrap();
        let other_team = Binding {
            team: &other_team,
            provider: Provider::X,
            account: &a1,
        };
        assert!(ring.open(&sealed, other_team, TokenSlot::Access).is_err());
    }

    #[test]
    fn rotation_opens_old_envelopes_and_seals_with_the_new_key() {
        let (team, a1, _) = ids();
        let b = Binding {
            team: &team,
            provider: Provider::Google,
            account: &a1,
        };
        let old_secret = Keyring::generate_secret("2026-05");
        let old = Keyring::from_secret(&old_secret).unwrap();
        let sealed_old = old.seal(&Secret::from("t-old"), b, TokenSlot::Refresh);

        let mut json: serde_json::Value = serde_json::from_str(old_secret.expose_secret()).unwrap();
        json["keys"]["2026-11"] = serde_json::Value::String(STANDARD.encode([7u8; 32]));
        json["active"] = "2026-11".into();
        let rotated = Keyring::from_secret(&Secret::from(json.to_string())).unwrap();

        assert_eq!(
            rotated
                .open(&sealed_old, b, TokenSlot::Refresh)
                .unwrap()
                .expose_secret(),
            "t-old"
        );
        let sealed_new = rotated.seal(&Secret::from("t-new"), b, TokenSlot::Refresh);
        assert_eq!(sealed_new.key_id(), Some("2026-11"));
        assert!(matches!(
            old.open(&sealed_new, b, TokenSlot::Refresh),
            Err(SealError::UnknownKey(k)) if k == "2026-11"
        ));
    }

    #[test]
    fn debug_and_display_never_show_token_text() {
        let ring = Keyring::from_secret(&Keyring::generate_secret("k1")).unwrap();
        let (team, a1, _) = ids();
        let b = Binding {
            team: &team,
            provider: Provider::X,
            account: &a1,
        };
        let token = Secret::from("canary-token-9f8e7d");
        let sealed = ring.seal(&token, b, TokenSlot::Access);
        for shown in [
            format!("{token:?}"),
            format!("{sealed:?}"),
            format!("{ring:?}"),
            format!("{:?}", ring.open(&sealed, b, TokenSlot::Access)),
        ] {
            assert!(!shown.contains("canary"), "{shown}");
        }
    }

    #[test]
    fn bad_keyrings_and_envelopes_are_refused() {
        for bad in [
            "not json",
            r#"{"active":"k","keys":{}}"#,
            r#"{"active":"k","keys":{"k":"c2hvcnQ="}}"#,
            r#"{"active":"k","keys":{"k":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="},"extra":1}"#,
        ] {
            assert!(Keyring::from_secret(&Secret::from(bad)).is_err(), "{bad}");
        }
        let ring = Keyring::from_secret(&Keyring::generate_secret("k1")).unwrap();
        let (team, a1, _) = ids();
        let b = Binding {
            team: &team,
            provider: Provider::X,
            account: &a1,
        };
        for bad in [
            "",
            "tw1.k1",
            "tw1.k1.AAAA.AAAA",
            "tw0.k1.AAAAAAAAAAAAAAAA.AAAA",
            "tw1.k1.!!.AA.x",
        ] {
            assert!(ring
                .open(&SealedToken::from_stored(bad.into()), b, TokenSlot::Access)
                .is_err());
        }
    }
}
