//! The judge, written once against the ports: a batch of risk-state changes in, one
//! read-modify-write of `tasks.json`, a verdict record per decision, dockets saved.
//!
//! Order of writes, and what a crash between them costs:
//! 1. the budget is reserved (a crash wastes part of this hour's budget: fewer tasks, never more);
//! 2. `tasks.json` is written conditionally (412 → read again, decide again, write again);
//! 3. verdict records are created once each (their ids come from the docket revision, so a
//!    retry writes the same ids and finds them there);
//! 4. the security team is alerted about holds;
//! 5. dockets are saved. A retry after a crash before this point finds its own tasks in the
//!    file and adopts them with their `action_time`: nothing is postponed or duplicated.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use justice_core::policy::Policy;
use justice_core::time::{Millis, HOUR_MS};
use justice_core::verdict::{Decision, Judgement, VerdictKind};
use justice_core::{ResourceKey, RiskState};

use crate::ports::{
    BoardError, BoardWrite, Commit, DocketStore, Outbox, SecurityAlert, StoreError, TaskBoard,
};

#[derive(Debug, Clone)]
pub struct JudgeSettings {
    /// Tasks go to the dry-run board, never to Krampus's `tasks.json` (the board adapter is
    /// built for the dry-run key; this flag keeps the dockets and budget apart).
    pub dry_run: bool,
    pub accounts: Vec<String>,
    /// New tasks per clock hour, across every concurrent judge.
    pub blast_per_hour: u32,
    /// Attempts at the conditional write of `tasks.json` before the batch fails for retry.
    pub max_attempts: u32,
}

/// One risk-state change from the stream.
#[derive(Debug, Clone)]
pub struct Change {
    /// What the trigger reports a failure with (the stream record's sequence number).
    pub id: String,
    pub key: ResourceKey,
    /// The new image; `None` when the state item was removed.
    pub state: Option<RiskState>,
}

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct BatchReport {
    pub resources: usize,
    pub verdicts: usize,
    pub scheduled: usize,
    pub withdrawn: usize,
    pub held: usize,
    pub board_writes: usize,
    pub conflicts: usize,
    /// Changes to retry, with the reason.
    pub failed: Vec<(String, String)>,
}

#[derive(Debug, thiserror::Error)]
pub enum JudgeError {
    #[error(transparent)]
    Board(#[from] BoardError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("tasks.json kept changing under the judge: {0} conditional writes failed")]
    Contention(u32),
}

pub struct Judge<'a, B, D, O> {
    pub board: &'a B,
    pub dockets: &'a D,
    pub outbox: &'a O,
    pub settings: &'a JudgeSettings,
}

impl<B: TaskBoard, D: DocketStore, O: Outbox> Judge<'_, B, D, O> {
    /// Judges a batch. A failure of the board or of the docket reads fails the whole batch
    /// (nothing was decided); later failures name the changes to retry.
    pub async fn judge(
        &self,
        changes: &[Change],
        policy: &Policy,
        now: Millis,
    ) -> Result<BatchReport, JudgeError> {
        // The last change of each resource decides; its earlier changes share its fate.
        let mut latest: BTreeMap<ResourceKey, usize> = BTreeMap::new();
        let mut ids: HashMap<ResourceKey, Vec<String>> = HashMap::new();
        for (i, c) in changes.iter().enumerate() {
            latest.insert(c.key.clone(), i);
            ids.entry(c.key.clone()).or_default().push(c.id.clone());
        }
        let mut report = BatchReport {
            resources: latest.len(),
            ..BatchReport::default()
        };
        if latest.is_empty() {
            return Ok(report);
        }
        let keys: Vec<ResourceKey> = latest.keys().cloned().collect();
        let allow = self.board.allow_list().await?;
        let dockets = self.dockets.dockets(&keys, self.settings.dry_run).await?;
        let judgement = Judgement {
            policy,
            allow: &allow,
            accounts: &self.settings.accounts,
            now,
            dry_run: self.settings.dry_run,
        };
        let decide_all = |board: &BTreeMap<String, BTreeMap<String, i64>>, mut budget: u32| {
            let empty = BTreeMap::new();
            latest
                .iter()
                .map(|(key, &i)| {
                    let on_board = board.get(key.as_str()).unwrap_or(&empty);
                    judgement.decide(
                        key,
                        changes[i].state.as_ref(),
                        dockets.get(key),
                        on_board,
                        &mut budget,
                    )
                })
                .collect::<Vec<Decision>>()
        };

        // Budget: what the batch would add if every remembered task were still in the file.
        let remembered: BTreeMap<String, BTreeMap<String, i64>> = dockets
            .iter()
            .map(|(k, d)| {
                let pending = d
                    .pending()
                    .map(|t| (t.unique_id.clone(), t.action_time))
                    .collect();
                (k.as_str().to_owned(), pending)
            })
            .collect();
        let want: u32 = decide_all(&remembered, u32::MAX)
            .iter()
            .map(|d| d.new_tasks)
            .sum();
        let granted = if want == 0 {
            0
        } else {
            self.dockets
                .reserve(
                    now.div_euclid(HOUR_MS),
                    want,
                    self.settings.blast_per_hour,
                    self.settings.dry_run,
                )
                .await?
        };

        let mut attempt = 0;
        let decisions = loop {
            attempt += 1;
            let read = self.board.read().await?;
            let decisions = decide_all(&read.file.ours(), granted);
            let mut file = read.file;
            let mut changed = false;
            for d in &decisions {
                changed |= file.apply(&d.remove, &d.add);
            }
            if !changed {
                break decisions;
            }
            match self.board.write(&file, read.version.as_deref()).await? {
                BoardWrite::Written => {
                    report.board_writes += 1;
                    break decisions;
                }
                BoardWrite::Conflict => {
                    report.conflicts += 1;
                    if attempt >= self.settings.max_attempts {
                        return Err(JudgeError::Contention(attempt));
                    }
                    tokio::time::sleep(backoff(attempt)).await;
                }
            }
        };

        let mut held = Vec::new();
        let fail = |key: &ResourceKey, reason: String, report: &mut BatchReport| {
            for id in ids.get(key).into_iter().flatten() {
                report.failed.push((id.clone(), format!("{key}: {reason}")));
            }
        };
        let mut to_save = Vec::new();
        for d in decisions {
            report.scheduled += d.add.len();
            report.withdrawn += d.remove.len();
            if let Some(record) = &d.record {
                if let Err(e) = self.board.record_verdict(record).await {
                    fail(&d.docket.key, format!("verdict record: {e}"), &mut report);
                    continue;
                }
                report.verdicts += 1;
                if record.kind == VerdictKind::Held {
                    held.push(d.docket.key.clone());
                }
            }
            if d.save {
                to_save.push(d);
            }
        }
        report.held = held.len();
        let mut alerted = true;
        if !held.is_empty() {
            let alert = hold_alert(&held, self.settings.blast_per_hour, self.settings.dry_run);
            if let Err(e) = self.outbox.alert_security(&alert).await {
                tracing::error!(error = %e, "could not alert the security team about held verdicts");
                alerted = false;
            }
        }
        let mut saves = Vec::with_capacity(to_save.len());
        for d in &to_save {
            if !alerted && d.docket.kind == VerdictKind::Held {
                // Not saved: the retry decides "held" again and alerts again.
                fail(&d.docket.key, "security alert not sent".into(), &mut report);
                continue;
            }
            saves.push((
                &d.docket,
                d.docket.revision.checked_sub(1).filter(|&r| r > 0),
            ));
        }
        let outcomes = self.dockets.save_dockets(&saves).await;
        for ((docket, _), outcome) in saves.iter().zip(outcomes) {
            match outcome {
                Ok(Commit::Written) | Ok(Commit::Duplicate) => {}
                Ok(Commit::Conflict) => fail(
                    &docket.key,
                    "docket changed by another judge".into(),
                    &mut report,
                ),
                Err(e) => fail(&docket.key, format!("docket: {e}"), &mut report),
            }
        }
        Ok(report)
    }
}

fn hold_alert(keys: &[ResourceKey], limit: u32, dry_run: bool) -> SecurityAlert {
    let mut body = format!(
        "The blast-radius limit of {limit} new Krampus tasks per hour is reached{}. \
         These verdicts are held (no task written); they are judged again as their \
         resources are re-scored, and scheduled once the budget allows:\n",
        if dry_run { " (dry run)" } else { "" }
    );
    for k in keys.iter().take(50) {
        body.push_str("- ");
        body.push_str(&justice_core::text::quote(k.as_str(), 300));
        body.push('\n');
    }
    if keys.len() > 50 {
        body.push_str(&format!("… and {} more\n", keys.len() - 50));
    }
    SecurityAlert {
        subject: format!(
            "Justice Engine: {} verdict(s) held by the blast-radius limit",
            keys.len()
        ),
        body,
    }
}

/// Full jitter over an exponential ceiling: 50 ms, 100 ms, … at most 2 s.
fn backoff(attempt: u32) -> Duration {
    use std::hash::{BuildHasher, RandomState};
    let ceiling = 50u64 << attempt.min(5);
    let r = RandomState::new().hash_one(attempt);
    Duration::from_millis(r % ceiling.max(1) + 1)
}
