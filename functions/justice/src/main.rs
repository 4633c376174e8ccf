//! `justice`: the Justice Engine on your machine. Replays recorded AWS Config events through
//! the same scorer the Lambda function runs, over an embedded store.

#[macro_use]
mod out;
mod inputs;
mod jobs;
mod judging;
mod replay;
mod report;
mod rules;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use justice_core::policy::Policy;

// Parsing builds and drops many small JSON nodes per event; mimalloc's thread-local free lists
// serve that pattern in about half the time of glibc's allocator (see docs/testing.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "justice",
    version,
    about = "Score AWS Config events locally, as the Justice Engine does in AWS."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the pipeline over recorded events (files, directories, or .jsonl streams).
    Replay {
        /// Event files (.json: one event; .jsonl: one event per line) or directories of them.
        #[arg(required = true)]
        inputs: Vec<PathBuf>,
        /// Directory of the local store.
        #[arg(long, default_value = ".justice")]
        state: PathBuf,
        /// Policy file (TOML); the embedded default otherwise.
        #[arg(long)]
        policy: Option<PathBuf>,
        /// Directory of recorded Config API items, to resolve oversized notifications.
        #[arg(long)]
        config_history: Option<PathBuf>,
        /// Start from an empty store instead of adding to the existing one.
        #[arg(long)]
        fresh: bool,
        /// Print the summary as JSON.
        #[arg(long)]
        json: bool,
        /// Events per local-store transaction: larger is faster and holds more in memory; a
        /// crash loses at most the open batch, never half an event.
        #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..))]
        batch: u32,
        /// Where the risk state lives: `local` (the embedded store under --state) or `aws`
        /// (the DynamoDB table of --table, at `AWS_ENDPOINT_URL` when set, with the usual AWS
        /// credentials and region; oversized items then come from AWS Config unless
        /// --config-history is given).
        #[arg(long, value_enum, default_value = "local")]
        backend: BackendKind,
        /// The DynamoDB risk table (with --backend aws); `RISK_TABLE` otherwise.
        #[arg(long, env = "RISK_TABLE")]
        table: Option<String>,
        /// Accounts the judge may write tasks for (comma-separated); every account of the
        /// recording by default. Local only: with --backend aws the deployed judge reads the
        /// table's stream.
        #[arg(long, value_delimiter = ',')]
        accounts: Option<Vec<String>>,
        /// Resources newly acted on per hour (of event time) before verdicts are held, as the Lambda's
        /// BLAST_RADIUS_PER_HOUR.
        #[arg(long, default_value_t = 10)]
        blast_radius: u32,
        /// After the replay, move the clock to this RFC 3339 time, re-score and judge again:
        /// grace periods run out, ages grow.
        #[arg(long, value_parser = parse_time)]
        now: Option<i64>,
        /// Score only: no verdicts, no tasks.
        #[arg(long, conflicts_with = "now")]
        no_judge: bool,
    },
    /// Move every risky stored state to a time (ages grow, episodes leave the window) and judge.
    Rescore {
        #[command(flatten)]
        job: JobArgs,
    },
    /// Evaluate every stored state recorded under another policy again, from the item it
    /// keeps, and judge: a rule turned off withdraws its tasks, one turned on finds what already
    /// breaks it.
    Reevaluate {
        #[command(flatten)]
        job: JobArgs,
    },
    /// Score the resources recorded as Config API items (what a back-fill reads), and judge.
    Backfill {
        /// Directory of recorded Config API items (`BatchGetResourceConfig` or
        /// `GetResourceConfigHistory` output).
        #[arg(long)]
        config_history: PathBuf,
        /// Resource types to back-fill (comma-separated); by default the types `justice_core::types` marks for back-fill.
        #[arg(long, value_delimiter = ',')]
        types: Option<Vec<String>>,
        #[command(flatten)]
        job: JobArgs,
    },
    /// Send the digests of one window to the local outbox, as the notifier's schedule does:
    /// each team's pending tasks and open verdicts, and the security team's list of what no
    /// automation will fix.
    Digest {
        #[arg(long, default_value = ".justice")]
        state: PathBuf,
        /// The time to run at (RFC 3339); the wall clock otherwise.
        #[arg(long, value_parser = parse_time)]
        now: Option<i64>,
        /// One digest per team per window of this many hours, as DIGEST_WINDOW_HOURS.
        #[arg(long, default_value_t = 24, value_parser = clap::value_parser!(u32).range(1..=168))]
        window_hours: u32,
        /// The policy of the report pages the digests link (under <state>/reports/).
        #[arg(long)]
        policy: Option<PathBuf>,
    },
    /// Print one stored resource: its state, every point traced to a finding, and its history.
    Show {
        /// The resource key: account/region/type/id.
        resource: String,
        #[arg(long, default_value = ".justice")]
        state: PathBuf,
        #[arg(long)]
        policy: Option<PathBuf>,
        /// `local` (the store under --state) or `aws` (the DynamoDB table of --table).
        #[arg(long, value_enum, default_value = "local")]
        backend: BackendKind,
        #[arg(long, env = "RISK_TABLE")]
        table: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// List the Krampus tasks waiting in the local tasks.json, soonest first, and the verdicts
    /// that hold no task.
    Tasks {
        #[arg(long, default_value = ".justice")]
        state: PathBuf,
        /// Count hours from this RFC 3339 time instead of the wall clock.
        #[arg(long, value_parser = parse_time)]
        now: Option<i64>,
        #[arg(long)]
        json: bool,
    },
    /// Write the risk report: one self-contained HTML page (summary, then each team's and
    /// account's risky resources with findings, pending tasks and a score chart).
    Report {
        /// Where to write the page; `-` for standard output.
        #[arg(short, long, default_value = "report.html")]
        output: PathBuf,
        /// One team's page (as its notices name it); every team's otherwise.
        #[arg(long)]
        team: Option<String>,
        #[arg(long, default_value = ".justice")]
        state: PathBuf,
        /// The policy the findings' fixes and the chart's thresholds come from.
        #[arg(long)]
        policy: Option<PathBuf>,
        /// The time to report at (RFC 3339): tasks' time left counts from it; the wall clock
        /// otherwise.
        #[arg(long, value_parser = parse_time)]
        now: Option<i64>,
        /// `local` (the store under --state) or `aws` (the table of --table, tasks.json and
        /// dockets of --bucket).
        #[arg(long, value_enum, default_value = "local")]
        backend: BackendKind,
        #[arg(long, env = "RISK_TABLE")]
        table: Option<String>,
        /// The bucket of tasks.json (with --backend aws).
        #[arg(long, env = "TASKS_BUCKET")]
        bucket: Option<String>,
        #[arg(long, default_value = "tasks.json")]
        tasks_key: String,
        /// The account → team mapping object in the bucket, if any.
        #[arg(long)]
        mapping_key: Option<String>,
        /// Read the dry-run board's verdicts (with --backend aws).
        #[arg(long)]
        dry_run: bool,
    },
    /// Show the findings and the score breakdown for the item(s) in one event.
    Explain {
        event: PathBuf,
        #[arg(long)]
        policy: Option<PathBuf>,
        /// Directory of recorded Config API items, to resolve an oversized notification.
        #[arg(long)]
        config_history: Option<PathBuf>,
        /// Print the risk state as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Validate a policy file.
    Policy {
        #[command(subcommand)]
        command: PolicyCommand,
    },
    /// List the rules: built-in, the engine's pack, and a policy's own.
    Rules {
        /// Also list this policy's written rules, and show its switches.
        #[arg(long)]
        policy: Option<PathBuf>,
        /// A markdown table (docs/rules.md and the README are generated from it).
        #[arg(long)]
        markdown: bool,
    },
}

/// What the job commands share.
#[derive(clap::Args)]
struct JobArgs {
    /// Directory of the local store.
    #[arg(long, default_value = ".justice")]
    state: PathBuf,
    /// Policy file (TOML); the embedded default otherwise.
    #[arg(long)]
    policy: Option<PathBuf>,
    /// The time to run at (RFC 3339); the wall clock otherwise.
    #[arg(long, value_parser = parse_time)]
    now: Option<i64>,
    /// Accounts the judge may write tasks for (12-digit ids, comma-separated).
    #[arg(long, value_delimiter = ',')]
    accounts: Option<Vec<String>>,
    /// Resources newly acted on per hour before verdicts are held.
    #[arg(long, default_value_t = 10)]
    blast_radius: u32,
    /// The job alone: no verdicts, no tasks.
    #[arg(long)]
    no_judge: bool,
}

impl JobArgs {
    fn options(self) -> Result<jobs::JobOptions, String> {
        for a in self.accounts.iter().flatten() {
            justice_core::identity::check_account("--accounts", a).map_err(|e| e.to_string())?;
        }
        Ok(jobs::JobOptions {
            policy: load_policy(self.policy.as_deref())?,
            now: self.now.unwrap_or_else(wall_clock),
            state: self.state,
            accounts: self.accounts,
            blast_per_hour: self.blast_radius,
            judge: !self.no_judge,
        })
    }
}

fn wall_clock() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum BackendKind {
    Local,
    Aws,
}

#[derive(Subcommand)]
enum PolicyCommand {
    /// Check a policy file: exit status 0 if valid, 1 with every error listed otherwise.
    Check { file: PathBuf },
    /// Print the embedded default policy.
    Default,
}

// One arm per command, each a call into its module: long, and flat.
fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Replay {
            inputs,
            state,
            policy,
            config_history,
            fresh,
            json,
            batch,
            backend,
            table,
            accounts,
            blast_radius,
            now,
            no_judge,
        } => load_policy(policy.as_deref()).and_then(|p| {
            // Krampus assumes its role in the account of each task: only real account ids.
            for a in accounts.iter().flatten() {
                justice_core::identity::check_account("--accounts", a)
                    .map_err(|e| e.to_string())?;
            }
            let backend = match (backend, table) {
                (BackendKind::Local, _) => replay::Backend::Local,
                (BackendKind::Aws, Some(table)) => replay::Backend::Aws { table },
                (BackendKind::Aws, None) => {
                    return Err("--backend aws needs --table (or RISK_TABLE)".to_owned())
                }
            };
            replay::run(&replay::Options {
                backend,
                inputs,
                state,
                policy: p,
                config_history,
                fresh,
                json,
                batch: batch as usize,
                accounts,
                blast_per_hour: blast_radius,
                now,
                judge: !no_judge,
            })
        }),
        Command::Tasks { state, now, json } => {
            judging::list_tasks(&state, now.unwrap_or_else(wall_clock), json)
        }
        Command::Rescore { job } => job.options().and_then(|o| jobs::rescore(&o)),
        Command::Reevaluate { job } => job.options().and_then(|o| jobs::reevaluate(&o)),
        Command::Backfill {
            config_history,
            types,
            job,
        } => job.options().and_then(|o| {
            let types = types.unwrap_or_else(justice_core::rules::backfill_types);
            jobs::backfill(&o, &config_history, &types)
        }),
        Command::Digest {
            state,
            now,
            window_hours,
            policy,
        } => load_policy(policy.as_deref())
            .and_then(|p| jobs::digest(&state, &p, now.unwrap_or_else(wall_clock), window_hours)),
        Command::Show {
            resource,
            state,
            policy,
            backend,
            table,
            json,
        } => load_policy(policy.as_deref()).and_then(|p| match (backend, table) {
            (BackendKind::Local, _) => {
                let store = replay::open_store(&state)?;
                jobs::show(&store, &resource, &p, json)
            }
            (BackendKind::Aws, Some(table)) => jobs::show_aws(&table, &resource, &p, json),
            (BackendKind::Aws, None) => Err("--backend aws needs --table (or RISK_TABLE)".into()),
        }),
        Command::Report {
            output,
            team,
            state,
            policy,
            now,
            backend,
            table,
            bucket,
            tasks_key,
            mapping_key,
            dry_run,
        } => load_policy(policy.as_deref()).and_then(|policy| {
            let source = match (backend, table, bucket) {
                (BackendKind::Local, _, _) => report::Source::Local { state },
                (BackendKind::Aws, Some(table), Some(bucket)) => report::Source::Aws {
                    table,
                    bucket,
                    tasks_key,
                    mapping_key,
                    dry_run,
                },
                (BackendKind::Aws, _, _) => {
                    return Err("--backend aws needs --table and --bucket".to_owned())
                }
            };
            report::run(
                &source,
                &report::Options {
                    policy,
                    now: now.unwrap_or_else(wall_clock),
                    team,
                    output,
                },
            )
        }),
        Command::Explain {
            event,
            policy,
            config_history,
            json,
        } => load_policy(policy.as_deref())
            .and_then(|p| replay::explain(&event, &p, config_history.as_deref(), json)),
        Command::Policy {
            command: PolicyCommand::Check { file },
        } => rules::check_policy(&file),
        Command::Policy {
            command: PolicyCommand::Default,
        } => {
            out::stdout_text(justice_core::policy::DEFAULT_POLICY);
            Ok(ExitCode::SUCCESS)
        }
        Command::Rules { policy, markdown } => load_policy(policy.as_deref()).map(|p| {
            rules::list(&p, markdown);
            ExitCode::SUCCESS
        }),
    };
    match result {
        Ok(code) => code,
        Err(message) => {
            note!("justice: {message}");
            ExitCode::from(2)
        }
    }
}

fn parse_time(s: &str) -> Result<i64, String> {
    justice_core::time::parse_rfc3339(s)
        .ok_or_else(|| format!("`{s}` is not an RFC 3339 time like 2026-11-26T12:00:00Z"))
}

fn load_policy(path: Option<&Path>) -> Result<Policy, String> {
    let Some(path) = path else {
        return Ok(Policy::default_policy());
    };
    let text = read_text(path)?;
    Policy::from_toml(&text).map_err(|e| {
        format!(
            "{}: policy refused: {}",
            path.display(),
            e.to_string().replace('\n', "; ")
        )
    })
}

/// A policy file: a regular file of UTF-8 text.
pub(crate) fn read_text(path: &Path) -> Result<String, String> {
    String::from_utf8(inputs::read_one(path)?)
        .map_err(|_| format!("{}: not UTF-8 text", path.display()))
}
