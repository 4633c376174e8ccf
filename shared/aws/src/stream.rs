//! The risk table's stream, decoded: the judge's input. STATE items only, each image read with
//! the store's own mapping and checked to be the resource its key names.

use aws_lambda_events::dynamodb::{Event, EventRecord};
use aws_lambda_events::streams::{DynamoDbBatchItemFailure, DynamoDbEventResponse};
use justice_core::ResourceKey;
use justice_service::Change;

use crate::risk_store::{state_from_image, PK, SK, STATE_SK};

/// A stream record that cannot be judged, without blocking its shard's others: dead-lettered
/// (as its resource, to judge again from the stored state once the cause is fixed, say a
/// deploy that reads a newer image), or retried when there is no dead-letter queue.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("stream record {id}: {reason}")]
pub struct Poison {
    pub id: String,
    /// The resource, when the record's key could be read.
    pub key: Option<ResourceKey>,
    pub reason: String,
}

impl From<Poison> for justice_service::RecordFailure {
    /// Permanent: the record reads the same way at every retry.
    fn from(p: Poison) -> Self {
        let mut f = justice_service::RecordFailure::permanent(p.id, p.reason);
        f.resource = p.key.map(|k| k.to_string()).unwrap_or_default();
        f
    }
}

/// The changes of a stream batch, and apart from them the records that cannot be decoded.
/// Each change's id is its record's sequence number (what a batch item failure names).
pub fn changes(event: &Event) -> (Vec<Change>, Vec<Poison>) {
    let mut out = Vec::new();
    let mut poison = Vec::new();
    for (i, r) in event.records.iter().enumerate() {
        let id = r
            .change
            .sequence_number
            .clone()
            .unwrap_or_else(|| format!("record-{i}"));
        match change(r) {
            Ok(Some((key, state))) => out.push(Change { id, key, state }),
            Ok(None) => {}
            Err((key, reason)) => poison.push(Poison { id, key, reason }),
        }
    }
    (out, poison)
}

type Decoded = Option<(ResourceKey, Option<justice_core::RiskState>)>;

/// The key and new state (`None`: removed) of a STATE record; `None` for any other item. An
/// error names the key when it could be read.
fn change(r: &EventRecord) -> Result<Decoded, (Option<ResourceKey>, String)> {
    let text = |name: &str| match r.change.keys.get(name) {
        Some(serde_dynamo::AttributeValue::S(s)) => Ok(s.as_str()),
        _ => Err((None, format!("the record's keys have no string `{name}`"))),
    };
    if text(SK)? != STATE_SK {
        // The event source's filter sends STATE items only; anything else is not ours to judge.
        return Ok(None);
    }
    let pk = text(PK)?;
    let key = ResourceKey::parse(pk).map_err(|e| {
        let pk = justice_core::text::quote(pk, 300);
        (None, format!("`{pk}` is not a resource key: {e}"))
    })?;
    if r.event_name == "REMOVE" {
        return Ok(Some((key, None)));
    }
    let state = state_from_image(&r.change.new_image, &key).map_err(|e| {
        let reason = format!("{key}: the new image is not a risk state: {e}");
        (Some(key.clone()), reason)
    })?;
    Ok(Some((key, Some(state))))
}

/// The batch's answer: the records to retry, by sequence number. Lambda retries from the first
/// one; later records are judged again, which is idempotent.
pub fn response<'a>(failed: impl IntoIterator<Item = &'a str>) -> DynamoDbEventResponse {
    DynamoDbEventResponse {
        batch_item_failures: failed
            .into_iter()
            .map(|id| DynamoDbBatchItemFailure {
                item_identifier: Some(id.to_owned()),
            })
            .collect(),
    }
}
