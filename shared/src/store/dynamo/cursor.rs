//! Cursors: base64url JSON of the last evaluated key's values, minus the partition the
//! caller names again. A cursor never chooses a partition: `list_accounts` rebuilds the
//! start key with the caller's team, `due_accounts` with the shard asked for, so a cursor
//! from one team cannot reach another's items.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::error::backend;
use super::keys::{self, ACCOUNT_PREFIX, TEAM_PREFIX};
use super::table::{BY_URGENCY, DUE, LAYOUT};
use crate::domain::{AccountId, TeamId};
use crate::store::{Cursor, StoreError};

type Item = HashMap<String, AttributeValue>;

/// Longer than any cursor this module issues (keys are at most a few hundred bytes).
const MAX_CURSOR_LEN: usize = 2048;

/// A position in a team's `by_urgency` listing.
#[derive(Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ListPosition {
    /// `urgency`
    u: String,
    /// `sk`
    s: String,
}

/// A position in one shard of the `due` index.
#[derive(Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct DuePosition {
    /// `due_at`
    d: String,
    /// `pk`
    p: String,
    /// `sk`
    s: String,
}

/// A position in one account's history.
#[derive(Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct HistoryPosition {
    /// `sk`
    s: String,
}

fn encode(position: &impl Serialize) -> Result<Cursor, StoreError> {
    let json = serde_json::to_vec(position).map_err(backend)?;
    Ok(Cursor::new(URL_SAFE_NO_PAD.encode(json)))
}

fn decode<T: DeserializeOwned>(cursor: &Cursor) -> Result<T, StoreError> {
    let raw = cursor.as_str();
    if raw.is_empty() || raw.len() > MAX_CURSOR_LEN {
        return Err(StoreError::BadCursor);
    }
    let json = URL_SAFE_NO_PAD
        .decode(raw)
        .map_err(|_| StoreError::BadCursor)?;
    serde_json::from_slice(&json).map_err(|_| StoreError::BadCursor)
}

fn string(item: &Item, name: &str) -> Option<String> {
    item.get(name).and_then(|v| v.as_s().ok()).cloned()
}

/// The account id an `ACCOUNT#…` sort key names.
fn account_of(sk: &str) -> Option<AccountId> {
    sk.strip_prefix(ACCOUNT_PREFIX)
        .and_then(|id| AccountId::parse(id).ok())
}

/// Whether `urgency` has the shape `keys::urgency` writes for `account`.
fn urgency_fits(urgency: &str, account: &AccountId) -> bool {
    let Some(head) = urgency.strip_suffix(account.as_str()) else {
        return false;
    };
    match head {
        "0#" | "2#" => true,
        _ => head
            .strip_prefix("1#")
            .and_then(|t| t.strip_suffix('#'))
            .and_then(keys::parse_time)
            .is_some(),
    }
}

/// The cursor for a `by_urgency` page's last evaluated key.
pub(super) fn list_cursor(last: &Item) -> Result<Option<Cursor>, StoreError> {
    match (
        string(last, BY_URGENCY.sort_key),
        string(last, LAYOUT.sort_key),
    ) {
        (Some(u), Some(s)) => encode(&ListPosition { u, s }).map(Some),
        _ => Ok(None),
    }
}

/// The start key in `team`'s partition a `list_cursor` stands for.
pub(super) fn list_start(team: &TeamId, cursor: &Cursor) -> Result<Item, StoreError> {
    let position: ListPosition = decode(cursor)?;
    let account = account_of(&position.s).ok_or(StoreError::BadCursor)?;
    if !urgency_fits(&position.u, &account) {
        return Err(StoreError::BadCursor);
    }
    Ok(HashMap::from([
        (
            LAYOUT.partition_key.to_owned(),
            AttributeValue::S(keys::team_pk(team)),
        ),
        (LAYOUT.sort_key.to_owned(), AttributeValue::S(position.s)),
        (
            BY_URGENCY.sort_key.to_owned(),
            AttributeValue::S(position.u),
        ),
    ]))
}

/// The cursor for a history page's last evaluated key.
pub(super) fn history_cursor(last: &Item) -> Result<Option<Cursor>, StoreError> {
    match string(last, LAYOUT.sort_key) {
        Some(s) => encode(&HistoryPosition { s }).map(Some),
        None => Ok(None),
    }
}

/// The start key in `team`'s partition a `history_cursor` stands for, which must be a
/// position in `account`'s history (a cursor of another account's is refused).
pub(super) fn history_start(
    team: &TeamId,
    account: &AccountId,
    cursor: &Cursor,
) -> Result<Item, StoreError> {
    let position: HistoryPosition = decode(cursor)?;
    let id = position
        .s
        .strip_prefix(&keys::history_prefix(account))
        .ok_or(StoreError::BadCursor)?;
    if id.is_empty() || id.contains('#') {
        return Err(StoreError::BadCursor);
    }
    Ok(HashMap::from([
        (
            LAYOUT.partition_key.to_owned(),
            AttributeValue::S(keys::team_pk(team)),
        ),
        (LAYOUT.sort_key.to_owned(), AttributeValue::S(position.s)),
    ]))
}

/// The cursor for a `due` page's last evaluated key.
pub(super) fn due_cursor(last: &Item) -> Result<Option<Cursor>, StoreError> {
    match (
        string(last, DUE.sort_key),
        string(last, LAYOUT.partition_key),
        string(last, LAYOUT.sort_key),
    ) {
        (Some(d), Some(p), Some(s)) => encode(&DuePosition { d, p, s }).map(Some),
        _ => Ok(None),
    }
}

/// The start key in the shard `shard_key` a `due_cursor` stands for.
pub(super) fn due_start(shard_key: &str, cursor: &Cursor) -> Result<Item, StoreError> {
    let position: DuePosition = decode(cursor)?;
    let team_ok = position
        .p
        .strip_prefix(TEAM_PREFIX)
        .is_some_and(|t| TeamId::parse(t).is_ok());
    if !team_ok || account_of(&position.s).is_none() || keys::parse_time(&position.d).is_none() {
        return Err(StoreError::BadCursor);
    }
    Ok(HashMap::from([
        (
            DUE.partition_key.to_owned(),
            AttributeValue::S(shard_key.to_owned()),
        ),
        (DUE.sort_key.to_owned(), AttributeValue::S(position.d)),
        (
            LAYOUT.partition_key.to_owned(),
            AttributeValue::S(position.p),
        ),
        (LAYOUT.sort_key.to_owned(), AttributeValue::S(position.s)),
    ]))
}

/// Where a table Scan stopped (any item's keys: the filter leaves most items out). Only
/// the key-retirement pass scans, and its cursor never leaves the function.
#[derive(Serialize, Deserialize)]
struct ScanPosition {
    p: String,
    s: String,
}

/// The cursor for a Scan page's last evaluated key.
pub(super) fn scan_cursor(last: &Item) -> Result<Cursor, StoreError> {
    match (
        string(last, LAYOUT.partition_key),
        string(last, LAYOUT.sort_key),
    ) {
        (Some(p), Some(s)) => encode(&ScanPosition { p, s }),
        _ => Err(StoreError::BadCursor),
    }
}

/// The start key a `scan_cursor` stands for.
pub(super) fn scan_start(cursor: &Cursor) -> Result<Item, StoreError> {
    let position: ScanPosition = decode(cursor)?;
    Ok(HashMap::from([
        (
            LAYOUT.partition_key.to_owned(),
            AttributeValue::S(position.p),
        ),
        (LAYOUT.sort_key.to_owned(), AttributeValue::S(position.s)),
    ]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &str) -> AttributeValue {
        AttributeValue::S(v.into())
    }

    #[test]
    fn a_list_cursor_restarts_in_the_callers_team_only() {
        let last = HashMap::from([
            ("pk".to_owned(), s("TEAM#a")),
            ("sk".to_owned(), s("ACCOUNT#acc-1")),
            (
                "urgency".to_owned(),
                s("1#2026-01-02T03:04:05.000000000Z#acc-1"),
            ),
        ]);
        let cursor = list_cursor(&last).unwrap().unwrap();
        assert!(!cursor.as_str().contains('='));
        let team_b = TeamId::parse("b").unwrap();
        let start = list_start(&team_b, &cursor).unwrap();
        assert_eq!(start["pk"], s("TEAM#b"));
        assert_eq!(start["sk"], last["sk"]);
        assert_eq!(start["urgency"], last["urgency"]);
    }

    #[test]
    fn garbage_and_tampered_cursors_are_refused() {
        let team = TeamId::parse("a").unwrap();
        let forged = |json: &str| Cursor::from_client(&URL_SAFE_NO_PAD.encode(json));
        for bad in [
            Cursor::from_client(""),
            Cursor::from_client("not base64 at all!"),
            Cursor::from_client(&"A".repeat(5000)),
            forged("[]"),
            forged(r#"{"u":"0#acc","s":"ACCOUNT#acc","x":1}"#),
            forged(r#"{"u":"0#acc","s":"PREFS"}"#),
            forged(r#"{"u":"0#other","s":"ACCOUNT#acc"}"#),
            forged(r#"{"u":"1#yesterday#acc","s":"ACCOUNT#acc"}"#),
            forged(r#"{"u":"0#a#b","s":"ACCOUNT#a#b"}"#),
        ] {
            assert!(
                matches!(list_start(&team, &bad), Err(StoreError::BadCursor)),
                "{bad:?}"
            );
        }
        let list = forged(r#"{"u":"2#acc","s":"ACCOUNT#acc"}"#);
        assert!(list_start(&team, &list).is_ok());
        assert!(matches!(
            due_start("DUE#00", &list),
            Err(StoreError::BadCursor)
        ));
    }

    #[test]
    fn a_due_cursor_round_trips_into_the_asked_shard() {
        let last = HashMap::from([
            ("pk".to_owned(), s("TEAM#a")),
            ("sk".to_owned(), s("ACCOUNT#acc-1")),
            ("due_shard".to_owned(), s("DUE#03")),
            ("due_at".to_owned(), s("2026-01-02T03:04:05.000000000Z")),
        ]);
        let cursor = due_cursor(&last).unwrap().unwrap();
        let start = due_start("DUE#03", &cursor).unwrap();
        assert_eq!(start, last);
        let team = TeamId::parse("a").unwrap();
        assert!(matches!(
            list_start(&team, &cursor),
            Err(StoreError::BadCursor)
        ));
    }
}
