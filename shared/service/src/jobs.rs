//! The scorer's scheduled jobs, written once against the ports: the scorer Lambda runs them
//! from its schedules and the `justice` command runs them on a recorded store.
//!
//! - re-score ([`Scorer::rescore`]): risky states move with the clock (age, recidivism window);
//! - re-evaluation ([`reevaluate`]): after the policy changed, every state evaluated with
//!   another policy is evaluated again from the item it keeps, in bounded, resumable pages;
//! - back-fill ([`backfill`]): resources that existed before the engine, read through the
//!   `ConfigSource`, in bounded, resumable pages.

use serde::{Deserialize, Serialize};

use justice_core::time::Millis;

use crate::clock::Clock;
use crate::ports::{ConfigSource, RiskStore, StoreError};
use crate::scorer::{ScoreError, Scorer};

/// The scheduled back-fill's saved position in the store.
pub const BACKFILL_JOB: &str = "BACKFILL";
/// A person's back-fill's saved position: apart from the schedule's, so that a run over some
/// types neither moves nor ends the scheduled pass.
pub const BACKFILL_MANUAL_JOB: &str = "BACKFILL_MANUAL";
/// When the last complete scheduled back-fill ended (milliseconds): the schedule rests until
/// [`JobSettings::backfill_every`] has passed since.
pub const BACKFILLED_JOB: &str = "BACKFILLED";
/// The re-evaluation's saved position (the policy version it runs for and the cursor).
pub const REEVALUATE_JOB: &str = "REEVALUATE";
/// The policy version every stored state was last evaluated with, once a re-evaluation ended.
pub const REEVALUATED_JOB: &str = "REEVALUATED";

/// How much one run of a paged job (back-fill, re-evaluation) may do: at most `max_pages`
/// pages, and, once a page is done, no page begun at or after `stop_at` on the scorer's clock
/// (the invocation's deadline less the time a page may take). The position is saved after
/// every page, so a run that is cut short anyway loses one page at most, and the next run
/// goes on from there instead of starting the same pages again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunBudget {
    pub max_pages: usize,
    pub stop_at: Option<Millis>,
}

impl RunBudget {
    /// No bound but the number of pages.
    pub fn pages(max_pages: usize) -> Self {
        RunBudget {
            max_pages,
            stop_at: None,
        }
    }

    fn spent(&self, pages: usize, clock: &impl Clock) -> bool {
        pages >= self.max_pages
            || (pages > 0 && self.stop_at.is_some_and(|t| clock.now(Millis::MIN) >= t))
    }
}

/// Where a back-fill stopped: pass it back in the next run's `cursor` to resume.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackfillCursor {
    pub resource_type: String,
    #[serde(default)]
    pub token: Option<String>,
}

#[derive(Debug, Default, Serialize)]
pub struct BackfillReport {
    pub done: bool,
    pub scored: usize,
    /// Items that could not be read or scored, with the reason: picked up again by the next
    /// back-fill, or by the resource's next change.
    pub refused: Vec<String>,
    /// Types the source refused to list for good (access denied, a type it does not know), with
    /// the reason: passed over, and the run fails so that a person hears of it.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub refused_types: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cursor: Option<BackfillCursor>,
}

#[derive(Debug, thiserror::Error)]
pub enum JobError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Source(#[from] crate::ports::SourceError),
    #[error(transparent)]
    Score(#[from] ScoreError),
    #[error("back-fill cursor names {0}, which is not among the types")]
    Cursor(String),
}

impl JobError {
    /// Whether trying again later may succeed.
    pub fn is_transient(&self) -> bool {
        match self {
            JobError::Store(StoreError::Backend { transient, .. }) => *transient,
            JobError::Source(crate::ports::SourceError::Backend { transient, .. }) => *transient,
            JobError::Score(e) => e.is_transient(),
            _ => false,
        }
    }
}

/// Scores the resources of `types` that the configuration source lists, as many pages as
/// `budget` allows per run; the position is saved in the store under `slot` after each page
/// (so a schedule that sends the same input every time carries on) and cleared when done.
/// `refuse` says why an account's resources may not be scored, if they may not. Deleted
/// resources are skipped; a copy of an item already known from its change event changes
/// nothing (the richer copy is kept). A type the source refuses for good is reported and
/// passed over, so that one type cannot stop every later one; a saved token it refuses (expired,
/// or another source's after `CONFIG_AGGREGATOR` changed) restarts its type first.
pub async fn backfill<S: RiskStore, C: ConfigSource, K: Clock>(
    scorer: &Scorer<'_, S, C, K>,
    types: &[String],
    cursor: Option<BackfillCursor>,
    budget: RunBudget,
    slot: &str,
    refuse: impl Fn(&str) -> Option<String>,
) -> Result<BackfillReport, JobError> {
    // Without a cursor, resume where the last run paused.
    let (cursor, saved) = match cursor {
        Some(c) => (Some(c), false),
        None => match scorer.store.job_cursor(slot).await? {
            Some(saved) => (serde_json::from_str::<BackfillCursor>(&saved).ok(), true),
            None => (None, false),
        },
    };
    let position = cursor
        .as_ref()
        .map(|c| types.iter().position(|t| *t == c.resource_type));
    let (mut start, cursor) = match position {
        None => (0, None),
        Some(Some(i)) => (i, cursor),
        // A saved position for a type no longer listed: start over.
        Some(None) if saved => (0, None),
        Some(None) => {
            return Err(JobError::Cursor(
                cursor.map(|c| c.resource_type).unwrap_or_default(),
            ))
        }
    };
    let mut token = cursor.and_then(|c| c.token);
    let mut report = BackfillReport::default();
    let mut pages = 0usize;
    while start < types.len() {
        if budget.spent(pages, scorer.clock) {
            let next = BackfillCursor {
                resource_type: types[start].clone(),
                token,
            };
            // Saved after the last page already; a run that did none saves where it was sent.
            if pages == 0 {
                save_backfill(scorer.store, slot, &next).await?;
            }
            report.cursor = Some(next);
            return Ok(report);
        }
        let page = match scorer
            .source
            .discover(&types[start], token.as_deref())
            .await
        {
            Ok(page) => page,
            Err(e) if e.is_transient() => return Err(e.into()),
            Err(e) if token.is_some() => {
                tracing::warn!(resource_type = %types[start], reason = %e, "back-fill token refused: the type again from its start");
                token = None;
                continue;
            }
            Err(e) => {
                tracing::error!(resource_type = %types[start], reason = %e, "back-fill type refused: passed over");
                report.refused_types.push(format!("{}: {e}", types[start]));
                start += 1;
                continue;
            }
        };
        pages += 1;
        for item in page.items {
            let item = match item {
                Ok(i) => i,
                Err(e) => {
                    tracing::error!(resource = %e.resource, reason = %e.reason, "back-fill item refused");
                    report.refused.push(e.to_string());
                    continue;
                }
            };
            if let Some(reason) = refuse(&item.account) {
                report.refused.push(format!("{}: {reason}", item.label()));
                continue;
            }
            if item.status.is_deletion() {
                continue;
            }
            match scorer.score_item(&item, item.capture_time).await {
                Ok(_) => report.scored += 1,
                Err(e) => {
                    tracing::error!(resource = %item.label(), reason = %e, "back-fill scoring failed");
                    report.refused.push(e.to_string());
                }
            }
        }
        match page.next {
            Some(t) => token = Some(t),
            None => {
                start += 1;
                token = None;
            }
        }
        if let Some(resource_type) = types.get(start) {
            let next = BackfillCursor {
                resource_type: resource_type.clone(),
                token: token.clone(),
            };
            save_backfill(scorer.store, slot, &next).await?;
        }
    }
    scorer.store.set_job_cursor(slot, None).await?;
    report.done = true;
    Ok(report)
}

async fn save_backfill<S: RiskStore>(
    store: &S,
    slot: &str,
    at: &BackfillCursor,
) -> Result<(), StoreError> {
    let saved = serde_json::to_string(at).unwrap_or_default();
    store.set_job_cursor(slot, Some(&saved)).await
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct ReevaluateCursor {
    policy: String,
    after: Option<String>,
    /// A state of this pass failed in an earlier run: the pass does not count as complete.
    #[serde(default)]
    failed: bool,
}

#[derive(Debug, Default, Serialize)]
pub struct ReevaluateReport {
    /// The policy version the states are evaluated with.
    pub policy: String,
    /// Every state is evaluated with it (nothing left to do).
    pub done: bool,
    pub visited: usize,
    /// States evaluated again and written.
    pub reevaluated: usize,
    /// Of those, the ones whose score or level moved.
    pub changed: usize,
    pub failed: Vec<String>,
}

/// After a policy change, evaluates every stored state recorded with another policy again,
/// from the item it keeps, at `now`: a rule turned off withdraws what rested on it, a rule
/// turned on finds what already breaks it, with no new Config event. Pages of `page`
/// resources, as many as `budget` allows per run; the position is saved after each page and
/// resumed; a run that finds the policy unchanged since the last complete pass costs one read.
pub async fn reevaluate<S: RiskStore, C: ConfigSource, K: Clock>(
    scorer: &Scorer<'_, S, C, K>,
    now: Millis,
    page: usize,
    budget: RunBudget,
) -> Result<ReevaluateReport, JobError> {
    let version = scorer.policy.version.clone();
    let mut report = ReevaluateReport {
        policy: version.clone(),
        ..ReevaluateReport::default()
    };
    if scorer.store.job_cursor(REEVALUATED_JOB).await?.as_deref() == Some(version.as_str()) {
        report.done = true;
        return Ok(report);
    }
    // A saved position counts only for the policy it was made under.
    let saved = match scorer.store.job_cursor(REEVALUATE_JOB).await? {
        Some(saved) => serde_json::from_str::<ReevaluateCursor>(&saved)
            .ok()
            .filter(|c| c.policy == version),
        None => None,
    };
    let failed_before = saved.as_ref().is_some_and(|c| c.failed);
    let mut after = saved.and_then(|c| c.after);
    let mut pages = 0;
    while !budget.spent(pages, scorer.clock) {
        pages += 1;
        let keys = scorer.store.resources(after.as_deref(), page).await?;
        for key in &keys.keys {
            report.visited += 1;
            match scorer.reevaluate_one(key, now).await {
                Ok(Some((before, after))) => {
                    report.reevaluated += 1;
                    report.changed += usize::from(before != after);
                }
                Ok(None) => {}
                Err(e) => report.failed.push(e.to_string()),
            }
        }
        match keys.next {
            Some(next) => {
                let saved = serde_json::to_string(&ReevaluateCursor {
                    policy: version.clone(),
                    after: Some(next.clone()),
                    failed: failed_before || !report.failed.is_empty(),
                })
                .unwrap_or_default();
                scorer
                    .store
                    .set_job_cursor(REEVALUATE_JOB, Some(&saved))
                    .await?;
                after = Some(next);
            }
            None => {
                // A pass that failed somewhere, in this run or an earlier one, is done again
                // by the next run.
                let complete = !failed_before && report.failed.is_empty();
                if complete {
                    scorer
                        .store
                        .set_job_cursor(REEVALUATED_JOB, Some(&version))
                        .await?;
                }
                scorer.store.set_job_cursor(REEVALUATE_JOB, None).await?;
                report.done = complete;
                return Ok(report);
            }
        }
    }
    Ok(report)
}

/// States read per page of a re-evaluation (a Scan page in AWS).
pub const REEVALUATE_PAGE: usize = 500;

/// A job by name, as a schedule or a person sends it to the scorer (`{"justice": "rescore"}`);
/// unset members take the deployment's [`JobSettings`].
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "justice", rename_all = "lowercase", deny_unknown_fields)]
pub enum Job {
    Rescore {
        #[serde(default)]
        limit: Option<usize>,
    },
    Backfill {
        #[serde(default)]
        resource_types: Option<Vec<String>>,
        #[serde(default)]
        cursor: Option<BackfillCursor>,
        #[serde(default)]
        max_pages: Option<usize>,
        /// Sent by the schedule: the run rests while the last complete pass is recent. A
        /// person's request runs at once, and keeps its own position.
        #[serde(default)]
        scheduled: bool,
    },
    /// After a policy change: every state evaluated with another policy, again.
    Reevaluate {
        #[serde(default)]
        max_pages: Option<usize>,
    },
}

impl Job {
    /// The job's name, for logs and errors.
    pub fn name(&self) -> &'static str {
        match self {
            Job::Rescore { .. } => "re-score",
            Job::Backfill { .. } => "back-fill",
            Job::Reevaluate { .. } => "re-evaluation",
        }
    }

    /// The job a payload names, if it names one: `None` when it has no `justice` member (it
    /// is something else), an error when it names a job badly.
    pub fn from_payload(text: &str) -> Option<Result<Job, serde_json::Error>> {
        #[derive(Deserialize)]
        struct Probe {
            justice: Option<serde::de::IgnoredAny>,
        }
        match serde_json::from_str::<Probe>(text) {
            Ok(Probe { justice: Some(_) }) => Some(serde_json::from_str(text)),
            _ => None,
        }
    }
}

/// The deployment's defaults for the jobs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobSettings {
    /// A state is re-scored when last evaluated at least this long ago.
    pub rescore_min_age: Millis,
    pub rescore_limit: usize,
    pub backfill_types: Vec<String>,
    pub backfill_max_pages: usize,
    /// How long a scheduled back-fill rests after a complete pass. The schedule fires often
    /// (every few minutes), so that a first pass over an organization's resources runs one
    /// invocation after another, then rests; a run while resting costs two reads.
    pub backfill_every: Millis,
    pub allowed_accounts: Vec<String>,
    /// When a back-fill or a re-evaluation begins no new page (see [`RunBudget`]): the
    /// invocation's deadline less the time a page may take; `None` for no bound.
    pub stop_at: Option<Millis>,
}

/// What a job did: its report (the invocation's answer), the states it re-scored or
/// re-evaluated, and its failures (the run then fails, to be run again).
#[derive(Debug, Clone, PartialEq)]
pub struct JobDone {
    pub report: serde_json::Value,
    pub rescored: u64,
    pub failed: usize,
}

/// Runs a job at `now` with the scorer's store, source and policy.
pub async fn run<S: RiskStore, C: ConfigSource, K: Clock>(
    scorer: &Scorer<'_, S, C, K>,
    job: Job,
    settings: &JobSettings,
    now: Millis,
) -> Result<JobDone, JobError> {
    match job {
        Job::Rescore { limit } => {
            let report = scorer
                .rescore(
                    now,
                    now - settings.rescore_min_age,
                    limit.unwrap_or(settings.rescore_limit),
                )
                .await?;
            for e in &report.failed {
                tracing::error!(reason = %e, "re-score failed");
            }
            tracing::info!(
                visited = report.visited,
                changed = report.changed,
                "re-score done"
            );
            Ok(JobDone {
                report: serde_json::json!({
                    "rescored": report.visited, "changed": report.changed,
                    "failed": report.failed.len(),
                }),
                rescored: report.visited as u64,
                failed: report.failed.len(),
            })
        }
        Job::Backfill {
            resource_types,
            cursor,
            max_pages,
            scheduled,
        } => {
            if scheduled && cursor.is_none() && resting(scorer.store, settings, now).await? {
                return Ok(JobDone {
                    report: serde_json::json!({"done": true, "resting": true}),
                    rescored: 0,
                    failed: 0,
                });
            }
            let types = resource_types.unwrap_or_else(|| settings.backfill_types.clone());
            let budget = RunBudget {
                max_pages: max_pages.unwrap_or(settings.backfill_max_pages),
                stop_at: settings.stop_at,
            };
            let slot = if scheduled {
                BACKFILL_JOB
            } else {
                BACKFILL_MANUAL_JOB
            };
            let report = backfill(scorer, &types, cursor, budget, slot, |a| {
                crate::intake::refusal(&settings.allowed_accounts, a)
            })
            .await?;
            // A pass that passed a type over is not complete: the next run starts another.
            if report.done && scheduled && report.refused_types.is_empty() {
                let at = now.to_string();
                scorer
                    .store
                    .set_job_cursor(BACKFILLED_JOB, Some(&at))
                    .await?;
            }
            tracing::info!(
                done = report.done,
                scored = report.scored,
                refused = report.refused.len(),
                "back-fill"
            );
            // Refused items are the next change's or back-fill's: the run itself succeeded,
            // unless a whole type was refused.
            Ok(JobDone {
                report: value(&report),
                rescored: 0,
                failed: report.refused_types.len(),
            })
        }
        Job::Reevaluate { max_pages } => {
            let budget = RunBudget {
                max_pages: max_pages.unwrap_or(settings.backfill_max_pages),
                stop_at: settings.stop_at,
            };
            let report = reevaluate(scorer, now, REEVALUATE_PAGE, budget).await?;
            tracing::info!(policy = %report.policy, done = report.done, visited = report.visited,
                reevaluated = report.reevaluated, changed = report.changed,
                failed = report.failed.len(), "re-evaluation");
            Ok(JobDone {
                report: value(&report),
                rescored: report.reevaluated as u64,
                failed: report.failed.len(),
            })
        }
    }
}

/// Whether a scheduled back-fill rests at `now`: no pass is under way, and the last complete
/// one ended less than `backfill_every` ago.
async fn resting<S: RiskStore>(
    store: &S,
    settings: &JobSettings,
    now: Millis,
) -> Result<bool, StoreError> {
    if store.job_cursor(BACKFILL_JOB).await?.is_some() {
        return Ok(false);
    }
    let last = store.job_cursor(BACKFILLED_JOB).await?;
    Ok(last
        .and_then(|t| t.parse::<Millis>().ok())
        .is_some_and(|t| now >= t && now - t < settings.backfill_every))
}

/// A report as JSON: plain structs of numbers and strings, which always serialize.
fn value<T: Serialize>(report: &T) -> serde_json::Value {
    serde_json::to_value(report).unwrap_or(serde_json::Value::Null)
}
