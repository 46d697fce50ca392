//! The account item (with its index keys) and its external-id item.

use super::*;

pub(super) fn parse_status(raw: &str) -> Option<Status> {
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
pub(in crate::store::dynamo) fn account_item(account: &Account, shards: u16) -> Item {
    let a = account;
    let mut item = Item::new();
    set_identity(&mut item, a);
    set_tokens(&mut item, a);
    set_health(&mut item, a);
    set(&mut item, "connected_at", t(a.connected_at));
    set(&mut item, attr::UPDATED_AT, t(a.updated_at));
    set_opt(&mut item, "noted", a.noted, |m| s(m.key()));
    if let Some(last) = a.last_change {
        set(&mut item, "last_change_kind", s(last.kind.as_str()));
        set(&mut item, "last_change_at", t(last.at));
    }
    set_index_keys(&mut item, a, shards);
    set(&mut item, attr::VERSION, n(a.version));
    item
}

/// The item's key and what the account is: team, id, the external account it connects
/// and who connected it.
fn set_identity(item: &mut Item, a: &Account) {
    set(item, LAYOUT.partition_key, s(keys::team_pk(&a.team)));
    set(item, LAYOUT.sort_key, s(keys::account_sk(&a.id)));
    set(item, attr::KIND, s(kind::ACCOUNT));
    set(item, "team", s(a.team.as_str()));
    set(item, attr::ACCOUNT_ID, s(a.id.as_str()));
    set(item, attr::PROVIDER, s(a.provider.id()));
    set(item, attr::EXTERNAL_ID, s(&a.external_id));
    set(item, "display_name", s(&a.display_name));
    set_opt(item, "picture_url", a.picture_url.as_deref(), s);
    set(
        item,
        "scopes",
        AttributeValue::L(a.scopes.iter().map(s).collect()),
    );
    set(item, "connected_by", s(a.connected_by.as_str()));
}

/// The sealed tokens, their lifetimes, and the grant they stand on (the `by_grant` key).
fn set_tokens(item: &mut Item, a: &Account) {
    set(item, "access_token", s(a.tokens.access.as_stored()));
    set_opt(
        item,
        "refresh_token",
        a.tokens.refresh.as_ref(),
        |r: &SealedToken| s(r.as_stored()),
    );
    set(item, "access_issued_at", t(a.access_issued_at));
    set_opt(item, "access_expires_at", a.access_expires_at, t);
    set_opt(item, "refresh_expires_at", a.refresh_expires_at, t);
    set_opt(item, "data_access_expires_at", a.data_access_expires_at, t);
    set_opt(item, BY_GRANT.partition_key, a.grant_owner.as_deref(), s);
}

/// How the connection is doing: broken or not, failed days, last check and refresh.
fn set_health(item: &mut Item, a: &Account) {
    if let Some(b) = a.broken {
        set(item, "broken_status", s(b.status.as_str()));
        set_opt(item, "broken_reason", b.reason, |r| s(r.as_str()));
        set(item, "broken_since", t(b.since));
    }
    set(item, "failure_days", n(a.failures.days));
    set_opt(item, "failure_first_at", a.failures.first_at, t);
    set_opt(
        item,
        "failure_last_counted_on",
        a.failures.last_counted_on,
        |d| s(d.format("%Y-%m-%d").to_string()),
    );
    set_opt(item, "last_checked_at", a.last_checked_at, t);
    set_opt(item, "last_refreshed_at", a.last_refreshed_at, t);
}

/// The `due` index keys when the account is due at all, and the `by_urgency` key.
fn set_index_keys(item: &mut Item, a: &Account, shards: u16) {
    if let Some(due) = a.next_due_at {
        // By team: a shard holds whole teams, so one sweep invocation mails a team once.
        let shard = keys::shard_of(a.team.as_str(), shards);
        set(item, DUE.partition_key, s(keys::due_shard_key(shard)));
        set(item, DUE.sort_key, t(due));
    }
    set(item, BY_URGENCY.sort_key, s(keys::urgency(a)));
}

pub(in crate::store::dynamo) fn account_from_item(item: &Item) -> Result<Account, StoreError> {
    let f = Fields::new(item);
    f.kind(kind::ACCOUNT)?;
    let team = f.team()?;
    let id = f.account_id()?;
    f.key_is(&keys::team_pk(&team), &keys::account_sk(&id))?;
    let scopes = scopes_of(&f)?;
    let broken = broken_of(&f)?;
    let due_at = due_at_of(&f)?;
    Ok(Account {
        provider: f.provider()?,
        external_id: f.s(attr::EXTERNAL_ID)?.to_owned(),
        display_name: f.s("display_name")?.to_owned(),
        picture_url: f.opt_s("picture_url")?.map(str::to_owned),
        scopes,
        connected_by: f.parsed("connected_by", |v| UserId::parse(v).ok())?,
        tokens: tokens_of(&f)?,
        access_issued_at: f.time("access_issued_at")?,
        access_expires_at: f.opt_time("access_expires_at")?,
        refresh_expires_at: f.opt_time("refresh_expires_at")?,
        data_access_expires_at: f.opt_time("data_access_expires_at")?,
        grant_owner: f.opt_s(BY_GRANT.partition_key)?.map(str::to_owned),
        broken,
        failures: failures_of(&f)?,
        last_checked_at: f.opt_time("last_checked_at")?,
        last_refreshed_at: f.opt_time("last_refreshed_at")?,
        connected_at: f.time("connected_at")?,
        updated_at: f.time(attr::UPDATED_AT)?,
        next_due_at: due_at,
        last_change: last_change_of(&f)?,
        noted: f.opt_parsed("noted", Milestone::parse)?,
        version: f.u64(attr::VERSION)?,
        team,
        id,
    })
}

fn scopes_of(f: &Fields<'_>) -> Result<Vec<String>, StoreError> {
    f.list("scopes")?
        .iter()
        .map(|v| v.as_s().cloned())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| f.bad("attribute scopes holds a non-string"))
}

/// Set when `broken_status` is; then its reason and since when.
fn broken_of(f: &Fields<'_>) -> Result<Option<Broken>, StoreError> {
    match f.opt_parsed("broken_status", parse_status)? {
        None => Ok(None),
        Some(status) => Ok(Some(Broken {
            status,
            reason: f.opt_parsed("broken_reason", Reason::parse)?,
            since: f.time("broken_since")?,
        })),
    }
}

/// The `due` index sort key; an item with it must have the index's partition key too.
fn due_at_of(f: &Fields<'_>) -> Result<Option<DateTime<Utc>>, StoreError> {
    let due_at = f.opt_time(DUE.sort_key)?;
    if due_at.is_some() && f.opt_s(DUE.partition_key)?.is_none() {
        return Err(f.bad(format!("attribute {} is missing", DUE.partition_key)));
    }
    Ok(due_at)
}

fn tokens_of(f: &Fields<'_>) -> Result<SealedTokens, StoreError> {
    Ok(SealedTokens {
        access: SealedToken::from_stored(f.s("access_token")?.to_owned()),
        refresh: f
            .opt_s("refresh_token")?
            .map(|r| SealedToken::from_stored(r.to_owned())),
    })
}

fn failures_of(f: &Fields<'_>) -> Result<Failures, StoreError> {
    Ok(Failures {
        days: u32::try_from(f.u64("failure_days")?)
            .map_err(|_| f.bad("attribute failure_days is out of range"))?,
        first_at: f.opt_time("failure_first_at")?,
        last_counted_on: f.opt_parsed("failure_last_counted_on", parse_date)?,
    })
}

/// Set when `last_change_kind` is; then its time.
fn last_change_of(f: &Fields<'_>) -> Result<Option<LastChange>, StoreError> {
    match f.opt_parsed("last_change_kind", HistoryKind::parse)? {
        None => Ok(None),
        Some(kind) => Ok(Some(LastChange {
            kind,
            at: f.time("last_change_at")?,
        })),
    }
}

/// The item that makes (team, provider, external id) unique and points at the account.
pub(in crate::store::dynamo) fn external_item(account: &Account) -> Item {
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

pub(in crate::store::dynamo) fn external_target(item: &Item) -> Result<AccountId, StoreError> {
    let f = Fields::new(item);
    f.kind(kind::EXTERNAL_ID)?;
    f.account_id()
}
