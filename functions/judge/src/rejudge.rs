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
