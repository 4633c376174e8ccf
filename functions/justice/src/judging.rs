//! The judge in `justice replay` and `justice tasks`: the same `Judge` the Lambda runs, over
//! the local store (dockets, budget), `tasks.json` and `verdicts/` under the state directory.

use std::path::Path;
use std::process::ExitCode;

use justice_core::krampus::TasksFile;

use justice_core::policy::Policy;
use justice_core::time::{self, Millis};
use justice_core::verdict::VerdictKind;
use justice_core::RiskState;
use justice_local::{LocalOutbox, LocalRiskStore, LocalTaskBoard};
use justice_service::{
    Change, Judge, JudgeSettings, Notified, Notifier, NotifierSettings, TaskBoard,
};

/// What the judge did over a replay.
#[derive(Debug, Default)]
pub struct JudgeTotals {
    pub batches: u64,
    pub verdicts: u64,
    pub scheduled: u64,
    pub withdrawn: u64,
    pub confirmed: u64,
    pub held: u64,
    pub failed: Vec<justice_service::RecordFailure>,
    /// Notices the notifier would have sent, by recipient (team, or `security topic`).
    pub notices: std::collections::BTreeMap<String, u64>,
    /// The first notices: recipient, kind and subject.
    pub first_notices: Vec<(String, String, String)>,
}

/// Stream-like batches of state changes, judged at the time of their last change.
pub struct LocalJudge {
    board: LocalTaskBoard,
    outbox: LocalOutbox,
    settings: JudgeSettings,
    /// No `--accounts`: the recording is trusted, every account in it may get tasks.
    accounts_from_events: bool,
    pending: Vec<Change>,
    first_at: Millis,
    notifier: NotifierSettings,
    pub totals: JudgeTotals,
}

/// Judge when this many changes wait, or when a change is more than this much event time away
/// from the batch's first (either way: recordings are not always in time order), so that a
/// grace period starts within five minutes of its change (grace periods are hours long).
const BATCH: usize = 500;
const SPAN_MS: Millis = 300_000;

/// The local notifier's settings: no mapping, the security team as the default.
pub fn notifier_settings() -> NotifierSettings {
    NotifierSettings {
        default_team: "security".into(),
        security_contact: "the security team".into(),
    }
}

impl LocalJudge {
    pub fn new(dir: &Path, accounts: Option<Vec<String>>, blast_per_hour: u32) -> Self {
        LocalJudge {
            board: LocalTaskBoard::new(dir, false),
            outbox: LocalOutbox::new(dir),
            accounts_from_events: accounts.is_none(),
            settings: JudgeSettings {
                dry_run: false,
                accounts: accounts.unwrap_or_default(),
                blast_per_hour,
                max_attempts: 3,
            },
            pending: Vec::new(),
            first_at: 0,
            notifier: notifier_settings(),
            totals: JudgeTotals::default(),
        }
    }

    /// A state written by the scorer, as the stream would deliver it.
    pub fn push(
        &mut self,
        rt: &tokio::runtime::Runtime,
        store: &LocalRiskStore,
        policy: &Policy,
        state: RiskState,
    ) -> Result<(), String> {
        if !self.pending.is_empty()
            && (self.pending.len() >= BATCH || (state.evaluated_at - self.first_at).abs() > SPAN_MS)
        {
            self.flush(rt, store, policy)?;
        }
        if self.pending.is_empty() {
            self.first_at = state.evaluated_at;
        }
        self.pending.push(Change {
            id: format!("{}@{}", state.key, state.revision),
            key: state.key.clone(),
            state: Some(state),
        });
        Ok(())
    }

    /// Judges the waiting changes at the time of the last one.
    pub fn flush(
        &mut self,
        rt: &tokio::runtime::Runtime,
        store: &LocalRiskStore,
        policy: &Policy,
    ) -> Result<(), String> {
        let Some(now) = self
            .pending
            .iter()
            .filter_map(|c| c.state.as_ref().map(|s| s.evaluated_at))
            .max()
        else {
            return Ok(());
        };
        let changes = std::mem::take(&mut self.pending);
        self.judge_at(rt, store, policy, &changes, now)
    }

    pub fn judge_at(
        &mut self,
        rt: &tokio::runtime::Runtime,
        store: &LocalRiskStore,
        policy: &Policy,
        changes: &[Change],
        now: Millis,
    ) -> Result<(), String> {
        if self.accounts_from_events {
            for s in changes.iter().filter_map(|c| c.state.as_ref()) {
                if !self.settings.accounts.contains(&s.account) {
                    self.settings.accounts.push(s.account.clone());
                }
            }
        }
        let judge = Judge {
            board: &self.board,
            dockets: store,
            outbox: &self.outbox,
            settings: &self.settings,
        };
        let r = rt
            .block_on(judge.judge(changes, policy, now))
            .map_err(|e| format!("judge: {e}"))?;
        let t = &mut self.totals;
        t.batches += 1;
        t.verdicts += r.verdicts as u64;
        t.scheduled += r.scheduled as u64;
        t.withdrawn += r.withdrawn as u64;
        t.confirmed += r.confirmed as u64;
        t.held += r.held as u64;
        t.failed.extend(r.failed);
        self.notify(rt, policy)
    }

    /// The notifier over the verdict records the judge just wrote, as their S3 events would
    /// trigger it.
    fn notify(&mut self, rt: &tokio::runtime::Runtime, policy: &Policy) -> Result<(), String> {
        let fresh = self.board.take_new();
        if fresh.is_empty() {
            return Ok(());
        }
        let accounts = rt
            .block_on(self.board.account_map())
            .map_err(|e| format!("notifier: {e}"))?;
        let notifier = Notifier {
            board: &self.board,
            outbox: &self.outbox,
            settings: &self.notifier,
        };
        for record in &fresh {
            match rt.block_on(notifier.notify_record(record, &accounts, policy)) {
                Ok(Notified::Sent { kind, team }) => {
                    let to = format!("team {team}");
                    if self.totals.first_notices.len() < 20 {
                        let name = record
                            .resource
                            .name
                            .as_deref()
                            .unwrap_or(&record.resource.resource_id);
                        self.totals.first_notices.push((
                            to.clone(),
                            kind.as_str().to_owned(),
                            format!(
                                "{} {}",
                                record.resource.resource_type,
                                justice_core::text::quote(name, 60)
                            ),
                        ));
                    }
                    *self.totals.notices.entry(to).or_default() += 1;
                }
                Ok(_) => {}
                Err(e) => return Err(format!("notifier: {}: {e}", record.verdict_id)),
            }
        }
        Ok(())
    }
}

/// `justice tasks`: the tasks waiting in the local `tasks.json`, soonest first, and the
/// verdicts that hold no task (held, exempt, allowed, unactionable).
pub fn list_tasks(dir: &Path, now: Millis, json: bool) -> Result<ExitCode, String> {
    let path = dir.join("tasks.json");
    let file = match std::fs::read(&path) {
        Ok(b) => TasksFile::parse(&b).map_err(|e| format!("{}: {e}", path.display()))?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => TasksFile::default(),
        Err(e) => return Err(format!("{}: {e}", path.display())),
    };
    let mut tasks: Vec<serde_json::Value> = file.tasks.iter().map(|t| (**t).clone()).collect();
    let at = |t: &serde_json::Value| t.get("action_time").and_then(|v| v.as_i64()).unwrap_or(0);
    tasks.sort_by_key(at);
    let store = crate::replay::open_store(dir)?;
    let dockets = store.all_dockets(false).map_err(|e| e.to_string())?;
    let quiet: Vec<_> = dockets
        .iter()
        .filter(|d| {
            matches!(
                d.kind,
                VerdictKind::Held
                    | VerdictKind::Exempt
                    | VerdictKind::Allowed
                    | VerdictKind::Unactionable
                    | VerdictKind::Refused
            )
        })
        .collect();
    if json {
        let v = serde_json::json!({
            "tasks": tasks,
            "without_task": quiet.iter().map(|d| serde_json::json!({
                "resource": d.key, "kind": d.kind, "level": d.level, "reason": d.reason,
            })).collect::<Vec<_>>(),
        });
        crate::out::stdout_text(&format!("{v:#}\n"));
        return Ok(ExitCode::SUCCESS);
    }
    say!(
        "{} task(s) in {} (as of {})",
        tasks.len(),
        path.display(),
        time::format_rfc3339(now)
    );
    for t in &tasks {
        let s = |k: &str| t.get(k).and_then(|v| v.as_str()).unwrap_or("");
        let when = at(t).saturating_mul(1000);
        let hours = when.saturating_sub(now) as f64 / 3_600_000.0;
        let due = if hours <= 0.0 {
            "due now".to_owned()
        } else {
            format!("in {hours:.1} h")
        };
        let target = justice_core::krampus::target_text(t)
            .map(|t| format!(" {t}"))
            .unwrap_or_default();
        say!(
            "  {}  {:<10} {:<7} {}{}",
            time::format_rfc3339(when),
            due,
            s("action"),
            s("aws_resource_name"),
            target
        );
        if t.get("source").and_then(|v| v.as_str()) != Some(justice_core::krampus::TASK_SOURCE) {
            say!("      (not written by the judge)");
        }
    }
    if !quiet.is_empty() {
        say!("{} verdict(s) without a task", quiet.len());
        for d in quiet {
            say!(
                "  {:<12} {:<8} {}: {}",
                d.kind.as_str(),
                d.level.as_str(),
                d.key,
                justice_core::text::quote(&d.reason, 200)
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
