//! The notifier Lambda function: S3 `ObjectCreated` events of verdict records in, one notice
//! per verdict out through SNS, once; and, on a schedule (`{"justice": "digest"}`), one digest
//! per team of the tasks still pending and the verdicts that wait on a person, and one to the
//! security team of what no automation will fix.

pub mod config;

use aws_lambda_events::s3::S3Event;
use justice_aws::{DynamoRiskStore, PolicyProvider, S3TaskBoard, SnsOutbox};
use justice_core::time::{self, Millis, HOUR_MS};
use justice_service::{DocketStore, Notified, Notifier, NotifierSettings, Outbox, TaskBoard};
use lambda_runtime::LambdaEvent;
use serde_json::{json, Value};

pub use config::{Config, ConfigError};

pub type Error = Box<dyn std::error::Error + Send + Sync>;

pub struct App<B = S3TaskBoard, O = SnsOutbox, D = DynamoRiskStore> {
    pub board: B,
    pub outbox: O,
    /// The judge's dockets: the open verdicts the digest lists.
    pub dockets: D,
    pub policy: PolicyProvider,
    pub settings: NotifierSettings,
    pub config: Config,
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
            settings: settings(&config),
            config,
        }
    }
}

pub fn settings(config: &Config) -> NotifierSettings {
    NotifierSettings {
        default_team: config.default_team.clone(),
        security_contact: config.security_contact.clone(),
    }
}

/// An S3 event key as it arrives: URL-encoded, with `+` for spaces.
pub fn decode_key(key: &str) -> Result<String, String> {
    percent_encoding::percent_decode_str(&key.replace('+', " "))
        .decode_utf8()
        .map(|k| k.into_owned())
        .map_err(|e| format!("key `{key}` is not URL-encoded UTF-8: {e}"))
}

impl<B: TaskBoard, O: Outbox, D: DocketStore> App<B, O, D> {
    pub async fn handle(&self, event: LambdaEvent<Value>) -> Result<Value, Error> {
        self.run(event.payload, now()).await
    }

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
        let mut out = Vec::new();
        let mut failed = Vec::new();
        for r in &event.records {
            let Some(raw) = r.s3.object.key.as_deref() else {
                failed.push("a record without an object key".to_owned());
                continue;
            };
            let key = match decode_key(raw) {
                Ok(k) => k,
                Err(e) => {
                    failed.push(e);
                    continue;
                }
            };
            if !key.starts_with(&self.config.verdict_prefix) || !key.ends_with(".json") {
                tracing::warn!(%key, "not a verdict record; ignored");
                continue;
            }
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
        if !failed.is_empty() {
            // Lambda retries the event; notices already sent are in the sent log.
            return Err(format!(
                "{} verdict record(s) failed: {}",
                failed.len(),
                failed.join("; ")
            )
            .into());
        }
        Ok(json!({ "notices": out }))
    }
}

fn now() -> Millis {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as Millis)
}
