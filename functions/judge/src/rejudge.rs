//! The judge's dead letters: the resources whose changes failed for good, to be judged again
//! from their current state once the cause is fixed (`{"justice": "rejudge", "keys": […]}`,
//! the letter's `event`, sent back to the function).

use std::collections::BTreeSet;

use aws_lambda_events::streams::DynamoDbEventResponse;
use justice_aws::lambda::Error;
use justice_core::time::Millis;
use justice_service::{Clock, DocketStore, Outbox, RecordFailure, RiskStore, TaskBoard};
use serde_json::{json, Value};

use crate::App;

#[derive(serde::Deserialize)]
struct Rejudge {
    justice: String,
    keys: Vec<String>,
}

/// The resource keys of a redrive, if `text` is one. A stream batch is read no further than
/// the search for the member that names a job.
pub fn keys(text: &str) -> Option<Vec<String>> {
    if !text.contains("\"justice\"") {
        return None;
    }
    serde_json::from_str::<Rejudge>(text)
        .ok()
        .filter(|r| r.justice == "rejudge")
        .map(|r| r.keys)
}

/// The redrive of `failures`: each resource they name, once. A failure that names none (a
/// stream record whose key cannot be read) has nothing to judge again: its reason is in the
/// letter.
pub fn letter(failures: &[RecordFailure]) -> Value {
    let keys: BTreeSet<&str> = failures
        .iter()
        .map(|f| f.resource.as_str())
        .filter(|k| !k.is_empty())
        .collect();
    json!({ "justice": "rejudge", "keys": keys })
}

impl<D: DocketStore + RiskStore, B: TaskBoard, O: Outbox, K: Clock> App<D, B, O, K> {
    /// A redrive: the resources of a dead letter, judged from their state as stored now
    /// (never from the images of the letter, which a late or out-of-order redrive would judge
    /// after the state moved on). Fails, for a retry, when a resource cannot be read.
    pub async fn rejudge(
        &self,
        keys: &[String],
        now: Millis,
    ) -> Result<DynamoDbEventResponse, Error> {
        let judge = self.service();
        let (changes, failures) = judge.current(keys).await;
        let out = self.decide(changes, failures, now).await?;
        match out.batch_item_failures.is_empty() {
            true => Ok(out),
            false => Err(format!(
                "{} resource(s) not judged again",
                out.batch_item_failures.len()
            )
            .into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_redrive_is_told_from_a_stream_batch() {
        let redrive =
            r#"{"justice": "rejudge", "keys": ["123456789012/us-east-1/AWS::S3::Bucket/b"]}"#;
        assert_eq!(
            keys(redrive),
            Some(vec!["123456789012/us-east-1/AWS::S3::Bucket/b".to_owned()])
        );
        // A batch whose images hold the word, even as a member name, is a batch.
        let batch = r#"{"Records": [{"dynamodb": {"NewImage": {"tags": {"M": {"justice": {"S": "rejudge"}}}}}}]}"#;
        assert_eq!(keys(batch), None);
        assert_eq!(keys(r#"{"justice": "rescore", "keys": []}"#), None);
        assert_eq!(keys(r#"{"Records": []}"#), None);
    }

    #[test]
    fn a_letter_names_each_resource_once_and_skips_records_without_one() {
        let f = |record: &str, resource: &str| {
            let mut f = RecordFailure::permanent(record, "why");
            f.resource = resource.to_owned();
            f
        };
        let letter = letter(&[f("1", "a"), f("2", "a"), f("3", ""), f("4", "b")]);
        assert_eq!(letter, json!({"justice": "rejudge", "keys": ["a", "b"]}));
    }
}
