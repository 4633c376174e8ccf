//! Notices to owners (and to the security team): who gets one, and what it says. What a notice
//! says is decided here once (its facts); each channel renders the facts in a file of its own
//! (`email`, `json`, `chat`), listed in `channel::CHANNELS`.
//!
//! Names, tags and evidence come from whoever created the resource: untrusted. Every such
//! value goes through the one sanitiser, `text::untrusted`, with the policy of where it is
//! shown (inside quotes, in chat markdown, as a message attribute, in a subject). It can never
//! add a line that looks like ours, change a subject, or inject markup.

mod channel;
mod chat;
mod email;
mod json;

use std::collections::BTreeMap;

use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::krampus::TaskAction;
use crate::policy::Policy;
pub use crate::text::{attribute, markdown, quote, subject};
use crate::time::{self, Millis};
use crate::verdict::{DocketTask, OpenLine, TaskStatus, VerdictKind, VerdictRecord};
use crate::{refuse, Refused};
pub use channel::{Channel, DigestFacts, VerdictFacts, CHANNELS};

/// What a notice is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum NoticeKind {
    /// Tasks were scheduled: fix it before they run.
    Warning,
    /// A stronger task was added.
    Escalated,
    /// Every task was withdrawn (fixed, deleted, exempted).
    Resolved,
    /// Krampus carried out a task and AWS Config shows it: what was done, to undo or fix.
    Done,
    /// Over a threshold without a task (warning level, or nothing Krampus can do): fix it.
    Advisory,
    /// Pending tasks of one owner, on a schedule.
    Digest,
}

impl NoticeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            NoticeKind::Warning => "warning",
            NoticeKind::Escalated => "escalated",
            NoticeKind::Resolved => "resolved",
            NoticeKind::Done => "done",
            NoticeKind::Advisory => "advisory",
            NoticeKind::Digest => "digest",
        }
    }
}

/// The notice a verdict calls for, if any.
pub fn kind_of(r: &VerdictRecord) -> Option<NoticeKind> {
    match r.kind {
        // The judge's batch alert tells the security team every verdict it held, with the
        // reason; a second message per resource to the same team was noise (1,503 of the
        // generated stream's 2,246 notices) and cost.
        VerdictKind::Held => None,
        // A higher level with nothing new scheduled (Krampus has no stronger action for the
        // type) is no escalation to announce.
        VerdictKind::Act
            if r.previous_kind == VerdictKind::Act
                && r.level > r.previous_level
                && !r.scheduled.is_empty() =>
        {
            Some(NoticeKind::Escalated)
        }
        VerdictKind::Act if !r.scheduled.is_empty() => Some(NoticeKind::Warning),
        // Tasks pending that the owner was never warned of: adopted from tasks.json after the
        // verdict that wrote them was lost (its record or docket not saved). Nothing is
        // scheduled this time, but the action is news to the owner.
        VerdictKind::Act
            if r.previous_kind != VerdictKind::Act
                && r.pending.iter().any(|t| t.status == TaskStatus::Pending) =>
        {
            Some(NoticeKind::Warning)
        }
        VerdictKind::Warn | VerdictKind::Unactionable
            if !matches!(
                r.previous_kind,
                VerdictKind::Warn | VerdictKind::Unactionable
            ) =>
        {
            Some(NoticeKind::Advisory)
        }
        _ if !r.confirmed.is_empty() => Some(NoticeKind::Done),
        _ if !r.withdrawn.is_empty() && r.pending.is_empty() => Some(NoticeKind::Resolved),
        _ => None,
    }
}

/// `account → team, contact, topic`: the original Justice Engine's `mapping.json`. Accepts
/// `[{"account", "team", "contact", "topic"}]` and Krampus's `AccountNumber`, `AccountName`,
/// `ContactEmail`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccountMap {
    pub entries: BTreeMap<String, Team>,
}

#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Team {
    #[serde(alias = "AccountName")]
    pub team: String,
    #[serde(default, alias = "ContactEmail")]
    pub contact: Option<String>,
    /// A dedicated SNS topic for this team's notices.
    pub topic: Option<String>,
}

#[derive(Deserialize)]
struct MappingEntry {
    #[serde(alias = "AccountNumber")]
    account: String,
    #[serde(flatten)]
    team: Team,
}

impl AccountMap {
    pub fn parse(bytes: &[u8]) -> Result<AccountMap, Refused> {
        let list: Vec<MappingEntry> =
            serde_json::from_slice(bytes).map_err(|e| format!("not an account mapping: {e}"))?;
        let mut entries = BTreeMap::new();
        for e in list {
            if e.account.len() != 12 || !e.account.bytes().all(|b| b.is_ascii_digit()) {
                return refuse(format!(
                    "`{}` is not a 12-digit account id",
                    quote(&e.account, 40)
                ));
            }
            entries.insert(e.account, e.team);
        }
        Ok(AccountMap { entries })
    }
}

/// Who a notice goes to, and how that was found.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Recipient {
    /// A filter-policy value: lower-case `[a-z0-9._-]`, at most 64 characters.
    pub team: String,
    /// The owner named by the resource's tags (cleaned), if any.
    pub owner: Option<String>,
    pub contact: Option<String>,
    pub topic: Option<String>,
    /// `tag:<key>`, `account-mapping` or `default`.
    pub found_by: String,
}

/// Tags (the policy's owner keys, case-insensitively, and a `team` tag), then the account
/// mapping, then the security team's default.
pub fn recipient(
    tags: Option<&BTreeMap<String, String>>,
    account: &str,
    policy: &Policy,
    map: &AccountMap,
    default_team: &str,
) -> Recipient {
    let tag = |key: &str| -> Option<(String, String)> {
        tags?.iter().find_map(|(k, v)| {
            (k.eq_ignore_ascii_case(key) && !v.trim().is_empty()).then(|| (k.clone(), v.clone()))
        })
    };
    let owner = policy.owner_tag_keys.iter().find_map(|k| tag(k));
    let team_tag = tag("team");
    let mapped = map.entries.get(account);
    let team = team_of(
        team_tag.as_ref().map(|(_, v)| v.as_str()),
        account,
        owner.as_ref().map(|(_, v)| v.as_str()),
        map,
        default_team,
    );
    let found_by = match (&team_tag, mapped, &owner) {
        (Some((k, _)), _, _) | (None, None, Some((k, _))) => format!("tag:{}", quote(k, 64)),
        (None, Some(_), _) => "account-mapping".to_owned(),
        (None, None, None) => "default".to_owned(),
    };
    Recipient {
        team,
        owner: owner.map(|(_, v)| quote(&v, 128)),
        contact: mapped.and_then(|t| t.contact.as_deref().map(|c| quote(c, 254))),
        topic: mapped.and_then(|t| t.topic.clone()),
        found_by,
    }
}

/// The team a resource's notices go to: its `team` tag, its account's mapping, its owner, or
/// the default team, in that order (as a message attribute).
pub fn team_of(
    team_tag: Option<&str>,
    account: &str,
    owner: Option<&str>,
    map: &AccountMap,
    default_team: &str,
) -> String {
    let some = |v: Option<&str>| v.filter(|v| !v.trim().is_empty()).map(attribute);
    some(team_tag)
        .or_else(|| map.entries.get(account).map(|t| attribute(&t.team)))
        .or_else(|| some(owner))
        .unwrap_or_else(|| attribute(default_team))
}

/// A notice ready to publish.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Notice {
    pub kind: NoticeKind,
    /// What makes it once-only: the verdict id, or the digest's owner and window.
    pub id: String,
    pub recipient: Recipient,
    pub subject: String,
    /// Each channel's rendering, by the channel's name: `text` (email), `json` (queues and
    /// functions), `chat` (an AWS Chatbot custom notification).
    #[serde(flatten)]
    pub renderings: BTreeMap<&'static str, Value>,
    /// SNS message attributes, for subscription filter policies.
    pub attributes: BTreeMap<String, String>,
}

/// What the notice says about the engine: where to ask for an exemption.
#[derive(Debug, Clone)]
pub struct NoticeContext<'a> {
    pub policy: &'a Policy,
    pub accounts: &'a AccountMap,
    pub default_team: &'a str,
    /// How to reach the security team (an address or a channel), shown in every notice.
    pub security_contact: &'a str,
}

const MAX_FINDINGS: usize = 40;
const MAX_TASKS: usize = 60;

/// The console page of a resource (the ARN deep link works for every type).
pub fn console_link(arn: Option<&str>) -> Option<String> {
    arn.map(|a| {
        format!(
            "https://console.aws.amazon.com/go/view?arn={}",
            utf8_percent_encode(a, NON_ALPHANUMERIC)
        )
    })
}

pub(crate) fn when(action_time: i64, now: Millis) -> String {
    let at = action_time.saturating_mul(1000);
    let hours = at.saturating_sub(now) as f64 / 3_600_000.0;
    let rel = if hours <= 0.0 {
        "due now".to_owned()
    } else if hours < 1.0 {
        "in less than an hour".to_owned()
    } else {
        format!("in {} hours", hours.floor() as i64)
    };
    format!("{} ({rel})", time::format_rfc3339(at))
}

fn does(t: &DocketTask) -> String {
    use crate::krampus::Effect;
    let what = match t.effect {
        Effect::Stop => "stop the resource",
        Effect::RevokeIngressRule => "revoke the rule",
        Effect::RevokeAllRules => "revoke every rule of the group",
        Effect::RemoveGrant => "remove the grant",
        Effect::StripAccess => "detach its policies and delete its access keys",
        Effect::Delete => "DELETE the resource",
        Effect::Refused => "nothing",
    };
    let action = match t.action {
        TaskAction::Disable => "disable",
        TaskAction::Kill => "kill",
    };
    let mut out = format!("{action} ({what}; target: {}", quote(&t.target, 200));
    if !t.side_effects.is_empty() {
        // What Krampus's code really does besides: the owner must know before it happens.
        out.push_str("; also: ");
        out.push_str(&t.side_effects);
    }
    out.push(')');
    out
}

/// The notice for one verdict record, or `None` when the verdict calls for none.
pub fn for_verdict(r: &VerdictRecord, ctx: &NoticeContext<'_>) -> Option<Notice> {
    let kind = kind_of(r)?;
    let res = &r.resource;
    let to = recipient(
        res.tags.as_ref(),
        &res.account,
        ctx.policy,
        ctx.accounts,
        ctx.default_team,
    );
    let name = res.name.as_deref().unwrap_or(&res.resource_id);
    let headline = match kind {
        NoticeKind::Warning => "Action scheduled on your resource",
        NoticeKind::Escalated => "Stronger action scheduled on your resource",
        NoticeKind::Resolved => "Scheduled action withdrawn",
        NoticeKind::Done => "Krampus acted on your resource",
        NoticeKind::Advisory => "Risky resource: please fix it",
        NoticeKind::Digest => "Pending actions",
    };
    let subject = subject(&format!(
        "[Justice Engine]{} {headline}: {} {} in {}",
        if r.dry_run { " [dry run]" } else { "" },
        res.resource_type,
        quote(name, 40),
        res.account
    ));
    let facts = VerdictFacts {
        kind,
        record: r,
        recipient: &to,
        name,
        headline,
        subject: &subject,
        security_contact: ctx.security_contact,
    };
    let renderings = CHANNELS
        .iter()
        .map(|c| (c.name(), c.verdict(&facts)))
        .collect();
    let action = r
        .pending
        .iter()
        .filter(|t| t.status == TaskStatus::Pending)
        .map(|t| t.action)
        .max()
        .map_or("none", |a| a.as_str());
    let severity = r
        .findings
        .iter()
        .map(|f| severity_rank(&f.severity))
        .max()
        .map_or("none", severity_name);
    let attributes = BTreeMap::from([
        ("team".to_owned(), to.team.clone()),
        (
            "owner".to_owned(),
            attribute(to.owner.as_deref().unwrap_or("unknown")),
        ),
        ("account".to_owned(), res.account.clone()),
        ("severity".to_owned(), severity.to_owned()),
        ("action".to_owned(), action.to_owned()),
        ("event".to_owned(), kind.as_str().to_owned()),
    ]);
    Some(Notice {
        kind,
        id: r.verdict_id.clone(),
        recipient: to,
        subject,
        renderings,
        attributes,
    })
}

fn severity_rank(s: &str) -> u8 {
    match s {
        "critical" => 4,
        "high" => 3,
        "medium" => 2,
        "low" => 1,
        _ => 0,
    }
}

fn severity_name(r: u8) -> &'static str {
    match r {
        4 => "critical",
        3 => "high",
        2 => "medium",
        1 => "low",
        _ => "none",
    }
}

impl Notice {
    /// The plain-text rendering: the SNS default, and what is left when a message is too big.
    pub fn text(&self) -> &str {
        self.renderings
            .get("text")
            .and_then(Value::as_str)
            .unwrap_or_default()
    }

    /// The SNS message with `MessageStructure=json`: each channel's rendering under the
    /// protocols it names (Chatbot reads the `https` one as a custom notification).
    pub fn sns_message(&self) -> String {
        let mut message = serde_json::Map::new();
        for c in CHANNELS {
            let body = match self.renderings.get(c.name()) {
                Some(Value::String(s)) => s.clone(),
                Some(v) => v.to_string(),
                None => continue,
            };
            for p in c.protocols() {
                message.insert((*p).to_owned(), Value::String(body.clone()));
            }
        }
        Value::Object(message).to_string()
    }
}

/// One owner's pending tasks, for the digest.
#[derive(Debug, Clone, Default)]
pub struct DigestEntry {
    pub resource: String,
    pub arn: String,
    pub action: String,
    pub action_time: i64,
    pub issues: Vec<String>,
}

/// The most unreadable open verdicts the security digest names (the rest are counted).
pub const UNREADABLE_LISTED: usize = 20;

/// The most open lines a digest lists (the rest are counted).
pub const OPEN_LISTED: usize = MAX_TASKS * 4;

/// The order the digests list open lines in: most severe, then longest open.
pub fn open_order(a: &OpenLine, b: &OpenLine) -> std::cmp::Ordering {
    b.level.cmp(&a.level).then(a.since.cmp(&b.since))
}

/// What an open verdict waits on, for people.
fn open_status(l: &OpenLine) -> String {
    if let Some(why) = &l.person {
        return format!("fix it by hand: {}", quote(why, 300));
    }
    match l.kind {
        VerdictKind::Held => "action due, held by the blast-radius limit",
        VerdictKind::Unactionable => "no automatic fix: fix it by hand",
        _ => "warning: fix it before it reaches the action level",
    }
    .to_owned()
}

/// One open line: the resource's own text only inside quotes, our words outside them.
fn open_line(text: &mut String, prefix: &str, l: &OpenLine) {
    text.push_str(&format!(
        "  - {prefix}\"{}\" (named \"{}\", account {}; {} since {}; {})\n",
        quote(if l.arn.is_empty() { &l.name } else { &l.arn }, 300),
        quote(&l.name, 100),
        quote(&l.account, 12),
        l.level.as_str(),
        time::format_rfc3339(l.since),
        open_status(l)
    ));
    for i in l.issues.iter().take(5) {
        text.push_str(&format!("      \"{}\"\n", quote(i, 300)));
    }
}

fn open_json(open: &[&OpenLine]) -> Vec<Value> {
    open.iter()
        .take(OPEN_LISTED)
        .map(|l| {
            json!({
                "resource": quote(&l.name, 300), "arn": quote(&l.arn, 300), "account": quote(&l.account, 12),
                "verdict": l.kind.as_str(), "level": l.level.as_str(), "since": l.since,
                "why": l.person.as_deref().map(|w| quote(w, 300)),
                "issues": l.issues.iter().take(5).map(|i| quote(i, 300)).collect::<Vec<_>>(),
            })
        })
        .collect()
}

/// The digest of one team's pending tasks, and of its resources that wait on a person (a
/// warning, no automatic fix, held, a task lost), in one window: each stays in every digest
/// until it is fixed or exempted. `open` holds the lines to list (the most severe) and
/// `open_total` how many there are in all; `report` the team's report page, when stored.
// Each argument is one fact the channels render; a struct would only rename them.
#[allow(clippy::too_many_arguments)]
pub fn digest(
    team: &str,
    window: &str,
    entries: &[DigestEntry],
    open: &[&OpenLine],
    open_total: usize,
    now: Millis,
    security_contact: &str,
    report: Option<crate::summary::Link<'_>>,
) -> Notice {
    let open_total = open_total.max(open.len());
    let subject = subject(&format!(
        "[Justice Engine] {} pending action(s), {} open finding(s) for team {}",
        entries.len(),
        open_total,
        attribute(team)
    ));
    let mut tasks: Vec<&DigestEntry> = entries.iter().collect();
    tasks.sort_by_key(|e| e.action_time);
    tasks.truncate(MAX_TASKS * 4);
    let mut open: Vec<&OpenLine> = open.to_vec();
    open.sort_by(|a, b| open_order(a, b));
    open.truncate(OPEN_LISTED);
    let facts = DigestFacts {
        team,
        window,
        subject: &subject,
        tasks: &tasks,
        tasks_total: entries.len(),
        open: &open,
        open_total,
        now,
        security_contact,
        report,
    };
    let renderings = CHANNELS
        .iter()
        .map(|c| (c.name(), c.digest(&facts)))
        .collect();
    let team_attr = attribute(team);
    Notice {
        kind: NoticeKind::Digest,
        id: format!("digest-{window}-{team_attr}"),
        recipient: Recipient {
            team: team_attr.clone(),
            owner: None,
            contact: None,
            topic: None,
            found_by: "digest".into(),
        },
        subject,
        renderings,
        attributes: BTreeMap::from([
            ("team".to_owned(), team_attr),
            ("owner".to_owned(), "unknown".to_owned()),
            ("account".to_owned(), "various".to_owned()),
            ("severity".to_owned(), "none".to_owned()),
            ("action".to_owned(), "none".to_owned()),
            ("event".to_owned(), "digest".to_owned()),
        ]),
    }
}

/// The security team's digest for one window: the resources that wait on a person because
/// nothing automatic will fix them, with their team, until they are fixed or exempted. `open`
/// holds the lines to list, `total` how many there are in all; `None` when there is none.
pub fn security_digest(
    window: &str,
    open: &[(String, &OpenLine)],
    total: usize,
    unreadable: &[String],
    unreadable_total: usize,
) -> Option<(String, String)> {
    let unreadable_total = unreadable_total.max(unreadable.len());
    if open.is_empty() && unreadable_total == 0 {
        return None;
    }
    let total = total.max(open.len());
    let mut open: Vec<&(String, &OpenLine)> = open.iter().collect();
    open.sort_by(|(_, a), (_, b)| open_order(a, b));
    open.truncate(OPEN_LISTED);
    let subject = format!("[Justice Engine] {total} resource(s) need a person (window {window})");
    let mut text = format!(
        "Resources over the action level that no automation will fix, most severe and oldest \
         first ({total}). Each stays here until it is fixed or exempted.\n\n"
    );
    for (team, l) in &open {
        open_line(&mut text, &format!("team {}: ", attribute(team)), l);
    }
    if total > open.len() {
        text.push_str(&format!("  … and {} more\n", total - open.len()));
    }
    if unreadable_total > 0 {
        // Left out of every digest: the security team must know the lists are short.
        text.push_str(&format!(
            "\n{unreadable_total} open verdict(s) could not be read and are listed nowhere:\n"
        ));
        for why in unreadable.iter().take(UNREADABLE_LISTED) {
            text.push_str(&format!("  - \"{}\"\n", quote(why, 300)));
        }
        if unreadable_total > unreadable.len().min(UNREADABLE_LISTED) {
            text.push_str(&format!(
                "  … and {} more\n",
                unreadable_total - unreadable.len().min(UNREADABLE_LISTED)
            ));
        }
    }
    Some((subject, text))
}
