//! `PrefsStore`: one version-conditioned settings item per team, and its recipients (items
//! of their own, `recipients.rs`).

use async_trait::async_trait;

use super::codec::{self, attr, n};
use super::error::conditional;
use super::table::LAYOUT;
use super::{names, values, DynamoStore};
use chrono::{DateTime, Utc};

use crate::domain::{NotificationPrefs, Recipient, RecipientId, RecipientState, TeamId};
use crate::store::{PrefsStore, StateChange, StoreError};

#[async_trait]
impl PrefsStore for DynamoStore {
    async fn get_prefs(&self, team: &TeamId) -> Result<Option<NotificationPrefs>, StoreError> {
        let (item, recipients) = self.prefs_and_recipients(team).await?;
        let prefs = match item {
            Some(item) => Some(codec::prefs_from_item(&item)?),
            None if recipients.is_empty() => None,
            None => Some(NotificationPrefs::defaults(team.clone())),
        };
        Ok(prefs.map(|p| NotificationPrefs { recipients, ..p }))
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

    async fn recipient(
        &self,
        team: &TeamId,
        id: &RecipientId,
    ) -> Result<Option<Recipient>, StoreError> {
        self.recipient_item_of(team, id).await
    }

    async fn save_recipient(
        &self,
        recipient: &Recipient,
        expect: Option<RecipientState>,
    ) -> Result<(), StoreError> {
        self.save_recipient_item(recipient, expect).await
    }

    async fn set_recipient_state(
        &self,
        team: &TeamId,
        id: &RecipientId,
        change: StateChange<'_>,
    ) -> Result<bool, StoreError> {
        self.set_recipient_state_item(team, id, change).await
    }

    async fn remove_recipient(
        &self,
        team: &TeamId,
        id: &RecipientId,
        from: &[RecipientState],
    ) -> Result<bool, StoreError> {
        self.remove_recipient_item(team, id, from).await
    }

    async fn take_quota(
        &self,
        team: &TeamId,
        what: &str,
        cap: u32,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        self.take_quota_item(team, what, cap, now).await
    }
}
