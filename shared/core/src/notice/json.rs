//! The full notice as JSON, for queues, functions and `email-json`: every fact a program
//! subscribed to the topic needs, untrusted values quoted and cut.

use serde_json::{json, Value};

use super::channel::{Channel, DigestFacts, VerdictFacts};
use super::{open_json, NoticeKind, MAX_FINDINGS, MAX_TASKS};
use crate::text::{attribute, quote};
use crate::time;

pub struct NoticeJson;

impl Channel for NoticeJson {
    fn name(&self) -> &'static str {
        "json"
    }

    fn protocols(&self) -> &'static [&'static str] {
        &["email-json", "sqs", "lambda"]
    }

    fn verdict(&self, f: &VerdictFacts<'_>) -> Value {
        let (r, res) = (f.record, &f.record.resource);
        json!({
            "kind": f.kind,
            "subject": f.subject,
            "text": super::email::verdict_text(f),
            "verdict_id": r.verdict_id,
            "dry_run": r.dry_run,
            "recipient": f.recipient,
            "resource": {
                "name": quote(f.name, 200),
                "type": res.resource_type,
                "arn": res.arn.as_deref().map(|a| quote(a, 300)),
                "account": res.account,
                "region": res.region,
                "console": super::console_link(res.arn.as_deref()),
            },
            "score": r.score,
            "level": r.level,
            "verdict": r.kind,
            "reason": quote(&r.reason, 400),
            "findings": r.findings.iter().take(MAX_FINDINGS).map(|f| json!({
                "rule": f.rule, "severity": f.severity, "points": f.points,
                "evidence": quote(&f.evidence, 300), "remediation": f.remediation,
                "first_seen": f.first_seen,
            })).collect::<Vec<_>>(),
            "pending": r.pending.iter().take(MAX_TASKS).map(|t| json!({
                "action": t.action, "effect": t.effect, "target": quote(&t.target, 200),
                "action_time": t.action_time, "at": time::format_rfc3339(t.action_time.saturating_mul(1000)),
            })).collect::<Vec<_>>(),
            "withdrawn": r.withdrawn.iter().take(MAX_TASKS).map(|t| &t.unique_id).collect::<Vec<_>>(),
            "decided_at": r.decided_at,
        })
    }

    fn digest(&self, f: &DigestFacts<'_>) -> Value {
        json!({
            "kind": NoticeKind::Digest,
            "team": attribute(f.team),
            "window": f.window,
            "tasks": f.tasks.iter().map(|e| json!({
                "resource": quote(&e.resource, 300), "arn": quote(&e.arn, 300), "action": quote(&e.action, 10),
                "action_time": e.action_time,
            })).collect::<Vec<_>>(),
            "open": open_json(f.open),
            "open_total": f.open_total,
            "report": f.report.map(|r| json!({
                "url": r.url,
                "expires": r.expires,
                "resources": r.summary.resources,
                "by_level": {
                    "kill": r.summary.by_level[3], "disable": r.summary.by_level[2],
                    "warn": r.summary.by_level[1], "none": r.summary.by_level[0],
                },
                "tasks_due_24h": r.summary.due_24h,
                "tasks_due_72h": r.summary.due_72h,
                "held": r.summary.held,
                "unactionable": r.summary.unactionable,
            })),
        })
    }
}
