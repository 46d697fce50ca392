//! Dispatches: one item per digest handed to SES, in the team's partition, gone (TTL) a week
//! later; and who was told an account broke (read from its ledger entries).

use std::collections::BTreeSet;

use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};
use chrono::{DateTime, Duration, Utc};

use super::codec::{self, attr, kind, n, s, set, set_opt, t, Fields, Item};
use super::error::conditional;
use super::keys;
use super::table::LAYOUT;
use super::{key, names, values, DynamoStore};
use crate::domain::{AccountId, Milestone, RecipientId, TeamId};
use crate::store::{Dispatch, StoreError};

/// How long a dispatch is kept: far past any rerun that could need it.
const KEPT: Duration = Duration::days(7);

fn dispatch_sk(id: &str) -> String {
    format!("{}{id}", keys::DISPATCH_PREFIX)
}

fn dispatch_item(d: &Dispatch) -> Item {
    let mut item = Item::new();
    set(&mut item, LAYOUT.partition_key, s(keys::team_pk(&d.team)));
    set(&mut item, LAYOUT.sort_key, s(dispatch_sk(&d.id)));
    set(&mut item, attr::KIND, s(kind::DISPATCH));
    set(&mut item, "team", s(d.team.as_str()));
    set(&mut item, "dispatch_id", s(&d.id));
    set(&mut item, "recipient_id", s(d.recipient.as_str()));
    set(
        &mut item,
        "entries",
        AttributeValue::L(
            d.entries
                .iter()
                .map(|(account, milestone)| {
                    AttributeValue::M(Item::from([
                        (attr::ACCOUNT_ID.to_owned(), s(account.as_str())),
                        ("milestone".to_owned(), s(milestone.key())),
                    ]))
                })
                .collect(),
        ),
    );
    set(&mut item, attr::CREATED_AT, t(d.created_at));
    set_opt(&mut item, "confirmed_at", d.confirmed_at, t);
    set(
        &mut item,
        LAYOUT.ttl_attribute,
        n((d.created_at + KEPT).timestamp()),
    );
    item
}

fn dispatch_from_item(item: &Item) -> Result<Dispatch, StoreError> {
    let f = Fields::new(item);
    f.kind(kind::DISPATCH)?;
    let team = f.team()?;
    let id = f.s("dispatch_id")?.to_owned();
    f.key_is(&keys::team_pk(&team), &dispatch_sk(&id))?;
    let entries = f
        .list("entries")?
        .iter()
        .map(|e| {
            let m = e.as_m().map_err(|_| f.bad("an entry is not a map"))?;
            let e = Fields::new(m);
            Ok((
                e.parsed(attr::ACCOUNT_ID, |a| AccountId::parse(a).ok())?,
                e.parsed("milestone", Milestone::parse)?,
            ))
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    Ok(Dispatch {
        recipient: f.parsed("recipient_id", RecipientId::parse)?,
        entries,
        created_at: f.time(attr::CREATED_AT)?,
        confirmed_at: f.opt_time("confirmed_at")?,
        team,
        id,
    })
}

impl DynamoStore {
    pub(super) async fn put_dispatch(&self, d: &Dispatch) -> Result<(), StoreError> {
        let request = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(dispatch_item(d)))
            .condition_expression("attribute_not_exists(#pk)")
            .set_expression_attribute_names(names([("#pk", LAYOUT.partition_key)]));
        match conditional(request.send().await)? {
            Some(_) => Ok(()),
            None => Err(StoreError::Conflict),
        }
    }

    pub(super) async fn team_dispatches(&self, team: &TeamId) -> Result<Vec<Dispatch>, StoreError> {
        self.query_prefix(team, keys::DISPATCH_PREFIX, false, false)
            .await?
            .iter()
            .map(dispatch_from_item)
            .collect()
    }

    /// Sets `confirmed_at` once (a redelivered event keeps the first time) and returns the
    /// dispatch as stored.
    pub(super) async fn confirm_dispatch_item(
        &self,
        team: &TeamId,
        id: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<Dispatch>, StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(keys::team_pk(team), &dispatch_sk(id))))
            .update_expression("SET #c = if_not_exists(#c, :now)")
            .condition_expression("attribute_exists(#pk)")
            .set_expression_attribute_names(names([
                ("#pk", LAYOUT.partition_key),
                ("#c", "confirmed_at"),
            ]))
            .set_expression_attribute_values(values([(":now", t(now))]))
            .return_values(ReturnValue::AllNew)
            .send()
            .await;
        match conditional(result)? {
            Some(out) => out.attributes.as_ref().map(dispatch_from_item).transpose(),
            None => Ok(None),
        }
    }

    /// The recipients on the account's disconnected and expired entries.
    pub(super) async fn told_broken_of(
        &self,
        team: &TeamId,
        account: &AccountId,
    ) -> Result<Vec<RecipientId>, StoreError> {
        let mut told = BTreeSet::new();
        for item in self
            .query_prefix(team, &keys::ledger_account_prefix(account), false, false)
            .await?
        {
            // An unreadable entry told nobody we can name.
            if let Ok(entry) = codec::ledger_from_item(&item) {
                if matches!(
                    entry.milestone,
                    Milestone::Disconnected | Milestone::Expired
                ) {
                    told.extend(entry.sent_to);
                }
            }
        }
        Ok(told.into_iter().collect())
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn a_dispatch_round_trips_and_expires_a_week_later() {
        let at = Utc.with_ymd_and_hms(2026, 12, 1, 10, 0, 0).unwrap();
        let d = Dispatch {
            team: TeamId::parse("t1").unwrap(),
            id: "0123abcd".into(),
            recipient: RecipientId::parse("r0123456789abcdef0123").unwrap(),
            entries: vec![
                (
                    AccountId::parse("a1").unwrap(),
                    Milestone::Expiring { days: 7 },
                ),
                (AccountId::parse("a2").unwrap(), Milestone::Disconnected),
            ],
            created_at: at,
            confirmed_at: None,
        };
        let item = dispatch_item(&d);
        assert_eq!(dispatch_from_item(&item).unwrap(), d);
        assert_eq!(
            item.get(LAYOUT.ttl_attribute),
            Some(&n((at + Duration::days(7)).timestamp()))
        );
    }
}
