//! Items to domain values and back: pure functions, no I/O.
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
use crate::domain::{
    Account, AccountId, Broken, Cause, Failures, HistoryEntry, HistoryKind, LastChange, MailEvents,
    Milestone, NotificationPrefs, Provider, Reason, RecipientId, ReturnUrl, SealedTokens, StateAt,
    Status, TeamId, UserId,
};
use crate::seal::SealedToken;
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

fn parse_status(raw: &str) -> Option<Status> {
    [
        Status::Active,
        Status::Expiring,
        Status::Expired,
        Status::Revoked,
    ]
    .into_iter()
    .find(|s| s.as_str() == raw)
}

fn parse_date(raw: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(raw, "%Y-%m-%d").ok()
}

/// The account item at `account.version`, with its index keys: `urgency` always, the due
/// index keys only when the account has a `next_due_at` (so the index stays sparse).
pub(super) fn account_item(account: &Account, shards: u16) -> Item {
    let a = account;
    let mut item = Item::new();
    set(&mut item, LAYOUT.partition_key, s(keys::team_pk(&a.team)));
    set(&mut item, LAYOUT.sort_key, s(keys::account_sk(&a.id)));
    set(&mut item, attr::KIND, s(kind::ACCOUNT));
    set(&mut item, "team", s(a.team.as_str()));
    set(&mut item, attr::ACCOUNT_ID, s(a.id.as_str()));
    set(&mut item, attr::PROVIDER, s(a.provider.id()));
    set(&mut item, attr::EXTERNAL_ID, s(&a.external_id));
    set(&mut item, "display_name", s(&a.display_name));
    set_opt(&mut item, "picture_url", a.picture_url.as_deref(), s);
    set(
        &mut item,
        "scopes",
        AttributeValue::L(a.scopes.iter().map(s).collect()),
    );
    set(&mut item, "connected_by", s(a.connected_by.as_str()));
    set(&mut item, "access_token", s(a.tokens.access.as_stored()));
    set_opt(
        &mut item,
        "refresh_token",
        a.tokens.refresh.as_ref(),
        |r: &SealedToken| s(r.as_stored()),
    );
    set(&mut item, "access_issued_at", t(a.access_issued_at));
    set_opt(&mut item, "access_expires_at", a.access_expires_at, t);
    set_opt(&mut item, "refresh_expires_at", a.refresh_expires_at, t);
    set_opt(
        &mut item,
        "data_access_expires_at",
        a.data_access_expires_at,
        t,
    );
    set_opt(
        &mut item,
        BY_GRANT.partition_key,
        a.grant_owner.as_deref(),
        s,
    );
    if let Some(b) = a.broken {
        set(&mut item, "broken_status", s(b.status.as_str()));
        set_opt(&mut item, "broken_reason", b.reason, |r| s(r.as_str()));
        set(&mut item, "broken_since", t(b.since));
    }
    set(&mut item, "failure_days", n(a.failures.days));
    set_opt(&mut item, "failure_first_at", a.failures.first_at, t);
    set_opt(
        &mut item,
        "failure_last_counted_on",
        a.failures.last_counted_on,
        |d| s(d.format("%Y-%m-%d").to_string()),
    );
    set_opt(&mut item, "last_checked_at", a.last_checked_at, t);
    set_opt(&mut item, "last_refreshed_at", a.last_refreshed_at, t);
    set(&mut item, "connected_at", t(a.connected_at));
    set(&mut item, attr::UPDATED_AT, t(a.updated_at));
    set_opt(&mut item, "noted", a.noted, |m| s(m.key()));
    if let Some(last) = a.last_change {
        set(&mut item, "last_change_kind", s(last.kind.as_str()));
        set(&mut item, "last_change_at", t(last.at));
    }
    if let Some(due) = a.next_due_at {
        // By team: a shard holds whole teams, so one sweep invocation mails a team once.
        let shard = keys::shard_of(a.team.as_str(), shards);
        set(&mut item, DUE.partition_key, s(keys::due_shard_key(shard)));
        set(&mut item, DUE.sort_key, t(due));
    }
    set(&mut item, BY_URGENCY.sort_key, s(keys::urgency(a)));
    set(&mut item, attr::VERSION, n(a.version));
    item
}

pub(super) fn account_from_item(item: &Item) -> Result<Account, StoreError> {
    let f = Fields::new(item);
    f.kind(kind::ACCOUNT)?;
    let team = f.team()?;
    let id = f.account_id()?;
    f.key_is(&keys::team_pk(&team), &keys::account_sk(&id))?;
    let scopes = f
        .list("scopes")?
        .iter()
        .map(|v| v.as_s().cloned())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| f.bad("attribute scopes holds a non-string"))?;
    let broken = match f.opt_parsed("broken_status", parse_status)? {
        None => None,
        Some(status) => Some(Broken {
            status,
            reason: f.opt_parsed("broken_reason", Reason::parse)?,
            since: f.time("broken_since")?,
        }),
    };
    let due_at = f.opt_time(DUE.sort_key)?;
    if due_at.is_some() && f.opt_s(DUE.partition_key)?.is_none() {
        return Err(f.bad(format!("attribute {} is missing", DUE.partition_key)));
    }
    Ok(Account {
        provider: f.provider()?,
        external_id: f.s(attr::EXTERNAL_ID)?.to_owned(),
        display_name: f.s("display_name")?.to_owned(),
        picture_url: f.opt_s("picture_url")?.map(str::to_owned),
        scopes,
        connected_by: f.parsed("connected_by", |v| UserId::parse(v).ok())?,
        tokens: SealedTokens {
            access: SealedToken::from_stored(f.s("access_token")?.to_owned()),
            refresh: f
                .opt_s("refresh_token")?
                .map(|r| SealedToken::from_stored(r.to_owned())),
        },
        access_issued_at: f.time("access_issued_at")?,
        access_expires_at: f.opt_time("access_expires_at")?,
        refresh_expires_at: f.opt_time("refresh_expires_at")?,
        data_access_expires_at: f.opt_time("data_access_expires_at")?,
        grant_owner: f.opt_s(BY_GRANT.partition_key)?.map(str::to_owned),
        broken,
        failures: Failures {
            days: u32::try_from(f.u64("failure_days")?)
                .map_err(|_| f.bad("attribute failure_days is out of range"))?,
            first_at: f.opt_time("failure_first_at")?,
            last_counted_on: f.opt_parsed("failure_last_counted_on", parse_date)?,
        },
        last_checked_at: f.opt_time("last_checked_at")?,
        last_refreshed_at: f.opt_time("last_refreshed_at")?,
        connected_at: f.time("connected_at")?,
        updated_at: f.time(attr::UPDATED_AT)?,
        next_due_at: due_at,
        last_change: match f.opt_parsed("last_change_kind", HistoryKind::parse)? {
            None => None,
            Some(kind) => Some(LastChange {
                kind,
                at: f.time("last_change_at")?,
            }),
        },
        noted: f.opt_parsed("noted", Milestone::parse)?,
        version: f.u64(attr::VERSION)?,
        team,
        id,
    })
}

/// A history entry's item, in the team's partition beside the account; DynamoDB's TTL
/// removes it after [`crate::domain::HISTORY_KEPT`]. The table's stream carries it to the
/// events publisher.
pub(super) fn history_item(e: &HistoryEntry) -> Item {
    let mut item = Item::new();
    set(&mut item, LAYOUT.partition_key, s(keys::team_pk(&e.team)));
    set(
        &mut item,
        LAYOUT.sort_key,
        s(keys::history_sk(&e.account, &e.id)),
    );
    set(&mut item, attr::KIND, s(kind::HISTORY));
    set(&mut item, "team", s(e.team.as_str()));
    set(&mut item, attr::ACCOUNT_ID, s(e.account.as_str()));
    set(&mut item, attr::PROVIDER, s(e.provider.id()));
    set(&mut item, "history_id", s(&e.id));
    set(&mut item, "history_kind", s(e.kind.as_str()));
    set(&mut item, "at", t(e.at));
    if let Some(b) = e.before {
        set(&mut item, "status_before", s(b.status.as_str()));
        set_opt(&mut item, "reason_before", b.reason, |r| s(r.as_str()));
    }
    if let Some(a) = e.after {
        set(&mut item, "status_after", s(a.status.as_str()));
        set_opt(&mut item, "reason_after", a.reason, |r| s(r.as_str()));
    }
    set_opt(&mut item, "reconnect_by", e.reconnect_by, t);
    set_opt(&mut item, "days_left", e.days_left, n);
    set(&mut item, "cause_type", s(e.cause.type_str()));
    set(&mut item, "cause_id", s(e.cause.id()));
    set_opt(&mut item, "provider_error", e.provider_error.as_deref(), s);
    set(
        &mut item,
        LAYOUT.ttl_attribute,
        n(e.expires_at().timestamp()),
    );
    item
}

pub(super) fn history_from_item(item: &Item) -> Result<HistoryEntry, StoreError> {
    let f = Fields::new(item);
    f.kind(kind::HISTORY)?;
    let team = f.team()?;
    let account = f.account_id()?;
    let id = f.s("history_id")?.to_owned();
    f.key_is(&keys::team_pk(&team), &keys::history_sk(&account, &id))?;
    let state = |status: &str, reason: &str| -> Result<Option<StateAt>, StoreError> {
        Ok(match f.opt_parsed(status, parse_status)? {
            None => None,
            Some(status) => Some(StateAt {
                status,
                reason: f.opt_parsed(reason, Reason::parse)?,
            }),
        })
    };
    let cause = Cause::from_parts(f.s("cause_type")?, f.s("cause_id")?)
        .ok_or_else(|| f.bad("attribute cause_type or cause_id is not one tokenwarden writes"))?;
    Ok(HistoryEntry {
        provider: f.provider()?,
        at: f.time("at")?,
        kind: f.parsed("history_kind", HistoryKind::parse)?,
        before: state("status_before", "reason_before")?,
        after: state("status_after", "reason_after")?,
        reconnect_by: f.opt_time("reconnect_by")?,
        days_left: f
            .opt_u64("days_left")?
            .map(|d| u32::try_from(d).map_err(|_| f.bad("attribute days_left is out of range")))
            .transpose()?,
        cause,
        provider_error: f.opt_s("provider_error")?.map(str::to_owned),
        id,
        team,
        account,
    })
}

/// The item that makes (team, provider, external id) unique and points at the account.
pub(super) fn external_item(account: &Account) -> Item {
    let mut item = Item::new();
    set(
        &mut item,
        LAYOUT.partition_key,
        s(keys::team_pk(&account.team)),
    );
    set(
        &mut item,
        LAYOUT.sort_key,
        s(keys::external_sk(account.provider, &account.external_id)),
    );
    set(&mut item, attr::KIND, s(kind::EXTERNAL_ID));
    set(&mut item, attr::ACCOUNT_ID, s(account.id.as_str()));
    item
}

pub(super) fn external_target(item: &Item) -> Result<AccountId, StoreError> {
    let f = Fields::new(item);
    f.kind(kind::EXTERNAL_ID)?;
    f.account_id()
}

/// The state's item, with `ttl` at its expiry so DynamoDB removes it afterwards.
pub(super) fn state_item(state: &OAuthState) -> Item {
    let mut item = Item::new();
    set(
        &mut item,
        LAYOUT.partition_key,
        s(keys::state_pk(&state.id)),
    );
    set(&mut item, LAYOUT.sort_key, s(keys::STATE_SK));
    set(&mut item, attr::KIND, s(kind::OAUTH_STATE));
    set(&mut item, "team", s(state.team.as_str()));
    set(&mut item, "user_id", s(state.user.as_str()));
    set(&mut item, attr::PROVIDER, s(state.provider.id()));
    set(&mut item, "return_to", s(state.return_to.url().as_str()));
    set_opt(&mut item, attr::ACCOUNT_ID, state.account.as_ref(), |a| {
        s(a.as_str())
    });
    // Sealed under the raw state, which the item does not hold (only its hash).
    set_opt(
        &mut item,
        "pkce_verifier",
        state
            .pkce_verifier
            .as_ref()
            .and_then(|v| crate::seal::seal_for_state(v, &state.id)),
        |v: SealedToken| s(v.as_stored()),
    );
    set(&mut item, "redirect_uri", s(&state.redirect_uri));
    set(&mut item, attr::CREATED_AT, t(state.created_at));
    set(&mut item, attr::EXPIRES_AT, t(state.expires_at));
    set(
        &mut item,
        LAYOUT.ttl_attribute,
        n(state.expires_at.timestamp()),
    );
    item
}

/// The state item read back with the raw `state` the browser brought (it opens the
/// verifier); the id it carries is the stored hash.
pub(super) fn state_from_item(item: &Item, raw_state: &str) -> Result<OAuthState, StoreError> {
    let f = Fields::new(item);
    f.kind(kind::OAUTH_STATE)?;
    let id = f
        .s(LAYOUT.partition_key)?
        .strip_prefix(STATE_PREFIX)
        .ok_or_else(|| f.bad("key is not a state key"))?
        .to_owned();
    Ok(OAuthState {
        id,
        team: f.team()?,
        user: f.parsed("user_id", |v| UserId::parse(v).ok())?,
        provider: f.provider()?,
        return_to: f.parsed("return_to", |v| {
            Url::parse(v).ok().map(ReturnUrl::from_trusted)
        })?,
        account: f.opt_parsed(attr::ACCOUNT_ID, |v| AccountId::parse(v).ok())?,
        pkce_verifier: f
            .opt_s("pkce_verifier")?
            .map(|v| {
                crate::seal::open_for_state(&SealedToken::from_stored(v.to_owned()), raw_state)
                    .map_err(|_| f.bad("the PKCE verifier does not open for this state"))
            })
            .transpose()?,
        redirect_uri: f.s("redirect_uri")?.to_owned(),
        created_at: f.time(attr::CREATED_AT)?,
        expires_at: f.time(attr::EXPIRES_AT)?,
    })
}

/// A parked code: the consumed state's fields under the parked key, the sealed code, and
/// the parked item's own expiry (and `ttl`).
pub(super) fn parked_item(parked: &Parked) -> Item {
    let mut item = state_item(&OAuthState {
        pkce_verifier: None,
        ..parked.state.clone()
    });
    set_opt(
        &mut item,
        "verifier",
        parked.verifier.as_ref(),
        |v: &SealedToken| s(v.as_stored()),
    );
    set(
        &mut item,
        LAYOUT.partition_key,
        s(keys::parked_pk(&parked.key)),
    );
    set(&mut item, LAYOUT.sort_key, s(keys::PARKED_SK));
    set(&mut item, attr::KIND, s(kind::PARKED));
    set(&mut item, "state_id", s(&parked.state.id));
    set(&mut item, "code", s(parked.code.as_stored()));
    set(&mut item, attr::EXPIRES_AT, t(parked.expires_at));
    set(
        &mut item,
        LAYOUT.ttl_attribute,
        n(parked.expires_at.timestamp()),
    );
    item
}

pub(super) fn parked_from_item(item: &Item) -> Result<Parked, StoreError> {
    let f = Fields::new(item);
    f.kind(kind::PARKED)?;
    let key = f
        .s(LAYOUT.partition_key)?
        .strip_prefix(keys::PARKED_PREFIX)
        .ok_or_else(|| f.bad("key is not a parked key"))?
        .to_owned();
    let state = OAuthState {
        id: f.s("state_id")?.to_owned(),
        team: f.team()?,
        user: f.parsed("user_id", |v| UserId::parse(v).ok())?,
        provider: f.provider()?,
        return_to: f.parsed("return_to", |v| {
            Url::parse(v).ok().map(ReturnUrl::from_trusted)
        })?,
        account: f.opt_parsed(attr::ACCOUNT_ID, |v| AccountId::parse(v).ok())?,
        // Opened by the completion (`verifier`, sealed with the keyring).
        pkce_verifier: None,
        redirect_uri: f.s("redirect_uri")?.to_owned(),
        created_at: f.time(attr::CREATED_AT)?,
        expires_at: f.time(attr::EXPIRES_AT)?,
    };
    Ok(Parked {
        key,
        expires_at: state.expires_at,
        state,
        code: SealedToken::from_stored(f.s("code")?.to_owned()),
        verifier: f
            .opt_s("verifier")?
            .map(|v| SealedToken::from_stored(v.to_owned())),
    })
}

/// The prefs item at `version` (the caller passes the next version): the settings only;
/// each recipient is an item of its own (`recipients.rs`).
pub(super) fn prefs_item(prefs: &NotificationPrefs, version: u64) -> Item {
    let events = HashMap::from([
        (
            "expiring".to_owned(),
            AttributeValue::Bool(prefs.events.expiring),
        ),
        (
            "expired".to_owned(),
            AttributeValue::Bool(prefs.events.expired),
        ),
        (
            "disconnected".to_owned(),
            AttributeValue::Bool(prefs.events.disconnected),
        ),
        (
            "recovered".to_owned(),
            AttributeValue::Bool(prefs.events.recovered),
        ),
    ]);
    let mut item = Item::new();
    set(
        &mut item,
        LAYOUT.partition_key,
        s(keys::team_pk(&prefs.team)),
    );
    set(&mut item, LAYOUT.sort_key, s(keys::PREFS_SK));
    set(&mut item, attr::KIND, s(kind::PREFS));
    set(&mut item, "team", s(prefs.team.as_str()));
    set_opt(&mut item, "team_name", prefs.team_name.as_deref(), s);
    set(&mut item, "time_zone", s(prefs.time_zone.name()));
    set(
        &mut item,
        "lead_days",
        AttributeValue::L(prefs.lead_days.iter().map(n).collect()),
    );
    set(&mut item, "events", AttributeValue::M(events));
    set(&mut item, "enabled", AttributeValue::Bool(prefs.enabled));
    set(&mut item, attr::VERSION, n(version));
    item
}

/// The settings of a prefs item (recipients empty: they are items of their own). An item
/// from before recipients had states carries a `recipients` list: it is not read, since
/// nobody on it agreed to be mailed.
pub(super) fn prefs_from_item(item: &Item) -> Result<NotificationPrefs, StoreError> {
    let f = Fields::new(item);
    f.kind(kind::PREFS)?;
    let team = f.team()?;
    f.key_is(&keys::team_pk(&team), keys::PREFS_SK)?;
    let lead_days = f
        .list("lead_days")?
        .iter()
        .map(|v| v.as_n().ok().and_then(|d| d.parse::<u32>().ok()))
        .collect::<Option<Vec<_>>>()
        .ok_or_else(|| f.bad("attribute lead_days holds a non-number"))?;
    let events = f.map("events")?;
    let event = |name: &str| match events.get(name) {
        Some(AttributeValue::Bool(v)) => Ok(*v),
        _ => Err(f.bad(format!("event {name} is missing or not a boolean"))),
    };
    Ok(NotificationPrefs {
        recipients: Vec::new(),
        team_name: f.opt_s("team_name")?.map(str::to_owned),
        time_zone: f
            .opt_parsed("time_zone", |z| z.parse::<chrono_tz::Tz>().ok())?
            .unwrap_or(chrono_tz::UTC),
        lead_days,
        events: MailEvents {
            expiring: event("expiring")?,
            expired: event("expired")?,
            disconnected: event("disconnected")?,
            recovered: event("recovered")?,
        },
        enabled: f.bool("enabled")?,
        version: f.u64(attr::VERSION)?,
        team,
    })
}

pub(super) fn mail_state_str(state: MailState) -> &'static str {
    match state {
        MailState::Pending => "pending",
        MailState::Sent => "sent",
        MailState::Failed => "failed",
    }
}

fn parse_mail_state(raw: &str) -> Option<MailState> {
    [MailState::Pending, MailState::Sent, MailState::Failed]
        .into_iter()
        .find(|s| mail_state_str(*s) == raw)
}

/// A ledger entry as written by `record_pending`: pending, in the `pending` index.
pub(super) fn ledger_item(entry: &LedgerEntry, shards: u16) -> Item {
    let mut item = Item::new();
    set(
        &mut item,
        LAYOUT.partition_key,
        s(keys::team_pk(&entry.team)),
    );
    set(
        &mut item,
        LAYOUT.sort_key,
        s(keys::ledger_sk(&entry.account, entry.milestone)),
    );
    set(&mut item, attr::KIND, s(kind::LEDGER));
    set(&mut item, "team", s(entry.team.as_str()));
    set(&mut item, attr::ACCOUNT_ID, s(entry.account.as_str()));
    set(&mut item, "milestone", s(entry.milestone.key()));
    set(
        &mut item,
        attr::STATE,
        s(mail_state_str(MailState::Pending)),
    );
    set(&mut item, attr::CREATED_AT, t(entry.created_at));
    set(&mut item, attr::UPDATED_AT, t(entry.updated_at));
    set_opt(&mut item, attr::DETAIL, entry.detail.as_deref(), s);
    if !entry.sent_to.is_empty() {
        set(
            &mut item,
            attr::SENT_TO,
            AttributeValue::Ss(entry.sent_to.iter().map(|u| u.to_string()).collect()),
        );
    }
    if let Some(people) = &entry.audience {
        // A list, not a set: DynamoDB refuses an empty set, and "nobody" is a real audience.
        set(
            &mut item,
            "audience",
            AttributeValue::L(people.iter().map(|r| s(r.as_str())).collect()),
        );
    }
    let shard = keys::shard_of(entry.team.as_str(), shards);
    set(
        &mut item,
        PENDING.partition_key,
        s(keys::pending_shard_key(shard)),
    );
    set(&mut item, PENDING.sort_key, t(entry.created_at));
    item
}

pub(super) fn ledger_from_item(item: &Item) -> Result<LedgerEntry, StoreError> {
    let f = Fields::new(item);
    f.kind(kind::LEDGER)?;
    let team = f.team()?;
    let account = f.account_id()?;
    let milestone = f.parsed("milestone", Milestone::parse)?;
    f.key_is(&keys::team_pk(&team), &keys::ledger_sk(&account, milestone))?;
    Ok(LedgerEntry {
        state: f.parsed(attr::STATE, parse_mail_state)?,
        created_at: f.time(attr::CREATED_AT)?,
        updated_at: f.time(attr::UPDATED_AT)?,
        detail: f.opt_s(attr::DETAIL)?.map(str::to_owned),
        // An entry from before recipients had ids holds user ids here: they name nobody now.
        sent_to: match item.get(attr::SENT_TO) {
            None => Vec::new(),
            Some(AttributeValue::Ss(people)) => {
                let mut people: Vec<RecipientId> = people
                    .iter()
                    .filter_map(|r| RecipientId::parse(r))
                    .collect();
                people.sort();
                people
            }
            Some(_) => return Err(f.bad("sent_to is not a string set")),
        },
        audience: match f.get("audience") {
            None => None,
            Some(AttributeValue::L(people)) => Some(
                people
                    .iter()
                    .map(|r| {
                        r.as_s()
                            .ok()
                            .and_then(|r| RecipientId::parse(r))
                            .ok_or_else(|| f.bad("audience holds a bad recipient id"))
                    })
                    .collect::<Result<Vec<_>, _>>()?,
            ),
            Some(_) => return Err(f.bad("audience is not a list")),
        },
        team,
        account,
        milestone,
    })
}

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
    use crate::seal::Secret;

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
            pkce_verifier: Some(Secret::new("verifier-canary")),
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
        assert_eq!(
            read,
            OAuthState {
                id: read.id.clone(),
                ..state.clone()
            }
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
