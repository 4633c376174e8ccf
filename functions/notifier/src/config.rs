//! The notifier's configuration, read once per cold start; a bad variable fails it by name.

use std::time::Duration;

pub use justice_aws::env::ConfigError;
use justice_aws::env::{Env, FromEnv};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// `TASKS_BUCKET`: verdict records, the account mapping, the sent log, tasks.json.
    pub bucket: String,
    /// `VERDICT_PREFIX` (`verdicts/`): only objects under it are read.
    pub verdict_prefix: String,
    /// The tasks file the digest reads: `TASKS_KEY` (`tasks.json`), or `DRY_RUN_TASKS_KEY`
    /// (`dry-run/tasks.json`) while `DRY_RUN` (true).
    pub tasks_key: String,
    /// `MAPPING_KEY`, optional: the account → team mapping (`mapping.json`).
    pub mapping_key: Option<String>,
    /// `RISK_TABLE`: the risk table, which holds the sent log.
    pub table: String,
    /// `OWNER_TOPIC_ARN`: the owner-notices topic (filter policies on its attributes).
    pub owner_topic: String,
    /// `TEAM_TOPIC_PREFIX`, optional: the name prefix of the topics the account mapping may
    /// send a team's notices to (in the owner topic's account and region; the role allows
    /// them). Without it, or for another topic, notices go to the owner topic.
    pub team_topic_prefix: Option<String>,
    /// `SECURITY_TOPIC_ARN`: held verdicts and errors.
    pub security_topic: String,
    /// `DEFAULT_TEAM` (`security`): the team of resources nothing else names.
    pub default_team: String,
    /// `SECURITY_CONTACT`: how owners reach the security team (shown in every notice).
    pub security_contact: String,
    /// `DRY_RUN` (true): which board's open verdicts the digest lists.
    pub dry_run: bool,
    /// `DIGEST_WINDOW_HOURS` (24): one digest per team per window.
    pub digest_window_hours: u32,
    /// `REPORT_PREFIX` (`reports/`): where the report pages go in the bucket (the bucket's
    /// lifecycle rule expires them).
    pub report_prefix: String,
    /// `REPORT_MAX_RESOURCES` (5000): the most resources the pages read (two reads each),
    /// those with a task or an open verdict first, so that the digest ends within the
    /// function's timeout; the page counts the rest.
    pub report_max_resources: usize,
    /// `POLICY_S3_URI`, optional; `POLICY_REVALIDATE_SECONDS` (300).
    pub policy: Option<(String, String)>,
    pub policy_revalidate: Duration,
    /// `DEAD_LETTER_QUEUE_URL`, optional: where verdict records whose notice fails for good
    /// go at once. Without it they are retried, as transient failures are.
    pub dead_letters: Option<String>,
}

impl Config {
    pub fn settings(&self) -> justice_service::NotifierSettings {
        justice_service::NotifierSettings {
            default_team: self.default_team.clone(),
            security_contact: self.security_contact.clone(),
        }
    }
}

impl FromEnv for Config {
    fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let env = Env(get);
        let dry_run = env.flag("DRY_RUN", true)?;
        let tasks_key = if dry_run {
            env.get("DRY_RUN_TASKS_KEY")
                .unwrap_or_else(|| "dry-run/tasks.json".into())
        } else {
            env.get("TASKS_KEY").unwrap_or_else(|| "tasks.json".into())
        };
        let window = env.number("DIGEST_WINDOW_HOURS", 24)?;
        if window == 0 || window > 24 * 7 {
            return Err(ConfigError {
                name: "DIGEST_WINDOW_HOURS",
                reason: "must be between 1 and 168".into(),
            });
        }
        let report_prefix = env
            .get("REPORT_PREFIX")
            .unwrap_or_else(|| "reports/".into());
        // A folder of its own: the pages never land on tasks.json, the verdict records or
        // the policy, whatever a team is called.
        if report_prefix.len() < 2
            || !report_prefix.ends_with('/')
            || report_prefix.starts_with('/')
            || report_prefix.split('/').any(|p| p == "." || p == "..")
        {
            return Err(ConfigError {
                name: "REPORT_PREFIX",
                reason: "must be a folder of the bucket, like `reports/`".into(),
            });
        }
        Ok(Config {
            dead_letters: env.get("DEAD_LETTER_QUEUE_URL"),
            bucket: env.required("TASKS_BUCKET")?,
            verdict_prefix: env
                .get("VERDICT_PREFIX")
                .unwrap_or_else(|| "verdicts/".into()),
            tasks_key,
            mapping_key: env.get("MAPPING_KEY"),
            table: env.required("RISK_TABLE")?,
            owner_topic: env.required("OWNER_TOPIC_ARN")?,
            team_topic_prefix: env.get("TEAM_TOPIC_PREFIX"),
            security_topic: env.required("SECURITY_TOPIC_ARN")?,
            default_team: env.get("DEFAULT_TEAM").unwrap_or_else(|| "security".into()),
            security_contact: env.required("SECURITY_CONTACT")?,
            dry_run,
            digest_window_hours: window as u32,
            report_prefix,
            report_max_resources: usize::try_from(env.number("REPORT_MAX_RESOURCES", 5000)?)
                .unwrap_or(usize::MAX),
            policy: env.s3_uri("POLICY_S3_URI")?,
            policy_revalidate: Duration::from_secs(env.number("POLICY_REVALIDATE_SECONDS", 300)?),
        })
    }
}
