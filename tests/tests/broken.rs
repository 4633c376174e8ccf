//! Broken input is refused with a clear error, never a panic and never a verdict.

use justice_core::event::{parse_event, parse_event_general, Notice};
use justice_core::score::{derive_state, evaluate_item};
use justice_core::{key_of, Policy};
use justice_tests::{event_files, read, read_json, set};
use proptest::prelude::*;
use serde_json::{json, Value};

/// Runs the whole core on a payload. `Err` carries every refusal's text.
fn run(bytes: &[u8]) -> Result<usize, String> {
    let policy = Policy::default_policy();
    let records = parse_event(bytes).map_err(|e| e.to_string())?;
    // The typed fast path and the general path read every input alike.
    let text = std::str::from_utf8(bytes).map_err(|e| e.to_string())?;
    assert_eq!(Ok(&records), parse_event_general(text).as_ref());
    let mut errors = Vec::new();
    let mut scored = 0;
    for r in records {
        match r {
            Ok(Notice::Item { item, sent }) => {
                match evaluate_item(&item, sent, &policy).and_then(|r| Ok((r, key_of(&item)?))) {
                    Ok((record, key)) => {
                        let state = derive_state(&key, &[record], sent, &policy)
                            .ok_or("no state from one record")?;
                        let sum: u32 = state.findings.iter().map(|f| f.points).sum();
                        assert_eq!(state.score, sum, "every point belongs to a finding");
                        scored += 1;
                    }
                    Err(e) => errors.push(e.to_string()),
                }
            }
            Ok(_) => {}
            Err(e) => errors.push(e.to_string()),
        }
    }
    if errors.is_empty() {
        Ok(scored)
    } else {
        Err(errors.join("; "))
    }
}

fn edited(rel: &str, pointer: &str, value: Value) -> Vec<u8> {
    let mut v = read_json(rel);
    set(&mut v, pointer, value);
    serde_json::to_vec(&v).unwrap_or_default()
}

const SG: &str = "eventbridge/eb-ci-change-ec2-securitygroup-open-world.json";
const RDS: &str = "eventbridge/eb-ci-change-rds-dbinstance-public-unencrypted.json";
const CI: &str = "/detail/configurationItem";

#[test]
fn the_broken_corpus_is_refused_with_reasons() {
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("empty", b"".to_vec(), "not JSON"),
        ("null", b"null".to_vec(), "not an AWS Config event"),
        ("array", b"[{}]".to_vec(), "not an AWS Config event"),
        ("plain object", br#"{"hello": "world"}"#.to_vec(), "not an AWS Config event"),
        ("EC2 event", br#"{"source":"aws.ec2","detail-type":"EC2 Instance State-change Notification","detail":{}}"#.to_vec(), "not aws.config"),
        ("S3 records", br#"{"Records":[{"eventSource":"aws:s3","s3":{}}]}"#.to_vec(), "not aws:sns"),
        ("SNS message not JSON", br#"{"Records":[{"EventSource":"aws:sns","Sns":{"MessageId":"m","Message":"hello"}}]}"#.to_vec(), "not JSON"),
        ("invalid UTF-8", b"{\"source\":\"aws.config\xff\xfe\"}".to_vec(), "not JSON"),
        ("deep nesting", "[".repeat(100_000).into_bytes(), "not JSON"),
        ("no messageType", edited(SG, "/detail/messageType", Value::Null), "messageType"),
        ("capture time garbage", edited(SG, &format!("{CI}/configurationItemCaptureTime"), json!("last Tuesday")), "configurationItemCaptureTime"),
        ("capture time number in a notification", edited(SG, &format!("{CI}/configurationItemCaptureTime"), json!(-5)), "configurationItemCaptureTime"),
        ("state id fraction", edited(SG, &format!("{CI}/configurationStateId"), json!(1.5)), "configurationStateId"),
        ("unknown status", edited(SG, &format!("{CI}/configurationItemStatus"), json!("Exploded")), "configurationItemStatus"),
        ("configuration an array", edited(SG, &format!("{CI}/configuration"), json!([1, 2])), "configuration"),
        ("configuration null while OK", edited(SG, &format!("{CI}/configuration"), Value::Null), "configuration is missing"),
        ("ipPermissions a string", edited(SG, &format!("{CI}/configuration/ipPermissions"), json!("all")), "ipPermissions"),
        ("port not a number", edited(SG, &format!("{CI}/configuration/ipPermissions/0/fromPort"), json!("twenty-two")), "fromPort"),
        ("publiclyAccessible not a boolean", edited(RDS, &format!("{CI}/configuration/publiclyAccessible"), json!("maybe")), "publiclyAccessible"),
        ("relationships an object", edited(SG, &format!("{CI}/relationships"), json!({})), "relationships"),
        ("no resource id", edited(SG, &format!("{CI}/resourceId"), Value::Null), "resourceId"),
    ];
    for (name, bytes, reason) in cases {
        match run(&bytes) {
            Ok(n) => panic!("{name}: accepted ({n} scored), expected a refusal about {reason}"),
            Err(e) => assert!(
                e.contains(reason),
                "{name}: error `{e}` does not mention {reason}"
            ),
        }
    }
}

#[test]
fn errors_about_an_item_name_the_resource() {
    let e = run(&edited(
        SG,
        &format!("{CI}/configuration/ipPermissions"),
        json!("all"),
    ))
    .expect_err("refused");
    assert!(e.contains("sg-e2fb6999"), "{e}");
    let e = run(&edited(
        SG,
        &format!("{CI}/configurationItemCaptureTime"),
        json!("soon"),
    ))
    .expect_err("refused");
    assert!(e.contains("sg-e2fb6999"), "{e}");
}

/// Identity fields AWS never sends: refused at intake with the field named, never stored
/// under a key another resource's records could share.
#[test]
fn identities_aws_never_sends_are_refused_with_the_field() {
    let cases = [
        ("resourceName", json!("x".repeat(5_000_000)), "resourceName"),
        (
            "resourceId",
            json!("sg-\u{202e}\u{0}\u{1F600}"),
            "resourceId",
        ),
        ("resourceId", json!("sg-1\u{0}H#"), "resourceId"),
        (
            "awsRegion",
            json!("us-east-1/AWS::EC2::Instance"),
            "awsRegion",
        ),
        ("awsAccountId", json!("0123456789012"), "awsAccountId"),
        (
            "resourceType",
            json!("AWS::EC2::SecurityGroup/x"),
            "resourceType",
        ),
    ];
    for (field, value, named) in cases {
        let e = run(&edited(SG, &format!("{CI}/{field}"), value)).expect_err(field);
        assert!(e.contains(named), "{field}: {e}");
    }
}

#[test]
fn odd_but_legal_input_is_scored_not_refused() {
    let cases = vec![
        (
            "a name of spaces, quotes and emoji",
            edited(
                SG,
                &format!("{CI}/resourceName"),
                json!("web \"prod\" \u{1F600}"),
            ),
        ),
        (
            "unreadable tags",
            edited(SG, &format!("{CI}/tags"), json!(["owner"])),
        ),
        (
            "ports as floats",
            edited(
                SG,
                &format!("{CI}/configuration/ipPermissions/0/fromPort"),
                json!(22.0),
            ),
        ),
    ];
    for (name, bytes) in cases {
        assert_eq!(run(&bytes), Ok(1), "{name}");
    }
}

#[test]
fn unreadable_tags_are_not_missing_tags() {
    let policy = Policy::default_policy();
    let bytes = edited(SG, &format!("{CI}/tags"), json!({"owner": 7}));
    let Ok(mut r) = parse_event(&bytes) else {
        panic!("parse")
    };
    let Some(Ok(Notice::Item { item, .. })) = r.pop() else {
        panic!("item")
    };
    let rec = evaluate_item(&item, item.capture_time, &policy).expect("scored");
    assert!(rec
        .findings
        .iter()
        .all(|f| f.finding.rule != "required-tags"));
}

fn pointers(v: &Value, at: String, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                let p = format!("{at}/{}", k.replace('~', "~0").replace('/', "~1"));
                out.push(p.clone());
                pointers(x, p, out);
            }
        }
        Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                let p = format!("{at}/{i}");
                out.push(p.clone());
                pointers(x, p, out);
            }
        }
        _ => {}
    }
}

fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        ".{0,12}".prop_map(Value::String),
        Just(json!("0.0.0.0/0")),
        Just(json!("2020-10-06T22:39:22.579Z")),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(".{0,6}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(justice_tests::proptest_config(512))]

    /// Replacing any node of any fixture with any JSON value never panics.
    #[test]
    fn mutated_fixtures_never_panic(file in 0usize..64, node in any::<prop::sample::Index>(), value in any_json(), drop_it in any::<bool>()) {
        let files = event_files();
        let path = &files[file % files.len()];
        let mut v: Value = serde_json::from_slice(&read(path)).unwrap_or_default();
        // SNS messages are JSON in a string: mutate inside them too.
        let sns = v.pointer("/Records/0/Sns/Message").and_then(Value::as_str).and_then(|s| serde_json::from_str::<Value>(s).ok());
        let mut target = sns.clone().unwrap_or_else(|| v.clone());
        let mut all = Vec::new();
        pointers(&target, String::new(), &mut all);
        if !all.is_empty() {
            let p = &all[node.index(all.len())];
            let (parent, key) = p.rsplit_once('/').unwrap_or(("", p));
            match (drop_it, target.pointer_mut(parent)) {
                (true, Some(Value::Object(m))) => { m.remove(&key.replace("~1", "/").replace("~0", "~")); }
                _ => if let Some(slot) = target.pointer_mut(p) { *slot = value; },
            }
        }
        if sns.is_some() {
            if let Some(m) = v.pointer_mut("/Records/0/Sns/Message") { *m = Value::String(target.to_string()); }
        } else {
            v = target;
        }
        let _ = run(&serde_json::to_vec(&v).unwrap_or_default());
    }

    /// Flipping, cutting or inserting bytes never panics.
    #[test]
    fn corrupted_bytes_never_panic(file in 0usize..64, at in any::<prop::sample::Index>(), byte in any::<u8>(), cut in any::<bool>()) {
        let files = event_files();
        let mut bytes = read(&files[file % files.len()]);
        let i = at.index(bytes.len());
        if cut { bytes.truncate(i) } else { bytes[i] = byte }
        let _ = run(&bytes);
    }
}

/// Found by the mutation test in CI: serde's derived structs read a JSON array by position, so
/// the typed path took an array `detail` for a notification. Both paths must refuse it.
#[test]
fn arrays_where_objects_belong_are_refused_by_both_paths() {
    let eb = "eventbridge/eb-ci-change-ec2-securitygroup-open-world.json";
    let mut cases = vec![edited(
        eb,
        "/detail",
        json!([
            "2020-10-06T22:39:22.579Z",
            "ConfigurationItemChangeNotification"
        ]),
    )];
    let sns = event_files()
        .into_iter()
        .find(|p| p.to_string_lossy().contains("sns-lambda-ec2-instance"))
        .expect("an SNS fixture in Lambda's Records form");
    let mut v: Value = serde_json::from_slice(&read(&sns)).expect("json");
    let record = v["Records"][0].clone();
    v["Records"][0] = json!(["aws:sns", record["Sns"]]);
    cases.push(serde_json::to_vec(&v).expect("json"));
    let mut v2: Value = serde_json::from_slice(&read(&sns)).expect("json");
    v2["Records"][0]["Sns"] = json!([record["Sns"]["Message"]]);
    cases.push(serde_json::to_vec(&v2).expect("json"));
    for bytes in cases {
        // `run` asserts that the typed and the general path agree.
        let out = run(&bytes);
        assert!(out.is_err() || out == Ok(0), "{out:?}");
    }
}
