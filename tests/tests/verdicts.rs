//! The judge's decisions, pure: grace periods, escalation, withdrawal, allow-list, exemptions,
//! Krampus's per-type quirks and the blast-radius budget.

use std::collections::BTreeMap;

use justice_core::allow::AllowList;
use justice_core::krampus::{TaskAction, TasksFile};
use justice_core::policy::{Level, Policy};
use justice_core::rules::Remedy;
use justice_core::state::ResourceStatus;
use justice_core::time::HOUR_MS;
use justice_core::verdict::{Decision, Docket, Judgement, TaskStatus, VerdictKind};
use justice_core::{ResourceKey, RiskState};
use justice_tests::hygiene_acts;
use justice_tests::states::{finding, ingress, sg, state, ACCOUNT, T0};

struct World {
    policy: Policy,
    allow: AllowList,
    accounts: Vec<String>,
    dry_run: bool,
    budget: u32,
}

impl World {
    fn new() -> World {
        World {
            policy: Policy::default_policy(),
            allow: AllowList::default(),
            accounts: vec![ACCOUNT.into()],
            dry_run: false,
            budget: 100,
        }
    }

    fn decide(
        &mut self,
        now: i64,
        s: Option<&RiskState>,
        key: &ResourceKey,
        docket: Option<&Docket>,
        board: &BTreeMap<String, i64>,
    ) -> Decision {
        let j = Judgement {
            policy: &self.policy,
            allow: &self.allow,
            accounts: &self.accounts,
            now,
            dry_run: self.dry_run,
        };
        j.decide(key, s, docket, board, &mut self.budget)
    }
}

/// The judge's tasks of one resource after applying a decision to a file.
fn board_after(file: &mut TasksFile, d: &Decision) -> BTreeMap<String, i64> {
    file.apply(&d.remove, &d.add);
    file.ours()
        .get(d.docket.key.as_str())
        .cloned()
        .unwrap_or_default()
}

#[test]
fn grace_is_fixed_when_the_verdict_is_first_reached_and_never_postponed() {
    let mut w = World::new();
    let mut file = TasksFile::default();
    let s1 = sg(60, &[22]);
    let d1 = w.decide(T0, Some(&s1), &s1.key, None, &BTreeMap::new());
    assert_eq!(d1.add.len(), 1);
    let task = &d1.add[0];
    assert_eq!(task.action, TaskAction::Disable);
    assert_eq!(task.action_time, T0 / 1000 + 24 * 3600);
    assert_eq!(
        (
            task.cidr_range.as_deref(),
            task.from_port,
            task.to_port,
            task.proto.as_deref()
        ),
        (Some("0.0.0.0/0"), Some(22), Some(22), Some("tcp"))
    );
    let record = d1.record.as_ref().expect("a verdict record");
    assert_eq!(record.kind, VerdictKind::Act);
    assert_eq!(record.scheduled.len(), 1);
    let board = board_after(&mut file, &d1);

    // Five hours later the owner touches the group; the score grows; the rule is still open.
    let mut s2 = sg(80, &[22]);
    s2.revision = 2;
    let d2 = w.decide(
        T0 + 5 * HOUR_MS,
        Some(&s2),
        &s2.key,
        Some(&d1.docket),
        &board,
    );
    assert!(d2.add.is_empty() && d2.remove.is_empty(), "{d2:?}");
    assert!(
        d2.record.is_none(),
        "nothing changed that a notice would say"
    );
    assert_eq!(d2.docket.tasks[0].action_time, T0 / 1000 + 24 * 3600);
    assert_eq!(w.budget, 99, "only the first task spent the budget");
}

#[test]
fn escalation_adds_the_stronger_task_with_its_own_grace() {
    let mut w = World::new();
    let mut file = TasksFile::default();
    let s1 = sg(60, &[22]);
    let d1 = w.decide(T0, Some(&s1), &s1.key, None, &BTreeMap::new());
    let board = board_after(&mut file, &d1);
    let mut s2 = sg(150, &[22]);
    s2.revision = 2;
    assert_eq!(s2.level, Level::Kill);
    let later = T0 + 10 * HOUR_MS;
    let d2 = w.decide(later, Some(&s2), &s2.key, Some(&d1.docket), &board);
    assert_eq!(d2.add.len(), 1, "{d2:?}");
    assert_eq!(d2.add[0].action, TaskAction::Kill);
    assert_eq!(d2.add[0].action_time, later / 1000 + 72 * 3600);
    assert!(d2.remove.is_empty(), "the disable task stays");
    let board = board_after(&mut file, &d2);
    assert_eq!(board.len(), 2);
    assert_eq!(
        board.values().copied().min(),
        Some(T0 / 1000 + 24 * 3600),
        "the disable task keeps its time"
    );
    let r = d2.record.expect("record");
    assert_eq!((r.previous_level, r.level), (Level::Disable, Level::Kill));

    // De-escalation withdraws the kill task and keeps the disable task.
    let mut s3 = sg(60, &[22]);
    s3.revision = 3;
    let d3 = w.decide(
        later + HOUR_MS,
        Some(&s3),
        &s3.key,
        Some(&d2.docket),
        &board,
    );
    assert_eq!(d3.remove.len(), 1);
    let board = board_after(&mut file, &d3);
    assert_eq!(board.len(), 1);
}

#[test]
fn a_fix_or_a_deletion_withdraws_every_task() {
    for fix in ["fixed", "deleted", "removed"] {
        let mut w = World::new();
        let mut file = TasksFile::default();
        let s1 = sg(130, &[22, 3389]);
        let d1 = w.decide(T0, Some(&s1), &s1.key, None, &BTreeMap::new());
        assert_eq!(d1.add.len(), 2, "one task per offending rule");
        let board = board_after(&mut file, &d1);
        let mut s2 = sg(0, &[]);
        s2.revision = 2;
        if fix == "deleted" {
            s2.status = ResourceStatus::Deleted;
        }
        let s2 = (fix != "removed").then_some(s2);
        let d2 = w.decide(T0 + HOUR_MS, s2.as_ref(), &s1.key, Some(&d1.docket), &board);
        assert_eq!(d2.remove.len(), 2, "{fix}");
        let r = d2.record.clone().expect("record");
        assert_eq!(r.withdrawn.len(), 2);
        let expect = if fix == "fixed" {
            VerdictKind::Clear
        } else {
            VerdictKind::Deleted
        };
        assert_eq!(r.kind, expect, "{fix}");
        assert!(board_after(&mut file, &d2).is_empty());
    }
}

#[test]
fn executed_tasks_are_never_resurrected_and_removed_ones_not_restored() {
    let mut w = World::new();
    let s1 = sg(60, &[22]);
    let d1 = w.decide(T0, Some(&s1), &s1.key, None, &BTreeMap::new());
    // Krampus ran it after its time: it is gone from the file.
    let after = T0 + 25 * HOUR_MS;
    let mut s2 = sg(70, &[22]);
    s2.revision = 2;
    let d2 = w.decide(
        after,
        Some(&s2),
        &s2.key,
        Some(&d1.docket),
        &BTreeMap::new(),
    );
    assert!(d2.add.is_empty(), "{d2:?}");
    assert_eq!(d2.docket.tasks[0].status, TaskStatus::Executed);
    assert_eq!(d2.record.expect("record").executed.len(), 1);
    let mut s3 = sg(75, &[22]);
    s3.revision = 3;
    let d3 = w.decide(
        after + HOUR_MS,
        Some(&s3),
        &s3.key,
        Some(&d2.docket),
        &BTreeMap::new(),
    );
    assert!(d3.add.is_empty() && d3.record.is_none());

    // Someone removed it before its time.
    let early = T0 + HOUR_MS;
    let d4 = w.decide(
        early,
        Some(&s2),
        &s2.key,
        Some(&d1.docket),
        &BTreeMap::new(),
    );
    assert!(d4.add.is_empty());
    assert_eq!(d4.docket.tasks[0].status, TaskStatus::Removed);
    assert_eq!(d4.record.expect("record").removed_by_others.len(), 1);
}

#[test]
fn its_own_task_found_in_the_file_is_adopted_with_its_time() {
    let mut w = World::new();
    let s1 = sg(60, &[22]);
    let first = w.decide(T0, Some(&s1), &s1.key, None, &BTreeMap::new());
    let id = first.add[0].unique_id.clone();
    // The docket was never saved (a crash); a retry an hour later sees the task in the file.
    let board = BTreeMap::from([(id.clone(), 12345)]);
    let again = w.decide(T0 + HOUR_MS, Some(&s1), &s1.key, None, &board);
    assert!(again.add.is_empty());
    assert_eq!(again.budget_spent, 0);
    assert_eq!(again.docket.tasks[0].action_time, 12345);
    assert_eq!(again.docket.tasks[0].unique_id, id);
}

#[test]
fn the_allow_list_matches_unix_wildcards_on_arns() {
    let mut w = World::new();
    w.allow = AllowList::parse(
        format!(r#"{{"Whitelist": {{"arn:aws:ec2:*:{ACCOUNT}:security-group/sg-0123abc?": "bastion, reviewed"}}}}"#)
            .as_bytes(),
    )
    .expect("whitelist");
    let s = sg(130, &[22]);
    let d = w.decide(T0, Some(&s), &s.key, None, &BTreeMap::new());
    assert!(d.add.is_empty());
    let r = d.record.expect("record");
    assert_eq!(r.kind, VerdictKind::Allowed);
    assert!(r.reason.contains("bastion, reviewed"), "{}", r.reason);

    // An allow-list entry added later withdraws the tasks already scheduled.
    let mut w2 = World::new();
    let mut file = TasksFile::default();
    let d1 = w2.decide(T0, Some(&s), &s.key, None, &BTreeMap::new());
    let board = board_after(&mut file, &d1);
    w2.allow = w.allow.clone();
    let d2 = w2.decide(T0 + HOUR_MS, Some(&s), &s.key, Some(&d1.docket), &board);
    assert_eq!(d2.remove.len(), d1.add.len());
}

#[test]
fn an_exemption_holds_until_it_expires_then_the_grace_starts() {
    let expires = "2026-09-22T00:00:00Z";
    let expires_ms = justice_core::time::parse_rfc3339(expires).expect("time");
    let policy = Policy::from_toml(&format!(
        "version = 1\n[[exemptions]]\nresource = \"{ACCOUNT}/us-east-1/AWS::EC2::SecurityGroup/*\"\nreason = \"pen test until Monday\"\nexpires = \"{expires}\"\n"
    ))
    .expect("policy");
    let mut w = World::new();
    w.policy = policy;
    let s = sg(60, &[22]);
    let before = expires_ms - HOUR_MS;
    let d1 = w.decide(before, Some(&s), &s.key, None, &BTreeMap::new());
    assert!(d1.add.is_empty());
    let r = d1.record.expect("record");
    assert_eq!(r.kind, VerdictKind::Exempt);
    assert!(
        r.reason.contains("pen test until Monday") && r.reason.contains("2026-09-22"),
        "{}",
        r.reason
    );

    let after = expires_ms + HOUR_MS;
    let d2 = w.decide(after, Some(&s), &s.key, Some(&d1.docket), &BTreeMap::new());
    assert_eq!(d2.add.len(), 1, "an expired exemption protects nothing");
    assert_eq!(d2.add[0].action_time, after / 1000 + 24 * 3600);
    assert!(Policy::from_toml(
        "version = 1\n[[exemptions]]\nresource = \"x\"\nreason = \"\"\nexpires = \"soon\"\n"
    )
    .is_err());
}

#[test]
fn krampus_quirks_decide_what_is_written_per_type() {
    let mut w = World::new();
    w.policy = hygiene_acts();
    let now = T0;
    let decide =
        |w: &mut World, s: &RiskState| w.decide(now, Some(s), &s.key, None, &BTreeMap::new());

    // Disable on an EBS volume deletes it: written as kill, with the destructive grace.
    let vol = state(
        "AWS::EC2::Volume",
        "vol-00000001",
        Some(&format!(
            "arn:aws:ec2:us-east-1:{ACCOUNT}:volume/vol-00000001"
        )),
        60,
        vec![finding("ebs-volume-unencrypted", "not encrypted", vec![])],
    );
    let d = decide(&mut w, &vol);
    assert_eq!(d.add.len(), 1);
    assert_eq!(d.add[0].action, TaskAction::Kill);
    assert_eq!(d.add[0].action_time, now / 1000 + 72 * 3600);
    // ... and a cap of "disable" forbids it.
    let mut capped = World::new();
    capped.policy = Policy::from_toml(
        "version = 1\n[caps]\ndefault = \"disable\"\n[class_caps]\nhygiene = \"kill\"\nallow_destructive_hygiene = true\n",
    )
    .expect("policy");
    let d = decide(&mut capped, &vol);
    assert!(d.add.is_empty());
    let r = d.record.expect("record");
    assert_eq!(r.kind, VerdictKind::Unactionable);
    assert!(r.reason.contains("deletes it"), "{}", r.reason);

    // Lambda: the same.
    let f = state(
        "AWS::Lambda::Function",
        "fn",
        Some(&format!("arn:aws:lambda:us-east-1:{ACCOUNT}:function:fn")),
        60,
        vec![finding("lambda-policy-public", "public", vec![])],
    );
    assert_eq!(decide(&mut w, &f).add[0].action, TaskAction::Kill);

    // RDS at the kill level: Krampus refuses kill, so only the disable task.
    let db = state(
        "AWS::RDS::DBInstance",
        "db-ABC",
        Some(&format!("arn:aws:rds:us-east-1:{ACCOUNT}:db:orders")),
        200,
        vec![finding("rds-instance-public", "public", vec![])],
    );
    let d = decide(&mut w, &db);
    assert_eq!(
        d.add.iter().map(|t| t.action).collect::<Vec<_>>(),
        vec![TaskAction::Disable]
    );

    // S3: disable only, one task per public grant, with Krampus's ARN form.
    let grant = Remedy::RemoveS3Grant {
        principal: "http://acs.amazonaws.com/groups/global/AllUsers".into(),
        permissions: vec!["WRITE".into(), "READ".into()],
    };
    let b = state(
        "AWS::S3::Bucket",
        "bucket-1",
        Some("arn:aws:s3:::bucket-1"),
        200,
        vec![finding("s3-public-acl", "AllUsers READ", vec![grant])],
    );
    let d = decide(&mut w, &b);
    assert_eq!(d.add.len(), 1);
    let t = &d.add[0];
    assert_eq!(t.action, TaskAction::Disable);
    assert_eq!(
        t.aws_resource_name,
        format!("arn:aws:s3:us-east-1:{ACCOUNT}:bucket-1")
    );
    assert_eq!(
        t.s3_permission.as_deref(),
        Some(&["READ".to_owned(), "WRITE".to_owned()][..])
    );
    // A bucket policy alone: Krampus cannot fix it.
    let p = state(
        "AWS::S3::Bucket",
        "bucket-2",
        Some("arn:aws:s3:::bucket-2"),
        100,
        vec![finding("s3-public-policy", "Principal *", vec![])],
    );
    assert_eq!(
        decide(&mut w, &p).record.expect("record").kind,
        VerdictKind::Unactionable
    );

    // IPv6 rules cannot be revoked by Krampus.
    let mut v6 = sg(60, &[]);
    v6.findings = vec![finding(
        "sg-world-admin-ports",
        "tcp/22 open to ::/0",
        vec![ingress(22, "::/0")],
    )];
    let r = decide(&mut w, &v6).record.expect("record");
    assert_eq!(r.kind, VerdictKind::Unactionable);
    assert!(r.reason.contains("IPv6"), "{}", r.reason);

    // A type Krampus does not know, and an ARN that does not name what it should.
    let q = state(
        "AWS::SQS::Queue",
        "q",
        Some(&format!("arn:aws:sqs:us-east-1:{ACCOUNT}:q")),
        100,
        vec![finding("sqs-policy-public", "public", vec![])],
    );
    assert_eq!(
        decide(&mut w, &q).record.expect("record").kind,
        VerdictKind::Unactionable
    );
    let odd = state(
        "AWS::EC2::Instance",
        "i-00000001",
        Some(&format!(
            "arn:aws:ec2:us-east-1:{ACCOUNT}:volume/i-00000001"
        )),
        100,
        vec![finding("ec2-public-ip-imdsv1", "x", vec![])],
    );
    assert_eq!(
        decide(&mut w, &odd).record.expect("record").kind,
        VerdictKind::Unactionable
    );
    let other_account = state(
        "AWS::EC2::Instance",
        "i-00000002",
        Some("arn:aws:ec2:us-east-1:999988887777:instance/i-00000002"),
        100,
        vec![finding("ec2-public-ip-imdsv1", "x", vec![])],
    );
    assert_eq!(
        decide(&mut w, &other_account).record.expect("record").kind,
        VerdictKind::Unactionable
    );
}

#[test]
fn an_account_outside_the_list_never_gets_a_task() {
    let mut w = World::new();
    w.accounts = vec!["999988887777".into()];
    let s = sg(200, &[22]);
    let d = w.decide(T0, Some(&s), &s.key, None, &BTreeMap::new());
    assert!(d.add.is_empty());
    assert_eq!(d.record.expect("record").kind, VerdictKind::Refused);
}

#[test]
fn a_spent_budget_holds_the_verdict_without_writing_anything() {
    let mut w = World::new();
    w.budget = 0;
    let s = sg(130, &[22, 3389]);
    let d = w.decide(T0, Some(&s), &s.key, None, &BTreeMap::new());
    assert!(d.add.is_empty(), "no budget: nothing written");
    assert_eq!(d.record.as_ref().expect("record").kind, VerdictKind::Held);
    assert_eq!(w.budget, 0);
    // Once the budget allows, the held verdict is scheduled whole, grace counted from then:
    // one resource is one unit of the blast radius, however many tasks it needs.
    w.budget = 1;
    let later = T0 + 2 * HOUR_MS;
    let d2 = w.decide(later, Some(&s), &s.key, Some(&d.docket), &BTreeMap::new());
    assert_eq!(d2.add.len(), 2);
    assert_eq!((d2.budget_spent, w.budget), (1, 0));
    assert!(d2
        .add
        .iter()
        .all(|t| t.action_time == later / 1000 + 24 * 3600));
    assert_eq!(d2.record.expect("record").previous_kind, VerdictKind::Held);
}

/// A budget counted in tasks let a group escape by opening more rules than the budget (12 open
/// rules need 12 tasks, the default allows 10 an hour): it was held at every judgement, for
/// good. Counted in resources, it is scheduled at once, and adding a stronger action or more
/// rules to a resource already acted on spends nothing.
#[test]
fn a_group_with_more_open_rules_than_the_budget_is_scheduled_whole() {
    let mut w = World::new();
    w.budget = 10;
    let ports: Vec<i64> = (0..12).map(|i| 10_000 + i).collect();
    let mut s = sg(130, &[]);
    s.findings = ports
        .iter()
        .map(|p| {
            finding(
                "sg-world-other-ports",
                &format!("tcp/{p} open to 0.0.0.0/0"),
                vec![ingress(*p, "0.0.0.0/0")],
            )
        })
        .collect();
    let d = w.decide(T0, Some(&s), &s.key, None, &BTreeMap::new());
    assert_eq!(d.record.as_ref().expect("record").kind, VerdictKind::Act);
    assert_eq!(d.add.len(), 12);
    assert_eq!(w.budget, 9);
    let mut file = TasksFile::default();
    let board = board_after(&mut file, &d);
    // A thirteenth rule later: added without spending the budget.
    let mut more = s.clone();
    more.revision += 1;
    more.findings.push(finding(
        "sg-world-other-ports",
        "tcp/10012 open to 0.0.0.0/0",
        vec![ingress(10_012, "0.0.0.0/0")],
    ));
    w.budget = 0;
    let d2 = w.decide(
        T0 + HOUR_MS,
        Some(&more),
        &more.key,
        Some(&d.docket),
        &board,
    );
    assert_eq!(d2.add.len(), 1);
    assert_eq!(d2.budget_spent, 0);
    assert_eq!(d2.record.expect("record").kind, VerdictKind::Act);
}

#[test]
fn clean_resources_leave_no_docket_and_older_images_are_ignored() {
    let mut w = World::new();
    let clean = sg(0, &[]);
    let d = w.decide(T0, Some(&clean), &clean.key, None, &BTreeMap::new());
    assert!(!d.save && d.record.is_none());

    let mut s = sg(60, &[22]);
    s.revision = 5;
    let d1 = w.decide(T0, Some(&s), &s.key, None, &BTreeMap::new());
    let mut old = sg(0, &[]);
    old.revision = 4;
    let d2 = w.decide(T0, Some(&old), &old.key, Some(&d1.docket), &BTreeMap::new());
    assert!(!d2.save && d2.remove.is_empty());
}

#[test]
fn ids_are_stable_and_tasks_carry_what_people_and_krampus_need() {
    let mut w = World::new();
    let s = sg(60, &[22]);
    let a = w.decide(T0, Some(&s), &s.key, None, &BTreeMap::new());
    let b = w.decide(T0 + HOUR_MS, Some(&s), &s.key, None, &BTreeMap::new());
    assert_eq!(a.add[0].unique_id, b.add[0].unique_id);
    let v = serde_json::to_value(&a.add[0]).expect("json");
    for k in [
        "action",
        "action_time",
        "aws_resource_name",
        "aws_region",
        "aws_object_type",
        "score",
        "audited_time",
        "aws_account",
        "human_readable_name",
        "issues",
        "unique_id",
        "rules",
        "owner",
        "verdict_id",
    ] {
        assert!(v.get(k).is_some(), "task lacks {k}: {v}");
    }
    assert!(v["action_time"].is_i64());
    assert!(
        v.get("cidr_ip").is_none(),
        "Krampus reads cidr_range, not cidr_ip"
    );
}

/// Krampus keeps the tasks it ran and runs them again on every run: the judge keeps a task
/// past its time as "unconfirmed" until a Config item shows its effect, then takes it out;
/// a removed task that reappears (Krampus's unconditional rewrite) is taken out again.
#[test]
fn a_task_krampus_ran_is_removed_once_config_shows_its_effect() {
    let mut w = World::new();
    // An instance is acted on for its IMDSv1 finding only when hygiene may drive actions.
    w.policy = hygiene_acts();
    let mut file = TasksFile::default();
    let running = |revision: u64, effects: Vec<justice_core::krampus::Effect>| {
        let mut s = state(
            "AWS::EC2::Instance",
            "i-0123abcd",
            Some(&format!(
                "arn:aws:ec2:us-east-1:{ACCOUNT}:instance/i-0123abcd"
            )),
            70,
            vec![finding(
                "ec2-public-ip-imdsv1",
                "public IP with IMDSv1",
                vec![],
            )],
        );
        s.revision = revision;
        s.effects = effects;
        s
    };
    let s1 = running(1, vec![]);
    let d1 = w.decide(T0, Some(&s1), &s1.key, None, &BTreeMap::new());
    assert_eq!(d1.add.len(), 1);
    let board = board_after(&mut file, &d1);

    // Past its time and still in the file: Krampus ran it and re-queued it. No effect yet.
    let s2 = running(2, vec![]);
    let after = T0 + 25 * HOUR_MS;
    let d2 = w.decide(after, Some(&s2), &s2.key, Some(&d1.docket), &board);
    assert!(d2.remove.is_empty() && d2.add.is_empty(), "{d2:?}");
    assert_eq!(d2.docket.tasks[0].status, TaskStatus::Unconfirmed);
    assert!(d2.alerts.is_empty(), "not overdue yet");

    // A day later, still no effect: the security team hears of it, once.
    let s3 = running(3, vec![]);
    let overdue = after + 25 * HOUR_MS;
    let d3 = w.decide(overdue, Some(&s3), &s3.key, Some(&d2.docket), &board);
    assert_eq!(d3.alerts.len(), 1, "{d3:?}");
    assert!(d3.alerts[0].contains("no AWS Config item shows its effect"));
    assert!(d3.docket.tasks[0].alerted);
    let s4 = running(4, vec![]);
    let d4 = w.decide(
        overdue + HOUR_MS,
        Some(&s4),
        &s4.key,
        Some(&d3.docket),
        &board,
    );
    assert!(d4.alerts.is_empty() && d4.record.is_none(), "{d4:?}");

    // Config records the instance stopped: the task is confirmed and leaves the file, so
    // Krampus stops stopping it (an owner who restarts it is not overridden).
    let stopped = running(5, vec![justice_core::krampus::Effect::Stop]);
    let d5 = w.decide(
        overdue + 2 * HOUR_MS,
        Some(&stopped),
        &stopped.key,
        Some(&d3.docket),
        &board,
    );
    assert_eq!(d5.remove.len(), 1, "{d5:?}");
    assert_eq!(d5.docket.tasks[0].status, TaskStatus::Confirmed);
    assert_eq!(d5.record.as_ref().map(|r| r.confirmed.len()), Some(1));
    let board = board_after(&mut file, &d5);
    assert!(board.is_empty());

    // Krampus's rewrite puts it back: taken out again, never run twice.
    let mut resurrected = file.clone();
    resurrected.apply(&Default::default(), &d1.add);
    let back = resurrected
        .ours()
        .get(stopped.key.as_str())
        .cloned()
        .unwrap_or_default();
    let s6 = running(6, vec![]);
    let d6 = w.decide(
        overdue + 3 * HOUR_MS,
        Some(&s6),
        &s6.key,
        Some(&d5.docket),
        &back,
    );
    assert_eq!(d6.remove.len(), 1, "{d6:?}");
    assert!(d6.add.is_empty());
}

/// A rule revoked by Krampus shows as the finding gone: the task past its time leaves the file
/// as confirmed, not as withdrawn.
#[test]
fn a_revoked_rule_confirms_its_task() {
    let mut w = World::new();
    let mut file = TasksFile::default();
    let s1 = sg(60, &[22]);
    let d1 = w.decide(T0, Some(&s1), &s1.key, None, &BTreeMap::new());
    let board = board_after(&mut file, &d1);
    let mut fixed = sg(0, &[]);
    fixed.revision = 2;
    // Config recorded the group after the task came due.
    fixed.capture_time = T0 + 25 * HOUR_MS;
    let d2 = w.decide(
        T0 + 25 * HOUR_MS,
        Some(&fixed),
        &fixed.key,
        Some(&d1.docket),
        &board,
    );
    let r = d2.record.expect("record");
    assert_eq!((r.confirmed.len(), r.withdrawn.len()), (1, 0), "{r:?}");
    assert_eq!(d2.remove.len(), 1);
}

/// Every task is read as Krampus will read it before it is written: a task Krampus would not
/// carry out as intended is never written, the verdict says why, and security is alerted.
#[test]
fn a_task_the_gate_refuses_is_never_written_and_alerts_security() {
    let mut w = World::new();
    // An instance is acted on for its IMDSv1 finding only when hygiene may drive actions.
    w.policy = hygiene_acts();
    let cases: Vec<(&str, RiskState)> = vec![
        ("a rule that is not canonical IPv4", {
            let mut s = sg(60, &[]);
            s.findings = vec![finding(
                "sg-world-admin-ports",
                "tcp/22",
                vec![ingress(22, "0.0.0.0/00")],
            )];
            s
        }),
        ("a port out of range", {
            let mut s = sg(60, &[]);
            s.findings = vec![finding(
                "sg-world-admin-ports",
                "tcp/65536",
                vec![ingress(65536, "0.0.0.0/0")],
            )];
            s
        }),
        ("tcp with the all-traffic ports", {
            let mut s = sg(60, &[]);
            s.findings = vec![finding(
                "sg-world-admin-ports",
                "tcp/-1",
                vec![Remedy::RevokeIngress {
                    proto: "tcp".into(),
                    from_port: None,
                    to_port: None,
                    cidr: "0.0.0.0/0".into(),
                }],
            )];
            s
        }),
        ("Config's permission spelling", {
            let mut s = state(
                "AWS::S3::Bucket",
                "bucket-a",
                Some("arn:aws:s3:::bucket-a"),
                70,
                vec![finding(
                    "s3-public-acl",
                    "AllUsers Read",
                    vec![Remedy::RemoveS3Grant {
                        principal: "http://acs.amazonaws.com/groups/global/AllUsers".into(),
                        permissions: vec!["Read".into()],
                    }],
                )],
            );
            s.resource_name = Some("bucket-a".into());
            s
        }),
        ("an id Krampus would misread", {
            state(
                "AWS::EC2::Instance",
                "i-1,i-2",
                None,
                70,
                vec![finding("ec2-public-ip-imdsv1", "x", vec![])],
            )
        }),
    ];
    for (what, s) in cases {
        let d = w.decide(T0, Some(&s), &s.key, None, &BTreeMap::new());
        assert!(d.add.is_empty(), "{what}: {:?}", d.add);
        let r = d.record.expect("record");
        assert_eq!(r.kind, VerdictKind::Unactionable, "{what}");
        assert!(!d.alerts.is_empty(), "{what}: security not alerted");
    }
}

/// S3 grant tasks name S3's permissions and say what Krampus does besides: it drops every
/// grant of the other grantee type, the owner's FULL_CONTROL included.
#[test]
fn an_s3_task_says_what_krampus_really_does() {
    let mut w = World::new();
    let s = state(
        "AWS::S3::Bucket",
        "bucket-a",
        Some("arn:aws:s3:::bucket-a"),
        70,
        vec![finding(
            "s3-public-acl",
            "AllUsers READ",
            vec![Remedy::RemoveS3Grant {
                principal: "http://acs.amazonaws.com/groups/global/AllUsers".into(),
                permissions: vec!["READ".into()],
            }],
        )],
    );
    let d = w.decide(T0, Some(&s), &s.key, None, &BTreeMap::new());
    assert_eq!(d.add.len(), 1, "{d:?}");
    assert_eq!(
        d.add[0].s3_permission.as_deref(),
        Some(&["READ".to_owned()][..])
    );
    assert_eq!(
        d.add[0].aws_resource_name,
        format!("arn:aws:s3:us-east-1:{ACCOUNT}:bucket-a")
    );
    let pending = &d.record.expect("record").pending;
    assert!(
        pending[0].side_effects.contains("FULL_CONTROL"),
        "{pending:?}"
    );
}

/// An owner who fixes the finding after the task's time has withdrawn it, not seen it done:
/// the instance runs, so Krampus's stop is not what happened.
#[test]
fn a_fix_after_the_time_is_a_withdrawal_not_a_confirmation() {
    let mut w = World::new();
    // An instance is acted on for its IMDSv1 finding only when hygiene may drive actions.
    w.policy = hygiene_acts();
    let mut file = TasksFile::default();
    let s1 = state(
        "AWS::EC2::Instance",
        "i-0123abcd",
        Some(&format!(
            "arn:aws:ec2:us-east-1:{ACCOUNT}:instance/i-0123abcd"
        )),
        70,
        vec![finding(
            "ec2-public-ip-imdsv1",
            "public IP with IMDSv1",
            vec![],
        )],
    );
    let d1 = w.decide(T0, Some(&s1), &s1.key, None, &BTreeMap::new());
    let board = board_after(&mut file, &d1);
    let mut fixed = state(
        "AWS::EC2::Instance",
        "i-0123abcd",
        Some(&format!(
            "arn:aws:ec2:us-east-1:{ACCOUNT}:instance/i-0123abcd"
        )),
        0,
        vec![],
    );
    fixed.revision = 2;
    let d2 = w.decide(
        T0 + 30 * HOUR_MS,
        Some(&fixed),
        &fixed.key,
        Some(&d1.docket),
        &board,
    );
    let r = d2.record.expect("record");
    assert_eq!((r.withdrawn.len(), r.confirmed.len()), (1, 0), "{r:?}");
}

/// A renamed RDS instance keeps its id but not its name: the task written under the old name
/// (which another database may take next) is taken out, and the same action on the new name
/// keeps the old action time and spends no budget.
#[test]
fn a_rename_moves_the_task_to_the_new_name_at_the_same_time() {
    let mut w = World::new();
    let mut file = TasksFile::default();
    let db = |name: &str, revision: u64| {
        let mut s = state(
            "AWS::RDS::DBInstance",
            "db-KOCU7UR74VM3AC4R3H2UXX7PE4",
            Some(&format!("arn:aws:rds:us-east-1:{ACCOUNT}:db:{name}")),
            70,
            vec![finding(
                "rds-instance-public",
                "publicly accessible",
                vec![],
            )],
        );
        s.revision = revision;
        s
    };
    let s1 = db("orders", 1);
    let d1 = w.decide(T0, Some(&s1), &s1.key, None, &BTreeMap::new());
    assert_eq!(d1.add.len(), 1);
    let first_time = d1.add[0].action_time;
    let board = board_after(&mut file, &d1);
    let budget = w.budget;

    let s2 = db("orders-old", 2);
    let d2 = w.decide(
        T0 + 2 * HOUR_MS,
        Some(&s2),
        &s2.key,
        Some(&d1.docket),
        &board,
    );
    assert_eq!(d2.remove.len(), 1, "{d2:?}");
    assert_eq!(d2.add.len(), 1, "{d2:?}");
    assert_eq!(
        d2.add[0].aws_resource_name,
        format!("arn:aws:rds:us-east-1:{ACCOUNT}:db:orders-old")
    );
    assert_eq!(
        d2.add[0].action_time, first_time,
        "a rename postpones nothing"
    );
    assert_eq!(w.budget, budget, "nor spends the budget again");
    let after = board_after(&mut file, &d2);
    assert_eq!(after.len(), 1);
    assert!(file
        .tasks
        .iter()
        .all(|t| t["aws_resource_name"] != format!("arn:aws:rds:us-east-1:{ACCOUNT}:db:orders")));
}

/// One rule Krampus could not revoke as written does not shield the others, and the gate
/// refuses what Krampus would send to a wrong endpoint or a wrong type.
#[test]
fn the_gate_refuses_task_by_task() {
    let mut w = World::new();
    let mut s = sg(60, &[22]);
    s.findings[0].finding.remedies.push(Remedy::RevokeIngress {
        proto: "tcp".into(),
        from_port: Some(70_000),
        to_port: Some(70_000),
        cidr: "0.0.0.0/0".into(),
    });
    let d = w.decide(T0, Some(&s), &s.key, None, &BTreeMap::new());
    assert_eq!(d.add.len(), 1, "{d:?}");
    assert_eq!(d.add[0].from_port, Some(22));
    assert_eq!(d.alerts.len(), 1, "{:?}", d.alerts);
    assert_eq!(d.record.expect("record").kind, VerdictKind::Act);

    // All traffic is revoked with ports -1, whatever Config recorded.
    let mut all = sg(60, &[]);
    all.findings = vec![finding(
        "sg-world-all-traffic",
        "all traffic",
        vec![Remedy::RevokeIngress {
            proto: "-1".into(),
            from_port: Some(0),
            to_port: Some(65535),
            cidr: "0.0.0.0/0".into(),
        }],
    )];
    let d = w.decide(T0, Some(&all), &all.key, None, &BTreeMap::new());
    assert_eq!((d.add[0].from_port, d.add[0].to_port), (Some(-1), Some(-1)));

    for (ty, id, region) in [
        ("AWS::EC2::SecurityGroup", "i-0123abcd", "us-east-1"),
        ("AWS::EC2::Volume", "i-0123abcd", "us-east-1"),
        ("AWS::EC2::Instance", "i-0123abcd", "global"),
    ] {
        let mut odd = state(ty, id, None, 70, vec![finding("x", "x", vec![])]);
        odd.key = justice_core::ResourceKey::new(ACCOUNT, region, ty, id).expect("key");
        odd.region = region.into();
        let d = w.decide(T0, Some(&odd), &odd.key, None, &BTreeMap::new());
        assert!(d.add.is_empty(), "{ty} {id} in {region}: {:?}", d.add);
    }
}

/// An IAM role under a path gets its task by name: Krampus reads everything after `role/`.
#[test]
fn an_iam_role_under_a_path_is_tasked_by_its_name() {
    let mut w = World::new();
    w.policy = Policy::from_toml("version = 1\n[caps]\ndefault = \"kill\"\n").expect("policy");
    let s = state(
        "AWS::IAM::Role",
        "AROAEXAMPLE",
        Some(&format!(
            "arn:aws:iam::{ACCOUNT}:role/service-role/deployer"
        )),
        70,
        vec![finding("iam-role-trust-public", "x", vec![])],
    );
    let mut s = s;
    s.region = "global".into();
    s.key = justice_core::ResourceKey::new(ACCOUNT, "global", "AWS::IAM::Role", "AROAEXAMPLE")
        .expect("key");
    let d = w.decide(T0, Some(&s), &s.key, None, &BTreeMap::new());
    assert_eq!(d.add.len(), 1, "{d:?}");
    assert_eq!(
        d.add[0].aws_resource_name,
        format!("arn:aws:iam::{ACCOUNT}:role/deployer")
    );
}

/// Times written by hand into the judge's own tasks cannot overflow its arithmetic.
#[test]
fn extreme_action_times_on_file_do_not_panic() {
    let mut w = World::new();
    let s1 = sg(60, &[22]);
    let d1 = w.decide(T0, Some(&s1), &s1.key, None, &BTreeMap::new());
    let id = d1.add[0].unique_id.clone();
    for at in [i64::MIN, i64::MAX, 0] {
        let board = BTreeMap::from([(id.clone(), at)]);
        let mut s2 = sg(60, &[22]);
        s2.revision = 2;
        let _ = w.decide(
            T0 + 30 * HOUR_MS,
            Some(&s2),
            &s2.key,
            Some(&d1.docket),
            &board,
        );
    }
}

/// Destruction for hygiene: under the default policy an unencrypted volume with missing tags,
/// and an instance with a public IP, IMDSv1 and no owner tags, get advice and no task, however
/// high their score; the same instance's open security group is still acted on.
#[test]
fn hygiene_and_tagging_are_advised_never_acted_on_by_default() {
    let mut w = World::new();
    let tag = |key: &str| {
        let mut f = finding("required-tags", &format!("tag `{key}` is missing"), vec![]);
        f.finding.subject = key.into();
        f
    };
    let vol = state(
        "AWS::EC2::Volume",
        "vol-00000001",
        Some(&format!(
            "arn:aws:ec2:us-east-1:{ACCOUNT}:volume/vol-00000001"
        )),
        70,
        vec![
            finding("ebs-volume-unencrypted", "not encrypted", vec![]),
            tag("owner"),
            tag("team"),
        ],
    );
    let instance = state(
        "AWS::EC2::Instance",
        "i-00000001",
        Some(&format!(
            "arn:aws:ec2:us-east-1:{ACCOUNT}:instance/i-00000001"
        )),
        160,
        vec![
            finding("ec2-public-ip-imdsv1", "public IP with IMDSv1", vec![]),
            tag("owner"),
        ],
    );
    for s in [&vol, &instance] {
        assert!(s.level >= Level::Disable);
        let d = w.decide(T0, Some(s), &s.key, None, &BTreeMap::new());
        assert!(d.add.is_empty(), "{}: {:?}", s.key, d.add);
        let r = d.record.expect("a verdict");
        assert_eq!(r.kind, VerdictKind::Warn, "{}", s.key);
        assert!(r.reason.contains("never acted on"), "{}", r.reason);
        assert_eq!(
            justice_core::notice::kind_of(&r),
            Some(justice_core::notice::NoticeKind::Advisory)
        );
    }
    // High exposure may disable, never delete; critical exposure may kill.
    let db = state(
        "AWS::RDS::DBInstance",
        "db-ABC",
        Some(&format!("arn:aws:rds:us-east-1:{ACCOUNT}:db:orders")),
        160,
        vec![finding("rds-instance-public", "public", vec![])],
    );
    let d = w.decide(T0, Some(&db), &db.key, None, &BTreeMap::new());
    assert_eq!(
        d.add.iter().map(|t| t.action).collect::<Vec<_>>(),
        vec![TaskAction::Disable]
    );
    let open = sg(160, &[22]);
    let d = w.decide(T0, Some(&open), &open.key, None, &BTreeMap::new());
    assert!(
        d.add.iter().any(|t| t.action == TaskAction::Kill),
        "{:?}",
        d.add
    );
    // A policy that lets hygiene delete must say so.
    let refused = Policy::from_toml("version = 1\n[class_caps]\nhygiene = \"kill\"\n")
        .expect_err("refused")
        .to_string();
    assert!(refused.contains("allow_destructive_hygiene"), "{refused}");
    let with_volume_kill = hygiene_acts();
    w.policy = with_volume_kill;
    let d = w.decide(T0, Some(&vol), &vol.key, None, &BTreeMap::new());
    assert_eq!(d.add.len(), 1);
    assert_eq!(d.add[0].action, TaskAction::Kill);
}

/// What no automation can fix reaches a person: a critical finding at the disable level that
/// no task addresses alerts the security team once per distinct message (not at every
/// re-score); hygiene that is not critical, and exempt resources, do not.
#[test]
fn a_critical_finding_no_task_fixes_alerts_security_once() {
    let mut w = World::new();
    let bucket_policy = state(
        "AWS::S3::Bucket",
        "bucket-2",
        Some("arn:aws:s3:::bucket-2"),
        100,
        vec![finding("s3-public-policy", "Principal *", vec![])],
    );
    let admin = state(
        "AWS::IAM::Policy",
        "ANPAEXAMPLE",
        Some(&format!("arn:aws:iam::{ACCOUNT}:policy/admin")),
        100,
        vec![finding(
            "iam-policy-admin-star",
            "Action * on Resource *",
            vec![],
        )],
    );
    for s in [&bucket_policy, &admin] {
        let d1 = w.decide(T0, Some(s), &s.key, None, &BTreeMap::new());
        assert!(d1.add.is_empty());
        assert_eq!(d1.alerts.len(), 1, "{}: {:?}", s.key, d1.alerts);
        assert!(d1.alerts[0].contains("needs a person"), "{}", d1.alerts[0]);
        // Re-scored an hour later, nothing new: no alert, no new verdict.
        let mut again = (*s).clone();
        again.revision += 1;
        let d2 = w.decide(
            T0 + HOUR_MS,
            Some(&again),
            &again.key,
            Some(&d1.docket),
            &BTreeMap::new(),
        );
        assert!(d2.alerts.is_empty(), "{:?}", d2.alerts);
        assert!(d2.record.is_none());
        // Fixed, then broken again: told again.
        let mut fixed = again.clone();
        fixed.revision += 1;
        fixed.findings.clear();
        fixed.score = 0;
        fixed.level = Level::None;
        let d3 = w.decide(
            T0 + 2 * HOUR_MS,
            Some(&fixed),
            &fixed.key,
            Some(&d2.docket),
            &BTreeMap::new(),
        );
        assert!(d3.alerts.is_empty());
        let mut broken = again.clone();
        broken.revision = fixed.revision + 1;
        let d4 = w.decide(
            T0 + 3 * HOUR_MS,
            Some(&broken),
            &broken.key,
            Some(&d3.docket),
            &BTreeMap::new(),
        );
        assert_eq!(d4.alerts.len(), 1, "{:?}", d4.alerts);
    }
    // Hygiene that is not critical: advised to the owner, security not bothered.
    let vol = state(
        "AWS::EC2::Volume",
        "vol-00000002",
        Some(&format!(
            "arn:aws:ec2:us-east-1:{ACCOUNT}:volume/vol-00000002"
        )),
        100,
        vec![finding("ebs-volume-unencrypted", "not encrypted", vec![])],
    );
    let d = w.decide(T0, Some(&vol), &vol.key, None, &BTreeMap::new());
    assert!(d.alerts.is_empty(), "{:?}", d.alerts);
    // Exempt: someone decided already.
    w.policy = Policy::from_toml(&format!(
        "version = 1\n[[exemptions]]\nresource = \"{ACCOUNT}/us-east-1/AWS::S3::Bucket/*\"\nreason = \"public website\"\nexpires = \"2099-01-01T00:00:00Z\"\n"
    ))
    .expect("policy");
    let d = w.decide(
        T0,
        Some(&bucket_policy),
        &bucket_policy.key,
        None,
        &BTreeMap::new(),
    );
    assert!(d.alerts.is_empty(), "{:?}", d.alerts);
}

/// Sets each finding's points and the score and level they add up to.
fn with_points(mut s: RiskState, points: &[u32]) -> RiskState {
    for (f, p) in s.findings.iter_mut().zip(points) {
        f.points = *p;
        f.base_points = *p;
    }
    s.score = points.iter().sum();
    s.level = Policy::default_policy().thresholds.level(s.score);
    s
}

/// Found by an attack on the class caps: points of findings the policy does not act on
/// (tags) pushed an exposure into an action, or a kill, it would not reach alone; a finding
/// weighted to nothing unlocked a kill; stripping an IAM user's access (irreversible) was
/// allowed to hygiene capped at `disable`; a critical finding beside a task for another one
/// was never reported; and an alert was sent again when the level rose.
#[test]
fn only_the_findings_allowed_to_act_count_towards_the_action() {
    let mut w = World::new();
    let tag = || finding("required-tags", "tag `owner` is missing", vec![]);
    // 40 points of exposure and 40 of tags: disable level, but the exposure alone is not.
    let s = with_points(
        {
            let mut s = sg(0, &[22]);
            s.findings.push(tag());
            s
        },
        &[40, 40],
    );
    assert_eq!(s.level, Level::Disable);
    let d = w.decide(T0, Some(&s), &s.key, None, &BTreeMap::new());
    assert!(d.add.is_empty(), "{:?}", d.add);
    assert_eq!(d.record.expect("record").kind, VerdictKind::Warn);
    // 100 of exposure and 60 of tags: kill level, but only the disable task.
    let s = with_points(
        {
            let mut s = sg(0, &[22]);
            s.findings.push(tag());
            s
        },
        &[100, 60],
    );
    assert_eq!(s.level, Level::Kill);
    let d = w.decide(T0, Some(&s), &s.key, None, &BTreeMap::new());
    assert_eq!(
        d.add.iter().map(|t| t.action).collect::<Vec<_>>(),
        [TaskAction::Disable]
    );
    // A critical finding worth nothing beside 160 points of high exposure: no kill.
    let s = with_points(
        {
            let mut s = sg(0, &[22]);
            s.findings.push(finding(
                "sg-world-other-ports",
                "tcp/8080 open to 0.0.0.0/0",
                vec![ingress(8080, "0.0.0.0/0")],
            ));
            s
        },
        &[0, 160],
    );
    let d = w.decide(T0, Some(&s), &s.key, None, &BTreeMap::new());
    assert!(
        d.add.iter().all(|t| t.action != TaskAction::Kill),
        "{:?}",
        d.add
    );
    // Hygiene allowed to disable may not strip an IAM user's access: that cannot be undone.
    let mut hygienic = World::new();
    hygienic.policy =
        Policy::from_toml("version = 1\n[class_caps]\nhygiene = \"disable\"\n").expect("policy");
    let user = with_points(
        state(
            "AWS::IAM::User",
            "AIDAEXAMPLE",
            Some(&format!("arn:aws:iam::{ACCOUNT}:user/alice")),
            0,
            vec![finding(
                "iam-policy-admin-star",
                "Action * on Resource *",
                vec![],
            )],
        ),
        &[100],
    );
    let d = hygienic.decide(T0, Some(&user), &user.key, None, &BTreeMap::new());
    assert!(d.add.is_empty(), "{:?}", d.add);
}

#[test]
fn a_critical_finding_beside_a_task_for_another_is_still_reported_once() {
    let mut w = World::new();
    let grant = Remedy::RemoveS3Grant {
        principal: "http://acs.amazonaws.com/groups/global/AllUsers".into(),
        permissions: vec!["READ".into()],
    };
    let bucket = with_points(
        state(
            "AWS::S3::Bucket",
            "bucket-3",
            Some("arn:aws:s3:::bucket-3"),
            0,
            vec![
                finding("s3-public-acl", "AllUsers READ", vec![grant]),
                finding("s3-public-policy", "Principal *", vec![]),
            ],
        ),
        &[100, 100],
    );
    let d1 = w.decide(T0, Some(&bucket), &bucket.key, None, &BTreeMap::new());
    assert_eq!(d1.add.len(), 1, "the grant task");
    assert_eq!(d1.alerts.len(), 1, "{:?}", d1.alerts);
    assert!(
        d1.alerts[0].contains("s3-public-policy"),
        "{}",
        d1.alerts[0]
    );
    assert!(!d1.alerts[0].contains("s3-public-acl"), "{}", d1.alerts[0]);
    let mut file = TasksFile::default();
    let board = board_after(&mut file, &d1);
    // Older, at the kill level: nothing new to tell.
    let mut older = with_points(bucket.clone(), &[150, 150]);
    older.revision = 2;
    let d2 = w.decide(
        T0 + 12 * HOUR_MS,
        Some(&older),
        &older.key,
        Some(&d1.docket),
        &board,
    );
    assert!(d2.alerts.is_empty(), "{:?}", d2.alerts);
}

/// Coverage is per rule, as the tasks are: one finding naming an IPv4 rule (revoked) and an
/// IPv6 rule (which Krampus cannot revoke) still needs a person for the IPv6 one; and a task
/// for another port does not cover a rule.
#[test]
fn a_finding_half_covered_by_tasks_is_still_reported() {
    let mut w = World::new();
    let mut s = sg(110, &[]);
    s.findings = vec![finding(
        "sg-world-admin-ports",
        "tcp/22 open to 0.0.0.0/0; tcp/3389 open to ::/0",
        vec![ingress(22, "0.0.0.0/0"), ingress(3389, "::/0")],
    )];
    let s = with_points(s, &[110]);
    let d = w.decide(T0, Some(&s), &s.key, None, &BTreeMap::new());
    assert_eq!(d.add.len(), 1, "the IPv4 rule's task");
    assert_eq!(d.alerts.len(), 1, "{:?}", d.alerts);
    assert!(
        d.alerts[0].contains("sg-world-admin-ports"),
        "{}",
        d.alerts[0]
    );
    // Every rule has its task: nothing to report.
    let mut both = sg(110, &[22, 3389]);
    both.revision = 1;
    let d = w.decide(T0, Some(&both), &both.key, None, &BTreeMap::new());
    assert_eq!(d.add.len(), 2);
    assert!(d.alerts.is_empty(), "{:?}", d.alerts);
}
