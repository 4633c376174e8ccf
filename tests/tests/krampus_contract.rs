//! The Krampus contract: every task the judge writes, for every type Krampus acts on, read the
//! way Krampus reads it (tests/krampus/contract.py, with the `arnparse` Krampus uses). Needs
//! JUSTICE_PYTHON (set by infra/moto.sh) with arnparse installed; fails, never skips, without.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use justice_core::allow::AllowList;
use justice_core::krampus::TasksFile;
use justice_core::verdict::Judgement;
use justice_tests::states::{every_krampus_type, ACCOUNT, T0};

fn python() -> String {
    std::env::var("JUSTICE_PYTHON").unwrap_or_else(|_| {
        panic!("JUSTICE_PYTHON is not set: run the tests through infra/test.sh (it installs arnparse into .venv)")
    })
}

fn contract(file: &Path) -> (bool, String) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("krampus/contract.py");
    let out = Command::new(python())
        .arg(script)
        .arg(file)
        .output()
        .expect("run the contract script");
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

#[test]
fn every_task_the_judge_writes_reads_as_krampus_reads_it() {
    // Every type Krampus acts on gets tasks, whatever finding asks for them.
    let policy = justice_tests::hygiene_acts();
    let allow = AllowList::default();
    let accounts = vec![ACCOUNT.to_owned()];
    let j = Judgement {
        policy: &policy,
        allow: &allow,
        accounts: &accounts,
        now: T0,
        dry_run: false,
    };
    let mut file = TasksFile::default();
    let mut types = std::collections::BTreeSet::new();
    for s in every_krampus_type() {
        let mut budget = u32::MAX;
        let d = j.decide(&s.key, Some(&s), None, &BTreeMap::new(), &mut budget);
        assert!(
            !d.add.is_empty(),
            "{}: no task ({:?})",
            s.resource_type,
            d.record.map(|r| r.reason)
        );
        types.insert(s.resource_type.clone());
        file.apply(&d.remove, &d.add);
    }
    assert_eq!(
        types.len(),
        justice_core::types::krampus_types().count(),
        "a task for every type Krampus acts on"
    );
    // 3 rules + 1 kill for the group, instance 2, volume 1, lambda 1, RDS 1 (no kill),
    // S3 2 grants (no kill), IAM user and role 1 each (the default policy caps them at
    // disable), IAM group 2.
    assert_eq!(file.tasks.len(), 4 + 2 + 1 + 1 + 1 + 2 + 1 + 1 + 2);
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("tasks.json");
    std::fs::write(&path, file.to_bytes()).expect("write");
    let (ok, out) = contract(&path);
    assert!(ok, "{out}");
    assert!(
        out.contains("services ['ec2', 'iam', 'lambda', 'rds', 's3']"),
        "{out}"
    );
}

#[test]
fn the_contract_check_catches_what_krampus_would_mishandle() {
    let bad = serde_json::json!({"tasks": [
        {"action": "disable", "action_time": "1790000000", "aws_resource_name": format!("arn:aws:ec2:us-east-1:{ACCOUNT}:instance/i-1"), "aws_region": "us-east-1", "aws_object_type": "ec2"},
        {"action": "disable", "action_time": 1, "aws_resource_name": "arn:aws:s3:::bucket", "aws_region": "us-east-1", "aws_object_type": "s3", "s3_principal": "x", "s3_permission": ["READ"]},
        {"action": "disable", "action_time": 1, "aws_resource_name": format!("arn:aws:ec2:us-east-1:{ACCOUNT}:security-group/sg-1"), "aws_region": "us-east-1", "aws_object_type": "ec2", "cidr_ip": "0.0.0.0/0", "from_port": 22, "to_port": 22, "proto": "tcp"},
        {"action": "kill", "action_time": 1, "aws_resource_name": format!("arn:aws:rds:us-east-1:{ACCOUNT}:db:orders"), "aws_region": "us-east-1", "aws_object_type": "rds"},
        {"action": "disable", "action_time": 1, "aws_resource_name": format!("arn:aws:ec2:us-east-1:{ACCOUNT}:volume/vol-1"), "aws_region": "us-east-1", "aws_object_type": "ec2"},
        {"action": "disable", "action_time": 1, "aws_resource_name": format!("arn:aws:sqs:us-east-1:{ACCOUNT}:q"), "aws_region": "us-east-1", "aws_object_type": "sqs"},
        {"action": "disable", "action_time": 1, "aws_resource_name": format!("arn:aws:s3:us-east-1:{ACCOUNT}:bucket-a"), "aws_region": "us-east-1", "aws_object_type": "s3", "s3_principal": "http://acs.amazonaws.com/groups/global/AllUsers", "s3_permission": ["Read"]},
        {"action": "disable", "action_time": 1, "aws_resource_name": format!("arn:aws:ec2:us-east-1:{ACCOUNT}:security-group/sg-0123abcd"), "aws_region": "us-east-1", "aws_object_type": "ec2", "cidr_range": "0.0.0.0/0", "from_port": -1, "to_port": -1, "proto": "tcp"},
        {"action": "disable", "aws_resource_name": "x"}
    ]});
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("tasks.json");
    std::fs::write(&path, bad.to_string()).expect("write");
    let (ok, out) = contract(&path);
    assert!(!ok, "{out}");
    for expected in [
        "action_time '1790000000' is not an integer",
        "no 12-digit account",
        "lacks 'cidr_range'",
        "refuses kill on RDS",
        "must say kill",
        "not one Krampus dispatches on",
        "missing required key 'action_time'",
        "'Read' is not one of S3's names",
        "ports (-1, -1) are not a tcp/udp range",
    ] {
        assert!(out.contains(expected), "`{expected}` not reported:\n{out}");
    }
}
