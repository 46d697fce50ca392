//! Items to domain values and back: pure functions, no I/O. The shared pieces (attribute
//! names, the reading of fields) are here; each item kind's codec is a module of its own
//! (`account`, `history`, `oauth`, `prefs`, `ledger`; recipients and dispatches live beside
//! their adapters).
//!
//! Decoding never trusts an item: a missing or mistyped attribute is `Malformed`, naming
//! the item by its key and the attribute by its name, never by its value (token envelopes
//! and PKCE verifiers live in these items).

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, NaiveDate, Utc};
use url::Url;

use super::keys::{self, STATE_PREFIX, TEAM_PREFIX};
use super::table::{BY_GRANT, BY_URGENCY, DUE, LAYOUT, PENDING};
use crate::domain::SealedToken;
use crate::domain::{
    Account, AccountId, Broken, Cause, Failures, HistoryEntry, HistoryKind, LastChange, MailEvents,
    Milestone, NotificationPrefs, Provider, Reason, RecipientId, ReturnUrl, SealedTokens, StateAt,
    Status, TeamId, UserId,
};
use crate::store::{LedgerEntry, MailState, OAuthState, Parked, StoreError};

pub(super) type Item = HashMap<String, AttributeValue>;

/// What an item is, stored in every item (`kind`) for people reading the table.
pub(super) mod kind {
    pub const ACCOUNT: &str = "account";
    pub const EXTERNAL_ID: &str = "external_id";
    pub const OAUTH_STATE: &str = "oauth_state";
    pub const PARKED: &str = "parked_code";
    pub const PREFS: &str = "prefs";
    pub const LEDGER: &str = "ledger";
    pub const LEASE: &str = "lease";
    pub const HISTORY: &str = "history";
    pub const RECIPIENT: &str = "recipient";
    pub const QUOTA: &str = "quota";
    pub const DISPATCH: &str = "dispatch";
    /// Every kind above.
    pub const ALL: &[&str] = &[
        ACCOUNT,
        EXTERNAL_ID,
        OAUTH_STATE,
        PARKED,
        PREFS,
        LEDGER,
        LEASE,
        HISTORY,
        RECIPIENT,
        QUOTA,
        DISPATCH,
    ];
}

/// Attribute names that expressions refer to (besides the layout's key attributes).
pub(super) mod attr {
    pub const KIND: &str = "kind";
    pub const VERSION: &str = "version";
    pub const PROVIDER: &str = "provider";
    pub const EXTERNAL_ID: &str = "external_id";
    pub const ACCOUNT_ID: &str = "account_id";
    pub const STATE: &str = "state";
    pub const UPDATED_AT: &str = "updated_at";
    pub const CREATED_AT: &str = "created_at";
    pub const DETAIL: &str = "detail";
    pub const HOLDER: &str = "holder";
    pub const EXPIRES_AT: &str = "expires_at";
    pub const DONE: &str = "done";
    pub const SENT_TO: &str = "sent_to";
}

pub(super) fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

pub(super) fn n(value: impl std::fmt::Display) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

pub(super) fn t(value: DateTime<Utc>) -> AttributeValue {
    AttributeValue::S(keys::format_time(value))
}

pub(super) fn set(item: &mut Item, name: &str, value: AttributeValue) {
    item.insert(name.to_owned(), value);
}

pub(super) fn set_opt<T>(
    item: &mut Item,
    name: &str,
    value: Option<T>,
    f: impl FnOnce(T) -> AttributeValue,
) {
    if let Some(v) = value {
        set(item, name, f(v));
    }
}

/// The key of an item, for error messages: its `pk/sk`, with a state id redacted (the
/// `state` parameter is a bearer value while it lives).
pub(super) fn describe_key(item: &Item) -> String {
    let get = |name: &str| {
        item.get(name)
            .and_then(|v| v.as_s().ok())
            .map_or("?", String::as_str)
    };
    let pk = get(LAYOUT.partition_key);
    let pk = if pk.starts_with(STATE_PREFIX) {
        "STATE#[redacted]"
    } else {
        pk
    };
    format!("{pk}/{}", get(LAYOUT.sort_key))
}

/// Typed, named reads from one item.
pub(super) struct Fields<'a> {
    item: &'a Item,
}

impl<'a> Fields<'a> {
    pub(super) fn new(item: &'a Item) -> Self {
        Self { item }
    }

    pub(super) fn bad(&self, what: impl Into<String>) -> StoreError {
        StoreError::Malformed {
            key: describe_key(self.item),
            what: what.into(),
        }
    }

    pub(super) fn get(&self, name: &str) -> Option<&'a AttributeValue> {
        self.item
            .get(name)
            .filter(|v| !matches!(v, AttributeValue::Null(_)))
    }

    pub(super) fn opt_s(&self, name: &str) -> Result<Option<&'a str>, StoreError> {
        match self.get(name) {
            None => Ok(None),
            Some(AttributeValue::S(v)) => Ok(Some(v.as_str())),
            Some(_) => Err(self.bad(format!("attribute {name} is not a string"))),
        }
    }

    pub(super) fn s(&self, name: &str) -> Result<&'a str, StoreError> {
        self.opt_s(name)?
            .ok_or_else(|| self.bad(format!("attribute {name} is missing")))
    }

    /// A string attribute parsed by `parse`; `None` from it is malformed.
    pub(super) fn opt_parsed<T>(
        &self,
        name: &str,
        parse: impl FnOnce(&str) -> Option<T>,
    ) -> Result<Option<T>, StoreError> {
        match self.opt_s(name)? {
            None => Ok(None),
            Some(raw) => parse(raw)
                .map(Some)
                .ok_or_else(|| self.bad(format!("attribute {name} is not valid"))),
        }
    }

    pub(super) fn parsed<T>(
        &self,
        name: &str,
        parse: impl FnOnce(&str) -> Option<T>,
    ) -> Result<T, StoreError> {
        self.opt_parsed(name, parse)?
            .ok_or_else(|| self.bad(format!("attribute {name} is missing")))
    }

    pub(super) fn opt_time(&self, name: &str) -> Result<Option<DateTime<Utc>>, StoreError> {
        self.opt_parsed(name, keys::parse_time)
    }

    pub(super) fn time(&self, name: &str) -> Result<DateTime<Utc>, StoreError> {
        self.parsed(name, keys::parse_time)
    }

    fn opt_u64(&self, name: &str) -> Result<Option<u64>, StoreError> {
        match self.get(name) {
            None => Ok(None),
            Some(AttributeValue::N(v)) => v
                .parse()
                .map(Some)
                .map_err(|_| self.bad(format!("attribute {name} is not a whole number"))),
            Some(_) => Err(self.bad(format!("attribute {name} is not a number"))),
        }
    }

    pub(super) fn u64(&self, name: &str) -> Result<u64, StoreError> {
        self.opt_u64(name)?
            .ok_or_else(|| self.bad(format!("attribute {name} is missing")))
    }

    pub(super) fn bool(&self, name: &str) -> Result<bool, StoreError> {
        match self.get(name) {
            Some(AttributeValue::Bool(v)) => Ok(*v),
            Some(_) => Err(self.bad(format!("attribute {name} is not a boolean"))),
            None => Err(self.bad(format!("attribute {name} is missing"))),
        }
    }

    pub(super) fn list(&self, name: &str) -> Result<&'a [AttributeValue], StoreError> {
        match self.get(name) {
            Some(AttributeValue::L(v)) => Ok(v),
            Some(_) => Err(self.bad(format!("attribute {name} is not a list"))),
            None => Err(self.bad(format!("attribute {name} is missing"))),
        }
    }

    pub(super) fn map(&self, name: &str) -> Result<&'a Item, StoreError> {
        match self.get(name) {
            Some(AttributeValue::M(v)) => Ok(v),
            Some(_) => Err(self.bad(format!("attribute {name} is not a map"))),
            None => Err(self.bad(format!("attribute {name} is missing"))),
        }
    }

    pub(super) fn kind(&self, want: &str) -> Result<(), StoreError> {
        if self.s(attr::KIND)? == want {
            Ok(())
        } else {
            Err(self.bad(format!("item is not of kind {want}")))
        }
    }

    pub(super) fn team(&self) -> Result<TeamId, StoreError> {
        self.parsed("team", |v| TeamId::parse(v).ok())
    }

    pub(super) fn account_id(&self) -> Result<AccountId, StoreError> {
        self.parsed(attr::ACCOUNT_ID, |v| AccountId::parse(v).ok())
    }

    fn provider(&self) -> Result<Provider, StoreError> {
        self.parsed(attr::PROVIDER, |v| v.parse().ok())
    }

    /// Checks that the key attributes are the ones this item's fields make.
    pub(super) fn key_is(&self, pk: &str, sk: &str) -> Result<(), StoreError> {
        if self.s(LAYOUT.partition_key)? == pk && self.s(LAYOUT.sort_key)? == sk {
            Ok(())
        } else {
            Err(self.bad("key does not match the item's fields"))
        }
    }
}

mod account;
mod history;
mod ledger;
mod oauth;
mod prefs;

pub(super) use account::{account_from_item, account_item, external_item, external_target};
pub(super) use history::{history_from_item, history_item};
pub(super) use ledger::{ledger_from_item, ledger_item, mail_state_str};
pub(super) use oauth::{parked_from_item, parked_item, state_from_item, state_item};
pub(super) use prefs::{prefs_from_item, prefs_item};

/// The team a `TEAM#…` partition key names.
pub(super) fn team_of_pk(item: &Item) -> Result<TeamId, StoreError> {
    let f = Fields::new(item);
    f.s(LAYOUT.partition_key)?
        .strip_prefix(TEAM_PREFIX)
        .and_then(|t| TeamId::parse(t).ok())
        .ok_or_else(|| f.bad("key is not a team key"))
}

#[cfg(test)]
mod tests {
    use chrono::{Duration, TimeZone};

    use super::*;
    use crate::domain::{EmailAddress, OriginAllowlist, Reason};
    use crate::domain::{ExposeSecret, Secret};

    fn at(day: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, day, 10, 0, 0).unwrap() + Duration::nanoseconds(123_456_789)
    }

    fn full_account() -> Account {
        Account {
            team: TeamId::parse("team-1").unwrap(),
            id: AccountId::parse("acc-1").unwrap(),
            provider: Provider::Linkedin,
            external_id: "urn:li:person:ab#c".into(),
            display_name: "Ana's page".into(),
            picture_url: Some("https://cdn.example.com/a.png".into()),
            scopes: vec!["openid".into(), "w_member_social".into()],
            connected_by: UserId::parse("auth0|u1").unwrap(),
            tokens: SealedTokens {
                access: SealedToken::from_stored("tw1.k1.bm9uY2U.YWNjZXNz".into()),
                refresh: Some(SealedToken::from_stored(
                    "tw1.k1.bm9uY2Uy.cmVmcmVzaA".into(),
                )),
            },
            access_issued_at: at(1),
            access_expires_at: Some(at(20)),
            refresh_expires_at: Some(at(28)),
            data_access_expires_at: None,
            grant_owner: None,
            broken: Some(Broken {
                status: Status::Revoked,
                reason: Some(Reason::PasswordChanged),
                since: at(5),
            }),
            failures: Failures {
                days: 2,
                first_at: Some(at(3)),
                last_counted_on: Some(at(4).date_naive()),
            },
            last_checked_at: Some(at(5)),
            last_refreshed_at: Some(at(2)),
            connected_at: at(1),
            updated_at: at(5),
            next_due_at: Some(at(6)),
            last_change: Some(LastChange {
                kind: HistoryKind::Broken,
                at: at(5),
            }),
            noted: Some(Milestone::Expiring { days: 7 }),
            version: 7,
        }
    }

    #[test]
    fn urgency_puts_broken_first_then_the_soonest_deadline_then_no_deadline() {
        let broken = full_account();
        let mut linkedin = full_account();
        linkedin.broken = None;
        // Instagram Login has no reconnect_by while renewed: it sorts by its own expiry.
        let mut instagram = full_account();
        instagram.broken = None;
        instagram.provider = Provider::InstagramLogin;
        instagram.tokens.refresh = None;
        instagram.access_expires_at = Some(at(10));
        let mut google = linkedin.clone();
        google.provider = Provider::Google;
        google.refresh_expires_at = None;
        let keys: Vec<String> = [&google, &linkedin, &broken, &instagram]
            .iter()
            .map(|a| keys::urgency(a))
            .collect();
        let mut sorted = keys.clone();
        sorted.sort();
        assert_eq!(
            sorted,
            [&keys[2], &keys[3], &keys[1], &keys[0]].map(String::clone)
        );
    }

    #[test]
    fn a_full_account_round_trips() {
        let account = full_account();
        let item = account_item(&account, 16);
        assert_eq!(account_from_item(&item).unwrap(), account);
        assert_eq!(item["urgency"], s("0#acc-1"));
        assert!(item["due_shard"].as_s().unwrap().starts_with("DUE#"));
        assert_eq!(item["version"], n(7));
    }

    #[test]
    fn a_minimal_account_round_trips_and_stays_out_of_the_due_index() {
        let mut account = full_account();
        account.provider = Provider::Facebook;
        account.picture_url = None;
        account.scopes.clear();
        account.tokens.refresh = None;
        account.access_expires_at = None;
        account.refresh_expires_at = None;
        account.broken = None;
        account.failures = Failures::default();
        account.last_checked_at = None;
        account.last_refreshed_at = None;
        account.next_due_at = None;
        let item = account_item(&account, 16);
        assert!(!item.contains_key("due_shard") && !item.contains_key("due_at"));
        assert!(!item.contains_key("refresh_token"));
        assert_eq!(item["urgency"], s("2#acc-1"));
        assert_eq!(account_from_item(&item).unwrap(), account);
    }

    #[test]
    fn urgency_ranks_broken_then_deadline_then_none() {
        let mut broken = full_account();
        broken.provider = Provider::Facebook;
        let mut soon = broken.clone();
        soon.broken = None;
        soon.access_expires_at = Some(at(10));
        let mut later = soon.clone();
        later.access_expires_at = Some(at(11));
        let mut never = soon.clone();
        never.access_expires_at = None;
        let keys: Vec<String> = [&broken, &soon, &later, &never]
            .iter()
            .map(|a| keys::urgency(a))
            .collect();
        let mut sorted = keys.clone();
        sorted.sort();
        assert_eq!(keys, sorted);
    }

    #[test]
    fn malformed_items_name_the_key_and_attribute_but_no_secret() {
        let item = account_item(&full_account(), 16);
        type Damage = fn(&mut Item);
        let cases: [(&str, Damage); 6] = [
            ("access_token", |i| drop(i.remove("access_token"))),
            ("version", |i| drop(i.insert("version".into(), s("7")))),
            ("broken_since", |i| {
                drop(i.insert("broken_since".into(), s("yesterday")))
            }),
            ("provider", |i| {
                drop(i.insert("provider".into(), s("myspace")))
            }),
            ("key", |i| drop(i.insert("sk".into(), s("ACCOUNT#other")))),
            ("scopes", |i| {
                drop(i.insert("scopes".into(), AttributeValue::L(vec![n(1)])))
            }),
        ];
        for (what, damage) in cases {
            let mut bad = item.clone();
            damage(&mut bad);
            let err = account_from_item(&bad).unwrap_err();
            let StoreError::Malformed { key, what: said } = &err else {
                panic!("{what}: {err:?}");
            };
            assert!(key.starts_with("TEAM#team-1/"), "{key}");
            assert!(said.contains(what), "{what}: {said}");
            let shown = format!("{err} {err:?}");
            assert!(
                !shown.contains("YWNjZXNz") && !shown.contains("cmVmcmVzaA"),
                "{shown}"
            );
        }
        assert!(matches!(
            account_from_item(&prefs_item(
                &NotificationPrefs::defaults(TeamId::parse("t").unwrap()),
                1
            )),
            Err(StoreError::Malformed { .. })
        ));
    }

    #[test]
    fn a_state_round_trips_and_its_id_is_redacted_in_errors() {
        let allow = OriginAllowlist::parse("https://app.example.com").unwrap();
        let state = OAuthState {
            id: "s3cr3t-state".into(),
            team: TeamId::parse("team-1").unwrap(),
            user: UserId::parse("u1").unwrap(),
            provider: Provider::X,
            return_to: ReturnUrl::parse("https://app.example.com/s?x=1", &allow).unwrap(),
            account: Some(AccountId::parse("acc-1").unwrap()),
            pkce_verifier: Some(Secret::from("verifier-canary")),
            redirect_uri: "https://api.example.com/oauth/x/callback".into(),
            created_at: at(1),
            expires_at: at(1) + Duration::minutes(10),
        };
        let item = state_item(&state);
        let read = state_from_item(&item, "s3cr3t-state").unwrap();
        // Stored under its hash, the verifier sealed under the raw state: neither is in
        // the item, and another state does not open the verifier.
        assert!(!format!("{item:?}").contains("s3cr3t-state"));
        assert!(!format!("{item:?}").contains("verifier-canary"));
        assert!(state_from_item(&item, "another-state").is_err());
        assert_eq!(read.id.len(), 64);
        // Every field as written (the verifier, redacted in Debug, compared by its text).
        assert_eq!(
            format!("{read:?}"),
            format!(
                "{:?}",
                OAuthState {
                    id: read.id.clone(),
                    ..state.clone()
                }
            )
        );
        assert_eq!(
            read.pkce_verifier.as_ref().map(ExposeSecret::expose_secret),
            state
                .pkce_verifier
                .as_ref()
                .map(ExposeSecret::expose_secret)
        );
        assert_eq!(item["ttl"], n(state.expires_at.timestamp()));
        let mut bad = item.clone();
        bad.remove("redirect_uri");
        let err = format!("{:?}", state_from_item(&bad, "s3cr3t-state").unwrap_err());
        assert!(!err.contains("s3cr3t") && !err.contains("canary"), "{err}");
    }

    #[test]
    fn prefs_and_ledger_entries_round_trip() {
        let team = TeamId::parse("team-1").unwrap();
        let prefs = NotificationPrefs {
            team_name: Some("Acme".into()),
            time_zone: chrono_tz::Asia::Tokyo,
            lead_days: vec![10, 2],
            events: MailEvents {
                expiring: true,
                expired: false,
                disconnected: true,
                recovered: false,
            },
            enabled: false,
            ..NotificationPrefs::defaults(team.clone())
        };
        let read = prefs_from_item(&prefs_item(&prefs, 3)).unwrap();
        assert_eq!(
            read,
            NotificationPrefs {
                version: 3,
                ..prefs
            }
        );

        let entry = LedgerEntry {
            team,
            account: AccountId::parse("acc-1").unwrap(),
            milestone: Milestone::Expiring { days: 7 },
            state: MailState::Pending,
            created_at: at(2),
            updated_at: at(2),
            detail: None,
            sent_to: {
                let mut people = ["ana@example.com", "bo@example.com"]
                    .map(|e| RecipientId::of(&EmailAddress::parse(e).unwrap()))
                    .to_vec();
                people.sort();
                people
            },
            audience: Some(vec![RecipientId::of(
                &EmailAddress::parse("ana@example.com").unwrap(),
            )]),
        };
        let item = ledger_item(&entry, 16);
        assert_eq!(item["sk"], s("LEDGER#acc-1#expiring-007"));
        assert!(item.contains_key("pending_shard") && item.contains_key("pending_at"));
        assert_eq!(ledger_from_item(&item).unwrap(), entry);
    }
}
