//! Every bundled fixture parses into what it is.

use justice_core::event::{parse_event, parse_event_general, takes_fast_path, Notice};
use justice_core::score::evaluate_item;
use justice_core::{ConfigItem, Policy};
use justice_local::LocalConfigSource;
use justice_tests::{event_files, fixtures, read};
use serde_json::Value;

#[test]
fn every_event_fixture_parses_to_an_item_an_oversized_summary_or_an_ignore() {
    let files = event_files();
    assert!(files.len() >= 25, "fixtures missing: {}", files.len());
    let policy = Policy::default_policy();
    let (mut items, mut oversized, mut ignored) = (0, 0, 0);
    for path in &files {
        let records =
            parse_event(&read(path)).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert!(!records.is_empty(), "{}", path.display());
        for r in records {
            match r.unwrap_or_else(|e| panic!("{}: {e}", path.display())) {
                Notice::Item { item, .. } => {
                    items += 1;
                    evaluate_item(&item, item.capture_time, &policy)
                        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                }
                Notice::Oversized(_) => oversized += 1,
                Notice::Ignored { .. } => ignored += 1,
            }
        }
    }
    assert_eq!((oversized, ignored), (3, 2), "items {items}");
    assert_eq!(items, files.len() - 5);
}

#[test]
fn the_fast_path_reads_the_common_shapes_and_agrees_with_the_general_path() {
    let mut fast = 0;
    for path in event_files() {
        let bytes = read(&path);
        let text = std::str::from_utf8(&bytes).unwrap_or_default();
        assert_eq!(
            parse_event(&bytes),
            parse_event_general(text),
            "{}",
            path.display()
        );
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        // EventBridge and Lambda-form SNS change notifications are the scorer's daily bread.
        if name.starts_with("eb-ci-change") || name.starts_with("sns-lambda") {
            assert!(takes_fast_path(text), "{name} takes the slow path");
            fast += 1;
        }
    }
    assert!(fast >= 20, "only {fast} fixtures on the fast path");
}

#[test]
fn the_same_deletion_through_eventbridge_sns_and_a_raw_sns_body_is_one_item() {
    let item = |rel: &str| -> ConfigItem {
        let path = fixtures().join("config-events").join(rel);
        match parse_event(&read(&path)).ok().and_then(|mut r| r.pop()) {
            Some(Ok(Notice::Item { item, .. })) => *item,
            other => panic!("{rel}: {other:?}"),
        }
    };
    let eb = item("eventbridge/eb-ci-change-s3-bucket-resource-deleted.json");
    let sns = item("sns/sns-lambda-s3-bucket-resource-deleted.json");
    let raw = item("sns/sns-http-body-s3-bucket-resource-deleted.json");
    assert_eq!(eb.digest, sns.digest);
    assert_eq!(eb, raw);
    assert!(eb.status.is_deletion() && eb.configuration.is_none());
}

#[test]
fn api_shape_items_parse_with_their_string_encodings() {
    let path =
        fixtures().join("config-events/api/api-get-resource-config-history-item-s3-boto3.json");
    let v: Value = serde_json::from_slice(&read(&path)).unwrap_or_default();
    let item = ConfigItem::from_api(v).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(item.resource_type, "AWS::S3::Bucket");
    assert!(item.configuration.as_ref().is_some_and(Value::is_object));
    // The double-encoded ACL is decoded to an object.
    assert!(item
        .supplementary
        .get("AccessControlList")
        .is_some_and(Value::is_object));
    let history = LocalConfigSource::from_dir(&fixtures().join("config-history"))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(history.len(), 3);
}

#[test]
fn advanced_query_rows_parse_with_floats_for_integers() {
    let path = fixtures().join("config-events/api/api-select-resource-config-lambda-recorded.json");
    let v: Value = serde_json::from_slice(&read(&path)).unwrap_or_default();
    let rows = v
        .pointer("/data/Results")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    assert!(!rows.is_empty());
    for row in rows {
        let row: Value = serde_json::from_str(row.as_str().unwrap_or("null")).unwrap_or_default();
        let timeout = justice_core::json::opt_int(row.pointer("/configuration/timeout"), "timeout");
        assert_eq!(timeout, Ok(Some(60)));
    }
}

#[test]
fn a_null_configuration_item_reads_alike_on_both_paths() {
    // Found by the mutation property test: the typed path once read `null` as absent.
    let mut v = justice_tests::read_json("eventbridge/eb-ci-change-s3-bucket-public.json");
    justice_tests::set(&mut v, "/detail/configurationItem", Value::Null);
    let text = v.to_string();
    let fast = parse_event(text.as_bytes());
    assert_eq!(fast, parse_event_general(&text));
    assert!(fast.is_err() || fast.iter().flatten().all(Result::is_err));
}

#[test]
fn a_detail_that_is_not_an_object_reads_alike_on_both_paths() {
    // The typed path reads `detail` in the envelope's pass: it must refuse an array (serde's
    // derived structs take one, field by position) as the general path does.
    let v = justice_tests::read_json("eventbridge/eb-ci-change-s3-bucket-public.json");
    let d = &v["detail"];
    let array = serde_json::json!([
        d["recordVersion"],
        d["messageType"],
        d["configurationItemDiff"],
        d["notificationCreationTime"],
        d["configurationItem"]
    ]);
    for detail in [array, Value::String("{}".into()), Value::Null] {
        let mut w = v.clone();
        justice_tests::set(&mut w, "/detail", detail.clone());
        let text = w.to_string();
        assert_eq!(
            parse_event(text.as_bytes()),
            parse_event_general(&text),
            "{detail}"
        );
    }
}
