//! The risk report: one self-contained HTML page (no external script, style or font) that a
//! team lead reads without instructions. What it holds is decided here from what the stores
//! hold (states, histories, `tasks.json`, open verdicts); `html` renders it and `chart` draws
//! each resource's score over time.
//!
//! Names, tags and evidence are the resources' own text: untrusted. `html::text` is the one
//! escape every such value goes through, and the page's Content-Security-Policy lets only its
//! own inline script run, so an escape missed would still run nothing.

mod chart;
mod html;

use std::collections::BTreeMap;

use serde_json::Value;

use crate::notice::{self, AccountMap};
use crate::policy::Policy;
use crate::state::{HistoryRecord, RiskState};
use crate::time::{Millis, HOUR_MS};
use crate::verdict::{OpenLine, VerdictKind};

pub use crate::summary::{Link, Summary};
pub use chart::series;
pub use html::{render, SCRIPT};

/// A task of `tasks.json` waiting for Krampus, as the report shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pending {
    pub action: String,
    /// When Krampus may run it.
    pub due: Millis,
    /// What part of the resource it touches (`krampus::target_text`), if not all of it.
    pub target: Option<String>,
    /// The task's `team` and `owner` as the judge wrote them: the digest lists it by them.
    pub team: Option<String>,
    pub owner: Option<String>,
}

impl Pending {
    /// The judge's tasks of `tasks.json` (others are not ours to show), by resource key.
    pub fn by_resource(tasks: &[std::sync::Arc<Value>]) -> BTreeMap<String, Vec<Pending>> {
        let mut out: BTreeMap<String, Vec<Pending>> = BTreeMap::new();
        for t in tasks {
            let s = |k: &str| t.get(k).and_then(Value::as_str);
            if s("source") != Some(crate::krampus::TASK_SOURCE) {
                continue;
            }
            let Some(key) = s("resource_key") else {
                continue;
            };
            out.entry(key.to_owned()).or_default().push(Pending {
                action: s("action").unwrap_or("?").to_owned(),
                due: t
                    .get("action_time")
                    .and_then(Value::as_i64)
                    .unwrap_or(0)
                    .saturating_mul(1000),
                target: crate::krampus::target_text(t),
                team: s("team").map(str::to_owned),
                owner: s("owner").map(str::to_owned),
            });
        }
        for tasks in out.values_mut() {
            tasks.sort_by_key(|p| p.due);
        }
        out
    }
}

/// One resource of the report: its state, its team, its score over time, what is pending.
#[derive(Debug, Clone)]
pub struct Entry {
    pub state: RiskState,
    /// The team its notices and digests go to (`notice::team_of`).
    pub team: String,
    /// (time, score) at each item of its history, then now: `chart::series`.
    pub series: Vec<(Millis, u32)>,
    pub tasks: Vec<Pending>,
    /// Its open verdict, when one waits on a person (held, no automatic fix, a warning).
    pub verdict: Option<OpenLine>,
}

impl Entry {
    /// The resource as its notices see it: the team from its `team` tag, its account's
    /// mapping, its owner, or the default team, in that order.
    pub fn new(
        state: RiskState,
        history: &[HistoryRecord],
        policy: &Policy,
        now: Millis,
        accounts: &AccountMap,
        default_team: &str,
    ) -> Entry {
        let team = notice::team_of(
            state.team_tag(),
            &state.account,
            state.owner.as_deref(),
            accounts,
            default_team,
        );
        let series = series(&state, history, policy, now);
        Entry {
            state,
            team,
            series,
            tasks: Vec::new(),
            verdict: None,
        }
    }

    /// The soonest task, if any.
    pub fn next_due(&self) -> Option<Millis> {
        self.tasks.iter().map(|t| t.due).min()
    }
}

/// Whose page it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// Every team: the security team's page.
    Estate,
    /// One team (as `notice::team_of` names teams).
    Team(String),
}

impl Summary {
    /// The numbers of `entries` at `now`.
    pub fn of<'a>(entries: impl IntoIterator<Item = &'a Entry>, now: Millis) -> Summary {
        let mut s = Summary::default();
        for e in entries {
            s.resources += 1;
            // By the level's rank: none 0 to kill 3.
            s.by_level[e.state.level as usize] += 1;
            s.tasks += e.tasks.len();
            s.due_24h += e
                .tasks
                .iter()
                .filter(|t| t.due <= now.saturating_add(24 * HOUR_MS))
                .count();
            s.due_72h += e
                .tasks
                .iter()
                .filter(|t| t.due <= now.saturating_add(72 * HOUR_MS))
                .count();
            match e.verdict.as_ref().map(|v| v.kind) {
                Some(VerdictKind::Held) => s.held += 1,
                Some(VerdictKind::Unactionable) => s.unactionable += 1,
                _ => {}
            }
        }
        s
    }
}

/// A page: the entries in scope, riskiest first.
#[derive(Debug)]
pub struct Report<'a> {
    pub scope: Scope,
    pub now: Millis,
    pub policy: &'a Policy,
    pub entries: Vec<&'a Entry>,
    /// Resources that could not be read (named, with why): shown on the estate's page, never
    /// silently left out.
    pub unreadable: &'a [String],
}

impl<'a> Report<'a> {
    /// The page of `scope` over `entries`.
    pub fn new(
        scope: Scope,
        entries: &'a [Entry],
        unreadable: &'a [String],
        policy: &'a Policy,
        now: Millis,
    ) -> Report<'a> {
        let mut entries: Vec<&Entry> = entries
            .iter()
            .filter(|e| match &scope {
                Scope::Estate => true,
                Scope::Team(t) => &e.team == t,
            })
            .collect();
        entries.sort_by(|a, b| {
            b.state
                .score
                .cmp(&a.state.score)
                .then_with(|| a.state.key.as_str().cmp(b.state.key.as_str()))
        });
        // Unreadable resources name other teams' resources: the estate's page lists them.
        let unreadable = match scope {
            Scope::Estate => unreadable,
            Scope::Team(_) => &[],
        };
        Report {
            scope,
            now,
            policy,
            entries,
            unreadable,
        }
    }

    pub fn summary(&self) -> Summary {
        Summary::of(self.entries.iter().copied(), self.now)
    }
}

/// The teams of `entries`, each once, in order.
pub fn teams(entries: &[Entry]) -> Vec<String> {
    let mut t: Vec<String> = entries.iter().map(|e| e.team.clone()).collect();
    t.sort();
    t.dedup();
    t
}

/// A team's name as a file or S3 object name: `notice::attribute` already keeps it to
/// `[a-z0-9._-]`; a leading dot is not left to make a hidden file or `..`.
pub fn page_name(team: &str) -> String {
    let a = notice::attribute(team);
    format!("team-{a}.html")
}
