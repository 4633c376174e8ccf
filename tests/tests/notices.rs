//! Notices as owners read them: a snapshot of the email text and of the JSON notice for each
//! kind, the recipient resolution, and hostile resource text neutralised.

use std::collections::BTreeMap;

use justice_core::allow::AllowList;
use justice_core::krampus::TasksFile;
use justice_core::notice::{self, AccountMap, DigestEntry, NoticeContext, NoticeKind};
use justice_core::policy::{Level, Policy};
use justice_core::time::HOUR_MS;
use justice_core::verdict::{Decision, Docket, Judgement, OpenLine, VerdictKind, VerdictRecord};
use justice_core::RiskState;
use justice_tests::states::{sg, ACCOUNT, T0};

fn tagged(mut s: RiskState, tags: &[(&str, &str)]) -> RiskState {
    s.tags = Some(
        tags.iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
    );
    s
}

fn decide(s: &RiskState, docket: Option<&Docket>, now: i64, budget: u32) -> Decision {
    decide_on(s, docket, now, budget, &BTreeMap::new())
}

fn decide_on(
    s: &RiskState,
    docket: Option<&Docket>,
    now: i64,
    budget: u32,
    board: &BTreeMap<String, i64>,
) -> Decision {
    let policy = Policy::default_policy();
    let allow = AllowList::default();
    let accounts = vec![ACCOUNT.to_owned()];
    let j = Judgement {
        policy: &policy,
        allow: &allow,
        accounts: &accounts,
        now,
        dry_run: false,
    };
    let mut budget = budget;
    j.decide(&s.key, Some(s), docket, board, &mut budget)
}

fn owned(score: u32, revision: u64) -> RiskState {
    let mut s = tagged(
        sg(score, if score > 0 { &[22] } else { &[] }),
        &[("Owner", "alice@example.com"), ("team", "Team-A")],
    );
    s.revision = revision;
    s
}

/// The record of each kind, in order: warning, escalated, resolved, done, advisory.
fn records() -> Vec<(NoticeKind, VerdictRecord)> {
    // The tasks as they stand in tasks.json between the decisions.
    let mut file = TasksFile::default();
    let mut on_board = |d: &Decision| {
        file.apply(&d.remove, &d.add);
        file.ours()
            .get(d.docket.key.as_str())
            .cloned()
            .unwrap_or_default()
    };
    let d1 = decide(&owned(60, 1), None, T0, 10);
    let b1 = on_board(&d1);
    let d2 = decide_on(&owned(160, 2), Some(&d1.docket), T0 + 5 * HOUR_MS, 10, &b1);
    let b2 = on_board(&d2);
    let d3 = decide_on(&owned(0, 3), Some(&d2.docket), T0 + 6 * HOUR_MS, 10, &b2);
    // Krampus revoked the rule after its time and Config shows it: done.
    let revoked = RiskState {
        capture_time: T0 + 25 * HOUR_MS,
        ..owned(0, 2)
    };
    let done = decide_on(&revoked, Some(&d1.docket), T0 + 25 * HOUR_MS, 10, &b1);
    let warn = decide(&owned(30, 1), None, T0, 10);
    vec![
        (NoticeKind::Warning, d1.record.expect("record")),
        (NoticeKind::Escalated, d2.record.expect("record")),
        (NoticeKind::Resolved, d3.record.expect("record")),
        (NoticeKind::Done, done.record.expect("record")),
        (NoticeKind::Advisory, warn.record.expect("record")),
    ]
}

fn ctx<'a>(policy: &'a Policy, map: &'a AccountMap) -> NoticeContext<'a> {
    NoticeContext {
        policy,
        accounts: map,
        default_team: "security",
        security_contact: "security@example.com",
    }
}

/// A held verdict is told to the security team by the judge's batch alert, which lists every
/// held resource: no notice of its own, to the owner or to the security team.
#[test]
fn a_held_verdict_has_no_notice_of_its_own() {
    let held = decide(&owned(60, 1), None, T0, 0);
    let record = held.record.expect("record");
    assert_eq!(record.kind, justice_core::verdict::VerdictKind::Held);
    let policy = Policy::default_policy();
    let map = AccountMap::default();
    assert!(notice::for_verdict(&record, &ctx(&policy, &map)).is_none());
}

#[test]
fn each_kind_of_notice_renders_as_snapshotted() {
    let policy = Policy::default_policy();
    let map = AccountMap::default();
    for (kind, record) in records() {
        let n = notice::for_verdict(&record, &ctx(&policy, &map)).expect("a notice");
        assert_eq!(n.kind, kind);
        assert_eq!(n.attributes["team"], "team-a");
        assert_eq!(n.attributes["event"], kind.as_str());
        assert!(n.subject.len() <= 100 && n.subject.is_ascii());
        insta::assert_snapshot!(format!("{}_text", kind.as_str()), n.text());
        insta::assert_json_snapshot!(format!("{}_json", kind.as_str()), n.renderings["json"]);
    }
    let entries = vec![
        DigestEntry {
            resource: "web".into(),
            arn: format!("arn:aws:ec2:us-east-1:{ACCOUNT}:security-group/sg-0123abcd"),
            action: "disable".into(),
            action_time: T0 / 1000 + 24 * 3600,
            issues: vec!["tcp/22 open to 0.0.0.0/0".into()],
        },
        DigestEntry {
            resource: "db".into(),
            arn: format!("arn:aws:rds:us-east-1:{ACCOUNT}:db:orders"),
            action: "disable".into(),
            action_time: T0 / 1000 + 3 * 3600,
            issues: vec!["publicly accessible".into()],
        },
    ];
    let d = notice::digest(
        "team-a",
        "2026-09-21T00:00:00.000Z",
        &entries,
        &[&OpenLine {
            kind: VerdictKind::Unactionable,
            level: Level::Disable,
            since: T0 - 48 * 3_600_000,
            account: ACCOUNT.into(),
            name: "assets".into(),
            arn: "arn:aws:s3:::assets".into(),
            team: Some("team-a".into()),
            owner: None,
            issues: vec!["s3-public-policy: Principal *".into()],
            person: Some("no task fixes its critical finding(s) s3-public-policy".into()),
        }],
        3,
        T0,
        "security@example.com",
        Some(justice_core::report::Link {
            url: "https://justice-tasks.s3.us-east-1.amazonaws.com/reports/2026-09-21T00:00:00.000Z/team-team-a.html?X-Amz-Signature=0",
            summary: justice_core::report::Summary {
                resources: 4,
                by_level: [1, 1, 1, 1],
                tasks: 2,
                due_24h: 1,
                due_72h: 2,
                held: 0,
                unactionable: 1,
            },
            expires: T0 + 24 * HOUR_MS,
        }),
    );
    insta::assert_snapshot!("digest_text", d.text());
    insta::assert_json_snapshot!("digest_json", d.renderings["json"]);
}

#[test]
fn owners_come_from_tags_then_the_account_mapping_then_the_default() {
    let policy = Policy::default_policy();
    let map = AccountMap::parse(
        format!(r#"[{{"account": "{ACCOUNT}", "team": "payments", "contact": "pay@example.com", "topic": "arn:aws:sns:us-east-1:{ACCOUNT}:payments"}}]"#).as_bytes(),
    )
    .expect("mapping");
    let tags = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    };
    let r = notice::recipient(
        Some(&tags(&[("TEAM", "Web-Shop"), ("OWNER", "bob")])),
        ACCOUNT,
        &policy,
        &map,
        "security",
    );
    assert_eq!(
        (r.team.as_str(), r.owner.as_deref(), r.found_by.as_str()),
        ("web-shop", Some("bob"), "tag:TEAM")
    );
    let r = notice::recipient(
        Some(&tags(&[("owner", "bob")])),
        ACCOUNT,
        &policy,
        &map,
        "security",
    );
    assert_eq!(
        (r.team.as_str(), r.found_by.as_str()),
        ("payments", "account-mapping")
    );
    assert_eq!(
        r.topic.as_deref(),
        Some(format!("arn:aws:sns:us-east-1:{ACCOUNT}:payments").as_str())
    );
    let r = notice::recipient(None, "999988887777", &policy, &map, "security");
    assert_eq!(
        (r.team.as_str(), r.found_by.as_str()),
        ("security", "default")
    );
    // Krampus's mapping keys are read too.
    let k = AccountMap::parse(br#"[{"AccountNumber": "210987654321", "AccountName": "prod_website", "ContactEmail": "prod@example.com"}]"#).expect("krampus mapping");
    assert_eq!(k.entries["210987654321"].team, "prod_website");
    assert!(AccountMap::parse(br#"[{"account": "12", "team": "x"}]"#).is_err());
}

#[test]
fn hostile_resource_text_cannot_forge_lines_subjects_or_markup() {
    let evil_name = format!(
        "web\nSubject: URGENT wire money\r\nARN: arn:aws:iam::000000000000:root\u{202e}gnp.exe <script>alert(1)</script> *[click](http://evil)* {}",
        "A".repeat(5000)
    );
    let mut s = tagged(
        sg(60, &[22]),
        &[
            ("Owner", "mallory\nTeam: security"),
            ("team", "team-a\u{2066}\n"),
        ],
    );
    s.resource_name = Some(evil_name);
    let d = decide(&s, None, T0, 10);
    let policy = Policy::default_policy();
    let map = AccountMap::default();
    let n = notice::for_verdict(d.record.as_ref().expect("record"), &ctx(&policy, &map))
        .expect("notice");
    for line in n.text().lines() {
        assert!(
            !line.starts_with("Subject:") && !line.starts_with("ARN: arn:aws:iam::000000000000"),
            "forged line: {line}"
        );
        assert!(
            line.chars().count() < 1000,
            "a line of {} characters",
            line.chars().count()
        );
    }
    assert_eq!(
        n.text().lines().filter(|l| l.starts_with("ARN:")).count(),
        1
    );
    assert!(
        !n.text().contains('\u{202e}')
            && !n.text().contains('\u{2066}')
            && !n.text().contains('\r')
    );
    assert!(!n.subject.contains('\n') && n.subject.len() <= 100);
    assert_eq!(n.attributes["team"], "team-a");
    let chat = n.renderings["chat"]["content"]["description"]
        .as_str()
        .expect("chat text");
    assert!(
        !chat.contains("<script>") && !chat.contains("[click]"),
        "{chat}"
    );
    assert!(n.sns_message().len() < 256 * 1024);
}

/// Every string a rendering holds (a text channel's one, or a JSON channel's values).
fn strings(v: &serde_json::Value, out: &mut Vec<String>) {
    match v {
        serde_json::Value::String(s) => out.push(s.clone()),
        serde_json::Value::Array(a) => a.iter().for_each(|v| strings(v, out)),
        serde_json::Value::Object(o) => o.values().for_each(|v| strings(v, out)),
        _ => {}
    }
}

/// One corpus through every channel (a channel added to `notice::CHANNELS` is checked here
/// with no change), for a verdict's notice and a digest: no hidden or control character, no
/// line that looks like ours, no markup for chat, and each rendering within SNS's limit.
#[test]
fn every_channel_neutralises_the_hostile_corpus() {
    let policy = Policy::default_policy();
    let map = AccountMap::default();
    for evil in justice_tests::hostile_corpus() {
        let mut s = tagged(sg(60, &[22]), &[("Owner", &evil), ("team", &evil)]);
        s.resource_name = Some(evil.clone());
        for f in &mut s.findings {
            f.finding.evidence = evil.clone();
        }
        let d = decide(&s, None, T0, 10);
        let verdict = notice::for_verdict(d.record.as_ref().expect("record"), &ctx(&policy, &map))
            .expect("notice");
        let line = OpenLine {
            kind: VerdictKind::Unactionable,
            level: Level::Disable,
            since: T0,
            account: ACCOUNT.into(),
            name: evil.clone(),
            arn: evil.clone(),
            team: Some(evil.clone()),
            owner: Some(evil.clone()),
            issues: vec![evil.clone()],
            person: Some(evil.clone()),
        };
        let entry = DigestEntry {
            resource: evil.clone(),
            arn: evil.clone(),
            action: evil.clone(),
            action_time: T0 / 1000,
            issues: vec![evil.clone()],
        };
        let digest = notice::digest(&evil, "w", &[entry], &[&line], 1, T0, &evil, None);
        for n in [&verdict, &digest] {
            assert_eq!(n.renderings.len(), notice::CHANNELS.len());
            assert!(n.sns_message().len() < 256 * 1024);
            for c in notice::CHANNELS {
                let why = format!("{} of {:?} for {evil:?}", c.name(), n.kind);
                let mut all = Vec::new();
                strings(&n.renderings[c.name()], &mut all);
                assert!(!all.is_empty(), "{why}");
                for text in &all {
                    assert!(
                        !text.chars().any(|ch| matches!(ch,
                            '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{200b}'..='\u{200f}'
                            | '\u{feff}' | '\u{061c}' | '\u{2028}' | '\u{2029}' | '\u{e0000}'..='\u{e007f}'
                            | '\u{fff9}'..='\u{fffb}' | '\r')
                            || (ch.is_control() && ch != '\n')),
                        "{why}: {text:?}"
                    );
                    for l in text.lines() {
                        assert!(
                            !l.starts_with("Subject:")
                                && !l.starts_with("Team:")
                                && !l.starts_with("ARN: arn:aws:iam::000000000000"),
                            "{why}: forged line {l:?}"
                        );
                        assert!(l.chars().count() < 1000, "{why}: a line of {}", l.len());
                    }
                }
                if c.name() == "chat" {
                    let md = n.renderings["chat"]["content"]["description"]
                        .as_str()
                        .expect("description");
                    assert!(!md.contains("<b>") && !md.contains("[l]("), "{why}: {md}");
                }
            }
        }
    }
}

/// A verdict whose record was lost after its tasks were written: the next decision adopts the
/// tasks from tasks.json with nothing new to schedule, and the owner, never warned, is warned
/// then, before the tasks run. An owner already warned hears nothing again.
#[test]
fn tasks_adopted_after_a_lost_verdict_are_warned_of() {
    let s = owned(60, 1);
    let first = decide(&s, None, T0, 10);
    assert!(!first.add.is_empty());
    let board: BTreeMap<String, i64> = first
        .add
        .iter()
        .map(|t| (t.unique_id.clone(), t.action_time))
        .collect();
    // The first docket was never saved: the next decision starts from none.
    let mut s2 = s.clone();
    s2.revision = 2;
    let again = decide_on(&s2, None, T0 + HOUR_MS, 10, &board);
    let record = again.record.expect("a record");
    assert!(record.scheduled.is_empty(), "adopted, not scheduled again");
    assert_eq!(notice::kind_of(&record), Some(NoticeKind::Warning));

    // Saved this time: the owner was warned; the next decision says nothing new.
    let mut s3 = s.clone();
    s3.revision = 3;
    let quiet = decide_on(&s3, Some(&again.docket), T0 + 2 * HOUR_MS, 10, &board);
    assert!(quiet
        .record
        .as_ref()
        .is_none_or(|r| notice::kind_of(r).is_none()));
}
