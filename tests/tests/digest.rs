//! The digests, over the local adapters: a team's digest lists its pending tasks and every
//! verdict that waits on a person (a warning, no automatic fix, held), window after window
//! until the resource is fixed; the security team's digest lists what no automation will fix.

use justice_core::policy::{Level, Policy};
use justice_core::time::HOUR_MS;
use justice_core::verdict::VerdictKind;
use justice_core::RiskState;
use justice_tests::local::LocalWorld;
use justice_tests::states::{finding, ssh_group, state, ACCOUNT, T0};

/// Owned by team-a, through its owner tag, as the notices find it.
fn owned(mut s: RiskState) -> RiskState {
    s.tags = Some([("owner".to_owned(), "team-a".to_owned())].into());
    s
}

fn group(id: &str, revision: u64) -> RiskState {
    owned(ssh_group(id, revision))
}

fn bucket_policy(revision: u64) -> RiskState {
    let mut s = state(
        "AWS::S3::Bucket",
        "bucket-2",
        Some("arn:aws:s3:::bucket-2"),
        100,
        vec![finding("s3-public-policy", "Principal *", vec![])],
    );
    s.revision = revision;
    owned(s)
}

fn volume() -> RiskState {
    owned(state(
        "AWS::EC2::Volume",
        "vol-00000002",
        Some(&format!(
            "arn:aws:ec2:us-east-1:{ACCOUNT}:volume/vol-00000002"
        )),
        100,
        vec![finding("ebs-volume-unencrypted", "not encrypted", vec![])],
    ))
}

#[test]
fn open_verdicts_stay_in_the_digests_until_fixed() {
    let w = LocalWorld::new(1);
    let policy = Policy::default_policy();
    let run = |states: &[RiskState], now: i64| w.judge(states, &policy, now);
    // One group acted on (the hour's budget), one held, a public bucket policy Krampus cannot
    // fix, an unencrypted volume (hygiene: advised, never acted on).
    let vol = volume();
    assert!(
        vol.level >= Level::Disable,
        "the volume is over the action level"
    );
    let records = run(
        &[group("sg-00000001", 1), bucket_policy(1), vol.clone()],
        T0,
    );
    let kinds: Vec<VerdictKind> = records.iter().map(|r| r.kind).collect();
    assert!(kinds.contains(&VerdictKind::Act), "{kinds:?}");
    assert!(kinds.contains(&VerdictKind::Unactionable), "{kinds:?}");
    assert!(kinds.contains(&VerdictKind::Warn), "{kinds:?}");
    let held = run(&[group("sg-ffffffff", 1)], T0);
    assert_eq!(held[0].kind, VerdictKind::Held);
    let alerts_before = w.security_alerts().len();
    let digest = |window: &str, now: i64| w.digest(window, now);
    let day1 = "2026-09-21T00:00:00.000Z";
    let sent = digest(day1, T0 + HOUR_MS);
    assert_eq!(sent, vec!["team-a", "security (escalations)"], "{sent:?}");
    // Sent once per window.
    assert!(digest(day1, T0 + 2 * HOUR_MS).is_empty());

    let notices = w.outbox.notices().expect("notices");
    let d = notices
        .iter()
        .rev()
        .find(|n| n["kind"] == "digest")
        .expect("a digest");
    assert_eq!(d["to"], "team-a");
    let json = &d["json"];
    assert_eq!(json["tasks"].as_array().map(Vec::len), Some(1), "{json}");
    let open: Vec<(&str, &str)> = json["open"]
        .as_array()
        .expect("open list")
        .iter()
        .map(|o| {
            (
                o["arn"].as_str().unwrap_or_default(),
                o["verdict"].as_str().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(open.len(), 3, "{open:?}");
    for (arn, verdict) in [
        ("arn:aws:s3:::bucket-2", "unactionable"),
        ("volume/vol-00000002", "warn"),
        ("security-group/sg-ffffffff", "held"),
    ] {
        assert!(
            open.iter().any(|(a, v)| a.ends_with(arn) && *v == verdict),
            "{arn} {verdict}: {open:?}"
        );
    }
    assert!(d["text"]
        .as_str()
        .is_some_and(|t| t
            .contains("fix it by hand: no task fixes its critical finding(s) s3-public-policy")));

    // The security team hears of what no automation fixes, not of the hygiene warning.
    let alerts = w.security_alerts();
    assert_eq!(alerts.len(), alerts_before + 1, "{alerts:?}");
    let body = alerts[alerts.len() - 1]["body"].as_str().expect("body");
    assert!(body.contains("arn:aws:s3:::bucket-2"), "{body}");
    assert!(body.contains("sg-ffffffff"), "{body}");
    assert!(!body.contains("vol-00000002"), "{body}");

    // The bucket is fixed within the hour (whose budget the hold used up, so the held group
    // stays held); a day later the volume is still listed, the bucket is not.
    let mut fixed = bucket_policy(2);
    fixed.findings.clear();
    fixed.score = 0;
    fixed.level = Level::None;
    run(&[fixed], T0 + 2 * 60_000);
    let day2 = "2026-09-22T00:00:00.000Z";
    let sent = digest(day2, T0 + 25 * HOUR_MS);
    assert!(sent.contains(&"team-a".to_owned()), "{sent:?}");
    let notices = w.outbox.notices().expect("notices");
    let d = notices.last().expect("a digest");
    let open = d["json"]["open"].as_array().expect("open list");
    assert_eq!(open.len(), 2, "{open:?}");
    assert!(
        open.iter().all(|o| o["arn"] != "arn:aws:s3:::bucket-2"),
        "{open:?}"
    );
    let alerts = w.security_alerts();
    let body = alerts[alerts.len() - 1]["body"].as_str().expect("body");
    assert!(
        !body.contains("bucket-2") && body.contains("sg-ffffffff"),
        "{body}"
    );
}

/// Whatever the number of open lines, the most severe are listed and the rest counted: a
/// flood of warnings in one account hides no critical line, neither from its team nor from
/// the security team. Lines go to the team the notices go to, and a resource's own name
/// cannot pose as our words.
#[test]
fn a_flood_of_warnings_hides_nothing_and_lines_go_where_notices_go() {
    let w = LocalWorld::new(10);
    let policy = Policy::default_policy();
    let mut states: Vec<RiskState> = (0..700)
        .map(|i| {
            let mut s = state(
                "AWS::EC2::Volume",
                &format!("vol-{i:08x}"),
                Some(&format!(
                    "arn:aws:ec2:us-east-1:{ACCOUNT}:volume/vol-{i:08x}"
                )),
                40,
                vec![finding("ebs-volume-unencrypted", "not encrypted", vec![])],
            );
            s.level = Level::Warn;
            s.tags = Some([("team".to_owned(), "bulk".to_owned())].into());
            s
        })
        .collect();
    let mut critical = bucket_policy(1);
    // An owner tag with a hidden character, and a name that imitates our words.
    critical.tags = Some([("owner".to_owned(), "ali\u{200b}ce".to_owned())].into());
    critical.resource_name = Some("x\", account 999999999999; kill since 2001".into());
    states.push(critical.clone());
    for chunk in states.chunks(100) {
        w.judge(chunk, &policy, T0);
    }
    let sent = w.digest("w1", T0 + HOUR_MS);
    // The critical bucket's owner is "alice" for its notices and for its line alike.
    let recipient = justice_core::notice::recipient(
        critical.tags.as_ref(),
        ACCOUNT,
        &policy,
        &justice_core::notice::AccountMap::default(),
        "security",
    );
    assert_eq!(recipient.team, "alice");
    assert_eq!(
        sent,
        vec!["alice", "bulk", "security (escalations)"],
        "{sent:?}"
    );
    let notices = w.outbox.notices().expect("notices");
    let bulk = notices
        .iter()
        .find(|n| n["to"] == "bulk")
        .expect("bulk digest");
    assert_eq!(bulk["json"]["open_total"], 700);
    let listed = bulk["json"]["open"].as_array().map_or(0, Vec::len);
    assert_eq!(listed, justice_core::notice::OPEN_LISTED);
    assert!(bulk["text"]
        .as_str()
        .is_some_and(|t| t.contains(&format!("… and {} more", 700 - listed))));
    let alice = notices
        .iter()
        .find(|n| n["to"] == "alice")
        .expect("alice digest");
    let text = alice["text"].as_str().expect("text");
    // The name stays inside its quotes: the account and level outside them are ours.
    assert!(
        text.contains("(named \"x', account 999999999999; kill since 2001\", account 111122223333; disable since"),
        "{text}"
    );
    let alerts = w.security_alerts();
    let body = alerts[alerts.len() - 1]["body"].as_str().expect("body");
    assert!(
        body.contains("arn:aws:s3:::bucket-2") && !body.contains("vol-"),
        "{body}"
    );
}

/// A warning about an exempt or allow-listed resource is someone's decision already: it is
/// not listed. A task someone removed from tasks.json before its time leaves the resource
/// waiting on a person: it is listed, for the security team too.
#[test]
fn exempt_warnings_are_not_listed_and_lost_tasks_are() {
    let policy = Policy::from_toml(&format!(
        "version = 1\n[[exemptions]]\nresource = \"{ACCOUNT}/us-east-1/AWS::EC2::Volume/*\"\nreason = \"scratch disks\"\nexpires = \"2099-01-01T00:00:00Z\"\n"
    ))
    .expect("policy");
    let allow = justice_core::allow::AllowList::default();
    let accounts = vec![ACCOUNT.to_owned()];
    let j = justice_core::verdict::Judgement {
        policy: &policy,
        allow: &allow,
        accounts: &accounts,
        now: T0,
        dry_run: false,
    };
    let mut vol = volume();
    vol.level = Level::Warn;
    let mut budget = 10;
    let d = j.decide(&vol.key, Some(&vol), None, &Default::default(), &mut budget);
    assert_eq!(d.docket.kind, VerdictKind::Exempt);
    assert!(d.docket.open.is_none(), "{:?}", d.docket.open);

    // A group acted on; its task is gone from the file before its time.
    let default = Policy::default_policy();
    let j = justice_core::verdict::Judgement {
        policy: &default,
        ..j
    };
    let g = group("sg-0000100e", 1);
    let d1 = j.decide(&g.key, Some(&g), None, &Default::default(), &mut budget);
    assert_eq!(d1.docket.kind, VerdictKind::Act);
    assert!(d1.docket.open.is_none());
    let later = justice_core::verdict::Judgement {
        now: T0 + HOUR_MS,
        ..j
    };
    let g2 = group("sg-0000100e", 2);
    let d2 = later.decide(
        &g2.key,
        Some(&g2),
        Some(&d1.docket),
        &Default::default(),
        &mut budget,
    );
    let line = d2.docket.open.as_ref().expect("an open line");
    assert!(line.needs_security(), "{line:?}");
    assert!(line
        .person
        .as_deref()
        .is_some_and(|p| p.contains("left tasks.json")));
}
