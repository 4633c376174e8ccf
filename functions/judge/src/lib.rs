//! The judge Lambda function: the risk table's stream in (STATE items), Krampus's
//! `tasks.json` and verdict records in S3 out. Wiring only: `justice-aws` decodes the stream
//! and talks to AWS, `justice-service` judges, and the answer names the records to retry so
//! that one poison record does not block its shard.

pub mod config;

use aws_lambda_events::dynamodb::Event;
use aws_lambda_events::streams::DynamoDbEventResponse;
use justice_aws::lambda::{Error, Metrics};
use justice_aws::{docket_store, stream, DynamoRiskStore, PolicyProvider, S3TaskBoard, SnsOutbox};
use justice_core::time::Millis;
use justice_service::{
    Clock, DocketStore, Judge, JudgeSettings, Outbox, RiskStore, SystemClock, TaskBoard,
};
use lambda_runtime::LambdaEvent;

pub use config::{Config, ConfigError};

/// Everything built once per cold start.
pub struct App<D = DynamoRiskStore, B = S3TaskBoard, O = SnsOutbox, K = SystemClock> {
    pub dockets: D,
    pub board: B,
    pub outbox: O,
    pub policy: PolicyProvider,
    pub settings: JudgeSettings,
    pub clock: K,
}

impl App {
    pub async fn from_env(config: Config) -> Self {
        let sdk = justice_aws::sdk_config().await;
        let s3 = justice_aws::s3_client(&sdk);
        let dynamodb = aws_sdk_dynamodb::Client::new(&sdk);
        App {
            dockets: DynamoRiskStore::new(dynamodb.clone(), config.table.clone(), 0),
            board: S3TaskBoard::new(
                s3.clone(),
                config.bucket.clone(),
                config.board_key(),
                config.verdict_prefix.clone(),
                config.whitelist_key.clone(),
            ),
            // The sent log: each tasks.json hazard is reported once.
            outbox: SnsOutbox::new(
                aws_sdk_sns::Client::new(&sdk),
                config.security_topic.clone(),
            )
            .with_sent_log(dynamodb, config.table.clone()),
            policy: PolicyProvider::new(&s3, config.policy.as_ref(), config.policy_revalidate),
            settings: config.settings(),
            clock: SystemClock,
        }
    }
}

impl<D: DocketStore + RiskStore, B: TaskBoard, O: Outbox, K: Clock> App<D, B, O, K> {
    /// One stream batch, judged now.
    pub async fn handle(&self, event: LambdaEvent<Event>) -> Result<DynamoDbEventResponse, Error> {
        self.judge(&event.payload, self.clock.now(Millis::MIN))
            .await
    }

    /// One stream batch, judged at `now`. An error (the board or the dockets unreadable)
    /// fails the whole batch, which Lambda retries.
    pub async fn judge(&self, event: &Event, now: Millis) -> Result<DynamoDbEventResponse, Error> {
        let (changes, poison) = stream::changes(event);
        for p in &poison {
            tracing::error!(record = %p.id, reason = %p.reason, "stream record cannot be judged");
        }
        let policy = self.policy.current().await?;
        let judge = Judge {
            board: &self.board,
            dockets: &self.dockets,
            outbox: &self.outbox,
            settings: &self.settings,
        };
        let report = judge.judge(&changes, &policy, now).await?;
        for (id, reason) in &report.failed {
            tracing::error!(record = %id, %reason, "judging failed; left for retry");
        }
        Metrics::new()
            .dimension("Board", docket_store::board(self.settings.dry_run))
            .count("Verdicts", report.verdicts as u64)
            .count("TasksScheduled", report.scheduled as u64)
            .count("TasksWithdrawn", report.withdrawn as u64)
            .count("VerdictsHeld", report.held as u64)
            .count("JudgeFailures", (report.failed.len() + poison.len()) as u64)
            .count("BoardConflicts", report.conflicts as u64)
            .emit();
        let failed = poison.iter().map(|p| p.id.as_str());
        Ok(stream::response(
            failed.chain(report.failed.iter().map(|(id, _)| id.as_str())),
        ))
    }
}
