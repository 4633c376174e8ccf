//! The scorer Lambda over the wire: the real handler (`App::handle` with `LambdaEvent::new`)
//! against DynamoDB, AWS Config and S3 served by moto. Run by `infra/test.sh`, which starts
//! moto; without it every test here fails with instructions.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use justice_aws::env::FromEnv;
use justice_aws::{AwsConfigSource, DynamoRiskStore, S3PolicySource};
use justice_core::event::{parse_event, Notice};
use justice_core::time::Millis;
use justice_core::{Policy, ResourceKey, RiskState};
use justice_local::{LocalConfigSource, LocalRiskStore};
use justice_scorer::{App, Config, PolicySource};
use justice_service::{Clock, EventClock, RiskStore, Scorer};
use justice_tests::aws::{
    create_queue, create_risk_table, drain_messages, dynamo, fresh_account, sdk, sdk_in, unique,
    FailCalls, RequestLog,
};
use justice_tests::{event_files, read, read_json, set};
use lambda_runtime::{Context, LambdaEvent};
use serde_json::value::RawValue;
use serde_json::{json, Value};

const MOTO_ACCOUNT: &str = "123456789012";
const SG: &str = "eventbridge/eb-ci-change-ec2-securitygroup-open-world.json";
const SG_SAFE: &str = "eventbridge/eb-ci-change-ec2-securitygroup-restricted.json";

/// Each event's own time, or a time the test moves.
#[derive(Clone)]
enum TestClock {
    Event,
    Moving(Arc<AtomicI64>),
}

impl TestClock {
    fn moving() -> Self {
        TestClock::Moving(Arc::default())
    }

    fn set(&self, t: Millis) {
        if let TestClock::Moving(at) = self {
            at.store(t, Ordering::SeqCst);
        }
    }
}

impl Clock for TestClock {
    fn now(&self, sent: Millis) -> Millis {
        match self {
            TestClock::Event => EventClock.now(sent),
            TestClock::Moving(at) => at.load(Ordering::SeqCst),
        }
    }
}

fn config(table: &str, accounts: &[String]) -> Config {
    let accounts = accounts.join(",");
    Config::from_lookup(|k| match k {
        "RISK_TABLE" => Some(table.to_owned()),
        "ALLOWED_ACCOUNTS" => Some(accounts.clone()),
        _ => None,
    })
    .expect("test configuration")
}

struct Env {
    app: App<DynamoRiskStore, AwsConfigSource, TestClock>,
    log: RequestLog,
}

async fn env(accounts: &[String], clock: TestClock, policy: PolicySource) -> Env {
    env_in(&sdk().await, accounts, clock, policy).await
}

/// The scorer with its AWS Config source acting through `sdk` (another account, say).
async fn env_in(
    sdk: &aws_config::SdkConfig,
    accounts: &[String],
    clock: TestClock,
    policy: PolicySource,
) -> Env {
    let log = RequestLog::default();
    let client = dynamo(sdk, &log);
    let table = create_risk_table(&client).await;
    let config = config(&table, accounts);
    Env {
        app: App {
            store: DynamoRiskStore::new(client, table, config.history_ttl_days),
            source: AwsConfigSource::new(aws_sdk_config::Client::new(sdk)),
            policy,
            clock,
            config,
            dead_letters: None,
        },
        log,
    }
}

fn default_policy() -> PolicySource {
    PolicySource::Fixed(Arc::new(Policy::default_policy()))
}

fn event(v: &Value) -> LambdaEvent<Box<RawValue>> {
    let raw = RawValue::from_string(v.to_string()).expect("raw JSON");
    LambdaEvent::new(raw, Context::default())
}

fn event_bytes(bytes: &[u8]) -> LambdaEvent<Box<RawValue>> {
    let text = String::from_utf8(bytes.to_vec()).expect("UTF-8 fixture");
    LambdaEvent::new(
        RawValue::from_string(text).expect("raw JSON"),
        Context::default(),
    )
}

/// The accounts of every item in the fixtures.
fn fixture_accounts() -> Vec<String> {
    let mut out = BTreeSet::new();
    for path in event_files() {
        for r in parse_event(&read(&path)).into_iter().flatten().flatten() {
            match r {
                Notice::Item { item, .. } => {
                    out.insert(item.account.clone());
                }
                Notice::Oversized(s) => {
                    out.insert(s.account.clone());
                }
                Notice::Ignored { .. } => {}
            }
        }
    }
    out.insert(MOTO_ACCOUNT.to_owned());
    out.into_iter().collect()
}

/// The SG fixture with its item captured at `capture` (ms) and a matching state id.
fn sg_event(rel: &str, capture: Millis) -> Value {
    let mut v = read_json(rel);
    let iso = justice_core::time::format_rfc3339(capture);
    set(
        &mut v,
        "/detail/configurationItem/configurationItemCaptureTime",
        json!(iso),
    );
    set(
        &mut v,
        "/detail/configurationItem/configurationStateId",
        json!(capture),
    );
    set(&mut v, "/detail/notificationCreationTime", json!(iso));
    v
}

fn key_of_event(v: &Value) -> ResourceKey {
    match parse_event(v.to_string().as_bytes())
        .ok()
        .and_then(|mut r| r.pop())
    {
        Some(Ok(Notice::Item { item, .. })) => justice_core::key_of(&item).expect("a valid key"),
        other => panic!("not an item event: {other:?}"),
    }
}

async fn state(app_store: &DynamoRiskStore, key: &ResourceKey) -> RiskState {
    app_store
        .load(key)
        .await
        .expect("load")
        .state
        .unwrap_or_else(|| panic!("no state for {key}"))
}

#[tokio::test]
async fn every_fixture_through_the_handler_matches_the_local_pipeline() {
    let accounts = fixture_accounts();
    let Env { app, .. } = env(&accounts, TestClock::Event, default_policy()).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let local = LocalRiskStore::open(dir.path()).expect("local store");
    let policy = Policy::default_policy();
    let local_scorer = Scorer {
        store: &local,
        source: &LocalConfigSource::empty(),
        policy: &policy,
        clock: &EventClock,
    };

    let mut keys = BTreeSet::new();
    let (mut ok, mut failed) = (0, 0);
    for path in event_files() {
        let bytes = read(&path);
        let records = parse_event(&bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        // What the local pipeline makes of the same records decides what the handler must do:
        // oversized items are unknown to moto's Config, so those events must fail (kept for
        // retry), and every other event must succeed.
        let (mut expect_ok, mut why) = (true, "");
        for r in records {
            match r.expect("fixtures parse") {
                Notice::Item { item, .. } if !accounts.contains(&item.account) => {
                    (expect_ok, why) = (false, "ALLOWED_ACCOUNTS");
                }
                Notice::Item { item, sent } => {
                    keys.insert(justice_core::key_of(&item).expect("a valid key"));
                    local_scorer
                        .score_item(&item, sent)
                        .await
                        .expect("local scoring");
                }
                Notice::Oversized(_) => (expect_ok, why) = (false, "oversized"),
                Notice::Ignored { .. } => {}
            }
        }
        let got = app.handle(event_bytes(&bytes)).await;
        assert_eq!(got.is_ok(), expect_ok, "{}: {got:?}", path.display());
        if got.is_ok() {
            ok += 1;
        } else {
            failed += 1;
            let msg = got.err().map(|e| e.to_string()).unwrap_or_default();
            assert!(msg.contains(why), "{}: {msg}", path.display());
        }
    }
    assert!(ok >= 20 && failed >= 3, "ok {ok}, failed {failed}");
    assert!(keys.len() >= 15, "{} resources", keys.len());
    for key in &keys {
        let local_state = local.load(key).await.expect("local").state;
        let remote = app.store.load(key).await.expect("dynamo");
        assert_eq!(
            remote.state, local_state,
            "{key}: DynamoDB and local states differ"
        );
        assert_eq!(
            remote.item,
            local.load(key).await.expect("local").item,
            "{key}: kept items differ"
        );
        let local_history = local.history(key).await.expect("local");
        let remote_history = app.store.history(key).await.expect("dynamo");
        assert_eq!(remote_history, local_history, "{key}: histories differ");
    }
}

#[tokio::test]
async fn redelivery_writes_nothing_and_an_older_item_never_replaces_the_state() {
    let Env { app, log } = env(&fixture_accounts(), TestClock::Event, default_policy()).await;
    let (t1, t2) = (1_700_000_000_000, 1_700_000_600_000);
    let newer = sg_event(SG, t2);
    let older = sg_event(SG, t1);
    let key = key_of_event(&newer);

    log.take();
    app.handle(event(&newer)).await.expect("newer");
    let ops = log.take();
    assert_eq!(RequestLog::writes(&ops), ["TransactWriteItems"], "{ops:?}");
    let first = state(&app.store, &key).await;
    assert_eq!(first.capture_time, t2);

    app.handle(event(&older)).await.expect("older");
    let ops = log.take();
    assert!(RequestLog::writes(&ops).len() <= 2, "{ops:?}");
    let after_older = state(&app.store, &key).await;
    assert_eq!(
        after_older.capture_time, t2,
        "an older item never replaces the state"
    );
    assert_eq!(after_older.state_id, first.state_id);
    let history = app.store.history(&key).await.expect("history");
    assert_eq!(history.len(), 2, "the older item's record is kept");
    assert_eq!(history[0].capture_time, t1);

    // Redelivery of either: nothing written.
    for again in [&newer, &older] {
        app.handle(event(again)).await.expect("redelivery");
        let ops = log.take();
        assert!(RequestLog::writes(&ops).is_empty(), "{ops:?}");
    }
    assert_eq!(state(&app.store, &key).await, after_older);
}

#[tokio::test]
async fn a_change_event_costs_at_most_two_write_requests() {
    let Env { app, log } = env(&fixture_accounts(), TestClock::Event, default_policy()).await;
    for (i, path) in event_files().iter().enumerate() {
        log.take();
        let records = parse_event(&read(path)).map(|r| r.len()).unwrap_or(0);
        let _ = app.handle(event_bytes(&read(path))).await;
        let writes = RequestLog::writes(&log.take());
        assert!(
            writes.len() <= 2 * records.max(1),
            "fixture {i} {}: {writes:?}",
            path.display()
        );
    }
}

#[tokio::test]
async fn events_from_accounts_not_allowed_are_refused_and_write_nothing() {
    let Env { app, log } = env(
        &["999999999999".to_owned()],
        TestClock::Event,
        default_policy(),
    )
    .await;
    let v = sg_event(SG, 1_700_000_000_000);
    log.take();
    let err = app.handle(event(&v)).await.expect_err("foreign account");
    assert!(err.to_string().contains("ALLOWED_ACCOUNTS"), "{err}");
    assert!(RequestLog::writes(&log.take()).is_empty());
}

#[tokio::test]
async fn a_broken_envelope_fails_the_invocation_with_the_reason() {
    let Env { app, log } = env(&fixture_accounts(), TestClock::Event, default_policy()).await;
    let err = app
        .handle(event(
            &json!({"source": "aws.ec2", "detail-type": "x", "detail": {}}),
        ))
        .await
        .expect_err("foreign");
    assert!(err.to_string().contains("aws.config"), "{err}");
    let mut v = sg_event(SG, 1_700_000_000_000);
    set(
        &mut v,
        "/detail/configurationItem/configurationItemCaptureTime",
        json!("yesterday"),
    );
    let err = app.handle(event(&v)).await.expect_err("bad time");
    assert!(err.to_string().contains("yesterday"), "{err}");
    assert!(err.to_string().contains("sg-"), "names the resource: {err}");
    assert!(RequestLog::writes(&log.take()).is_empty());
}

/// A new bucket on moto, and the client that made it.
async fn new_bucket(sdk: &aws_config::SdkConfig, prefix: &str) -> (aws_sdk_s3::Client, String) {
    let s3 = justice_aws::s3_client(sdk);
    let name = unique(prefix).to_lowercase();
    s3.create_bucket()
        .bucket(&name)
        .send()
        .await
        .expect("bucket");
    (s3, name)
}

/// A bucket in moto, public through its policy, recorded by moto's Config.
async fn public_bucket(sdk: &aws_config::SdkConfig) -> String {
    let (s3, name) = new_bucket(sdk, "pub").await;
    let policy = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": "*",
        "Action": "s3:GetObject", "Resource": format!("arn:aws:s3:::{name}/*")}]});
    s3.put_bucket_policy()
        .bucket(&name)
        .policy(policy.to_string())
        .send()
        .await
        .expect("bucket policy");
    name
}

/// An oversized notification of `bucket` in `account`, captured (and sent) at `captured`.
fn oversized_bucket(bucket: &str, account: &str, captured: Millis) -> Value {
    let mut v = read_json("eventbridge/eb-oversized-ssm-managed-instance-inventory.json");
    let summary = "/detail/configurationItemSummary";
    let fields = [
        ("resourceType", json!("AWS::S3::Bucket")),
        ("resourceId", json!(bucket)),
        ("resourceName", json!(bucket)),
        ("ARN", json!(format!("arn:aws:s3:::{bucket}"))),
        ("awsAccountId", json!(account)),
        ("awsRegion", json!("us-east-1")),
        (
            "configurationItemCaptureTime",
            json!(justice_core::time::format_rfc3339(captured)),
        ),
    ];
    for (field, value) in fields {
        set(&mut v, &format!("{summary}/{field}"), value);
    }
    // Sent when captured: a capture time after the notification's is refused.
    set(
        &mut v,
        "/detail/notificationCreationTime",
        json!(justice_core::time::format_rfc3339(captured)),
    );
    v
}

fn wall_clock() -> Millis {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as Millis)
}

#[tokio::test]
async fn an_oversized_notification_is_resolved_from_config() {
    let Env { app, .. } = env(&fixture_accounts(), TestClock::Event, default_policy()).await;
    let bucket = public_bucket(&sdk().await).await;
    let v = oversized_bucket(&bucket, MOTO_ACCOUNT, wall_clock() + 60_000);
    app.handle(event(&v))
        .await
        .expect("resolved through GetResourceConfigHistory");
    let key = ResourceKey::new(MOTO_ACCOUNT, "us-east-1", "AWS::S3::Bucket", &bucket)
        .expect("a valid key");
    let s = state(&app.store, &key).await;
    assert!(
        s.findings
            .iter()
            .any(|f| f.finding.rule == "s3-public-policy"),
        "{:?}",
        s.findings
    );
}

/// An aggregator of the account of `sdk` over `accounts`, in every region; its name.
async fn aggregator_over(sdk: &aws_config::SdkConfig, accounts: &[&String]) -> String {
    let name = unique("org");
    let mut source = aws_sdk_config::types::AccountAggregationSource::builder();
    for account in accounts {
        source = source.account_ids(*account);
    }
    aws_sdk_config::Client::new(sdk)
        .put_configuration_aggregator()
        .configuration_aggregator_name(&name)
        .account_aggregation_sources(
            source
                .all_aws_regions(true)
                .build()
                .expect("aggregation source"),
        )
        .send()
        .await
        .expect("aggregator");
    name
}

fn has_public_policy(s: &RiskState) -> bool {
    s.findings
        .iter()
        .any(|f| f.finding.rule == "s3-public-policy")
}

/// The scorer of a central account reads a member account through an aggregator: the
/// back-fill scores the member's resources (and not those of an account the aggregator does
/// not cover), and an oversized notification from the member is resolved, but only with an
/// item at least as new as the one notified.
#[tokio::test]
async fn an_aggregator_backfills_and_resolves_another_accounts_items() {
    let (central, member, outsider) = (fresh_account(), fresh_account(), fresh_account());
    // Covered by the aggregator, but not an account the engine may judge.
    let unlisted = fresh_account();
    let central_sdk = sdk_in(&central).await;
    let member_sdk = sdk_in(&member).await;
    let aggregator = aggregator_over(&central_sdk, &[&central, &member, &unlisted]).await;
    let accounts = [central.clone(), member.clone(), outsider.clone()];
    let Env { mut app, .. } =
        env_in(&central_sdk, &accounts, TestClock::Event, default_policy()).await;
    app.source = AwsConfigSource::new(aws_sdk_config::Client::new(&central_sdk))
        .through_aggregator(Some(aggregator));
    // Every failure below may pass on a retry: none is dead-lettered.
    let sqs = aws_sdk_sqs::Client::new(&central_sdk);
    let queue = create_queue(&sqs, "scorer-dlq").await;
    app.dead_letters = Some(justice_aws::lambda::SqsDeadLetters {
        client: sqs.clone(),
        url: queue.clone(),
    });
    let before = wall_clock() - 1_000;
    let (first, second) = (
        public_bucket(&member_sdk).await,
        public_bucket(&member_sdk).await,
    );
    let elsewhere = public_bucket(&sdk_in(&outsider).await).await;
    let not_judged = public_bucket(&sdk_in(&unlisted).await).await;
    let bucket_key = |account: &str, bucket: &str| {
        ResourceKey::new(account, "us-east-1", "AWS::S3::Bucket", bucket).expect("a valid key")
    };

    // One resource a page: the cursor carries the back-fill from one account to the next.
    let backfill =
        json!({"justice": "backfill", "resource_types": ["AWS::S3::Bucket"], "max_pages": 100});
    let out = app.handle(event(&backfill)).await.expect("back-fill");
    assert_eq!(out["done"], true, "{out}");
    for bucket in [&first, &second] {
        assert!(has_public_policy(
            &state(&app.store, &bucket_key(&member, bucket)).await
        ));
    }
    let load = app.store.load(&bucket_key(&outsider, &elsewhere)).await;
    assert!(
        load.expect("load").state.is_none(),
        "an account the aggregator does not cover"
    );
    let load = app.store.load(&bucket_key(&unlisted, &not_judged)).await;
    assert!(
        load.expect("load").state.is_none(),
        "an account not in ALLOWED_ACCOUNTS"
    );
    let refused = out["refused"].to_string();
    assert!(refused.contains(&not_judged), "{out}");
    // A position saved by the account's own source (its token a bucket name) is not the
    // aggregator's: the type is read again from its start, not refused at every run.
    let foreign = json!({"justice": "backfill", "resource_types": ["AWS::S3::Bucket"],
        "cursor": {"resource_type": "AWS::S3::Bucket", "token": first}});
    let out = app.handle(event(&foreign)).await.expect("a foreign token");
    assert_eq!(out["done"], true, "{out}");
    assert_eq!(out.get("refused_types"), None, "{out}");

    // Notified after the aggregator's copy was captured: the aggregated view has not caught
    // up, so the event fails for a retry and nothing is scored from an older item.
    let late = oversized_bucket(&first, &member, wall_clock() + 60_000);
    let key = bucket_key(&member, &first);
    let history_before = app.store.history(&key).await.expect("history").len();
    assert!(
        app.handle(event(&late)).await.is_err(),
        "an older copy is not the item notified"
    );
    assert_eq!(
        app.store.history(&key).await.expect("history").len(),
        history_before
    );

    // Notified before: the aggregator's copy is the item or a newer one, and is scored.
    let v = oversized_bucket(&second, &member, before);
    app.handle(event(&v))
        .await
        .expect("resolved through GetAggregateResourceConfig");
    assert!(has_public_policy(
        &state(&app.store, &bucket_key(&member, &second)).await
    ));

    // A notification naming the outsider's bucket: the aggregator does not have it.
    let v = oversized_bucket(&elsewhere, &outsider, before);
    assert!(app.handle(event(&v)).await.is_err());
    let load = app.store.load(&bucket_key(&outsider, &elsewhere)).await;
    assert!(load.expect("load").state.is_none());
    assert_eq!(drain_messages(&sqs, &queue).await, Vec::<Value>::new());
}

/// An invocation past its deadline begins no page after its first: the next invocation goes
/// on from the page after it. Through an aggregator (whose pages hold one account each here),
/// three accounts take three runs.
#[tokio::test]
async fn a_backfill_out_of_time_stops_after_a_page_and_the_next_run_goes_on() {
    let accounts = [fresh_account(), fresh_account(), fresh_account()];
    let central_sdk = sdk_in(&accounts[0]).await;
    let aggregator = aggregator_over(&central_sdk, &accounts.iter().collect::<Vec<_>>()).await;
    let clock = TestClock::moving();
    // A day ahead of the wall clock: every bucket was created before "now".
    clock.set(wall_clock() + 86_400_000);
    let Env { mut app, .. } = env_in(&central_sdk, &accounts, clock, default_policy()).await;
    app.source = AwsConfigSource::new(aws_sdk_config::Client::new(&central_sdk))
        .through_aggregator(Some(aggregator));
    let second = public_bucket(&sdk_in(&accounts[1]).await).await;
    let third = public_bucket(&sdk_in(&accounts[2]).await).await;
    let key = |account: &str, bucket: &str| {
        ResourceKey::new(account, "us-east-1", "AWS::S3::Bucket", bucket).expect("a valid key")
    };
    let stored = |k: ResourceKey| {
        let store = app.store.clone();
        async move { store.history(&k).await.expect("history").len() }
    };
    let job = json!({"justice": "backfill", "resource_types": ["AWS::S3::Bucket"]});
    let mut late = event(&job);
    late.context.deadline = 1; // long past
    let runs = [
        (false, 0, 0), // the first account's page: nothing in it
        (false, 1, 0), // the second's
        (true, 1, 1),  // the third's, and the job is done
    ];
    for (i, (done, second_scored, third_scored)) in runs.into_iter().enumerate() {
        let out = app.handle(late.clone()).await.expect("back-fill");
        assert_eq!(out["done"], done, "run {i}: {out}");
        assert_eq!(
            stored(key(&accounts[1], &second)).await,
            second_scored,
            "run {i}"
        );
        assert_eq!(
            stored(key(&accounts[2], &third)).await,
            third_scored,
            "run {i}"
        );
    }
}

/// A back-fill cut short after some pages (here: AWS Config throttles the third page past the
/// SDK's retries) has saved its position after each page: the next run reads the third page
/// and no earlier one.
#[tokio::test]
async fn a_backfill_cut_short_goes_on_from_its_last_page() {
    let accounts = [fresh_account(), fresh_account(), fresh_account()];
    let central_sdk = sdk_in(&accounts[0]).await;
    let aggregator = aggregator_over(&central_sdk, &accounts.iter().collect::<Vec<_>>()).await;
    let Env { mut app, .. } =
        env_in(&central_sdk, &accounts, TestClock::Event, default_policy()).await;
    // Pages one and two answered; the third's every attempt throttled (the SDK makes three).
    let fail =
        FailCalls::config("ListAggregateDiscoveredResources", "ThrottlingException", 3).after(2);
    let client = aws_sdk_config::Client::from_conf(
        aws_sdk_config::config::Builder::from(&central_sdk)
            .interceptor(fail.clone())
            .build(),
    );
    app.source = AwsConfigSource::new(client).through_aggregator(Some(aggregator));
    let second = public_bucket(&sdk_in(&accounts[1]).await).await;
    let third = public_bucket(&sdk_in(&accounts[2]).await).await;
    let job = json!({"justice": "backfill", "resource_types": ["AWS::S3::Bucket"]});

    assert!(
        app.handle(event(&job)).await.is_err(),
        "throttled past retries"
    );
    let key = |account: &str, bucket: &str| {
        ResourceKey::new(account, "us-east-1", "AWS::S3::Bucket", bucket).expect("a valid key")
    };
    assert!(has_public_policy(
        &state(&app.store, &key(&accounts[1], &second)).await
    ));
    let out = app.handle(event(&job)).await.expect("the next run");
    assert_eq!(out["done"], true, "{out}");
    assert!(has_public_policy(
        &state(&app.store, &key(&accounts[2], &third)).await
    ));
    // Two pages, three throttled attempts, then one page: the third, and no earlier one.
    assert_eq!(fail.seen.load(std::sync::atomic::Ordering::SeqCst), 6);
}

/// The schedule fires every few minutes: a scheduled back-fill runs to the end of its pass,
/// then rests for `BACKFILL_INTERVAL_HOURS` (6 by default); a person's request runs at once.
#[tokio::test]
async fn a_scheduled_backfill_rests_after_a_complete_pass() {
    let account = fresh_account();
    let sdk = sdk_in(&account).await;
    let clock = TestClock::moving();
    let mut now = wall_clock() + 86_400_000;
    clock.set(now);
    let accounts = [account.clone()];
    let Env { app, .. } = env_in(&sdk, &accounts, clock.clone(), default_policy()).await;
    let scored = |bucket: &str| {
        let key = ResourceKey::new(&account, "us-east-1", "AWS::S3::Bucket", bucket)
            .expect("a valid key");
        let store = app.store.clone();
        async move { store.history(&key).await.expect("history").len() }
    };
    let scheduled =
        json!({"justice": "backfill", "resource_types": ["AWS::S3::Bucket"], "scheduled": true});
    let first = public_bucket(&sdk).await;
    let out = app.handle(event(&scheduled)).await.expect("back-fill");
    assert_eq!(
        (out["done"].clone(), out.get("resting")),
        (json!(true), None),
        "{out}"
    );
    assert_eq!(scored(&first).await, 1);

    let second = public_bucket(&sdk).await;
    now += 3_600_000;
    clock.set(now);
    let out = app.handle(event(&scheduled)).await.expect("resting");
    assert_eq!(out["resting"], true, "{out}");
    assert_eq!(scored(&second).await, 0);
    let asked = json!({"justice": "backfill", "resource_types": ["AWS::S3::Bucket"]});
    app.handle(event(&asked))
        .await
        .expect("a person's back-fill");
    assert_eq!(scored(&second).await, 1);

    // Six hours and a minute after the scheduled pass (five after the person's run, which
    // does not move the schedule's rest).
    let third = public_bucket(&sdk).await;
    now += 5 * 3_600_000 + 60_000;
    clock.set(now);
    let out = app.handle(event(&scheduled)).await.expect("the next pass");
    assert_eq!(out.get("resting"), None, "{out}");
    assert_eq!(scored(&third).await, 1);
}

/// An item the source answers with that was captured after the scorer's clock is from the
/// future: it is refused, not taken as the resource's newest state. Here the clock is the
/// event's (as in a recorded replay), an hour behind the bucket's creation.
#[tokio::test]
async fn a_fetched_item_from_the_clocks_future_is_refused() {
    let behind = wall_clock() - 3_600_000;
    let Env { app, .. } = env(&fixture_accounts(), TestClock::Event, default_policy()).await;
    let bucket = public_bucket(&sdk().await).await;
    // Notified (and sent) before the clock: only the fetched item is ahead of it.
    let v = oversized_bucket(&bucket, MOTO_ACCOUNT, behind - 1_000);
    assert!(
        app.handle(event(&v)).await.is_err(),
        "an item from the future"
    );
    let key = ResourceKey::new(MOTO_ACCOUNT, "us-east-1", "AWS::S3::Bucket", &bucket)
        .expect("a valid key");
    assert!(app.store.load(&key).await.expect("load").state.is_none());
}

#[tokio::test]
async fn backfill_scores_existing_resources_and_resumes_from_its_cursor() {
    // An account of its own: the back-fill lists every bucket of its account, and the other
    // tests (and earlier runs against the same moto) make buckets too.
    let account = fresh_account();
    let sdk = sdk_in(&account).await;
    let Env { app, .. } = env_in(
        &sdk,
        std::slice::from_ref(&account),
        TestClock::Event,
        default_policy(),
    )
    .await;
    let a = public_bucket(&sdk).await;
    let b = public_bucket(&sdk).await;
    let types = json!(["AWS::S3::Bucket", "AWS::IAM::Role"]);
    let out = app
        .handle(event(
            &json!({"justice": "backfill", "resource_types": types, "max_pages": 1}),
        ))
        .await
        .expect("back-fill");
    assert_eq!(out["done"], false, "{out}");
    assert_eq!(out["cursor"]["resource_type"], "AWS::IAM::Role", "{out}");
    for bucket in [&a, &b] {
        let key = ResourceKey::new(&account, "us-east-1", "AWS::S3::Bucket", bucket)
            .expect("a valid key");
        let s = state(&app.store, &key).await;
        assert!(s
            .findings
            .iter()
            .any(|f| f.finding.rule == "s3-public-policy"));
    }
    let out = app
        .handle(event(
            &json!({"justice": "backfill", "resource_types": types, "max_pages": 1}),
        ))
        .await
        .expect("resumed back-fill");
    // A schedule sends the same input every time: the saved position carried it on.
    assert_eq!(out["done"], true, "{out}");
    let out = app
        .handle(event(
            &json!({"justice": "backfill", "resource_types": types,
            "cursor": {"resource_type": "AWS::IAM::Role"}}),
        ))
        .await
        .expect("back-fill from an explicit cursor");
    assert_eq!(out["done"], true, "{out}");
}

#[tokio::test]
async fn rescore_raises_the_score_as_the_clock_advances() {
    let clock = TestClock::moving();
    let Env { app, log } = env(&fixture_accounts(), clock.clone(), default_policy()).await;
    let t0 = 1_700_000_000_000;
    let risky = sg_event(SG, t0);
    let safe = sg_event(SG_SAFE, t0);
    clock.set(t0);
    app.handle(event(&risky)).await.expect("risky");
    app.handle(event(&safe)).await.expect("safe");
    let key = key_of_event(&risky);
    let before = state(&app.store, &key).await;
    assert!(before.score > 0);
    let safe_state = state(&app.store, &key_of_event(&safe)).await;
    // Only states with open findings are in the sparse index.
    let due = 1 + usize::from(safe_state.needs_rescore());

    // Not due yet: evaluated less than RESCORE_MIN_AGE ago.
    let out = app
        .handle(event(&json!({"justice": "rescore"})))
        .await
        .expect("rescore");
    assert_eq!(out["rescored"], 0, "{out}");

    clock.set(t0 + 12 * 3_600_000);
    log.take();
    let out = app
        .handle(event(&json!({"justice": "rescore"})))
        .await
        .expect("rescore");
    assert_eq!(
        out["rescored"], due,
        "only resources with findings are visited: {out}"
    );
    let ops = log.take();
    assert!(ops.iter().any(|o| o == "Query"), "{ops:?}");
    assert!(
        !ops.iter().any(|o| o == "Scan"),
        "a sparse index, never a scan: {ops:?}"
    );
    let after = state(&app.store, &key).await;
    assert!(
        after.score > before.score,
        "{} -> {}",
        before.score,
        after.score
    );
    assert_eq!(after.evaluated_at, t0 + 12 * 3_600_000);
    assert_eq!(after.capture_time, before.capture_time);
}

/// A policy object in a bucket of its own on moto, replaced as a security engineer would.
struct PolicyObject {
    s3: aws_sdk_s3::Client,
    bucket: String,
}

impl PolicyObject {
    async fn new(sdk: &aws_config::SdkConfig) -> PolicyObject {
        let (s3, bucket) = new_bucket(sdk, "policy").await;
        PolicyObject { s3, bucket }
    }

    async fn put(&self, text: &str) {
        self.s3
            .put_object()
            .bucket(&self.bucket)
            .key("policy.toml")
            .body(text.as_bytes().to_vec().into())
            .send()
            .await
            .expect("put policy");
    }

    /// The scorer's source, revalidating on every event.
    fn source(&self) -> PolicySource {
        PolicySource::S3(S3PolicySource::new(
            self.s3.clone(),
            self.bucket.clone(),
            "policy.toml".into(),
            std::time::Duration::ZERO,
        ))
    }
}

#[tokio::test]
async fn the_policy_object_is_used_and_a_broken_one_keeps_the_last_good() {
    let policy = PolicyObject::new(&sdk().await).await;
    let put = |text: &'static str| policy.put(text);
    let source = || policy.source();

    // Before any good policy: refuse rather than score with another policy.
    put("[thresholds\nbroken").await;
    let Env { app, .. } = env(&fixture_accounts(), TestClock::Event, source()).await;
    let v = sg_event(SG, 1_700_000_000_000);
    let err = app.handle(event(&v)).await.expect_err("no good policy yet");
    assert!(err.to_string().contains("policy"), "{err}");

    put("version = 1\n[rules.sg-world-admin-ports]\nenabled = false\n").await;
    app.handle(event(&v)).await.expect("good policy");
    let key = key_of_event(&v);
    let s = state(&app.store, &key).await;
    assert!(!s
        .findings
        .iter()
        .any(|f| f.finding.rule == "sg-world-admin-ports"));

    put("version = 1\n[rules.no-such-rule]\nenabled = false\n").await;
    let v2 = sg_event(SG, 1_700_000_100_000);
    app.handle(event(&v2))
        .await
        .expect("last good policy still in force");
    let s = state(&app.store, &key).await;
    assert_eq!(s.capture_time, 1_700_000_100_000);
    assert!(!s
        .findings
        .iter()
        .any(|f| f.finding.rule == "sg-world-admin-ports"));
}

/// A security engineer's path for a rule of their own: write it in the policy, replace the
/// policy object, and the next event is scored with it. A policy whose rule does not compile is
/// refused whole, with the rule's id in the error, and the last good one stays in force.
#[tokio::test]
async fn a_written_rule_fires_once_the_policy_object_is_replaced() {
    let policy = PolicyObject::new(&sdk().await).await;
    let source = policy.source();
    // The rule carries its tests inline: the scorer runs them when it loads the policy.
    let item = |rel: &str| read_json(rel)["detail"]["configurationItem"].to_string();
    let rule = |condition: &str| {
        format!(
            r#"version = 1
[[custom_rules]]
id = "team-ssh-from-anywhere"
class = "exposure"
severity = "high"
resource_types = ["AWS::EC2::SecurityGroup"]
checks = "Port 22 is open to the world."
condition = "{condition}"
evidence = "SSH open to {{{{ configuration.ipPermissions.filter(p, p.?fromPort.orValue(-1) <= 22 && 22 <= p.?toPort.orValue(-1)).map(p, p.ipRanges) }}}}"
remediation = "Close port 22."
[[custom_rules.tests]]
expect = "fires"
item = '''{fires}'''
[[custom_rules.tests]]
expect = "quiet"
item = '''{quiet}'''
"#,
            fires = item(SG),
            quiet = item("eventbridge/eb-ci-change-ec2-securitygroup-restricted.json"),
        )
    };
    let good = "configuration.ipPermissions.exists(p, p.?fromPort.orValue(-1) <= 22 && 22 <= p.?toPort.orValue(-1) && world_open(p.ipRanges))";

    // A broken rule before any good policy: refused, the rule named.
    policy
        .put(&rule(
            "configuration.ipPermissions.exists(p, no_such_function(p))",
        ))
        .await;
    let Env { app, .. } = env(&fixture_accounts(), TestClock::Event, source).await;
    let v = sg_event(SG, 1_700_000_000_000);
    let err = app.handle(event(&v)).await.expect_err("no good policy yet");
    let msg = format!("{err:#}");
    assert!(
        msg.contains("team-ssh-from-anywhere") && msg.contains("no_such_function"),
        "{msg}"
    );

    // The rule, replaced in S3: the next event is scored with it.
    policy.put(&rule(good)).await;
    app.handle(event(&v)).await.expect("good policy");
    let key = key_of_event(&v);
    let s = state(&app.store, &key).await;
    let f = s
        .findings
        .iter()
        .find(|f| f.finding.rule == "team-ssh-from-anywhere")
        .unwrap_or_else(|| panic!("the written rule did not fire: {:?}", s.findings));
    assert!(
        f.finding.evidence.contains("0.0.0.0/0"),
        "{}",
        f.finding.evidence
    );

    // A rule whose own test fails: the file is refused, the last good policy scores on.
    policy
        .put(&rule(
            "configuration.ipPermissions.exists(p, p.?fromPort.orValue(-1) == 3389)",
        ))
        .await;
    let v2 = sg_event(SG, 1_700_000_100_000);
    app.handle(event(&v2))
        .await
        .expect("last good policy still in force");
    let s = state(&app.store, &key).await;
    assert_eq!(s.capture_time, 1_700_000_100_000);
    assert!(s
        .findings
        .iter()
        .any(|f| f.finding.rule == "team-ssh-from-anywhere"));
}

/// However long a resource's history, a change costs one consistent `GetItem` of its state and
/// one `TransactWriteItems`: the history is never read on the way (1,000 records here, seeded
/// in batches as the scorer would have written them).
#[tokio::test]
async fn a_long_history_costs_the_same_per_event() {
    let Env { app, log } = env(&fixture_accounts(), TestClock::Event, default_policy()).await;
    let t0 = 1_700_000_000_000;
    let first = sg_event(SG, t0);
    app.handle(event(&first)).await.expect("first");
    let key = key_of_event(&first);
    let template = app.store.history(&key).await.expect("history").remove(0);
    let client = app.store.client();
    for chunk in (1..=1000i64).collect::<Vec<_>>().chunks(25) {
        let puts: Vec<aws_sdk_dynamodb::types::WriteRequest> = chunk
            .iter()
            .map(|i| {
                let mut r = template.clone();
                r.capture_time = t0 - i * 60_000;
                r.state_id = r.capture_time.to_string();
                let item = justice_aws::risk_store::history_attributes(&key, &r, 90 * 86_400)
                    .expect("item");
                aws_sdk_dynamodb::types::WriteRequest::builder()
                    .put_request(
                        aws_sdk_dynamodb::types::PutRequest::builder()
                            .set_item(Some(item))
                            .build()
                            .expect("put"),
                    )
                    .build()
            })
            .collect();
        client
            .batch_write_item()
            .request_items(app.store.table(), puts)
            .send()
            .await
            .expect("seed history");
    }
    assert_eq!(app.store.history(&key).await.expect("history").len(), 1001);
    for step in 1..=3 {
        log.take();
        let next = sg_event(SG, t0 + step * 60_000);
        app.handle(event(&next)).await.expect("next");
        let ops = log.take();
        assert_eq!(ops, ["GetItem", "TransactWriteItems"], "step {step}");
    }
}

/// A failure no retry can fix (a record from an account not allowed, a missing table) goes to
/// the dead-letter queue at once, with the event to redrive it from and the reason, and the
/// invocation succeeds; a failure that may pass later (the table unreachable) fails the
/// invocation for Lambda to retry, and is not dead-lettered.
#[tokio::test]
async fn permanent_failures_are_dead_lettered_at_once_and_transient_ones_retried() {
    let conf = sdk().await;
    let sqs = aws_sdk_sqs::Client::new(&conf);
    let url = create_queue(&sqs, "scorer-dlq").await;
    let dead_letters = || justice_aws::lambda::SqsDeadLetters {
        client: sqs.clone(),
        url: url.clone(),
    };
    let v = sg_event(SG, 1_700_000_000_000);

    // A foreign account: bad input.
    let Env { mut app, .. } = env(
        &["999999999999".to_owned()],
        TestClock::Event,
        default_policy(),
    )
    .await;
    app.dead_letters = Some(dead_letters());
    let out = app
        .handle(event(&v))
        .await
        .expect("dead-lettered, not failed");
    assert_eq!(out["dead_lettered"], 1, "{out}");
    let got = drain_messages(&sqs, &url).await;
    assert_eq!(got.len(), 1, "{got:?}");
    assert!(got[0]["failures"][0]["reason"]
        .as_str()
        .is_some_and(|r| r.contains("ALLOWED_ACCOUNTS")));
    assert_eq!(got[0]["event"], v, "the event, to redrive it from");

    // Not a Config event at all: no retry reads it otherwise.
    let other = json!({"source": "aws.ec2", "detail-type": "x", "detail": {}});
    let out = app.handle(event(&other)).await.expect("dead-lettered");
    assert_eq!(out["dead_lettered"], 1, "{out}");
    let got = drain_messages(&sqs, &url).await;
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0]["event"], other);

    // A table that does not exist: DynamoDB says ResourceNotFound, every time.
    let accounts = fixture_accounts();
    let Env { mut app, log } = env(&accounts, TestClock::Event, default_policy()).await;
    app.store = DynamoRiskStore::new(dynamo(&conf, &log), "no-such-table", 90);
    app.dead_letters = Some(dead_letters());
    let out = app
        .handle(event(&v))
        .await
        .expect("dead-lettered, not failed");
    assert_eq!(out["dead_lettered"], 1, "{out}");
    let got = drain_messages(&sqs, &url).await;
    assert!(
        got.len() == 1
            && got[0]["failures"][0]["reason"]
                .as_str()
                .is_some_and(|r| r.contains("no-such-table") || r.contains("ResourceNotFound")),
        "{got:?}"
    );

    // DynamoDB unreachable: may pass later, so Lambda retries it.
    let unreachable = aws_sdk_dynamodb::config::Builder::from(&conf)
        .endpoint_url("http://127.0.0.1:9")
        .build();
    app.store = DynamoRiskStore::new(aws_sdk_dynamodb::Client::from_conf(unreachable), "t", 90);
    let err = app.handle(event(&v)).await.expect_err("retried");
    assert!(err.to_string().contains("1 of 1 records failed"), "{err}");
    assert!(drain_messages(&sqs, &url).await.is_empty());
}

/// AWS's own answers, on the SDK's path: an AccessDenied from DynamoDB sends the event to the
/// dead-letter queue at once (one attempt, no retry), with the metric; a call throttled once is
/// retried by the SDK and the event is scored; a call throttled at every attempt fails the
/// invocation for Lambda to retry, and nothing is dead-lettered.
#[tokio::test]
async fn access_denied_is_dead_lettered_at_once_and_throttling_is_retried() {
    use justice_aws::lambda::{capture_metrics, captured_metrics, SqsDeadLetters};
    use justice_tests::aws::{failing_dynamo, FailCalls};
    let conf = sdk().await;
    let sqs = aws_sdk_sqs::Client::new(&conf);
    let url = create_queue(&sqs, "scorer-dlq").await;
    let Env { mut app, .. } = env(&fixture_accounts(), TestClock::Event, default_policy()).await;
    app.dead_letters = Some(SqsDeadLetters {
        client: sqs.clone(),
        url: url.clone(),
    });
    let table = app.store.table().to_owned();
    let v = sg_event(SG, 1_700_000_000_000);
    let dead_lettered = |docs: &[Value]| -> Vec<u64> {
        docs.iter()
            .filter(|d| d["Function"] == "scorer")
            .filter_map(|d| d["RecordsDeadLettered"].as_u64())
            .collect()
    };
    capture_metrics();

    let denied = FailCalls::dynamodb("GetItem", "AccessDeniedException", usize::MAX);
    app.store = DynamoRiskStore::new(failing_dynamo(&conf, &denied), &table, 90);
    let out = app
        .handle(event(&v))
        .await
        .expect("dead-lettered, not failed");
    assert_eq!(out["dead_lettered"], 1, "{out}");
    assert_eq!(
        denied.seen.load(Ordering::SeqCst),
        1,
        "asked once: never retried"
    );
    let got = drain_messages(&sqs, &url).await;
    assert_eq!(got.len(), 1, "{got:?}");
    assert!(
        got[0]["failures"][0]["reason"]
            .as_str()
            .is_some_and(|r| r.contains("AccessDenied") || r.contains("injected by the test")),
        "{got:?}"
    );
    assert_eq!(got[0]["event"], v, "the event, to redrive it from");
    assert_eq!(dead_lettered(&captured_metrics()), [1]);

    let once = FailCalls::dynamodb("GetItem", "ThrottlingException", 1);
    app.store = DynamoRiskStore::new(failing_dynamo(&conf, &once), &table, 90);
    let out = app
        .handle(event(&v))
        .await
        .expect("scored on the SDK's retry");
    assert_eq!(
        once.seen.load(Ordering::SeqCst),
        2,
        "throttled, then asked again"
    );
    assert!(
        out["results"][0]["score"].as_u64().is_some_and(|s| s > 0),
        "{out}"
    );
    assert_eq!(dead_lettered(&captured_metrics()), [0]);

    let always = FailCalls::dynamodb("GetItem", "ThrottlingException", usize::MAX);
    app.store = DynamoRiskStore::new(failing_dynamo(&conf, &always), &table, 90);
    let err = app
        .handle(event(&v))
        .await
        .expect_err("left to Lambda's retry");
    assert!(err.to_string().contains("1 of 1 records failed"), "{err}");
    assert!(
        always.seen.load(Ordering::SeqCst) > 1,
        "the SDK tried again"
    );
    assert!(drain_messages(&sqs, &url).await.is_empty());
    assert_eq!(dead_lettered(&captured_metrics()), [0]);
}
