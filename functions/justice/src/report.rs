//! `justice report`: the risk report as one self-contained HTML page, from the local store or
//! the DynamoDB risk table.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use justice_core::policy::Policy;
use justice_core::report::{self, Report, Scope};
use justice_core::time::Millis;
use justice_service::report::{gather, Gathered};
use justice_service::{DocketStore, RiskStore, TaskBoard};

pub struct Options {
    pub policy: Policy,
    pub now: Millis,
    pub team: Option<String>,
    /// `-` for standard output.
    pub output: PathBuf,
}

pub enum Source {
    Local {
        state: PathBuf,
    },
    Aws {
        table: String,
        bucket: String,
        tasks_key: String,
        mapping_key: Option<String>,
        dry_run: bool,
    },
}

pub fn run(source: &Source, o: &Options) -> Result<ExitCode, String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let started = Instant::now();
    let gathered = match source {
        Source::Local { state } => {
            if !state.join("risk.redb").exists() {
                return Err(format!(
                    "{}: no local store here (run `justice replay` first)",
                    state.display()
                ));
            }
            let store = crate::replay::open_store(state)?;
            let board = justice_local::LocalTaskBoard::new(state, false);
            rt.block_on(read(&store, &board, &store, false, o))?
        }
        Source::Aws {
            table,
            bucket,
            tasks_key,
            mapping_key,
            dry_run,
        } => aws(&rt, (table, bucket, tasks_key), mapping_key, *dry_run, o)?,
    };
    let read = started.elapsed();
    let scope = match &o.team {
        Some(t) => {
            let team = justice_core::notice::attribute(t);
            if !gathered.entries.iter().any(|e| e.team == team) {
                note!(
                    "justice: no resource of team `{team}` is at risk; teams at risk: {}",
                    report::teams(&gathered.entries).join(", ")
                );
            }
            Scope::Team(team)
        }
        None => Scope::Estate,
    };
    let r = Report::new(
        scope,
        &gathered.entries,
        &gathered.unreadable,
        &o.policy,
        o.now,
    );
    let shown = r.entries.len();
    let html = report::render(&r);
    if o.output == Path::new("-") {
        crate::out::stdout_text(&html);
    } else {
        std::fs::write(&o.output, &html).map_err(|e| format!("{}: {e}", o.output.display()))?;
        say!(
            "report of {shown} resource(s) ({} unreadable) written to {} ({} KiB; read in {} ms, rendered in {} ms)",
            gathered.unreadable.len(),
            o.output.display(),
            html.len() / 1024,
            read.as_millis(),
            (started.elapsed() - read).as_millis()
        );
    }
    for u in &gathered.unreadable {
        note!("unreadable: {u}");
    }
    Ok(ExitCode::SUCCESS)
}

async fn read<S: RiskStore, B: TaskBoard, D: DocketStore>(
    store: &S,
    board: &B,
    dockets: &D,
    dry_run: bool,
    o: &Options,
) -> Result<Gathered, String> {
    let settings = crate::judging::notifier_settings();
    let view = justice_service::read_board(board, dockets, dry_run)
        .await
        .map_err(|e| format!("report: {e}"))?;
    gather(
        store,
        &view,
        &o.policy,
        &settings.default_team,
        o.now,
        usize::MAX,
    )
    .await
    .map_err(|e| format!("report: {e}"))
}

#[cfg(feature = "aws")]
fn aws(
    rt: &tokio::runtime::Runtime,
    (table, bucket, tasks_key): (&str, &str, &str),
    mapping_key: &Option<String>,
    dry_run: bool,
    o: &Options,
) -> Result<Gathered, String> {
    let aws = rt.block_on(justice_aws::Clients::from_env());
    let store = justice_aws::DynamoRiskStore::new(aws.dynamodb.clone(), table, 90);
    let board = justice_aws::S3TaskBoard::new(aws.s3.clone(), bucket, tasks_key, "verdicts/", None)
        .with_account_map(mapping_key.clone());
    rt.block_on(read(&store, &board, &store, dry_run, o))
}

#[cfg(not(feature = "aws"))]
fn aws(
    _: &tokio::runtime::Runtime,
    _: (&str, &str, &str),
    _: &Option<String>,
    _: bool,
    _: &Options,
) -> Result<Gathered, String> {
    Err(crate::replay::NO_AWS.into())
}
