//! The scorer function: a notice in, a history record and a new risk state out, through the
//! ports. One read of the state and one conditional write per change, however long the
//! history (`justice_core::score::fold`); an item that arrives out of order reads the history
//! (the slow path). Idempotent (a redelivery writes nothing) and order-safe (under an
//! optimistic lock on the state's revision).

use justice_core::event::{Notice, OversizedSummary};
use justice_core::policy::Level;
use justice_core::score::{self, derive_state, evaluate_item, insert_record, Fold, Inserted};
use justice_core::time::Millis;
use justice_core::{key_of, ConfigItem, HistoryRecord, ItemError, Policy, ResourceKey, RiskState};

use crate::clock::Clock;
use crate::ports::{Commit, ConfigSource, RiskStore, SourceError, StoreError, Write};

/// Tries before a resource that keeps changing under us is reported as an error (to be
/// retried by the caller).
const MAX_ATTEMPTS: usize = 8;

#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Scored {
        state: Box<RiskState>,
        /// False when the item had been scored before (a redelivery): nothing was written.
        written: bool,
    },
    Ignored {
        reason: String,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum ScoreError {
    /// The item cannot be scored: never retry-able into a verdict.
    #[error("{0}")]
    Item(#[from] ItemError),
    #[error("{resource}: oversized item could not be fetched: {reason}")]
    Unresolved {
        resource: String,
        reason: String,
        /// The source may have it later (AWS Config records an item a little after it sends
        /// the notification); a source that answers with another item is not asked again.
        transient: bool,
    },
    #[error("{resource}: {source}")]
    Source {
        resource: String,
        #[source]
        source: SourceError,
    },
    #[error("{resource}: {source}")]
    Store {
        resource: String,
        #[source]
        source: StoreError,
    },
    #[error("{resource}: state kept changing during {MAX_ATTEMPTS} attempts")]
    Contended { resource: String },
}

impl ScoreError {
    /// Whether trying again later may succeed (AWS trouble) rather than fail the same way.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            ScoreError::Store {
                source: StoreError::Backend {
                    transient: true,
                    ..
                },
                ..
            } | ScoreError::Source {
                source: SourceError::Backend {
                    transient: true,
                    ..
                },
                ..
            } | ScoreError::Contended { .. }
                | ScoreError::Unresolved {
                    transient: true,
                    ..
                }
        )
    }
}

pub struct Scorer<'a, S, C, K> {
    pub store: &'a S,
    pub source: &'a C,
    pub policy: &'a Policy,
    pub clock: &'a K,
}

/// A state's score and level before and after a rewrite; `None` when nothing was written.
pub type Moved = Option<((u32, Level), (u32, Level))>;

/// What a re-score did.
#[derive(Debug, Default)]
pub struct RescoreReport {
    /// States re-derived and written.
    pub visited: usize,
    /// Of those, the ones whose score or level moved.
    pub changed: usize,
    pub failed: Vec<ScoreError>,
}

/// The pure half of scoring a notice: everything decided without the store or the network.
/// It needs no `Scorer`, so a replay can run it on another thread than the store's writes.
#[derive(Debug, Clone, PartialEq)]
pub enum Prepared {
    Record(Box<PreparedRecord>),
    /// Fetched through the `ConfigSource`, then scored.
    Oversized(OversizedSummary),
    Ignored {
        reason: String,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct PreparedRecord {
    pub key: ResourceKey,
    pub record: HistoryRecord,
    /// The item as the state keeps it (compressed here, off the store's path).
    pub kept: Vec<u8>,
    pub sent: Millis,
    /// The resource's name for messages.
    pub label: String,
}

/// Reads what a notice says and evaluates its item's rules.
pub fn prepare(notice: Notice, policy: &Policy) -> Result<Prepared, ScoreError> {
    Ok(match notice {
        Notice::Ignored { reason } => Prepared::Ignored { reason },
        Notice::Item { item, sent } => {
            Prepared::Record(Box::new(prepare_item(&item, sent, policy)?))
        }
        Notice::Oversized(summary) => Prepared::Oversized(summary),
    })
}

pub fn prepare_item(
    item: &ConfigItem,
    sent: Millis,
    policy: &Policy,
) -> Result<PreparedRecord, ScoreError> {
    let record = evaluate_item(item, sent, policy)?;
    // A written rule that fails on one item is a policy problem, not the item's: the item is
    // scored without it (its earlier findings kept open) and the failure is said here, where
    // the log query finds it.
    for e in &record.rule_errors {
        tracing::warn!(resource = %item.label(), rule = %e.rule, error = %e.error, "written rule could not be evaluated on this item");
    }
    Ok(PreparedRecord {
        record,
        key: key_of(item)?,
        kept: justice_core::kept::keep(item),
        sent,
        label: item.label(),
    })
}

impl<S: RiskStore, C: ConfigSource, K: Clock> Scorer<'_, S, C, K> {
    pub async fn handle(&self, notice: Notice) -> Result<Outcome, ScoreError> {
        self.apply(prepare(notice, self.policy)?).await
    }

    /// The store half: fetches an oversized item if need be, then records and re-derives.
    pub async fn apply(&self, prepared: Prepared) -> Result<Outcome, ScoreError> {
        match prepared {
            Prepared::Ignored { reason } => Ok(Outcome::Ignored { reason }),
            Prepared::Record(p) => self.commit_record(*p).await,
            Prepared::Oversized(summary) => {
                let resource = summary.label();
                let item = self
                    .source
                    .fetch(&summary)
                    .await
                    .map_err(|source| ScoreError::Source {
                        resource: resource.clone(),
                        source,
                    })?
                    .ok_or_else(|| ScoreError::Unresolved {
                        resource: resource.clone(),
                        reason: "the configuration source has no such item (yet)".into(),
                        transient: true,
                    })?;
                // The item fetched must be the one the summary names, in its account and
                // region too: a source that answers for several accounts (an aggregator) must
                // not lend one resource's item to another's notification.
                if item.resource_type != summary.resource_type
                    || item.resource_id != summary.resource_id
                    || item.account != summary.account
                    || item.region != summary.region
                {
                    return Err(ScoreError::Unresolved {
                        resource,
                        reason: format!(
                            "the configuration source returned {} {} in {}/{} instead",
                            item.resource_type, item.resource_id, item.account, item.region
                        ),
                        transient: false,
                    });
                }
                // A source may answer with a newer item than the one notified (an
                // aggregator serves the current one): AWS Config's own record, sent no earlier
                // than it was captured, but never later than the clock, so that an item from
                // the future is still refused here (a recorded replay's clock is the event's).
                let clock = self.clock.now(summary.sent);
                let sent = summary.sent.max(item.capture_time.min(clock));
                self.score_item(&item, sent).await
            }
        }
    }

    pub async fn score_item(&self, item: &ConfigItem, sent: Millis) -> Result<Outcome, ScoreError> {
        self.commit_record(prepare_item(item, sent, self.policy)?)
            .await
    }

    async fn commit_record(&self, p: PreparedRecord) -> Result<Outcome, ScoreError> {
        let PreparedRecord {
            key,
            record,
            kept,
            sent,
            label,
        } = p;
        let store_err = |source| ScoreError::Store {
            resource: label.clone(),
            source,
        };
        // An item captured after the clock (plus the policy's skew) is from the future: it
        // would stay the newest for good and hide every later change.
        let clock = self.clock.now(sent);
        if record.capture_time > clock.saturating_add(self.policy.intake.skew_ms()) {
            return Err(ScoreError::Item(ItemError::new(
                label,
                format!(
                    "configurationItemCaptureTime {} is later than the clock ({})",
                    justice_core::time::format_rfc3339(record.capture_time),
                    justice_core::time::format_rfc3339(clock)
                ),
            )));
        }
        for _ in 0..MAX_ATTEMPTS {
            let stored = self.store.load(&key).await.map_err(store_err)?;
            let previous = stored.state.as_ref();
            let (mut state, replace, item) =
                match score::fold(&key, previous, &record, clock, self.policy) {
                    Fold::Advance(state) => (state, false, Some(kept.as_slice())),
                    Fold::Replace(state) => (state, true, Some(kept.as_slice())),
                    Fold::Unchanged => return self.unchanged(stored.state, &label),
                    Fold::Older => {
                        // The rare case: the history places the item; the newest stays.
                        let mut history = self.store.history(&key).await.map_err(store_err)?;
                        let inserted = insert_record(&mut history, record.clone());
                        if inserted == Inserted::Unchanged {
                            return self.unchanged(stored.state, &label);
                        }
                        let now = clock.max(previous.map_or(Millis::MIN, |s| s.evaluated_at));
                        let Some(derived) = derive_state(&key, &history, now, self.policy) else {
                            continue;
                        };
                        let state = self.current(derived, stored.item.as_deref(), now)?;
                        (
                            state,
                            inserted == Inserted::Replaced,
                            stored.item.as_deref(),
                        )
                    }
                };
            // The lock's version counts writes, so it never repeats even when DynamoDB's TTL
            // has shortened the history.
            state.revision = previous.map_or(1, |s| s.revision + 1);
            let write = Write {
                record: Some(&record),
                replace,
                state: &state,
                item,
                expected_revision: previous.map(|s| s.revision),
            };
            match self.store.commit(&key, write).await.map_err(store_err)? {
                Commit::Written => {
                    return Ok(Outcome::Scored {
                        state: Box::new(state),
                        written: true,
                    })
                }
                Commit::Duplicate => {
                    let stored = self.store.load(&key).await.map_err(store_err)?;
                    return self.unchanged(stored.state, &label);
                }
                Commit::Conflict => continue,
            }
        }
        Err(ScoreError::Contended { resource: label })
    }

    /// A state derived from the history has its newest item's findings as recorded; under a
    /// policy other than the one they were recorded with, they are evaluated again from the
    /// kept item, as the re-evaluation job would.
    fn current(
        &self,
        derived: RiskState,
        item: Option<&[u8]>,
        now: Millis,
    ) -> Result<RiskState, ScoreError> {
        let Some(bytes) = item else {
            return Ok(derived);
        };
        let item = justice_core::kept::restore(bytes, &derived.key).map_err(|reason| {
            ScoreError::Store {
                resource: derived.key.to_string(),
                source: StoreError::Corrupt {
                    key: derived.key.to_string(),
                    reason: reason.0,
                },
            }
        })?;
        if item.capture_time != derived.capture_time || item.state_id != derived.state_id {
            return Ok(derived);
        }
        Ok(score::reevaluate(&derived, &item, now, self.policy)?)
    }

    /// Re-derives the state of up to `limit` resources with open findings last evaluated
    /// before `evaluated_before`, at time `now`: age and the recidivism window move scores
    /// without any configuration change. Each state is written back (so the least recently
    /// evaluated come first next time); a resource changing meanwhile is retried.
    pub async fn rescore(
        &self,
        now: Millis,
        evaluated_before: Millis,
        limit: usize,
    ) -> Result<RescoreReport, ScoreError> {
        let keys = self
            .store
            .risky(evaluated_before, limit)
            .await
            .map_err(|source| ScoreError::Store {
                resource: "re-score work list".into(),
                source,
            })?;
        let mut report = RescoreReport::default();
        for key in keys {
            report.visited += 1;
            match self.rescore_one(&key, now).await {
                Ok(Some((before, after))) => {
                    if before != after {
                        report.changed += 1;
                    }
                }
                Ok(None) => {}
                Err(e) => report.failed.push(e),
            }
        }
        Ok(report)
    }

    /// `Some((score and level before, after))` when a state was written.
    async fn rescore_one(&self, key: &ResourceKey, now: Millis) -> Result<Moved, ScoreError> {
        self.rewrite(key, |previous, _| {
            Ok(Some(score::rescore(previous, now, self.policy)))
        })
        .await
    }

    /// Evaluates one stored state again under the scorer's policy, from the item it keeps, if
    /// it was evaluated with another: `Some((before, after))` when it was written.
    pub async fn reevaluate_one(
        &self,
        key: &ResourceKey,
        now: Millis,
    ) -> Result<Moved, ScoreError> {
        self.rewrite(key, |previous, kept| {
            if previous.policy_version == self.policy.version {
                return Ok(None);
            }
            // Nothing kept (a state written before items were kept): its next change brings
            // the item.
            let Some(bytes) = kept else { return Ok(None) };
            let item =
                justice_core::kept::restore(bytes, key).map_err(|reason| ScoreError::Store {
                    resource: key.to_string(),
                    source: StoreError::Corrupt {
                        key: key.to_string(),
                        reason: reason.0,
                    },
                })?;
            Ok(Some(score::reevaluate(previous, &item, now, self.policy)?))
        })
        .await
    }

    /// Rewrites a stored state (its history and kept item unchanged) as `next` makes it from
    /// the state and its kept item (`None`: leave it), under the optimistic lock.
    async fn rewrite(
        &self,
        key: &ResourceKey,
        next: impl Fn(&RiskState, Option<&[u8]>) -> Result<Option<RiskState>, ScoreError>,
    ) -> Result<Moved, ScoreError> {
        let store_err = |source| ScoreError::Store {
            resource: key.to_string(),
            source,
        };
        for _ in 0..MAX_ATTEMPTS {
            let stored = self.store.load(key).await.map_err(store_err)?;
            let Some(previous) = stored.state else {
                return Ok(None);
            };
            let Some(mut state) = next(&previous, stored.item.as_deref())? else {
                return Ok(None);
            };
            state.revision = previous.revision + 1;
            let write = Write {
                record: None,
                replace: false,
                state: &state,
                item: stored.item.as_deref(),
                expected_revision: Some(previous.revision),
            };
            match self.store.commit(key, write).await.map_err(store_err)? {
                Commit::Written => {
                    return Ok(Some((
                        (previous.score, previous.level),
                        (state.score, state.level),
                    )))
                }
                Commit::Duplicate | Commit::Conflict => continue,
            }
        }
        Err(ScoreError::Contended {
            resource: key.to_string(),
        })
    }

    fn unchanged(&self, state: Option<RiskState>, label: &str) -> Result<Outcome, ScoreError> {
        let state = state.ok_or_else(|| ScoreError::Store {
            resource: label.to_owned(),
            source: StoreError::Corrupt {
                key: label.to_owned(),
                reason: "a stored record without a state".into(),
            },
        })?;
        Ok(Outcome::Scored {
            state: Box::new(state),
            written: false,
        })
    }
}
