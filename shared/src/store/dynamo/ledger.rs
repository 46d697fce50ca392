//! `Ledger`: one item per (account, milestone) mail, in the team's partition. Pending
//! entries also carry the sparse `pending` GSI keys, which `mark` removes.

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_dynamodb::config::AsyncSleep;
use aws_sdk_dynamodb::types::{AttributeValue, DeleteRequest, WriteRequest};
use chrono::{DateTime, Utc};

use super::codec::{self, attr, mail_state_str, s, t, Item};
use super::error::{backend, conditional, sdk};
use super::table::{LAYOUT, PENDING};
use super::{key, keys, names, values, DynamoStore};
use crate::domain::{AccountId, Milestone, RecipientId, TeamId};
use crate::store::{Dispatch, Ledger, LedgerEntry, MailState, StoreError};

/// The start of `t`'s UTC day.
fn start_of_day(t: DateTime<Utc>) -> DateTime<Utc> {
    t.date_naive().and_time(chrono::NaiveTime::MIN).and_utc()
}

/// BatchWriteItem takes at most 25 requests.
const BATCH: usize = 25;
/// Rounds of re-sending unprocessed deletes (throttling) before giving up.
const BATCH_ROUNDS: u32 = 8;

impl DynamoStore {
    /// Every item of `team`'s partition whose sort key starts with `prefix`, page by
    /// page (strongly consistent), optionally filtered and projected.
    pub(super) async fn query_prefix(
        &self,
        team: &TeamId,
        prefix: &str,
        only_pending: bool,
        keys_only: bool,
    ) -> Result<Vec<Item>, StoreError> {
        let mut found = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let mut names = HashMap::from([
                ("#pk".to_owned(), LAYOUT.partition_key.to_owned()),
                ("#sk".to_owned(), LAYOUT.sort_key.to_owned()),
            ]);
            let mut values = HashMap::from([
                (":pk".to_owned(), s(keys::team_pk(team))),
                (":prefix".to_owned(), s(prefix)),
            ]);
            let mut request = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("#pk = :pk AND begins_with(#sk, :prefix)")
                .consistent_read(true)
                .set_exclusive_start_key(start.take());
            if only_pending {
                names.insert("#st".into(), attr::STATE.into());
                values.insert(":pending".into(), s(mail_state_str(MailState::Pending)));
                request = request.filter_expression("#st = :pending");
            }
            if keys_only {
                request = request.projection_expression("#pk, #sk");
            }
            let out = request
                .set_expression_attribute_names(Some(names))
                .set_expression_attribute_values(Some(values))
                .send()
                .await
                .map_err(sdk)?;
            start = out.last_evaluated_key;
            found.extend(out.items.unwrap_or_default());
            if start.is_none() {
                return Ok(found);
            }
        }
    }

    /// Deletes items by key in batches of 25, re-sending what DynamoDB left unprocessed
    /// with a growing pause.
    async fn delete_keys(&self, keys: Vec<Item>) -> Result<(), StoreError> {
        let sleep = self.client.config().sleep_impl();
        let mut requests = keys
            .into_iter()
            .map(|key| {
                DeleteRequest::builder()
                    .set_key(Some(key))
                    .build()
                    .map(|d| WriteRequest::builder().delete_request(d).build())
                    .map_err(backend)
            })
            .collect::<Result<Vec<_>, _>>()?;
        let mut round = 0;
        while !requests.is_empty() {
            let rest = requests.split_off(requests.len().min(BATCH));
            let out = self
                .client
                .batch_write_item()
                .request_items(&self.table, std::mem::replace(&mut requests, rest))
                .send()
                .await
                .map_err(sdk)?;
            let unprocessed = out
                .unprocessed_items
                .and_then(|mut u| u.remove(&self.table))
                .unwrap_or_default();
            if !unprocessed.is_empty() {
                round += 1;
                if round > BATCH_ROUNDS {
                    return Err(StoreError::Backend(
                        "DynamoDB left deletes unprocessed after repeated retries".into(),
                    ));
                }
                if let Some(sleep) = &sleep {
                    sleep.sleep(Duration::from_millis(25 << round.min(6))).await;
                }
                requests.extend(unprocessed);
            }
        }
        Ok(())
    }
}

impl DynamoStore {
    /// `ADD sent_to`, only on an entry that exists and, with `created_by`, was created no
    /// later than that (a late `Send` event of yesterday's digest must not mark today's
    /// entry of the same once-a-day milestone as received).
    async fn add_recipient_if(
        &self,
        team: &TeamId,
        account: &AccountId,
        milestone: Milestone,
        recipient: &RecipientId,
        created_by: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut names = HashMap::from([
            ("#pk".to_owned(), LAYOUT.partition_key.to_owned()),
            ("#to".to_owned(), attr::SENT_TO.to_owned()),
            ("#ua".to_owned(), attr::UPDATED_AT.to_owned()),
        ]);
        let mut values = HashMap::from([
            (
                ":to".to_owned(),
                AttributeValue::Ss(vec![recipient.to_string()]),
            ),
            (":now".to_owned(), t(now)),
        ]);
        let mut condition = "attribute_exists(#pk)".to_owned();
        if let Some(at) = created_by {
            names.insert("#c".into(), attr::CREATED_AT.into());
            values.insert(":by".into(), t(at));
            condition.push_str(" AND #c <= :by");
        }
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(
                keys::team_pk(team),
                &keys::ledger_sk(account, milestone),
            )))
            .update_expression("ADD #to :to SET #ua = :now")
            .condition_expression(condition)
            .set_expression_attribute_names(Some(names))
            .set_expression_attribute_values(Some(values))
            .send()
            .await;
        match conditional(result)? {
            Some(_) => Ok(()),
            None => Err(StoreError::NotFound),
        }
    }
}

#[async_trait]
impl Ledger for DynamoStore {
    async fn record_pending(&self, entry: &LedgerEntry) -> Result<bool, StoreError> {
        let mut request = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(codec::ledger_item(entry, self.shards)));
        request = if entry.milestone.once_a_day() {
            // An entry from an earlier day gives way: one mail of this kind a day.
            request
                .condition_expression("attribute_not_exists(#pk) OR #c < :day")
                .set_expression_attribute_names(names([
                    ("#pk", LAYOUT.partition_key),
                    ("#c", attr::CREATED_AT),
                ]))
                .set_expression_attribute_values(values([(
                    ":day",
                    t(start_of_day(entry.created_at)),
                )]))
        } else {
            request
                .condition_expression("attribute_not_exists(#pk)")
                .set_expression_attribute_names(names([("#pk", LAYOUT.partition_key)]))
        };
        let result = request.send().await;
        match conditional(result)? {
            Some(_) => Ok(true),
            None => Ok(false),
        }
    }

    /// Sets the state (leaving `pending` drops the entry from the pending index, going
    /// back to it puts the entry there again). `NotFound` if there is no such entry.
    async fn mark(
        &self,
        team: &TeamId,
        account: &AccountId,
        milestone: Milestone,
        state: MailState,
        detail: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut set = vec!["#st = :st", "#ua = :now"];
        let mut remove = Vec::new();
        let mut names = HashMap::from([
            ("#pk".to_owned(), LAYOUT.partition_key.to_owned()),
            ("#st".to_owned(), attr::STATE.to_owned()),
            ("#ua".to_owned(), attr::UPDATED_AT.to_owned()),
            ("#ps".to_owned(), PENDING.partition_key.to_owned()),
            ("#pa".to_owned(), PENDING.sort_key.to_owned()),
            ("#d".to_owned(), attr::DETAIL.to_owned()),
        ]);
        let mut values: HashMap<String, AttributeValue> = HashMap::from([
            (":st".to_owned(), s(mail_state_str(state))),
            (":now".to_owned(), t(now)),
        ]);
        if state == MailState::Pending {
            let shard = keys::shard_of(team.as_str(), self.shards);
            set.extend(["#ps = :ps", "#pa = #ca"]);
            names.insert("#ca".into(), attr::CREATED_AT.into());
            values.insert(":ps".into(), s(keys::pending_shard_key(shard)));
        } else {
            remove.extend(["#ps", "#pa"]);
        }
        match detail {
            Some(d) => {
                set.push("#d = :d");
                values.insert(":d".into(), s(d));
            }
            None => remove.push("#d"),
        }
        let mut update = format!("SET {}", set.join(", "));
        if !remove.is_empty() {
            update.push_str(&format!(" REMOVE {}", remove.join(", ")));
        }
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(
                keys::team_pk(team),
                &keys::ledger_sk(account, milestone),
            )))
            .update_expression(update)
            .condition_expression("attribute_exists(#pk)")
            .set_expression_attribute_names(Some(names))
            .set_expression_attribute_values(Some(values))
            .send()
            .await;
        match conditional(result)? {
            Some(_) => Ok(()),
            None => Err(StoreError::NotFound),
        }
    }

    /// A strongly consistent Query of the team's `LEDGER#` items, filtered to pending.
    async fn pending_for_team(&self, team: &TeamId) -> Result<Vec<LedgerEntry>, StoreError> {
        self.query_prefix(team, keys::LEDGER_PREFIX, true, false)
            .await?
            .iter()
            .map(codec::ledger_from_item)
            .collect()
    }

    async fn add_recipient(
        &self,
        team: &TeamId,
        account: &AccountId,
        milestone: Milestone,
        recipient: &RecipientId,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.add_recipient_if(team, account, milestone, recipient, None, now)
            .await
    }

    async fn add_dispatched(
        &self,
        team: &TeamId,
        account: &AccountId,
        milestone: Milestone,
        recipient: &RecipientId,
        dispatched_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.add_recipient_if(
            team,
            account,
            milestone,
            recipient,
            Some(dispatched_at),
            now,
        )
        .await
    }

    async fn told_broken(
        &self,
        team: &TeamId,
        account: &AccountId,
    ) -> Result<Vec<RecipientId>, StoreError> {
        self.told_broken_of(team, account).await
    }

    async fn open_dispatch(&self, dispatch: &Dispatch) -> Result<(), StoreError> {
        self.put_dispatch(dispatch).await
    }

    async fn dispatches(&self, team: &TeamId) -> Result<Vec<Dispatch>, StoreError> {
        self.team_dispatches(team).await
    }

    async fn confirm_dispatch(
        &self,
        team: &TeamId,
        id: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<Dispatch>, StoreError> {
        self.confirm_dispatch_item(team, id, now).await
    }

    /// A Query of one shard of the `pending` GSI (keys only), teams deduplicated.
    async fn teams_with_pending(&self, shard: u16) -> Result<Vec<TeamId>, StoreError> {
        let mut teams = BTreeSet::new();
        {
            let mut start: Option<Item> = None;
            loop {
                let out = self
                    .client
                    .query()
                    .table_name(&self.table)
                    .index_name(PENDING.name)
                    .key_condition_expression("#ps = :ps")
                    .projection_expression("#pk")
                    .set_expression_attribute_names(names([
                        ("#ps", PENDING.partition_key),
                        ("#pk", LAYOUT.partition_key),
                    ]))
                    .set_expression_attribute_values(values([(
                        ":ps",
                        s(keys::pending_shard_key(shard)),
                    )]))
                    .set_exclusive_start_key(start.take())
                    .send()
                    .await
                    .map_err(sdk)?;
                for item in out.items() {
                    teams.insert(codec::team_of_pk(item)?);
                }
                start = out.last_evaluated_key;
                if start.is_none() {
                    break;
                }
            }
        }
        Ok(teams.into_iter().collect())
    }

    /// Reads the account's entries and deletes all but today's once-a-day ones that went
    /// out (a pending one told nobody: it goes, so nobody hears of a breakage already
    /// fixed).
    async fn clear_for_reconnect(
        &self,
        team: &TeamId,
        account: &AccountId,
        now: DateTime<Utc>,
    ) -> Result<u32, StoreError> {
        let found = self
            .query_prefix(team, &keys::ledger_account_prefix(account), false, false)
            .await?;
        let today = start_of_day(now);
        let doomed: Vec<Item> = found
            .into_iter()
            .filter(|item| match codec::ledger_from_item(item) {
                Ok(e) => {
                    !(e.milestone.once_a_day()
                        && e.created_at >= today
                        && e.state != MailState::Pending)
                }
                // Unreadable: it goes (it could never be mailed anyway).
                Err(_) => true,
            })
            .filter_map(|item| {
                let pk = item.get(LAYOUT.partition_key)?.clone();
                let sk = item.get(LAYOUT.sort_key)?.clone();
                Some(Item::from([
                    (LAYOUT.partition_key.to_owned(), pk),
                    (LAYOUT.sort_key.to_owned(), sk),
                ]))
            })
            .collect();
        let count = u32::try_from(doomed.len()).unwrap_or(u32::MAX);
        self.delete_keys(doomed).await?;
        Ok(count)
    }

    async fn clear_account(&self, team: &TeamId, account: &AccountId) -> Result<u32, StoreError> {
        let found = self
            .query_prefix(team, &keys::ledger_account_prefix(account), false, true)
            .await?;
        let count = u32::try_from(found.len()).unwrap_or(u32::MAX);
        self.delete_keys(found).await?;
        Ok(count)
    }
}
