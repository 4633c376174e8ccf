//! The scorer Lambda function: AWS Config change events (and its jobs, by name) in, risk state
//! and history in DynamoDB. Wiring only: the core reads the event, `justice-service` scores
//! it and runs the jobs, `justice-aws` talks to AWS. Built once per cold start
//! ([`App::from_env`]) and called once per event ([`App::handle`]).

pub mod config;
mod job;

use justice_aws::lambda::{Error, Metrics, SqsDeadLetters};
use justice_aws::{AwsConfigSource, DynamoRiskStore};
use justice_core::event::parse_event;
use justice_service::{Clock, ConfigSource, EventReport, Job, RiskStore, Scorer, SystemClock};
use lambda_runtime::LambdaEvent;
use serde_json::value::RawValue;
use serde_json::{json, Value};

pub use config::{Config, ConfigError};
pub use justice_aws::PolicyProvider as PolicySource;

/// Everything built once per cold start.
pub struct App<S = DynamoRiskStore, C = AwsConfigSource, K = SystemClock> {
    pub store: S,
    pub source: C,
    pub policy: PolicySource,
    pub clock: K,
    pub config: Config,
    /// Where events that fail for good go at once (`DEAD_LETTER_QUEUE_URL`).
    pub dead_letters: Option<SqsDeadLetters>,
}

impl App {
    /// Clients from the environment's SDK configuration (`AWS_ENDPOINT_URL` honoured).
    pub async fn from_env(config: Config) -> Self {
        let aws = justice_aws::Clients::from_env().await;
        App {
            store: DynamoRiskStore::new(
                aws.dynamodb.clone(),
                config.table.clone(),
                config.history_ttl_days,
            ),
            source: AwsConfigSource::new(aws_sdk_config::Client::new(&aws.sdk))
                .through_aggregator(config.config_aggregator.clone()),
            policy: PolicySource::new(&aws.s3, config.policy.as_ref(), config.policy_revalidate),
            clock: SystemClock,
            dead_letters: aws.dead_letters(config.dead_letters.as_ref()),
            config,
        }
    }
}

impl<S: RiskStore, C: ConfigSource, K: Clock> App<S, C, K> {
    /// One invocation: a Config event (the hot path, read first) or a job.
    pub async fn handle(&self, event: LambdaEvent<Box<RawValue>>) -> Result<Value, Error> {
        let text = event.payload.get();
        let refused = match parse_event(text.as_bytes()) {
            Ok(records) => {
                let policy = self.policy.current().await?;
                let report = self
                    .scorer(&policy)
                    .score_event(records, &self.config.allowed_accounts)
                    .await;
                return self.answer(report, text).await;
            }
            Err(e) => e,
        };
        if let Some(job) = Job::from_payload(text) {
            return self.run_job(job, event.context.deadline).await;
        }
        // Neither a Config event nor a job: no retry reads it otherwise.
        tracing::error!(resource = %refused.subject, reason = %refused.reason, "refused event");
        let report = EventReport::refused(refused.subject, refused.reason);
        self.answer(report, text).await
    }

    pub(crate) fn scorer<'a>(&'a self, policy: &'a justice_core::Policy) -> Scorer<'a, S, C, K> {
        Scorer {
            store: &self.store,
            source: &self.source,
            policy,
            clock: &self.clock,
        }
    }

    /// The metrics, then: all records taken; or the event dead-lettered when no failure can
    /// pass on a retry (a queue that cannot be written makes it a retry); or an error, which
    /// Lambda retries (writes are idempotent) and then sends to its on-failure destination.
    async fn answer(&self, report: EventReport, raw: &str) -> Result<Value, Error> {
        let letter = report.dead_letter(raw);
        let dead_lettered = match SqsDeadLetters::take(self.dead_letters.as_ref(), letter).await {
            true => report.failures.len() as u64,
            false => 0,
        };
        for (level, n) in report.scored_by_level() {
            metrics()
                .dimension("Level", level)
                .count("ItemsScored", n)
                .emit();
        }
        metrics()
            .count("EventsIgnored", report.ignored())
            .count("EventsRefused", report.failures.len() as u64)
            .count("RecordsDeadLettered", dead_lettered)
            .emit();
        if report.failures.is_empty() || dead_lettered > 0 {
            Ok(json!({ "results": report.done, "dead_lettered": dead_lettered }))
        } else {
            Err(report.failure_message().into())
        }
    }
}

pub(crate) fn metrics() -> Metrics {
    Metrics::new().dimension("Function", "scorer")
}
