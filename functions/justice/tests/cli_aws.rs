//! `justice replay --backend aws`: the same pipeline through the AWS adapters, against moto.

use std::path::{Path, PathBuf};
use std::process::Command;

use justice_aws::DynamoRiskStore;
use justice_core::ResourceKey;
use justice_service::RiskStore;
use justice_tests::aws::{create_risk_table, dynamo, moto_url, sdk, RequestLog};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

#[tokio::test]
async fn replay_through_dynamodb_scores_the_samples_into_the_table() {
    let sdk = sdk().await;
    let client = dynamo(&sdk, &RequestLog::default());
    let table = create_risk_table(&client).await;
    let out = Command::new(env!("CARGO_BIN_EXE_justice"))
        .args([
            "replay",
            "tests/fixtures/config-events/eventbridge",
            "tests/fixtures/config-events/sns",
            "--config-history",
            "tests/fixtures/config-history",
            "--backend",
            "aws",
            "--table",
            &table,
            "--json",
        ])
        .current_dir(root())
        .env("AWS_ENDPOINT_URL", moto_url())
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_REGION", "us-east-1")
        .output()
        .expect("run justice");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json summary");
    assert_eq!(v["events"], 25, "{v}");
    assert_eq!(v["refused"].as_array().map(Vec::len), Some(0), "{v}");
    assert!(
        v["resources_by_level"]["disable"].as_u64() >= Some(1),
        "{v}"
    );

    // The states are in the table, readable by the adapter the Lambda uses.
    let store = DynamoRiskStore::new(client, table, 90);
    let key = ResourceKey::new(
        "123456789012",
        "eu-west-1",
        "AWS::EC2::SecurityGroup",
        "sg-e2fb6999",
    )
    .expect("a valid key");
    let stored = store.load(&key).await.expect("load");
    let state = stored.state.unwrap_or_else(|| panic!("no state for {key}"));
    assert!(state
        .findings
        .iter()
        .any(|f| f.finding.rule.starts_with("sg-world")));
}
