//! The risk report's reads: every resource with open findings, a pending task or an open
//! verdict, with its history; then one page per team and one of the whole estate, stored
//! where the digests can link them.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;

use justice_core::notice;
use justice_core::policy::Policy;
use justice_core::report::{self, Entry, Pending, Report, Scope, Summary};
use justice_core::time::Millis;
use justice_core::verdict::OpenLine;
use justice_core::ResourceKey;

use crate::notifier::{BoardView, NotifyError};
use crate::ports::{OutboxError, RiskStore, StoreError};

/// Resources whose state and history are read at once.
const READ_TOGETHER: usize = 16;

/// What the stores hold for the report.
#[derive(Debug, Default)]
pub struct Gathered {
    pub entries: Vec<Entry>,
    /// Resources that could not be read, each with why: the estate's page names them.
    pub unreadable: Vec<String>,
}

/// Every resource the report shows, read from the store at `now`: the risky ones (open
/// findings), and any other that a pending task or an open verdict of `view` names, at most
/// `limit` (the ones with a task or a verdict first; the rest are counted in `unreadable`). A
/// corrupt state or history is named in `unreadable`, never silently left out; an unavailable
/// store fails the whole read.
pub async fn gather<S: RiskStore>(
    store: &S,
    view: &BoardView,
    policy: &Policy,
    default_team: &str,
    now: Millis,
    limit: usize,
) -> Result<Gathered, NotifyError> {
    let accounts = &view.accounts;
    let mut pending = Pending::by_resource(&view.file.tasks);
    let mut out = Gathered {
        entries: Vec::new(),
        unreadable: view.unreadable.clone(),
    };
    let mut open: BTreeMap<&ResourceKey, &OpenLine> =
        view.open.iter().map(|(k, l)| (k, l)).collect();
    // What a task or a verdict names first: the digests list those.
    let mut named: BTreeSet<ResourceKey> = open.keys().map(|&k| k.clone()).collect();
    for k in pending.keys() {
        match ResourceKey::parse(k) {
            Ok(key) => {
                named.insert(key);
            }
            Err(e) => out.unreadable.push(format!(
                "a task in tasks.json names `{}`, not a resource key: {e}",
                justice_core::text::quote(k, 300)
            )),
        }
    }
    let risky: Vec<ResourceKey> = store
        .risky(Millis::MAX, usize::MAX)
        .await?
        .into_iter()
        .filter(|k| !named.contains(k))
        .collect();
    let total = named.len() + risky.len();
    if total > limit {
        out.unreadable.push(format!(
            "{} of {total} resource(s) not read: the report reads at most {limit}",
            total - limit
        ));
    }
    let keys: Vec<ResourceKey> = named.into_iter().chain(risky).take(limit).collect();
    // A few resources at a time: two reads each, so that the store's latency is paid once a
    // chunk, not once a resource.
    for chunk in keys.chunks(READ_TOGETHER) {
        let reads = futures_util::future::join_all(chunk.iter().map(|k| read(store, k))).await;
        for (key, read) in chunk.iter().zip(reads) {
            let (stored, history) = match read {
                Ok(read) => read,
                Err(e @ StoreError::Corrupt { .. }) => {
                    out.unreadable.push(e.to_string());
                    continue;
                }
                Err(e) => return Err(e.into()),
            };
            let Some(state) = stored else {
                out.unreadable.push(format!(
                    "{key}: a task or verdict names it, but no state is stored"
                ));
                continue;
            };
            let mut entry = Entry::new(state, &history, policy, now, accounts, default_team);
            entry.tasks = pending.remove(key.as_str()).unwrap_or_default();
            entry.verdict = open.remove(key).cloned();
            // The team the digests list it under: its tasks' (as the judge wrote them), or
            // its open verdict's, so that a digest's link leads to the page with its lines.
            let listed = match (entry.tasks.first(), &entry.verdict) {
                (Some(t), _) => Some((t.team.as_deref(), t.owner.as_deref())),
                (None, Some(v)) => Some((v.team.as_deref(), v.owner.as_deref())),
                (None, None) => None,
            };
            if let Some((team, owner)) = listed {
                entry.team =
                    notice::team_of(team, &entry.state.account, owner, accounts, default_team);
            }
            out.entries.push(entry);
        }
    }
    Ok(out)
}

async fn read<S: RiskStore>(
    store: &S,
    key: &ResourceKey,
) -> Result<
    (
        Option<justice_core::RiskState>,
        Vec<justice_core::HistoryRecord>,
    ),
    StoreError,
> {
    let stored = store.load(key).await?;
    if stored.state.is_none() {
        return Ok((None, Vec::new()));
    }
    let history = store.history(key).await?;
    Ok((stored.state, history))
}

/// Where the pages go: a prefix of the bucket in AWS (read through a presigned link), files
/// locally.
pub trait ReportShelf: Send + Sync {
    /// Stores the page `name` of `window`, and returns a link that opens it for `valid_ms`.
    fn put(
        &self,
        window: &str,
        name: &str,
        html: String,
        valid_ms: Millis,
    ) -> impl Future<Output = Result<String, OutboxError>> + Send;
}

/// A page as stored: its link and its numbers (the digests carry both).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    pub url: String,
    pub summary: Summary,
    /// Until when the link opens the page.
    pub expires: Millis,
}

/// The pages of one window: each team's, and the whole estate's for the security team.
#[derive(Debug, Clone, Default)]
pub struct Pages {
    pub teams: BTreeMap<String, Page>,
    pub estate: Option<Page>,
}

/// Renders and stores every team's page and the estate's, for links valid `valid_ms`.
pub async fn publish<R: ReportShelf>(
    shelf: &R,
    gathered: &Gathered,
    policy: &Policy,
    window: &str,
    valid_ms: Millis,
    now: Millis,
) -> Result<Pages, OutboxError> {
    let store = |scope: Scope, name: String| async move {
        let r = Report::new(scope, &gathered.entries, &gathered.unreadable, policy, now);
        let summary = r.summary();
        let url = shelf
            .put(window, &name, report::render(&r), valid_ms)
            .await?;
        Ok::<_, OutboxError>(Page {
            url,
            summary,
            expires: now.saturating_add(valid_ms),
        })
    };
    let mut pages = Pages::default();
    for team in report::teams(&gathered.entries) {
        let page = store(Scope::Team(team.clone()), report::page_name(&team)).await?;
        pages.teams.insert(team, page);
    }
    pages.estate = Some(store(Scope::Estate, "estate.html".to_owned()).await?);
    tracing::info!(
        window,
        teams = pages.teams.len(),
        resources = gathered.entries.len(),
        unreadable = gathered.unreadable.len(),
        "report pages stored"
    );
    Ok(pages)
}

impl Page {
    /// The page as a digest links it.
    pub fn link(&self) -> justice_core::report::Link<'_> {
        justice_core::report::Link {
            url: &self.url,
            summary: self.summary,
            expires: self.expires,
        }
    }
}
