//! What becomes of a judged batch: its failures logged and counted, dead-lettered when none
//! can pass on a retry, and the answer that names the records Lambda retries.

use aws_lambda_events::streams::DynamoDbEventResponse;
use justice_aws::lambda::{Error, Metrics, SqsDeadLetters};
use justice_aws::{docket_store, stream};
use justice_core::time::Millis;
use justice_service::failure::dead_letter;
use justice_service::{
    BatchReport, Change, Clock, DocketStore, Outbox, RecordFailure, RiskStore, TaskBoard,
};

use crate::{rejudge, App};

impl<D: DocketStore + RiskStore, B: TaskBoard, O: Outbox, K: Clock> App<D, B, O, K> {
    /// The changes judged, then the failures: logged, counted, and dead-lettered when none can
    /// pass on a retry (a queue that cannot be written leaves them to retry).
    pub(crate) async fn decide(
        &self,
        changes: Vec<Change>,
        mut failures: Vec<RecordFailure>,
        now: Millis,
    ) -> Result<DynamoDbEventResponse, Error> {
        let policy = self.policy.current().await?;
        let report = match self.service().judge(&changes, &policy, now).await {
            Ok(report) => report,
            Err(e) if e.is_transient() || self.dead_letters.is_none() => return Err(e.into()),
            Err(e) => {
                failures.extend(justice_service::judge::undecided(&changes, &e));
                BatchReport::default()
            }
        };
        failures.extend(report.failed.iter().cloned());
        for f in &failures {
            tracing::error!(record = %f.record, resource = %f.resource, reason = %f.reason, transient = f.transient, "judging failed");
        }
        let letter = dead_letter(&failures, rejudge::letter(&failures));
        let dead = SqsDeadLetters::take(self.dead_letters.as_ref(), letter).await;
        Metrics::new()
            .dimension("Board", docket_store::board(self.settings.dry_run))
            .count("Verdicts", report.verdicts as u64)
            .count("TasksScheduled", report.scheduled as u64)
            .count("TasksWithdrawn", report.withdrawn as u64)
            .count("VerdictsHeld", report.held as u64)
            .count("JudgeFailures", failures.len() as u64)
            .count(
                "RecordsDeadLettered",
                if dead { failures.len() as u64 } else { 0 },
            )
            .count("BoardConflicts", report.conflicts as u64)
            .emit();
        let retry = failures.iter().filter(|_| !dead).map(|f| f.record.as_str());
        Ok(stream::response(retry))
    }
}
