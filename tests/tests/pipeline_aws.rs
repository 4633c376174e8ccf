//! The whole pipeline over the wire, as deployed: a Config change event into the scorer's
//! handler → the state in DynamoDB → its stream record into the judge's handler → tasks.json
//! and a verdict record in S3 → the record's S3 event into the notifier's handler → the
//! warning on the SQS queue of the owner's team, subscribed to the owner topic with a filter.

use std::sync::Arc;

use justice_aws::env::FromEnv;
use justice_aws::{DynamoRiskStore, PolicyProvider, S3TaskBoard, SnsOutbox};
use justice_core::krampus::TasksFile;
use justice_core::policy::Policy;
use justice_service::JudgeSettings;
use justice_tests::aws::{
    create_bucket, create_risk_table, drain_messages, dynamo, full_runtime, get_object, s3_event,
    sdk, stream_event, unique, RequestLog,
};
use serde_json::json;

const EVENT: &str = "eventbridge/eb-ci-change-ec2-securitygroup-open-world.json";

#[test]
fn a_config_event_ends_as_a_task_and_a_warning_on_the_owners_queue() {
    full_runtime().block_on(async {
        let conf = sdk().await;
        let s3 = justice_aws::s3_client(&conf);
        let sns = aws_sdk_sns::Client::new(&conf);
        let sqs = aws_sdk_sqs::Client::new(&conf);
        let ddb = dynamo(&conf, &RequestLog::default());
        let table = create_risk_table(&ddb).await;
        let store = DynamoRiskStore::new(ddb, table.clone(), 90);
        let bucket = create_bucket(&s3).await;
        let topic = |name: &'static str| {
            let sns = sns.clone();
            async move {
                sns.create_topic()
                    .name(unique(name))
                    .send()
                    .await
                    .expect("topic")
                    .topic_arn
                    .expect("arn")
            }
        };
        let owners = topic("owners").await;
        let security = topic("security").await;
        let queue = sqs
            .create_queue()
            .queue_name(unique("platform"))
            .send()
            .await
            .expect("queue")
            .queue_url
            .expect("url");
        let queue_arn = sqs
            .get_queue_attributes()
            .queue_url(&queue)
            .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
            .send()
            .await
            .expect("attributes")
            .attributes
            .and_then(|a| {
                a.get(&aws_sdk_sqs::types::QueueAttributeName::QueueArn)
                    .cloned()
            })
            .expect("arn");
        // The fixture's security group is tagged owner=platform: its team.
        sns.subscribe()
            .topic_arn(&owners)
            .protocol("sqs")
            .endpoint(queue_arn)
            .attributes("FilterPolicy", json!({"team": ["platform"]}).to_string())
            .send()
            .await
            .expect("subscribe");

        // 1. The scorer's handler takes the Config event.
        let scorer = justice_scorer::App {
            store: store.clone(),
            source: justice_local::LocalConfigSource::empty(),
            policy: justice_scorer::PolicySource::Fixed(Arc::new(Policy::default_policy())),
            clock: justice_service::EventClock,
            dead_letters: None,
            config: justice_scorer::Config::from_lookup(|k| match k {
                "RISK_TABLE" => Some(table.clone()),
                "ALLOWED_ACCOUNTS" => Some("123456789012".into()),
                _ => None,
            })
            .expect("scorer config"),
        };
        let event = justice_tests::read_json(EVENT);
        let raw = serde_json::value::to_raw_value(&event).expect("raw");
        scorer
            .handle(lambda_runtime::LambdaEvent::new(
                raw,
                lambda_runtime::Context::default(),
            ))
            .await
            .expect("scored");

        // 2. The judge's handler takes the table's stream records (live board, not dry run).
        let (stream, _) = stream_event(&conf, &table, None).await;
        let stream: aws_lambda_events::dynamodb::Event =
            serde_json::from_value(stream).expect("a Lambda stream event");
        let judge = justice_judge::App {
            clock: justice_service::SystemClock,
            dead_letters: None,
            dockets: store.clone(),
            board: S3TaskBoard::new(s3.clone(), &bucket, "tasks.json", "verdicts/", None),
            outbox: SnsOutbox::new(sns.clone(), &security),
            policy: PolicyProvider::Fixed(Arc::new(Policy::default_policy())),
            settings: JudgeSettings {
                dry_run: false,
                accounts: vec!["123456789012".into()],
                blast_per_hour: 10,
                max_attempts: 8,
            },
        };
        let now = justice_core::time::parse_rfc3339("2023-06-21T09:20:00Z").expect("time");
        let out = judge.judge(&stream, now).await.expect("judged");
        assert_eq!(
            serde_json::to_value(&out).expect("JSON"),
            json!({"batchItemFailures": []})
        );
        let tasks = TasksFile::parse(
            &get_object(&s3, &bucket, "tasks.json")
                .await
                .expect("tasks.json"),
        )
        .expect("tasks file");
        assert_eq!(tasks.tasks.len(), 1, "{:?}", tasks.tasks);
        let task = &tasks.tasks[0];
        assert_eq!(
            task["aws_resource_name"],
            "arn:aws:ec2:eu-west-1:123456789012:security-group/sg-e2fb6999"
        );
        assert_eq!(
            (task["cidr_range"].as_str(), task["from_port"].as_i64()),
            (Some("0.0.0.0/0"), Some(22))
        );

        // 3. The notifier's handler takes the verdict record's S3 event.
        let listed = s3
            .list_objects_v2()
            .bucket(&bucket)
            .prefix("verdicts/")
            .send()
            .await
            .expect("list");
        let keys: Vec<String> = listed
            .contents()
            .iter()
            .filter_map(|o| o.key().map(str::to_owned))
            .collect();
        assert_eq!(keys.len(), 1);
        let notifier_config = justice_notifier::Config::from_lookup(|k| match k {
            "TASKS_BUCKET" => Some(bucket.clone()),
            "RISK_TABLE" => Some(table.clone()),
            "OWNER_TOPIC_ARN" => Some(owners.clone()),
            "SECURITY_TOPIC_ARN" => Some(security.clone()),
            "SECURITY_CONTACT" => Some("security@example.com".into()),
            "DRY_RUN" => Some("false".into()),
            _ => None,
        })
        .expect("notifier config");
        let notifier = justice_notifier::App {
            clock: justice_service::SystemClock,
            dead_letters: None,
            board: S3TaskBoard::new(s3.clone(), &bucket, "tasks.json", "verdicts/", None),
            outbox: SnsOutbox::new(sns.clone(), &security)
                .with_owner_topic(&owners)
                .with_sent_log(store.client().clone(), &table),
            dockets: store.clone(),
            pages: justice_aws::S3ReportShelf::new(s3.clone(), &bucket, "reports/"),
            policy: PolicyProvider::Fixed(Arc::new(Policy::default_policy())),
            settings: notifier_config.settings(),
            config: notifier_config,
        };
        notifier
            .run(s3_event(&bucket, &keys), now)
            .await
            .expect("notified");

        // 4. The warning on the team's queue, naming the task and its time.
        let got = drain_messages(&sqs, &queue).await;
        assert_eq!(got.len(), 1, "{got:?}");
        let notice: serde_json::Value =
            serde_json::from_str(got[0]["Message"].as_str().expect("message")).expect("notice");
        assert_eq!(notice["kind"], "warning");
        assert_eq!(notice["resource"]["arn"], task["aws_resource_name"]);
        assert_eq!(notice["pending"][0]["action_time"], task["action_time"]);
        assert_eq!(got[0]["MessageAttributes"]["team"]["Value"], "platform");
    });
}

/// The security team's new standard reaches what is already stored: with the policy object
/// replaced in S3 (a rule turned off), the scorer's re-evaluation job evaluates the stored
/// state again, its stream record reaches the judge, and the task that rested on the rule is
/// withdrawn, with no new Config event.
#[test]
fn a_rule_turned_off_in_the_policy_object_withdraws_its_task() {
    full_runtime().block_on(async {
        let conf = sdk().await;
        let s3 = justice_aws::s3_client(&conf);
        let sns = aws_sdk_sns::Client::new(&conf);
        let ddb = dynamo(&conf, &RequestLog::default());
        let table = create_risk_table(&ddb).await;
        let store = DynamoRiskStore::new(ddb, table.clone(), 90);
        let bucket = create_bucket(&s3).await;
        let security = sns
            .create_topic()
            .name(unique("security"))
            .send()
            .await
            .expect("topic")
            .topic_arn
            .expect("arn");
        let put_policy = |text: &'static str| {
            let (s3, bucket) = (s3.clone(), bucket.clone());
            async move {
                s3.put_object()
                    .bucket(&bucket)
                    .key("policy.toml")
                    .body(text.as_bytes().to_vec().into())
                    .send()
                    .await
                    .expect("put policy");
            }
        };
        put_policy("version = 1\n").await;
        let policy = || {
            PolicyProvider::S3(justice_aws::S3PolicySource::new(
                s3.clone(),
                bucket.clone(),
                "policy.toml".into(),
                std::time::Duration::ZERO,
            ))
        };
        let scorer = justice_scorer::App {
            store: store.clone(),
            source: justice_local::LocalConfigSource::empty(),
            policy: policy(),
            clock: justice_service::FixedClock(
                justice_core::time::parse_rfc3339("2023-06-21T10:00:00Z").expect("time"),
            ),
            dead_letters: None,
            config: justice_scorer::Config::from_lookup(|k| match k {
                "RISK_TABLE" => Some(table.clone()),
                "ALLOWED_ACCOUNTS" => Some("123456789012".into()),
                _ => None,
            })
            .expect("scorer config"),
        };
        let judge = justice_judge::App {
            clock: justice_service::SystemClock,
            dead_letters: None,
            dockets: store.clone(),
            board: S3TaskBoard::new(s3.clone(), &bucket, "tasks.json", "verdicts/", None),
            outbox: SnsOutbox::new(sns.clone(), &security),
            policy: policy(),
            settings: JudgeSettings {
                dry_run: false,
                accounts: vec!["123456789012".into()],
                blast_per_hour: 10,
                max_attempts: 8,
            },
        };
        let invoke = |payload: serde_json::Value| {
            lambda_runtime::LambdaEvent::new(
                serde_json::value::to_raw_value(&payload).expect("raw"),
                lambda_runtime::Context::default(),
            )
        };
        scorer
            .handle(invoke(justice_tests::read_json(EVENT)))
            .await
            .expect("scored");
        let (stream, last) = stream_event(&conf, &table, None).await;
        let now = justice_core::time::parse_rfc3339("2023-06-21T10:05:00Z").expect("time");
        let stream: aws_lambda_events::dynamodb::Event =
            serde_json::from_value(stream).expect("stream event");
        judge.judge(&stream, now).await.expect("judged");
        let ours = |bytes: Option<Vec<u8>>| {
            TasksFile::parse(&bytes.expect("tasks.json"))
                .expect("tasks file")
                .ours()
                .len()
        };
        assert_eq!(ours(get_object(&s3, &bucket, "tasks.json").await), 1);

        // The security team turns the rule off.
        put_policy("version = 1\n[rules.sg-world-admin-ports]\nenabled = false\n").await;
        let out = scorer
            .handle(invoke(json!({"justice": "reevaluate"})))
            .await
            .expect("re-evaluation");
        assert_eq!(out["reevaluated"], 1, "{out}");
        assert_eq!(out["done"], true, "{out}");
        let (stream, _) = stream_event(&conf, &table, last.as_deref()).await;
        let stream: aws_lambda_events::dynamodb::Event =
            serde_json::from_value(stream).expect("stream event");
        judge.judge(&stream, now + 60_000).await.expect("judged");
        assert_eq!(
            ours(get_object(&s3, &bucket, "tasks.json").await),
            0,
            "the task on the rule turned off is withdrawn"
        );
        // Nothing left to do: the next run reads one marker.
        let again = scorer
            .handle(invoke(json!({"justice": "reevaluate"})))
            .await
            .expect("re-evaluation");
        assert_eq!(
            (again["done"].as_bool(), again["visited"].as_u64()),
            (Some(true), Some(0)),
            "{again}"
        );
    });
}
