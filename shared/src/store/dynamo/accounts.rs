//! `AccountStore` and `DueIndex`.
//!
//! An account is two items written and removed together: the account itself and the
//! `EXTERNAL#{provider}#{external id}` item that keeps one external account connected
//! once per team (and answers `find_by_external_id` with a GetItem).

use async_trait::async_trait;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::types::{
    AttributeValue, Delete, Put, ReturnValuesOnConditionCheckFailure, TransactWriteItem,
};
use chrono::{DateTime, Utc};

use super::codec::{self, attr, n, s, t, Fields, Item};
use super::error::{backend, cancelled, sdk, Cancelled};
use super::table::{BY_GRANT, BY_URGENCY, DUE, LAYOUT};
use super::{cursor, key, keys, names, page_limit, values, DynamoStore};
use crate::domain::{Account, AccountId, HistoryEntry, LastChange, Provider, TeamId};
use crate::store::{AccountStore, Cursor, DueIndex, DueItem, LeaseKey, Page, StoreError};

/// How often `delete_account` re-reads after losing a race before it gives up.
const DELETE_ATTEMPTS: usize = 3;

/// Condition: the stored account is still at `:v` and names the same external account.
const SAME_VERSION_AND_IDENTITY: &str = "#v = :v AND #prov = :prov AND #ext = :ext";

impl DynamoStore {
    /// The items `create_account` writes for a new account (the account at version 1 and
    /// its external-id item), for bulk loads through BatchWriteItem where the caller knows
    /// every id is new: no condition guards them. The benchmarks seed 100,000 accounts so.
    pub fn new_account_items(
        &self,
        account: &Account,
    ) -> [std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue>; 2] {
        let stored = Account {
            version: 1,
            ..account.clone()
        };
        [
            codec::account_item(&stored, self.shards),
            codec::external_item(&stored),
        ]
    }

    fn put_if_absent(&self, item: Item) -> Result<TransactWriteItem, StoreError> {
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(#pk)")
            .set_expression_attribute_names(names([("#pk", LAYOUT.partition_key)]))
            .build()
            .map_err(backend)?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    /// Deletes the uniqueness item unless it belongs to another account.
    fn delete_external(
        &self,
        team: &TeamId,
        provider: Provider,
        external_id: &str,
        owner: &AccountId,
    ) -> Result<TransactWriteItem, StoreError> {
        let delete = Delete::builder()
            .table_name(&self.table)
            .set_key(Some(key(
                keys::team_pk(team),
                &keys::external_sk(provider, external_id),
            )))
            .condition_expression("attribute_not_exists(#pk) OR #aid = :aid")
            .set_expression_attribute_names(names([
                ("#pk", LAYOUT.partition_key),
                ("#aid", attr::ACCOUNT_ID),
            ]))
            .set_expression_attribute_values(values([(":aid", s(owner.as_str()))]))
            .build()
            .map_err(backend)?;
        Ok(TransactWriteItem::builder().delete(delete).build())
    }

    /// An update that changes the provider or external id: the account and both
    /// uniqueness items move in one transaction.
    async fn update_identity(&self, old: &Account, next: &Account) -> Result<Account, StoreError> {
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(codec::account_item(next, self.shards)))
            .condition_expression(SAME_VERSION_AND_IDENTITY)
            .set_expression_attribute_names(identity_names())
            .set_expression_attribute_values(values([
                (":v", n(old.version)),
                (":prov", s(old.provider.id())),
                (":ext", s(&old.external_id)),
            ]))
            .build()
            .map_err(backend)?;
        let result = self
            .client
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().put(put).build())
            .transact_items(self.delete_external(
                &old.team,
                old.provider,
                &old.external_id,
                &old.id,
            )?)
            .transact_items(self.put_if_absent(codec::external_item(next))?)
            .send()
            .await;
        match result {
            Ok(_) => Ok(next.clone()),
            Err(err) => match cancelled(err)? {
                // The new external account is already connected to another account.
                Cancelled::Condition(2) => Err(StoreError::AlreadyExists),
                Cancelled::Condition(_) | Cancelled::Contention => Err(StoreError::Conflict),
            },
        }
    }
}

fn identity_names() -> Option<std::collections::HashMap<String, String>> {
    names([
        ("#v", attr::VERSION),
        ("#prov", attr::PROVIDER),
        ("#ext", attr::EXTERNAL_ID),
    ])
}

fn items_read(scanned: i32) -> u64 {
    u64::try_from(scanned).unwrap_or(0)
}

#[async_trait]
impl AccountStore for DynamoStore {
    /// Writes the account and its uniqueness item in one transaction. `AlreadyExists` if
    /// the id is taken in the team, or the team already has this provider's external
    /// account connected (under another id).
    async fn create_account(&self, account: &Account) -> Result<Account, StoreError> {
        self.create_account_with(account, &[]).await
    }

    async fn create_account_with(
        &self,
        account: &Account,
        history: &[HistoryEntry],
    ) -> Result<Account, StoreError> {
        let stored = Account {
            version: 1,
            last_change: history.last().map(LastChange::of).or(account.last_change),
            ..account.clone()
        };
        let mut request = self
            .client
            .transact_write_items()
            .transact_items(self.put_if_absent(codec::account_item(&stored, self.shards))?)
            .transact_items(self.put_if_absent(codec::external_item(&stored))?);
        for entry in history {
            request = request.transact_items(self.put_if_absent(codec::history_item(entry))?);
        }
        let result = request.send().await;
        match result {
            Ok(_) => Ok(stored),
            Err(err) => match cancelled(err)? {
                Cancelled::Condition(_) => Err(StoreError::AlreadyExists),
                Cancelled::Contention => Err(StoreError::Conflict),
            },
        }
    }

    async fn get_account(
        &self,
        team: &TeamId,
        id: &AccountId,
    ) -> Result<Option<Account>, StoreError> {
        self.get_item(keys::team_pk(team), &keys::account_sk(id))
            .await?
            .map(|item| codec::account_from_item(&item))
            .transpose()
    }

    async fn find_by_external_id(
        &self,
        team: &TeamId,
        provider: Provider,
        external_id: &str,
    ) -> Result<Option<Account>, StoreError> {
        let Some(pointer) = self
            .get_item(
                keys::team_pk(team),
                &keys::external_sk(provider, external_id),
            )
            .await?
        else {
            return Ok(None);
        };
        let id = codec::external_target(&pointer)?;
        let account = self.get_account(team, &id).await?;
        // Deleted or moved between the two reads: not connected (any more).
        Ok(account.filter(|a| a.provider == provider && a.external_id == external_id))
    }

    /// `Select: COUNT` queries of the team's account items (keys only are read), page after
    /// page until `up_to` is reached.
    async fn count_accounts(&self, team: &TeamId, up_to: u64) -> Result<u64, StoreError> {
        let mut count = 0u64;
        let mut start = None;
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("#pk = :pk AND begins_with(#sk, :accounts)")
                .set_expression_attribute_names(names([
                    ("#pk", LAYOUT.partition_key),
                    ("#sk", LAYOUT.sort_key),
                ]))
                .set_expression_attribute_values(values([
                    (":pk", s(keys::team_pk(team))),
                    (":accounts", s(keys::ACCOUNT_PREFIX)),
                ]))
                .select(aws_sdk_dynamodb::types::Select::Count)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(sdk)?;
            count += u64::try_from(out.count()).unwrap_or(0);
            match out.last_evaluated_key() {
                Some(last) if count < up_to => start = Some(last.clone()),
                _ => return Ok(count),
            }
        }
    }

    /// One Scan page: account items whose access or refresh envelope does not start with
    /// `tw1.{key_id}.`. Unreadable items are left out (logged), as in the listing.
    async fn sealed_with_other_keys(
        &self,
        key_id: &str,
        limit: u32,
        cursor: Option<&Cursor>,
    ) -> Result<Page<Account>, StoreError> {
        let start = cursor.map(cursor::scan_start).transpose()?;
        let out = self
            .client
            .scan()
            .table_name(&self.table)
            .filter_expression(
                "#kind = :account AND (NOT begins_with(#access, :prefix) OR (attribute_exists(#refresh) AND NOT begins_with(#refresh, :prefix)))",
            )
            .set_expression_attribute_names(names([
                ("#kind", attr::KIND),
                ("#access", "access_token"),
                ("#refresh", "refresh_token"),
            ]))
            .set_expression_attribute_values(values([
                (":account", s(codec::kind::ACCOUNT)),
                (":prefix", s(crate::seal::envelope_prefix(key_id))),
            ]))
            .limit(page_limit(limit))
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(sdk)?;
        let (items, skipped) = readable_accounts(out.items(), "not re-sealed");
        let next = match out.last_evaluated_key() {
            Some(last) => Some(cursor::scan_cursor(last)?),
            None => None,
        };
        Ok(Page {
            items,
            next,
            items_read: items_read(out.scanned_count()),
            skipped,
        })
    }

    /// One Query of the `by_grant` GSI (keys only): at most two keys are read, enough to
    /// find one that is not this account.
    async fn others_on_grant(
        &self,
        grant_owner: &str,
        team: &TeamId,
        id: &AccountId,
    ) -> Result<bool, StoreError> {
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(BY_GRANT.name)
            .key_condition_expression("#g = :g")
            .set_expression_attribute_names(names([("#g", BY_GRANT.partition_key)]))
            .set_expression_attribute_values(values([(":g", s(grant_owner))]))
            .limit(2)
            .send()
            .await
            .map_err(sdk)?;
        let own = (keys::team_pk(team), keys::account_sk(id));
        Ok(out.items().iter().any(|item| {
            let key = |name: &str| match item.get(name) {
                Some(AttributeValue::S(v)) => v.as_str(),
                _ => "",
            };
            (key(LAYOUT.partition_key), key(LAYOUT.sort_key)) != (own.0.as_str(), own.1.as_str())
        }))
    }

    /// One Query of the `by_urgency` LSI (strongly consistent, so an account connected a
    /// moment ago is listed).
    async fn list_accounts(
        &self,
        team: &TeamId,
        limit: u32,
        cursor: Option<&Cursor>,
    ) -> Result<Page<Account>, StoreError> {
        let start = cursor.map(|c| cursor::list_start(team, c)).transpose()?;
        // One item more than the page: a cursor is handed out only when there is more, so
        // the last page never costs a request that finds nothing.
        let want = usize::try_from(limit.max(1)).unwrap_or(usize::MAX);
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(BY_URGENCY.name)
            .key_condition_expression("#pk = :pk")
            .set_expression_attribute_names(names([("#pk", BY_URGENCY.partition_key)]))
            .set_expression_attribute_values(values([(":pk", s(keys::team_pk(team)))]))
            .consistent_read(true)
            .limit(page_limit(limit.saturating_add(1)))
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(sdk)?;
        let found = out.items();
        let page = &found[..found.len().min(want)];
        // One item that cannot be read (damaged, written by a newer version) must not
        // break the team's whole list: it is left out, logged by key and counted. It can
        // still be removed (`delete_account` reads only its raw keys).
        let (items, skipped) = readable_accounts(page, "left out of the list");
        let next = match (found.len() > want, page.last(), out.last_evaluated_key()) {
            // More than the page: continue after its last item.
            (true, Some(last), _) => cursor::list_cursor(last)?,
            // Not more than the page, but DynamoDB stopped early (its 1 MB cap).
            (false, _, Some(last)) => cursor::list_cursor(last)?,
            _ => None,
        };
        Ok(Page {
            items,
            next,
            items_read: items_read(out.scanned_count()),
            skipped,
        })
    }

    /// A PutItem conditioned on the version (and on the provider and external id, so the
    /// common write needs no transaction). On a failed condition the stored item comes
    /// back with the error: none means `NotFound` (deleted meanwhile), another version
    /// means `Conflict`, the same version means the caller changes the external account,
    /// which `update_identity` does in a transaction.
    async fn update_account(&self, account: &Account) -> Result<Account, StoreError> {
        let expected = account.version;
        let next = Account {
            version: expected.checked_add(1).ok_or(StoreError::Conflict)?,
            ..account.clone()
        };
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(codec::account_item(&next, self.shards)))
            .condition_expression(SAME_VERSION_AND_IDENTITY)
            .set_expression_attribute_names(identity_names())
            .set_expression_attribute_values(values([
                (":v", n(expected)),
                (":prov", s(account.provider.id())),
                (":ext", s(&account.external_id)),
            ]))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .set_return_consumed_capacity(self.capacity_wanted())
            .send()
            .await;
        let err = match result {
            Ok(out) => {
                self.consumed(out.consumed_capacity().cloned().as_slice());
                return Ok(next);
            }
            Err(err) => err,
        };
        let Some(PutItemError::ConditionalCheckFailedException(failed)) = err.as_service_error()
        else {
            return Err(sdk(err));
        };
        let Some(stored) = failed.item() else {
            return Err(StoreError::NotFound);
        };
        if Fields::new(stored).u64(attr::VERSION)? != expected {
            return Err(StoreError::Conflict);
        }
        let old = codec::account_from_item(stored)?;
        self.update_identity(&old, &next).await
    }

    /// One transaction: the account conditioned as `update_account` conditions it, and
    /// its history entries (new ids). A failed account condition is told apart by a
    /// re-read: gone (`NotFound`) or moved on (`Conflict`).
    async fn update_account_with(
        &self,
        account: &Account,
        history: &[HistoryEntry],
    ) -> Result<Account, StoreError> {
        if history.is_empty() {
            return self.update_account(account).await;
        }
        let expected = account.version;
        let next = Account {
            version: expected.checked_add(1).ok_or(StoreError::Conflict)?,
            last_change: history.last().map(LastChange::of),
            ..account.clone()
        };
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(codec::account_item(&next, self.shards)))
            .condition_expression(SAME_VERSION_AND_IDENTITY)
            .set_expression_attribute_names(identity_names())
            .set_expression_attribute_values(values([
                (":v", n(expected)),
                (":prov", s(account.provider.id())),
                (":ext", s(&account.external_id)),
            ]))
            .build()
            .map_err(backend)?;
        let mut request = self
            .client
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().put(put).build());
        for entry in history {
            request = request.transact_items(self.put_if_absent(codec::history_item(entry))?);
        }
        match request
            .set_return_consumed_capacity(self.capacity_wanted())
            .send()
            .await
        {
            Ok(out) => {
                self.consumed(out.consumed_capacity());
                Ok(next)
            }
            Err(err) => match cancelled(err)? {
                Cancelled::Condition(0) => {
                    match self
                        .get_item(keys::team_pk(&account.team), &keys::account_sk(&account.id))
                        .await?
                    {
                        None => Err(StoreError::NotFound),
                        // Moved on, or (never on these paths) another external account.
                        Some(_) => Err(StoreError::Conflict),
                    }
                }
                Cancelled::Condition(_) | Cancelled::Contention => Err(StoreError::Conflict),
            },
        }
    }

    async fn delete_account_with(
        &self,
        team: &TeamId,
        id: &AccountId,
        history: &HistoryEntry,
    ) -> Result<bool, StoreError> {
        self.delete(team, id, Some(history)).await
    }

    async fn delete_account(&self, team: &TeamId, id: &AccountId) -> Result<bool, StoreError> {
        self.delete(team, id, None).await
    }
}

impl DynamoStore {
    /// Reads the account's version and external id, then deletes it and its uniqueness
    /// item in one transaction conditioned on that version (re-reading if it moved), with
    /// the removal's history entry when there is one.
    async fn delete(
        &self,
        team: &TeamId,
        id: &AccountId,
        history: Option<&HistoryEntry>,
    ) -> Result<bool, StoreError> {
        let pk = keys::team_pk(team);
        let sk = keys::account_sk(id);
        for _ in 0..DELETE_ATTEMPTS {
            let Some(item) = self.get_item(pk.clone(), &sk).await? else {
                return Ok(false);
            };
            let removal = self.removal(team, id, &item, history)?;
            let result = self
                .client
                .transact_write_items()
                .set_transact_items(Some(removal))
                .send()
                .await;
            match result {
                Ok(_) => return Ok(true),
                Err(err) => match cancelled(err)? {
                    // Changed or deleted since the read: read again.
                    Cancelled::Condition(0) | Cancelled::Contention => continue,
                    Cancelled::Condition(_) => return Err(StoreError::Conflict),
                },
            }
        }
        Err(StoreError::Conflict)
    }

    /// The transaction that removes the account read as `item`: the account (first, so a
    /// failed condition 0 means it moved), its uniqueness item, its leases and the
    /// history entry.
    fn removal(
        &self,
        team: &TeamId,
        id: &AccountId,
        item: &Item,
        history: Option<&HistoryEntry>,
    ) -> Result<Vec<TransactWriteItem>, StoreError> {
        let mut removal = vec![self.delete_as_read(team, id, item)?];
        if let Some((provider, external_id)) = stored_identity(item) {
            removal.push(self.delete_external(team, provider, external_id, id)?);
        }
        // The account's leases go with it (whoever holds them).
        for lease in [
            LeaseKey::Account(team.clone(), id.clone()),
            LeaseKey::Verification(team.clone(), id.clone()),
        ] {
            removal.push(self.delete_lease(&lease)?);
        }
        if let Some(entry) = history {
            removal.push(self.put_if_absent(codec::history_item(entry))?);
        }
        Ok(removal)
    }

    /// Deletes the account item conditioned on its version exactly as stored (or its
    /// absence), so even a damaged account can be removed.
    fn delete_as_read(
        &self,
        team: &TeamId,
        id: &AccountId,
        item: &Item,
    ) -> Result<TransactWriteItem, StoreError> {
        let (condition, value) = match item.get(attr::VERSION) {
            Some(v) => ("#v = :v", values([(":v", v.clone())])),
            None => ("attribute_not_exists(#v)", None),
        };
        let delete = Delete::builder()
            .table_name(&self.table)
            .set_key(Some(key(keys::team_pk(team), &keys::account_sk(id))))
            .condition_expression(condition)
            .set_expression_attribute_names(names([("#v", attr::VERSION)]))
            .set_expression_attribute_values(value)
            .build()
            .map_err(backend)?;
        Ok(TransactWriteItem::builder().delete(delete).build())
    }

    /// Deletes a lease item, whoever holds it.
    fn delete_lease(&self, lease: &LeaseKey) -> Result<TransactWriteItem, StoreError> {
        let delete = Delete::builder()
            .table_name(&self.table)
            .set_key(Some(key(keys::lease_pk(lease), keys::LEASE_SK)))
            .build()
            .map_err(backend)?;
        Ok(TransactWriteItem::builder().delete(delete).build())
    }
}

/// The provider and external id an account item names, read from the raw attributes (so
/// a damaged account's uniqueness item is still found); `None` when they do not read.
fn stored_identity(item: &Item) -> Option<(Provider, &str)> {
    let f = Fields::new(item);
    let provider = f.opt_s(attr::PROVIDER).ok().flatten();
    let provider = provider.and_then(|p| p.parse::<Provider>().ok());
    match (provider, f.opt_s(attr::EXTERNAL_ID)) {
        (Some(provider), Ok(Some(external_id))) => Some((provider, external_id)),
        _ => None,
    }
}

#[async_trait]
impl DueIndex for DynamoStore {
    fn shards(&self) -> u16 {
        self.shards
    }

    /// One Query of the sparse `due` GSI: `due_shard = DUE#{shard} AND due_at <= before`.
    /// Only due items are read, so `items_read` is the page's size.
    async fn due_accounts(
        &self,
        shard: u16,
        before: DateTime<Utc>,
        limit: u32,
        cursor: Option<&Cursor>,
    ) -> Result<Page<DueItem>, StoreError> {
        let shard_key = keys::due_shard_key(shard);
        let start = cursor
            .map(|c| cursor::due_start(&shard_key, c))
            .transpose()?;
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(DUE.name)
            .key_condition_expression("#shard = :shard AND #at <= :before")
            .set_expression_attribute_names(names([
                ("#shard", DUE.partition_key),
                ("#at", DUE.sort_key),
            ]))
            .set_expression_attribute_values(values([
                (":shard", s(shard_key)),
                (":before", t(before)),
            ]))
            .limit(page_limit(limit))
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(sdk)?;
        // An item that does not read back is handed over as such, so one bad item does
        // not stop the sweep.
        let items = out
            .items()
            .iter()
            .map(|item| match codec::account_from_item(item) {
                Ok(account) => DueItem::Account(Box::new(account)),
                Err(StoreError::Malformed { key, what }) => DueItem::Malformed { key, what },
                Err(other) => DueItem::Malformed {
                    key: codec::describe_key(item),
                    what: other.to_string(),
                },
            })
            .collect();
        let next = match out.last_evaluated_key() {
            Some(last) => cursor::due_cursor(last)?,
            None => None,
        };
        Ok(Page {
            items,
            next,
            items_read: items_read(out.scanned_count()),
            // Unreadable due items are handed over as `DueItem::Malformed`.
            skipped: 0,
        })
    }
}

/// The accounts among `items` that read back, and how many did not (each logged with its
/// key and the metric `unreadable_account_items`; `then` says what became of it).
fn readable_accounts(items: &[Item], then: &str) -> (Vec<Account>, u32) {
    let mut skipped = 0u32;
    let accounts = items
        .iter()
        .filter_map(|item| match codec::account_from_item(item) {
            Ok(account) => Some(account),
            Err(e) => {
                skipped += 1;
                tracing::error!(metric = "unreadable_account_items", error = %crate::error_chain::cause_chain(&e),
                    then, "an account item cannot be read");
                None
            }
        })
        .collect();
    (accounts, skipped)
}
