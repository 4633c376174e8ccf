//! The `justice` command as a newcomer runs it.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn justice(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_justice"))
        .args(args)
        .current_dir(root())
        .output()
        .expect("run justice")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn the_readme_replay_scores_the_samples_and_exits_zero() {
    let dir = tempfile::tempdir().expect("tempdir");
    let state = dir.path().to_str().expect("utf-8 path");
    let out = justice(&[
        "replay",
        "tests/fixtures/config-events/eventbridge",
        "tests/fixtures/config-events/sns",
        "--config-history",
        "tests/fixtures/config-history",
        "--fresh",
        "--state",
        state,
        "--json",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json summary");
    assert_eq!(v["refused"].as_array().map(Vec::len), Some(0));
    assert_eq!(v["events"], 25);
    assert!(v["resources_by_level"]["disable"].as_u64() >= Some(1));
}

#[test]
fn refused_events_are_reported_on_stderr_with_a_failing_status_and_nothing_written() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bad = dir.path().join("bad.jsonl");
    std::fs::write(&bad, "{\"source\":\"aws.config\",\"detail-type\":\"Config Configuration Item Change\",\"detail\":{\"messageType\":\"ConfigurationItemChangeNotification\",\"configurationItem\":{\"resourceType\":\"AWS::EC2::Volume\",\"resourceId\":\"vol-9\",\"awsAccountId\":\"1\",\"awsRegion\":\"us-east-1\",\"configurationItemStatus\":\"OK\",\"configurationStateId\":1,\"configurationItemCaptureTime\":\"not a time\"}}}\n")
        .expect("write");
    let state = dir.path().join("state");
    let out = justice(&[
        "replay",
        bad.to_str().expect("path"),
        "--state",
        state.to_str().expect("path"),
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains("vol-9") && err.contains("configurationItemCaptureTime"),
        "{err}"
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json summary");
    let total: u64 = v["resources_by_level"]
        .as_object()
        .map_or(0, |m| m.values().filter_map(|n| n.as_u64()).sum());
    assert_eq!(total, 0, "a refused event writes nothing");
}

#[test]
fn policy_check_lists_every_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bad = dir.path().join("policy.toml");
    std::fs::write(&bad, "version = 1\n[thresholds]\nwarn = 90\n[rules.no-such-rule]\nweight = 1.0\n[[required_tags]]\nkey = \"owner\"\npattern = \"(\"\n")
        .expect("write");
    let out = justice(&["policy", "check", bad.to_str().expect("path")]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    for needle in [
        "thresholds out of order",
        "unknown rule id `no-such-rule`",
        "required tag `owner`: bad pattern",
    ] {
        assert!(err.contains(needle), "missing `{needle}` in:\n{err}");
    }
    let ok = justice(&["policy", "check", "infra/policies/example.toml"]);
    assert!(ok.status.success(), "{}", text(&ok.stderr));
}

#[test]
fn explain_json_attributes_every_point_to_a_finding() {
    let out = justice(&[
        "explain",
        "tests/fixtures/config-events/eventbridge/eb-ci-change-s3-bucket-public.json",
        "--json",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let state = &v[0];
    let sum: u64 = state["findings"]
        .as_array()
        .map_or(0, |f| f.iter().filter_map(|x| x["points"].as_u64()).sum());
    assert_eq!(state["score"].as_u64(), Some(sum));
    assert_eq!(state["level"], "kill");
}
