//! Verdicts: from a resource's risk state and the judge's memory of it (its docket), decide
//! which Krampus tasks it must have, which to withdraw, and what to record.
//!
//! The rules that make this safe:
//! - a task's `action_time` is fixed when it is first scheduled; later changes never postpone it;
//! - every task passes `krampus::gate` (checked as Krampus will read it) or is never written;
//! - Krampus keeps the tasks it ran and runs them again: a task past its time and still in
//!   `tasks.json` is "run, unconfirmed" until a Config item shows its effect, then the judge
//!   removes it ("confirmed"); one unconfirmed for too long is reported to the security team;
//! - a task that left `tasks.json` (run, confirmed, or removed by someone before its time) is
//!   never written again while the verdict stands, and is removed again if it reappears;
//! - escalation adds the stronger task with its own grace; a fix, a deletion, an allow-list
//!   entry, an exemption or an account outside the list withdraws every pending task;
//! - acting on a resource that had no task spends a budget (the blast radius, counted in
//!   resources); when it runs out the verdict is held.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::allow::AllowList;
use crate::item::hash_parts;
use crate::krampus::{self, Effect, KrampusKind, KrampusTask, TaskAction, TaskTarget, TASK_SOURCE};
use crate::policy::{ActionCap, Level, Policy};
use crate::state::{ResourceKey, ResourceStatus, RiskState};
use crate::text::quote;
use crate::time::{self, Millis};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum VerdictKind {
    /// Below every threshold.
    Clear,
    /// Over the warning threshold: a notice, no task.
    Warn,
    /// Krampus tasks scheduled.
    Act,
    /// Tasks were due but the blast-radius budget is spent: nothing scheduled, security alerted.
    Held,
    /// Exempted by the policy until a date.
    Exempt,
    /// On the allow-list.
    Allowed,
    /// Over a threshold, but Krampus has no safe action for it: the owner must fix it.
    Unactionable,
    /// Its account is not one the engine may act in.
    Refused,
    /// The resource is gone.
    Deleted,
}

impl VerdictKind {
    pub fn as_str(self) -> &'static str {
        match self {
            VerdictKind::Clear => "clear",
            VerdictKind::Warn => "warn",
            VerdictKind::Act => "act",
            VerdictKind::Held => "held",
            VerdictKind::Exempt => "exempt",
            VerdictKind::Allowed => "allowed",
            VerdictKind::Unactionable => "unactionable",
            VerdictKind::Refused => "refused",
            VerdictKind::Deleted => "deleted",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TaskStatus {
    /// In `tasks.json`, waiting for its time.
    Pending,
    /// In `tasks.json` past its time: Krampus has run it (and keeps it: it re-queues the tasks
    /// it ran) or is about to; no Config item shows its effect yet.
    Unconfirmed,
    /// A Config item showed its effect (or that it is no longer needed) after its time; the
    /// judge took it out of `tasks.json`, so that Krampus stops running it.
    Confirmed,
    /// Gone from `tasks.json` after its time: Krampus dropped it (it drops what it cannot act
    /// on: a resource already gone, an RDS kill, an allow-listed ARN).
    Executed,
    /// Gone from `tasks.json` before its time: someone removed it. Not restored.
    Removed,
}

impl TaskStatus {
    /// Whether the task is in `tasks.json` as the judge last left it.
    pub fn on_file(self) -> bool {
        matches!(self, TaskStatus::Pending | TaskStatus::Unconfirmed)
    }
}

/// A task as the judge remembers it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DocketTask {
    pub unique_id: String,
    pub action: TaskAction,
    /// Unix seconds.
    pub action_time: i64,
    pub effect: Effect,
    pub status: TaskStatus,
    /// What it targets, for people: "tcp/22 from 0.0.0.0/0", "the resource".
    pub target: String,
    /// What Krampus's code does besides the task's purpose (`krampus::side_effects`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub side_effects: String,
    /// The security team was told it stayed unconfirmed too long.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub alerted: bool,
}

/// The judge's memory of one resource on one board (live or dry run).
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Docket {
    pub key: ResourceKey,
    pub dry_run: bool,
    /// Writes so far: the optimistic-lock version.
    pub revision: u64,
    pub kind: VerdictKind,
    pub level: Level,
    pub reason: String,
    pub tasks: Vec<DocketTask>,
    pub decided_at: Millis,
    /// The revision of the risk state last judged: an older stream record is ignored.
    pub state_revision: u64,
    pub last_verdict: Option<String>,
    /// A digest of what the security team was last told about the resource: the same alert
    /// is sent once, not at every re-score.
    pub last_alert: Option<String>,
    /// What the digests list while the resource stays over a threshold with nothing in
    /// `tasks.json` for it (a warning, no automatic fix, held): `None` otherwise.
    pub open: Option<OpenLine>,
}

/// A verdict that waits on a person, as the digests list it until the resource is fixed or
/// exempted. Names and tags are the resource's own text: raw here, cleaned where shown.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenLine {
    pub kind: VerdictKind,
    pub level: Level,
    /// When the resource first reached this kind of verdict.
    pub since: Millis,
    pub account: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub arn: String,
    pub team: Option<String>,
    pub owner: Option<String>,
    /// The findings' rules and subjects (not their points: a re-score changes nothing here).
    pub issues: Vec<String>,
    /// Why a person must act, when nothing automatic will fix it (the security team's
    /// digest lists these).
    pub person: Option<String>,
}

impl OpenLine {
    /// The owner as the notices find it: the raw value of the first owner tag the policy
    /// names (cleaned where it is shown), so that a line goes to the team its notices go to.
    fn owned_by(mut self, s: &RiskState, owner_keys: &[String]) -> OpenLine {
        self.owner = s.tags.as_ref().and_then(|tags| {
            owner_keys.iter().find_map(|key| {
                tags.iter()
                    .find(|(k, v)| k.eq_ignore_ascii_case(key) && !v.trim().is_empty())
                    .map(|(_, v)| v.clone())
            })
        });
        self
    }

    /// The most issues a line keeps: the digest shows five a resource.
    const MAX_ISSUES: usize = 8;

    /// The security team must chase it: nothing automatic will fix it.
    pub fn needs_security(&self) -> bool {
        self.person.is_some()
    }

    fn of(
        kind: VerdictKind,
        level: Level,
        s: &RiskState,
        old: Option<&OpenLine>,
        now: Millis,
        person: Option<String>,
    ) -> Option<OpenLine> {
        let waits = matches!(
            kind,
            VerdictKind::Warn | VerdictKind::Unactionable | VerdictKind::Held
        );
        if !waits && person.is_none() {
            return None;
        }
        let since = old.filter(|o| o.kind == kind).map_or(now, |o| o.since);
        Some(OpenLine {
            kind,
            level,
            since,
            account: s.account.clone(),
            name: s
                .resource_name
                .clone()
                .unwrap_or_else(|| s.resource_id.clone()),
            arn: s
                .arn
                .clone()
                .or_else(|| krampus::task_arn(s).ok())
                .unwrap_or_default(),
            team: s.team_tag().map(str::to_owned),
            owner: None,
            issues: s
                .findings
                .iter()
                .take(Self::MAX_ISSUES)
                .map(|f| {
                    if f.finding.subject.is_empty() {
                        f.finding.rule.clone()
                    } else {
                        format!("{}: {}", f.finding.rule, f.finding.subject)
                    }
                })
                .collect(),
            person,
        })
    }
}

impl Docket {
    fn empty(key: &ResourceKey, dry_run: bool) -> Docket {
        Docket {
            key: key.clone(),
            dry_run,
            revision: 0,
            kind: VerdictKind::Clear,
            level: Level::None,
            reason: String::new(),
            tasks: Vec::new(),
            decided_at: 0,
            state_revision: 0,
            last_verdict: None,
            last_alert: None,
            open: None,
        }
    }

    /// The tasks in `tasks.json`: waiting, or past their time and unconfirmed.
    pub fn pending(&self) -> impl Iterator<Item = &DocketTask> {
        self.tasks.iter().filter(|t| t.status.on_file())
    }
}

/// A finding as a verdict record shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FindingNote {
    pub rule: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub subject: String,
    pub severity: String,
    pub evidence: String,
    pub points: u32,
    pub first_seen: String,
    pub remediation: String,
}

/// The resource as a verdict record names it. Names and tags are the resource's own text:
/// untrusted, kept raw here and neutralised wherever they are shown.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResourceNote {
    pub key: String,
    pub account: String,
    pub region: String,
    pub resource_type: String,
    pub resource_id: String,
    pub arn: Option<String>,
    pub name: Option<String>,
    pub owner: Option<String>,
    pub tags: Option<BTreeMap<String, String>>,
}

/// One decision, as written once under `verdicts/` for audit and for the notifier.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VerdictRecord {
    pub verdict_id: String,
    pub dry_run: bool,
    pub kind: VerdictKind,
    pub previous_kind: VerdictKind,
    pub level: Level,
    pub previous_level: Level,
    pub score: u32,
    pub reason: String,
    pub decided_at: String,
    pub decided_at_ms: Millis,
    pub resource: ResourceNote,
    pub findings: Vec<FindingNote>,
    /// Tasks first scheduled by this decision, as written to `tasks.json`.
    pub scheduled: Vec<KrampusTask>,
    /// Every task pending after this decision.
    pub pending: Vec<DocketTask>,
    /// Tasks this decision took out of `tasks.json`.
    pub withdrawn: Vec<DocketTask>,
    /// Tasks found run by Krampus, or removed by someone else, since the last decision.
    pub executed: Vec<DocketTask>,
    pub removed_by_others: Vec<DocketTask>,
    /// Tasks past their time whose effect a Config item showed: taken out of `tasks.json`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub confirmed: Vec<DocketTask>,
}

/// Everything a decision depends on besides the resource.
#[derive(Debug)]
pub struct Judgement<'a> {
    pub policy: &'a Policy,
    pub allow: &'a AllowList,
    /// The accounts the engine may act in.
    pub accounts: &'a [String],
    pub now: Millis,
    pub dry_run: bool,
}

/// The outcome for one resource.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    pub docket: Docket,
    /// The docket changed and must be saved at `docket.revision - 1`.
    pub save: bool,
    pub record: Option<VerdictRecord>,
    pub add: Vec<KrampusTask>,
    pub remove: BTreeSet<String>,
    /// Budget spent: 1 when this decision starts acting on a resource that had no task.
    pub budget_spent: u32,
    /// For the security team: tasks the gate refused, tasks unconfirmed too long.
    pub alerts: Vec<String>,
}

/// The points of the findings allowed to drive an action (policy `[class_caps]`): `disable`
/// counts findings allowed to disable or more, `kill` those allowed to do what cannot be
/// undone.
#[derive(Debug, Clone, Copy)]
struct Drive {
    disable: u32,
    kill: u32,
}

impl Drive {
    fn of(s: &RiskState, policy: &Policy) -> Drive {
        let points = |needed: ActionCap| {
            s.findings
                .iter()
                // A finding kept open only because its rule could not be evaluated on the
                // newest item drives nothing: a doubt never acts.
                .filter(|f| !s.rule_errors.iter().any(|e| e.rule == f.finding.rule))
                .filter(|f| policy.finding_cap(&f.finding.rule, f.finding.severity) >= needed)
                .map(|f| f.points)
                .sum()
        };
        Drive {
            disable: points(ActionCap::Disable),
            kill: points(ActionCap::Kill),
        }
    }
}

/// A task the state calls for.
#[derive(Debug, Clone)]
struct Wanted {
    action: TaskAction,
    effect: Effect,
    target: TaskTarget,
    grace_hours: u32,
    side_effects: &'static str,
}

/// What the state calls for, before the docket and the board are looked at.
struct Assessment {
    kind: VerdictKind,
    level: Level,
    reason: String,
    wanted: BTreeMap<String, Wanted>,
    /// Why the security team must hear of it (a task the gate refused).
    alert: Option<String>,
    /// The targets of the tasks the gate refused: `alert` reports them already.
    refused: Vec<krampus::TaskTarget>,
}

impl Judgement<'_> {
    /// Decides for one resource. `state` is the risk state's new image (`None`: the item was
    /// removed); `board` holds the judge's tasks for this resource now in the file
    /// (id → action_time, from [`TasksFile::ours`](crate::krampus::TasksFile::ours)); `budget`
    /// is how many more resources may be acted on this hour. The steps are `assess`,
    /// `reconcile`, `schedule` and `what_to_tell`; what stays here assembles the docket and
    /// the record from them.
    pub fn decide(
        &self,
        key: &ResourceKey,
        state: Option<&RiskState>,
        docket: Option<&Docket>,
        board: &BTreeMap<String, i64>,
        budget: &mut u32,
    ) -> Decision {
        let old = docket
            .cloned()
            .unwrap_or_else(|| Docket::empty(key, self.dry_run));
        if let (Some(s), Some(d)) = (state, docket) {
            if s.revision < d.state_revision {
                // An older image than the one already judged.
                return unchanged(old);
            }
        }
        let a = self.assess(key, state);
        let mut ledger = self.reconcile(key, state, &old, &a, board);
        let verdict_id = verdict_id(key, self.dry_run, old.revision + 1);
        let scheduled = self.schedule(state, &old, &a, &mut ledger, &verdict_id, budget);
        let kind = if scheduled.held {
            VerdictKind::Held
        } else {
            a.kind
        };
        let Ledger {
            tasks,
            remove,
            withdrawn,
            executed,
            removed,
            confirmed,
            mut alerts,
        } = ledger;
        let Scheduled {
            add,
            budget_spent,
            fresh,
            ..
        } = scheduled;
        // What a person must hear about: a task Krampus would not carry out as intended, and
        // a critical finding at the disable level or above that no task will fix (a type
        // Krampus has no action for, a bucket policy, an IPv6 rule, a class the policy does
        // not act on). Allow-listed and exempt resources are someone's decision already. Told
        // once per distinct message, not at every re-score.
        let uncovered = uncovered_criticals(state, &a);
        let (told, causes) = self.what_to_tell(&old, &a, kind, &uncovered);
        // What the digests keep repeating until it is fixed: why nothing automatic will.
        let person = needs_person(&uncovered, &causes, kind, &tasks, &a);
        let last_alert = (!causes.is_empty()).then(|| {
            let parts: Vec<&str> = causes.iter().map(String::as_str).collect();
            format!("{:016x}", crate::item::hash_parts(&parts))
        });
        if last_alert.is_some() && last_alert != old.last_alert {
            for t in &told {
                alerts.push(format!("{}: {t}", quote(key.as_str(), 300)));
            }
        }

        let mut reason = a.reason;
        if kind == VerdictKind::Held {
            reason = format!(
                "{} new task(s) due, but the blast-radius limit of resources acted on this hour is reached",
                fresh
            );
        }
        let new = Docket {
            key: key.clone(),
            dry_run: self.dry_run,
            revision: old.revision,
            kind,
            level: a.level,
            reason,
            tasks,
            decided_at: old.decided_at,
            state_revision: state.map_or(old.state_revision, |s| s.revision),
            last_verdict: old.last_verdict.clone(),
            last_alert: last_alert.clone(),
            open: state.and_then(|s| {
                OpenLine::of(kind, a.level, s, old.open.as_ref(), self.now, person)
                    .map(|l| l.owned_by(s, &self.policy.owner_tag_keys))
            }),
        };
        let significant =
            new.differs_from(&old) || !remove.is_empty() || !add.is_empty() || !alerts.is_empty();
        if !significant {
            // Nothing to write: the re-score sends every risky state again and again, and a
            // docket write each time would cost more than the stale-image guard it refreshes
            // (the stream is in order per item; the guard is only a second line).
            return unchanged(old);
        }
        let fresh_docket =
            docket.is_none() && new.kind == VerdictKind::Clear && new.tasks.is_empty();
        if fresh_docket {
            return unchanged(old);
        }
        let mut new = new;
        new.revision = old.revision + 1;
        // A hold that goes on keeps the time it started: the held-too-long bound counts from it.
        if !(new.kind == VerdictKind::Held && old.kind == VerdictKind::Held) {
            new.decided_at = self.now;
        }
        new.last_verdict = Some(verdict_id.clone());
        let record = VerdictRecord {
            verdict_id,
            dry_run: self.dry_run,
            kind: new.kind,
            previous_kind: old.kind,
            level: new.level,
            previous_level: old.level,
            score: state.map_or(0, |s| s.score),
            reason: new.reason.clone(),
            decided_at: time::format_rfc3339(self.now),
            decided_at_ms: self.now,
            resource: resource_note(key, state),
            findings: state.map(|s| findings(s, self.policy)).unwrap_or_default(),
            scheduled: add.clone(),
            pending: new.pending().cloned().collect(),
            withdrawn,
            executed,
            removed_by_others: removed,
            confirmed,
        };
        Decision {
            docket: new,
            save: true,
            record: Some(record),
            add,
            remove,
            budget_spent,
            alerts,
        }
    }

    /// The tasks the assessment wants that the docket does not hold yet, into the ledger: a
    /// task renamed with its resource keeps its time; new ones start their grace period, if
    /// the hour's budget allows, else the verdict is held.
    fn schedule(
        &self,
        state: Option<&RiskState>,
        old: &Docket,
        a: &Assessment,
        ledger: &mut Ledger,
        verdict_id: &str,
        budget: &mut u32,
    ) -> Scheduled {
        let now_s = self.now.div_euclid(1000);
        let known: BTreeSet<String> = ledger.tasks.iter().map(|t| t.unique_id.clone()).collect();
        let fresh: Vec<(&String, &Wanted)> = a
            .wanted
            .iter()
            .filter(|(id, _)| !known.contains(*id))
            .collect();

        // A task taken out because the resource's name changed (its ARN names the old name) is
        // replaced by the same action on the new name, at the same time: a rename neither
        // postpones an action nor spends the budget again.
        let renamed: BTreeMap<(TaskAction, Effect, String), i64> = old
            .tasks
            .iter()
            .filter(|t| t.status.on_file() && ledger.remove.contains(&t.unique_id))
            .map(|t| ((t.action, t.effect, t.target.clone()), t.action_time))
            .collect();
        let (fresh, carried): (Vec<_>, Vec<_>) = fresh.into_iter().partition(|(id, w)| {
            !renamed.contains_key(&(
                w.action,
                w.effect,
                docket_task(id, w, 0, TaskStatus::Pending).target,
            ))
        });
        let mut add = Vec::new();
        for (id, w) in &carried {
            let target = docket_task(id, w, 0, TaskStatus::Pending).target;
            let at = renamed
                .get(&(w.action, w.effect, target))
                .copied()
                .unwrap_or(now_s);
            if let Some(s) = state {
                add.push(self.task(s, id, w, at, verdict_id));
            }
            let status = if at < now_s {
                TaskStatus::Unconfirmed
            } else {
                TaskStatus::Pending
            };
            ledger.tasks.push(docket_task(id, w, at, status));
        }
        // The blast radius counts resources (what people must restore), not tasks: a group
        // with twelve open rules is one resource, and a resource already being acted on
        // (a stronger action added, more rules opened) widens nothing.
        let (mut budget_spent, mut held) = (0, false);
        if !fresh.is_empty() {
            let cost = u32::from(ledger.tasks.is_empty());
            if cost > *budget {
                held = true;
            } else {
                *budget -= cost;
                budget_spent = cost;
                for (id, w) in &fresh {
                    let at = now_s.saturating_add(i64::from(w.grace_hours) * 3600);
                    if let Some(s) = state {
                        add.push(self.task(s, id, w, at, verdict_id));
                    }
                    ledger
                        .tasks
                        .push(docket_task(id, w, at, TaskStatus::Pending));
                }
            }
        }
        ledger.tasks.sort_by(|x, y| x.unique_id.cmp(&y.unique_id));
        Scheduled {
            add,
            budget_spent,
            held,
            fresh: fresh.len(),
        }
    }

    /// What the security team is told about the resource (`told`), and the causes that make
    /// it news (`causes`): a refused task, a critical finding no task fixes at the action level,
    /// and a verdict held since the docket turned `held` (a repeated hold is no new decision, so
    /// its time stays) past the policy's bound.
    fn what_to_tell(
        &self,
        old: &Docket,
        a: &Assessment,
        kind: VerdictKind,
        uncovered: &[&str],
    ) -> (Vec<String>, Vec<String>) {
        // The digest of what is told: the alerts' causes, not the level or the score, so a
        // resource that ages into the next level is not reported again.
        let mut told: Vec<String> = a.alert.iter().cloned().collect();
        let mut causes: Vec<String> = told.clone();
        if a.level >= Level::Disable
            && !matches!(
                a.kind,
                VerdictKind::Allowed
                    | VerdictKind::Exempt
                    | VerdictKind::Refused
                    | VerdictKind::Deleted
            )
            && !uncovered.is_empty()
        {
            told.push(format!(
                "needs a person: no task fixes its critical finding(s) {}: {}",
                uncovered.join(", "),
                a.reason
            ));
            causes.push(format!("uncovered {}", uncovered.join(",")));
        }
        let bound = i64::from(self.policy.krampus.held_alert_hours) * crate::time::HOUR_MS;
        if kind == VerdictKind::Held
            && old.kind == VerdictKind::Held
            && self.now.saturating_sub(old.decided_at) >= bound
        {
            causes.push("held too long".into());
            told.push(format!(
            "held by the blast-radius limit for more than {} hours since {}: raise the budget, exempt it, or fix it by hand",
            self.policy.krampus.held_alert_hours,
            time::format_rfc3339(old.decided_at)
        ));
        }
        (told, causes)
    }

    /// One remembered task against the board: kept (pending, or run and unconfirmed), left
    /// the file (run, or removed before its time), confirmed, or withdrawn. One match arm per
    /// case of the task and the board, side by side so that none is missed.
    fn settle(
        &self,
        key: &ResourceKey,
        t: &DocketTask,
        still_wanted: bool,
        on_board: Option<i64>,
        shown: &EffectShown<'_>,
        l: &mut Ledger,
    ) {
        let now_s = self.now.div_euclid(1000);
        let confirm_after = i64::from(self.policy.krampus.confirm_hours) * 3600;
        match (t.status.on_file(), on_board) {
            (true, Some(at)) if still_wanted => {
                let mut t = DocketTask {
                    action_time: at,
                    ..t.clone()
                };
                if at >= now_s {
                    t.status = TaskStatus::Pending;
                } else if shown.shows(&t) {
                    // Krampus would run it again on its next run: take it out.
                    t.status = TaskStatus::Confirmed;
                    l.remove.insert(t.unique_id.clone());
                    l.confirmed.push(t.clone());
                } else {
                    t.status = TaskStatus::Unconfirmed;
                    if !t.alerted && now_s.saturating_sub(at) > confirm_after {
                        t.alerted = true;
                        l.alerts.push(format!(
                            "{}: Krampus task {} ({} {}) is {} h past its time and no AWS \
                             Config item shows its effect; it stays in tasks.json and Krampus \
                             runs it again on every run",
                            quote(key.as_str(), 300),
                            t.unique_id,
                            t.action.as_str(),
                            t.target,
                            now_s.saturating_sub(at) / 3600
                        ));
                    }
                }
                l.tasks.push(t);
            }
            (true, None) if still_wanted => {
                let status = if t.action_time < now_s {
                    TaskStatus::Executed
                } else {
                    TaskStatus::Removed
                };
                let gone = DocketTask {
                    status,
                    ..t.clone()
                };
                if status == TaskStatus::Executed {
                    l.executed.push(gone.clone());
                } else {
                    // A person removed it, or Krampus's unconditional rewrite of the file
                    // lost it: the judge cannot tell, does not restore it, and says so.
                    l.alerts.push(format!(
                        "{}: Krampus task {} ({} {}) left tasks.json before its time, \
                         removed by someone or lost to Krampus's unconditional rewrite of \
                         the file; it is not restored: re-add it or exempt the resource",
                        quote(key.as_str(), 300),
                        t.unique_id,
                        t.action.as_str(),
                        t.target
                    ));
                    l.removed.push(gone.clone());
                }
                l.tasks.push(gone);
            }
            (true, Some(at)) => {
                // No longer called for: confirmed when it ran and its effect shows,
                // withdrawn otherwise (fixed by the owner, exempted, the policy changed).
                l.remove.insert(t.unique_id.clone());
                if at < now_s && shown.shows(t) {
                    l.confirmed.push(DocketTask {
                        status: TaskStatus::Confirmed,
                        ..t.clone()
                    });
                } else {
                    l.withdrawn.push(t.clone());
                }
            }
            (true, None) => {}
            (false, on_board) => {
                // Off the file as far as the judge knows; back on it only through an
                // unconditional rewrite (Krampus's) that undid a removal: remove it again.
                if on_board.is_some() {
                    l.remove.insert(t.unique_id.clone());
                }
                if still_wanted {
                    l.tasks.push(t.clone());
                }
            }
        }
    }

    /// The remembered tasks against the board and the new state: what stays, what left the
    /// file (run, or removed before its time), what ran and shows its effect, what is no longer
    /// wanted, and what a person must hear about.
    fn reconcile(
        &self,
        key: &ResourceKey,
        state: Option<&RiskState>,
        old: &Docket,
        a: &Assessment,
        board: &BTreeMap<String, i64>,
    ) -> Ledger {
        let shown = EffectShown::new(key, state);
        let mut l = Ledger::default();
        for t in &old.tasks {
            let still_wanted = a.wanted.contains_key(&t.unique_id);
            let on_board = board.get(&t.unique_id).copied();
            self.settle(key, t, still_wanted, on_board, &shown, &mut l);
        }
        // Ours in the file but not remembered: written by an attempt whose docket was never
        // saved. Adopt them as they are; withdraw the ones no longer wanted.
        let remembered: BTreeSet<&str> = old.tasks.iter().map(|t| t.unique_id.as_str()).collect();
        for (id, &at) in board {
            if remembered.contains(id.as_str()) {
                continue;
            }
            if let Some(w) = a.wanted.get(id) {
                l.tasks.push(docket_task(id, w, at, TaskStatus::Pending));
            } else {
                l.remove.insert(id.clone());
            }
        }
        l
    }

    /// The verdicts that act on nothing, whatever the findings: the resource deleted, an
    /// account the engine may not act in, below the thresholds, allow-listed, exempt, or at
    /// the warning level (after the allow-list and the exemptions: someone decided about
    /// those already, and a warning would stay in their team's digest although excepted).
    fn not_acted_on(&self, key: &ResourceKey, s: &RiskState) -> Option<Assessment> {
        if s.status == ResourceStatus::Deleted {
            return Some(quiet(
                VerdictKind::Deleted,
                Level::None,
                "the resource was deleted",
            ));
        }
        if !self.accounts.iter().any(|a| a == &s.account) {
            return Some(quiet(
                VerdictKind::Refused,
                s.level,
                &format!(
                    "account {} is not one the engine may act in",
                    quote(&s.account, 40)
                ),
            ));
        }
        if s.level == Level::None {
            return Some(quiet(
                VerdictKind::Clear,
                s.level,
                "below the warning threshold",
            ));
        }
        let kind = crate::types::kind_of(&s.resource_type);
        let task_arn = kind.and_then(|_| krampus::task_arn(s).ok());
        let mut names: Vec<&str> = vec![key.as_str()];
        names.extend(s.arn.as_deref());
        names.extend(task_arn.as_deref());
        if let Some((pattern, why)) = self.allow.matching(&names) {
            return Some(quiet(
                VerdictKind::Allowed,
                s.level,
                &format!(
                    "allow-listed by `{}`: {}",
                    quote(pattern, 200),
                    quote(why, 300)
                ),
            ));
        }
        if let Some(e) = self.policy.exemption(&names, self.now) {
            return Some(quiet(
                VerdictKind::Exempt,
                s.level,
                &format!(
                    "exempt until {}: {}",
                    time::format_rfc3339(e.expires),
                    quote(&e.reason, 300)
                ),
            ));
        }
        // After the allow-list and the exemptions: someone decided about those already, and
        // a warning would stay in their team's digest although it was excepted.
        if s.level == Level::Warn {
            // No score in the reason: a changing score alone is not a new verdict.
            return Some(quiet(
                VerdictKind::Warn,
                s.level,
                &format!(
                    "at the warning level: a notice, no task (tasks from a score of {})",
                    self.policy.thresholds.disable
                ),
            ));
        }
        None
    }

    /// A resource over the action level only with the findings the policy advises and never
    /// acts on (`[class_caps]`): a warning that says which.
    fn advised_only(&self, s: &RiskState) -> Assessment {
        // Why each finding that may not act may not: said per reason, so that an owner (and
        // the security team) reads the real one.
        let mut capped: Vec<&str> = Vec::new();
        let mut written: Vec<&str> = Vec::new();
        let mut unevaluated: Vec<&str> = Vec::new();
        for f in &s.findings {
            let rule = f.finding.rule.as_str();
            if s.rule_errors.iter().any(|e| e.rule == rule) {
                unevaluated.push(rule);
            } else if self.policy.finding_cap(rule, f.finding.severity) >= ActionCap::Disable {
                continue;
            } else if self.policy.rule(rule).is_none_or(|r| !r.acts) {
                written.push(rule);
            } else {
                capped.push(self.policy.class_of(rule).as_str());
            }
        }
        let mut reasons = Vec::new();
        for (list, what) in [
            (&mut capped, "findings of classes the policy advises and never acts on (`[class_caps]`)"),
            (&mut written, "findings of rules that do not act (written rules without `act = true`, or rules this policy does not know)"),
            (&mut unevaluated, "findings kept open while their rule cannot be evaluated on the newest item"),
        ] {
            list.sort_unstable();
            list.dedup();
            if !list.is_empty() {
                reasons.push(format!("{what}: {}", list.join(", ")));
            }
        }
        quiet(
            VerdictKind::Warn,
            s.level,
            &format!(
                "at the {} level from findings advised to the owner and never acted on: {}; the \
                 findings that may be acted on do not reach the disable level alone",
                s.level,
                reasons.join("; ")
            ),
        )
    }

    /// Every wanted task as it would be written, read as Krampus will read it: one that Krampus
    /// would not carry out as intended is never written (taken out of `wanted`), and the
    /// security team hears of it; the others still are (one odd rule does not shield the rest
    /// of the resource). The reasons, and the targets refused.
    fn gate(
        &self,
        s: &RiskState,
        wanted: &mut BTreeMap<String, Wanted>,
    ) -> (Vec<String>, Vec<krampus::TaskTarget>) {
        let now_s = self.now.div_euclid(1000);
        let mut refused = Vec::new();
        let mut refused_targets = Vec::new();
        wanted.retain(|id, w| {
            let at = now_s.saturating_add(i64::from(w.grace_hours) * 3600);
            let task = self.task(s, id, w, at, "");
            let checked = serde_json::to_value(&task)
                .map_err(|e| crate::Refused(e.to_string()))
                .and_then(|v| krampus::gate(&v, self.accounts, s));
            match checked {
                Ok(()) => true,
                Err(why) => {
                    refused.push(format!(
                        "Krampus would not carry out `{} {}` as intended: {why}",
                        w.action.as_str(),
                        docket_task(id, w, 0, TaskStatus::Pending).target
                    ));
                    refused_targets.push(w.target.clone());
                    false
                }
            }
        });
        (refused, refused_targets)
    }

    fn assess(&self, key: &ResourceKey, state: Option<&RiskState>) -> Assessment {
        let Some(s) = state else {
            return quiet(
                VerdictKind::Deleted,
                Level::None,
                "the risk state was removed",
            );
        };
        if let Some(a) = self.not_acted_on(key, s) {
            return a;
        }
        // What the findings may drive: only the points of findings whose class the policy
        // acts on count towards an action's level, so missing tags or weak encryption never
        // push an exposure into an action (or a kill) it would not reach on its own.
        let drive = Drive::of(s, self.policy);
        if drive.disable < self.policy.thresholds.disable {
            return self.advised_only(s);
        }
        let Some(kind) = crate::types::kind_of(&s.resource_type) else {
            return quiet(
                VerdictKind::Unactionable,
                s.level,
                &format!("Krampus has no action for {}", s.resource_type),
            );
        };
        let arn = match krampus::task_arn(s) {
            Ok(arn) => arn,
            Err(why) => {
                // Krampus could act on the type, but not safely on this resource: a person must.
                let reason = format!("no task: {why}");
                return Assessment {
                    alert: Some(reason.clone()),
                    ..quiet(VerdictKind::Unactionable, s.level, &reason)
                };
            }
        };
        let cap = self.policy.cap(&s.resource_type);
        let mut wanted = BTreeMap::new();
        let mut why_not = Vec::new();
        let mut actions = vec![TaskAction::Disable];
        if s.level == Level::Kill {
            actions.push(TaskAction::Kill);
        }
        for action in actions {
            match self.plan(s, kind, action, cap, drive) {
                Ok(list) => {
                    for w in list {
                        let id = w.target.unique_id(key.as_str(), &arn, w.action);
                        wanted.insert(id, w);
                    }
                }
                Err(why) => why_not.push(why),
            }
        }
        if wanted.is_empty() {
            return quiet(
                VerdictKind::Unactionable,
                s.level,
                &format!("no task: {}", why_not.join("; ")),
            );
        }
        // Every task as it would be written, read as Krampus will read it: one that Krampus
        // would not carry out as intended is never written, and the security team hears of
        // it; the others still are (one odd rule does not shield the rest of the resource).
        let (refused, refused_targets) = self.gate(s, &mut wanted);
        let alert = (!refused.is_empty()).then(|| format!("no task: {}", refused.join("; ")));
        if wanted.is_empty() {
            let reason = alert.unwrap_or_default();
            return Assessment {
                alert: Some(reason.clone()),
                refused: refused_targets,
                ..quiet(VerdictKind::Unactionable, s.level, &reason)
            };
        }
        Assessment {
            kind: VerdictKind::Act,
            level: s.level,
            reason: format!("score {} reached the {} level", s.score, s.level),
            wanted,
            alert,
            refused: refused_targets,
        }
    }

    /// The tasks of one action, within the type's cap and what Krampus really does.
    fn plan(
        &self,
        s: &RiskState,
        kind: &KrampusKind,
        action: TaskAction,
        cap: ActionCap,
        drive: Drive,
    ) -> Result<Vec<Wanted>, String> {
        let effect = kind.effect(action);
        if effect == Effect::Refused {
            return Err(format!(
                "Krampus refuses `{}` on {}",
                action.as_str(),
                s.resource_type
            ));
        }
        // A deletion is a kill whatever the action is called: it needs the kill cap.
        let (written, needs) = if effect == Effect::Delete || action == TaskAction::Kill {
            (TaskAction::Kill, ActionCap::Kill)
        } else {
            (TaskAction::Disable, ActionCap::Disable)
        };
        if cap < needs {
            return Err(format!(
                "the policy caps {} at `{}`, and Krampus's `{}` on it {}",
                s.resource_type,
                cap_str(cap),
                action.as_str(),
                describe(effect)
            ));
        }
        // What cannot be undone (a deletion, revoking every rule, stripping access) needs
        // findings allowed to kill; the action's level must be reached by the findings allowed
        // to drive it, alone.
        let (class_needs, points) = if effect.irreversible() || action == TaskAction::Kill {
            (ActionCap::Kill, drive.kill)
        } else {
            (ActionCap::Disable, drive.disable)
        };
        let threshold = if action == TaskAction::Kill {
            self.policy.thresholds.kill
        } else {
            self.policy.thresholds.disable
        };
        if points < threshold {
            return Err(format!(
                "Krampus's `{}` on {} {}, and the findings allowed to drive {} (policy `[class_caps]`) do not reach the {} level alone",
                action.as_str(),
                s.resource_type,
                describe(effect),
                if class_needs == ActionCap::Kill {
                    "what cannot be undone"
                } else {
                    "a disable"
                },
                if action == TaskAction::Kill { "kill" } else { "disable" }
            ));
        }
        let g = &self.policy.grace;
        let mut grace = if written == TaskAction::Kill {
            g.kill_hours
        } else {
            g.disable_hours
        };
        if effect.irreversible() {
            grace = grace.max(g.destructive_hours);
        }
        Ok(krampus::targets(s, effect)?
            .into_iter()
            .map(|target| Wanted {
                action: written,
                effect,
                target,
                grace_hours: grace,
                side_effects: krampus::side_effects(&s.resource_type, effect),
            })
            .collect())
    }

    fn task(
        &self,
        s: &RiskState,
        id: &str,
        w: &Wanted,
        action_time: i64,
        verdict_id: &str,
    ) -> KrampusTask {
        let kind = crate::types::kind_of(&s.resource_type);
        let arn = krampus::task_arn(s).unwrap_or_default();
        let mut t = KrampusTask {
            action: w.action,
            action_time,
            aws_resource_name: arn,
            aws_region: s.region.clone(),
            aws_object_type: kind.map_or("", |k| k.arn.service).to_owned(),
            cidr_range: None,
            from_port: None,
            to_port: None,
            proto: None,
            s3_principal: None,
            s3_permission: None,
            score: s.score,
            audited_time: self.now.div_euclid(1000),
            aws_account: s.account.clone(),
            human_readable_name: quote(s.resource_name.as_deref().unwrap_or(&s.resource_id), 200),
            issues: s
                .findings
                .iter()
                .map(|f| quote(&f.finding.evidence, 300))
                .collect(),
            unique_id: id.to_owned(),
            rules: s.findings.iter().map(|f| f.finding.rule.clone()).collect(),
            owner: s.owner.as_deref().map(|o| quote(o, 200)),
            team: s.team_tag().map(crate::text::attribute),
            verdict_id: verdict_id.to_owned(),
            resource_key: s.key.as_str().to_owned(),
            source: TASK_SOURCE.to_owned(),
        };
        match &w.target {
            TaskTarget::Resource => {}
            TaskTarget::IngressRule {
                proto,
                from_port,
                to_port,
                cidr,
            } => {
                t.cidr_range = Some(cidr.clone());
                t.from_port = Some(*from_port);
                t.to_port = Some(*to_port);
                t.proto = Some(proto.clone());
            }
            TaskTarget::Grant {
                principal,
                permissions,
            } => {
                t.s3_principal = Some(principal.clone());
                t.s3_permission = Some(permissions.clone());
            }
        }
        t
    }
}

/// Critical findings no wanted task fully addresses: not the whole resource, nor every rule or
/// grant the finding names (a bucket policy, an IPv6 rule, a type Krampus has no action for, a
/// class the policy does not act on).
fn uncovered_criticals<'s>(state: Option<&'s RiskState>, a: &Assessment) -> Vec<&'s str> {
    let resource_wide = a
        .wanted
        .values()
        .any(|w| matches!(w.target, krampus::TaskTarget::Resource));
    let mut uncovered: Vec<&str> = state
        .map(|s| {
            s.findings
                .iter()
                .filter(|f| f.finding.severity == crate::rules::Severity::Critical)
                .filter(|f| {
                    // Covered: the whole resource is acted on, or every rule or grant the
                    // finding names has its task (an IPv6 rule beside an IPv4 one has none),
                    // or was refused by the gate (and reported with the reason already).
                    let remedies = &f.finding.remedies;
                    let all_tasked = !remedies.is_empty()
                        && remedies.iter().all(|r| {
                            krampus::target_of(r).is_some_and(|t| {
                                a.refused.contains(&t) || a.wanted.values().any(|w| w.target == t)
                            })
                        });
                    !resource_wide && !all_tasked
                })
                .map(|f| f.finding.rule.as_str())
                .collect()
        })
        .unwrap_or_default();
    uncovered.sort_unstable();
    uncovered.dedup();
    uncovered
}

/// Why nothing automatic will fix the resource, when a person must: what the digests repeat
/// until it is fixed.
fn needs_person(
    uncovered: &[&str],
    causes: &[String],
    kind: VerdictKind,
    tasks: &[DocketTask],
    a: &Assessment,
) -> Option<String> {
    if !uncovered.is_empty() && causes.iter().any(|c| c.starts_with("uncovered")) {
        Some(format!(
            "no task fixes its critical finding(s) {}",
            uncovered.join(", ")
        ))
    } else if kind == VerdictKind::Held {
        Some("action due, held by the blast-radius limit".to_owned())
    } else if tasks
        .iter()
        .any(|t| t.status == TaskStatus::Removed && a.wanted.contains_key(&t.unique_id))
    {
        Some("a task left tasks.json before its time: re-add it or exempt the resource".to_owned())
    } else if a.alert.is_some() {
        Some("a task Krampus would not carry out as intended was refused".to_owned())
    } else if kind == VerdictKind::Unactionable && a.level >= Level::Disable {
        Some("over the action level, and Krampus has no action for it".to_owned())
    } else {
        None
    }
}

impl Docket {
    /// Whether this docket says something `old` did not: a decision worth a record.
    fn differs_from(&self, old: &Docket) -> bool {
        self.kind != old.kind
            || (self.level != old.level && self.kind != VerdictKind::Clear)
            || self.reason != old.reason
                && !matches!(self.kind, VerdictKind::Act | VerdictKind::Clear)
            || self.tasks != old.tasks
            || self.last_alert != old.last_alert
            || self.open != old.open
    }
}

/// The tasks a decision adds to the board.
struct Scheduled {
    add: Vec<KrampusTask>,
    budget_spent: u32,
    /// New tasks were due and the budget was spent.
    held: bool,
    /// How many new tasks were due.
    fresh: usize,
}

/// Whether the resource now shows a task's effect: a rule or grant no finding names any more,
/// the resource gone, or what its item records (an instance stopped, an IAM entity without
/// policies). A fix by the owner shows no effect: that is a withdrawal.
struct EffectShown<'a> {
    state: Option<&'a RiskState>,
    /// The ids of the rule and grant tasks the state's findings still call for.
    present: BTreeSet<String>,
}

impl<'a> EffectShown<'a> {
    fn new(key: &ResourceKey, state: Option<&'a RiskState>) -> Self {
        let present = state
            .into_iter()
            .flat_map(|s| {
                let arn = krampus::task_arn(s).unwrap_or_default();
                [Effect::RevokeIngressRule, Effect::RemoveGrant]
                    .into_iter()
                    .flat_map(|e| krampus::targets(s, e).unwrap_or_default())
                    .map(move |target| target.unique_id(key.as_str(), &arn, TaskAction::Disable))
            })
            .collect();
        EffectShown { state, present }
    }

    fn shows(&self, t: &DocketTask) -> bool {
        match self.state {
            None => true,
            Some(s) if s.status == ResourceStatus::Deleted => true,
            Some(s) => match t.effect {
                // A rule or grant no finding names: Krampus's doing only if the item that
                // shows it was captured after the task came due (before, it was the owner's
                // fix, or a policy that no longer asks for it).
                Effect::RevokeIngressRule | Effect::RemoveGrant => {
                    !self.present.contains(&t.unique_id)
                        && s.capture_time > t.action_time.saturating_mul(1000)
                }
                e => s.effects.contains(&e),
            },
        }
    }
}

/// What reconciling a docket's tasks with the board and the state found.
#[derive(Default)]
struct Ledger {
    tasks: Vec<DocketTask>,
    remove: BTreeSet<String>,
    withdrawn: Vec<DocketTask>,
    executed: Vec<DocketTask>,
    removed: Vec<DocketTask>,
    confirmed: Vec<DocketTask>,
    alerts: Vec<String>,
}

/// A verdict that wants no task.
fn quiet(kind: VerdictKind, level: Level, reason: &str) -> Assessment {
    Assessment {
        kind,
        level,
        reason: reason.to_owned(),
        wanted: BTreeMap::new(),
        alert: None,
        refused: Vec::new(),
    }
}

fn unchanged(old: Docket) -> Decision {
    Decision {
        docket: old,
        save: false,
        record: None,
        add: Vec::new(),
        remove: BTreeSet::new(),
        budget_spent: 0,
        alerts: Vec::new(),
    }
}

fn docket_task(id: &str, w: &Wanted, action_time: i64, status: TaskStatus) -> DocketTask {
    DocketTask {
        unique_id: id.to_owned(),
        action: w.action,
        action_time,
        effect: w.effect,
        status,
        side_effects: w.side_effects.to_owned(),
        alerted: false,
        target: match &w.target {
            TaskTarget::Resource => "the resource".to_owned(),
            TaskTarget::IngressRule {
                proto,
                from_port,
                to_port,
                cidr,
            } => {
                if from_port == to_port {
                    format!("{proto}/{from_port} from {cidr}")
                } else {
                    format!("{proto}/{from_port}-{to_port} from {cidr}")
                }
            }
            TaskTarget::Grant {
                principal,
                permissions,
            } => format!("{} of {principal}", permissions.join("+")),
        },
    }
}

pub fn verdict_id(key: &ResourceKey, dry_run: bool, revision: u64) -> String {
    let h = hash_parts(&[
        key.as_str(),
        if dry_run { "dry-run" } else { "live" },
        &revision.to_string(),
    ]);
    format!("v-{h:016x}-{revision}")
}

fn cap_str(c: ActionCap) -> &'static str {
    match c {
        ActionCap::None => "none",
        ActionCap::Disable => "disable",
        ActionCap::Kill => "kill",
    }
}

fn describe(e: Effect) -> &'static str {
    match e {
        Effect::Stop => "stops it",
        Effect::RevokeIngressRule => "revokes a rule",
        Effect::RevokeAllRules => "revokes every rule",
        Effect::RemoveGrant => "removes a grant",
        Effect::StripAccess => "strips its policies and keys",
        Effect::Delete => "deletes it",
        Effect::Refused => "is refused",
    }
}

fn resource_note(key: &ResourceKey, state: Option<&RiskState>) -> ResourceNote {
    match state {
        Some(s) => ResourceNote {
            key: key.as_str().to_owned(),
            account: s.account.clone(),
            region: s.region.clone(),
            resource_type: s.resource_type.clone(),
            resource_id: s.resource_id.clone(),
            arn: s.arn.clone(),
            name: s.resource_name.clone(),
            owner: s.owner.clone(),
            tags: s.tags.clone(),
        },
        None => {
            let (account, region, ty, id) = key.parts();
            ResourceNote {
                key: key.as_str().to_owned(),
                account: account.to_owned(),
                region: region.to_owned(),
                resource_type: ty.to_owned(),
                resource_id: id.to_owned(),
                arn: None,
                name: None,
                owner: None,
                tags: None,
            }
        }
    }
}

fn findings(s: &RiskState, policy: &Policy) -> Vec<FindingNote> {
    s.findings
        .iter()
        .map(|f| FindingNote {
            rule: f.finding.rule.clone(),
            subject: f.finding.subject.clone(),
            severity: f.finding.severity.as_str().to_owned(),
            evidence: f.finding.evidence.clone(),
            points: f.points,
            first_seen: time::format_rfc3339(f.first_seen),
            remediation: policy
                .rule(&f.finding.rule)
                .map(|r| r.remediation.to_owned())
                .unwrap_or_default(),
        })
        .collect()
}
