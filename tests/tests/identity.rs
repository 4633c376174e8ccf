//! No event can aim a task at a resource it does not describe. Real-shaped events of every type
//! Krampus acts on have their identity fields and ARN mutated (separators, control characters,
//! other accounts, regions and names, whole other ARNs); whatever the scorer accepts, every task
//! the judge then writes names the event's own resource, as Krampus will read it, and passes
//! the gate.

use std::collections::BTreeMap;

use justice_core::allow::AllowList;
use justice_core::event::{parse_event, Notice};
use justice_core::identity::Arn;
use justice_core::krampus;
use justice_core::score::{derive_state, evaluate_item};
use justice_core::time::HOUR_MS;
use justice_core::verdict::Judgement;
use justice_core::{key_of, ConfigItem};
use justice_tests::{read_json, set};
use proptest::prelude::*;
use serde_json::{json, Value};

const CI: &str = "/detail/configurationItem";

/// The events of the types Krampus acts on, each risky enough for a task.
const EVENTS: &[&str] = &[
    "eventbridge/eb-ci-change-ec2-securitygroup-open-world.json",
    "eventbridge/eb-ci-change-ec2-instance-public-ip.json",
    "eventbridge/eb-ci-change-s3-bucket-public.json",
    "eventbridge/eb-ci-change-rds-dbinstance-public-unencrypted.json",
    "eventbridge/eb-ci-change-iam-user.json",
    "eventbridge/eb-ci-change-iam-role.json",
    "eventbridge/eb-ci-change-lambda-function.json",
    "eventbridge/eb-ci-change-ec2-volume-unencrypted.json",
];

const VICTIM: &str = "999999999999";

/// What the event claims, field by field, as sent.
#[derive(Debug, Clone)]
struct Claimed {
    account: String,
    region: String,
    resource_type: String,
    resource_id: String,
    resource_name: Option<String>,
}

fn claimed(event: &Value) -> Option<Claimed> {
    let ci = event.pointer(CI)?;
    let s = |k: &str| ci.get(k).and_then(Value::as_str).map(str::to_owned);
    Some(Claimed {
        account: s("awsAccountId")?,
        region: s("awsRegion")?,
        resource_type: s("resourceType")?,
        resource_id: s("resourceId")?,
        resource_name: s("resourceName"),
    })
}

/// Scores the event two days after its capture (grace periods over, ages grown) and judges it
/// with its own account and a victim's both allowed: the tasks written, or `None` when the
/// event is refused.
fn tasks_of(event: &Value) -> Option<(ConfigItem, Vec<Value>)> {
    // Every type Krampus acts on gets tasks, whatever finding asks for them.
    let policy = justice_tests::hygiene_acts();
    let bytes = serde_json::to_vec(event).ok()?;
    let mut records = parse_event(&bytes).ok()?;
    let Some(Ok(Notice::Item { item, sent })) = records.pop() else {
        return None;
    };
    let record = evaluate_item(&item, sent, &policy).ok()?;
    let key = key_of(&item).ok()?;
    let now = item.capture_time + 48 * HOUR_MS;
    let state = derive_state(&key, &[record], now, &policy)?;
    let accounts = vec![item.account.clone(), VICTIM.to_owned()];
    let allow = AllowList::default();
    let j = Judgement {
        policy: &policy,
        allow: &allow,
        accounts: &accounts,
        now,
        dry_run: false,
    };
    let mut budget = u32::MAX;
    let d = j.decide(&key, Some(&state), None, &BTreeMap::new(), &mut budget);
    let tasks = d
        .add
        .iter()
        .map(|t| {
            let v = serde_json::to_value(t).unwrap_or_default();
            assert_eq!(
                krampus::gate(&v, &accounts, &state),
                Ok(()),
                "a written task fails the gate: {v}"
            );
            v
        })
        .collect();
    Some((*item, tasks))
}

/// The task names the event's own resource as Krampus reads it: same account, region and name.
fn names_its_own_resource(task: &Value, claim: &Claimed) -> Result<(), String> {
    let text = task["aws_resource_name"].as_str().ok_or("no ARN")?;
    let arn = Arn::parse(text).ok_or("arnparse fails")?;
    if arn.account != Some(claim.account.as_str()) {
        return Err(format!(
            "{text}: account is not the event's {}",
            claim.account
        ));
    }
    let want_region = (arn.service != "iam").then_some(claim.region.as_str());
    if arn.region != want_region {
        return Err(format!(
            "{text}: region is not the event's {}",
            claim.region
        ));
    }
    let shape = justice_core::types::arn_shape(&claim.resource_type)
        .ok_or_else(|| format!("{text}: a task for {}", claim.resource_type))?;
    let name = match shape.name {
        justice_core::identity::NameFrom::Id => Some(claim.resource_id.as_str()),
        justice_core::identity::NameFrom::Name => claim.resource_name.as_deref(),
    };
    if Some(arn.resource) != name {
        return Err(format!(
            "{text}: names `{}`, the event {name:?}",
            arn.resource
        ));
    }
    Ok(())
}

#[test]
fn every_fixture_of_a_krampus_type_gets_tasks_that_name_itself() {
    let mut with_tasks = 0;
    for rel in EVENTS {
        let event = read_json(rel);
        let claim = claimed(&event).expect("identity");
        let (_, tasks) = tasks_of(&event).unwrap_or_else(|| panic!("{rel} refused"));
        with_tasks += usize::from(!tasks.is_empty());
        for t in &tasks {
            names_its_own_resource(t, &claim).unwrap_or_else(|e| panic!("{rel}: {e}"));
        }
    }
    assert!(with_tasks >= 5, "only {with_tasks} fixtures got tasks");
}

/// Values an attacker (or a broken recorder) might put in an identity field.
fn hostile_value() -> impl Strategy<Value = String> {
    let fixed = prop::sample::select(vec![
        "us-east-1/AWS::EC2::Instance".to_owned(),
        "us-east-1:999999999999".to_owned(),
        "eu-west-1".to_owned(),
        "global".to_owned(),
        VICTIM.to_owned(),
        "1234567890123".to_owned(),
        "0".to_owned(),
        "i-0badbadbad1".to_owned(),
        "sg-0badbadbad1".to_owned(),
        "sg-1,sg-2".to_owned(),
        "sg-*".to_owned(),
        " sg-0123abcd".to_owned(),
        "victim-bucket".to_owned(),
        "bucket:999999999999:evil".to_owned(),
        "admin".to_owned(),
        "path/admin".to_owned(),
        "AWS::EC2::Instance".to_owned(),
        "AWS::S3::Bucket".to_owned(),
        "AWS::IAM::Role".to_owned(),
        String::new(),
        format!("arn:aws:ec2:us-east-1:{VICTIM}:instance/i-0badbadbad1"),
        format!("arn:aws:ec2:us-east-1:{VICTIM}:security-group/sg-0badbadbad1"),
        "arn:aws:s3:::victim-bucket".to_owned(),
        format!("arn:aws:iam::{VICTIM}:role/admin"),
        format!("arn:aws:rds:us-east-1:{VICTIM}:db:prod"),
        format!("arn:aws:lambda:us-east-1:{VICTIM}:function:prod"),
        "*".to_owned(),
    ]);
    prop_oneof![fixed, "[ -~]{0,12}", "\\PC{0,8}"]
}

/// A change to one identity field: replaced, or a separator or control character inserted,
/// alone or coherently (in the ARN and the name too, as a crafted event would be).
#[derive(Debug, Clone)]
enum Mutation {
    Replace(String),
    Insert(usize, char),
    Coherent(Box<Mutation>),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let sep = prop::sample::select(vec![
        '/', ':', ',', '*', '?', ' ', '\0', '\n', '\r', '\t', '\u{1b}', '\u{202e}', '\u{200b}',
        '#', '\\', '"', '.',
    ]);
    let one = prop_oneof![
        hostile_value().prop_map(Mutation::Replace),
        (0usize..64, sep).prop_map(|(at, c)| Mutation::Insert(at, c)),
    ];
    prop_oneof![
        one.clone(),
        one.prop_map(|m| Mutation::Coherent(Box::new(m))),
    ]
}

fn apply(event: &mut Value, field: &str, m: &Mutation) {
    let ptr = format!("{CI}/{field}");
    let current = event
        .pointer(&ptr)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let (m, coherent) = match m {
        Mutation::Coherent(inner) => (inner.as_ref(), true),
        other => (other, false),
    };
    let new = match m {
        Mutation::Replace(v) => v.clone(),
        Mutation::Insert(at, c) => {
            let mut chars: Vec<char> = current.chars().collect();
            let at = (*at).min(chars.len());
            chars.insert(at, *c);
            chars.into_iter().collect()
        }
        Mutation::Coherent(_) => current.clone(),
    };
    set(event, &ptr, json!(new));
    if coherent && !current.is_empty() && field != "ARN" {
        // The same value everywhere the event names it: the ARN, and the name when it is the id.
        for other in ["ARN", "resourceName", "resourceId"] {
            let p = format!("{CI}/{other}");
            if other == field {
                continue;
            }
            if let Some(text) = event.pointer(&p).and_then(Value::as_str) {
                let replaced = if other == "ARN" {
                    text.replace(&current, &new)
                } else if text == current {
                    new.clone()
                } else {
                    continue;
                };
                set(event, &p, json!(replaced));
            }
        }
    }
}

/// Whatever identity a mutated event claims, if it is accepted every task names it. Counts
/// the cases that got tasks, so the property is not vacuous.
#[test]
fn no_mutated_identity_aims_a_task_at_another_resource() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let (accepted, tasked) = (AtomicUsize::new(0), AtomicUsize::new(0));
    let edits = prop::collection::vec(
        (
            prop::sample::select(vec![
                "resourceId",
                "resourceName",
                "awsRegion",
                "awsAccountId",
                "ARN",
                "resourceType",
            ]),
            mutation(),
        ),
        1..4,
    );
    let mut runner = proptest::test_runner::TestRunner::new(justice_tests::proptest_config(2048));
    let result = runner.run(&(0..EVENTS.len(), edits), |(which, edits)| {
        let mut event = read_json(EVENTS[which]);
        for (field, m) in &edits {
            apply(&mut event, field, m);
        }
        let Some(claim) = claimed(&event) else {
            return Ok(());
        };
        if let Some((item, tasks)) = tasks_of(&event) {
            // Accepted: the item is what the event claims, and every task names it.
            accepted.fetch_add(1, Ordering::Relaxed);
            tasked.fetch_add(usize::from(!tasks.is_empty()), Ordering::Relaxed);
            prop_assert_eq!(&item.account, &claim.account);
            prop_assert_eq!(&item.region, &claim.region);
            prop_assert_eq!(&item.resource_id, &claim.resource_id);
            for t in &tasks {
                if let Err(e) = names_its_own_resource(t, &claim) {
                    prop_assert!(false, "{}: {}", EVENTS[which], e);
                }
            }
        }
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
    let (accepted, tasked) = (accepted.into_inner(), tasked.into_inner());
    eprintln!("2048 mutated events: {accepted} accepted, {tasked} of them with tasks");
    assert!(
        tasked >= 50,
        "too few mutated events got tasks ({tasked}) for the property to bite"
    );
}

/// The hostile events of the report, one by one: each is refused.
#[test]
fn the_reported_hostile_events_are_refused() {
    let sg = "eventbridge/eb-ci-change-ec2-securitygroup-open-world.json";
    let cases: Vec<(&str, &str, Value)> = vec![
        (sg, "awsRegion", json!("us-east-1/AWS::EC2::Instance")),
        (
            sg,
            "ARN",
            json!(format!(
                "arn:aws:ec2:eu-west-1:123456789012:security-group/sg-0badbadbad1"
            )),
        ),
        (
            sg,
            "ARN",
            json!(format!(
                "arn:aws:ec2:eu-west-1:{VICTIM}:security-group/sg-e2fb6999"
            )),
        ),
        (
            sg,
            "ARN",
            json!("arn:aws:ec2:us-east-1:123456789012:security-group/sg-e2fb6999"),
        ),
        (sg, "resourceId", json!("sg-e2fb6999\u{0}")),
        (sg, "awsAccountId", json!("12345678901234567890")),
        (
            "eventbridge/eb-ci-change-s3-bucket-public.json",
            "awsRegion",
            json!("us-east-1:999999999999"),
        ),
        (
            "eventbridge/eb-ci-change-s3-bucket-public.json",
            "resourceId",
            json!("victim:bucket"),
        ),
    ];
    for (rel, field, value) in cases {
        let mut event = read_json(rel);
        set(&mut event, &format!("{CI}/{field}"), value.clone());
        assert!(
            tasks_of(&event).is_none(),
            "{rel} with {field} = {value} was accepted"
        );
    }
}

/// A capture time far in the future is refused: it would pin the state and hide every later
/// change (the report's "2099" item).
#[test]
fn an_item_from_the_future_is_refused() {
    let mut event = read_json("eventbridge/eb-ci-change-ec2-securitygroup-open-world.json");
    set(
        &mut event,
        &format!("{CI}/configurationItemCaptureTime"),
        json!("2099-01-01T00:00:00.000Z"),
    );
    assert!(tasks_of(&event).is_none());
}

/// A deletion item without `resourceName` (the ARN names an RDS instance by it) is read, so
/// the deletion withdraws the tasks; it cannot get a task itself.
#[test]
fn a_deletion_without_its_name_is_still_read() {
    let mut event = read_json("eventbridge/eb-ci-change-rds-dbinstance-public-unencrypted.json");
    set(
        &mut event,
        &format!("{CI}/configurationItemStatus"),
        json!("ResourceDeleted"),
    );
    set(&mut event, &format!("{CI}/configuration"), Value::Null);
    set(&mut event, &format!("{CI}/resourceName"), Value::Null);
    let bytes = serde_json::to_vec(&event).expect("json");
    let notice = parse_event(&bytes)
        .expect("envelope")
        .pop()
        .expect("record");
    assert!(matches!(notice, Ok(Notice::Item { .. })), "{notice:?}");
}
