//! The digests, over the local adapters: a team's digest lists its pending tasks and every
//! verdict that waits on a person (a warning, no automatic fix, held), window after window
//! until the resource is fixed; the security team's digest lists what no automation will fix.

use justice_core::policy::{Level, Policy};
use justice_core::time::HOUR_MS;
use justice_core::verdict::VerdictKind;
use justice_core::RiskState;
use justice_local::{LocalOutbox, LocalRiskStore, LocalTaskBoard};
use justice_service::{Change, Judge, JudgeSettings, Notifier, NotifierSettings};
use justice_tests::states::{finding, ingress, state, ACCOUNT, T0};
use serde_json::Value;

fn group(id: &str, revision: u64) -> RiskState {
    let mut s = state(
        "AWS::EC2::SecurityGroup",
        id,
        Some(&format!(
            "arn:aws:ec2:us-east-1:{ACCOUNT}:security-group/{id}"
        )),
        110,
        vec![finding(
            "sg-world-admin-ports",
            "tcp/22 open to 0.0.0.0/0",
            vec![ingress(22, "0.0.0.0/0")],
        )],
    );
    s.revision = revision;
    s
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
    s
}

fn volume() -> RiskState {
    state(
        "AWS::EC2::Volume",
        "vol-00000002",
        Some(&format!(
            "arn:aws:ec2:us-east-1:{ACCOUNT}:volume/vol-00000002"
        )),
        100,
        vec![finding("ebs-volume-unencrypted", "not encrypted", vec![])],
    )
}

fn security_alerts(dir: &std::path::Path) -> Vec<Value> {
    let mut paths: Vec<_> = std::fs::read_dir(dir.join("outbox"))
        .map(|d| d.filter_map(Result::ok).map(|e| e.path()).collect())
        .unwrap_or_default();
    paths.sort();
    paths
        .iter()
        .filter(|p| p.to_string_lossy().ends_with("-security.json"))
        .map(|p| serde_json::from_slice(&std::fs::read(p).expect("alert")).expect("json"))
        .collect()
}

#[test]
fn open_verdicts_stay_in_the_digests_until_fixed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = LocalRiskStore::open(dir.path()).expect("store");
    let board = LocalTaskBoard::new(dir.path(), false);
    let outbox = LocalOutbox::new(dir.path());
    let settings = JudgeSettings {
        dry_run: false,
        accounts: vec![ACCOUNT.into()],
        blast_per_hour: 1,
        max_attempts: 3,
    };
    let judge = Judge {
        board: &board,
        dockets: &store,
        outbox: &outbox,
        settings: &settings,
    };
    let policy = Policy::default_policy();
    let rt = justice_tests::runtime();
    let run = |states: &[RiskState], now: i64| {
        let changes: Vec<Change> = states
            .iter()
            .map(|s| Change {
                id: format!("{}@{}", s.key, s.revision),
                key: s.key.clone(),
                state: Some(s.clone()),
            })
            .collect();
        let r = rt
            .block_on(judge.judge(&changes, &policy, now))
            .expect("judged");
        assert!(r.failed.is_empty(), "{:?}", r.failed);
        board.take_new()
    };
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
    let alerts_before = security_alerts(dir.path()).len();

    let notifier_settings = NotifierSettings {
        default_team: "security".into(),
        security_contact: "security@example.com".into(),
    };
    let notifier = Notifier {
        board: &board,
        outbox: &outbox,
        settings: &notifier_settings,
    };
    let digest = |window: &str, now: i64| {
        rt.block_on(notifier.digest(&store, false, window, now))
            .expect("digest")
    };
    let day1 = "2026-09-21T00:00:00.000Z";
    let sent = digest(day1, T0 + HOUR_MS);
    assert_eq!(sent, vec!["team-a", "security (escalations)"], "{sent:?}");
    // Sent once per window.
    assert!(digest(day1, T0 + 2 * HOUR_MS).is_empty());

    let notices = outbox.notices().expect("notices");
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
    let alerts = security_alerts(dir.path());
    assert_eq!(alerts.len(), alerts_before + 1, "{alerts:?}");
    let body = alerts[alerts.len() - 1]["body"].as_str().expect("body");
    assert!(body.contains("arn:aws:s3:::bucket-2"), "{body}");
    assert!(body.contains("sg-ffffffff"), "{body}");
    assert!(!body.contains("vol-00000002"), "{body}");

    // The bucket is fixed; a day later the volume is still listed, the bucket is not.
    let mut fixed = bucket_policy(2);
    fixed.findings.clear();
    fixed.score = 0;
    fixed.level = Level::None;
    run(&[fixed], T0 + 3 * HOUR_MS);
    let day2 = "2026-09-22T00:00:00.000Z";
    let sent = digest(day2, T0 + 25 * HOUR_MS);
    assert!(sent.contains(&"team-a".to_owned()), "{sent:?}");
    let notices = outbox.notices().expect("notices");
    let d = notices.last().expect("a digest");
    let open = d["json"]["open"].as_array().expect("open list");
    assert_eq!(open.len(), 2, "{open:?}");
    assert!(
        open.iter().all(|o| o["arn"] != "arn:aws:s3:::bucket-2"),
        "{open:?}"
    );
    let alerts = security_alerts(dir.path());
    let body = alerts[alerts.len() - 1]["body"].as_str().expect("body");
    assert!(
        !body.contains("bucket-2") && body.contains("sg-ffffffff"),
        "{body}"
    );
}
