//! The DynamoDB adapter: every storage port on one table. The key design, item types and
//! indexes are written down in `shared/DATA.md`; [`LAYOUT`] is the same design as data.
//!
//! No operation here scans the table: every read is a GetItem or a Query on a key.

mod accounts;
mod codec;
mod cursor;
mod dispatches;
mod error;
mod history;
mod keys;
mod leases;
mod ledger;
mod prefs;
mod recipients;
mod states;
mod table;

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::Client;

use crate::domain::HistoryEntry;
use crate::store::StoreError;

/// A history entry from a stream record's image (the events publisher's input); `None`
/// for any other kind of item.
pub fn history_from_image(
    image: &HashMap<String, AttributeValue>,
) -> Result<Option<HistoryEntry>, StoreError> {
    match image.get(codec::attr::KIND).and_then(|k| k.as_s().ok()) {
        Some(k) if k == codec::kind::HISTORY => codec::history_from_item(image).map(Some),
        _ => Ok(None),
    }
}

pub use table::{
    create_table, IndexLayout, TableLayout, BY_URGENCY, DEFAULT_SHARDS, DUE, LAYOUT, PENDING,
};

/// The attribute every item names its kind in, and the history items' kind: what the
/// template's stream filter for the events publisher matches on.
pub const KIND_ATTRIBUTE: &str = codec::attr::KIND;
pub const HISTORY_KIND: &str = codec::kind::HISTORY;
/// Every kind of item the store writes.
pub const ITEM_KINDS: &[&str] = codec::kind::ALL;

/// Every storage port (`AccountStore`, `DueIndex`, `StateStore`, `PrefsStore`, `Ledger`,
/// `Leases`) on one DynamoDB table. Cheap to clone: the SDK client is shared.
#[derive(Debug, Clone)]
pub struct DynamoStore {
    client: Client,
    table: String,
    shards: u16,
    /// Sums the write capacity account writes consume (benchmarks); off by default.
    meter: Option<std::sync::Arc<CapacityMeter>>,
}

/// The write capacity units account writes consumed, as DynamoDB reports them.
#[derive(Debug, Default)]
pub struct CapacityMeter {
    milli_units: std::sync::atomic::AtomicU64,
}

impl CapacityMeter {
    /// Capacity units so far.
    pub fn units(&self) -> f64 {
        self.milli_units.load(std::sync::atomic::Ordering::Relaxed) as f64 / 1000.0
    }

    fn add(&self, units: f64) {
        self.milli_units.fetch_add(
            (units * 1000.0).round() as u64,
            std::sync::atomic::Ordering::Relaxed,
        );
    }
}

impl DynamoStore {
    /// The store on `table`, with [`DEFAULT_SHARDS`] shards for the due and pending
    /// indexes.
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
            shards: DEFAULT_SHARDS,
            meter: None,
        }
    }

    /// The same store, asking DynamoDB for the capacity its account writes consume and
    /// adding it to `meter`.
    pub fn metered(mut self, meter: std::sync::Arc<CapacityMeter>) -> Self {
        self.meter = Some(meter);
        self
    }

    fn capacity_wanted(&self) -> Option<aws_sdk_dynamodb::types::ReturnConsumedCapacity> {
        self.meter
            .as_ref()
            .map(|_| aws_sdk_dynamodb::types::ReturnConsumedCapacity::Total)
    }

    fn consumed(&self, used: &[aws_sdk_dynamodb::types::ConsumedCapacity]) {
        if let Some(meter) = &self.meter {
            for c in used {
                meter.add(c.capacity_units().unwrap_or(0.0));
            }
        }
    }

    /// The same store spreading the due and pending indexes over `shards` partitions
    /// (at least 1). Raising the count later is safe (old items stay in shards that are
    /// still read); lowering it strands items in shards no longer read, see DATA.md.
    pub fn with_shards(mut self, shards: u16) -> Self {
        self.shards = shards.max(1);
        self
    }

    pub fn table(&self) -> &str {
        &self.table
    }
}

/// `ExpressionAttributeNames` from `(#placeholder, attribute)` pairs. Every expression
/// names attributes through placeholders: `state`, `ttl` and others are reserved words.
fn names<const N: usize>(pairs: [(&str, &str); N]) -> Option<HashMap<String, String>> {
    Some(
        pairs
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect(),
    )
}

/// `ExpressionAttributeValues` from `(:placeholder, value)` pairs.
fn values<const N: usize>(
    pairs: [(&str, AttributeValue); N],
) -> Option<HashMap<String, AttributeValue>> {
    Some(pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
}

/// The key of an item.
fn key(pk: String, sk: &str) -> HashMap<String, AttributeValue> {
    HashMap::from([
        (LAYOUT.partition_key.to_owned(), AttributeValue::S(pk)),
        (LAYOUT.sort_key.to_owned(), AttributeValue::S(sk.to_owned())),
    ])
}

/// A page size DynamoDB accepts (`Limit` must be at least 1).
fn page_limit(limit: u32) -> i32 {
    i32::try_from(limit.max(1)).unwrap_or(i32::MAX)
}

impl DynamoStore {
    /// A strongly consistent GetItem.
    async fn get_item(
        &self,
        pk: String,
        sk: &str,
    ) -> Result<Option<HashMap<String, AttributeValue>>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key(pk, sk)))
            .consistent_read(true)
            .send()
            .await
            .map_err(error::sdk)?;
        Ok(out.item)
    }
}
