//! The judge's dead letters: the resources whose changes failed for good, to be judged again
//! from their current state once the cause is fixed (`{"justice": "rejudge", "keys": […]}`,
//! the letter's `event`, sent back to the function).

use std::collections::BTreeSet;

use justice_service::RecordFailure;
use serde_json::{json, Value};

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
