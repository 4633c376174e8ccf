//! The judge's configuration, read once per cold start; a bad variable fails it by name.

use std::time::Duration;

pub use justice_aws::env::ConfigError;
use justice_aws::env::{Env, FromEnv};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// `RISK_TABLE`: the risk table (dockets and the budget live there too).
    pub table: String,
    /// `ALLOWED_ACCOUNTS`: the only accounts tasks are ever written for.
    pub allowed_accounts: Vec<String>,
    /// `TASKS_BUCKET`: Krampus's bucket (tasks, verdict records, allow-list).
    pub bucket: String,
    /// `TASKS_KEY` (`tasks.json`): the key Krampus reads.
    pub tasks_key: String,
    /// `DRY_RUN` (true): tasks go to `DRY_RUN_TASKS_KEY`, never to `TASKS_KEY`.
    pub dry_run: bool,
    /// `DRY_RUN_TASKS_KEY` (`dry-run/tasks.json`).
    pub dry_run_tasks_key: String,
    /// `VERDICT_PREFIX` (`verdicts/`).
    pub verdict_prefix: String,
    /// `WHITELIST_KEY`, optional: Krampus's allow-list in the same bucket.
    pub whitelist_key: Option<String>,
    /// `BLAST_RADIUS_PER_HOUR` (10): resources newly acted on per clock hour, across all judges.
    pub blast_per_hour: u32,
    /// `SECURITY_TOPIC_ARN`: where holds are reported.
    pub security_topic: String,
    /// `POLICY_S3_URI`, optional; `POLICY_REVALIDATE_SECONDS` (300).
    pub policy: Option<(String, String)>,
    pub policy_revalidate: Duration,
    /// `BOARD_MAX_ATTEMPTS` (8): conditional writes of tasks.json per batch before retrying it.
    pub max_attempts: u32,
    /// `DEAD_LETTER_QUEUE_URL`, optional: where stream records that fail for good go at once
    /// (the event source's on-failure queue). Without it they are retried, as transient
    /// failures are, until the event source gives up on them.
    pub dead_letters: Option<String>,
}

impl FromEnv for Config {
    fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let env = Env(get);
        let small = |name: &'static str, v: u64| {
            u32::try_from(v).map_err(|_| ConfigError {
                name,
                reason: "is too large".into(),
            })
        };
        let tasks_key = env.get("TASKS_KEY").unwrap_or_else(|| "tasks.json".into());
        let dry_run_tasks_key = env
            .get("DRY_RUN_TASKS_KEY")
            .unwrap_or_else(|| "dry-run/tasks.json".into());
        if dry_run_tasks_key == tasks_key {
            return Err(ConfigError {
                name: "DRY_RUN_TASKS_KEY",
                reason: "must differ from TASKS_KEY: a dry run never writes Krampus's file".into(),
            });
        }
        let verdict_prefix = env
            .get("VERDICT_PREFIX")
            .unwrap_or_else(|| "verdicts/".into());
        if !verdict_prefix.ends_with('/') {
            return Err(ConfigError {
                name: "VERDICT_PREFIX",
                reason: format!("`{verdict_prefix}` must end with /"),
            });
        }
        Ok(Config {
            table: env.required("RISK_TABLE")?,
            allowed_accounts: env.accounts("ALLOWED_ACCOUNTS")?,
            bucket: env.required("TASKS_BUCKET")?,
            tasks_key,
            dry_run: env.flag("DRY_RUN", true)?,
            dry_run_tasks_key,
            verdict_prefix,
            whitelist_key: env.get("WHITELIST_KEY"),
            dead_letters: env.get("DEAD_LETTER_QUEUE_URL"),
            blast_per_hour: small(
                "BLAST_RADIUS_PER_HOUR",
                env.number("BLAST_RADIUS_PER_HOUR", 10)?,
            )?,
            security_topic: env.required("SECURITY_TOPIC_ARN")?,
            policy: env.s3_uri("POLICY_S3_URI")?,
            policy_revalidate: Duration::from_secs(env.number("POLICY_REVALIDATE_SECONDS", 300)?),
            max_attempts: small("BOARD_MAX_ATTEMPTS", env.number("BOARD_MAX_ATTEMPTS", 8)?)?.max(1),
        })
    }
}

impl Config {
    pub fn settings(&self) -> justice_service::JudgeSettings {
        justice_service::JudgeSettings {
            dry_run: self.dry_run,
            accounts: self.allowed_accounts.clone(),
            blast_per_hour: self.blast_per_hour,
            max_attempts: self.max_attempts,
        }
    }

    /// The key this judge writes tasks to.
    pub fn board_key(&self) -> &str {
        if self.dry_run {
            &self.dry_run_tasks_key
        } else {
            &self.tasks_key
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        Config::from_pairs(vars)
    }

    const BASE: &[(&str, &str)] = &[
        ("RISK_TABLE", "risk"),
        ("ALLOWED_ACCOUNTS", "123456789012"),
        ("TASKS_BUCKET", "krampus"),
        (
            "SECURITY_TOPIC_ARN",
            "arn:aws:sns:us-east-1:123456789012:security",
        ),
    ];

    #[test]
    fn dry_run_is_the_default_and_never_writes_krampus_file() {
        let c = with(BASE).expect("valid");
        assert!(c.dry_run);
        assert_eq!(c.board_key(), "dry-run/tasks.json");
        let mut live = BASE.to_vec();
        live.push(("DRY_RUN", "false"));
        assert_eq!(with(&live).expect("valid").board_key(), "tasks.json");
        let mut same = BASE.to_vec();
        same.push(("DRY_RUN_TASKS_KEY", "tasks.json"));
        assert_eq!(with(&same).expect_err("same key").name, "DRY_RUN_TASKS_KEY");
        let mut bad = BASE.to_vec();
        bad.push(("DRY_RUN", "maybe"));
        assert_eq!(with(&bad).expect_err("not a flag").name, "DRY_RUN");
        assert_eq!(with(&BASE[1..]).expect_err("no table").name, "RISK_TABLE");
    }
}
