//! The judge's dockets and the blast-radius budget, in the risk table itself.
//!
//! A docket is the item `pk = <resource key>, sk = VERDICT` (`VERDICT#dry-run` for the dry-run
//! board); the budget of an hour is `pk = justice#blast, sk = <board>#<hour>`. Neither sort key
//! is `STATE`, so the judge's stream filter never sees its own writes.
//!
//! A docket with an open verdict (`Docket::open`) also carries `open_board` (`<board>`, or
//! `<board>#held` for a held one) and `open_order` (`<since, 20 digits>#<pk>`): the sparse
//! index `open-verdicts` on those two (it projects `open`) is the digests' list and, in its
//! held partition, oldest first, the judge's held queue; neither is read with a scan.

use std::collections::HashMap;

use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes};
use justice_core::verdict::{Docket, OpenLine, VerdictKind};
use justice_core::ResourceKey;
use justice_service::{BudgetAsk, Commit, DocketStore, Dockets, OpenPage, StoreError};

use crate::risk_store::{DynamoRiskStore, EXPIRES_AT, PK, SK};

pub const BLAST_PK: &str = "justice#blast";
pub const OPEN_INDEX: &str = "open-verdicts";
const OPEN_BOARD: &str = "open_board";
const OPEN_ORDER: &str = "open_order";

/// The board's name: `live` or `dry-run` (also the judge's metric dimension).
pub fn board(dry_run: bool) -> &'static str {
    if dry_run {
        "dry-run"
    } else {
        "live"
    }
}

/// The index partitions of a board: open lines, then held ones.
fn partitions(dry_run: bool) -> [String; 2] {
    [
        board(dry_run).to_owned(),
        format!("{}#held", board(dry_run)),
    ]
}

/// The index's sort key: the time the line opened, then the table key, or its hash when the
/// key would pass the 1,024 bytes DynamoDB allows an index's sort key (an id may be 768
/// characters of up to four bytes each).
fn open_order(since: i64, pk: &str) -> String {
    if pk.len() <= 1000 {
        format!("{:020}#{pk}", since.max(0))
    } else {
        format!(
            "{:020}#~{:016x}",
            since.max(0),
            justice_core::item::hash_parts(&[pk])
        )
    }
}

pub fn docket_sk(dry_run: bool) -> &'static str {
    if dry_run {
        "VERDICT#dry-run"
    } else {
        "VERDICT"
    }
}

/// An error that is not the SDK's: a request that cannot be built (permanent), or a budget
/// that kept changing under every attempt (transient).
fn backend(what: &str, detail: String, transient: bool) -> StoreError {
    StoreError::Backend {
        source: format!("DynamoDB {what}: {detail}").into(),
        transient,
    }
}

impl DocketStore for DynamoRiskStore {
    async fn dockets(&self, keys: &[ResourceKey], dry_run: bool) -> Result<Dockets, StoreError> {
        let mut out = Dockets::default();
        for chunk in keys.chunks(100) {
            let mut request = KeysAndAttributes::builder().consistent_read(true);
            for k in chunk {
                request = request.keys(HashMap::from([
                    (PK.to_owned(), AttributeValue::S(k.as_str().to_owned())),
                    (
                        SK.to_owned(),
                        AttributeValue::S(docket_sk(dry_run).to_owned()),
                    ),
                ]));
            }
            let mut pending = Some(
                request
                    .build()
                    .map_err(|e| backend("BatchGetItem", e.to_string(), false))?,
            );
            let mut rounds = 0;
            while let Some(req) = pending.take() {
                rounds += 1;
                let resp = self
                    .client()
                    .batch_get_item()
                    .request_items(self.table(), req)
                    .send()
                    .await
                    .map_err(|e| crate::failure("DynamoDB BatchGetItem", &e))?;
                for item in resp
                    .responses
                    .unwrap_or_default()
                    .remove(self.table())
                    .unwrap_or_default()
                {
                    let pk = item
                        .get(PK)
                        .and_then(|v| v.as_s().ok())
                        .cloned()
                        .unwrap_or_default();
                    let key = ResourceKey::parse(&pk).map_err(|e| StoreError::Corrupt {
                        key: format!("{pk} {}", docket_sk(dry_run)),
                        reason: e.to_string(),
                    })?;
                    match serde_dynamo::from_item::<_, Docket>(item) {
                        Ok(docket) if docket.key == key => {
                            out.found.insert(key, docket);
                        }
                        Ok(docket) => {
                            let why = format!("the docket names {}", docket.key);
                            out.unreadable.insert(key, why);
                        }
                        Err(e) => {
                            out.unreadable.insert(key, e.to_string());
                        }
                    }
                }
                if let Some(mut rest) = resp.unprocessed_keys {
                    if let Some(again) = rest.remove(self.table()) {
                        if rounds > 8 {
                            return Err(backend(
                                "BatchGetItem",
                                "keys left unprocessed after 8 rounds (throttled)".into(),
                                true,
                            ));
                        }
                        tokio::time::sleep(std::time::Duration::from_millis(25 << rounds)).await;
                        pending = Some(again);
                    }
                }
            }
        }
        Ok(out)
    }

    async fn save_dockets(
        &self,
        dockets: &[(&Docket, Option<u64>)],
    ) -> Vec<Result<Commit, StoreError>> {
        // One conditional PutItem each: in a transaction one conflict would cancel the rest.
        let mut out = Vec::with_capacity(dockets.len());
        for (docket, expected) in dockets {
            out.push(self.save_docket(docket, *expected).await);
        }
        out
    }

    async fn open_verdicts(
        &self,
        dry_run: bool,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<OpenPage, StoreError> {
        // The cursor is `<partition number>\n<open_order>\n<pk>`: the open lines, then the
        // held ones.
        let mut parts = cursor.unwrap_or_default().splitn(3, '\n');
        let (part, order, pk) = (parts.next(), parts.next(), parts.next());
        let part = usize::from(part == Some("1"));
        let after = order.zip(pk).filter(|(o, _)| !o.is_empty());
        let partition = &partitions(dry_run)[part];
        let (items, next) = self
            .open_index(partition, after, limit.clamp(1, 1000))
            .await?;
        let mut page = OpenPage::default();
        for item in items {
            match open_entry(&item) {
                Ok(line) => page.lines.push(line),
                Err(e) => page.unreadable.push(e.to_string()),
            }
        }
        page.next = match next {
            Some((order, pk)) => Some(format!("{part}\n{order}\n{pk}")),
            // The open lines are done: the held ones next, from their start.
            None if part == 0 => Some("1".to_owned()),
            None => None,
        };
        Ok(page)
    }

    async fn held_queue(
        &self,
        dry_run: bool,
        limit: usize,
    ) -> Result<Vec<ResourceKey>, StoreError> {
        let partition = &partitions(dry_run)[1];
        let (items, _) = self
            .open_index(partition, None, limit.clamp(1, 1000))
            .await?;
        // An entry that does not read back is skipped (and logged): one bad entry must not
        // stop the queue for every resource behind it.
        Ok(items
            .iter()
            .filter_map(|item| match open_entry(item) {
                Ok((key, _)) => Some(key),
                Err(e) => {
                    tracing::error!(error = %e, "held-queue entry unreadable; skipped");
                    None
                }
            })
            .collect())
    }

    async fn reserve(&self, ask: BudgetAsk) -> Result<u32, StoreError> {
        let BudgetAsk {
            window,
            want,
            limit,
            dry_run,
        } = ask;
        let sk = format!("{}#{window}", if dry_run { "dry-run" } else { "live" });
        let mut take = want.min(limit);
        // Each round either takes `take` atomically or learns how much is left.
        for _ in 0..16 {
            if take == 0 {
                return Ok(0);
            }
            let result = self
                .client()
                .update_item()
                .table_name(self.table())
                .key(PK, AttributeValue::S(BLAST_PK.into()))
                .key(SK, AttributeValue::S(sk.clone()))
                .update_expression("ADD #used :n SET #exp = :exp")
                .condition_expression("attribute_not_exists(#used) OR #used <= :max")
                .expression_attribute_names("#used", "used")
                .expression_attribute_names("#exp", EXPIRES_AT)
                .expression_attribute_values(":n", AttributeValue::N(take.to_string()))
                .expression_attribute_values(":max", AttributeValue::N((limit - take).to_string()))
                .expression_attribute_values(
                    ":exp",
                    AttributeValue::N(((window + 48) * 3600).to_string()),
                )
                .send()
                .await;
            match result {
                Ok(_) => return Ok(take),
                Err(SdkError::ServiceError(s))
                    if matches!(s.err(), UpdateItemError::ConditionalCheckFailedException(_)) =>
                {
                    let used = self.budget_used(&sk).await?;
                    take = want.min(limit.saturating_sub(used));
                }
                Err(e) => return Err(crate::failure("DynamoDB UpdateItem budget", &e).into()),
            }
        }
        Err(backend(
            "UpdateItem budget",
            "the budget kept changing under 16 attempts".into(),
            true,
        ))
    }
}

/// One entry of the open-verdicts index: the resource and its open line.
fn open_entry(
    item: &HashMap<String, AttributeValue>,
) -> Result<(ResourceKey, OpenLine), StoreError> {
    let pk = item
        .get(PK)
        .and_then(|v| v.as_s().ok())
        .cloned()
        .unwrap_or_default();
    let corrupt = |reason: String| StoreError::Corrupt {
        key: justice_core::text::quote(&pk, 300),
        reason,
    };
    let key = ResourceKey::parse(&pk).map_err(|e| corrupt(format!("not a resource key: {e}")))?;
    let Some(open) = item.get("open") else {
        return Err(corrupt("an open-verdicts entry without its line".into()));
    };
    let line: OpenLine = serde_dynamo::from_attribute_value(open.clone())
        .map_err(|e| corrupt(format!("open verdict: {e}")))?;
    Ok((key, line))
}

impl DynamoRiskStore {
    /// One page of a partition of the open-verdicts index, in `open_order`, after `after`
    /// (its `open_order` and table key); and where the next page starts, if there is one.
    async fn open_index(
        &self,
        partition: &str,
        after: Option<(&str, &str)>,
        limit: usize,
    ) -> Result<
        (
            Vec<HashMap<String, AttributeValue>>,
            Option<(String, String)>,
        ),
        StoreError,
    > {
        let start = after.map(|(order, pk)| {
            HashMap::from([
                (
                    OPEN_BOARD.to_owned(),
                    AttributeValue::S(partition.to_owned()),
                ),
                (OPEN_ORDER.to_owned(), AttributeValue::S(order.to_owned())),
                (PK.to_owned(), AttributeValue::S(pk.to_owned())),
                (
                    SK.to_owned(),
                    AttributeValue::S(docket_sk(partition.starts_with("dry-run")).to_owned()),
                ),
            ])
        });
        let out = self
            .client()
            .query()
            .table_name(self.table())
            .index_name(OPEN_INDEX)
            .key_condition_expression("#b = :b")
            .expression_attribute_names("#b", OPEN_BOARD)
            .expression_attribute_values(":b", AttributeValue::S(partition.to_owned()))
            .limit(i32::try_from(limit).unwrap_or(1000))
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(|e| crate::failure("DynamoDB Query open verdicts", &e))?;
        let text = |k: &HashMap<String, AttributeValue>, name: &str| {
            k.get(name).and_then(|v| v.as_s().ok()).cloned()
        };
        let next = out
            .last_evaluated_key
            .and_then(|k| Some((text(&k, OPEN_ORDER)?, text(&k, PK)?)));
        Ok((out.items.unwrap_or_default(), next))
    }

    async fn save_docket(
        &self,
        docket: &Docket,
        expected_revision: Option<u64>,
    ) -> Result<Commit, StoreError> {
        let mut item: HashMap<String, AttributeValue> =
            serde_dynamo::to_item(docket).map_err(|e| StoreError::Corrupt {
                key: docket.key.to_string(),
                reason: e.to_string(),
            })?;
        item.insert(PK.into(), AttributeValue::S(docket.key.as_str().to_owned()));
        item.insert(
            SK.into(),
            AttributeValue::S(docket_sk(docket.dry_run).into()),
        );
        if let Some(line) = &docket.open {
            let [open, held] = partitions(docket.dry_run);
            let partition = if line.kind == VerdictKind::Held {
                held
            } else {
                open
            };
            item.insert(OPEN_BOARD.into(), AttributeValue::S(partition));
            item.insert(
                OPEN_ORDER.into(),
                AttributeValue::S(open_order(line.since, docket.key.as_str())),
            );
        }
        let put = self.guarded_put(item, expected_revision)?;
        self.put_alone(put, "docket").await
    }

    async fn budget_used(&self, sk: &str) -> Result<u32, StoreError> {
        Ok(self
            .read_item(BLAST_PK, sk)
            .await?
            .as_ref()
            .and_then(|i| i.get("used"))
            .and_then(|v| v.as_n().ok())
            .and_then(|n| n.parse::<u64>().ok())
            .map_or(0, |n| u32::try_from(n).unwrap_or(u32::MAX)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_index_sort_key_fits_dynamodb_whatever_the_resource_key() {
        let short = "111122223333/us-east-1/AWS::EC2::Volume/vol-1";
        assert_eq!(open_order(5, short), format!("{:020}#{short}", 5));
        // 768 characters of four bytes each: a key of over 3,000 bytes.
        let long = format!("111122223333/us-east-1/AWS::S3::Bucket/{}", "𝔁".repeat(768));
        let other = format!("111122223333/us-east-1/AWS::S3::Bucket/{}", "𝔂".repeat(768));
        assert!(open_order(5, &long).len() <= 1024);
        assert_ne!(open_order(5, &long), open_order(5, &other));
        // Oldest first, whatever the key.
        assert!(open_order(4, &long) < open_order(5, short));
        assert!(open_order(-3, short) < open_order(0, "z"));
    }
}
