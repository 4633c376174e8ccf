//! The `justice` command as a newcomer runs it.

use std::path::Path;
use std::process::Command;

mod common;

use common::{justice, readme_replay, root};

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn the_readme_replay_scores_the_samples_and_exits_zero() {
    let dir = tempfile::tempdir().expect("tempdir");
    let state = dir.path().to_str().expect("utf-8 path");
    let out = readme_replay(state, &["--json"]);
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

    // Letting hygiene delete must be said in so many words.
    let destructive = dir.path().join("destructive.toml");
    std::fs::write(
        &destructive,
        "version = 1\n[class_caps]\ntagging = \"kill\"\n",
    )
    .expect("write");
    let out = justice(&["policy", "check", destructive.to_str().expect("path")]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains("class_caps.tagging") && err.contains("allow_destructive_hygiene"),
        "{err}"
    );
    std::fs::write(
        &destructive,
        "version = 1\n[class_caps]\ntagging = \"kill\"\nallow_destructive_hygiene = true\n",
    )
    .expect("write");
    let out = justice(&["policy", "check", destructive.to_str().expect("path")]);
    assert!(out.status.success(), "{}", text(&out.stderr));
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

fn tasks_in(state: &Path) -> Vec<serde_json::Value> {
    let bytes = std::fs::read(state.join("tasks.json")).expect("tasks.json");
    let v: serde_json::Value = serde_json::from_slice(&bytes).expect("json");
    v["tasks"].as_array().cloned().expect("tasks list")
}

#[test]
fn replay_judges_into_local_tasks_and_verdicts_and_never_postpones_on_replay() {
    let dir = tempfile::tempdir().expect("tempdir");
    let state = dir.path().to_str().expect("utf-8 path");
    let args = |extra: &[&'static str]| {
        let mut a = vec![
            "replay",
            "tests/fixtures/config-events/eventbridge",
            "tests/fixtures/config-events/sns",
            "--config-history",
            "tests/fixtures/config-history",
            "--state",
            state,
            "--json",
        ];
        a.extend_from_slice(extra);
        a
    };
    let out = justice(&args(&["--fresh"]));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json summary");
    let first = tasks_in(dir.path());
    assert!(!first.is_empty());
    assert_eq!(
        v["judge"]["tasks_pending"].as_u64(),
        Some(first.len() as u64)
    );
    assert!(first
        .iter()
        .all(|t| t["action_time"].is_i64() && t["unique_id"].is_string()));
    let log =
        std::fs::read_to_string(dir.path().join("verdicts/verdicts.jsonl")).expect("verdicts");
    let verdicts = log.lines().count();
    assert!(log
        .lines()
        .all(|l| serde_json::from_str::<serde_json::Value>(l).is_ok()));
    assert_eq!(v["judge"]["verdicts"].as_u64(), Some(verdicts as u64));

    // The same events again: redeliveries, nothing new, nothing postponed.
    let out = justice(&args(&[]));
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(tasks_in(dir.path()), first);

    // Three days later the security group's open port has aged into the kill level: the
    // kill task is added with its own grace; the disable task keeps its time.
    let out = justice(&args(&["--now", "2023-06-25T00:00:00Z"]));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let later = tasks_in(dir.path());
    let sg = |t: &&serde_json::Value| {
        t["aws_resource_name"] == "arn:aws:ec2:eu-west-1:123456789012:security-group/sg-e2fb6999"
    };
    let kill: Vec<_> = later
        .iter()
        .filter(sg)
        .filter(|t| t["action"] == "kill")
        .collect();
    assert_eq!(kill.len(), 1, "{later:#?}");
    let now_s = 1_687_651_200; // 2023-06-25T00:00:00Z
    assert_eq!(kill[0]["action_time"].as_i64(), Some(now_s + 72 * 3600));
    let before: Vec<_> = first.iter().filter(sg).collect();
    let after: Vec<_> = later
        .iter()
        .filter(sg)
        .filter(|t| t["action"] == "disable")
        .collect();
    assert_eq!(before, after);

    let out = justice(&["tasks", "--state", state, "--now", "2023-06-25T00:00:00Z"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let listing = text(&out.stdout);
    assert!(
        listing.contains("kill    arn:aws:ec2:eu-west-1:123456789012:security-group/sg-e2fb6999"),
        "{listing}"
    );
    assert!(listing.contains("in 72.0 h"), "{listing}");
    // The administrator policy is hygiene, not exposure: advised to its owner, never acted on.
    assert!(!listing.contains("AWS::IAM::Policy"), "{listing}");
    let log =
        std::fs::read_to_string(dir.path().join("verdicts/verdicts.jsonl")).expect("verdict log");
    let iam: Vec<serde_json::Value> = log
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|r| {
            r["resource"]["key"]
                .as_str()
                .is_some_and(|k| k.contains("AWS::IAM::Policy"))
        })
        .collect();
    assert!(!iam.is_empty(), "no verdict for the IAM policy");
    assert!(
        iam.iter().all(|r| r["kind"] == "warn"
            && r["reason"]
                .as_str()
                .is_some_and(|w| w.contains("never acted on"))),
        "{iam:#?}"
    );
}

/// A recording is input like any other: only regular files are read, a line longer than an
/// event is an error naming the file and line, and `--accounts` takes real account ids only.
#[test]
fn only_regular_files_of_event_size_are_read() {
    let dir = tempfile::tempdir().expect("tempdir");
    let state = dir.path().join("state");
    let state = state.to_str().expect("path");
    let fifo = dir.path().join("events.json");
    let made = Command::new("mkfifo").arg(&fifo).status().expect("mkfifo");
    assert!(made.success());
    let out = justice(&["replay", fifo.to_str().expect("path"), "--state", state]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("not a regular file"),
        "{}",
        text(&out.stderr)
    );

    let long = dir.path().join("long.jsonl");
    std::fs::write(&long, format!("{{}}\n{}\n", "x".repeat(5 << 20))).expect("write");
    let out = justice(&["replay", long.to_str().expect("path"), "--state", state]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(
        err.contains("long.jsonl:2") && err.contains("longer than"),
        "{err}"
    );

    let out = justice(&[
        "replay",
        "tests/fixtures/config-events/sns",
        "--state",
        state,
        "--accounts",
        "12345678901234567890",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("12-digit"),
        "{}",
        text(&out.stderr)
    );
}

/// Event text never reaches the terminal raw: an escape sequence in a refused event's type
/// cannot rewrite the refusal line.
#[test]
fn escape_sequences_from_events_are_neutralised() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ev = dir.path().join("esc.json");
    std::fs::write(&ev, r#"{"source":"aws.config","detail-type":"Config Configuration Item Change","detail":{"messageType":"ConfigurationItemChangeNotification","configurationItem":{"resourceType":"AWS::EC2::Instance\u001b[2K\r","resourceId":"i-1\u0007","awsAccountId":"123456789012"}}}"#).expect("write");
    let state = dir.path().join("state");
    let out = justice(&[
        "replay",
        ev.to_str().expect("path"),
        "--state",
        state.to_str().expect("path"),
    ]);
    assert_eq!(out.status.code(), Some(1));
    for stream in [&out.stdout, &out.stderr] {
        let t = text(stream);
        assert!(t.contains("refused"), "{t}");
        assert!(
            !t.contains('\u{1b}') && !t.contains('\r') && !t.contains('\u{7}'),
            "{t:?}"
        );
    }
}

/// `justice rules | head` ends quietly when the reader goes away: here the reader is gone
/// before the command starts, so its first write fails, every time.
#[test]
fn a_closed_output_ends_the_command_quietly() {
    let (reader, writer) = std::io::pipe().expect("pipe");
    drop(reader);
    let out = Command::new(env!("CARGO_BIN_EXE_justice"))
        .arg("rules")
        .current_dir(root())
        .stdout(writer)
        .output()
        .expect("run justice");
    let err = text(&out.stderr);
    assert!(
        !err.contains("panicked") && !err.contains("Broken pipe"),
        "{err}"
    );
    assert_eq!(out.status.code(), Some(0));
}

/// Every task the replay of the bundled events writes, once every grace period has run out,
/// reads as Krampus reads it (tests/krampus/contract.py, with the `arnparse` Krampus uses).
/// Needs JUSTICE_PYTHON (set by infra/moto.sh); fails, never skips, without.
#[test]
fn the_replayed_fixtures_tasks_pass_krampus_contract() {
    let python = std::env::var("JUSTICE_PYTHON")
        .expect("JUSTICE_PYTHON is not set: run the tests through infra/test.sh");
    let dir = tempfile::tempdir().expect("tempdir");
    let state = dir.path().to_str().expect("utf-8 path");
    let out = readme_replay(state, &["--now", "2026-11-30T00:00:00Z"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let tasks = dir.path().join("tasks.json");
    let file: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&tasks).expect("tasks.json")).expect("json");
    let n = file["tasks"].as_array().map_or(0, Vec::len);
    assert!(n >= 4, "{n} tasks");
    let check = Command::new(python)
        .arg(root().join("tests/krampus/contract.py"))
        .arg(&tasks)
        .output()
        .expect("run the contract check");
    assert!(
        check.status.success(),
        "{}{}",
        text(&check.stdout),
        text(&check.stderr)
    );
}

/// A line break in event text cannot forge a line of the summary.
#[test]
fn line_breaks_from_events_cannot_forge_lines() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ev = dir.path().join("nl.json");
    std::fs::write(&ev, r#"{"source":"aws.config","detail-type":"Config Configuration Item Change","detail":{"messageType":"ConfigurationItemChangeNotification\n  refused              0\nALL CLEAR"}}"#).expect("write");
    let state = dir.path().join("state");
    let out = justice(&[
        "replay",
        ev.to_str().expect("path"),
        "--state",
        state.to_str().expect("path"),
    ]);
    let all = text(&out.stdout) + &text(&out.stderr);
    let forged: Vec<&str> = all.lines().filter(|l| l.contains("ALL CLEAR")).collect();
    assert!(
        !forged.is_empty() && forged.iter().all(|l| l.contains("message type")),
        "{all}"
    );
}

/// A recorded notification from the future cannot set the replay's clock: its item is refused,
/// and a real exposure replayed after it is still seen.
#[test]
fn a_notification_from_the_future_cannot_pin_the_replay() {
    let dir = tempfile::tempdir().expect("tempdir");
    let open: serde_json::Value = serde_json::from_slice(
        &std::fs::read(root().join("tests/fixtures/config-events/eventbridge/eb-ci-change-ec2-securitygroup-open-world.json"))
            .expect("fixture"),
    )
    .expect("json");
    let mut clean = open.clone();
    clean["detail"]["configurationItem"]["configuration"]["ipPermissions"] = serde_json::json!([]);
    clean["detail"]["configurationItem"]["configurationItemCaptureTime"] =
        "2099-01-01T00:00:00.000Z".into();
    clean["detail"]["configurationItem"]["configurationStateId"] =
        serde_json::json!(4070908800000u64);
    clean["detail"]["notificationCreationTime"] = "2099-01-01T00:00:01.000Z".into();
    let events = dir.path().join("events.jsonl");
    std::fs::write(&events, format!("{clean}\n{open}\n")).expect("write");
    let state = dir.path().join("state");
    let out = justice(&[
        "replay",
        events.to_str().expect("path"),
        "--state",
        state.to_str().expect("path"),
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("later than the clock"),
        "{}",
        text(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["resources_by_level"]["none"], 0, "{v}");
}

/// `justice tasks` on a file whose times were written by hand does not overflow.
#[test]
fn tasks_lists_extreme_times_without_panicking() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("tasks.json"),
        r#"{"tasks":[{"action":"kill","action_time":9223372036854775807,"aws_resource_name":"arn:aws:ec2:us-east-1:123456789012:instance/i-0123abcd"},{"action":"kill","action_time":-9223372036854775808,"aws_resource_name":"x"}]}"#,
    )
    .expect("write");
    let out = justice(&["tasks", "--state", dir.path().to_str().expect("path")]);
    assert!(out.status.success(), "{}", text(&out.stderr));
}

/// An oversized notification is resolved with the item of its own account and region, not
/// with a same-named resource elsewhere (the history holds a newer one in another region).
#[test]
fn an_oversized_item_is_resolved_in_its_own_region() {
    let dir = tempfile::tempdir().expect("tempdir");
    let state = dir.path().to_str().expect("path");
    let out = justice(&[
        "replay",
        "tests/fixtures/hostile/oversized-other-region/lambda-us-east-2-oversized.json",
        "--config-history",
        "tests/fixtures/hostile/oversized-other-region/history",
        "--state",
        state,
        "--fresh",
        "--now",
        "2026-12-31T00:00:00Z",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let tasks = std::fs::read_to_string(dir.path().join("tasks.json")).expect("tasks.json");
    assert!(
        tasks.contains("arn:aws:lambda:us-east-2:644160558196:function:shared-name"),
        "{tasks}"
    );
    assert!(!tasks.contains("eu-west-1"), "{tasks}");
}

/// The API copy of an event's item, as `BatchGetResourceConfig` returns it: no tags, no
/// relationships, the configuration and supplementary values as JSON strings.
fn base_item(ci: &serde_json::Value) -> serde_json::Value {
    let supp: serde_json::Map<String, serde_json::Value> = ci["supplementaryConfiguration"]
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), serde_json::Value::String(v.to_string())))
                .collect()
        })
        .unwrap_or_default();
    serde_json::json!({
        "version": "1.3",
        "accountId": ci["awsAccountId"],
        "configurationItemCaptureTime": ci["configurationItemCaptureTime"],
        "configurationItemStatus": ci["configurationItemStatus"],
        "configurationStateId": ci["configurationStateId"].to_string().trim_matches('"'),
        "arn": ci["ARN"],
        "resourceType": ci["resourceType"],
        "resourceId": ci["resourceId"],
        "resourceName": ci["resourceName"],
        "awsRegion": ci["awsRegion"],
        "configuration": ci["configuration"].to_string(),
        "supplementaryConfiguration": supp,
    })
}

/// A back-fill over resources already scored from their events changes nothing: the API copy
/// of an item (no tags, no relationships) is the same item, poorer, and the richer copy stays;
/// no state moves, no verdict or notice is written.
#[test]
fn a_backfill_of_resources_known_from_events_changes_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let state = dir.path().join("state");
    let state = state.to_str().expect("path");
    let events = "tests/fixtures/config-events/eventbridge";
    let out = justice(&[
        "replay",
        events,
        "--config-history",
        "tests/fixtures/config-history",
        "--fresh",
        "--state",
        state,
        "--now",
        "2026-11-30T00:00:00Z",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let mut items = Vec::new();
    for entry in std::fs::read_dir(root().join(events)).expect("fixtures") {
        let path = entry.expect("entry").path();
        let v: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&path).expect("read")).expect("json");
        let ci = &v["detail"]["configurationItem"];
        if ci.is_object() && ci["configurationItemStatus"] != "ResourceDeleted" {
            items.push(base_item(ci));
        }
    }
    assert!(items.len() >= 10, "{} items", items.len());
    let history = dir.path().join("api");
    std::fs::create_dir_all(&history).expect("dir");
    std::fs::write(
        history.join("batch.json"),
        serde_json::json!({ "baseConfigurationItems": items }).to_string(),
    )
    .expect("write");
    let snapshot =
        |name: &str| std::fs::read(dir.path().join("state").join(name)).unwrap_or_default();
    let (verdicts, notices, tasks) = (
        snapshot("verdicts/verdicts.jsonl"),
        snapshot("outbox/notices.jsonl"),
        snapshot("tasks.json"),
    );
    let show = |key: &str| text(&justice(&["show", key, "--state", state, "--json"]).stdout);
    let keys = [
        "123456789012/eu-west-1/AWS::EC2::SecurityGroup/sg-e2fb6999",
        "644160558196/us-east-1/AWS::S3::Bucket/custodian-test-data-23",
        "264683526309/us-east-1/AWS::EC2::Volume/vol-a416b170",
    ];
    let before: Vec<String> = keys.iter().map(|k| show(k)).collect();
    let out = justice(&[
        "backfill",
        "--config-history",
        history.to_str().expect("path"),
        "--types",
        "AWS::EC2::SecurityGroup,AWS::S3::Bucket,AWS::EC2::Volume,AWS::EC2::Instance,AWS::RDS::DBInstance",
        "--state",
        state,
        "--now",
        "2026-11-30T00:00:00Z",
    ]);
    assert!(
        out.status.success(),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let scored: usize = text(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("back-filled"))
        .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
        .unwrap_or(0);
    assert!(
        scored >= 8,
        "the back-fill visited {scored} resources: {}",
        text(&out.stdout)
    );
    let after: Vec<String> = keys.iter().map(|k| show(k)).collect();
    assert_eq!(
        before, after,
        "a back-fill changed a state known from events"
    );
    assert_eq!(
        snapshot("verdicts/verdicts.jsonl"),
        verdicts,
        "new verdicts"
    );
    assert_eq!(snapshot("outbox/notices.jsonl"), notices, "new notices");
    assert_eq!(snapshot("tasks.json"), tasks, "tasks changed");
}

/// The security team's new standard reaches stored resources: turning a rule off withdraws
/// the tasks that rested on it, with no new Config event.
#[test]
fn a_rule_turned_off_withdraws_its_tasks_after_reevaluation() {
    let dir = tempfile::tempdir().expect("tempdir");
    let state = dir.path().join("state");
    let state = state.to_str().expect("path");
    let out = justice(&[
        "replay",
        "tests/fixtures/config-events/eventbridge/eb-ci-change-ec2-securitygroup-open-world.json",
        "--fresh",
        "--state",
        state,
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let tasks = || std::fs::read_to_string(dir.path().join("state/tasks.json")).unwrap_or_default();
    assert!(tasks().contains("sg-e2fb6999"), "{}", tasks());
    let policy = dir.path().join("off.toml");
    std::fs::write(
        &policy,
        "version = 1\n[rules.sg-world-admin-ports]\nenabled = false\n",
    )
    .expect("write");
    let out = justice(&[
        "reevaluate",
        "--state",
        state,
        "--policy",
        policy.to_str().expect("path"),
        "--now",
        "2023-06-21T12:00:00Z",
    ]);
    assert!(
        out.status.success(),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    assert!(
        text(&out.stdout).contains("re-evaluated"),
        "{}",
        text(&out.stdout)
    );
    assert!(!tasks().contains("sg-e2fb6999"), "{}", tasks());
    // Turned on again, the rule finds the exposure again.
    let out = justice(&[
        "reevaluate",
        "--state",
        state,
        "--now",
        "2023-06-21T13:00:00Z",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(tasks().contains("sg-e2fb6999"), "{}", tasks());
}

#[test]
fn digest_sends_each_window_once_and_lists_what_waits_on_a_person() {
    let dir = tempfile::tempdir().expect("tempdir");
    let state = dir.path().to_str().expect("utf-8 path");
    let out = readme_replay(state, &["--now", "2026-12-05T00:00:00Z"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let digest = |now: &str| {
        let out = justice(&["digest", "--state", state, "--now", now]);
        assert!(out.status.success(), "{}", text(&out.stderr));
        text(&out.stdout)
    };
    let first = digest("2026-12-05T01:00:00Z");
    assert!(first.contains("security (escalations)"), "{first}");
    assert!(digest("2026-12-05T02:00:00Z").contains("nothing to send"));
    // The public RDS snapshot (Krampus has no action for it) is the security team's to chase.
    let alerts: Vec<String> = std::fs::read_to_string(dir.path().join("outbox/security.jsonl"))
        .expect("security alerts")
        .lines()
        .filter(|t| t.contains("need a person (window"))
        .map(str::to_owned)
        .collect();
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert!(alerts[0].contains("snapshot:testing"), "{}", alerts[0]);
    let notices =
        std::fs::read_to_string(dir.path().join("outbox/notices.jsonl")).expect("notices");
    let digests: Vec<serde_json::Value> = notices
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|n| n["kind"] == "digest")
        .collect();
    assert!(
        digests.iter().any(|d| d["json"]["open"]
            .as_array()
            .is_some_and(|o| o.iter().any(|l| l["verdict"] == "unactionable"))),
        "{digests:?}"
    );
}

/// A rule of one's own, in the policy only: checked (compiled, its tests run), refused with the
/// rule id and position when wrong, and used by a replay or `explain` on recorded events.
#[test]
fn a_written_rule_is_checked_refused_and_used() {
    let ok = justice(&["policy", "check", "infra/policies/written-rules.toml"]);
    assert!(ok.status.success(), "{}", text(&ok.stderr));
    assert!(
        text(&ok.stdout).contains("2 rule test(s) passed"),
        "{}",
        text(&ok.stdout)
    );

    let good = std::fs::read_to_string(root().join("infra/policies/written-rules.toml"))
        .expect("example policy");
    // Test files are named relative to the policy file: keep them found from elsewhere.
    let good = good
        .replace("\"../../tests/", &format!("\"{}/tests/", root().display()))
        .replace(
            "\"items/",
            &format!("\"{}/infra/policies/items/", root().display()),
        );
    let dir = tempfile::tempdir().expect("tempdir");
    let check = |name: &str, policy: String| {
        let path = dir.path().join(name);
        std::fs::write(&path, policy).expect("write");
        justice(&["policy", "check", path.to_str().expect("path")])
    };
    assert!(check("same.toml", good.clone()).status.success());

    // An unknown name: refused with the rule and where.
    let out = check("unknown.toml", good.replace("'nodejs10.x'", "nodejs10"));
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains("rule `lambda-deprecated-runtime`")
            && err.contains("unknown variable `nodejs10`")
            && err.contains("line 2, column 3"),
        "{err}"
    );

    // A rule that no longer does what its tests say: the whole file is refused.
    let out = check("wrong.toml", good.replace("'go1.x', ", ""));
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains("lambda-deprecated-runtime") && err.contains("expected to fire, stayed quiet"),
        "{err}"
    );

    // A rule with no item it stays quiet on cannot show that it tells anything apart.
    let cut = good
        .find("[[custom_rules.tests]]\nexpect = \"quiet\"")
        .expect("quiet test");
    let out = check("untested.toml", good[..cut].to_owned());
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("no test where it stays quiet"));

    // An unknown key of a rule is refused, not ignored.
    let out = check("typo.toml", good.replace("remediation =", "remedation ="));
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("remedation"),
        "{}",
        text(&out.stderr)
    );

    // Used on recorded events.
    let out = justice(&[
        "explain",
        "tests/fixtures/config-events/eventbridge/eb-ci-change-lambda-function.json",
        "--policy",
        "infra/policies/written-rules.toml",
        "--json",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let found = v[0]["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .find(|f| f["rule"] == "lambda-deprecated-runtime")
        .unwrap_or_else(|| panic!("the written rule did not fire: {v}"));
    assert!(found["evidence"]
        .as_str()
        .is_some_and(|e| e.contains("go1.x")));
}

/// Events are parsed by several workers, a chunk each, and stored in input order: over a
/// recording of many chunks, each refusal names its own line, in order, and every other
/// event is scored once.
#[test]
fn a_long_recording_is_stored_in_input_order_whatever_parses_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bad_lines = [7usize, 64, 65, 130, 299];
    let lines = volume_events(300, |n| bad_lines.contains(&n));
    let events = dir.path().join("events.jsonl");
    std::fs::write(&events, lines).expect("write");
    let state = dir.path().join("state");
    let out = justice(&[
        "replay",
        events.to_str().expect("path"),
        "--state",
        state.to_str().expect("path"),
        "--no-judge",
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let origins: Vec<String> = v["refused"]
        .as_array()
        .expect("refused")
        .iter()
        .map(|r| r["origin"].as_str().unwrap_or_default().to_owned())
        .collect();
    let expected: Vec<String> = bad_lines
        .iter()
        .map(|n| format!("{}:{n}", events.display()))
        .collect();
    assert_eq!(origins, expected);
    assert_eq!(v["events"], 300, "{v}");
    assert_eq!(v["scored"], 295, "{v}");
    assert_eq!(v["resources_by_level"]["warn"], 295, "{v}");
}

/// When the store stage stops on an error (here the judge, on a `tasks.json` that is not
/// JSON) while the parsing workers are far ahead, the replay ends with that error: the workers
/// blocked on their full channels are released, not waited for.
#[test]
fn a_judge_error_in_a_long_recording_ends_the_replay_with_that_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let lines = volume_events(2000, |_| false);
    let events = dir.path().join("events.jsonl");
    std::fs::write(&events, lines).expect("write");
    let state = dir.path().join("state");
    std::fs::create_dir_all(&state).expect("state dir");
    std::fs::write(state.join("tasks.json"), "not json").expect("tasks");
    let mut child = Command::new(env!("CARGO_BIN_EXE_justice"))
        .args(["replay", events.to_str().expect("path"), "--state"])
        .arg(&state)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    // A liveness guard, not a speed check: the run takes well under a second; a hang is a
    // failure, not a CI timeout.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("the replay hung after its judge failed");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().expect("stderr"), &mut err)
        .expect("stderr");
    assert!(!status.success());
    assert!(err.contains("tasks.json cannot be read"), "{err}");
}

/// A store whose log was cut short by a crash opens with what was whole, and the person
/// running the command is told what was set aside and where.
#[test]
fn a_torn_local_store_is_reported_and_its_bytes_kept() {
    let dir = tempfile::tempdir().expect("tempdir");
    let state = dir.path().to_str().expect("utf-8 path");
    let out = readme_replay(state, &["--no-judge"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let log = dir.path().join("risk.log");
    let bytes = std::fs::read(&log).expect("log");
    std::fs::write(&log, &bytes[..bytes.len() - 10]).expect("tear");
    let out = justice(&["report", "--state", state, "-o", "/dev/null"]);
    let err = text(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("set aside in"), "{err}");
    let kept: Vec<_> = std::fs::read_dir(dir.path())
        .expect("dir")
        .filter_map(|e| e.ok())
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with("risk.log.cut-at-")
        })
        .collect();
    assert_eq!(kept.len(), 1, "the torn bytes are kept");
}

/// `n` events of distinct unencrypted volumes, one per line; the lines `bad` picks (from 1)
/// are not events.
fn volume_events(n: usize, bad: impl Fn(usize) -> bool) -> String {
    let fixture: serde_json::Value = serde_json::from_slice(
        &std::fs::read(root().join(
            "tests/fixtures/config-events/eventbridge/eb-ci-change-ec2-volume-unencrypted.json",
        ))
        .expect("fixture"),
    )
    .expect("json");
    let mut lines = String::new();
    for i in 1..=n {
        if bad(i) {
            lines.push_str(&format!("{{\"not an event\": {i}}}\n"));
            continue;
        }
        let mut event = fixture.clone();
        let ci = &mut event["detail"]["configurationItem"];
        ci["resourceId"] = format!("vol-{i:08x}").into();
        ci["ARN"] = format!("arn:aws:ec2:us-east-1:264683526309:volume/vol-{i:08x}").into();
        lines.push_str(&event.to_string());
        lines.push('\n');
    }
    lines
}
