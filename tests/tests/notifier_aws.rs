//! The notifier over the wire: verdict records written by the judge to moto's S3, the notifier
//! Lambda's handler on their `ObjectCreated` events, SNS topics with SQS queues subscribed by
//! team filter policies. Asserts on the bodies the queues receive.

use std::sync::Arc;

use aws_sdk_dynamodb::types::AttributeValue;
use justice_aws::env::FromEnv;
use justice_aws::{DynamoRiskStore, PolicyProvider, S3TaskBoard, SnsOutbox};
use justice_core::policy::Policy;
use justice_core::RiskState;
use justice_service::{Change, Judge, JudgeSettings};
use justice_tests::aws::{
    create_bucket, create_risk_table, drain_messages, dynamo, full_runtime, s3_event, sdk, unique,
    RequestLog,
};
use justice_tests::states::{sg, ACCOUNT, T0};
use serde_json::{json, Value};

struct World {
    s3: aws_sdk_s3::Client,
    sns: aws_sdk_sns::Client,
    sqs: aws_sdk_sqs::Client,
    store: DynamoRiskStore,
    bucket: String,
    owners: String,
    security: String,
    team_a: String,
    team_b: String,
    security_q: String,
}

async fn queue(sqs: &aws_sdk_sqs::Client) -> (String, String) {
    let url = sqs
        .create_queue()
        .queue_name(unique("q"))
        .send()
        .await
        .expect("queue")
        .queue_url
        .expect("url");
    let arn = sqs
        .get_queue_attributes()
        .queue_url(&url)
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
    (url, arn)
}

async fn topic(sns: &aws_sdk_sns::Client) -> String {
    sns.create_topic()
        .name(unique("topic"))
        .send()
        .await
        .expect("topic")
        .topic_arn
        .expect("arn")
}

async fn subscribe(sns: &aws_sdk_sns::Client, topic: &str, queue_arn: &str, filter: Option<Value>) {
    let mut s = sns
        .subscribe()
        .topic_arn(topic)
        .protocol("sqs")
        .endpoint(queue_arn);
    if let Some(f) = filter {
        s = s.attributes("FilterPolicy", f.to_string());
    }
    s.send().await.expect("subscribe");
}

async fn world() -> World {
    let conf = sdk().await;
    let s3 = justice_aws::s3_client(&conf);
    let sns = aws_sdk_sns::Client::new(&conf);
    let sqs = aws_sdk_sqs::Client::new(&conf);
    let ddb = dynamo(&conf, &RequestLog::default());
    let table = create_risk_table(&ddb).await;
    let bucket = create_bucket(&s3).await;
    let owners = topic(&sns).await;
    let security = topic(&sns).await;
    let (team_a, a_arn) = queue(&sqs).await;
    let (team_b, b_arn) = queue(&sqs).await;
    let (security_q, s_arn) = queue(&sqs).await;
    subscribe(&sns, &owners, &a_arn, Some(json!({"team": ["team-a"]}))).await;
    subscribe(&sns, &owners, &b_arn, Some(json!({"team": ["team-b"]}))).await;
    subscribe(&sns, &security, &s_arn, None).await;
    World {
        store: DynamoRiskStore::new(ddb, table, 90),
        s3,
        sns,
        sqs,
        bucket,
        owners,
        security,
        team_a,
        team_b,
        security_q,
    }
}

impl World {
    fn board(&self) -> S3TaskBoard {
        S3TaskBoard::new(
            self.s3.clone(),
            &self.bucket,
            "tasks.json",
            "verdicts/",
            None,
        )
    }

    fn outbox(&self) -> SnsOutbox {
        SnsOutbox::new(self.sns.clone(), &self.security)
            .with_owner_topic(&self.owners)
            .with_sent_log(self.store.client().clone(), self.store.table())
    }

    fn notifier(&self) -> justice_notifier::App {
        let config = justice_notifier::Config::from_lookup(|k| match k {
            "TASKS_BUCKET" => Some(self.bucket.clone()),
            "RISK_TABLE" => Some(self.store.table().to_owned()),
            "OWNER_TOPIC_ARN" => Some(self.owners.clone()),
            "SECURITY_TOPIC_ARN" => Some(self.security.clone()),
            "SECURITY_CONTACT" => Some("security@example.com".into()),
            "DRY_RUN" => Some("false".into()),
            _ => None,
        })
        .expect("config");
        justice_notifier::App {
            clock: justice_service::SystemClock,
            dead_letters: None,
            board: self.board(),
            outbox: self.outbox(),
            dockets: self.store.clone(),
            pages: justice_aws::S3ReportShelf::new(self.s3.clone(), &self.bucket, "reports/"),
            policy: PolicyProvider::Fixed(Arc::new(Policy::default_policy())),
            settings: config.settings(),
            config,
        }
    }

    async fn judge(&self, states: &[RiskState], blast: u32) {
        let board = self.board();
        let outbox = self.outbox();
        let settings = JudgeSettings {
            dry_run: false,
            accounts: vec![ACCOUNT.to_owned()],
            blast_per_hour: blast,
            max_attempts: 8,
        };
        let judge = Judge {
            board: &board,
            dockets: &self.store,
            outbox: &outbox,
            settings: &settings,
        };
        let changes: Vec<Change> = states
            .iter()
            .map(|s| Change {
                id: s.key.to_string(),
                key: s.key.clone(),
                state: Some(s.clone()),
            })
            .collect();
        justice_tests::write_states(&self.store, states).await;
        let r = judge
            .judge(&changes, &Policy::default_policy(), T0)
            .await
            .expect("judge");
        assert!(r.failed.is_empty(), "{:?}", r.failed);
    }

    /// The `ObjectCreated` event S3 sends for the verdict records, keys URL-encoded.
    async fn verdict_event(&self) -> Value {
        let listed = self
            .s3
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix("verdicts/")
            .send()
            .await
            .expect("list");
        let keys: Vec<String> = listed
            .contents()
            .iter()
            .map(|o| {
                o.key()
                    .unwrap_or_default()
                    .replace('/', "%2F")
                    .replace(' ', "+")
            })
            .collect();
        s3_event(&self.bucket, &keys)
    }

    /// The notices a queue received: the `Message` of each SNS envelope, parsed.
    async fn received(&self, queue: &str) -> Vec<(Value, Value)> {
        drain_messages(&self.sqs, queue)
            .await
            .into_iter()
            .map(|env| {
                let msg: Value = serde_json::from_str(env["Message"].as_str().unwrap_or("null"))
                    .unwrap_or(Value::Null);
                (env, msg)
            })
            .collect()
    }
}

fn of_team(id: &str, team: &str, name: &str) -> RiskState {
    let mut s = sg(60, &[22]);
    s.key = justice_core::ResourceKey::new(ACCOUNT, "us-east-1", "AWS::EC2::SecurityGroup", id)
        .expect("a valid key");
    s.resource_id = id.to_owned();
    s.arn = Some(format!(
        "arn:aws:ec2:us-east-1:{ACCOUNT}:security-group/{id}"
    ));
    s.resource_name = Some(name.to_owned());
    s.tags = Some(
        [
            ("team".to_owned(), team.to_owned()),
            ("owner".to_owned(), format!("{team}-lead")),
        ]
        .into(),
    );
    s
}

#[test]
fn each_team_gets_only_its_notices_once_and_security_gets_the_holds() {
    full_runtime().block_on(async {
        let w = world().await;
        let hostile = format!(
            "web\nSubject: URGENT\r\nARN: arn:aws:iam::000000000000:root \u{202e}fdp.exe <b>bold</b> {}",
            "x".repeat(5000)
        );
        // Hostile text in the name and in the owner tag alike.
        let mut a1 = of_team("sg-000000a1", "team-a", &hostile);
        if let Some(tags) = a1.tags.as_mut() {
            tags.insert("owner".into(), format!("mallory\nTeam: security\n<a href=x>{}", "y".repeat(5000)));
        }
        w.judge(&[a1, of_team("sg-000000b1", "team-b", "api")], 10).await;
        // A third resource over the budget: held. The judge's alert tells the security team,
        // naming it; the notifier sends nothing more for it.
        w.judge(&[of_team("sg-0000be1d", "team-c", "held")], 2).await;
        let hold = drain_messages(&w.sqs, &w.security_q).await;
        assert_eq!(hold.len(), 1, "{hold:?}");
        assert!(
            hold[0]["Subject"].as_str().is_some_and(|s| s.contains("held by the blast-radius limit"))
                && hold[0]["Message"].as_str().is_some_and(|m| m.contains("sg-0000be1d")),
            "{hold:?}"
        );

        let app = w.notifier();
        let event = w.verdict_event().await;
        assert_eq!(event["Records"].as_array().map(Vec::len), Some(3));
        let out = app.run(event.clone(), T0).await.expect("notified");
        assert_eq!(out["notices"].as_array().map(Vec::len), Some(3), "{out}");

        let a = w.received(&w.team_a).await;
        let b = w.received(&w.team_b).await;
        let s = w.received(&w.security_q).await;
        assert_eq!((a.len(), b.len(), s.len()), (1, 1, 0), "a {a:?}\nb {b:?}\ns {s:?}");
        assert_eq!(a[0].0["MessageAttributes"]["team"]["Value"], "team-a");
        assert_eq!(b[0].1["recipient"]["team"], "team-b");
        let statuses: Vec<&str> = out["notices"]
            .as_array()
            .expect("list")
            .iter()
            .filter_map(|n| n["status"].as_str())
            .collect();
        assert_eq!(statuses.iter().filter(|s| **s == "no-notice").count(), 1, "{out}");
        for (env, msg) in [&a[0], &b[0]] {
            assert_eq!(msg["kind"], "warning");
            assert_eq!(env["MessageAttributes"]["event"]["Value"], "warning");
            assert_eq!(env["MessageAttributes"]["action"]["Value"], "disable");
            assert!(msg["pending"][0]["action_time"].is_i64());
        }
        // The hostile name arrives neutralised.
        let text = a[0].1["text"].as_str().expect("text");
        assert_eq!(text.lines().filter(|l| l.starts_with("ARN:")).count(), 1, "{text}");
        assert!(!text.lines().any(|l| l.starts_with("Subject:")), "{text}");
        assert!(!text.contains('\u{202e}') && !text.contains('\r'));
        assert!(!text.lines().any(|l| l.starts_with("Team:")), "{text}");
        let owner = a[0].0["MessageAttributes"]["owner"]["Value"].as_str().expect("owner attribute");
        assert!(owner.len() <= 64 && owner.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b)), "{owner}");
        let name = a[0].1["resource"]["name"].as_str().expect("name");
        assert!(name.chars().count() <= 201 && !name.contains('\n'), "{name}");
        let subject = a[0].0["Subject"].as_str().expect("subject");
        assert!(subject.len() <= 100 && subject.is_ascii() && !subject.contains('\n'), "{subject}");

        // A retried invocation publishes nothing again.
        let again = app.run(event, T0).await.expect("notified");
        assert!(again["notices"].as_array().expect("list").iter().all(|n| n["status"] != "sent"), "{again}");
        assert!(w.received(&w.team_a).await.is_empty());
        assert!(w.received(&w.team_b).await.is_empty());
        assert!(w.received(&w.security_q).await.is_empty());

        // Entries of the open-verdicts index that do not read back (in the open and the held
        // partitions): the digests still go, the security team is told, and the judge's held
        // queue skips them rather than stop.
        for (n, board) in [(1, "live"), (2, "live#held")] {
            w.store
                .client()
                .put_item()
                .table_name(w.store.table())
                .item("pk", AttributeValue::S(format!("123456789012/us-east-1/AWS::EC2::SecurityGroup/sg-bad0000{n}")))
                .item("sk", AttributeValue::S(justice_aws::docket_store::docket_sk(false).into()))
                .item("open_board", AttributeValue::S(board.into()))
                .item("open_order", AttributeValue::S(format!("{:020}#bad{n}", 1)))
                .item("open", AttributeValue::S("not an open line".into()))
                .send()
                .await
                .expect("a corrupt entry");
        }
        // Within the hour's spent budget: the held resource stays held.
        w.judge(&[of_team("sg-000000b1", "team-b", "api")], 2).await;
        let _ = drain_messages(&w.sqs, &w.security_q).await;

        // The digest reaches each team once per window.
        for _ in 0..2 {
            app.run(json!({"justice": "digest"}), T0 + 3_600_000).await.expect("digest");
        }
        let a = w.received(&w.team_a).await;
        let b = w.received(&w.team_b).await;
        assert_eq!((a.len(), b.len()), (1, 1));
        assert_eq!(a[0].1["kind"], "digest");
        assert_eq!(a[0].1["tasks"].as_array().map(Vec::len), Some(1));
        assert_eq!(a[0].1["open"].as_array().map(Vec::len), Some(0), "{}", a[0].1);
        // Each digest links its team's report page, stored under reports/ and fetched through
        // the presigned link alone: the team's resources with their charts, no other team's.
        let page = |digest: &Value| {
            let report = &digest["report"];
            let url = report["url"].as_str().unwrap_or_else(|| panic!("no report link: {digest}"));
            assert!(url.contains("/reports/") && url.contains("X-Amz-Signature="), "{url}");
            let (status, body) = justice_tests::aws::http_get(url);
            assert_eq!(status, 200, "{url}: {}", String::from_utf8_lossy(&body));
            (report.clone(), String::from_utf8(body).expect("utf-8 page"))
        };
        let (summary_a, page_a) = page(&a[0].1);
        let (_, page_b) = page(&b[0].1);
        assert!(page_a.starts_with("<!DOCTYPE html>") && page_a.contains("<svg"), "{page_a}");
        assert!(page_a.contains("Risk report: team team-a"));
        assert_eq!(page_a.matches("<tbody class=\"r\"").count() as u64, summary_a["resources"].as_u64().expect("resources"));
        assert!(page_a.contains("sg-000000a1") && !page_a.contains("sg-000000b1"));
        assert!(page_b.contains("sg-000000b1") && !page_b.contains("sg-000000a1"));
        assert_eq!(summary_a["tasks_due_24h"], 1, "{summary_a}");
        // A link that was not signed opens nothing: the bucket stays private.
        let unsigned = a[0].1["report"]["url"].as_str().expect("url").split('?').next().expect("path").to_owned();
        assert_ne!(justice_tests::aws::http_get(&unsigned).0, 200);
        // The held resource waits on a person: in the security team's digest, once, read from
        // the sparse open-verdicts index.
        let s = w.received(&w.security_q).await;
        assert_eq!(s.len(), 1, "{s:?}");
        assert!(
            s[0].0["Subject"].as_str().is_some_and(|x| x.contains("need a person"))
                && s[0].0["Message"].as_str().is_some_and(|m| m.contains("sg-0000be1d")),
            "{s:?}"
        );
        assert!(
            s[0].0["Message"]
                .as_str()
                .is_some_and(|m| m.contains("2 open verdict(s) could not be read")),
            "{s:?}"
        );
        // The security team's digest links the whole estate's page: every team's resources.
        let message = s[0].0["Message"].as_str().expect("message");
        let estate = message
            .split_whitespace()
            .find(|w| w.starts_with("http") && w.contains("/reports/") && w.contains("estate.html"))
            .unwrap_or_else(|| panic!("no estate link: {message}"));
        let (status, body) = justice_tests::aws::http_get(estate);
        assert_eq!(status, 200);
        let estate = String::from_utf8(body).expect("utf-8 page");
        assert!(estate.contains("sg-000000a1") && estate.contains("sg-000000b1"));
    });
}

#[test]
fn a_key_that_is_not_a_verdict_or_is_missing_is_handled_by_name() {
    full_runtime().block_on(async {
        let w = world().await;
        let app = w.notifier();
        let event = |key: &str| s3_event(&w.bucket, &[key.to_owned()]);
        let out = app.run(event("tasks.json"), T0).await.expect("ignored");
        assert_eq!(out["notices"].as_array().map(Vec::len), Some(0));
        let e = app
            .run(event("verdicts/v-missing-1.json"), T0)
            .await
            .expect_err("missing record");
        assert!(e.to_string().contains("verdicts/v-missing-1.json"), "{e}");
        assert_eq!(
            justice_aws::task_board::decode_key("verdicts/a+b%2Bc.json").expect("key"),
            "verdicts/a b+c.json"
        );
    });
}

/// An owner topic that does not exist fails every notice the same way: the verdict records go
/// to the notifier's dead-letter queue at once, with the S3 event to redrive them, and the
/// invocation succeeds (the metric counts them); once the topic is right, the redriven event
/// sends the notice.
#[test]
fn a_missing_owner_topic_dead_letters_the_verdicts_at_once() {
    use justice_aws::lambda::{capture_metrics, captured_metrics, SqsDeadLetters};
    full_runtime().block_on(async {
        let w = world().await;
        w.judge(&[of_team("sg-000000a1", "team-a", "web")], 10)
            .await;
        let (dlq, _) = queue(&w.sqs).await;
        let mut app = w.notifier();
        app.outbox = SnsOutbox::new(w.sns.clone(), &w.security)
            .with_owner_topic(format!("arn:aws:sns:us-east-1:{ACCOUNT}:no-such-topic"))
            .with_sent_log(w.store.client().clone(), w.store.table());
        app.dead_letters = Some(SqsDeadLetters {
            client: w.sqs.clone(),
            url: dlq.clone(),
        });
        let event = w.verdict_event().await;
        capture_metrics();
        let out = app
            .run(event.clone(), T0)
            .await
            .expect("dead-lettered, not failed");
        assert_eq!(out["dead_lettered"], 1, "{out}");
        let letters = drain_messages(&w.sqs, &dlq).await;
        assert_eq!(letters.len(), 1, "{letters:?}");
        assert_eq!(letters[0]["event"], event, "the event, to redrive it from");
        assert!(
            letters[0]["failures"][0]["reason"]
                .as_str()
                .is_some_and(|r| r.contains("no-such-topic")),
            "{letters:?}"
        );
        let counted: Vec<u64> = captured_metrics()
            .iter()
            .filter_map(|d| d["NoticesDeadLettered"].as_u64())
            .collect();
        assert_eq!(counted, [1]);
        assert!(w.received(&w.team_a).await.is_empty());

        let out = w
            .notifier()
            .run(letters[0]["event"].clone(), T0)
            .await
            .expect("redriven");
        assert_eq!(out["notices"][0]["status"], "sent", "{out}");
        assert_eq!(w.received(&w.team_a).await.len(), 1);
    });
}

/// A team's own topic from the account mapping is used when it is one the role may publish to
/// (a name with `TEAM_TOPIC_PREFIX`, in the owner topic's account and region); any other goes
/// to the owner topic, where the team's filter finds it, rather than fail every notice.
#[test]
fn a_mapped_team_topic_is_used_only_when_the_role_allows_it() {
    full_runtime().block_on(async {
        let w = world().await;
        let named = |name: String| {
            let sns = w.sns.clone();
            async move {
                sns.create_topic()
                    .name(name)
                    .send()
                    .await
                    .expect("topic")
                    .topic_arn
                    .expect("arn")
            }
        };
        let team_topic = named(unique("justice-team-pay")).await;
        let other_topic = named(unique("elsewhere")).await;
        let (team_q, team_q_arn) = queue(&w.sqs).await;
        let (other_q, other_q_arn) = queue(&w.sqs).await;
        subscribe(&w.sns, &team_topic, &team_q_arn, None).await;
        subscribe(&w.sns, &other_topic, &other_q_arn, None).await;
        let map_to = |topic: String| {
            let s3 = w.s3.clone();
            let bucket = w.bucket.clone();
            async move {
                let body = json!([{"account": ACCOUNT, "team": "payments", "topic": topic}]);
                s3.put_object()
                    .bucket(bucket)
                    .key("mapping.json")
                    .body(body.to_string().into_bytes().into())
                    .send()
                    .await
                    .expect("mapping");
            }
        };
        let mut app = w.notifier();
        app.board = w.board().with_account_map(Some("mapping.json".into()));
        app.outbox = w.outbox().with_team_topics(Some("justice-team-".into()));

        map_to(team_topic.clone()).await;
        w.judge(&[of_team("sg-000000a1", "team-a", "web")], 10)
            .await;
        app.run(w.verdict_event().await, T0)
            .await
            .expect("notified");
        assert_eq!(w.received(&team_q).await.len(), 1, "the team's own topic");
        assert!(w.received(&w.team_a).await.is_empty());

        map_to(other_topic).await;
        w.judge(&[of_team("sg-000000a2", "team-a", "api")], 10)
            .await;
        app.run(w.verdict_event().await, T0)
            .await
            .expect("notified");
        assert!(w.received(&other_q).await.is_empty(), "not a team topic");
        assert_eq!(
            w.received(&w.team_a).await.len(),
            1,
            "the owner topic instead"
        );
    });
}

/// Report pages that cannot be stored (here: a bucket that does not exist, a failure that will
/// not pass on a retry) cost the digests their links, never the digests: each team still gets
/// its digest, without a link, and the security team is told why.
#[test]
fn pages_that_cannot_be_stored_cost_the_links_not_the_digests() {
    full_runtime().block_on(async {
        let w = world().await;
        w.judge(&[of_team("sg-000000a1", "team-a", "web")], 10)
            .await;
        let _ = w.received(&w.team_a).await;
        let _ = w.received(&w.security_q).await;
        let mut app = w.notifier();
        app.pages =
            justice_aws::S3ReportShelf::new(w.s3.clone(), unique("no-such-bucket"), "reports/");
        let out = app
            .run(json!({"justice": "digest"}), T0 + 3_600_000)
            .await
            .expect("digests sent");
        assert_eq!(out["pages"], 0, "{out}");
        let a = w.received(&w.team_a).await;
        assert_eq!(a.len(), 1, "{a:?}");
        assert_eq!(a[0].1["kind"], "digest");
        assert!(a[0].1["report"].is_null(), "{}", a[0].1);
        let s = w.received(&w.security_q).await;
        assert!(
            s.iter().any(|m| m.0["Subject"]
                .as_str()
                .is_some_and(|x| x.contains("report pages could not be stored"))
                && m.0["Message"]
                    .as_str()
                    .is_some_and(|b| b.contains("NoSuchBucket"))),
            "{s:?}"
        );
    });
}
