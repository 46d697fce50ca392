//! Key strings, index keys and the one time format of the table (see `shared/DATA.md`).
//!
//! Ids cannot contain `#` (see `domain::ids`), so `#` separates key parts without
//! ambiguity; the only free-form part (an external id, a run key) is always the tail.

use chrono::{DateTime, NaiveDateTime, Utc};

use crate::domain::{Account, AccountId, Milestone, Provider, TeamId};
use crate::store::LeaseKey;

pub(super) const TEAM_PREFIX: &str = "TEAM#";
pub(super) const ACCOUNT_PREFIX: &str = "ACCOUNT#";
pub(super) const LEDGER_PREFIX: &str = "LEDGER#";
pub(super) const HISTORY_PREFIX: &str = "HISTORY#";
pub(super) const STATE_PREFIX: &str = "STATE#";
pub(super) const PREFS_SK: &str = "PREFS";
/// A recipient sorts right after the prefs item: one Query (`begins_with PREFS`) reads both.
pub(super) const RECIPIENT_PREFIX: &str = "PREFS#R#";
pub(super) const QUOTA_PREFIX: &str = "QUOTA#";
pub(super) const DISPATCH_PREFIX: &str = "DISPATCH#";
pub(super) const STATE_SK: &str = "STATE";
pub(super) const PARKED_PREFIX: &str = "PARKED#";
pub(super) const PARKED_SK: &str = "PARKED";
pub(super) const LEASE_SK: &str = "LEASE";

/// Fixed-width UTC: every stored timestamp has the same length, so string order is time
/// order (for years 0000 to 9999). Nanoseconds are kept so an item reads back equal to
/// what was written.
const TIME_FORMAT: &str = "%Y-%m-%dT%H:%M:%S%.9fZ";
const TIME_LEN: usize = "2026-01-01T00:00:00.000000000Z".len();

pub(super) fn format_time(t: DateTime<Utc>) -> String {
    t.format(TIME_FORMAT).to_string()
}

pub(super) fn parse_time(raw: &str) -> Option<DateTime<Utc>> {
    if raw.len() != TIME_LEN {
        return None;
    }
    NaiveDateTime::parse_from_str(raw, TIME_FORMAT)
        .ok()
        .map(|t| t.and_utc())
}

pub(super) fn team_pk(team: &TeamId) -> String {
    format!("{TEAM_PREFIX}{team}")
}

pub(super) fn account_sk(id: &AccountId) -> String {
    format!("{ACCOUNT_PREFIX}{id}")
}

/// The uniqueness item of a (provider, external id) within a team.
pub(super) fn external_sk(provider: Provider, external_id: &str) -> String {
    format!("EXTERNAL#{provider}#{external_id}")
}

pub(super) fn ledger_sk(account: &AccountId, milestone: Milestone) -> String {
    format!("{}{}", ledger_account_prefix(account), milestone.key())
}

/// One history entry of an account; the id sorts by time.
pub(super) fn history_sk(account: &AccountId, id: &str) -> String {
    format!("{}{id}", history_prefix(account))
}

/// Every history entry of one account, and no other account's (ids have no `#`).
pub(super) fn history_prefix(account: &AccountId) -> String {
    format!("{HISTORY_PREFIX}{account}#")
}

/// Every ledger entry of one account, and no other account's (ids have no `#`).
pub(super) fn ledger_account_prefix(account: &AccountId) -> String {
    format!("{LEDGER_PREFIX}{account}#")
}

pub(super) fn parked_pk(key: &str) -> String {
    format!("{PARKED_PREFIX}{key}")
}

/// A state is stored under the SHA-256 of its id: the table never holds the value the
/// browser carries, so read access to the table does not let anyone complete a flow.
pub(super) fn state_pk(id: &str) -> String {
    use sha2::{Digest, Sha256};
    let hash: String = Sha256::digest(id.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("{STATE_PREFIX}{hash}")
}

pub(super) fn lease_pk(key: &LeaseKey) -> String {
    match key {
        LeaseKey::Account(team, account) => format!("LEASE#ACCOUNT#{team}#{account}"),
        LeaseKey::Verification(team, account) => format!("LEASE#VERIFY#{team}#{account}"),
        LeaseKey::Run(run) => format!("LEASE#RUN#{run}"),
    }
}

pub(super) fn due_shard_key(shard: u16) -> String {
    format!("DUE#{shard:02}")
}

pub(super) fn pending_shard_key(shard: u16) -> String {
    format!("PENDING#{shard:02}")
}

/// 64-bit FNV-1a: stable across processes and releases (std's hasher is randomized).
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, b| {
        (hash ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// The shard (0..shards) a key spreads to.
pub(super) fn shard_of(key: &str, shards: u16) -> u16 {
    let shards = u64::from(shards.max(1));
    // The remainder is below `shards`, which fits in u16.
    u16::try_from(fnv1a(key.as_bytes()) % shards).unwrap_or(0)
}

/// The `by_urgency` sort key: broken first, then by `reconnect_by` soonest first, then
/// accounts with no `reconnect_by`; the account id breaks ties.
pub(super) fn urgency(account: &Account) -> String {
    if account.broken.is_some() {
        return format!("0#{}", account.id);
    }
    // An exchange-style token (Instagram Login, Threads) has no `reconnect_by` while
    // tokenwarden renews it, but it is dead at its own expiry: it sorts by that.
    match account.reconnect_by().or_else(|| account.dead_at()) {
        Some(by) => format!("1#{}#{}", format_time(by), account.id),
        None => format!("2#{}", account.id),
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn fnv1a_matches_the_published_test_vectors() {
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a(b"foobar"), 0x8594_4171_f739_67e8);
    }

    #[test]
    fn shards_are_stable_and_in_range() {
        for shards in [1u16, 2, 16, 100] {
            for id in ["a", "acc-1", "0f8fad5bd9cb469fa165d5f9b1b2c3d4"] {
                let s = shard_of(id, shards);
                assert!(s < shards);
                assert_eq!(s, shard_of(id, shards));
            }
        }
        assert_eq!(shard_of("x", 0), 0);
        assert_eq!(due_shard_key(3), "DUE#03");
        assert_eq!(pending_shard_key(12), "PENDING#12");
    }

    #[test]
    fn time_strings_have_one_width_and_sort_like_time() {
        let a = Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).unwrap();
        let b = a + chrono::Duration::nanoseconds(1);
        let c = Utc.with_ymd_and_hms(2031, 12, 31, 23, 59, 59).unwrap();
        let (fa, fb, fc) = (format_time(a), format_time(b), format_time(c));
        assert_eq!(fa, "2026-01-02T03:04:05.000000000Z");
        assert!(fa.len() == fb.len() && fb.len() == fc.len());
        assert!(fa < fb && fb < fc);
        assert_eq!(parse_time(&fb), Some(b));
        assert_eq!(parse_time("2026-01-02T03:04:05Z"), None);
        assert_eq!(parse_time("not a time"), None);
    }

    #[test]
    fn ledger_prefix_of_one_account_does_not_cover_another() {
        let a = AccountId::parse("acc").unwrap();
        let ab = AccountId::parse("acc-b").unwrap();
        let key = ledger_sk(&ab, Milestone::Expired);
        assert!(!key.starts_with(&ledger_account_prefix(&a)));
        assert!(key.starts_with(&ledger_account_prefix(&ab)));
    }
}
