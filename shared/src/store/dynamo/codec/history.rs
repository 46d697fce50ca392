//! The history item, in the team's partition beside the account.

use super::account::parse_status;
use super::*;

/// A history entry's item, in the team's partition beside the account; DynamoDB's TTL
/// removes it after [`crate::domain::HISTORY_KEPT`]. The table's stream carries it to the
/// events publisher.
pub(in crate::store::dynamo) fn history_item(e: &HistoryEntry) -> Item {
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

pub(in crate::store::dynamo) fn history_from_item(item: &Item) -> Result<HistoryEntry, StoreError> {
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
