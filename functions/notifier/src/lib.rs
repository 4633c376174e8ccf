//! The notifier Lambda function: S3 `ObjectCreated` events of verdict records in, one notice
//! per verdict out through SNS, once; and, on a schedule (`{"justice": "digest"}`), one digest
//! per team of the tasks still pending and the verdicts that wait on a person, and one to the
//! security team of what no automation will fix. Wiring only: `justice-aws` reads the event
//! and talks to AWS, `justice-service` writes the notices.

pub mod config;

use aws_lambda_events::s3::S3Event;
use justice_aws::lambda::{Error, Metrics};
use justice_aws::task_board::verdict_keys;
use justice_aws::{DynamoRiskStore, PolicyProvider, S3TaskBoard, SnsOutbox};
use justice_core::time::{self, Millis, HOUR_MS};
use justice_service::{
    Clock, DocketStore, Notified, Notifier, NotifierSettings, Outbox, SystemClock, TaskBoard,
};
use lambda_runtime::LambdaEvent;
use serde_json::{json, Value};

pub use config::{Config, ConfigError};

pub struct App<B = S3TaskBoard, O = SnsOutbox, D = DynamoRiskStore, K = SystemClock> {
    pub board: B,
    pub outbox: O,
    /// The judge's dockets: the open verdicts the digest lists.
    pub dockets: D,
    pub policy: PolicyProvider,
    pub settings: NotifierSettings,
    pub config: Config,
    pub clock: K,
}

impl App {
    pub async fn from_env(config: Config) -> Self {
        let sdk = justice_aws::sdk_config().await;
        let s3 = justice_aws::s3_client(&sdk);
        let dynamodb = aws_sdk_dynamodb::Client::new(&sdk);
        App {
            board: S3TaskBoard::new(
                s3.clone(),
                config.bucket.clone(),
                config.tasks_key.clone(),
                config.verdict_prefix.clone(),
                None,
            )
            .with_account_map(config.mapping_key.clone()),
            outbox: SnsOutbox::new(
                aws_sdk_sns::Client::new(&sdk),
                config.security_topic.clone(),
            )
            .with_owner_topic(config.owner_topic.clone())
            .with_sent_log(dynamodb.clone(), config.table.clone()),
            // The history TTL is the scorer's business: the notifier writes no history.
            dockets: DynamoRiskStore::new(dynamodb, config.table.clone(), 90),
            policy: PolicyProvider::new(&s3, config.policy.as_ref(), config.policy_revalidate),
            settings: config.settings(),
            config,
            clock: SystemClock,
        }
    }
}

impl<B: TaskBoard, O: Outbox, D: DocketStore, K: Clock> App<B, O, D, K> {
    pub async fn handle(&self, event: LambdaEvent<Value>) -> Result<Value, Error> {
        self.run(event.payload, self.clock.now(Millis::MIN)).await
    }

    /// A digest job or an S3 event, at `now`. A failed notice fails the invocation, which
    /// Lambda retries: notices already sent are in the sent log.
    pub async fn run(&self, payload: Value, now: Millis) -> Result<Value, Error> {
        let policy = self.policy.current().await?;
        let notifier = Notifier {
            board: &self.board,
            outbox: &self.outbox,
            settings: &self.settings,
        };
        if payload.get("justice").and_then(Value::as_str) == Some("digest") {
            let window_ms = i64::from(self.config.digest_window_hours) * HOUR_MS;
            let window = time::format_rfc3339(now.div_euclid(window_ms) * window_ms);
            let teams = notifier
                .digest(&self.dockets, self.config.dry_run, &window, now)
                .await?;
            tracing::info!(%window, teams = teams.len(), "digest sent");
            return Ok(json!({ "window": window, "teams": teams }));
        }
        let event: S3Event = serde_json::from_value(payload)
            .map_err(|e| format!("neither an S3 event nor a digest job: {e}"))?;
        let (mut out, mut failed) = (Vec::new(), Vec::new());
        for key in verdict_keys(&event, &self.config.verdict_prefix) {
            let key = match key {
                Ok(k) => k,
                Err(e) => {
                    failed.push(e.to_string());
                    continue;
                }
            };
            match notifier.notify(&key, &policy).await {
                Ok(n) => {
                    let (status, kind, team) = match &n {
                        Notified::Sent { kind, team } => ("sent", kind.as_str(), team.as_str()),
                        Notified::AlreadySent => ("already-sent", "", ""),
                        Notified::NoNotice => ("no-notice", "", ""),
                    };
                    tracing::info!(%key, status, kind, team, "verdict handled");
                    out.push(json!({ "key": key, "status": status, "kind": kind, "team": team }));
                }
                Err(e) => {
                    tracing::error!(%key, error = %e, "notice failed; left for retry");
                    failed.push(format!("{key}: {e}"));
                }
            }
        }
        let sent = out.iter().filter(|o| o["status"] == "sent").count() as u64;
        Metrics::new()
            .dimension("Function", "notifier")
            .count("NoticesSent", sent)
            .count("NoticeFailures", failed.len() as u64)
            .emit();
        match failed.len() {
            0 => Ok(json!({ "notices": out })),
            n => Err(format!("{n} verdict record(s) failed: {}", failed.join("; ")).into()),
        }
    }
}
