//! `HistoryStore`: an account's history entries in the team's partition
//! (`HISTORY#{account}#{id}`), listed newest first. Entries that record an account change
//! are written in that change's transaction (`AccountStore::*_with`); `record` is for the
//! ones that change nothing.

use async_trait::async_trait;

use super::codec;
use super::error::{conditional, sdk};
use super::table::LAYOUT;
use super::{cursor, keys, names, page_limit, values, DynamoStore};
use crate::domain::{AccountId, HistoryEntry, TeamId};
use crate::store::{Cursor, HistoryStore, Page, StoreError};

#[async_trait]
impl HistoryStore for DynamoStore {
    async fn record(&self, entry: &HistoryEntry) -> Result<(), StoreError> {
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(codec::history_item(entry)))
            .condition_expression("attribute_not_exists(#pk)")
            .set_expression_attribute_names(names([("#pk", LAYOUT.partition_key)]))
            .send()
            .await;
        match conditional(result)? {
            Some(_) => Ok(()),
            // The same id twice: the entry is there already.
            None => Ok(()),
        }
    }

    async fn history(
        &self,
        team: &TeamId,
        account: &AccountId,
        limit: u32,
        cursor: Option<&Cursor>,
    ) -> Result<Page<HistoryEntry>, StoreError> {
        let start = cursor
            .map(|c| cursor::history_start(team, account, c))
            .transpose()?;
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("#pk = :pk AND begins_with(#sk, :prefix)")
            .set_expression_attribute_names(names([
                ("#pk", LAYOUT.partition_key),
                ("#sk", LAYOUT.sort_key),
            ]))
            .set_expression_attribute_values(values([
                (":pk", codec::s(keys::team_pk(team))),
                (":prefix", codec::s(keys::history_prefix(account))),
            ]))
            .scan_index_forward(false)
            .consistent_read(true)
            .limit(page_limit(limit))
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(sdk)?;
        let items = out
            .items()
            .iter()
            .map(codec::history_from_item)
            .collect::<Result<Vec<_>, _>>()?;
        let next = match out.last_evaluated_key() {
            Some(last) => cursor::history_cursor(last)?,
            None => None,
        };
        Ok(Page {
            items,
            next,
            items_read: u64::try_from(out.scanned_count()).unwrap_or(0),
            skipped: 0,
        })
    }
}
