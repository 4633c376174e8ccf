//! The scorer's configuration: environment variables, read in one place at cold start. A
//! missing or malformed variable fails the cold start with its name.

use std::time::Duration;

pub use justice_aws::env::ConfigError;
use justice_aws::env::{Env, FromEnv};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// `RISK_TABLE`: the DynamoDB risk table.
    pub table: String,
    /// `ALLOWED_ACCOUNTS`: comma-separated account ids whose events are scored; others refused.
    pub allowed_accounts: Vec<String>,
    /// `POLICY_S3_URI` (`s3://bucket/key`), optional: the policy object; the embedded default
    /// when unset.
    pub policy: Option<(String, String)>,
    /// `POLICY_REVALIDATE_SECONDS` (300): how often the policy object's ETag is checked.
    pub policy_revalidate: Duration,
    /// `HISTORY_TTL_DAYS` (90): history records expire this long after capture.
    pub history_ttl_days: u32,
    /// `RESCORE_MIN_AGE_MINUTES` (30): a state is re-scored when last evaluated this long ago.
    pub rescore_min_age: Duration,
    /// `RESCORE_LIMIT` (2000): states re-scored per invocation at most.
    pub rescore_limit: usize,
    /// `BACKFILL_RESOURCE_TYPES` (comma-separated): the types a back-fill lists by default.
    pub backfill_types: Vec<String>,
    /// `BACKFILL_MAX_PAGES` (20): pages of 100 resources per back-fill invocation at most.
    pub backfill_max_pages: usize,
    /// `BACKFILL_INTERVAL_HOURS` (6): how long the scheduled back-fill rests after a complete
    /// pass (the schedule itself fires every few minutes, so that a pass runs to its end).
    pub backfill_every: Duration,
    /// `DEAD_LETTER_QUEUE_URL`, optional: where records that fail for good go at once. Without
    /// it they fail the invocation, as transient failures do (Lambda retries, then its own
    /// dead-letter queue).
    pub dead_letters: Option<String>,
    /// `CONFIG_AGGREGATOR`, optional: an AWS Config aggregator of this account. When set,
    /// oversized items and back-fills are read through it, for every account and region it
    /// covers; otherwise from this account and region alone.
    pub config_aggregator: Option<String>,
}

impl FromEnv for Config {
    fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let env = Env(get);
        let allowed_accounts = env.accounts("ALLOWED_ACCOUNTS")?;
        let policy = env.s3_uri("POLICY_S3_URI")?;
        let backfill_types = env
            .list("BACKFILL_RESOURCE_TYPES")
            .unwrap_or_else(justice_core::rules::backfill_types);
        Ok(Config {
            table: env.required("RISK_TABLE")?,
            allowed_accounts,
            policy,
            policy_revalidate: Duration::from_secs(env.number("POLICY_REVALIDATE_SECONDS", 300)?),
            history_ttl_days: u32::try_from(env.number("HISTORY_TTL_DAYS", 90)?).map_err(|_| {
                ConfigError {
                    name: "HISTORY_TTL_DAYS",
                    reason: "is too large".into(),
                }
            })?,
            rescore_min_age: Duration::from_secs(60 * env.number("RESCORE_MIN_AGE_MINUTES", 30)?),
            rescore_limit: env.number("RESCORE_LIMIT", 2000)? as usize,
            backfill_types,
            backfill_max_pages: env.number("BACKFILL_MAX_PAGES", 20)? as usize,
            backfill_every: Duration::from_secs(3600 * env.number("BACKFILL_INTERVAL_HOURS", 6)?),
            dead_letters: env.get("DEAD_LETTER_QUEUE_URL"),
            config_aggregator: env.get("CONFIG_AGGREGATOR"),
        })
    }
}

impl Config {
    /// The jobs' defaults.
    pub fn jobs(&self) -> justice_service::JobSettings {
        justice_service::JobSettings {
            rescore_min_age: self.rescore_min_age.as_millis() as i64,
            rescore_limit: self.rescore_limit,
            backfill_types: self.backfill_types.clone(),
            backfill_max_pages: self.backfill_max_pages,
            backfill_every: self.backfill_every.as_millis() as i64,
            allowed_accounts: self.allowed_accounts.clone(),
            stop_at: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        Config::from_pairs(vars)
    }

    #[test]
    fn a_missing_or_bad_variable_is_named() {
        let e = with(&[("RISK_TABLE", "t")]).expect_err("no accounts");
        assert_eq!(e.name, "ALLOWED_ACCOUNTS");
        let e = with(&[("RISK_TABLE", "t"), ("ALLOWED_ACCOUNTS", "12345")]).expect_err("short");
        assert!(e.reason.contains("12345"));
        let e = with(&[("ALLOWED_ACCOUNTS", "123456789012")]).expect_err("no table");
        assert_eq!(e.name, "RISK_TABLE");
        let e = with(&[
            ("RISK_TABLE", "t"),
            ("ALLOWED_ACCOUNTS", "123456789012"),
            ("POLICY_S3_URI", "bucket/key"),
        ])
        .expect_err("not s3");
        assert_eq!(e.name, "POLICY_S3_URI");
        let e = with(&[
            ("RISK_TABLE", "t"),
            ("ALLOWED_ACCOUNTS", "123456789012"),
            ("RESCORE_LIMIT", "many"),
        ])
        .expect_err("not a number");
        assert_eq!(e.name, "RESCORE_LIMIT");
    }

    #[test]
    fn defaults_fill_the_rest() {
        let c = with(&[
            ("RISK_TABLE", "risk"),
            ("ALLOWED_ACCOUNTS", "123456789012, 210987654321"),
            ("POLICY_S3_URI", "s3://policies/justice/policy.toml"),
        ])
        .expect("valid");
        assert_eq!(c.allowed_accounts.len(), 2);
        assert_eq!(
            c.policy,
            Some(("policies".into(), "justice/policy.toml".into()))
        );
        assert_eq!(c.history_ttl_days, 90);
        assert!(c.backfill_types.iter().any(|t| t == "AWS::S3::Bucket"));
    }
}
