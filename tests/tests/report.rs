//! The risk report's page: hostile resource text adds no markup and no hidden character, the
//! summary counts what the page lists, and a team's page holds its own resources only.

use std::collections::BTreeMap;

use justice_core::notice::AccountMap;
use justice_core::policy::Policy;
use justice_core::report::{self, Entry, Pending, Report, Scope, Summary};
use justice_core::rules::RuleError;
use justice_core::time::HOUR_MS;
use justice_core::verdict::{OpenLine, VerdictKind};
use justice_core::RiskState;
use justice_tests::states::{sg, T0};

/// The notices' corpus, and what breaks out of HTML text, attributes and scripts.
fn hostile_corpus() -> Vec<String> {
    let mut corpus = justice_tests::hostile_corpus();
    corpus.extend(
        [
            "</script><script>alert(1)</script>",
            "\"><img src=x onerror=alert(1)>",
            "' onmouseover='alert(1)' x='",
            "<!-- </tbody></table> <svg onload=alert(1)> ]]> &#x3c;",
            "javascript:alert(1)",
        ]
        .map(str::to_owned),
    );
    corpus
}

/// A resource whose every untrusted field is `s`, with a task and an open verdict.
fn entry(s: &str, policy: &Policy) -> Entry {
    let mut st: RiskState = sg(170, &[22, 3389]);
    st.resource_name = Some(s.to_owned());
    st.owner = Some(s.to_owned());
    st.tags = Some(BTreeMap::from([
        ("team".to_owned(), s.to_owned()),
        ("Owner".to_owned(), s.to_owned()),
    ]));
    for f in &mut st.findings {
        f.finding.evidence = s.to_owned();
        f.finding.subject = s.to_owned();
    }
    st.rule_errors = vec![RuleError {
        rule: s.to_owned(),
        error: s.to_owned(),
    }];
    let mut e = Entry::new(st, &[], policy, T0, &AccountMap::default(), "security");
    e.tasks = vec![Pending {
        action: s.to_owned(),
        due: T0 + HOUR_MS,
        target: Some(s.to_owned()),
        team: Some(s.to_owned()),
        owner: Some(s.to_owned()),
    }];
    e.verdict = Some(OpenLine {
        kind: VerdictKind::Unactionable,
        level: e.state.level,
        since: T0,
        account: e.state.account.clone(),
        name: s.to_owned(),
        arn: String::new(),
        team: Some(s.to_owned()),
        owner: Some(s.to_owned()),
        issues: vec![s.to_owned()],
        person: Some(s.to_owned()),
    });
    e
}

/// The page's markup: every tag and attribute quote, in order, outside the text.
fn markup(html: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = html;
    while let Some(i) = rest.find(['<', '"']) {
        let tail = &rest[i..];
        if let Some(after) = tail.strip_prefix('"') {
            out.push("\"".to_owned());
            rest = after;
            continue;
        }
        let end = tail[1..]
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '/' || c == '!'))
            .map_or(tail.len(), |e| e + 1);
        out.push(tail[..end].to_owned());
        rest = &tail[1..];
    }
    out
}

/// Outside the page's own script and style.
fn body_text(html: &str) -> String {
    let cut = |s: &str, open: &str, close: &str| -> String {
        match (s.find(open), s.find(close)) {
            (Some(a), Some(b)) if b > a => format!("{}{}", &s[..a], &s[b + close.len()..]),
            _ => s.to_owned(),
        }
    };
    cut(&cut(html, "<style>", "</style>"), "<script>", "</script>")
}

#[test]
fn hostile_text_adds_no_markup_and_no_hidden_character() {
    let policy = Policy::default_policy();
    let unreadable_benign = vec!["x".to_owned()];
    let benign = vec![entry("x", &policy)];
    let page = |entries: &[Entry], unreadable: &[String], team: &str| {
        let estate = report::render(&Report::new(
            Scope::Estate,
            entries,
            unreadable,
            &policy,
            T0,
        ));
        let team = report::render(&Report::new(
            Scope::Team(team.to_owned()),
            entries,
            unreadable,
            &policy,
            T0,
        ));
        (estate, team)
    };
    let (benign_estate, benign_team) = page(&benign, &unreadable_benign, "x");
    assert!(benign_estate.contains("<svg") && benign_team.contains("<tbody class=\"r\""));
    for evil in hostile_corpus() {
        let entries = vec![entry(&evil, &policy)];
        let team = entries[0].team.clone();
        let unreadable = vec![evil.clone()];
        let (estate, team_page) = page(&entries, &unreadable, &team);
        for (html, benign) in [(&estate, &benign_estate), (&team_page, &benign_team)] {
            assert_eq!(markup(html), markup(benign), "markup changed by {evil:?}");
            let text = body_text(html);
            assert!(
                !text.chars().any(justice_core::text::is_hidden),
                "hidden character from {evil:?}"
            );
            assert_eq!(html.matches("<script").count(), 1);
            assert!(!text.contains("<img") && !text.contains("<svg onload"));
        }
        // A team's page name is a plain file and object name whatever the team is called.
        let name = report::page_name(&evil);
        assert!(
            name.starts_with("team-")
                && name.ends_with(".html")
                && name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
                && !name.contains(".."),
            "{name}"
        );
    }
}

#[test]
fn the_script_runs_only_by_its_hash_and_nothing_loads_from_elsewhere() {
    let policy = Policy::default_policy();
    let entries = vec![entry("x", &policy)];
    let html = report::render(&Report::new(Scope::Estate, &entries, &[], &policy, T0));
    let csp_start = html
        .find("Content-Security-Policy\" content=\"")
        .expect("csp")
        + 34;
    let csp = &html[csp_start..csp_start + html[csp_start..].find('"').expect("end")];
    assert!(csp.starts_with("default-src 'none';"), "{csp}");
    assert!(csp.contains("script-src 'sha256-") && !csp.contains("unsafe-inline'; script"));
    // Self-contained: no URL of anything to fetch.
    for needle in [
        "src=\"http",
        "href=\"http",
        "url(",
        "@import",
        "<link",
        "<iframe",
    ] {
        assert!(!html.contains(needle), "{needle}");
    }
    assert!(html.contains(&format!("<script>{}</script>", report::SCRIPT)));
}

#[test]
fn the_summary_counts_levels_tasks_by_when_they_run_and_verdicts() {
    let policy = Policy::default_policy();
    let now = T0;
    let mk = |score: u32, due_hours: &[i64], verdict: Option<VerdictKind>, id: &str| {
        let mut st = sg(score, &[22]);
        st.key = justice_core::ResourceKey::new(&st.account, &st.region, &st.resource_type, id)
            .expect("key");
        let mut e = Entry::new(st, &[], &policy, now, &AccountMap::default(), "security");
        e.tasks = due_hours
            .iter()
            .map(|h| Pending {
                action: "disable".into(),
                due: now + h * HOUR_MS,
                target: None,
                team: None,
                owner: None,
            })
            .collect();
        e.verdict = verdict.map(|kind| OpenLine {
            kind,
            level: e.state.level,
            since: now,
            account: e.state.account.clone(),
            name: id.into(),
            arn: String::new(),
            team: None,
            owner: None,
            issues: vec![],
            person: None,
        });
        e
    };
    let entries = vec![
        mk(200, &[-5, 10], None, "sg-1"),
        mk(70, &[30], Some(VerdictKind::Held), "sg-2"),
        mk(30, &[100], Some(VerdictKind::Unactionable), "sg-3"),
        mk(5, &[], None, "sg-4"),
    ];
    let r = Report::new(Scope::Estate, &entries, &[], &policy, now);
    assert_eq!(
        r.summary(),
        Summary {
            resources: 4,
            by_level: [1, 1, 1, 1],
            tasks: 4,
            due_24h: 2,
            due_72h: 3,
            held: 1,
            unactionable: 1,
        }
    );
    // Riskiest first; a team's page holds its team only.
    let scores: Vec<u32> = r.entries.iter().map(|e| e.state.score).collect();
    assert_eq!(scores, [200, 70, 30, 5]);
    let none = Report::new(Scope::Team("nobody".into()), &entries, &[], &policy, now);
    assert!(none.entries.is_empty());
    assert!(report::render(&none).contains("No resource has an open finding."));
}

/// A resource is on the page of the team its digest lists it under (its task's team, as the
/// judge wrote it, even after its tag changed), and a read limit takes the resources with a
/// task first and counts the rest.
#[test]
fn pages_follow_the_digests_teams_and_a_limit_reads_tasks_first() {
    use justice_service::report::gather;
    let w = justice_tests::local::LocalWorld::new(10);
    let policy = Policy::default_policy();
    let tagged = |mut s: RiskState, id: &str, team: &str| {
        s.key = justice_core::ResourceKey::new(&s.account, &s.region, &s.resource_type, id)
            .expect("key");
        s.resource_id = id.to_owned();
        s.arn = Some(format!(
            "arn:aws:ec2:us-east-1:{}:security-group/{id}",
            s.account
        ));
        s.tags = Some(BTreeMap::from([("team".to_owned(), team.to_owned())]));
        s
    };
    let acted = tagged(sg(170, &[22]), "sg-000000a1", "team-a");
    w.judge(std::slice::from_ref(&acted), &policy, T0);
    // Its tag changes; tasks.json says team-a until the judge runs again.
    let mut moved = acted.clone();
    moved.tags = Some(BTreeMap::from([("team".to_owned(), "team-b".to_owned())]));
    let quiet = tagged(sg(10, &[22]), "sg-000000c1", "team-c");
    w.rt.block_on(justice_tests::write_states(&w.store, &[moved, quiet]));
    let read = |limit| {
        w.rt.block_on(async {
            let view = justice_service::read_board(&w.board, &w.store, false).await?;
            gather(&w.store, &view, &policy, "security", T0, limit).await
        })
        .expect("gathered")
    };
    let all = read(usize::MAX);
    let teams: Vec<(&str, &str, usize)> = all
        .entries
        .iter()
        .map(|e| (e.state.resource_id.as_str(), e.team.as_str(), e.tasks.len()))
        .collect();
    assert_eq!(teams.len(), 2, "{teams:?}");
    assert!(teams.contains(&("sg-000000c1", "team-c", 0)), "{teams:?}");
    assert!(
        teams
            .iter()
            .any(|&(id, team, tasks)| id == "sg-000000a1" && team == "team-a" && tasks > 0),
        "{teams:?}"
    );
    assert!(all.unreadable.is_empty(), "{:?}", all.unreadable);
    let one = read(1);
    assert_eq!(one.entries.len(), 1);
    assert_eq!(one.entries[0].state.resource_id, "sg-000000a1");
    assert_eq!(
        one.unreadable,
        ["1 of 2 resource(s) not read: the report reads at most 1"]
    );
}
