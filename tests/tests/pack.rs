//! The rule pack and written rules: every pack rule fires on its own real-shaped items and
//! stays quiet on the others it is given (tests/fixtures/rules/<id>/fires*.json, quiet*.json);
//! the meta-rules of the built-ins hold for it; a policy's written rules are compiled, refused
//! and evaluated as the issue of custom audits asks.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use justice_core::policy::Policy;
use justice_core::rules::custom::{self, Expect, RuleSource};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/rules")
}

fn read(path: &Path) -> serde_json::Value {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn the_pack_compiles_and_every_rule_passes_its_items_both_ways() {
    assert!(
        custom::pack_errors().is_empty(),
        "{:?}",
        custom::pack_errors()
    );
    let policy = Policy::default_policy();
    let mut failures = Vec::new();
    for rule in custom::pack().rules() {
        let dir = fixtures().join(rule.id());
        let Ok(entries) = std::fs::read_dir(&dir) else {
            failures.push(format!("{}: no items in {}", rule.id(), dir.display()));
            continue;
        };
        let mut seen = BTreeSet::new();
        for entry in entries {
            let path = entry.expect("a directory entry").path();
            let name = path
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default()
                .to_owned();
            let expect = if name.starts_with("fires") {
                Expect::Fires
            } else if name.starts_with("quiet") {
                Expect::Quiet
            } else {
                failures.push(format!(
                    "{}: {name} is neither fires* nor quiet*",
                    rule.id()
                ));
                continue;
            };
            seen.insert(format!("{expect:?}"));
            if let Err(e) = policy.check_one(rule, &read(&path), expect, None) {
                failures.push(format!("{}/{name}: {e}", rule.id()));
            }
        }
        for want in ["Fires", "Quiet"] {
            if !seen.contains(want) {
                failures.push(format!("{}: no {want} item", rule.id()));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_fixture_directory_is_a_pack_rule() {
    for entry in std::fs::read_dir(fixtures()).expect("tests/fixtures/rules") {
        let path = entry.expect("entry").path();
        if !path.is_dir() {
            continue;
        }
        let id = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        assert!(
            custom::pack().find(id).is_some(),
            "{id}: items for no pack rule"
        );
    }
}

#[test]
fn pack_rules_meet_the_rules_of_the_built_ins() {
    let policy = Policy::default_policy();
    let all = policy.catalog();
    let mut ids = BTreeSet::new();
    for r in &all {
        assert!(ids.insert(r.id), "{} is defined twice", r.id);
        assert!(
            r.checks.ends_with('.') && r.remediation.ends_with('.'),
            "{}: write whole sentences",
            r.id
        );
        if r.source == RuleSource::Pack {
            assert!(!r.resource_types.is_empty(), "{}: reads no type", r.id);
            // The pack warns and lists; it never drives Krampus.
            assert!(!r.acts, "{}: a pack rule acts", r.id);
        }
    }
    let types: BTreeSet<&str> = all
        .iter()
        .flat_map(|r| r.resource_types.iter().copied())
        .collect();
    assert!(all.len() >= 60, "only {} rules", all.len());
    assert!(
        types.len() >= 30,
        "only {} resource types: {types:?}",
        types.len()
    );
}

#[test]
fn a_rule_test_item_may_be_an_item_or_a_whole_notification() {
    use justice_core::rules::custom::testing::test_item;
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/config-events");
    let eb = read(&dir.join("eventbridge/eb-ci-change-ec2-securitygroup-open-world.json"));
    let from_event = test_item(&eb).expect("an EventBridge event");
    let from_item = test_item(&eb["detail"]["configurationItem"]).expect("the item itself");
    assert_eq!(from_event.resource_id, from_item.resource_id);
    // An SNS delivery, read by the scorer's own parser.
    let sns = read(&dir.join("sns/sns-lambda-ec2-securitygroup-updated.json"));
    let item = test_item(&sns).expect("an SNS event");
    assert_eq!(item.resource_type, "AWS::EC2::SecurityGroup");
    // A notification without an item says why.
    let err = test_item(&serde_json::json!({"hello": "world"})).expect_err("not an event");
    assert!(!err.is_empty());
}
