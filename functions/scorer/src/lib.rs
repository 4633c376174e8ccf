//! The scorer Lambda function: AWS Config change events in, risk state and history in
//! DynamoDB. A thin shell: the core parses and decides, `justice-service` sequences the
//! store's reads and writes, `justice-aws` talks to AWS. Built once per cold start
//! ([`App::new`]) and called once per event ([`App::handle`]).

pub mod config;
pub mod metrics;

use std::time::Instant;

use justice_aws::{AwsConfigSource, DynamoRiskStore};
use justice_core::event::{parse_event, Notice, RecordResult};
use justice_core::time::Millis;
use justice_core::Policy;
use justice_service::jobs::{self, BackfillCursor};
use justice_service::{Clock, ConfigSource, Outcome, RiskStore, Scorer, SystemClock};
use lambda_runtime::LambdaEvent;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::{json, Value};

pub use config::{Config, ConfigError};
use metrics::Counts;

pub type Error = Box<dyn std::error::Error + Send + Sync>;

/// States read per page of a re-evaluation (a Scan page in AWS).
const REEVALUATE_PAGE: usize = 500;

pub use justice_aws::PolicyProvider as PolicySource;

/// Everything built once per cold start.
pub struct App<S = DynamoRiskStore, C = AwsConfigSource, K = SystemClock> {
    pub store: S,
    pub source: C,
    pub policy: PolicySource,
    pub clock: K,
    pub config: Config,
    /// Where records that fail for good go at once (`DEAD_LETTER_QUEUE_URL`).
    pub dead_letters: Option<DeadLetters>,
}

/// The scorer's dead-letter queue, written by the function itself for the failures no retry
/// can fix, so that they reach a person (the queue's alarm) without two useless retries.
pub struct DeadLetters {
    pub client: aws_sdk_sqs::Client,
    pub url: String,
}

impl DeadLetters {
    async fn send(&self, body: String) -> Result<(), Error> {
        self.client
            .send_message()
            .queue_url(&self.url)
            .message_body(body)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| {
                format!(
                    "SQS SendMessage to the dead-letter queue: {}",
                    aws_smithy_types::error::display::DisplayErrorContext(&e)
                )
                .into()
            })
    }
}

impl App {
    /// Clients from the environment's SDK configuration (`AWS_ENDPOINT_URL` honoured).
    pub async fn from_env(config: Config) -> Self {
        let sdk = justice_aws::sdk_config().await;
        let policy = PolicySource::new(
            &justice_aws::s3_client(&sdk),
            config.policy.as_ref(),
            config.policy_revalidate,
        );
        App {
            store: DynamoRiskStore::new(
                aws_sdk_dynamodb::Client::new(&sdk),
                config.table.clone(),
                config.history_ttl_days,
            ),
            source: AwsConfigSource::new(aws_sdk_config::Client::new(&sdk)),
            policy,
            clock: SystemClock,
            dead_letters: config.dead_letters.clone().map(|url| DeadLetters {
                client: aws_sdk_sqs::Client::new(&sdk),
                url,
            }),
            config,
        }
    }
}

/// A scheduled or manual job, told apart from Config events by its `justice` member.
#[derive(Debug, Deserialize)]
#[serde(tag = "justice", rename_all = "lowercase", deny_unknown_fields)]
enum Job {
    Rescore {
        #[serde(default)]
        limit: Option<usize>,
    },
    Backfill {
        #[serde(default)]
        resource_types: Option<Vec<String>>,
        #[serde(default)]
        cursor: Option<BackfillCursor>,
        #[serde(default)]
        max_pages: Option<usize>,
    },
    /// After a policy change: every state evaluated with another policy, again.
    Reevaluate {
        #[serde(default)]
        max_pages: Option<usize>,
    },
}

#[derive(Deserialize)]
struct JobProbe {
    justice: Option<Value>,
}

/// One notification that could not be scored, named for the log and the error.
#[derive(Debug, Serialize)]
struct Failure {
    record: usize,
    resource: String,
    reason: String,
    transient: bool,
}

impl<S: RiskStore, C: ConfigSource, K: Clock> App<S, C, K> {
    /// One invocation. A Config event whose records all fail for good (bad input, access
    /// denied, a missing table) goes to the dead-letter queue at once; one with a failure that
    /// may pass later fails the invocation (after every record was tried) so that Lambda's
    /// retries and the on-failure destination keep it. Redelivery is harmless: writes are
    /// idempotent.
    pub async fn handle(&self, event: LambdaEvent<Box<RawValue>>) -> Result<Value, Error> {
        let text = event.payload.get();
        // Config events are the hot path: read them first; only a payload that is not one is
        // looked at as a job.
        let e = match parse_event(text.as_bytes()) {
            Ok(records) => return self.config_event(records, text).await,
            Err(e) => e,
        };
        if let Ok(JobProbe { justice: Some(_) }) = serde_json::from_str::<JobProbe>(text) {
            let job: Job = serde_json::from_str(text).map_err(|e| {
                tracing::error!(reason = %e, "refused job");
                format!("job: {e}")
            })?;
            return self.job(job).await;
        }
        tracing::error!(resource = %e.subject, reason = %e.reason, "refused event");
        Counts {
            refused: 1,
            ..Counts::default()
        }
        .publish("scorer");
        Err(format!("refused event: {e}").into())
    }

    /// Why an account's resources may not be scored, if they may not.
    fn foreign(&self, account: &str) -> Option<String> {
        let allowed = self.config.allowed_accounts.iter().any(|a| a == account);
        (!allowed).then(|| format!("account {account} is not in ALLOWED_ACCOUNTS"))
    }

    fn scorer<'a>(&'a self, policy: &'a Policy) -> Scorer<'a, S, C, K> {
        Scorer {
            store: &self.store,
            source: &self.source,
            policy,
            clock: &self.clock,
        }
    }

    async fn config_event(&self, records: Vec<RecordResult>, raw: &str) -> Result<Value, Error> {
        let started = Instant::now();
        let policy = self.policy.current().await?;
        let scorer = self.scorer(&policy);
        let mut counts = Counts::default();
        let mut failures = Vec::new();
        let mut results = Vec::new();
        for (i, record) in records.into_iter().enumerate() {
            let notice = match record {
                Ok(n) => n,
                Err(e) => {
                    failures.push(Failure {
                        record: i,
                        resource: e.subject,
                        reason: e.reason,
                        transient: false,
                    });
                    continue;
                }
            };
            let (label, refusal) = match &notice {
                Notice::Item { item, .. } => (item.label(), self.foreign(&item.account)),
                Notice::Oversized(s) => (s.label(), self.foreign(&s.account)),
                Notice::Ignored { .. } => (String::new(), None),
            };
            if let Some(reason) = refusal {
                failures.push(Failure {
                    record: i,
                    resource: label,
                    reason,
                    transient: false,
                });
                continue;
            }
            let item_started = Instant::now();
            match scorer.handle(notice).await {
                Ok(Outcome::Scored { state, written }) => {
                    tracing::info!(
                        resource = %state.key,
                        score = state.score,
                        level = %state.level,
                        written,
                        duration_ms = item_started.elapsed().as_secs_f64() * 1e3,
                        "scored"
                    );
                    *counts
                        .scored_by_level
                        .entry(state.level.as_str())
                        .or_default() += 1;
                    results.push(json!({"resource": state.key, "score": state.score, "level": state.level, "written": written}));
                }
                Ok(Outcome::Ignored { reason }) => {
                    tracing::info!(%reason, "ignored");
                    counts.ignored += 1;
                    results.push(json!({"ignored": reason}));
                }
                Err(e) => failures.push(Failure {
                    record: i,
                    resource: label,
                    transient: e.is_transient(),
                    reason: e.to_string(),
                }),
            }
        }
        for f in &failures {
            tracing::error!(record = f.record, resource = %f.resource, reason = %f.reason, transient = f.transient, "refused record");
        }
        counts.refused += failures.len() as u64;
        // An event whose failures no retry can fix goes to the dead-letter queue now, with the
        // event to redrive it from. An event with a transient failure too is retried whole (its
        // permanent failures reach Lambda's dead-letter queue with it): dead-lettered once, not
        // at every attempt. A queue that cannot be written makes every failure a retry.
        let all_permanent = !failures.is_empty() && failures.iter().all(|f| !f.transient);
        let mut dead_lettered = 0;
        if let (Some(dl), true) = (&self.dead_letters, all_permanent) {
            let body = json!({
                "failures": failures.iter().map(|f| json!({
                    "record": f.record, "resource": f.resource, "reason": f.reason,
                })).collect::<Vec<_>>(),
                // The event as received, to redrive (invoke the function with it); its text
                // when it does not parse back.
                "event": serde_json::from_str::<Value>(raw)
                    .unwrap_or_else(|_| Value::String(raw.to_owned())),
            });
            match dl.send(body.to_string()).await {
                Ok(()) => dead_lettered = failures.len(),
                Err(e) => {
                    tracing::error!(reason = %e, "dead-letter queue not written: the event is retried")
                }
            }
        }
        counts.dead_lettered = dead_lettered as u64;
        let tried = failures.len() + results.len();
        if dead_lettered > 0 {
            failures.clear();
        }
        counts.publish("scorer");
        tracing::info!(
            duration_ms = started.elapsed().as_secs_f64() * 1e3,
            scored = results.len(),
            refused = failures.len(),
            "event done"
        );
        if failures.is_empty() {
            Ok(json!({ "results": results, "dead_lettered": dead_lettered }))
        } else {
            let list: Vec<String> = failures
                .iter()
                .map(|f| format!("record {}: {}: {}", f.record, f.resource, f.reason))
                .collect();
            Err(format!(
                "{} of {} records failed (the others were scored): {}",
                failures.len(),
                tried,
                list.join("; ")
            )
            .into())
        }
    }

    async fn job(&self, job: Job) -> Result<Value, Error> {
        let policy = self.policy.current().await?;
        let scorer = self.scorer(&policy);
        match job {
            Job::Rescore { limit } => {
                let now = self.clock.now(Millis::MIN);
                let min_age = self.config.rescore_min_age.as_millis() as Millis;
                let report = scorer
                    .rescore(
                        now,
                        now - min_age,
                        limit.unwrap_or(self.config.rescore_limit),
                    )
                    .await?;
                let counts = Counts {
                    rescored: report.visited as u64,
                    refused: report.failed.len() as u64,
                    ..Counts::default()
                };
                counts.publish("scorer");
                for e in &report.failed {
                    tracing::error!(reason = %e, "re-score failed");
                }
                tracing::info!(
                    visited = report.visited,
                    changed = report.changed,
                    "re-score done"
                );
                let out = json!({"rescored": report.visited, "changed": report.changed, "failed": report.failed.len()});
                if report.failed.is_empty() {
                    Ok(out)
                } else {
                    Err(format!("re-score: {} states failed: {out}", report.failed.len()).into())
                }
            }
            Job::Backfill {
                resource_types,
                cursor,
                max_pages,
            } => {
                let types = resource_types.unwrap_or_else(|| self.config.backfill_types.clone());
                let max_pages = max_pages.unwrap_or(self.config.backfill_max_pages);
                let report =
                    jobs::backfill(&scorer, &types, cursor, max_pages, |a| self.foreign(a)).await?;
                tracing::info!(
                    done = report.done,
                    scored = report.scored,
                    refused = report.refused.len(),
                    "back-fill"
                );
                Ok(serde_json::to_value(&report)?)
            }
            Job::Reevaluate { max_pages } => {
                let now = self.clock.now(Millis::MIN);
                let report = jobs::reevaluate(
                    &scorer,
                    now,
                    REEVALUATE_PAGE,
                    max_pages.unwrap_or(self.config.backfill_max_pages),
                )
                .await?;
                tracing::info!(
                    policy = %report.policy,
                    done = report.done,
                    visited = report.visited,
                    reevaluated = report.reevaluated,
                    changed = report.changed,
                    failed = report.failed.len(),
                    "re-evaluation"
                );
                Counts {
                    rescored: report.reevaluated as u64,
                    refused: report.failed.len() as u64,
                    ..Counts::default()
                }
                .publish("scorer");
                let out = serde_json::to_value(&report)?;
                if report.failed.is_empty() {
                    Ok(out)
                } else {
                    Err(format!(
                        "re-evaluation: {} states failed: {out}",
                        report.failed.len()
                    )
                    .into())
                }
            }
        }
    }
}
