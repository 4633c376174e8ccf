//! A Config event through the scorer, record by record: the scorer Lambda decodes its payload
//! and calls [`Scorer::score_event`]; what to do with the failures (retry the event, or send it
//! to the dead-letter queue at once) is decided here too, from the failures alone.

use std::collections::BTreeMap;

use justice_core::event::{Notice, RecordResult};
use justice_core::policy::Level;
use serde::Serialize;
use serde_json::{json, Value};

use crate::clock::Clock;
use crate::ports::{ConfigSource, RiskStore};
use crate::scorer::{Outcome, Scorer};

/// Why an account's resources may not be scored, if they may not: only the accounts of
/// `allowed` are this deployment's to judge.
pub fn refusal(allowed: &[String], account: &str) -> Option<String> {
    (!allowed.iter().any(|a| a == account))
        .then(|| format!("account {account} is not in ALLOWED_ACCOUNTS"))
}

/// One record of an event that could not be scored, named for the log and the error.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RecordFailure {
    pub record: usize,
    pub resource: String,
    pub reason: String,
    /// Whether the record may pass when tried again (AWS trouble), rather than fail the same
    /// way (bad input, access denied, a missing table).
    #[serde(skip)]
    pub transient: bool,
}

/// One record that was taken.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum RecordDone {
    Scored {
        resource: String,
        score: u32,
        level: Level,
        /// False for a redelivery: nothing was written.
        written: bool,
    },
    Ignored {
        ignored: String,
    },
}

/// What an event's records came to: each record is tried, whatever the others did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EventReport {
    pub done: Vec<RecordDone>,
    pub failures: Vec<RecordFailure>,
}

impl EventReport {
    /// Records scored, by the level of the resulting state.
    pub fn scored_by_level(&self) -> BTreeMap<&'static str, u64> {
        let mut out = BTreeMap::new();
        for d in &self.done {
            if let RecordDone::Scored { level, .. } = d {
                *out.entry(level.as_str()).or_default() += 1;
            }
        }
        out
    }

    pub fn ignored(&self) -> u64 {
        self.done
            .iter()
            .filter(|d| matches!(d, RecordDone::Ignored { .. }))
            .count() as u64
    }

    /// The dead-letter message for this event, when it failed and no failure can pass on a
    /// retry: it goes to the queue (and a person) now rather than after two useless retries.
    /// An event with a transient failure too is retried whole (its permanent failures reach
    /// Lambda's dead-letter queue with it): dead-lettered once, not at every attempt.
    /// `raw` is the event as received, to redrive it from; kept as text when it does not
    /// parse back.
    pub fn dead_letter(&self, raw: &str) -> Option<String> {
        if self.failures.is_empty() || self.failures.iter().any(|f| f.transient) {
            return None;
        }
        let event =
            serde_json::from_str::<Value>(raw).unwrap_or_else(|_| Value::String(raw.to_owned()));
        Some(json!({ "failures": self.failures, "event": event }).to_string())
    }

    /// The invocation's error when records failed: each failure, and how many were tried.
    pub fn failure_message(&self) -> String {
        let list: Vec<String> = self
            .failures
            .iter()
            .map(|f| format!("record {}: {}: {}", f.record, f.resource, f.reason))
            .collect();
        format!(
            "{} of {} records failed (the others were scored): {}",
            self.failures.len(),
            self.failures.len() + self.done.len(),
            list.join("; ")
        )
    }
}

impl<S: RiskStore, C: ConfigSource, K: Clock> Scorer<'_, S, C, K> {
    /// Every record of an event: an unreadable record, or one of an account not in `allowed`,
    /// is a failure of its own; the others are scored. Redelivery is harmless: writes are
    /// idempotent.
    pub async fn score_event(&self, records: Vec<RecordResult>, allowed: &[String]) -> EventReport {
        let mut report = EventReport::default();
        for (i, record) in records.into_iter().enumerate() {
            let fail = |resource: String, reason: String, transient: bool| RecordFailure {
                record: i,
                resource,
                reason,
                transient,
            };
            let notice = match record {
                Ok(n) => n,
                Err(e) => {
                    report.failures.push(fail(e.subject, e.reason, false));
                    continue;
                }
            };
            let (label, refused) = match &notice {
                Notice::Item { item, .. } => (item.label(), refusal(allowed, &item.account)),
                Notice::Oversized(s) => (s.label(), refusal(allowed, &s.account)),
                Notice::Ignored { .. } => (String::new(), None),
            };
            if let Some(reason) = refused {
                report.failures.push(fail(label, reason, false));
                continue;
            }
            match self.handle(notice).await {
                Ok(Outcome::Scored { state, written }) => {
                    tracing::info!(resource = %state.key, score = state.score, level = %state.level, written, "scored");
                    report.done.push(RecordDone::Scored {
                        resource: state.key.to_string(),
                        score: state.score,
                        level: state.level,
                        written,
                    });
                }
                Ok(Outcome::Ignored { reason }) => {
                    tracing::info!(%reason, "ignored");
                    report.done.push(RecordDone::Ignored { ignored: reason });
                }
                Err(e) => {
                    let transient = e.is_transient();
                    report.failures.push(fail(label, e.to_string(), transient));
                }
            }
        }
        for f in &report.failures {
            tracing::error!(record = f.record, resource = %f.resource, reason = %f.reason, transient = f.transient, "refused record");
        }
        tracing::info!(
            taken = report.done.len(),
            refused = report.failures.len(),
            "event done"
        );
        report
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failure(transient: bool) -> RecordFailure {
        RecordFailure {
            record: 0,
            resource: "AWS::S3::Bucket b".into(),
            reason: "why".into(),
            transient,
        }
    }

    #[test]
    fn only_an_event_whose_every_failure_is_permanent_is_dead_lettered() {
        let mut r = EventReport::default();
        assert_eq!(r.dead_letter("{}"), None, "nothing failed");
        r.failures.push(failure(false));
        let body: Value =
            serde_json::from_str(&r.dead_letter("{\"a\":1}").expect("dead letter")).expect("JSON");
        assert_eq!(body["event"], json!({"a": 1}));
        assert_eq!(body["failures"][0]["reason"], "why");
        assert!(body["failures"][0].get("transient").is_none());
        // Text that does not parse back travels as text.
        let body: Value =
            serde_json::from_str(&r.dead_letter("{not json").expect("dead letter")).expect("JSON");
        assert_eq!(body["event"], "{not json");
        r.failures.push(failure(true));
        assert_eq!(
            r.dead_letter("{}"),
            None,
            "a transient failure retries the event"
        );
    }

    #[test]
    fn accounts_outside_the_list_are_refused_by_name() {
        let allowed = vec!["111111111111".to_owned()];
        assert_eq!(refusal(&allowed, "111111111111"), None);
        assert_eq!(
            refusal(&allowed, "222222222222").as_deref(),
            Some("account 222222222222 is not in ALLOWED_ACCOUNTS")
        );
    }
}
