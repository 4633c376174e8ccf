//! Plain text, for email and for the SNS default: the resource's own text only inside quotes,
//! our words outside them.

use serde_json::Value;

use super::channel::{Channel, DigestFacts, VerdictFacts};
use super::{does, open_line, when, NoticeKind, MAX_FINDINGS, MAX_TASKS};
use crate::text::quote;
use crate::verdict::TaskStatus;

pub struct EmailText;

impl Channel for EmailText {
    fn name(&self) -> &'static str {
        "text"
    }

    fn protocols(&self) -> &'static [&'static str] {
        &["default", "email"]
    }

    fn verdict(&self, f: &VerdictFacts<'_>) -> Value {
        Value::String(verdict_text(f))
    }

    fn digest(&self, f: &DigestFacts<'_>) -> Value {
        Value::String(digest_text(f))
    }
}

fn q(s: &str, n: usize) -> String {
    format!("\"{}\"", quote(s, n))
}

/// The verdict's text; the JSON notice carries it too.
pub(super) fn verdict_text(f: &VerdictFacts<'_>) -> String {
    let (r, res, to) = (f.record, &f.record.resource, f.recipient);
    let mut text = String::new();
    let mut line = |s: String| {
        text.push_str(&s);
        text.push('\n');
    };
    let dry = if r.dry_run { " [dry run]" } else { "" };
    line(format!("{}.{dry}", f.headline));
    if r.dry_run {
        line("This is a dry run: nothing will be done to the resource.".into());
    }
    line(String::new());
    line(format!("Resource:  {}", q(f.name, 200)));
    line(format!("Type:      {}", quote(&res.resource_type, 100)));
    line(format!(
        "ARN:       {}",
        q(res.arn.as_deref().unwrap_or("(none recorded)"), 300)
    ));
    line(format!(
        "Account:   {}   Region: {}",
        quote(&res.account, 20),
        quote(&res.region, 30)
    ));
    if let Some(link) = super::console_link(res.arn.as_deref()) {
        line(format!("Console:   {link}"));
    }
    line(format!(
        "Owner:     {} (team {}, found by {})",
        to.owner
            .as_deref()
            .map_or("unknown".to_owned(), |o| q(o, 128)),
        to.team,
        to.found_by
    ));
    line(format!("Score:     {} (level {})", r.score, r.level));
    line(format!(
        "Verdict:   {} — {}",
        r.kind.as_str(),
        q(&r.reason, 400)
    ));
    line(String::new());
    if !r.findings.is_empty() {
        line("Findings:".into());
        for f in r.findings.iter().take(MAX_FINDINGS) {
            line(format!(
                "  - [{}] {} ({} points): {}",
                f.severity,
                f.rule,
                f.points,
                q(&f.evidence, 300)
            ));
            if !f.remediation.is_empty() {
                line(format!("    How to fix: {}", quote(&f.remediation, 400)));
            }
        }
        if r.findings.len() > MAX_FINDINGS {
            line(format!("  … and {} more", r.findings.len() - MAX_FINDINGS));
        }
        line(String::new());
    }
    for l in what_happens(f) {
        line(l);
    }
    line(String::new());
    line(format!(
        "To ask for an exemption, write to the security team ({}) with the ARN and the reason; exemptions are granted with an expiry.",
        quote(f.security_contact, 200)
    ));
    line(format!("Verdict id: {}", r.verdict_id));
    text
}

/// The lines on what was or will be done, by the kind of notice.
fn what_happens(f: &VerdictFacts<'_>) -> Vec<String> {
    let r = f.record;
    let now = r.decided_at_ms;
    let list = |tasks: &mut dyn Iterator<Item = String>| tasks.take(MAX_TASKS).collect::<Vec<_>>();
    match f.kind {
        NoticeKind::Warning | NoticeKind::Escalated => {
            let mut out = vec!["What will happen, unless the findings are fixed first:".into()];
            out.extend(list(
                &mut r
                    .pending
                    .iter()
                    .filter(|t| t.status == TaskStatus::Pending)
                    .map(|t| format!("  - {} at {}", does(t), when(t.action_time, now))),
            ));
            out.push("Fixing every finding withdraws these actions automatically.".into());
            out
        }
        NoticeKind::Done => {
            let mut out = vec![
                "Krampus carried out these actions, and AWS Config shows their effect:".into(),
            ];
            out.extend(list(
                &mut r.confirmed.iter().map(|t| format!("  - {}", does(t))),
            ));
            out.push(
                "Fix the findings before you undo them (restart, restore the rule or grant), \
                 or the verdict will be reached again."
                    .into(),
            );
            out
        }
        NoticeKind::Resolved => {
            let mut out = vec!["These scheduled actions were withdrawn:".into()];
            out.extend(list(
                &mut r.withdrawn.iter().map(|t| format!("  - {}", does(t))),
            ));
            out
        }
        NoticeKind::Advisory => vec![
            "No automatic action is scheduled, but the resource is risky: please fix it.".into(),
        ],
        NoticeKind::Digest => Vec::new(),
    }
}

fn digest_text(f: &DigestFacts<'_>) -> String {
    let mut text = String::new();
    if !f.tasks.is_empty() {
        text.push_str(&format!(
            "Pending actions on your team's resources ({}), soonest first.\n\n",
            f.tasks_total
        ));
    }
    for e in f.tasks {
        text.push_str(&format!(
            "  - {} {} at {}\n",
            quote(&e.action, 10),
            format_args!("\"{}\"", quote(&e.arn, 300)),
            when(e.action_time, f.now)
        ));
        for i in e.issues.iter().take(5) {
            text.push_str(&format!("      \"{}\"\n", quote(i, 300)));
        }
    }
    if f.tasks_total > f.tasks.len() {
        text.push_str(&format!("  … and {} more\n", f.tasks_total - f.tasks.len()));
    }
    if !f.open.is_empty() {
        if !text.is_empty() {
            text.push('\n');
        }
        text.push_str(&format!(
            "Waiting on your team ({}): over a threshold, and no pending action will fix \
             it. Most severe first.\n\n",
            f.open_total
        ));
        for l in f.open {
            open_line(&mut text, "", l);
        }
        if f.open_total > f.open.len() {
            text.push_str(&format!("  … and {} more\n", f.open_total - f.open.len()));
        }
    }
    if let Some(r) = &f.report {
        text.push('\n');
        text.push_str(&r.text());
    }
    text.push_str(&format!(
        "\nFixing a resource withdraws its actions and takes it off this list. Exemptions: write \
         to the security team ({}).\n",
        quote(f.security_contact, 200)
    ));
    text
}
