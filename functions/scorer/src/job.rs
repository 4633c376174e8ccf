//! The scorer's jobs, as the schedules and people send them (`{"justice": "backfill"}`): run by
//! `justice_service::jobs` within the invocation's time.

use justice_aws::lambda::Error;
use justice_core::time::Millis;
use justice_service::{Clock, ConfigSource, Job, JobSettings, RiskStore};
use serde_json::Value;

use crate::{metrics, App};

/// A page of a job takes a few seconds (100 resources, two DynamoDB calls each): none is
/// begun in the last 15 s before the invocation's deadline.
const PAGE_MS: Millis = 15_000;

impl<S: RiskStore, C: ConfigSource, K: Clock> App<S, C, K> {
    /// One job, before the invocation's `deadline` (milliseconds since the epoch; 0 when
    /// unknown): a run that must stop early ends with its position saved, not cut off.
    pub(crate) async fn run_job(
        &self,
        job: Result<Job, serde_json::Error>,
        deadline: u64,
    ) -> Result<Value, Error> {
        let job = job.map_err(|e| {
            tracing::error!(reason = %e, "refused job");
            format!("job: {e}")
        })?;
        let name = job.name();
        let policy = self.policy.current().await?;
        let now = self.clock.now(Millis::MIN);
        let settings = JobSettings {
            stop_at: (deadline > 0).then(|| (deadline as Millis).saturating_sub(PAGE_MS)),
            ..self.config.jobs()
        };
        let done = justice_service::jobs::run(&self.scorer(&policy), job, &settings, now).await?;
        metrics()
            .count("StatesRescored", done.rescored)
            .count("EventsRefused", done.failed as u64)
            .emit();
        match done.failed {
            0 => Ok(done.report),
            n => Err(format!("{name}: {n} states failed: {}", done.report).into()),
        }
    }
}
