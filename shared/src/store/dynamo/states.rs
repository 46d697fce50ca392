//! `StateStore`: OAuth states, single use.

use async_trait::async_trait;
use aws_sdk_dynamodb::types::ReturnValue;
use chrono::{DateTime, Utc};

use super::codec;
use super::error::conditional;
use super::error::sdk;
use super::table::LAYOUT;
use super::{key, keys, names, DynamoStore};
use crate::store::{Consumed, OAuthState, Parked, StateStore, StoreError};

/// Far longer than any issued state id, well under DynamoDB's 2048-byte partition key.
const MAX_STATE_ID_LEN: usize = 512;

#[async_trait]
impl StateStore for DynamoStore {
    /// Writes the state (with `ttl` at its expiry). A state id that is already there is
    /// `AlreadyExists`: a random id never collides, and a state is never overwritten.
    async fn put_state(&self, state: &OAuthState) -> Result<(), StoreError> {
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(codec::state_item(state)))
            .condition_expression("attribute_not_exists(#pk)")
            .set_expression_attribute_names(names([("#pk", LAYOUT.partition_key)]))
            .send()
            .await;
        match conditional(result)? {
            Some(_) => Ok(()),
            None => Err(StoreError::AlreadyExists),
        }
    }

    /// One conditional DeleteItem returning the old item: of two parallel calls exactly
    /// one gets it. Expiry is judged against `now`, not left to DynamoDB's TTL (which
    /// removes items up to days late).
    async fn consume_state(&self, id: &str, now: DateTime<Utc>) -> Result<Consumed, StoreError> {
        // The id comes from a browser: one no state could have is never issued (and an
        // oversized key would be a database error, not a refusal).
        if id.is_empty() || id.len() > MAX_STATE_ID_LEN {
            return Ok(Consumed::Missing);
        }
        let result = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key(keys::state_pk(id), keys::STATE_SK)))
            .condition_expression("attribute_exists(#pk)")
            .set_expression_attribute_names(names([("#pk", LAYOUT.partition_key)]))
            .return_values(ReturnValue::AllOld)
            .send()
            .await;
        let old = match conditional(result)? {
            Some(out) => out.attributes,
            None => return Ok(Consumed::Missing),
        };
        let Some(old) = old else {
            return Ok(Consumed::Missing);
        };
        let state = codec::state_from_item(&old, id)?;
        Ok(if now >= state.expires_at {
            Consumed::Expired(state)
        } else {
            Consumed::Fresh(state)
        })
    }

    async fn park(&self, parked: &Parked) -> Result<(), StoreError> {
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(codec::parked_item(parked)))
            .condition_expression("attribute_not_exists(#pk)")
            .set_expression_attribute_names(names([("#pk", LAYOUT.partition_key)]))
            .send()
            .await;
        match conditional(result)? {
            Some(_) => Ok(()),
            None => Err(StoreError::AlreadyExists),
        }
    }

    /// A strongly consistent read: the completion comes a moment after the park.
    async fn parked(&self, parked_key: &str) -> Result<Option<Parked>, StoreError> {
        if !is_parked_key(parked_key) {
            return Ok(None);
        }
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key(keys::parked_pk(parked_key), keys::PARKED_SK)))
            .consistent_read(true)
            .send()
            .await
            .map_err(sdk)?;
        out.item().map(codec::parked_from_item).transpose()
    }

    /// One conditional DeleteItem: of two parallel completions exactly one gets `true`.
    async fn take_parked(&self, parked_key: &str) -> Result<bool, StoreError> {
        if !is_parked_key(parked_key) {
            return Ok(false);
        }
        let result = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key(keys::parked_pk(parked_key), keys::PARKED_SK)))
            .condition_expression("attribute_exists(#pk)")
            .set_expression_attribute_names(names([("#pk", LAYOUT.partition_key)]))
            .send()
            .await;
        Ok(conditional(result)?.is_some())
    }
}

/// A parked key is a SHA-256 in hex: anything else was never issued.
fn is_parked_key(key: &str) -> bool {
    key.len() == 64 && key.bytes().all(|b| b.is_ascii_hexdigit())
}
