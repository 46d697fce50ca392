//! The signed links in mails: confirm an invitation, unsubscribe. A link's token is the
//! claims and their HMAC (SHA-256) made by KMS (`GenerateMac`), so the key never leaves
//! KMS; opening one asks KMS to check it (`VerifyMac`). A confirm link expires and carries
//! the invitation's nonce (the store makes it single-use); an unsubscribe link names only
//! the team and the recipient and never expires (RFC 8058 asks that it keep working).

use async_trait::async_trait;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, Utc};

use crate::domain::{RecipientId, TeamId};

/// What a link does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkPurpose {
    Confirm,
    Unsubscribe,
}

impl LinkPurpose {
    fn as_str(self) -> &'static str {
        match self {
            LinkPurpose::Confirm => "confirm",
            LinkPurpose::Unsubscribe => "unsubscribe",
        }
    }
}

/// What a link's token says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkClaims {
    pub purpose: LinkPurpose,
    pub team: TeamId,
    pub recipient: RecipientId,
    /// The invitation's nonce (confirm links).
    pub nonce: Option<String>,
    /// When the link stops working (confirm links).
    pub expires_at: Option<DateTime<Utc>>,
}

impl LinkClaims {
    /// The signed text: a version, then one field per line (ids hold no line breaks).
    fn message(&self) -> String {
        format!(
            "v1\n{}\n{}\n{}\n{}\n{}",
            self.purpose.as_str(),
            self.team,
            self.recipient,
            self.nonce.as_deref().unwrap_or(""),
            self.expires_at.map(|t| t.timestamp()).unwrap_or(0)
        )
    }

    fn parse(message: &str) -> Option<Self> {
        let mut parts = message.split('\n');
        if parts.next()? != "v1" {
            return None;
        }
        let purpose = match parts.next()? {
            "confirm" => LinkPurpose::Confirm,
            "unsubscribe" => LinkPurpose::Unsubscribe,
            _ => return None,
        };
        let team = TeamId::parse(parts.next()?).ok()?;
        let recipient = RecipientId::parse(parts.next()?)?;
        let nonce = Some(parts.next()?.to_owned()).filter(|n| !n.is_empty());
        let expires_at = match parts.next()?.parse::<i64>().ok()? {
            0 => None,
            secs => Some(DateTime::from_timestamp(secs, 0)?),
        };
        if parts.next().is_some() {
            return None;
        }
        Some(Self {
            purpose,
            team,
            recipient,
            nonce,
            expires_at,
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    /// Not a token of ours at all (shape): a 400.
    #[error("the link is malformed")]
    Malformed,
    /// Well formed but not signed by us, for another purpose, or expired: a 404 that says
    /// no more than that.
    #[error("the link is not valid or has expired")]
    Invalid,
    #[error("the signing service failed")]
    Backend(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// Makes and checks MACs with a key held elsewhere.
#[async_trait]
pub trait LinkSigner: Send + Sync {
    async fn mac(&self, message: &[u8]) -> Result<Vec<u8>, LinkError>;
    /// `false` when the MAC is not the key's for the message.
    async fn verify(&self, message: &[u8], mac: &[u8]) -> Result<bool, LinkError>;
}

/// The longest token accepted (a team id of 128 characters makes about 330).
const MAX_TOKEN: usize = 600;

/// The token for `claims`: the claims and the MAC, each base64url without padding.
pub async fn mint(signer: &dyn LinkSigner, claims: &LinkClaims) -> Result<String, LinkError> {
    let message = claims.message();
    let mac = signer.mac(message.as_bytes()).await?;
    Ok(format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(message.as_bytes()),
        URL_SAFE_NO_PAD.encode(mac)
    ))
}

/// Opens a token for `purpose`: checked by the signer, not expired at `now`.
pub async fn open(
    signer: &dyn LinkSigner,
    token: &str,
    purpose: LinkPurpose,
    now: DateTime<Utc>,
) -> Result<LinkClaims, LinkError> {
    if token.len() > MAX_TOKEN {
        return Err(LinkError::Malformed);
    }
    let (message, mac) = token.split_once('.').ok_or(LinkError::Malformed)?;
    let message = URL_SAFE_NO_PAD
        .decode(message)
        .map_err(|_| LinkError::Malformed)?;
    let mac = URL_SAFE_NO_PAD
        .decode(mac)
        .map_err(|_| LinkError::Malformed)?;
    if mac.is_empty() || mac.len() > 64 {
        return Err(LinkError::Malformed);
    }
    let text = std::str::from_utf8(&message).map_err(|_| LinkError::Malformed)?;
    let claims = LinkClaims::parse(text).ok_or(LinkError::Malformed)?;
    if !signer.verify(&message, &mac).await? {
        return Err(LinkError::Invalid);
    }
    if claims.purpose != purpose || claims.expires_at.is_some_and(|t| t <= now) {
        return Err(LinkError::Invalid);
    }
    Ok(claims)
}

/// AWS KMS with an HMAC key (`HMAC_256`, key usage `GENERATE_VERIFY_MAC`). Reaches a local
/// stand-in through `AWS_ENDPOINT_URL_KMS`.
#[derive(Debug, Clone)]
pub struct KmsLinkSigner {
    client: aws_sdk_kms::Client,
    key_id: String,
}

impl KmsLinkSigner {
    pub fn new(client: aws_sdk_kms::Client, key_id: impl Into<String>) -> Self {
        Self {
            client,
            key_id: key_id.into(),
        }
    }
}

#[async_trait]
impl LinkSigner for KmsLinkSigner {
    async fn mac(&self, message: &[u8]) -> Result<Vec<u8>, LinkError> {
        let out = self
            .client
            .generate_mac()
            .key_id(&self.key_id)
            .mac_algorithm(aws_sdk_kms::types::MacAlgorithmSpec::HmacSha256)
            .message(aws_sdk_kms::primitives::Blob::new(message))
            .send()
            .await
            .map_err(|e| LinkError::Backend(Box::new(e.into_service_error())))?;
        out.mac
            .map(|b| b.into_inner())
            .ok_or_else(|| LinkError::Backend("KMS answered without a MAC".into()))
    }

    async fn verify(&self, message: &[u8], mac: &[u8]) -> Result<bool, LinkError> {
        use aws_sdk_kms::operation::verify_mac::VerifyMacError;
        match self
            .client
            .verify_mac()
            .key_id(&self.key_id)
            .mac_algorithm(aws_sdk_kms::types::MacAlgorithmSpec::HmacSha256)
            .message(aws_sdk_kms::primitives::Blob::new(message))
            .mac(aws_sdk_kms::primitives::Blob::new(mac))
            .send()
            .await
        {
            Ok(out) => Ok(out.mac_valid),
            Err(e) => match e.into_service_error() {
                VerifyMacError::KmsInvalidMacException(_) => Ok(false),
                other => Err(LinkError::Backend(Box::new(other))),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    /// A signer for the shape tests: the MAC is the message reversed.
    struct Mirror;

    #[async_trait]
    impl LinkSigner for Mirror {
        async fn mac(&self, message: &[u8]) -> Result<Vec<u8>, LinkError> {
            Ok(message.iter().rev().copied().collect())
        }
        async fn verify(&self, message: &[u8], mac: &[u8]) -> Result<bool, LinkError> {
            Ok(self.mac(message).await? == mac)
        }
    }

    fn claims() -> LinkClaims {
        LinkClaims {
            purpose: LinkPurpose::Confirm,
            team: TeamId::parse("team:a|b@c").unwrap(),
            recipient: RecipientId::parse("r0123456789abcdef0123").unwrap(),
            nonce: Some("n1".into()),
            expires_at: Some(Utc.with_ymd_and_hms(2026, 12, 4, 0, 0, 0).unwrap()),
        }
    }

    #[tokio::test]
    async fn a_token_opens_for_its_purpose_until_it_expires_and_never_when_changed() {
        let now = Utc.with_ymd_and_hms(2026, 12, 1, 0, 0, 0).unwrap();
        let token = mint(&Mirror, &claims()).await.unwrap();
        assert!(token
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)));
        assert_eq!(
            open(&Mirror, &token, LinkPurpose::Confirm, now)
                .await
                .unwrap(),
            claims()
        );
        assert!(matches!(
            open(&Mirror, &token, LinkPurpose::Unsubscribe, now).await,
            Err(LinkError::Invalid)
        ));
        let later = Utc.with_ymd_and_hms(2026, 12, 4, 0, 0, 0).unwrap();
        assert!(matches!(
            open(&Mirror, &token, LinkPurpose::Confirm, later).await,
            Err(LinkError::Invalid)
        ));
        // Another team in the claims, the old MAC: refused.
        let (_, mac) = token.split_once('.').unwrap();
        let forged = LinkClaims {
            team: TeamId::parse("other").unwrap(),
            ..claims()
        };
        let forged = format!(
            "{}.{mac}",
            URL_SAFE_NO_PAD.encode(forged.message().as_bytes())
        );
        assert!(matches!(
            open(&Mirror, &forged, LinkPurpose::Confirm, now).await,
            Err(LinkError::Invalid)
        ));
        for junk in ["", "abc", "a.b.c", "!!.!!", &"x".repeat(700)] {
            assert!(
                matches!(
                    open(&Mirror, junk, LinkPurpose::Confirm, now).await,
                    Err(LinkError::Malformed)
                ),
                "{junk}"
            );
        }
    }
}
