//! Turning a network's token grant into what an account stores: sealed tokens and
//! lifetimes read from the response, falling back to the catalogue only where it is silent.

use chrono::{DateTime, Duration, Utc};

use crate::domain::SealedToken;
use crate::domain::{Account, AccountId, Provider, Renewal, SealedTokens, TeamId, Transition};
use crate::providers::TokenGrant;
use crate::seal::{Binding, Keyring, TokenSlot};

/// Lifetimes a grant gives, as moments.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lifetimes {
    pub access_expires_at: Option<DateTime<Utc>>,
    pub refresh_expires_at: Option<DateTime<Utc>>,
}

/// Reads the grant's lifetimes. `previous_refresh_expiry` is the stored refresh expiry:
/// kept when the network sent no new refresh token, and kept on LinkedIn, whose refresh
/// token's clock runs from its first issue.
pub fn lifetimes(
    provider: Provider,
    grant: &TokenGrant,
    now: DateTime<Utc>,
    previous_refresh_expiry: Option<DateTime<Utc>>,
) -> Lifetimes {
    let spec = provider.spec();
    // The parser clamps what networks state; the checked sum keeps this total anyway.
    let after = |d: Duration| now.checked_add_signed(d);
    let access_expires_at = match grant.expires_in {
        Some(d) => after(d),
        None => spec.default_access_lifetime.and_then(after),
    };
    let fresh_refresh_expiry = || match grant.refresh_expires_in {
        Some(d) => after(d),
        None => spec.default_refresh_lifetime.and_then(after),
    };
    let refresh_expires_at = if grant.refresh_token.is_none() {
        previous_refresh_expiry
    } else if spec.refresh_expiry_fixed_at_first_issue && previous_refresh_expiry.is_some() {
        // LinkedIn reports the remaining time; the earlier of the two is the truth.
        match (
            previous_refresh_expiry,
            grant.refresh_expires_in.and_then(after),
        ) {
            (Some(p), Some(r)) => Some(p.min(r)),
            (p, _) => p,
        }
    } else {
        fresh_refresh_expiry()
    };
    Lifetimes {
        access_expires_at,
        refresh_expires_at,
    }
}

/// Seals a grant's tokens for the account's row. When the grant carries no refresh token,
/// `keep_refresh` (the stored one) is kept.
pub fn seal_grant(
    keyring: &Keyring,
    team: &TeamId,
    provider: Provider,
    account: &AccountId,
    grant: &TokenGrant,
    keep_refresh: Option<SealedToken>,
) -> SealedTokens {
    let binding = Binding {
        team,
        provider,
        account,
    };
    SealedTokens {
        access: keyring.seal(&grant.access_token, binding, TokenSlot::Access),
        refresh: match &grant.refresh_token {
            Some(r) => Some(keyring.seal(r, binding, TokenSlot::Refresh)),
            None => keep_refresh,
        },
    }
}

/// What `grant` renews `account` with: its tokens sealed for the account's row and the
/// lifetimes it states. Total: nothing here can fail on a network's answer, so a rotated
/// pair always reaches the store.
pub fn renewal(
    account: &Account,
    keyring: &Keyring,
    grant: &TokenGrant,
    now: DateTime<Utc>,
) -> Renewal {
    let l = lifetimes(account.provider, grant, now, account.refresh_expires_at);
    Renewal {
        tokens: seal_grant(
            keyring,
            &account.team,
            account.provider,
            &account.id,
            grant,
            account.tokens.refresh.clone(),
        ),
        access_expires_at: l.access_expires_at,
        refresh_expires_at: l.refresh_expires_at,
        scopes: grant.scopes.clone(),
        data_access_expires_at: None,
    }
}

/// Applies a refresh (or a reconnect's new grant) to an account in place through
/// [`Account::renewed`]: new sealed tokens, lifetimes, and a clean failure record.
pub fn apply_grant(
    account: &mut Account,
    keyring: &Keyring,
    grant: &TokenGrant,
    now: DateTime<Utc>,
) -> Option<Transition> {
    let renewal = renewal(account, keyring, grant, now);
    account.renewed(renewal, now)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Secret;
    use chrono::TimeZone;

    fn grant(refresh: bool, expires: Option<i64>, refresh_expires: Option<i64>) -> TokenGrant {
        TokenGrant {
            access_token: Secret::from("a"),
            refresh_token: refresh.then(|| Secret::from("r")),
            expires_in: expires.map(Duration::seconds),
            refresh_expires_in: refresh_expires.map(Duration::seconds),
            scopes: None,
            user_id: None,
        }
    }

    #[test]
    fn lifetimes_come_from_the_response_before_the_catalogue() {
        let now = Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0).unwrap();
        let l = lifetimes(
            Provider::Tiktok,
            &grant(true, Some(7200), Some(180 * 86_400)),
            now,
            None,
        );
        assert_eq!(l.access_expires_at, Some(now + Duration::hours(2)));
        assert_eq!(l.refresh_expires_at, Some(now + Duration::days(180)));
        // Silent answers fall back to TikTok's documented 2 hours / 180 days.
        let l = lifetimes(Provider::Tiktok, &grant(true, None, None), now, None);
        assert_eq!(l.access_expires_at, Some(now + Duration::hours(2)));
        assert_eq!(l.refresh_expires_at, Some(now + Duration::days(180)));
    }

    #[test]
    fn refresh_expiry_is_kept_without_a_new_refresh_token_and_on_linkedin() {
        let now = Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0).unwrap();
        let first = now - Duration::days(100) + Duration::days(365);
        let g = lifetimes(Provider::Google, &grant(false, Some(3599), None), now, None);
        assert_eq!(g.refresh_expires_at, None);
        let p = lifetimes(
            Provider::Pinterest,
            &grant(false, Some(60), None),
            now,
            Some(first),
        );
        assert_eq!(p.refresh_expires_at, Some(first));
        // LinkedIn answers with a fresh-looking 365 days; the first issue's clock wins.
        let li = lifetimes(
            Provider::Linkedin,
            &grant(true, Some(5_184_000), Some(31_536_000)),
            now,
            Some(first),
        );
        assert_eq!(li.refresh_expires_at, Some(first));
    }
}
