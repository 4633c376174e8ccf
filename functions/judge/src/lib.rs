//! The judge Lambda function: the risk table's stream in (STATE items), Krampus's
//! `tasks.json` and verdict records in S3 out. Wiring only: `justice-aws` decodes the stream
//! and talks to AWS, `justice-service` judges, and the answer names the records to retry so
//! that one poison record does not block its shard.

pub mod config;
mod outcome;
mod rejudge;

use aws_lambda_events::dynamodb::Event;
use aws_lambda_events::streams::DynamoDbEventResponse;
use justice_aws::lambda::{Error, SqsDeadLetters};
use justice_aws::{stream, DynamoRiskStore, PolicyProvider, S3TaskBoard, SnsOutbox};
use justice_core::time::Millis;
use justice_service::{
    Clock, DocketStore, Judge, JudgeSettings, Outbox, RiskStore, SystemClock, TaskBoard,
};
use lambda_runtime::LambdaEvent;
use serde_json::value::RawValue;

pub use config::{Config, ConfigError};

/// Everything built once per cold start.
pub struct App<D = DynamoRiskStore, B = S3TaskBoard, O = SnsOutbox, K = SystemClock> {
    pub dockets: D,
    pub board: B,
    pub outbox: O,
    pub policy: PolicyProvider,
    pub settings: JudgeSettings,
    pub clock: K,
    /// Where records that fail for good go at once (`DEAD_LETTER_QUEUE_URL`).
    pub dead_letters: Option<SqsDeadLetters>,
}

impl App {
    pub async fn from_env(config: Config) -> Self {
        let aws = justice_aws::Clients::from_env().await;
        App {
            dockets: DynamoRiskStore::new(aws.dynamodb.clone(), config.table.clone(), 0),
            board: S3TaskBoard::new(
                aws.s3.clone(),
                config.bucket.clone(),
                config.board_key(),
                config.verdict_prefix.clone(),
                config.whitelist_key.clone(),
            ),
            // The sent log: each tasks.json hazard is reported once.
            outbox: SnsOutbox::new(
                aws_sdk_sns::Client::new(&aws.sdk),
                config.security_topic.clone(),
            )
            .with_sent_log(aws.dynamodb.clone(), config.table.clone()),
            policy: PolicyProvider::new(&aws.s3, config.policy.as_ref(), config.policy_revalidate),
            settings: config.settings(),
            clock: SystemClock,
            dead_letters: aws.dead_letters(config.dead_letters.as_ref()),
        }
    }
}

impl<D: DocketStore + RiskStore, B: TaskBoard, O: Outbox, K: Clock> App<D, B, O, K> {
    /// One stream batch, or a redrive of a dead letter (`{"justice": "rejudge", "keys": […]}`),
    /// judged now.
    pub async fn handle(
        &self,
        event: LambdaEvent<Box<RawValue>>,
    ) -> Result<DynamoDbEventResponse, Error> {
        let now = self.clock.now(Millis::MIN);
        let text = event.payload.get();
        if let Some(keys) = rejudge::keys(text) {
            return self.rejudge(&keys, now).await;
        }
        let event: Event = serde_json::from_str(text)
            .map_err(|e| format!("neither a stream batch nor a redrive: {e}"))?;
        self.judge(&event, now).await
    }

    /// One stream batch, judged at `now`. A failure that may pass later (the board throttled,
    /// a race lost) is retried: the whole batch when nothing could be decided, else the
    /// records that failed. A batch whose every failure is permanent (an undecodable record,
    /// a bucket denied) goes to the dead-letter queue at once, as the resources to judge
    /// again.
    pub async fn judge(&self, event: &Event, now: Millis) -> Result<DynamoDbEventResponse, Error> {
        let (changes, poison) = stream::changes(event);
        let failures = poison.into_iter().map(Into::into).collect();
        self.decide(changes, failures, now).await
    }

    pub(crate) fn service(&self) -> Judge<'_, B, D, O> {
        Judge {
            board: &self.board,
            dockets: &self.dockets,
            outbox: &self.outbox,
            settings: &self.settings,
        }
    }
}
