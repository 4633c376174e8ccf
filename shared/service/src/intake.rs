//! A Config event through the scorer, record by record: the scorer Lambda decodes its payload
//! and calls [`Scorer::score_event`]; what to do with the failures (retry the event, or send it
//! to the dead-letter queue at once) is decided here too, from the failures alone.

use std::collections::BTreeMap;

use justice_core::event::{Notice, RecordResult};
use justice_core::policy::Level;
use serde::Serialize;

use crate::failure::{dead_letter, input_of, RecordFailure};

use crate::clock::Clock;
use crate::ports::{ConfigSource, RiskStore};
use crate::scorer::{Outcome, Scorer};

/// Why an account's resources may not be scored, if they may not: only the accounts of
/// `allowed` are this deployment's to judge.
pub fn refusal(allowed: &[String], account: &str) -> Option<String> {
    (!allowed.iter().any(|a| a == account))
        .then(|| format!("account {account} is not in ALLOWED_ACCOUNTS"))
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
    /// A payload refused whole (neither a Config event nor a job): one permanent failure.
    pub fn refused(resource: String, reason: String) -> EventReport {
        EventReport {
            done: Vec::new(),
            failures: vec![RecordFailure {
                record: "event".into(),
                resource,
                reason,
                transient: false,
            }],
        }
    }

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

    /// The dead-letter message for this event: see [`dead_letter`]. `raw` is the event as
    /// received.
    pub fn dead_letter(&self, raw: &str) -> Option<String> {
        dead_letter(&self.failures, input_of(raw))
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
                record: i.to_string(),
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
            tracing::error!(record = %f.record, resource = %f.resource, reason = %f.reason, transient = f.transient, "refused record");
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
