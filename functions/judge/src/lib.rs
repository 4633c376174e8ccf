//! The judge Lambda function: the risk table's stream in (STATE items), Krampus's
//! `tasks.json` and verdict records in S3 out. The core decides, `justice-service` sequences
//! the reads and writes, `justice-aws` talks to AWS; this crate decodes the trigger and
//! reports partial batch failures so one poison record does not block its shard.

pub mod config;

use aws_lambda_events::dynamodb::{Event, EventRecord};
use justice_aws::risk_store::{PK, SK, STATE_SK};
use justice_aws::{DynamoRiskStore, PolicyProvider, S3TaskBoard, SnsOutbox};
use justice_core::time::Millis;
use justice_core::ResourceKey;
use justice_service::{
    BatchReport, Change, DocketStore, Judge, JudgeSettings, Outbox, RiskStore, TaskBoard,
};
use lambda_runtime::LambdaEvent;
use serde_json::{json, Value};

pub use config::{Config, ConfigError};

pub type Error = Box<dyn std::error::Error + Send + Sync>;

/// Everything built once per cold start.
pub struct App<D = DynamoRiskStore, B = S3TaskBoard, O = SnsOutbox> {
    pub dockets: D,
    pub board: B,
    pub outbox: O,
    pub policy: PolicyProvider,
    pub settings: JudgeSettings,
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
            settings: settings(&config),
        }
    }
}

pub fn settings(config: &Config) -> JudgeSettings {
    JudgeSettings {
        dry_run: config.dry_run,
        accounts: config.allowed_accounts.clone(),
        blast_per_hour: config.blast_per_hour,
        max_attempts: config.max_attempts,
    }
}

/// A stream record that cannot be judged.
#[derive(Debug)]
pub struct Poison {
    pub id: String,
    pub reason: String,
}

/// The changes of a stream batch: STATE items only, images decoded with the store's mapping.
/// Records that cannot be decoded are returned apart, to be reported as failures.
pub fn changes(event: &Event) -> (Vec<Change>, Vec<Poison>) {
    let mut out = Vec::new();
    let mut poison = Vec::new();
    for (i, r) in event.records.iter().enumerate() {
        let id = r
            .change
            .sequence_number
            .clone()
            .unwrap_or_else(|| format!("record-{i}"));
        match change(r) {
            Ok(Some(c)) => out.push(Change { id, ..c }),
            Ok(None) => {}
            Err(reason) => poison.push(Poison { id, reason }),
        }
    }
    (out, poison)
}

fn change(r: &EventRecord) -> Result<Option<Change>, String> {
    let keys: Value = serde_dynamo::from_item(r.change.keys.clone())
        .map_err(|e| format!("unreadable keys: {e}"))?;
    let pk = keys.get(PK).and_then(Value::as_str).unwrap_or_default();
    let sk = keys.get(SK).and_then(Value::as_str).unwrap_or_default();
    if sk != STATE_SK {
        // The event source's filter sends STATE items only; anything else is not ours to judge.
        return Ok(None);
    }
    let key = ResourceKey::parse(pk).map_err(|e| {
        format!(
            "`{}` is not a resource key: {e}",
            justice_core::text::quote(pk, 300)
        )
    })?;
    let state = if r.event_name == "REMOVE" {
        None
    } else {
        let s = justice_aws::risk_store::state_from_image(&r.change.new_image, &key)
            .map_err(|e| format!("{key}: the new image is not a risk state: {e}"))?;
        Some(s)
    };
    Ok(Some(Change {
        id: String::new(),
        key,
        state,
    }))
}

impl<D: DocketStore + RiskStore, B: TaskBoard, O: Outbox> App<D, B, O> {
    /// One stream batch. Returns the `batchItemFailures` response; an error (the board or the
    /// dockets unreadable) fails the whole batch, which Lambda retries.
    pub async fn handle(&self, event: LambdaEvent<Value>) -> Result<Value, Error> {
        let event: Event = serde_json::from_value(event.payload)
            .map_err(|e| format!("not a DynamoDB stream event: {e}"))?;
        self.judge(&event, now()).await
    }

    pub async fn judge(&self, event: &Event, now: Millis) -> Result<Value, Error> {
        let (changes, poison) = changes(event);
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
        metrics(&report, poison.len(), self.settings.dry_run);
        // Lambda retries from the first failure reported; later records are judged again,
        // which is idempotent.
        let failures: Vec<Value> = poison
            .iter()
            .map(|p| p.id.clone())
            .chain(report.failed.iter().map(|(id, _)| id.clone()))
            .map(|id| json!({ "itemIdentifier": id }))
            .collect();
        Ok(json!({ "batchItemFailures": failures }))
    }
}

fn now() -> Millis {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as Millis)
}

/// One CloudWatch embedded-metric line per batch (namespace JusticeEngine).
fn metrics(r: &BatchReport, poison: usize, dry_run: bool) {
    let line = json!({
        "_aws": {
            "Timestamp": now(),
            "CloudWatchMetrics": [{
                "Namespace": "JusticeEngine",
                "Dimensions": [["Board"]],
                "Metrics": [
                    {"Name": "Verdicts", "Unit": "Count"},
                    {"Name": "TasksScheduled", "Unit": "Count"},
                    {"Name": "TasksWithdrawn", "Unit": "Count"},
                    {"Name": "VerdictsHeld", "Unit": "Count"},
                    {"Name": "JudgeFailures", "Unit": "Count"},
                    {"Name": "BoardConflicts", "Unit": "Count"}
                ]
            }]
        },
        "Board": if dry_run { "dry-run" } else { "live" },
        "Verdicts": r.verdicts,
        "TasksScheduled": r.scheduled,
        "TasksWithdrawn": r.withdrawn,
        "VerdictsHeld": r.held,
        "JudgeFailures": r.failed.len() + poison,
        "BoardConflicts": r.conflicts,
    });
    println!("{line}");
}
