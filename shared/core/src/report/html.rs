//! The page itself: HTML written by hand into one string, every untrusted value through
//! [`text`].

use std::collections::BTreeMap;
use std::fmt::{self, Write as _};
use std::sync::OnceLock;

use super::{chart, Entry, Report, Scope};
use crate::policy::Level;
use crate::time::{format_rfc3339, Millis, HOUR_MS};

/// The page's one script: sorting, filtering and paging.
pub const SCRIPT: &str = include_str!("page.js");
const STYLE: &str = include_str!("page.css");

/// How much of an untrusted value is shown (evidence is the longest we write).
const NAME_CHARS: usize = 200;
const EVIDENCE_CHARS: usize = 1000;
/// The top risks listed in the summary.
const TOP: usize = 10;
/// Rows a table shows at first (the script's page): the rest are written hidden, so that a
/// browser lays out a page of 10,000 resources at the speed of one of a few hundred.
const PAGE_ROWS: usize = 50;

/// `s` as HTML text or a double-quoted attribute value: markup characters escaped, hidden
/// characters (controls, bidirectional overrides, zero-width) shown as U+FFFD so that a name
/// cannot pass for another, cut to `max` characters. Written straight into the page.
fn text(s: &str, max: usize) -> Text<'_> {
    Text(s, max)
}

struct Text<'a>(&'a str, usize);

impl fmt::Display for Text<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (n, c) in self.0.chars().enumerate() {
            if n == self.1 {
                return f.write_char('…');
            }
            match c {
                '&' => f.write_str("&amp;")?,
                '<' => f.write_str("&lt;")?,
                '>' => f.write_str("&gt;")?,
                '"' => f.write_str("&quot;")?,
                '\'' => f.write_str("&#39;")?,
                c if crate::text::is_hidden(c) => f.write_char('\u{fffd}')?,
                c => f.write_char(c)?,
            }
        }
        Ok(())
    }
}

/// The Content-Security-Policy: nothing loads from anywhere, and only the page's own script
/// (by its hash) runs.
fn csp() -> &'static str {
    static CSP: OnceLock<String> = OnceLock::new();
    CSP.get_or_init(|| {
        use base64::Engine as _;
        use sha2::Digest as _;
        let hash = base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(SCRIPT));
        format!(
            "default-src 'none'; style-src 'unsafe-inline'; img-src data:; script-src 'sha256-{hash}'; base-uri 'none'; form-action 'none'"
        )
    })
}

fn level_name(l: Level) -> &'static str {
    match l {
        Level::None => "below warn",
        other => other.as_str(),
    }
}

/// "in 5.2 h", or "due now" once it may run.
fn time_left(due: Millis, now: Millis) -> String {
    let hours = due.saturating_sub(now) as f64 / HOUR_MS as f64;
    if hours <= 0.0 {
        "due now".to_owned()
    } else if hours < 48.0 {
        format!("in {hours:.1} h")
    } else {
        format!("in {:.1} days", hours / 24.0)
    }
}

/// The display name of an entry: its name, or its id.
fn name(e: &Entry) -> &str {
    e.state
        .resource_name
        .as_deref()
        .filter(|n| !n.trim().is_empty())
        .unwrap_or(&e.state.resource_id)
}

/// A team's entries by account, each with its place in the report's order (its anchor).
type ByAccount<'a> = BTreeMap<&'a str, Vec<(usize, &'a Entry)>>;

/// The page.
pub fn render(r: &Report<'_>) -> String {
    // About 1.5 KB a resource; one allocation up front.
    let mut out = String::with_capacity(16 * 1024 + r.entries.len() * 1600);
    let title = match &r.scope {
        Scope::Estate => "Risk report: every team".to_owned(),
        Scope::Team(t) => format!("Risk report: team {}", text(t, NAME_CHARS)),
    };
    let _ = write!(
        out,
        r#"<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><meta http-equiv="Content-Security-Policy" content="{csp}"><meta name="referrer" content="no-referrer"><title>{title}</title><style>{STYLE}</style><noscript><style>tbody.r[hidden]{{display:table-row-group}}</style></noscript></head><body><header><h1>{title}</h1><p class="meta">As of {now} UTC · policy {policy} · levels: warn from {w}, disable from {d}, kill from {k} points · Justice Engine</p></header><main data-page="{PAGE_ROWS}">"#,
        csp = csp(),
        now = format_rfc3339(r.now),
        policy = text(&r.policy.version, 40),
        w = r.policy.thresholds.warn,
        d = r.policy.thresholds.disable,
        k = r.policy.thresholds.kill,
    );
    summary(&mut out, r);
    out.push_str(r#"<nav class="controls" aria-label="Filter"><label>Filter <input id="q" type="search" placeholder="name, account, rule, owner…" autocomplete="off"></label><label>Level <select id="lv"><option value="0">all</option><option value="1">warn and above</option><option value="2">disable and above</option><option value="3">kill</option></select></label><span id="count"></span></nav>"#);
    // Team, then account, each once, in name order; within a table the riskiest first.
    let mut grouped: BTreeMap<&str, ByAccount<'_>> = BTreeMap::new();
    for (i, e) in r.entries.iter().enumerate() {
        grouped
            .entry(&e.team)
            .or_default()
            .entry(&e.state.account)
            .or_default()
            .push((i, e));
    }
    if grouped.is_empty() {
        out.push_str("<p>No resource has an open finding.</p>");
    }
    for (team, accounts) in &grouped {
        let n: usize = accounts.values().map(Vec::len).sum();
        let _ = write!(
            out,
            r#"<section class="team"><h2>Team {} <small>{n} resource(s)</small></h2>"#,
            text(team, NAME_CHARS)
        );
        for (account, entries) in accounts {
            let _ = write!(
                out,
                r#"<section class="account"><h3>Account {} <small>{} resource(s)</small></h3><table class="res"><thead><tr><th data-sort="name">Resource</th><th data-sort="type">Type</th><th data-sort="region">Region</th><th data-sort="score" data-num aria-sort="descending">Score</th><th data-sort="level" data-num>Level</th><th data-sort="due" data-num>Next task</th></tr></thead>"#,
                text(account, 20),
                entries.len()
            );
            for (n, (i, e)) in entries.iter().enumerate() {
                resource(&mut out, *i, e, r, n >= PAGE_ROWS);
            }
            out.push_str(r#"</table><p class="pager" hidden><button type="button">Show more</button> <span></span></p></section>"#);
        }
        out.push_str("</section>");
    }
    let _ = write!(out, r#"</main><script>{SCRIPT}</script></body></html>"#);
    out
}

fn summary(out: &mut String, r: &Report<'_>) {
    let s = r.summary();
    out.push_str(r#"<section id="summary" aria-label="Summary"><div class="cards">"#);
    for (class, label, n) in [
        ("kill", "kill", s.by_level[3]),
        ("disable", "disable", s.by_level[2]),
        ("warn", "warn", s.by_level[1]),
        ("none", "below warn", s.by_level[0]),
        ("", "tasks due within 24 h", s.due_24h),
        ("", "tasks due within 72 h", s.due_72h),
        ("", "held (blast radius)", s.held),
        ("", "no automatic fix", s.unactionable),
    ] {
        let _ = write!(out, r#"<div class="card {class}"><b>{n}</b>{label}</div>"#);
    }
    out.push_str("</div>");
    let _ = write!(
        out,
        "<p>{} resource(s) on this page, {} task(s) of theirs pending in <code>tasks.json</code>.</p>",
        s.resources, s.tasks
    );
    if !r.unreadable.is_empty() {
        let _ = write!(
            out,
            r#"<div class="alert"><b>{} resource(s) could not be read and are not shown:</b><ul>"#,
            r.unreadable.len()
        );
        for u in r.unreadable.iter().take(50) {
            let _ = write!(out, "<li>{}</li>", text(u, 300));
        }
        out.push_str("</ul></div>");
    }
    if !r.entries.is_empty() {
        out.push_str(r#"<h2>Top risks</h2><ol class="top">"#);
        for (i, e) in r.entries.iter().enumerate().take(TOP) {
            let next = e
                .next_due()
                .map(|d| format!("; next task {}", time_left(d, r.now)))
                .unwrap_or_default();
            let _ = write!(
                out,
                r##"<li><a href="#r-{i}">{}</a> <span class="lvl {lvl}">{}</span> score {} · {} · account {} · team {}{next}</li>"##,
                text(name(e), NAME_CHARS),
                level_name(e.state.level),
                e.state.score,
                text(&e.state.resource_type, 80),
                text(&e.state.account, 20),
                text(&e.team, NAME_CHARS),
                lvl = e.state.level.as_str(),
            );
        }
        out.push_str("</ol>");
    }
    out.push_str("</section>");
}

/// One resource: a row, and under it the details (findings, tasks, chart).
fn resource(out: &mut String, i: usize, e: &Entry, r: &Report<'_>, hidden: bool) {
    let s = &e.state;
    let name = name(e);
    // What the filter matches: each field cut on its own, so that a long name cannot push
    // the rules out.
    let mut search = String::new();
    let rules = s.findings.iter().map(|f| f.finding.rule.as_str());
    for part in rules.chain([
        name,
        &s.resource_id,
        s.arn.as_deref().unwrap_or(""),
        &s.resource_type,
        &s.account,
        &s.region,
        &e.team,
        s.owner.as_deref().unwrap_or(""),
    ]) {
        search.extend(part.chars().take(300));
        search.push(' ');
    }
    let due = e.next_due();
    let _ = write!(
        out,
        r#"<tbody class="r" id="r-{i}"{} data-name="{}" data-type="{}" data-region="{}" data-score="{}" data-level="{}" data-due="{}" data-text="{}"><tr class="main"><td><b>{}</b><br><code>{}</code></td><td>{}</td><td>{}</td><td class="num">{}</td><td><span class="lvl {}">{}</span></td><td>{}</td></tr>"#,
        if hidden { " hidden" } else { "" },
        text(&name.to_lowercase(), NAME_CHARS),
        text(&s.resource_type, 80),
        text(&s.region, 30),
        s.score,
        // The level's rank, none 0 to kill 3: what the level filter compares.
        s.level as u8,
        due.map(|d| d.to_string()).unwrap_or_default(),
        text(&search.to_lowercase(), 4000),
        text(name, NAME_CHARS),
        text(s.arn.as_deref().unwrap_or(&s.resource_id), 400),
        text(&s.resource_type, 80),
        text(&s.region, 30),
        s.score,
        s.level.as_str(),
        level_name(s.level),
        due.map_or_else(|| "none".to_owned(), |d| time_left(d, r.now)),
    );
    let _ = write!(
        out,
        r#"<tr class="more"><td colspan="6"><details><summary>{} finding(s), {} task(s), score over time</summary><div class="detail"><div class="findings">"#,
        s.findings.len(),
        e.tasks.len()
    );
    if let Some(v) = &e.verdict {
        let _ = write!(
            out,
            "<p>Verdict <b>{}</b> since {}{}</p>",
            v.kind.as_str(),
            format_rfc3339(v.since),
            v.person
                .as_deref()
                .map(|p| format!(": {}", text(p, EVIDENCE_CHARS)))
                .unwrap_or_default()
        );
    }
    if let Some(owner) = &s.owner {
        let _ = write!(out, "<p>Owner: {}</p>", text(owner, NAME_CHARS));
    }
    out.push_str("<table><thead><tr><th>Rule</th><th>Evidence</th><th>Points</th><th>How to fix</th></tr></thead><tbody>");
    for f in &s.findings {
        let fix = r.policy.rule(&f.finding.rule).map_or("", |v| v.remediation);
        let subject = if f.finding.subject.is_empty() {
            String::new()
        } else {
            format!(" ({})", text(&f.finding.subject, NAME_CHARS))
        };
        let _ = write!(
            out,
            r#"<tr><td><code>{}</code>{subject}<br><small>{} · open since {}</small></td><td class="ev">{}</td><td class="num" title="{} base × {:.2} age × {:.2} recidivism">{}</td><td>{}</td></tr>"#,
            text(&f.finding.rule, 80),
            f.finding.severity.as_str(),
            format_rfc3339(f.first_seen),
            text(&f.finding.evidence, EVIDENCE_CHARS),
            f.base_points,
            f.age_factor,
            f.recidivism_factor,
            f.points,
            text(fix, EVIDENCE_CHARS),
        );
    }
    out.push_str("</tbody></table>");
    for err in &s.rule_errors {
        let _ = write!(
            out,
            r#"<p class="alert">Rule <code>{}</code> could not be evaluated: {}</p>"#,
            text(&err.rule, 80),
            text(&err.error, EVIDENCE_CHARS)
        );
    }
    if !e.tasks.is_empty() {
        out.push_str(
            "<table><thead><tr><th>Krampus task</th><th>On</th><th>Runs</th></tr></thead><tbody>",
        );
        for t in &e.tasks {
            let _ = write!(
                out,
                "<tr><td><b>{}</b></td><td>{}</td><td>{} <small>({})</small></td></tr>",
                text(&t.action, 40),
                text(t.target.as_deref().unwrap_or("the resource"), 200),
                time_left(t.due, r.now),
                format_rfc3339(t.due)
            );
        }
        out.push_str("</tbody></table>");
    }
    out.push_str("</div><div>");
    chart::svg(out, &e.series, r.policy);
    out.push_str("</div></div></details></td></tr></tbody>");
}
