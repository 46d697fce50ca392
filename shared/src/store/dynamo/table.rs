//! The table's shape as plain data (one source of truth for `create_table`, the docs and
//! the check against the SAM template), and `create_table` itself.

use std::time::Duration;

use aws_sdk_dynamodb::client::Waiters;
use aws_sdk_dynamodb::operation::create_table::builders::CreateTableFluentBuilder;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType,
    LocalSecondaryIndex, Projection, ProjectionType, ScalarAttributeType, StreamSpecification,
    StreamViewType, TableDescription, TimeToLiveDescription, TimeToLiveSpecification,
    TimeToLiveStatus,
};
use aws_sdk_dynamodb::Client;

use super::error::{backend, sdk};
use crate::store::StoreError;

/// A secondary index: its name, key attributes (all strings) and projection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IndexLayout {
    pub name: &'static str,
    pub partition_key: &'static str,
    pub sort_key: &'static str,
    /// DynamoDB's projection type (`ALL`, `KEYS_ONLY`, `INCLUDE`).
    pub projection: &'static str,
}

/// The table: key attributes (all strings), indexes, TTL attribute and billing mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TableLayout {
    pub partition_key: &'static str,
    pub sort_key: &'static str,
    pub local_indexes: &'static [IndexLayout],
    pub global_indexes: &'static [IndexLayout],
    /// Epoch seconds after which DynamoDB may delete the item.
    pub ttl_attribute: &'static str,
    pub billing_mode: &'static str,
    /// What the table's stream carries (its history items feed the events publisher).
    pub stream_view_type: &'static str,
}

impl TableLayout {
    /// Every attribute used in a key of the table or an index, once, in first-use order:
    /// the table's `AttributeDefinitions` (all of type `S`).
    pub fn key_attributes(&self) -> Vec<&'static str> {
        let mut names = vec![self.partition_key, self.sort_key];
        for index in self.local_indexes.iter().chain(self.global_indexes) {
            for name in [index.partition_key, index.sort_key] {
                if !names.contains(&name) {
                    names.push(name);
                }
            }
        }
        names
    }
}

/// Accounts of a team, most urgent first (LSI: same partition as the account items).
pub const BY_URGENCY: IndexLayout = IndexLayout {
    name: "by_urgency",
    partition_key: "pk",
    sort_key: "urgency",
    projection: "ALL",
};

/// Accounts by next due time, sharded (sparse GSI: only accounts with a `next_due_at`).
pub const DUE: IndexLayout = IndexLayout {
    name: "due",
    partition_key: "due_shard",
    sort_key: "due_at",
    projection: "ALL",
};

/// Pending ledger entries, sharded by team (sparse GSI: only pending entries).
pub const PENDING: IndexLayout = IndexLayout {
    name: "pending",
    partition_key: "pending_shard",
    sort_key: "pending_at",
    projection: "ALL",
};

/// Accounts by the person whose grant their token stands on (sparse GSI: only Meta's
/// Facebook Login accounts have a `grant_owner`), so a disconnect can tell whether another
/// account, in any team, still needs that grant before it revokes it.
pub const BY_GRANT: IndexLayout = IndexLayout {
    name: "by_grant",
    partition_key: "grant_owner",
    sort_key: "sk",
    projection: "KEYS_ONLY",
};

pub const LAYOUT: TableLayout = TableLayout {
    partition_key: "pk",
    sort_key: "sk",
    local_indexes: &[BY_URGENCY],
    global_indexes: &[DUE, PENDING, BY_GRANT],
    ttl_attribute: "ttl",
    billing_mode: "PAY_PER_REQUEST",
    stream_view_type: "NEW_IMAGE",
};

/// How many shards the due and pending indexes spread over unless configured otherwise.
pub const DEFAULT_SHARDS: u16 = 16;

fn key_schema(partition: &str, sort: &str) -> Result<Vec<KeySchemaElement>, StoreError> {
    [(partition, KeyType::Hash), (sort, KeyType::Range)]
        .into_iter()
        .map(|(name, kind)| {
            KeySchemaElement::builder()
                .attribute_name(name)
                .key_type(kind)
                .build()
                .map_err(backend)
        })
        .collect()
}

fn projection(index: &IndexLayout) -> Projection {
    Projection::builder()
        .projection_type(ProjectionType::from(index.projection))
        .build()
}

/// Creates the table as [`LAYOUT`] describes it (on-demand billing), waits until it is
/// active and turns on TTL. Idempotent: an existing table is checked against the layout
/// instead (a mismatch is `Malformed`, naming the table).
pub async fn create_table(client: &Client, name: &str) -> Result<(), StoreError> {
    match create_request(client, name)?.send().await {
        Ok(_) => {}
        Err(err)
            if err
                .as_service_error()
                .is_some_and(|e| e.is_resource_in_use_exception()) => {}
        Err(err) => return Err(sdk(err)),
    }
    check_existing(client, name).await?;
    enable_ttl(client, name).await
}

/// The CreateTable request of [`LAYOUT`]: billing, stream, keys, attribute definitions
/// and indexes.
fn create_request(client: &Client, name: &str) -> Result<CreateTableFluentBuilder, StoreError> {
    let mut request = client
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::from(LAYOUT.billing_mode))
        .stream_specification(stream_specification()?)
        .set_key_schema(Some(key_schema(LAYOUT.partition_key, LAYOUT.sort_key)?));
    for attribute in LAYOUT.key_attributes() {
        request = request.attribute_definitions(attribute_definition(attribute)?);
    }
    for index in LAYOUT.local_indexes {
        request = request.local_secondary_indexes(local_index(index)?);
    }
    for index in LAYOUT.global_indexes {
        request = request.global_secondary_indexes(global_index(index)?);
    }
    Ok(request)
}

fn stream_specification() -> Result<StreamSpecification, StoreError> {
    StreamSpecification::builder()
        .stream_enabled(true)
        .stream_view_type(StreamViewType::from(LAYOUT.stream_view_type))
        .build()
        .map_err(backend)
}

/// A key attribute's definition (every key attribute is a string).
fn attribute_definition(name: &str) -> Result<AttributeDefinition, StoreError> {
    AttributeDefinition::builder()
        .attribute_name(name)
        .attribute_type(ScalarAttributeType::S)
        .build()
        .map_err(backend)
}

fn local_index(index: &IndexLayout) -> Result<LocalSecondaryIndex, StoreError> {
    LocalSecondaryIndex::builder()
        .index_name(index.name)
        .set_key_schema(Some(key_schema(index.partition_key, index.sort_key)?))
        .projection(projection(index))
        .build()
        .map_err(backend)
}

fn global_index(index: &IndexLayout) -> Result<GlobalSecondaryIndex, StoreError> {
    GlobalSecondaryIndex::builder()
        .index_name(index.name)
        .set_key_schema(Some(key_schema(index.partition_key, index.sort_key)?))
        .projection(projection(index))
        .build()
        .map_err(backend)
}

/// Waits until the table exists, then checks it against the layout (it may be older than
/// this release, or made by hand).
async fn check_existing(client: &Client, name: &str) -> Result<(), StoreError> {
    client
        .wait_until_table_exists()
        .table_name(name)
        .wait(Duration::from_secs(300))
        .await
        .map_err(backend)?;
    let described = client
        .describe_table()
        .table_name(name)
        .send()
        .await
        .map_err(sdk)?;
    if let Some(table) = described.table() {
        check_layout(table).map_err(|what| StoreError::Malformed {
            key: format!("table {name}"),
            what,
        })?;
    }
    Ok(())
}

/// Turns on TTL on the layout's attribute unless it is on (or being turned on) already.
async fn enable_ttl(client: &Client, name: &str) -> Result<(), StoreError> {
    let ttl = client
        .describe_time_to_live()
        .table_name(name)
        .send()
        .await
        .map_err(sdk)?;
    if ttl_is_on(ttl.time_to_live_description()) {
        return Ok(());
    }
    client
        .update_time_to_live()
        .table_name(name)
        .time_to_live_specification(
            TimeToLiveSpecification::builder()
                .enabled(true)
                .attribute_name(LAYOUT.ttl_attribute)
                .build()
                .map_err(backend)?,
        )
        .send()
        .await
        .map_err(sdk)?;
    Ok(())
}

fn ttl_is_on(ttl: Option<&TimeToLiveDescription>) -> bool {
    ttl.and_then(|d| d.attribute_name()) == Some(LAYOUT.ttl_attribute)
        && matches!(
            ttl.and_then(|d| d.time_to_live_status()),
            Some(TimeToLiveStatus::Enabled | TimeToLiveStatus::Enabling)
        )
}

/// Whether a described table has the layout's keys and indexes (an existing table made
/// by an older release, or by hand, must not be used silently).
fn check_layout(table: &TableDescription) -> Result<(), String> {
    fn keys(schema: &[KeySchemaElement]) -> (Option<&str>, Option<&str>) {
        let find = |kind: KeyType| {
            schema
                .iter()
                .find(|k| *k.key_type() == kind)
                .map(|k| k.attribute_name())
        };
        (find(KeyType::Hash), find(KeyType::Range))
    }
    let expect = |what: &str, got: (Option<&str>, Option<&str>), want: (&str, &str)| {
        if got == (Some(want.0), Some(want.1)) {
            Ok(())
        } else {
            Err(format!(
                "{what} keys are not ({}, {}) as the layout says",
                want.0, want.1
            ))
        }
    };
    expect(
        "the table's",
        keys(table.key_schema()),
        (LAYOUT.partition_key, LAYOUT.sort_key),
    )?;
    for want in LAYOUT.local_indexes {
        let found = table
            .local_secondary_indexes()
            .iter()
            .find(|i| i.index_name() == Some(want.name))
            .ok_or_else(|| format!("local index {} is missing", want.name))?;
        expect(
            want.name,
            keys(found.key_schema()),
            (want.partition_key, want.sort_key),
        )?;
    }
    for want in LAYOUT.global_indexes {
        let found = table
            .global_secondary_indexes()
            .iter()
            .find(|i| i.index_name() == Some(want.name))
            .ok_or_else(|| format!("global index {} is missing", want.name))?;
        expect(
            want.name,
            keys(found.key_schema()),
            (want.partition_key, want.sort_key),
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_attributes_are_listed_once() {
        assert_eq!(
            LAYOUT.key_attributes(),
            [
                "pk",
                "sk",
                "urgency",
                "due_shard",
                "due_at",
                "pending_shard",
                "pending_at",
                "grant_owner"
            ]
        );
    }

    #[test]
    fn projection_names_are_known_to_the_sdk() {
        for index in LAYOUT.local_indexes.iter().chain(LAYOUT.global_indexes) {
            let expected = if index.name == BY_GRANT.name {
                ProjectionType::KeysOnly
            } else {
                ProjectionType::All
            };
            assert_eq!(projection(index).projection_type(), Some(&expected));
        }
        assert_eq!(
            BillingMode::from(LAYOUT.billing_mode),
            BillingMode::PayPerRequest
        );
    }
}
