//! An AWS Chatbot custom notification (Slack, Chime, Teams), sent to HTTPS subscribers: a
//! title and a short markdown description, untrusted values escaped for markdown.

use serde_json::{json, Value};

use super::channel::{Channel, DigestFacts, VerdictFacts};
use super::{when, NoticeKind};
use crate::text::markdown;
use crate::verdict::TaskStatus;

pub struct ChatbotMessage;

impl Channel for ChatbotMessage {
    fn name(&self) -> &'static str {
        "chat"
    }

    fn protocols(&self) -> &'static [&'static str] {
        &["https"]
    }

    fn verdict(&self, f: &VerdictFacts<'_>) -> Value {
        let (r, res) = (f.record, &f.record.resource);
        let first_action = match f.kind {
            NoticeKind::Warning | NoticeKind::Escalated => r
                .pending
                .iter()
                .filter(|t| t.status == TaskStatus::Pending)
                .map(|t| t.action_time)
                .min()
                .map(|at| {
                    let at = when(at, r.decided_at_ms);
                    format!("\nFirst action {}", markdown(&at, 80))
                })
                .unwrap_or_default(),
            _ => String::new(),
        };
        let description = format!(
            "*{}*: {} `{}` in {} ({})\nScore {} (level {}). {}{}",
            f.headline,
            markdown(&res.resource_type, 100),
            markdown(f.name, 80),
            res.account,
            markdown(&res.region, 30),
            r.score,
            r.level,
            markdown(&r.reason, 200),
            first_action
        );
        let mut message = custom(f.subject, description);
        message["metadata"] = json!({"additionalContext": {"verdict_id": r.verdict_id}});
        message
    }

    fn digest(&self, f: &DigestFacts<'_>) -> Value {
        let description = format!(
            "{} pending action(s), {} open finding(s) for team {}",
            f.tasks_total,
            f.open_total,
            markdown(f.team, 64)
        );
        let description = match &f.report {
            // The URL is ours: markdown link syntax around it, nothing of the resources'.
            Some(r) => format!(
                "{description}. {}. [Open the report]({})",
                r.summary.line(),
                r.url
            ),
            None => description,
        };
        custom(f.subject, description)
    }
}

/// An AWS Chatbot custom notification with a markdown description.
fn custom(title: &str, description: String) -> Value {
    json!({
        "version": "1.0",
        "source": "custom",
        "content": {
            "textType": "client-markdown",
            "title": title,
            "description": description,
        },
    })
}
