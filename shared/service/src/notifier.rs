//! The notifier, written once against the ports: a verdict record in, one notice out, once.
//!
//! Order: check the sent log, publish, then record the notice as sent. A crash (or a failed
//! write of the sent log) between the publish and the record costs one duplicate notice when
//! the event is retried; the other order would cost a lost warning, which is worse: an owner
//! who is not warned loses the chance to fix the resource before Krampus acts.

use std::collections::BTreeMap;

use justice_core::krampus::TasksFile;
use justice_core::notice::{self, AccountMap, DigestEntry, NoticeContext, NoticeKind};
use justice_core::policy::Policy;
use justice_core::time::Millis;
use justice_core::verdict::{OpenLine, VerdictRecord};
use justice_core::ResourceKey;

use crate::failure::RecordFailure;
use crate::ports::{
    BoardError, DocketStore, Outbox, OutboxError, SecurityAlert, StoreError, TaskBoard,
};
use crate::report::{Page, Pages};

/// Open verdicts are read a page at a time.
const OPEN_PAGE: usize = 500;

/// The first `OPEN_LISTED` items in an order, of any number pushed, and how many were.
struct Top<T> {
    items: Vec<T>,
    total: usize,
}

impl<T> Default for Top<T> {
    fn default() -> Self {
        Top {
            items: Vec::new(),
            total: 0,
        }
    }
}

impl<T> Top<T> {
    fn push(&mut self, item: T, order: impl Fn(&T, &T) -> std::cmp::Ordering) {
        self.total += 1;
        self.items.push(item);
        // Sorted and cut now and then: memory stays within twice what is listed.
        if self.items.len() >= 2 * notice::OPEN_LISTED {
            self.items.sort_by(&order);
            self.items.truncate(notice::OPEN_LISTED);
        }
    }
}

#[derive(Debug, Clone)]
pub struct NotifierSettings {
    /// The team of resources no tag or mapping names.
    pub default_team: String,
    /// How owners reach the security team, printed in every notice.
    pub security_contact: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notified {
    Sent {
        kind: NoticeKind,
        team: String,
    },
    AlreadySent,
    /// The verdict calls for no notice (e.g. a clean resource).
    NoNotice,
}

#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    #[error(transparent)]
    Board(#[from] BoardError),
    #[error(transparent)]
    Outbox(#[from] OutboxError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("verdict record {0} does not exist")]
    Missing(String),
}

impl NotifyError {
    /// Whether trying again may pass. S3 reads are strongly consistent: a record its own
    /// event names and that is not there was deleted, and stays so.
    pub fn is_transient(&self) -> bool {
        match self {
            NotifyError::Board(e) => e.is_transient(),
            NotifyError::Outbox(e) => e.transient,
            NotifyError::Store(e) => e.is_transient(),
            NotifyError::Missing(_) => false,
        }
    }
}

pub struct Notifier<'a, B, O> {
    pub board: &'a B,
    pub outbox: &'a O,
    pub settings: &'a NotifierSettings,
}

/// What one verdict record of an S3 event came to, for the invocation's answer.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Handled {
    pub key: String,
    /// `sent`, `already-sent` or `no-notice`.
    pub status: &'static str,
    pub kind: &'static str,
    pub team: String,
}

impl<B: TaskBoard, O: Outbox> Notifier<'_, B, O> {
    /// Each verdict record an event names, whatever the others did; a key that could not be
    /// read from the event is a permanent failure of its own.
    pub async fn notify_keys<E: std::fmt::Display>(
        &self,
        keys: Vec<Result<String, E>>,
        policy: &Policy,
    ) -> (Vec<Handled>, Vec<RecordFailure>) {
        let (mut out, mut failures) = (Vec::new(), Vec::new());
        for key in keys {
            let key = match key {
                Ok(k) => k,
                Err(e) => {
                    failures.push(RecordFailure::permanent("key", e.to_string()));
                    continue;
                }
            };
            match self.notify(&key, policy).await {
                Ok(n) => {
                    let (status, kind, team) = match n {
                        Notified::Sent { kind, team } => ("sent", kind.as_str(), team),
                        Notified::AlreadySent => ("already-sent", "", String::new()),
                        Notified::NoNotice => ("no-notice", "", String::new()),
                    };
                    tracing::info!(%key, status, kind, %team, "verdict handled");
                    out.push(Handled {
                        key,
                        status,
                        kind,
                        team,
                    });
                }
                Err(e) => {
                    let transient = e.is_transient();
                    tracing::error!(%key, error = %e, transient, "notice failed");
                    failures.push(RecordFailure {
                        record: key,
                        resource: String::new(),
                        reason: e.to_string(),
                        transient,
                    });
                }
            }
        }
        (out, failures)
    }

    pub async fn notify(
        &self,
        verdict_key: &str,
        policy: &Policy,
    ) -> Result<Notified, NotifyError> {
        let record = self
            .board
            .verdict(verdict_key)
            .await?
            .ok_or_else(|| NotifyError::Missing(verdict_key.to_owned()))?;
        let accounts = self.board.account_map().await?;
        self.notify_record(&record, &accounts, policy).await
    }

    /// The notice of a record already read (the local pipeline hands them over directly).
    pub async fn notify_record(
        &self,
        record: &VerdictRecord,
        accounts: &AccountMap,
        policy: &Policy,
    ) -> Result<Notified, NotifyError> {
        let ctx = NoticeContext {
            policy,
            accounts,
            default_team: &self.settings.default_team,
            security_contact: &self.settings.security_contact,
        };
        let Some(n) = notice::for_verdict(record, &ctx) else {
            return Ok(Notified::NoNotice);
        };
        if self.outbox.was_sent(&n.id).await? {
            return Ok(Notified::AlreadySent);
        }
        self.outbox.publish(&n).await?;
        self.outbox.mark_sent(&n.id).await?;
        Ok(Notified::Sent {
            kind: n.kind,
            team: n.recipient.team,
        })
    }

    /// One message per team, once per `window`: its pending tasks in `tasks.json`, and its
    /// resources whose verdict waits on a person (warnings, no automatic fix, held) until they
    /// are fixed; and one to the security team listing every resource nothing automatic will
    /// fix. Teams with neither get nothing. With `pages` (the window's report pages), each
    /// digest carries its team's summary numbers and link, and the security team gets the
    /// whole estate's.
    pub async fn digest(
        &self,
        view: &BoardView,
        window: &str,
        now: Millis,
        pages: Option<&Pages>,
    ) -> Result<Vec<String>, NotifyError> {
        let team = |tag: Option<&str>, account: &str, owner: Option<&str>| {
            notice::team_of(
                tag,
                account,
                owner,
                &view.accounts,
                &self.settings.default_team,
            )
        };
        let mut by_team = pending_by_team(&view.file.tasks, &team);
        let OpenVerdicts {
            security,
            mut open,
            unreadable,
            unreadable_total,
        } = open_verdicts(view, &team);
        for team in open.keys() {
            by_team.entry(team.clone()).or_default();
        }
        let mut sent = Vec::new();
        for (team, entries) in by_team {
            let (lines, total) = open
                .remove(&team)
                .map(|t| (t.items, t.total))
                .unwrap_or_default();
            let lines: Vec<&OpenLine> = lines.iter().collect();
            let n = notice::digest(
                &team,
                window,
                &entries,
                &lines,
                total,
                now,
                &self.settings.security_contact,
                pages.and_then(|p| p.teams.get(&team)).map(Page::link),
            );
            if self.outbox.was_sent(&n.id).await? {
                continue;
            }
            self.outbox.publish(&n).await?;
            self.outbox.mark_sent(&n.id).await?;
            sent.push(team);
        }
        let lines: Vec<(String, &OpenLine)> =
            security.items.iter().map(|(t, l)| (t.clone(), l)).collect();
        let estate = pages.and_then(|p| p.estate.as_ref()).map(Page::link);
        let security_digest = match (
            notice::security_digest(
                window,
                &lines,
                security.total,
                &unreadable,
                unreadable_total,
            ),
            estate,
        ) {
            (Some((subject, body)), Some(link)) => Some((
                subject,
                format!("{body}\nEvery team's resources:\n{}", link.text()),
            )),
            // Nothing needs a person, but the security team still gets the estate's page.
            (None, Some(link)) if link.summary.resources > 0 => Some((
                format!("[Justice Engine] risk report of every team (window {window})"),
                link.text(),
            )),
            (found, _) => found,
        };
        if let Some((subject, body)) = security_digest {
            // `#` is in no team name (`notice::attribute`): no team's digest has this id.
            let id = format!("digest-{window}-#security");
            if !self.outbox.was_sent(&id).await? {
                self.outbox
                    .alert_security(&SecurityAlert { subject, body })
                    .await?;
                self.outbox.mark_sent(&id).await?;
                sent.push("security (escalations)".to_owned());
            }
        }
        Ok(sent)
    }
}

/// The judge's pending tasks in `tasks.json`, by the team their digest goes to.
fn pending_by_team(
    tasks: &[std::sync::Arc<serde_json::Value>],
    team: &impl Fn(Option<&str>, &str, Option<&str>) -> String,
) -> BTreeMap<String, Vec<DigestEntry>> {
    let mut by_team: BTreeMap<String, Vec<DigestEntry>> = BTreeMap::new();
    for t in tasks {
        if t.get("source").and_then(|v| v.as_str()) != Some(justice_core::krampus::TASK_SOURCE) {
            continue;
        }
        let s = |k: &str| t.get(k).and_then(|v| v.as_str()).unwrap_or("").to_owned();
        let account = s("aws_account");
        let team = team(
            t.get("team").and_then(|v| v.as_str()),
            &account,
            t.get("owner").and_then(|v| v.as_str()),
        );
        by_team.entry(team).or_default().push(DigestEntry {
            resource: s("human_readable_name"),
            arn: s("aws_resource_name"),
            action: s("action"),
            action_time: t.get("action_time").and_then(|v| v.as_i64()).unwrap_or(0),
            issues: t
                .get("issues")
                .and_then(|v| v.as_array())
                .map(|a| {
                    a.iter()
                        .filter_map(|i| i.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default(),
        });
    }
    by_team
}

/// The open verdicts of every team, and the security team's, each kept to the lines its
/// digest lists.
struct OpenVerdicts {
    security: Top<(String, OpenLine)>,
    open: BTreeMap<String, Top<OpenLine>>,
    unreadable: Vec<String>,
    unreadable_total: usize,
}

/// What the digests and the report pages read of a board, once a window: `tasks.json`, the
/// account mapping, and every open verdict.
#[derive(Debug, Default)]
pub struct BoardView {
    pub file: TasksFile,
    pub accounts: AccountMap,
    pub open: Vec<(ResourceKey, OpenLine)>,
    /// Open verdicts that do not read back, each with why: reported to the security team,
    /// never a reason to send no digest at all.
    pub unreadable: Vec<String>,
}

/// The board of `dry_run` as the digests and the pages read it, the open verdicts a page at a
/// time.
pub async fn read_board<B: TaskBoard, D: DocketStore>(
    board: &B,
    dockets: &D,
    dry_run: bool,
) -> Result<BoardView, NotifyError> {
    let mut view = BoardView {
        file: board.read().await?.file,
        accounts: board.account_map().await?,
        ..BoardView::default()
    };
    let mut cursor = None::<String>;
    loop {
        let page = dockets
            .open_verdicts(dry_run, cursor.as_deref(), OPEN_PAGE)
            .await?;
        for why in &page.unreadable {
            tracing::error!(error = %why, "open verdict unreadable; left out of the digests");
        }
        view.unreadable.extend(page.unreadable);
        view.open.extend(page.lines);
        match page.next {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    Ok(view)
}

/// The open verdicts by team, each team (and the security team) kept to the lines its digest
/// lists: the most severe, and a count.
fn open_verdicts(
    view: &BoardView,
    team: &impl Fn(Option<&str>, &str, Option<&str>) -> String,
) -> OpenVerdicts {
    let mut security = Top::default();
    let mut open: BTreeMap<String, Top<OpenLine>> = BTreeMap::new();
    for (_, line) in &view.open {
        let team = team(line.team.as_deref(), &line.account, line.owner.as_deref());
        if line.needs_security() {
            security.push((team.clone(), line.clone()), |(_, a), (_, b)| {
                notice::open_order(a, b)
            });
        }
        open.entry(team)
            .or_default()
            .push(line.clone(), notice::open_order);
    }
    OpenVerdicts {
        security,
        open,
        // The first few named, all counted.
        unreadable: view
            .unreadable
            .iter()
            .take(notice::UNREADABLE_LISTED)
            .cloned()
            .collect(),
        unreadable_total: view.unreadable.len(),
    }
}
