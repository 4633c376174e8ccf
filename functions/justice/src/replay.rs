//! `justice replay` and `justice explain`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use justice_core::event::{parse_event, Notice};
use justice_core::policy::{Level, Policy};
use justice_core::score::{derive_state, evaluate_item};
use justice_core::time::Millis;
use justice_core::RiskState;
use justice_core::{explain as render, key_of};
use justice_local::{LocalConfigSource, LocalRiskStore, StoreSummary};
use justice_service::{
    prepare, Change, Clock, ConfigSource, FixedClock, Outcome, RecordedClock, RiskStore, Scorer,
    SystemClock,
};

use crate::inputs;
use crate::judging::{JudgeTotals, LocalJudge};

/// Where the risk state lives.
pub enum Backend {
    /// The embedded store under `--state`.
    Local,
    /// A DynamoDB risk table, through the AWS adapters (endpoint from `AWS_ENDPOINT_URL`).
    Aws { table: String },
}

pub struct Options {
    pub backend: Backend,
    pub inputs: Vec<PathBuf>,
    pub state: PathBuf,
    pub policy: Policy,
    pub config_history: Option<PathBuf>,
    pub fresh: bool,
    pub json: bool,
    pub batch: usize,
    /// The accounts tasks may be written for; every account of the recording when `None`.
    pub accounts: Option<Vec<String>>,
    pub blast_per_hour: u32,
    /// Re-score (and judge) at this time after the replay.
    pub now: Option<Millis>,
    /// Run the judge after the scorer (local store only).
    pub judge: bool,
}

/// What a replay reports: its counts, the resources, where they live, the judge's totals.
type Replayed = (Summary, Resources, String, Option<JudgeTotals>);

/// The message of a build without the AWS backend.
#[cfg(not(feature = "aws"))]
pub(crate) const NO_AWS: &str = "this build of justice has no AWS backend: build it with \
    `--features aws` (cargo run --release -p justice --features aws -- ...)";

/// A replay into a DynamoDB risk table.
#[cfg(feature = "aws")]
fn aws_backend(
    rt: &tokio::runtime::Runtime,
    files: &[PathBuf],
    o: &Options,
    table: &str,
) -> Result<Replayed, String> {
    use justice_aws::{AwsConfigSource, DynamoRiskStore};
    if o.fresh {
        return Err("--fresh applies to the local store only".into());
    }
    let sdk = rt.block_on(justice_aws::sdk_config());
    let store = DynamoRiskStore::new(aws_sdk_dynamodb::Client::new(&sdk), table, 90);
    let place = format!("DynamoDB table {table}");
    if o.now.is_some() {
        return Err("--now applies to the local store only".into());
    }
    // The deployed judge reads the table's stream: nothing to judge here. The table is
    // not read back: the summary covers what this run touched.
    let mut touched = BTreeMap::new();
    let mut written = |state: Box<RiskState>, _| {
        touched.insert(state.key.to_string(), summary_of(&state));
        Ok(())
    };
    let sum = match o.config_history.as_deref() {
        Some(dir) => pipeline(
            rt,
            files,
            &store,
            &config_source(Some(dir))?,
            &o.policy,
            &mut written,
        )?,
        None => {
            let source = AwsConfigSource::new(aws_sdk_config::Client::new(&sdk));
            pipeline(rt, files, &store, &source, &o.policy, &mut written)?
        }
    };
    let mut resources = Resources::default();
    touched
        .into_values()
        .for_each(|s| resources.add(s, RISKIEST));
    Ok((sum, resources, place, None))
}

#[cfg(not(feature = "aws"))]
fn aws_backend(
    _: &tokio::runtime::Runtime,
    _: &[PathBuf],
    _: &Options,
    _: &str,
) -> Result<Replayed, String> {
    Err(NO_AWS.into())
}

/// One input event, read and evaluated, on its way to the store stage.
/// Events per chunk dealt to a parsing worker.
const CHUNK: usize = 64;
/// Parsing workers at most: the store stage is one thread, and past this the workers would
/// only wait for it.
const MAX_WORKERS: usize = 4;

struct ReadEvent {
    origin: String,
    records: Result<Vec<Result<justice_service::Prepared, String>>, String>,
}

#[derive(Default)]
struct Summary {
    events: u64,
    notifications: u64,
    scored: u64,
    redelivered: u64,
    ignored: BTreeMap<String, u64>,
    refused: Vec<(String, String)>,
}

pub(crate) fn runtime() -> Result<tokio::runtime::Runtime, String> {
    // Timers and sockets for the AWS SDK (--backend aws); idle for the local store.
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the async runtime: {e}"))
}

pub(crate) fn config_source(dir: Option<&Path>) -> Result<LocalConfigSource, String> {
    match dir {
        Some(d) => LocalConfigSource::from_dir(d).map_err(|e| e.to_string()),
        None => Ok(LocalConfigSource::empty()),
    }
}

pub fn run(o: &Options) -> Result<ExitCode, String> {
    let files = inputs::expand(&o.inputs)?;
    let rt = runtime()?;
    let (sum, resources, place, judged) = match &o.backend {
        Backend::Local => {
            let source = config_source(o.config_history.as_deref())?;
            if o.fresh {
                clear_local(&o.state)?;
            }
            let mut store = open_store(&o.state)?;
            store.set_batch_size(o.batch);
            let mut judge = LocalJudge::new(&o.state, o.accounts.clone(), o.blast_per_hour);
            let sum = pipeline(
                &rt,
                &files,
                &store,
                &source,
                &o.policy,
                &mut |state, written| {
                    if o.judge && written {
                        judge.push(&rt, &store, &o.policy, *state)
                    } else {
                        Ok(())
                    }
                },
            )?;
            judge.flush(&rt, &store, &o.policy)?;
            if let Some(now) = o.now {
                rescore_and_judge(&rt, &store, &source, &o.policy, &mut judge, now)?;
            }
            store.flush().map_err(|e| e.to_string())?;
            // Asked of the store rather than remembered on the way: memory stays flat however
            // many resources the recording holds.
            let resources = store.summarize(RISKIEST).map_err(|e| e.to_string())?;
            (
                sum,
                resources,
                o.state.display().to_string(),
                o.judge.then_some(judge.totals),
            )
        }
        Backend::Aws { table } => aws_backend(&rt, &files, o, table)?,
    };
    let pending = match &judged {
        Some(_) => pending_tasks(&o.state)?,
        None => 0,
    };
    if o.json {
        print_json(&sum, &resources, judged.as_ref(), pending);
    } else {
        print_text(&sum, &resources, &place);
        if let Some(j) = &judged {
            print_judge(j, pending, &o.state);
        }
    }
    let judge_failed = judged.as_ref().is_some_and(|j| !j.failed.is_empty());
    Ok(if sum.refused.is_empty() && !judge_failed {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// The local store under `dir`, telling the person running the command what opening it set
/// aside (a batch cut short by a crash), if anything.
pub(crate) fn open_store(dir: &Path) -> Result<LocalRiskStore, String> {
    let store = LocalRiskStore::open(dir).map_err(|e| e.to_string())?;
    if let Some(what) = store.recovered() {
        note!("justice: {what}");
    }
    Ok(store)
}

/// `--fresh`: the store and everything the judge wrote under the state directory.
fn clear_local(dir: &Path) -> Result<(), String> {
    for name in ["risk.redb", "risk.log", "tasks.json"] {
        let p = dir.join(name);
        if p.exists() {
            std::fs::remove_file(&p).map_err(|e| format!("{}: {e}", p.display()))?;
        }
    }
    for name in ["verdicts", "outbox", "dry-run"] {
        let p = dir.join(name);
        if p.exists() {
            std::fs::remove_dir_all(&p).map_err(|e| format!("{}: {e}", p.display()))?;
        }
    }
    Ok(())
}

/// `--now`: every risky state re-scored at `now`, then judged at `now` with every resource
/// the judge holds a docket for.
fn rescore_and_judge(
    rt: &tokio::runtime::Runtime,
    store: &LocalRiskStore,
    source: &LocalConfigSource,
    policy: &Policy,
    judge: &mut LocalJudge,
    now: Millis,
) -> Result<(), String> {
    let scorer = Scorer {
        store,
        source,
        policy,
        clock: &FixedClock(now),
    };
    let report = rt
        .block_on(scorer.rescore(now, now, usize::MAX))
        .map_err(|e| format!("re-score at --now: {e}"))?;
    if let Some(e) = report.failed.first() {
        return Err(format!("re-score at --now: {e}"));
    }
    judge_everything(rt, store, policy, judge, now)
}

/// Judges at `now` every resource with open findings or a docket: what the stream would bring
/// the judge after a re-score or a re-evaluation touched them.
pub(crate) fn judge_everything(
    rt: &tokio::runtime::Runtime,
    store: &LocalRiskStore,
    policy: &Policy,
    judge: &mut LocalJudge,
    now: Millis,
) -> Result<(), String> {
    let dockets: std::collections::BTreeSet<String> = store
        .all_dockets(false)
        .map_err(|e| e.to_string())?
        .into_iter()
        .map(|d| d.key.to_string())
        .collect();
    // Page by page, as the stream would bring them: memory stays flat however many states.
    let mut cursor: Option<String> = None;
    loop {
        let page = rt
            .block_on(store.resources(cursor.as_deref(), 500))
            .map_err(|e| e.to_string())?;
        let mut changes = Vec::with_capacity(page.keys.len());
        for key in &page.keys {
            let stored = rt.block_on(store.load(key)).map_err(|e| e.to_string())?;
            let Some(s) = stored.state else { continue };
            if s.needs_rescore() || dockets.contains(s.key.as_str()) {
                changes.push(Change {
                    id: s.key.to_string(),
                    key: s.key.clone(),
                    state: Some(s),
                });
            }
        }
        if !changes.is_empty() {
            judge.judge_at(rt, store, policy, &changes, now)?;
        }
        match page.next {
            Some(next) => cursor = Some(next),
            None => return Ok(()),
        }
    }
}

/// What the summary keeps of a state the AWS backend wrote (the table is not read back).
#[cfg(feature = "aws")]
fn summary_of(state: &RiskState) -> justice_local::StateSummary {
    justice_local::StateSummary {
        key: state.key.to_string(),
        score: state.score,
        level: state.level,
        rules: state
            .findings
            .iter()
            .map(|f| f.finding.rule.clone())
            .collect(),
    }
}

pub(crate) fn pending_tasks(dir: &Path) -> Result<usize, String> {
    let path = dir.join("tasks.json");
    match std::fs::read(&path) {
        Ok(b) => justice_core::krampus::TasksFile::parse(&b)
            .map(|f| f.tasks.len())
            .map_err(|e| format!("{}: {e}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(0),
        Err(e) => Err(format!("{}: {e}", path.display())),
    }
}

pub(crate) fn print_judge(j: &JudgeTotals, pending: usize, dir: &Path) {
    say!(
        "verdicts         {:>7}  (tasks scheduled {}, withdrawn {}, confirmed done by Krampus {}, held by the blast radius {})",
        j.verdicts,
        j.scheduled,
        j.withdrawn,
        j.confirmed,
        j.held
    );
    say!(
        "tasks pending    {:>7}  ({}; `justice tasks --state {}` lists them)",
        pending,
        dir.join("tasks.json").display(),
        dir.display()
    );
    let notices: u64 = j.notices.values().sum();
    say!(
        "notices          {:>7}  ({}/outbox/notices.jsonl)",
        notices,
        dir.display()
    );
    for (to, n) in &j.notices {
        say!("      {n:>5}  to {to}");
    }
    for (to, kind, what) in &j.first_notices {
        say!("             {kind:<10} to {to}: {what}");
    }
    if notices > j.first_notices.len() as u64 {
        say!(
            "             … {} more in the outbox",
            notices - j.first_notices.len() as u64
        );
    }
    for f in &j.failed {
        say!(
            "  judge failed   {}: {}: {}",
            f.record,
            f.resource,
            f.reason
        );
    }
}

/// The scorer over every event of `files`, through any store and configuration source, with
/// each state scored handed to `scored` in order (with whether it was written: the judge
/// takes only those).
fn pipeline<S: RiskStore, C: ConfigSource>(
    rt: &tokio::runtime::Runtime,
    files: &[PathBuf],
    store: &S,
    source: &C,
    policy: &Policy,
    scored: &mut dyn FnMut(Box<RiskState>, bool) -> Result<(), String>,
) -> Result<Summary, String> {
    let scorer = Scorer {
        store,
        source,
        policy,
        clock: &RecordedClock {
            limit: SystemClock.now(0),
        },
    };
    let mut sum = Summary::default();
    let refuse = |sum: &mut Summary, origin: &str, why: String| {
        note!("refused  {origin}: {why}");
        sum.refused.push((origin.to_owned(), why));
    };
    // Reading, parsing and rule evaluation (pure) run ahead of the store's reads and writes,
    // which take the events strictly in input order. One thread reads the files and deals
    // chunks of events round-robin to the parsing workers; the store stage takes their
    // results round-robin too, so the order is the input's without a reorder buffer. Chunks
    // (not single events) go through the channels: a wake-up per event cost a tenth of the
    // parsing. The bounded channels keep memory flat however long the recording.
    let workers = std::thread::available_parallelism()
        .map_or(1, std::num::NonZero::get)
        .clamp(1, MAX_WORKERS);
    let (jobs, job_queues): (Vec<_>, Vec<_>) = (0..workers)
        .map(|_| std::sync::mpsc::sync_channel::<Vec<inputs::Input>>(4))
        .unzip();
    let (result_queues, results): (Vec<_>, Vec<_>) = (0..workers)
        .map(|_| std::sync::mpsc::sync_channel::<Vec<ReadEvent>>(4))
        .unzip();
    std::thread::scope(|scope| -> Result<(), String> {
        let reader = scope.spawn(move || -> Result<(), String> {
            let mut chunk = Vec::with_capacity(CHUNK);
            let mut dealt = 0usize;
            // A closed channel means the store stage stopped (its error is reported): nothing
            // more is dealt, and the files are not read further.
            let mut deal = |chunk: Vec<inputs::Input>| -> bool {
                let sent = jobs[dealt % jobs.len()].send(chunk).is_ok();
                dealt += 1;
                sent
            };
            for file in files {
                let mut stopped = false;
                let read = inputs::read(file, |input| {
                    chunk.push(input);
                    if chunk.len() == CHUNK {
                        stopped = !deal(std::mem::replace(&mut chunk, Vec::with_capacity(CHUNK)));
                    }
                    !stopped
                });
                if let Err(e) = read {
                    // The events read before the error are stored, as they were read.
                    if !chunk.is_empty() {
                        deal(chunk);
                    }
                    return Err(e);
                }
                if stopped {
                    return Ok(());
                }
            }
            if !chunk.is_empty() {
                deal(chunk);
            }
            Ok(())
        });
        let mut parsing = Vec::with_capacity(workers);
        for (queue, out) in job_queues.into_iter().zip(result_queues) {
            parsing.push(scope.spawn(move || {
                for chunk in queue {
                    let read: Vec<ReadEvent> = chunk
                        .into_iter()
                        .map(|input| ReadEvent {
                            records: parse_event(&input.bytes)
                                .map(|records| {
                                    records
                                        .into_iter()
                                        .map(|r| {
                                            r.map_err(|e| e.to_string()).and_then(|notice| {
                                                prepare(notice, policy).map_err(|e| e.to_string())
                                            })
                                        })
                                        .collect()
                                })
                                .map_err(|e| e.to_string()),
                            origin: input.origin,
                        })
                        .collect();
                    if out.send(read).is_err() {
                        return;
                    }
                }
            }));
        }
        // Owned here, so that a return from this stage (an error) drops the receivers and
        // the workers blocked on a full channel stop, rather than wait for ever.
        let results = results;
        // Chunk k is worker k's (mod the number of workers): when that worker has closed, no
        // chunk k was dealt, nor any after it.
        let in_order = (0..).map_while(|k: usize| results[k % results.len()].recv().ok());
        for event in in_order.flatten() {
            sum.events += 1;
            let records = match event.records {
                Ok(r) => r,
                Err(why) => {
                    refuse(&mut sum, &event.origin, why);
                    continue;
                }
            };
            for record in records {
                sum.notifications += 1;
                let prepared = match record {
                    Ok(p) => p,
                    Err(why) => {
                        refuse(&mut sum, &event.origin, why);
                        continue;
                    }
                };
                match rt.block_on(scorer.apply(prepared)) {
                    Ok(Outcome::Scored {
                        state,
                        written: was_written,
                    }) => {
                        sum.scored += 1;
                        sum.redelivered += u64::from(!was_written);
                        scored(state, was_written)?;
                    }
                    Ok(Outcome::Ignored { reason }) => *sum.ignored.entry(reason).or_default() += 1,
                    Err(e) => refuse(&mut sum, &event.origin, e.to_string()),
                }
            }
        }
        // A worker that stopped early (a panic) ended the stream early: its channel closed.
        // The others are released before anything is waited for, and the run fails.
        drop(results);
        let reading = reader
            .join()
            .map_err(|_| "the event reader stopped unexpectedly".to_owned());
        if parsing.into_iter().any(|w| w.join().is_err()) {
            return Err(
                "an event parser stopped unexpectedly: the events after it were not read".into(),
            );
        }
        reading?
    })?;
    Ok(sum)
}

/// What the summary shows of the stored resources: their number, their number by level, and
/// the riskiest few.
type Resources = StoreSummary;

/// How many of the riskiest the summary lists.
const RISKIEST: usize = 20;

fn print_text(sum: &Summary, resources: &Resources, place: &str) {
    let ignored: u64 = sum.ignored.values().sum();
    say!("events read      {:>7}", sum.events);
    say!("notifications    {:>7}", sum.notifications);
    say!(
        "  scored         {:>7}  ({} already scored: redeliveries, nothing written)",
        sum.scored,
        sum.redelivered
    );
    say!("  ignored        {:>7}", ignored);
    for (reason, n) in &sum.ignored {
        say!("      {n:>5}  {reason}");
    }
    say!("  refused        {:>7}", sum.refused.len());
    for (origin, why) in &sum.refused {
        say!("             {origin}: {why}");
    }
    say!("resources        {:>7}  (store: {place})", resources.count);
    for l in Level::ALL.iter().rev() {
        say!(
            "  {:<14} {:>7}",
            l.as_str(),
            resources.by_level.get(l).copied().unwrap_or(0)
        );
    }
    if !resources.riskiest.is_empty() {
        say!("riskiest");
        for s in &resources.riskiest {
            say!(
                "  {:>5} {:<8} {}  [{}]",
                s.score,
                s.level.as_str(),
                s.key,
                s.rules.join(", ")
            );
        }
    }
}

fn print_json(sum: &Summary, resources: &Resources, judged: Option<&JudgeTotals>, pending: usize) {
    // Every level, with the ones no resource is at as 0.
    let levels: BTreeMap<&str, usize> = Level::ALL
        .iter()
        .map(|l| (l.as_str(), resources.by_level.get(l).copied().unwrap_or(0)))
        .collect();
    let v = serde_json::json!({
        "events": sum.events,
        "notifications": sum.notifications,
        "scored": sum.scored,
        "redelivered": sum.redelivered,
        "ignored": sum.ignored,
        "refused": sum.refused.iter().map(|(o, w)| serde_json::json!({"origin": o, "reason": w})).collect::<Vec<_>>(),
        "resources_by_level": levels,
        "judge": judged.map(|j| serde_json::json!({
            "batches": j.batches,
            "verdicts": j.verdicts,
            "scheduled": j.scheduled,
            "withdrawn": j.withdrawn,
            "confirmed": j.confirmed,
            "held": j.held,
            "failed": j.failed.len(),
            "tasks_pending": pending,
            "notices": j.notices,
        })),
    });
    crate::out::stdout_text(&format!("{v:#}\n"));
}

/// Scores each item of one event on its own (no stored history) at the event's time.
pub fn explain(
    path: &Path,
    policy: &Policy,
    history: Option<&Path>,
    json: bool,
) -> Result<ExitCode, String> {
    let bytes = inputs::read_one(path)?;
    let records = parse_event(&bytes).map_err(|e| format!("{}: {e}", path.display()))?;
    let source = config_source(history)?;
    let rt = runtime()?;
    let mut failed = false;
    let mut out = Vec::new();
    for record in records {
        let notice = match record {
            Ok(n) => n,
            Err(e) => {
                note!("{}: refused: {e}", path.display());
                failed = true;
                continue;
            }
        };
        let (item, sent) = match notice {
            Notice::Ignored { reason } => {
                if !json {
                    say!("ignored: {reason}");
                }
                continue;
            }
            Notice::Item { item, sent } => (*item, sent),
            Notice::Oversized(summary) => match rt.block_on(source.fetch(&summary)) {
                Ok(Some(item)) => (item, summary.sent),
                Ok(None) => {
                    note!(
                        "{}: refused: {}: oversized item not found (pass --config-history DIR)",
                        path.display(),
                        summary.label()
                    );
                    failed = true;
                    continue;
                }
                Err(e) => return Err(e.to_string()),
            },
        };
        let record = match evaluate_item(&item, sent, policy).and_then(|r| Ok((r, key_of(&item)?)))
        {
            Ok(r) => r,
            Err(e) => {
                note!("{}: refused: {e}", path.display());
                failed = true;
                continue;
            }
        };
        let (record, key) = record;
        if let Some(state) = derive_state(&key, &[record], sent, policy) {
            if json {
                out.push(state);
            } else {
                crate::out::stdout_text(&render::render(&state, policy));
            }
        }
    }
    if json {
        let text = serde_json::to_string_pretty(&out).map_err(|e| e.to_string())?;
        crate::out::stdout_text(&format!("{text}\n"));
    }
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary(key: &str, score: u32, level: Level) -> justice_local::StateSummary {
        justice_local::StateSummary {
            key: key.into(),
            score,
            level,
            rules: vec![],
        }
    }

    #[test]
    fn the_summary_keeps_counts_and_the_riskiest_twenty_in_order() {
        let mut r = Resources::default();
        // Scores 0..=59, shuffled by a stride coprime with 60; a third of them not risky.
        for i in 0..60u32 {
            let score = (i * 37) % 60;
            let level = if score % 3 == 0 {
                Level::None
            } else {
                Level::Disable
            };
            r.add(summary(&format!("k{score:02}"), score, level), RISKIEST);
        }
        r.add(summary("a-tie", 59, Level::Kill), RISKIEST);
        assert_eq!(r.count, 61);
        assert_eq!(r.by_level[&Level::None], 20);
        assert_eq!(r.by_level[&Level::Disable], 40);
        assert_eq!(r.by_level[&Level::Kill], 1);
        let top: Vec<(u32, &str)> = r
            .riskiest
            .iter()
            .map(|s| (s.score, s.key.as_str()))
            .collect();
        assert_eq!(top.len(), RISKIEST);
        assert_eq!(top[0], (59, "a-tie"));
        assert_eq!(top[1], (59, "k59"));
        assert!(top.windows(2).all(|w| w[0].0 >= w[1].0));
        assert!(r.riskiest.iter().all(|s| s.level != Level::None));
        // The tie, then the 19 highest risky scores (59 down to 32, skipping multiples of 3).
        assert_eq!(top[RISKIEST - 1].0, 32);
    }
}
