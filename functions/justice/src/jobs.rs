//! `justice rescore`, `justice reevaluate`, `justice backfill` and `justice show`: the scorer's
//! jobs (written once in `justice_service::jobs`, as the scorer Lambda runs them) on a recorded
//! local store, each followed by the judge on what they changed; and one resource as stored.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use justice_core::policy::Policy;
use justice_core::time::{self, Millis};
use justice_core::{explain as render, ResourceKey};
use justice_local::{LocalConfigSource, LocalRiskStore};
use justice_service::jobs::{self, RunBudget};
use justice_service::{FixedClock, RiskStore, Scorer};

use crate::judging::LocalJudge;
use crate::replay::{judge_everything, pending_tasks, print_judge, runtime};

/// What the job commands share: the store, the policy, the clock, the judge's settings.
pub struct JobOptions {
    pub state: PathBuf,
    pub policy: Policy,
    pub now: Millis,
    pub accounts: Option<Vec<String>>,
    pub blast_per_hour: u32,
    /// Run the judge on what the job changed.
    pub judge: bool,
}

/// The scorer of a job: the local store, the job's policy, its clock stopped at `--now`.
fn scorer<'a>(
    o: &'a JobOptions,
    store: &'a LocalRiskStore,
    source: &'a LocalConfigSource,
    clock: &'a FixedClock,
) -> Scorer<'a, LocalRiskStore, LocalConfigSource, FixedClock> {
    Scorer {
        store,
        source,
        policy: &o.policy,
        clock,
    }
}

fn open(dir: &Path) -> Result<LocalRiskStore, String> {
    if !dir.join("risk.redb").exists() {
        return Err(format!(
            "{}: no local store here (run `justice replay` first)",
            dir.display()
        ));
    }
    let mut store = crate::replay::open_store(dir)?;
    // Writes in batches of a transaction each, made durable by `flush` at the end.
    store.set_batch_size(1000);
    Ok(store)
}

/// Judges what the job touched and prints the judge's summary.
fn judge_after(
    o: &JobOptions,
    rt: &tokio::runtime::Runtime,
    store: &LocalRiskStore,
) -> Result<bool, String> {
    if !o.judge {
        return Ok(true);
    }
    let mut judge = LocalJudge::new(&o.state, o.accounts.clone(), o.blast_per_hour);
    judge_everything(rt, store, &o.policy, &mut judge, o.now)?;
    let pending = pending_tasks(&o.state)?;
    print_judge(&judge.totals, pending, &o.state);
    Ok(judge.totals.failed.is_empty())
}

fn exit(ok: bool) -> ExitCode {
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// `justice show --backend aws`: one resource of a DynamoDB risk table.
#[cfg(feature = "aws")]
pub fn show_aws(
    table: &str,
    resource: &str,
    policy: &Policy,
    json: bool,
) -> Result<ExitCode, String> {
    let rt = runtime()?;
    let sdk = rt.block_on(justice_aws::sdk_config());
    let store = justice_aws::DynamoRiskStore::new(aws_sdk_dynamodb::Client::new(&sdk), table, 90);
    show(&store, resource, policy, json)
}

#[cfg(not(feature = "aws"))]
pub fn show_aws(_: &str, _: &str, _: &Policy, _: bool) -> Result<ExitCode, String> {
    Err(crate::replay::NO_AWS.into())
}

/// The digests of the window `now` falls in, to the local outbox (once per window).
pub fn digest(
    dir: &Path,
    policy: &Policy,
    now: Millis,
    window_hours: u32,
) -> Result<ExitCode, String> {
    let rt = runtime()?;
    let store = open(dir)?;
    let board = justice_local::LocalTaskBoard::new(dir, false);
    let outbox = justice_local::LocalOutbox::new(dir);
    let settings = crate::judging::notifier_settings();
    let notifier = justice_service::Notifier {
        board: &board,
        outbox: &outbox,
        settings: &settings,
    };
    let window_ms = i64::from(window_hours) * time::HOUR_MS;
    let window = time::format_rfc3339(now.div_euclid(window_ms) * window_ms);
    // The pages first: each digest links its team's. Pages that cannot be written cost the
    // links, not the digests.
    let shelf = justice_local::LocalReportShelf::new(dir);
    let sent = rt
        .block_on(async {
            let view = justice_service::read_board(&board, &store, false).await?;
            let pages = async {
                let gathered = justice_service::report::gather(
                    &store,
                    &view,
                    policy,
                    &settings.default_team,
                    now,
                    usize::MAX,
                )
                .await?;
                Ok::<_, justice_service::NotifyError>(
                    justice_service::report::publish(
                        &shelf, &gathered, policy, &window, window_ms, now,
                    )
                    .await?,
                )
            }
            .await
            .inspect_err(|e| {
                note!("digest: report pages not written, digests go without links: {e}")
            })
            .ok();
            notifier.digest(&view, &window, now, pages.as_ref()).await
        })
        .map_err(|e| format!("digest: {e}"))?;
    if sent.is_empty() {
        say!("digest of window {window}: nothing to send (none due, or sent already)");
    } else {
        say!(
            "digest of window {window}: sent to {} ({})",
            sent.join(", "),
            dir.join("outbox").display()
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Every risky state moved to `now` (ages grow, episodes leave the window), then judged.
pub fn rescore(o: &JobOptions) -> Result<ExitCode, String> {
    let (rt, store) = (runtime()?, open(&o.state)?);
    let (source, clock) = (LocalConfigSource::empty(), FixedClock(o.now));
    let report = rt
        .block_on(scorer(o, &store, &source, &clock).rescore(o.now, o.now, usize::MAX))
        .map_err(|e| format!("re-score: {e}"))?;
    say!(
        "re-scored        {:>7}  ({} changed score or level, at {})",
        report.visited,
        report.changed,
        time::format_rfc3339(o.now)
    );
    for e in &report.failed {
        note!("re-score failed: {e}");
    }
    store.flush().map_err(|e| e.to_string())?;
    let judged = judge_after(o, &rt, &store)?;
    Ok(exit(report.failed.is_empty() && judged))
}

/// Every state evaluated with another policy than `--policy`, evaluated again from the item it
/// keeps, then judged: a rule turned off withdraws its tasks, one turned on finds what already
/// breaks it.
pub fn reevaluate(o: &JobOptions) -> Result<ExitCode, String> {
    let (rt, store) = (runtime()?, open(&o.state)?);
    let (source, clock) = (LocalConfigSource::empty(), FixedClock(o.now));
    let scorer = scorer(o, &store, &source, &clock);
    let report = rt
        .block_on(jobs::reevaluate(
            &scorer,
            o.now,
            1000,
            RunBudget::pages(usize::MAX),
        ))
        .map_err(|e| format!("re-evaluation: {e}"))?;
    say!(
        "re-evaluated     {:>7}  of {} states ({} changed score or level) under policy {}",
        report.reevaluated,
        report.visited,
        report.changed,
        report.policy
    );
    for e in &report.failed {
        note!("re-evaluation failed: {e}");
    }
    store.flush().map_err(|e| e.to_string())?;
    let judged = judge_after(o, &rt, &store)?;
    Ok(exit(report.failed.is_empty() && judged))
}

/// The resources recorded under `history` (Config API items), scored as a back-fill scores
/// them, then judged.
pub fn backfill(o: &JobOptions, history: &Path, types: &[String]) -> Result<ExitCode, String> {
    let rt = runtime()?;
    let mut store = crate::replay::open_store(&o.state)?;
    store.set_batch_size(1000);
    let source = LocalConfigSource::from_dir(history).map_err(|e| e.to_string())?;
    let clock = FixedClock(o.now);
    let scorer = scorer(o, &store, &source, &clock);
    let accounts = o.accounts.clone();
    let refuse = |account: &str| {
        let allowed = accounts
            .as_ref()
            .is_none_or(|list| list.iter().any(|a| a == account));
        (!allowed).then(|| format!("account {account} is not in --accounts"))
    };
    let report = rt
        .block_on(jobs::backfill(
            &scorer,
            types,
            None,
            RunBudget::pages(usize::MAX),
            jobs::BACKFILL_JOB,
            refuse,
        ))
        .map_err(|e| format!("back-fill: {e}"))?;
    say!(
        "back-filled      {:>7}  ({} refused)",
        report.scored,
        report.refused.len()
    );
    for r in report.refused.iter().chain(&report.refused_types) {
        note!("refused  {r}");
    }
    store.flush().map_err(|e| e.to_string())?;
    let judged = judge_after(o, &rt, &store)?;
    Ok(exit(
        report.refused.is_empty() && report.refused_types.is_empty() && judged,
    ))
}

/// One stored resource: its state with every point traced to a finding, and its history
/// (score over time), from the local store or the DynamoDB table.
pub fn show<S: RiskStore>(
    store: &S,
    key: &str,
    policy: &Policy,
    json: bool,
) -> Result<ExitCode, String> {
    let key = ResourceKey::parse(key)
        .map_err(|e| format!("`{key}` is not a resource key (account/region/type/id): {e}"))?;
    let rt = runtime()?;
    let stored = rt.block_on(store.load(&key)).map_err(|e| e.to_string())?;
    let Some(state) = stored.state else {
        return Err(format!("{key}: not in the store"));
    };
    let history = rt
        .block_on(store.history(&key))
        .map_err(|e| e.to_string())?;
    if json {
        let v = serde_json::json!({ "state": state, "history": history });
        crate::out::stdout_text(&format!("{v:#}\n"));
        return Ok(ExitCode::SUCCESS);
    }
    crate::out::stdout_text(&render::render(&state, policy));
    say!(
        "policy    {}{}",
        if state.policy_version.is_empty() {
            "unknown"
        } else {
            &state.policy_version
        },
        if state.policy_version == policy.version {
            " (current)"
        } else {
            " (not the current one: `justice reevaluate`)"
        }
    );
    say!("history   {} item(s), oldest first", history.len());
    for r in &history {
        let findings: Vec<&str> = r.findings.iter().map(|f| f.finding.rule.as_str()).collect();
        say!(
            "  {}  state {:<15} base {:>4}  {:?}  [{}]",
            time::format_rfc3339(r.capture_time),
            r.state_id,
            r.base_total(),
            r.status,
            findings.join(", ")
        );
    }
    Ok(ExitCode::SUCCESS)
}
