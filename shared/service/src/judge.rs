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

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Duration;

use justice_core::krampus::Ours;
use justice_core::policy::Policy;
use justice_core::time::{Millis, HOUR_MS};
use justice_core::verdict::{Decision, Docket, Judgement, VerdictKind};
use justice_core::{ResourceKey, RiskState};

use crate::failure::RecordFailure;
use crate::ports::{
    BoardError, BoardWrite, BudgetAsk, Commit, DocketStore, Outbox, RiskStore, SecurityAlert,
    StoreError, TaskBoard,
};

/// What the sweep for tasks put back found.
struct Sweep {
    /// The judge's tasks to take out of the file again.
    stale: BTreeSet<String>,
    /// Whether every due task's docket was read (an unreadable one leaves its tasks unknown).
    complete: bool,
}

/// Decisions taken against a view of the judge's tasks in the file (resource → task id →
/// action time), with unlimited budget, in the order `decide_all` takes the resources.
struct Planned<'a> {
    board: &'a Ours,
    decisions: Vec<Decision>,
}

/// Whether two views of the file hold the same tasks of `key` (none and an empty list are
/// the same to `decide`).
fn same_tasks(a: &Ours, b: &Ours, key: &ResourceKey) -> bool {
    let empty = BTreeMap::new();
    a.get(key.as_str()).unwrap_or(&empty) == b.get(key.as_str()).unwrap_or(&empty)
}

/// The most held resources a batch takes from the queue.
const QUEUE_PULL: usize = 100;

#[derive(Debug, Clone)]
pub struct JudgeSettings {
    /// Tasks go to the dry-run board, never to Krampus's `tasks.json` (the board adapter is
    /// built for the dry-run key; this flag keeps the dockets and budget apart).
    pub dry_run: bool,
    pub accounts: Vec<String>,
    /// Resources newly acted on per clock hour, across every concurrent judge.
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
    /// Tasks of other resources that were back in `tasks.json` after the judge had taken them
    /// out (Krampus rewrites the file unconditionally), taken out again.
    pub swept: usize,
    /// Entries of `tasks.json` that would stop Krampus's run, reported to the security team.
    pub hazards: usize,
    pub verdicts: usize,
    pub scheduled: usize,
    pub withdrawn: usize,
    /// Tasks Krampus ran whose effect AWS Config showed: taken out of `tasks.json`.
    pub confirmed: usize,
    pub held: usize,
    pub board_writes: usize,
    pub conflicts: usize,
    /// Changes that failed, with the reason and whether a retry may pass.
    pub failed: Vec<RecordFailure>,
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

/// Every change of a batch of which nothing was decided, failed for `e`.
pub fn undecided(changes: &[Change], e: &JudgeError) -> Vec<RecordFailure> {
    let reason = format!("nothing was decided: {e}");
    changes
        .iter()
        .map(|c| RecordFailure {
            record: c.id.clone(),
            resource: c.key.to_string(),
            reason: reason.clone(),
            transient: e.is_transient(),
        })
        .collect()
}

impl JudgeError {
    /// Whether trying again may pass: contention does; a denied or missing bucket, or a
    /// tasks file that is not one, fails the same way until a person steps in.
    pub fn is_transient(&self) -> bool {
        match self {
            JudgeError::Board(e) => e.is_transient(),
            JudgeError::Store(e) => e.is_transient(),
            JudgeError::Contention(_) => true,
        }
    }
}

/// The judgement of the whole batch against the judge's tasks now in the file (resource →
/// task id → action time), with a budget of resources to act on.
/// Decisions of an earlier pass, in the same order, may be passed to be taken where they
/// still hold (see [`Planned`]).
type DecideAll<'a> = dyn Fn(&Ours, u32, Option<Planned<'_>>) -> Vec<Decision> + Sync + 'a;

pub struct Judge<'a, B, D, O> {
    pub board: &'a B,
    pub dockets: &'a D,
    pub outbox: &'a O,
    pub settings: &'a JudgeSettings,
}

impl<B: TaskBoard, D: DocketStore + RiskStore, O: Outbox> Judge<'_, B, D, O> {
    /// Judges a batch. A failure of the board or of the docket reads fails the whole batch
    /// (nothing was decided); later failures name the changes to retry. The batch's plan
    /// (latest change per resource, dockets, the held queue, the budget) stays here: every
    /// step borrows it; the board write and the records are `write_board` and `record`.
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
        if latest.is_empty() {
            return Ok(BatchReport::default());
        }
        let keys: Vec<ResourceKey> = latest.keys().cloned().collect();
        let allow = self.board.allow_list().await?;
        let read = self.dockets.dockets(&keys, self.settings.dry_run).await?;
        let mut dockets = read.found;
        // A resource whose docket does not read back is not decided (its tasks are unknown):
        // its changes fail, for good, and the others go on.
        let mut unreadable = Vec::new();
        for (key, why) in read.unreadable {
            latest.remove(&key);
            tracing::error!(resource = %key, reason = %why, "docket unreadable: the resource is not judged");
            for id in ids.get(&key).into_iter().flatten() {
                unreadable.push(RecordFailure {
                    record: id.clone(),
                    resource: key.to_string(),
                    reason: format!("its docket cannot be read: {why}"),
                    transient: false,
                });
            }
        }
        // The held queue: the resources held longest join the batch with their current state,
        // so that budget freed up goes to them before anything that came later. They are no
        // stream records: a failure of theirs is retried by the next batch, not reported, and
        // their dockets are read apart, so that one unreadable docket at the head of the queue
        // cannot stop every batch.
        let mut queued = self.held_queue(&latest).await;
        if !queued.is_empty() {
            let queued_keys: Vec<ResourceKey> = queued.iter().map(|c| c.key.clone()).collect();
            match self
                .dockets
                .dockets(&queued_keys, self.settings.dry_run)
                .await
            {
                Ok(read) => {
                    // A held resource whose docket does not read back stays in the queue.
                    queued.retain(|c| !read.unreadable.contains_key(&c.key));
                    dockets.extend(read.found);
                }
                Err(e) => {
                    tracing::warn!(error = %e, "held queue's dockets not read: this batch serves only its own");
                    queued.clear();
                }
            }
        }
        for (i, c) in queued.iter().enumerate() {
            latest.insert(c.key.clone(), changes.len() + i);
        }
        let all: Vec<&Change> = changes.iter().chain(queued.iter()).collect();
        let mut report = BatchReport {
            resources: latest.len(),
            failed: unreadable,
            ..BatchReport::default()
        };
        let judgement = Judgement {
            policy,
            allow: &allow,
            accounts: &self.settings.accounts,
            now,
            dry_run: self.settings.dry_run,
        };
        // Budget goes first to the resources held longest, then to the rest: a resource held
        // by the limit is not passed over, batch after batch, for ones that came later.
        let mut order: Vec<(&ResourceKey, usize)> = latest.iter().map(|(k, &i)| (k, i)).collect();
        order.sort_by_key(|(k, _)| match dockets.get(*k) {
            Some(d) if d.kind == justice_core::verdict::VerdictKind::Held => (0, d.decided_at),
            _ => (1, 0),
        });
        let decide_all = |board: &Ours, mut budget: u32, planned: Option<Planned<'_>>| {
            let empty = BTreeMap::new();
            let mut planned = planned.map(|p| (p.board, p.decisions.into_iter()));
            order
                .iter()
                .map(|&(key, i)| {
                    if let Some((against, earlier)) = &mut planned {
                        // `decide` reads the budget only to hold a resource whose new tasks
                        // cost more than is left: an earlier decision taken with more budget
                        // stands when the file holds the same tasks of the resource and what
                        // it spent is still left.
                        if let Some(d) = earlier
                            .next()
                            .filter(|d| d.budget_spent <= budget && same_tasks(against, board, key))
                        {
                            budget -= d.budget_spent;
                            return d;
                        }
                    }
                    let on_board = board.get(key.as_str()).unwrap_or(&empty);
                    judgement.decide(
                        key,
                        all[i].state.as_ref(),
                        dockets.get(key),
                        on_board,
                        &mut budget,
                    )
                })
                .collect::<Vec<Decision>>()
        };

        // Budget: what the batch would add if every remembered task were still in the file.
        let remembered: Ours = dockets
            .iter()
            .map(|(k, d)| {
                let pending = d
                    .pending()
                    .map(|t| (t.unique_id.clone(), t.action_time))
                    .collect();
                (k.as_str().to_owned(), pending)
            })
            .collect();
        let planned = decide_all(&remembered, u32::MAX, None);
        let want: u32 = planned.iter().map(|d| d.budget_spent).sum();
        let granted = if want == 0 {
            0
        } else {
            self.dockets
                .reserve(BudgetAsk {
                    window: now.div_euclid(HOUR_MS),
                    want,
                    limit: self.settings.blast_per_hour,
                    dry_run: self.settings.dry_run,
                })
                .await?
        };

        // The budget pass's decisions are taken again wherever they still hold: the file
        // usually holds the tasks the dockets remember.
        let planned = Some(Planned {
            board: &remembered,
            decisions: planned,
        });
        let decisions = self
            .write_board(&decide_all, planned, granted, &latest, now, &mut report)
            .await?;
        self.record(decisions, &ids, &mut report).await;
        Ok(report)
    }
}

impl<B: TaskBoard, D: DocketStore + RiskStore, O: Outbox> Judge<'_, B, D, O> {
    /// The batch's decisions against `tasks.json` as it is now, written back conditionally:
    /// on a conflict (someone wrote the file since it was read) the file is read again and
    /// the batch decided again, up to `max_attempts`. Entries of the file that would stop
    /// Krampus's run are reported to the security team.
    async fn write_board(
        &self,
        decide_all: &DecideAll<'_>,
        mut planned: Option<Planned<'_>>,
        granted: u32,
        latest: &BTreeMap<ResourceKey, usize>,
        now: Millis,
        report: &mut BatchReport,
    ) -> Result<Vec<Decision>, JudgeError> {
        let mut attempt = 0;
        let mut others: HashMap<ResourceKey, Option<Docket>> = HashMap::new();
        let mut hazards: Vec<String>;
        let decisions = loop {
            attempt += 1;
            let read = self.board.read().await?;
            let ours = read.file.ours();
            let decisions = decide_all(&ours, granted, planned.take());
            let swept = read
                .version
                .as_deref()
                .and_then(|v| self.board.swept_before(v));
            let Sweep { stale, complete } =
                self.stale(&ours, latest, &mut others, now, swept).await?;
            hazards = justice_core::krampus::hazards(&read.file);
            // Let go of the file's list of our tasks before the file changes: `apply` then
            // brings it up to date in place instead of copying it.
            drop(ours);
            let mut file = read.file;
            report.swept = stale.len();
            // One pass over the file for the whole batch: it may hold thousands of tasks.
            let mut remove = stale;
            let mut add = Vec::new();
            for d in &decisions {
                remove.extend(d.remove.iter().cloned());
                add.extend(d.add.iter().cloned());
            }
            let changed = file.apply(&remove, &add);
            // Every task due before now was checked (or is the batch's own, decided above)
            // and is in the file as written, unless it was swept out. Not so when a docket
            // could not be read: its tasks are checked again by the next batch.
            let now_s = now.div_euclid(1000);
            if !changed {
                if let Some(v) = read.version.as_deref().filter(|_| complete) {
                    self.board.note_swept(Some(v), now_s);
                }
                break decisions;
            }
            match self.board.write(&file, read.version.as_deref()).await? {
                BoardWrite::Written => {
                    if complete {
                        self.board.note_swept(None, now_s);
                    }
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

        report.hazards = hazards.len();
        if !hazards.is_empty() {
            self.report_hazards(&hazards).await;
        }
        Ok(decisions)
    }

    /// The decisions' verdict records and alerts, then their dockets: a change whose record,
    /// alert or docket could not be written is reported failed (its retry decides again). In
    /// one function because the order is the guarantee: records, then alerts, then dockets.
    async fn record(
        &self,
        decisions: Vec<Decision>,
        ids: &HashMap<ResourceKey, Vec<String>>,
        report: &mut BatchReport,
    ) {
        let mut held = Vec::new();
        let mut alerts: Vec<(ResourceKey, String)> = Vec::new();
        let fail =
            |key: &ResourceKey, reason: String, transient: bool, report: &mut BatchReport| {
                for id in ids.get(key).into_iter().flatten() {
                    report.failed.push(RecordFailure {
                        record: id.clone(),
                        resource: key.to_string(),
                        reason: reason.clone(),
                        transient,
                    });
                }
            };
        let mut to_save = Vec::new();
        for d in decisions {
            report.scheduled += d.add.len();
            if let Some(r) = &d.record {
                report.withdrawn += r.withdrawn.len();
                report.confirmed += r.confirmed.len();
            }
            if let Some(record) = &d.record {
                if let Err(e) = self.board.record_verdict(record).await {
                    let transient = e.is_transient();
                    fail(
                        &d.docket.key,
                        format!("verdict record: {e}"),
                        transient,
                        report,
                    );
                    continue;
                }
                report.verdicts += 1;
                if record.kind == VerdictKind::Held {
                    held.push(d.docket.key.clone());
                }
                alerts.extend(d.alerts.iter().map(|a| (d.docket.key.clone(), a.clone())));
            }
            if d.save {
                to_save.push(d);
            }
        }
        report.held = held.len();
        // `Some(transient)` when the alert could not be sent.
        let mut not_alerted = None;
        if !held.is_empty() {
            let alert = hold_alert(&held, self.settings.blast_per_hour, self.settings.dry_run);
            if let Err(e) = self.outbox.alert_security(&alert).await {
                tracing::error!(error = %e, "could not alert the security team about held verdicts");
                not_alerted = Some(e.transient);
            }
        }
        let mut not_told = None;
        if !alerts.is_empty() {
            if let Err(e) = self.outbox.alert_security(&task_alert(&alerts)).await {
                tracing::error!(error = %e, "could not alert the security team about tasks");
                not_told = Some(e.transient);
            }
        }
        let mut saves = Vec::with_capacity(to_save.len());
        for d in &to_save {
            if let (Some(transient), false) = (not_told, d.alerts.is_empty()) {
                // Not saved: the retry decides the same and alerts again.
                let reason = "security alert not sent".into();
                fail(&d.docket.key, reason, transient, report);
                continue;
            }
            if let (Some(transient), VerdictKind::Held) = (not_alerted, d.docket.kind) {
                // Not saved: the retry decides "held" again and alerts again.
                let reason = "security alert not sent".into();
                fail(&d.docket.key, reason, transient, report);
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
                    true,
                    report,
                ),
                Err(e) => {
                    let transient = e.is_transient();
                    fail(&docket.key, format!("docket: {e}"), transient, report)
                }
            }
        }
    }

    /// The resources `keys` names with their state as stored now (a consistent read each): a
    /// redrive. A key that is not one is a permanent failure; a state that cannot be read, a
    /// failure classed by its error.
    pub async fn current(&self, keys: &[String]) -> (Vec<Change>, Vec<RecordFailure>) {
        let (mut changes, mut failures) = (Vec::new(), Vec::new());
        for k in keys {
            let key = match ResourceKey::parse(k) {
                Ok(key) => key,
                Err(e) => {
                    let reason = format!("not a resource key: {e}");
                    failures.push(RecordFailure::permanent(
                        justice_core::text::quote(k, 300),
                        reason,
                    ));
                    continue;
                }
            };
            match RiskStore::load(self.dockets, &key).await {
                Ok(stored) => changes.push(Change {
                    id: key.to_string(),
                    key,
                    state: stored.state,
                }),
                Err(e) => failures.push(RecordFailure {
                    record: key.to_string(),
                    resource: key.to_string(),
                    reason: e.to_string(),
                    transient: e.is_transient(),
                }),
            }
        }
        (changes, failures)
    }

    /// Up to the hour's budget of the longest-held resources not in the batch, with their
    /// current state (a consistent read each). The queue is fairness, not safety: when it
    /// cannot be read the batch goes on without it.
    async fn held_queue(&self, batch: &BTreeMap<ResourceKey, usize>) -> Vec<Change> {
        let want = (self.settings.blast_per_hour as usize).min(QUEUE_PULL);
        if want == 0 {
            return Vec::new();
        }
        let keys = match self.dockets.held_queue(self.settings.dry_run, want).await {
            Ok(keys) => keys,
            Err(e) => {
                tracing::warn!(error = %e, "held queue not read: this batch serves only its own");
                return Vec::new();
            }
        };
        let mut out = Vec::new();
        for key in keys.into_iter().filter(|k| !batch.contains_key(k)) {
            match RiskStore::load(self.dockets, &key).await {
                // A resource whose state is gone is judged removed, as its stream record
                // would have it: its hold ends, rather than block the queue's head for good.
                Ok(stored) => out.push(Change {
                    id: format!("held-queue {key}"),
                    key,
                    state: stored.state,
                }),
                Err(e) => {
                    tracing::warn!(resource = %key, error = %e, "held resource not read: it waits for the next batch");
                }
            }
        }
        out
    }

    /// The judge's tasks of resources outside this batch that are past their time and back in
    /// the file although their docket says the judge took them out (or never lists them):
    /// Krampus rewrites `tasks.json` with what it read before its run, undoing removals made
    /// meanwhile, and would run them again. A resource without a docket is left alone.
    async fn stale(
        &self,
        ours: &Ours,
        batch: &BTreeMap<ResourceKey, usize>,
        known: &mut HashMap<ResourceKey, Option<Docket>>,
        now: Millis,
        swept_before: Option<i64>,
    ) -> Result<Sweep, JudgeError> {
        let now_s = now.div_euclid(1000);
        // Due, and not already checked in this very file by an earlier batch.
        let to_check = |at: i64| at < now_s && swept_before.is_none_or(|b| at >= b);
        let due: Vec<(ResourceKey, &BTreeMap<String, i64>)> = ours
            .iter()
            .filter(|(_, tasks)| tasks.values().any(|&at| to_check(at)))
            .filter_map(|(k, tasks)| Some((ResourceKey::parse(k).ok()?, tasks)))
            .filter(|(k, _)| !batch.contains_key(k))
            .collect();
        let missing: Vec<ResourceKey> = due
            .iter()
            .map(|(k, _)| k.clone())
            .filter(|k| !known.contains_key(k))
            .collect();
        if !missing.is_empty() {
            let mut read = self
                .dockets
                .dockets(&missing, self.settings.dry_run)
                .await?;
            for (k, why) in &read.unreadable {
                // Its tasks are unknown: none is swept.
                tracing::error!(resource = %k, reason = %why, "docket unreadable: its tasks are not swept");
            }
            for k in missing {
                // An unreadable docket is not remembered: it is read again next time.
                if !read.unreadable.contains_key(&k) {
                    let d = read.found.remove(&k);
                    known.insert(k, d);
                }
            }
        }
        let mut stale = BTreeSet::new();
        let mut complete = true;
        for (key, tasks) in due {
            let Some(found) = known.get(&key) else {
                complete = false;
                continue;
            };
            let Some(docket) = found else {
                continue;
            };
            for (id, &at) in tasks {
                let on_file = docket
                    .tasks
                    .iter()
                    .any(|t| &t.unique_id == id && t.status.on_file());
                if to_check(at) && !on_file {
                    tracing::warn!(resource = %key, task = %id, "a task the judge took out of tasks.json is back: taken out again");
                    stale.insert(id.clone());
                }
            }
        }
        Ok(Sweep { stale, complete })
    }

    /// Tells the security team, once per distinct set, about entries of `tasks.json` that
    /// would stop Krampus's run (anyone's: one bad task stops all remediation). They are not
    /// removed: the file is shared, and they may be someone's work.
    async fn report_hazards(&self, hazards: &[String]) {
        let parts: Vec<&str> = hazards.iter().map(String::as_str).collect();
        let id = format!(
            "tasks-hazards-{:016x}",
            justice_core::item::hash_parts(&parts)
        );
        match self.outbox.was_sent(&id).await {
            Ok(true) => return,
            Ok(false) => {}
            Err(e) => {
                tracing::error!(error = %e, "could not check the sent log for a hazard report");
                return;
            }
        }
        let mut body = String::from(
            "Krampus's tasks.json holds entries that stop its whole run (it prepares every due task \
             before it runs any, and raises on one it cannot read) or that it will never run as \
             written. Nothing in the file is carried out until they are fixed or removed; the \
             judge does not remove other people's tasks:\n",
        );
        for h in hazards.iter().take(50) {
            body.push_str("- ");
            body.push_str(h);
            body.push('\n');
        }
        let alert = SecurityAlert {
            subject: format!(
                "Justice Engine: {} entr{} in tasks.json would stop Krampus",
                hazards.len(),
                if hazards.len() == 1 { "y" } else { "ies" }
            ),
            body,
        };
        match self.outbox.alert_security(&alert).await {
            Ok(()) => {
                if let Err(e) = self.outbox.mark_sent(&id).await {
                    tracing::error!(error = %e, "hazard report sent but not marked: it may be sent again");
                }
            }
            Err(e) => tracing::error!(error = %e, "could not report tasks.json hazards"),
        }
    }
}

fn task_alert(alerts: &[(ResourceKey, String)]) -> SecurityAlert {
    let mut body = String::from(
        "The judge needs a person for these resources: tasks Krampus would not carry out as \
         intended, critical findings no task will fix, tasks unconfirmed too long (each message \
         is sent once):\n",
    );
    for (_, a) in alerts.iter().take(50) {
        body.push_str("- ");
        body.push_str(a);
        body.push('\n');
    }
    if alerts.len() > 50 {
        body.push_str(&format!("… and {} more\n", alerts.len() - 50));
    }
    SecurityAlert {
        subject: format!(
            "Justice Engine: {} resource problem(s) need a person",
            alerts.len()
        ),
        body,
    }
}

const HOLD_LIST: usize = 200;

fn hold_alert(keys: &[ResourceKey], limit: u32, dry_run: bool) -> SecurityAlert {
    let mut body = format!(
        "The blast-radius limit of {limit} resources newly given Krampus tasks per hour is reached{}. \
         These verdicts are held (no task written); they are judged again as their \
         resources are re-scored, and scheduled once the budget allows:\n",
        if dry_run { " (dry run)" } else { "" }
    );
    // The only message about held verdicts (owners' notices are not sent for them): every
    // resource of a stream batch (at most 100) is listed.
    for k in keys.iter().take(HOLD_LIST) {
        body.push_str("- ");
        body.push_str(&justice_core::text::quote(k.as_str(), 300));
        body.push('\n');
    }
    if keys.len() > HOLD_LIST {
        body.push_str(&format!("… and {} more\n", keys.len() - HOLD_LIST));
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
