//! `Leases`: one item per lease, taken with a conditional put, given back with a
//! conditional delete; a completed lease stays as a tombstone (`done`) for a week.

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};

use super::codec::{attr, kind, n, s, t, Item};
use super::error::conditional;
use super::table::LAYOUT;
use super::{key, keys, names, values, DynamoStore};
use crate::store::{LeaseKey, Leases, StoreError};

/// How long an expired, uncompleted lease item stays before DynamoDB's TTL removes it
/// (housekeeping only: an expired lease can be taken whether or not it is still there).
const CLEANUP_AFTER: Duration = Duration::days(1);

/// How much longer a completed lease stays, so a scheduled run delivered again (hours
/// later at most) finds it done.
const TOMBSTONE_FOR: Duration = Duration::days(7);

fn lease_item(key: &LeaseKey, holder: &str, expires_at: DateTime<Utc>) -> Item {
    Item::from([
        (LAYOUT.partition_key.to_owned(), s(keys::lease_pk(key))),
        (LAYOUT.sort_key.to_owned(), s(keys::LEASE_SK)),
        (attr::KIND.to_owned(), s(kind::LEASE)),
        (attr::HOLDER.to_owned(), s(holder)),
        (attr::EXPIRES_AT.to_owned(), t(expires_at)),
        (
            LAYOUT.ttl_attribute.to_owned(),
            n((expires_at + CLEANUP_AFTER).timestamp()),
        ),
    ])
}

#[async_trait]
impl Leases for DynamoStore {
    /// See [`DynamoStore::take`].
    async fn acquire(
        &self,
        key: &LeaseKey,
        holder: &str,
        now: DateTime<Utc>,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        self.take(key, holder, now, ttl, false).await
    }

    async fn resume(
        &self,
        key: &LeaseKey,
        holder: &str,
        now: DateTime<Utc>,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        self.take(key, holder, now, ttl, true).await
    }

    /// Deletes the lease if `holder` holds it and it is not completed; otherwise (taken
    /// over after expiry, already given back, completed) nothing happens.
    async fn release(&self, key: &LeaseKey, holder: &str) -> Result<(), StoreError> {
        let result = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(self::key(keys::lease_pk(key), keys::LEASE_SK)))
            .condition_expression("#holder = :holder AND attribute_not_exists(#done)")
            .set_expression_attribute_names(names([
                ("#holder", attr::HOLDER),
                ("#done", attr::DONE),
            ]))
            .set_expression_attribute_values(values([(":holder", s(holder))]))
            .send()
            .await;
        match conditional(result)? {
            Some(_) => Ok(()),
            None => Ok(()),
        }
    }

    /// Marks the lease done and keeps it a week longer. `Conflict` if `holder` does not
    /// hold it (its lease ran out and another holder took it, or it was never taken):
    /// the caller learns its work may have been done twice.
    async fn complete(&self, key: &LeaseKey, holder: &str) -> Result<(), StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(self::key(keys::lease_pk(key), keys::LEASE_SK)))
            .update_expression("SET #done = :true, #ttl = #ttl + :keep")
            .condition_expression("#holder = :holder")
            .set_expression_attribute_names(names([
                ("#done", attr::DONE),
                ("#ttl", LAYOUT.ttl_attribute),
                ("#holder", attr::HOLDER),
            ]))
            .set_expression_attribute_values(values([
                (":true", aws_sdk_dynamodb::types::AttributeValue::Bool(true)),
                (":keep", n(TOMBSTONE_FOR.num_seconds())),
                (":holder", s(holder)),
            ]))
            .send()
            .await;
        match conditional(result)? {
            Some(_) => Ok(()),
            None => Err(StoreError::Conflict),
        }
    }
}

impl DynamoStore {
    /// One conditional PutItem: no lease item there, or the one there is past its expiry
    /// (at `now`) and not completed, or (`same_holder_may_resume`) it is still this
    /// holder's and not completed. The time check uses the fixed-width time strings, which
    /// compare like times.
    async fn take(
        &self,
        key: &LeaseKey,
        holder: &str,
        now: DateTime<Utc>,
        ttl: Duration,
        same_holder_may_resume: bool,
    ) -> Result<bool, StoreError> {
        let (condition, values) = if same_holder_may_resume {
            (
                "attribute_not_exists(#pk) OR (attribute_not_exists(#done) AND (#exp <= :now OR #holder = :holder))",
                values([(":now", t(now)), (":holder", s(holder))]),
            )
        } else {
            (
                "attribute_not_exists(#pk) OR (#exp <= :now AND attribute_not_exists(#done))",
                values([(":now", t(now))]),
            )
        };
        let mut names = names([
            ("#pk", LAYOUT.partition_key),
            ("#exp", attr::EXPIRES_AT),
            ("#done", attr::DONE),
        ]);
        if same_holder_may_resume {
            if let Some(names) = names.as_mut() {
                names.insert("#holder".to_owned(), attr::HOLDER.to_owned());
            }
        }
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(lease_item(key, holder, now + ttl)))
            .condition_expression(condition)
            .set_expression_attribute_names(names)
            .set_expression_attribute_values(values)
            .send()
            .await;
        match conditional(result)? {
            Some(_) => Ok(true),
            None => Ok(false),
        }
    }
}
