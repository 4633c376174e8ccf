//! A unit of input that failed (a Config event's record, a stream record, a verdict record),
//! and the one rule for what happens to it: an input whose every failure is permanent goes to
//! the dead-letter queue at once, with its reasons and the input to redrive it from; an input
//! with a transient failure is retried whole.

use serde::Serialize;
use serde_json::{json, Value};

/// One failed record, named for the log, the error and the dead-letter message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RecordFailure {
    /// Which record of the input: its index, sequence number or object key.
    pub record: String,
    /// The resource it is about, when it is known.
    pub resource: String,
    pub reason: String,
    /// Whether the record may pass when tried again (throttling, a 5xx, a lost connection,
    /// a conditional write that lost a race), rather than fail the same way (bad input,
    /// access denied, a missing table, bucket or topic).
    #[serde(skip)]
    pub transient: bool,
}

impl RecordFailure {
    /// A failure no retry can fix, of a record that names no resource.
    pub fn permanent(record: impl Into<String>, reason: impl Into<String>) -> Self {
        RecordFailure {
            record: record.into(),
            resource: String::new(),
            reason: reason.into(),
            transient: false,
        }
    }
}

/// The invocation's error when records failed and are left to the trigger's retries.
pub fn failure_message(failures: &[RecordFailure]) -> String {
    let list: Vec<String> = failures
        .iter()
        .map(|f| match f.resource.is_empty() {
            true => format!("{}: {}", f.record, f.reason),
            false => format!("{}: {}: {}", f.record, f.resource, f.reason),
        })
        .collect();
    format!("{} record(s) failed: {}", failures.len(), list.join("; "))
}

/// The dead-letter message for an input, when it failed and no failure can pass on a retry: it
/// goes to the queue (and a person) now rather than after useless retries. An input with a
/// transient failure too is retried whole (its permanent failures reach the on-failure
/// destination with it): dead-lettered once, not at every attempt.
/// A message that would not fit in an SQS message is not sent: the input is retried instead and
/// reaches the trigger's own failure path whole (a letter without its input would lose it).
pub fn dead_letter(failures: &[RecordFailure], input: Value) -> Option<String> {
    if failures.is_empty() || failures.iter().any(|f| f.transient) {
        return None;
    }
    let body = json!({ "failures": failures, "event": input }).to_string();
    (body.len() <= DEAD_LETTER_MAX_BYTES).then_some(body)
}

/// SQS's message limit (256 KiB), less room for the attributes.
pub const DEAD_LETTER_MAX_BYTES: usize = 250 * 1024;

/// `raw` as JSON, or as a JSON string when it does not parse: the input travels either way.
pub fn input_of(raw: &str) -> Value {
    serde_json::from_str::<Value>(raw).unwrap_or_else(|_| Value::String(raw.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failure(transient: bool) -> RecordFailure {
        RecordFailure {
            record: "0".into(),
            resource: "AWS::S3::Bucket b".into(),
            reason: "why".into(),
            transient,
        }
    }

    #[test]
    fn only_an_input_whose_every_failure_is_permanent_is_dead_lettered() {
        let mut failures = Vec::new();
        assert_eq!(dead_letter(&failures, json!({})), None, "nothing failed");
        failures.push(failure(false));
        let body: Value =
            serde_json::from_str(&dead_letter(&failures, input_of("{\"a\":1}")).expect("letter"))
                .expect("JSON");
        assert_eq!(body["event"], json!({"a": 1}));
        assert_eq!(body["failures"][0]["reason"], "why");
        assert!(body["failures"][0].get("transient").is_none());
        // Text that does not parse back travels as text.
        let body: Value =
            serde_json::from_str(&dead_letter(&failures, input_of("{not json")).expect("letter"))
                .expect("JSON");
        assert_eq!(body["event"], "{not json");
        failures.push(failure(true));
        assert_eq!(
            dead_letter(&failures, json!({})),
            None,
            "a transient failure retries the input"
        );
    }

    #[test]
    fn a_letter_too_big_for_the_queue_is_not_sent_and_the_input_is_retried() {
        let big = json!({"big": "x".repeat(300 * 1024)});
        assert_eq!(dead_letter(&[failure(false)], big), None);
        let small = dead_letter(&[failure(false)], json!({"a": 1})).expect("letter");
        assert!(small.len() <= DEAD_LETTER_MAX_BYTES);
    }
}
