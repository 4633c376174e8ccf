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
use justice_core::{HistoryRecord, ResourceKey, RiskState};
use justice_service::ports::{KeyPage, Write};
use justice_service::{Commit, RiskStore, StoreError, Stored};

pub const PK: &str = "pk";
pub const SK: &str = "sk";
pub const STATE_SK: &str = "STATE";
pub const HISTORY_PREFIX: &str = "H#";
/// The TTL attribute of history items (epoch seconds).
pub const EXPIRES_AT: &str = "expires_at";
/// The state's kept newest item (binary, `justice_core::kept`).
pub const ITEM: &str = "item";
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

fn backend<E: std::error::Error + Send + Sync + 'static>(e: E) -> StoreError {
    StoreError::Backend {
        source: Box::new(e),
    }
}

/// An SDK error with its service message, not only "service error".
fn sdk<E, R>(what: &str, e: SdkError<E, R>) -> StoreError
where
    E: std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    let detail = crate::sdk_error_detail(&e);
    StoreError::Backend {
        source: format!("DynamoDB {what}: {detail}").into(),
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

    fn state_item(
        &self,
        state: &RiskState,
        kept: Option<&[u8]>,
    ) -> Result<HashMap<String, AttributeValue>, StoreError> {
        let mut item: HashMap<String, AttributeValue> =
            serde_dynamo::to_item(state).map_err(|e| corrupt(&state.key, e))?;
        item.insert(PK.into(), AttributeValue::S(state.key.as_str().to_owned()));
        item.insert(SK.into(), AttributeValue::S(STATE_SK.into()));
        if state.needs_rescore() {
            item.insert(RISKY.into(), AttributeValue::S("1".into()));
        }
        if let Some(bytes) = kept {
            item.insert(ITEM.into(), AttributeValue::B(Blob::new(bytes)));
        }
        Ok(item)
    }

    fn history_item(
        &self,
        key: &ResourceKey,
        record: &HistoryRecord,
    ) -> Result<HashMap<String, AttributeValue>, StoreError> {
        let mut item: HashMap<String, AttributeValue> =
            serde_dynamo::to_item(record).map_err(|e| corrupt(key, e))?;
        item.insert(PK.into(), AttributeValue::S(key.as_str().to_owned()));
        item.insert(SK.into(), AttributeValue::S(record.sort_key()));
        let expires = record.capture_time.div_euclid(1000) + self.history_ttl_secs;
        item.insert(EXPIRES_AT.into(), AttributeValue::N(expires.to_string()));
        Ok(item)
    }

    /// The state's put, guarded by the revision it was read at.
    fn state_put(&self, w: &Write<'_>) -> Result<Put, StoreError> {
        let expected_revision = w.expected_revision;
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(self.state_item(w.state, w.item)?));
        let put = match expected_revision {
            None => put
                .condition_expression("attribute_not_exists(#pk)")
                .expression_attribute_names("#pk", PK),
            Some(rev) => put
                .condition_expression("#rev = :rev")
                .expression_attribute_names("#rev", "revision")
                .expression_attribute_values(":rev", AttributeValue::N(rev.to_string())),
        };
        put.build().map_err(backend)
    }

    async fn put_state_alone(&self, w: &Write<'_>) -> Result<Commit, StoreError> {
        let put = self.state_put(w)?;
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
            Err(e) => Err(sdk("PutItem", e)),
        }
    }
}

fn corrupt(key: &ResourceKey, e: serde_dynamo::Error) -> StoreError {
    StoreError::Corrupt {
        key: key.to_string(),
        reason: e.to_string(),
    }
}

fn text<'a>(item: &'a HashMap<String, AttributeValue>, name: &str) -> Option<&'a str> {
    item.get(name)
        .and_then(|v| v.as_s().ok())
        .map(String::as_str)
}

impl RiskStore for DynamoRiskStore {
    async fn load(&self, key: &ResourceKey) -> Result<Stored, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(PK, AttributeValue::S(key.as_str().to_owned()))
            .key(SK, AttributeValue::S(STATE_SK.into()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| sdk("GetItem", e))?;
        let Some(mut item) = out.item else {
            return Ok(Stored::default());
        };
        let kept = match item.remove(ITEM) {
            Some(AttributeValue::B(b)) => Some(b.into_inner()),
            _ => None,
        };
        let state = serde_dynamo::from_item(item).map_err(|e| StoreError::Corrupt {
            key: format!("{key} {STATE_SK}"),
            reason: e.to_string(),
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
                .map_err(|e| sdk("Query", e))?;
            for item in page.items.unwrap_or_default() {
                let sk = text(&item, SK).unwrap_or_default().to_owned();
                // Query returns items in sort-key order: the history comes out oldest first.
                history.push(
                    serde_dynamo::from_item(item).map_err(|e| StoreError::Corrupt {
                        key: format!("{key} {sk}"),
                        reason: e.to_string(),
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
                        })
                    }
                }
                _ => Err(sdk("TransactWriteItems", SdkError::ServiceError(s))),
            },
            Err(e) => Err(sdk("TransactWriteItems", e)),
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
            .map_err(|e| sdk("Scan", e))?;
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
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(PK, AttributeValue::S(JOBS_PK.into()))
            .key(SK, AttributeValue::S(job.to_owned()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| sdk("GetItem", e))?;
        Ok(out
            .item
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
                .map_err(|e| sdk("PutItem", e)),
            None => self
                .client
                .delete_item()
                .table_name(&self.table)
                .key(PK, AttributeValue::S(JOBS_PK.into()))
                .key(SK, AttributeValue::S(job.to_owned()))
                .send()
                .await
                .map(|_| ())
                .map_err(|e| sdk("DeleteItem", e)),
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
                .map_err(|e| sdk("Query risky index", e))?;
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
