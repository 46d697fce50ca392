//! `StateStore`: OAuth states, single use.

use async_trait::async_trait;
use aws_sdk_dynamodb::types::ReturnValue;
use chrono::{DateTime, Utc};

use super::codec;
use super::error::conditional;
use super::table::LAYOUT;
use super::{key, keys, names, DynamoStore};
use crate::store::{Consumed, OAuthState, StateStore, StoreError};

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
        let state = codec::state_from_item(&old)?;
        Ok(if now >= state.expires_at {
            Consumed::Expired(state)
        } else {
            Consumed::Fresh(state)
        })
    }
}
