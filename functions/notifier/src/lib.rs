//! The notifier Lambda function: S3 `ObjectCreated` events of verdict records in, one notice
//! per verdict out through SNS, once; and, on a schedule (`{"justice": "digest"}`), one digest
//! per team of the tasks still pending and the verdicts that wait on a person, and one to the
//! security team of what no automation will fix. Wiring only: `justice-aws` reads the event
//! and talks to AWS, `justice-service` writes the notices.

pub mod config;

use aws_lambda_events::s3::S3Event;
use justice_aws::lambda::{Error, Metrics, SqsDeadLetters};
use justice_aws::task_board::verdict_keys;
use justice_aws::{DynamoRiskStore, PolicyProvider, S3ReportShelf, S3TaskBoard, SnsOutbox};
use justice_core::policy::Policy;
use justice_core::time::{self, Millis, HOUR_MS};
use justice_service::failure::{dead_letter, failure_message};
use justice_service::report::{self, ReportShelf};
use justice_service::{
    read_board, BoardView, Clock, DocketStore, Notifier, NotifierSettings, Outbox, RecordFailure,
    RiskStore, SecurityAlert, SystemClock, TaskBoard,
};
use lambda_runtime::LambdaEvent;
use serde::Deserialize;
use serde_json::{json, Value};

pub use config::{Config, ConfigError};

pub struct App<
    B = S3TaskBoard,
    O = SnsOutbox,
    D = DynamoRiskStore,
    K = SystemClock,
    P = S3ReportShelf,
> {
    pub board: B,
    pub outbox: O,
    /// The risk table: the judge's dockets (the open verdicts the digest lists), and the
    /// states and histories the report pages show.
    pub dockets: D,
    /// Where each team's report page goes (`REPORT_PREFIX` of the bucket).
    pub pages: P,
    pub policy: PolicyProvider,
    pub settings: NotifierSettings,
    pub config: Config,
    pub clock: K,
    /// Where verdict records whose notice fails for good go at once (`DEAD_LETTER_QUEUE_URL`).
    pub dead_letters: Option<SqsDeadLetters>,
}

impl App {
    pub async fn from_env(config: Config) -> Self {
        let aws = justice_aws::Clients::from_env().await;
        App {
            board: S3TaskBoard::new(
                aws.s3.clone(),
                config.bucket.clone(),
                config.tasks_key.clone(),
                config.verdict_prefix.clone(),
                None,
            )
            .with_account_map(config.mapping_key.clone()),
            outbox: SnsOutbox::new(
                aws_sdk_sns::Client::new(&aws.sdk),
                config.security_topic.clone(),
            )
            .with_owner_topic(config.owner_topic.clone())
            .with_team_topics(config.team_topic_prefix.clone())
            .with_sent_log(aws.dynamodb.clone(), config.table.clone()),
            // The history TTL is the scorer's business: the notifier writes no history.
            dockets: DynamoRiskStore::new(aws.dynamodb.clone(), config.table.clone(), 90),
            pages: S3ReportShelf::new(
                aws.s3.clone(),
                config.bucket.clone(),
                config.report_prefix.clone(),
            ),
            policy: PolicyProvider::new(&aws.s3, config.policy.as_ref(), config.policy_revalidate),
            settings: config.settings(),
            dead_letters: aws.dead_letters(config.dead_letters.as_ref()),
            config,
            clock: SystemClock,
        }
    }
}

impl<B: TaskBoard, O: Outbox, D: DocketStore + RiskStore, K: Clock, P: ReportShelf>
    App<B, O, D, K, P>
{
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
            return self.digest(&notifier, &policy, now).await;
        }
        let (out, failures) = match S3Event::deserialize(&payload) {
            Ok(event) => {
                let keys = verdict_keys(&event, &self.config.verdict_prefix);
                notifier.notify_keys(keys, &policy).await
            }
            Err(e) => (
                Vec::new(),
                vec![RecordFailure::permanent(
                    "event",
                    format!("neither an S3 event nor a digest job: {e}"),
                )],
            ),
        };
        let letter = dead_letter(&failures, payload);
        let dead = SqsDeadLetters::take(self.dead_letters.as_ref(), letter).await;
        let sent = out.iter().filter(|o| o.status == "sent").count() as u64;
        Metrics::new()
            .dimension("Function", "notifier")
            .count("NoticesSent", sent)
            .count("NoticeFailures", failures.len() as u64)
            .count(
                "NoticesDeadLettered",
                if dead { failures.len() as u64 } else { 0 },
            )
            .emit();
        if failures.is_empty() || dead {
            return Ok(
                json!({ "notices": out, "dead_lettered": if dead { failures.len() } else { 0 } }),
            );
        }
        Err(failure_message(&failures).into())
    }

    /// The window's report pages, then its digests, from one read of the board. A failure of
    /// the pages costs the links, never the digests: they warn owners before Krampus acts, and
    /// a retry would redo every read for the same failure.
    async fn digest(
        &self,
        notifier: &Notifier<'_, B, O>,
        policy: &Policy,
        now: Millis,
    ) -> Result<Value, Error> {
        let window_ms = i64::from(self.config.digest_window_hours) * HOUR_MS;
        let window = time::format_rfc3339(now.div_euclid(window_ms) * window_ms);
        let view = read_board(&self.board, &self.dockets, self.config.dry_run).await?;
        let pages = match self.pages(&view, policy, &window, window_ms, now).await {
            Ok(pages) => Some(pages),
            Err(e) => {
                tracing::error!(error = %e, "report pages not stored: the digests go without links");
                self.outbox
                    .alert_security(&SecurityAlert {
                        subject: "[Justice Engine] report pages could not be stored".into(),
                        body: format!(
                            "The digests of window {window} were sent without their report links: {e}\n"
                        ),
                    })
                    .await?;
                None
            }
        };
        let teams = notifier.digest(&view, &window, now, pages.as_ref()).await?;
        let stored = pages
            .as_ref()
            .map_or(0, |p| p.teams.len() + usize::from(p.estate.is_some()));
        tracing::info!(%window, teams = teams.len(), pages = stored, "digest sent");
        Ok(json!({ "window": window, "teams": teams, "pages": stored }))
    }

    /// Every team's report page and the estate's, stored for the window.
    async fn pages(
        &self,
        view: &BoardView,
        policy: &Policy,
        window: &str,
        window_ms: Millis,
        now: Millis,
    ) -> Result<report::Pages, justice_service::NotifyError> {
        let gathered = report::gather(
            &self.dockets,
            view,
            policy,
            &self.settings.default_team,
            now,
            self.config.report_max_resources,
        )
        .await?;
        for why in &gathered.unreadable {
            tracing::error!(error = %why, "resource left out of the report pages");
        }
        Ok(report::publish(&self.pages, &gathered, policy, window, window_ms, now).await?)
    }
}
