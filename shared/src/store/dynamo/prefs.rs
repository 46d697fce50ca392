//! `PrefsStore`: one version-conditioned item per team.

use async_trait::async_trait;

use super::codec::{self, attr, n};
use super::error::conditional;
use super::table::LAYOUT;
use super::{keys, names, values, DynamoStore};
use crate::domain::{NotificationPrefs, TeamId};
use crate::store::{PrefsStore, StoreError};

#[async_trait]
impl PrefsStore for DynamoStore {
    async fn get_prefs(&self, team: &TeamId) -> Result<Option<NotificationPrefs>, StoreError> {
        self.get_item(keys::team_pk(team), keys::PREFS_SK)
            .await?
            .map(|item| codec::prefs_from_item(&item))
            .transpose()
    }

    /// Version 0 writes only if the team never saved; any other version only if it is
    /// still the stored one. Either way the item is written at the next version.
    async fn put_prefs(&self, prefs: &NotificationPrefs) -> Result<NotificationPrefs, StoreError> {
        let next = prefs.version.checked_add(1).ok_or(StoreError::Conflict)?;
        let request = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(codec::prefs_item(prefs, next)));
        let request = if prefs.version == 0 {
            request
                .condition_expression("attribute_not_exists(#pk)")
                .set_expression_attribute_names(names([("#pk", LAYOUT.partition_key)]))
        } else {
            request
                .condition_expression("#v = :v")
                .set_expression_attribute_names(names([("#v", attr::VERSION)]))
                .set_expression_attribute_values(values([(":v", n(prefs.version))]))
        };
        match conditional(request.send().await)? {
            Some(_) => Ok(NotificationPrefs {
                version: next,
                ..prefs.clone()
            }),
            // Saved by someone else since it was read.
            None => Err(StoreError::Conflict),
        }
    }
}
