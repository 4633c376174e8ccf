//! `DynamoRiskStore`: the risk table of DESIGN.md on DynamoDB.
//!
//! One item per resource state (`pk` = resource key, `sk = STATE`, with the newest item it
//! keeps in the binary attribute `item`) and one per history record (`sk = H#<capture
//! time>#<state id>`, expiring through the table's TTL attribute). A change event costs one
//! consistent `GetItem` of the state and one transaction that puts the history record if it is
//! new (or replaces a poorer copy of the same item) and the state if it is still at the
//! revision read, however long the history. DynamoDB checks both conditions server-side, so a
//! redelivery writes nothing and two scorers racing on one resource cannot both win.

use std::collections::HashMap;

use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem};
use aws_sdk_dynamodb::Client;
use justice_core::time::Millis;
use justice_core::{HistoryRecord, Refused, ResourceKey, RiskState};
use justice_service::ports::{KeyPage, Write};
use justice_service::{Commit, RiskStore, StoreError, Stored};

pub const PK: &str = "pk";
pub const SK: &str = "sk";
pub const STATE_SK: &str = "STATE";
pub const HISTORY_PREFIX: &str = "H#";
/// The TTL attribute of history items (epoch seconds).
pub const EXPIRES_AT: &str = "expires_at";
/// The state and the newest item it keeps (binary: deflated JSON). An item is billed by its
/// size, attribute names included: one compressed attribute costs a fraction of a map of
/// every field.
pub const STATE: &str = "state";
/// A history record (binary, as the state).
pub const RECORD: &str = "record";
/// The state's revision, its evaluation time and level, in plain attributes: the conditions,
/// the re-score index and people read them.
pub const REVISION: &str = "revision";
pub const EVALUATED_AT: &str = "evaluated_at";
pub const LEVEL: &str = "level";
/// Present (value `"1"`) only on states that need re-scoring: the sparse index's key.
pub const RISKY: &str = "risky";
/// The sparse global secondary index over `risky` (hash) and `evaluated_at` (range).
pub const RISKY_INDEX: &str = "risky-by-evaluated-at";
/// The partition of the engine's own bookkeeping (job cursors): not a resource, and its sort
/// keys are not `STATE`, so the judge's stream filter never sees it.
pub const JOBS_PK: &str = "justice#jobs";

#[derive(Debug, Clone)]
pub struct DynamoRiskStore {
    client: Client,
    table: String,
    /// How long history records live after their capture time.
    history_ttl_secs: i64,
}

/// An error of ours before any call (a request that cannot be built): permanent.
fn backend<E: std::error::Error + Send + Sync + 'static>(e: E) -> StoreError {
    StoreError::Backend {
        source: Box::new(e),
        transient: false,
    }
}

impl DynamoRiskStore {
    pub fn new(client: Client, table: impl Into<String>, history_ttl_days: u32) -> Self {
        DynamoRiskStore {
            client,
            table: table.into(),
            history_ttl_secs: i64::from(history_ttl_days) * 86_400,
        }
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    /// One item by its keys, read consistently: what this function or another wrote a moment
    /// ago must be seen.
    pub(crate) async fn read_item(
        &self,
        pk: &str,
        sk: &str,
    ) -> Result<Option<HashMap<String, AttributeValue>>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(PK, AttributeValue::S(pk.to_owned()))
            .key(SK, AttributeValue::S(sk.to_owned()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| crate::failure(format!("DynamoDB GetItem {pk} {sk}"), &e))?;
        Ok(out.item)
    }

    fn state_item(
        &self,
        state: &RiskState,
        kept: Option<&[u8]>,
    ) -> Result<HashMap<String, AttributeValue>, StoreError> {
        state_attributes(state, kept).map_err(|reason| StoreError::Corrupt {
            key: state.key.to_string(),
            reason,
        })
    }

    fn history_item(
        &self,
        key: &ResourceKey,
        record: &HistoryRecord,
    ) -> Result<HashMap<String, AttributeValue>, StoreError> {
        history_attributes(key, record, self.history_ttl_secs).map_err(|reason| {
            StoreError::Corrupt {
                key: key.to_string(),
                reason,
            }
        })
    }

    /// The state's put, guarded by the revision it was read at.
    fn state_put(&self, w: &Write<'_>) -> Result<Put, StoreError> {
        self.guarded_put(self.state_item(w.state, w.item)?, w.expected_revision)
    }

    /// A put of `item` guarded by the revision it was read at (`None`: it must not exist yet),
    /// so that of two writers working from the same read only one wins.
    pub(crate) fn guarded_put(
        &self,
        item: HashMap<String, AttributeValue>,
        expected_revision: Option<u64>,
    ) -> Result<Put, StoreError> {
        let put = Put::builder().table_name(&self.table).set_item(Some(item));
        let put = match expected_revision {
            None => put
                .condition_expression("attribute_not_exists(#pk)")
                .expression_attribute_names("#pk", PK),
            Some(rev) => put
                .condition_expression("#rev = :rev")
                .expression_attribute_names("#rev", REVISION)
                .expression_attribute_values(":rev", AttributeValue::N(rev.to_string())),
        };
        put.build().map_err(backend)
    }

    /// Sends a guarded put on its own, outside a transaction: a lost race is a conflict.
    pub(crate) async fn put_alone(&self, put: Put, call: &str) -> Result<Commit, StoreError> {
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(put.item))
            .set_condition_expression(put.condition_expression)
            .set_expression_attribute_names(put.expression_attribute_names)
            .set_expression_attribute_values(put.expression_attribute_values)
            .send()
            .await;
        match result {
            Ok(_) => Ok(Commit::Written),
            Err(SdkError::ServiceError(s))
                if matches!(s.err(), PutItemError::ConditionalCheckFailedException(_)) =>
            {
                Ok(Commit::Conflict)
            }
            Err(e) => Err(crate::failure(format!("DynamoDB PutItem {call}"), &e).into()),
        }
    }

    async fn put_state_alone(&self, w: &Write<'_>) -> Result<Commit, StoreError> {
        self.put_alone(self.state_put(w)?, "state").await
    }
}

/// JSON, deflated against a preset dictionary: DynamoDB bills every kilobyte written (twice in
/// a transaction), and a state with its item is mostly the same keys and phrases every time.
/// Deflate alone left half the states just over 1 KB (two write units, four in the
/// transaction); with the dictionary the generated stream's states are 290-530 bytes.
///
/// A blob starts with [`PACKED_V1`]: `0x07` cannot begin a raw deflate stream (its block type
/// bits, 11, are reserved), so blobs written before the dictionary, plain deflate, still read.
fn pack<T: serde::Serialize>(value: &T) -> Result<Vec<u8>, String> {
    let json = serde_json::to_vec(value).map_err(|e| e.to_string())?;
    let mut deflate = flate2::Compress::new(flate2::Compression::new(6), false);
    deflate
        .set_dictionary(PACK_DICTIONARY_V1)
        .map_err(|e| format!("deflate dictionary: {e}"))?;
    // Room for incompressible input: deflate's stored blocks add 5 bytes per 16 KB.
    let mut out = Vec::with_capacity(PACKED_V1.len() + json.len() + json.len() / 1024 + 64);
    out.extend_from_slice(&PACKED_V1);
    match deflate.compress_vec(&json, &mut out, flate2::FlushCompress::Finish) {
        Ok(flate2::Status::StreamEnd) => Ok(out),
        Ok(status) => Err(format!("deflate stopped early ({status:?})")),
        Err(e) => Err(format!("deflate: {e}")),
    }
}

/// The header of a blob deflated against [`PACK_DICTIONARY_V1`].
const PACKED_V1: [u8; 2] = [0x07, 0x01];

/// The packed states of the bundled real-shaped fixtures (`tests/fixtures/config-events/
/// eventbridge`, as the cost benchmark wrote them on 2026-11-30), shortest first, last 32,000
/// bytes: deflate's whole window. Frozen: every blob with the `PACKED_V1` header needs exactly
/// these bytes to inflate, so a better dictionary is a new version, never an edit of this one.
const PACK_DICTIONARY_V1: &[u8] = include_bytes!("pack-v1.dict");

/// At most this much JSON is inflated from one attribute (an item holds at most 400 KB).
const MAX_INFLATED: usize = 16 << 20;

/// A stored item or stream image that does not read back as what it should hold.
fn refuse<T>(why: impl Into<String>) -> Result<T, Refused> {
    Err(Refused(why.into()))
}

fn unpack<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, Refused> {
    let mut inflate = flate2::Decompress::new(false);
    let body = match bytes {
        [0x07, 0x01, body @ ..] => {
            inflate
                .set_dictionary(PACK_DICTIONARY_V1)
                .map_err(|e| format!("inflate dictionary: {e}"))?;
            body
        }
        [0x07, version, ..] => return refuse(format!("packed with unknown version {version}")),
        // Written before the dictionary: plain deflate.
        plain => plain,
    };
    let mut json = Vec::with_capacity(body.len() * 4);
    loop {
        let read = inflate.total_in() as usize;
        match inflate.decompress_vec(&body[read..], &mut json, flate2::FlushDecompress::Finish) {
            Ok(flate2::Status::StreamEnd) => break,
            Ok(_) if json.len() < json.capacity() => return refuse("does not inflate: truncated"),
            Ok(_) if json.len() >= MAX_INFLATED => {
                return refuse(format!("inflates past {MAX_INFLATED} bytes"))
            }
            Ok(_) => json.reserve(json.len()),
            Err(e) => return refuse(format!("does not inflate: {e}")),
        }
    }
    if json.len() > MAX_INFLATED {
        return refuse(format!("inflates past {MAX_INFLATED} bytes"));
    }
    serde_json::from_slice(&json).map_err(|e| Refused(e.to_string()))
}

/// The state and its kept item, in one compressed attribute: the item's text and the state's
/// evidence repeat each other, and one stream of both compresses better than two.
#[derive(serde::Serialize)]
struct Packed<'a> {
    state: &'a RiskState,
    #[serde(skip_serializing_if = "Option::is_none")]
    item: Option<&'a serde_json::value::RawValue>,
}

#[derive(serde::Deserialize)]
struct Unpacked {
    state: RiskState,
    #[serde(default)]
    item: Option<Box<serde_json::value::RawValue>>,
}

/// A state as the table stores it (`state_put` adds the condition).
pub fn state_attributes(
    state: &RiskState,
    kept: Option<&[u8]>,
) -> Result<HashMap<String, AttributeValue>, String> {
    let item_json = match kept {
        Some(k) => {
            Some(lz4_flex::decompress_size_prepended(k).map_err(|e| format!("kept item: {e}"))?)
        }
        None => None,
    };
    let raw = match &item_json {
        Some(j) => Some(
            serde_json::from_slice::<&serde_json::value::RawValue>(j)
                .map_err(|e| format!("kept item: {e}"))?,
        ),
        None => None,
    };
    let packed = pack(&Packed { state, item: raw })?;
    let mut item = HashMap::from([
        (
            PK.to_owned(),
            AttributeValue::S(state.key.as_str().to_owned()),
        ),
        (SK.to_owned(), AttributeValue::S(STATE_SK.into())),
        (
            REVISION.to_owned(),
            AttributeValue::N(state.revision.to_string()),
        ),
        (
            EVALUATED_AT.to_owned(),
            AttributeValue::N(state.evaluated_at.to_string()),
        ),
        (
            LEVEL.to_owned(),
            AttributeValue::S(state.level.as_str().into()),
        ),
        (STATE.to_owned(), AttributeValue::B(Blob::new(packed))),
    ]);
    if state.needs_rescore() {
        item.insert(RISKY.into(), AttributeValue::S("1".into()));
    }
    Ok(item)
}

/// A history record as the table stores it, expiring `ttl_secs` after its capture.
pub fn history_attributes(
    key: &ResourceKey,
    record: &HistoryRecord,
    ttl_secs: i64,
) -> Result<HashMap<String, AttributeValue>, String> {
    let expires = record.capture_time.div_euclid(1000) + ttl_secs;
    Ok(HashMap::from([
        (PK.to_owned(), AttributeValue::S(key.as_str().to_owned())),
        (SK.to_owned(), AttributeValue::S(record.sort_key())),
        (
            EXPIRES_AT.to_owned(),
            AttributeValue::N(expires.to_string()),
        ),
        (
            RECORD.to_owned(),
            AttributeValue::B(Blob::new(pack(record)?)),
        ),
    ]))
}

fn blob<'a>(item: &'a HashMap<String, AttributeValue>, name: &str) -> Result<&'a [u8], Refused> {
    match item.get(name) {
        Some(AttributeValue::B(b)) => Ok(b.as_ref()),
        _ => refuse(format!("no binary `{name}` attribute")),
    }
}

/// The state in a table item, and the item it keeps (`justice_core::kept`'s form).
pub fn state_from_item(
    item: &HashMap<String, AttributeValue>,
) -> Result<(RiskState, Option<Vec<u8>>), Refused> {
    let u: Unpacked = unpack(blob(item, STATE)?)?;
    let kept = u
        .item
        .map(|raw| lz4_flex::compress_prepend_size(raw.get().as_bytes()));
    Ok((u.state, kept))
}

/// The state in a stream record's image (the judge's input), checked to be the resource the
/// record's key names.
pub fn state_from_image(
    image: &serde_dynamo::Item,
    key: &ResourceKey,
) -> Result<RiskState, Refused> {
    let bytes = match image.get(STATE) {
        Some(serde_dynamo::AttributeValue::B(b)) => b,
        _ => return refuse(format!("no binary `{STATE}` attribute")),
    };
    let state = unpack::<Unpacked>(bytes)?.state;
    if &state.key != key {
        return refuse(format!("the image names another resource, {}", state.key));
    }
    Ok(state)
}

/// The history record in a table item.
pub fn record_from_item(item: &HashMap<String, AttributeValue>) -> Result<HistoryRecord, Refused> {
    unpack(blob(item, RECORD)?)
}

fn text<'a>(item: &'a HashMap<String, AttributeValue>, name: &str) -> Option<&'a str> {
    item.get(name)
        .and_then(|v| v.as_s().ok())
        .map(String::as_str)
}

impl RiskStore for DynamoRiskStore {
    async fn load(&self, key: &ResourceKey) -> Result<Stored, StoreError> {
        let Some(item) = self.read_item(key.as_str(), STATE_SK).await? else {
            return Ok(Stored::default());
        };
        let (state, kept) = state_from_item(&item).map_err(|reason| StoreError::Corrupt {
            key: format!("{key} {STATE_SK}"),
            reason: reason.0,
        })?;
        Ok(Stored {
            state: Some(state),
            item: kept,
        })
    }

    async fn history(&self, key: &ResourceKey) -> Result<Vec<HistoryRecord>, StoreError> {
        let mut history = Vec::new();
        let mut start: Option<HashMap<String, AttributeValue>> = None;
        loop {
            let page = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("#pk = :pk AND begins_with(#sk, :h)")
                .expression_attribute_names("#pk", PK)
                .expression_attribute_names("#sk", SK)
                .expression_attribute_values(":pk", AttributeValue::S(key.as_str().to_owned()))
                .expression_attribute_values(":h", AttributeValue::S(HISTORY_PREFIX.into()))
                .consistent_read(true)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| crate::failure("DynamoDB Query", &e))?;
            for item in page.items.unwrap_or_default() {
                let sk = text(&item, SK).unwrap_or_default().to_owned();
                // Query returns items in sort-key order: the history comes out oldest first.
                history.push(
                    record_from_item(&item).map_err(|reason| StoreError::Corrupt {
                        key: format!("{key} {sk}"),
                        reason: reason.0,
                    })?,
                );
            }
            match page.last_evaluated_key {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => return Ok(history),
            }
        }
    }

    async fn commit(&self, key: &ResourceKey, w: Write<'_>) -> Result<Commit, StoreError> {
        let Some(record) = w.record else {
            return self.put_state_alone(&w).await;
        };
        let history = Put::builder()
            .table_name(&self.table)
            .set_item(Some(self.history_item(key, record)?));
        // A richer copy of an item replaces the poorer one: the state's revision guards it.
        let history = if w.replace {
            history
        } else {
            history
                .condition_expression("attribute_not_exists(#sk)")
                .expression_attribute_names("#sk", SK)
        }
        .build()
        .map_err(backend)?;
        let result = self
            .client
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().put(history).build())
            .transact_items(
                TransactWriteItem::builder()
                    .put(self.state_put(&w)?)
                    .build(),
            )
            .send()
            .await;
        match result {
            Ok(_) => Ok(Commit::Written),
            Err(SdkError::ServiceError(s)) => match s.err() {
                TransactWriteItemsError::TransactionCanceledException(c) => {
                    let code = |i: usize| {
                        c.cancellation_reasons()
                            .get(i)
                            .and_then(|r| r.code())
                            .unwrap_or_default()
                            .to_owned()
                    };
                    let (history, state) = (code(0), code(1));
                    if history == "ConditionalCheckFailed" {
                        Ok(Commit::Duplicate)
                    } else if state == "ConditionalCheckFailed"
                        || history == "TransactionConflict"
                        || state == "TransactionConflict"
                    {
                        // Another writer got there first: reload and try again.
                        Ok(Commit::Conflict)
                    } else {
                        Err(StoreError::Backend {
                            source: format!(
                                "DynamoDB TransactWriteItems for {key} cancelled: {} (reasons: {history:?}, {state:?})",
                                c.message().unwrap_or("no message")
                            )
                            .into(),
                            // Permanent only when a reason says the request itself is wrong.
                            transient: ![&history, &state].iter().any(|r| {
                                matches!(r.as_str(), "ValidationError" | "ItemCollectionSizeLimitExceeded")
                            }),
                        })
                    }
                }
                _ => Err(
                    crate::failure("DynamoDB TransactWriteItems", &SdkError::ServiceError(s))
                        .into(),
                ),
            },
            Err(e) => Err(crate::failure("DynamoDB TransactWriteItems", &e).into()),
        }
    }

    /// A Scan of the table for its `STATE` items, from a cursor (the last key scanned, as
    /// JSON). The re-evaluation runs it only after the policy changed.
    async fn resources(&self, cursor: Option<&str>, limit: usize) -> Result<KeyPage, StoreError> {
        let start = match cursor {
            Some(c) => {
                let (pk, sk): (String, String) =
                    serde_json::from_str(c).map_err(|e| StoreError::Corrupt {
                        key: "re-evaluation cursor".into(),
                        reason: e.to_string(),
                    })?;
                Some(HashMap::from([
                    (PK.to_owned(), AttributeValue::S(pk)),
                    (SK.to_owned(), AttributeValue::S(sk)),
                ]))
            }
            None => None,
        };
        let page = self
            .client
            .scan()
            .table_name(&self.table)
            .filter_expression("#sk = :state")
            .projection_expression("#pk, #sk")
            .expression_attribute_names("#pk", PK)
            .expression_attribute_names("#sk", SK)
            .expression_attribute_values(":state", AttributeValue::S(STATE_SK.into()))
            .limit(i32::try_from(limit.max(1)).unwrap_or(i32::MAX))
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(|e| crate::failure("DynamoDB Scan", &e))?;
        let mut keys = Vec::new();
        for item in page.items.unwrap_or_default() {
            let pk = text(&item, PK).unwrap_or_default();
            if let Ok(key) = ResourceKey::parse(pk) {
                keys.push(key);
            }
        }
        let next = match page.last_evaluated_key {
            Some(k) if !k.is_empty() => {
                let (pk, sk) = (
                    text(&k, PK).unwrap_or_default(),
                    text(&k, SK).unwrap_or_default(),
                );
                Some(
                    serde_json::to_string(&(pk, sk)).map_err(|e| StoreError::Corrupt {
                        key: "re-evaluation cursor".into(),
                        reason: e.to_string(),
                    })?,
                )
            }
            _ => None,
        };
        Ok(KeyPage { keys, next })
    }

    async fn job_cursor(&self, job: &str) -> Result<Option<String>, StoreError> {
        Ok(self
            .read_item(JOBS_PK, job)
            .await?
            .as_ref()
            .and_then(|i| text(i, "cursor"))
            .map(str::to_owned))
    }

    async fn set_job_cursor(&self, job: &str, cursor: Option<&str>) -> Result<(), StoreError> {
        match cursor {
            Some(c) => self
                .client
                .put_item()
                .table_name(&self.table)
                .item(PK, AttributeValue::S(JOBS_PK.into()))
                .item(SK, AttributeValue::S(job.to_owned()))
                .item("cursor", AttributeValue::S(c.to_owned()))
                .send()
                .await
                .map(|_| ())
                .map_err(|e| crate::failure("DynamoDB PutItem", &e).into()),
            None => self
                .client
                .delete_item()
                .table_name(&self.table)
                .key(PK, AttributeValue::S(JOBS_PK.into()))
                .key(SK, AttributeValue::S(job.to_owned()))
                .send()
                .await
                .map(|_| ())
                .map_err(|e| crate::failure("DynamoDB DeleteItem", &e).into()),
        }
    }

    async fn risky(
        &self,
        evaluated_before: Millis,
        limit: usize,
    ) -> Result<Vec<ResourceKey>, StoreError> {
        let mut keys = Vec::new();
        let mut start: Option<HashMap<String, AttributeValue>> = None;
        while keys.len() < limit {
            let page = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(RISKY_INDEX)
                .key_condition_expression("#r = :r AND #e < :e")
                .expression_attribute_names("#r", RISKY)
                .expression_attribute_names("#e", "evaluated_at")
                .expression_attribute_values(":r", AttributeValue::S("1".into()))
                .expression_attribute_values(":e", AttributeValue::N(evaluated_before.to_string()))
                .limit(
                    i32::try_from(limit - keys.len())
                        .unwrap_or(i32::MAX)
                        .min(1000),
                )
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| crate::failure("DynamoDB Query risky index", &e))?;
            for item in page.items.unwrap_or_default() {
                let pk = text(&item, PK).unwrap_or_default();
                let key = ResourceKey::parse(pk).map_err(|e| StoreError::Corrupt {
                    key: justice_core::text::quote(pk, 300),
                    reason: format!("not a resource key: {e}"),
                })?;
                keys.push(key);
            }
            match page.last_evaluated_key {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => break,
            }
        }
        keys.truncate(limit);
        Ok(keys)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plain_deflate(bytes: &[u8]) -> Vec<u8> {
        let mut d = flate2::Compress::new(flate2::Compression::new(6), false);
        let mut out = Vec::with_capacity(bytes.len() + 64);
        let status = d.compress_vec(bytes, &mut out, flate2::FlushCompress::Finish);
        assert!(
            matches!(status, Ok(flate2::Status::StreamEnd)),
            "{status:?}"
        );
        out
    }

    fn sample() -> serde_json::Value {
        serde_json::json!({
            "state": {"key": "123456789012/us-east-1/AWS::EC2::SecurityGroup/sg-0a1b2c3d",
                      "score": 110, "findings": [{"rule": "sg-world-admin-ports"}]},
            "item": {"configuration": {"ipPermissions": [{"fromPort": 22, "toPort": 22,
                     "ipRanges": ["0.0.0.0/0"]}]}}
        })
    }

    #[test]
    fn a_packed_value_reads_back_and_names_its_dictionary() {
        let packed = pack(&sample()).expect("ok");
        assert_eq!(packed[..2], PACKED_V1);
        let json = serde_json::to_vec(&sample()).expect("ok");
        assert!(
            packed.len() < json.len() / 2,
            "{} of {}",
            packed.len(),
            json.len()
        );
        assert_eq!(unpack::<serde_json::Value>(&packed).expect("ok"), sample());
    }

    #[test]
    fn a_blob_written_before_the_dictionary_still_reads() {
        let old = plain_deflate(&serde_json::to_vec(&sample()).expect("ok"));
        assert_ne!(old[0], 0x07);
        assert_eq!(unpack::<serde_json::Value>(&old).expect("ok"), sample());
    }

    #[test]
    fn damaged_unknown_and_oversized_blobs_are_errors() {
        let packed = pack(&sample()).expect("ok");
        let cut = unpack::<serde_json::Value>(&packed[..packed.len() / 2]).expect_err("refused");
        assert!(cut.0.contains("inflate"), "{cut}");
        let mut later = packed.clone();
        later[1] = 2;
        let unknown = unpack::<serde_json::Value>(&later).expect_err("refused");
        assert!(unknown.0.contains("unknown version 2"), "{unknown}");
        assert!(unpack::<serde_json::Value>(b"\x07").is_err());
        assert!(unpack::<serde_json::Value>(b"not deflate at all").is_err());
        let bomb = plain_deflate(&vec![b' '; MAX_INFLATED + 1024]);
        let big = unpack::<serde_json::Value>(&bomb).expect_err("refused");
        assert!(big.0.contains("inflates past"), "{big}");
    }
}
