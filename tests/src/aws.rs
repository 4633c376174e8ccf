//! The local AWS of the tests: moto in server mode, started by `infra/test.sh` (which exports
//! `JUSTICE_MOTO_URL`). Without it these tests fail with instructions; they never skip.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType, StreamSpecification, StreamViewType,
};
use aws_smithy_runtime_api::client::interceptors::context::{
    BeforeDeserializationInterceptorContextMut, BeforeTransmitInterceptorContextRef,
};
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::orchestrator::{HttpResponse, Metadata};
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_runtime_api::http::StatusCode;
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::config_bag::ConfigBag;
use justice_aws::docket_store::OPEN_INDEX;
use justice_aws::risk_store::{PK, RISKY, RISKY_INDEX, SK};

/// The moto endpoint; panics with what to do when it is not running.
pub fn moto_url() -> String {
    std::env::var("JUSTICE_MOTO_URL").unwrap_or_else(|_| {
        panic!(
            "JUSTICE_MOTO_URL is not set: these tests talk to moto in server mode. \\
             Run `bash infra/test.sh`, or `source infra/moto.sh` before `cargo test`."
        )
    })
}

/// SDK configuration pointed at moto, with dummy credentials.
pub async fn sdk() -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(moto_url())
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
            "test", "test", None, None, "moto",
        ))
        .load()
        .await
}

/// A name no other test (or run against the same moto) uses.
pub fn unique(prefix: &str) -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!(
        "{prefix}-{}-{nanos}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// A moto account no other test (or earlier run against the same moto) has used: tests that
/// list what an account holds (a back-fill) see only their own resources.
pub fn fresh_account() -> String {
    let h = justice_core::item::hash_parts(&[&unique("account")]);
    format!("9{:011}", h % 100_000_000_000)
}

/// SDK configuration pointed at moto, acting in `account` (moto switches accounts on the
/// credentials of an assumed role, as AWS does).
pub async fn sdk_in(account: &str) -> aws_config::SdkConfig {
    let base = sdk().await;
    let role = aws_config::sts::AssumeRoleProvider::builder(format!(
        "arn:aws:iam::{account}:role/justice-tests"
    ))
    .session_name("justice-tests")
    .configure(&base)
    .build()
    .await;
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(moto_url())
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(role)
        .load()
        .await
}

/// Counts the requests a client sends, by operation (the `X-Amz-Target` of DynamoDB's
/// JSON protocol).
#[derive(Debug, Clone, Default)]
pub struct RequestLog(pub Arc<Mutex<Vec<String>>>);

impl RequestLog {
    pub fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// The write requests among `ops`.
    pub fn writes(ops: &[String]) -> Vec<String> {
        ops.iter()
            .filter(|o| {
                matches!(
                    o.as_str(),
                    "PutItem"
                        | "UpdateItem"
                        | "DeleteItem"
                        | "TransactWriteItems"
                        | "BatchWriteItem"
                )
            })
            .cloned()
            .collect()
    }
}

impl Intercept for RequestLog {
    fn name(&self) -> &'static str {
        "RequestLog"
    }

    fn read_before_transmit(
        &self,
        ctx: &BeforeTransmitInterceptorContextRef<'_>,
        _rc: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), aws_smithy_runtime_api::box_error::BoxError> {
        let op = ctx
            .request()
            .headers()
            .get("x-amz-target")
            .and_then(|t| t.rsplit('.').next())
            .unwrap_or("?")
            .to_owned();
        self.0.lock().unwrap_or_else(|p| p.into_inner()).push(op);
        Ok(())
    }
}

/// An error injected in place of the service's answer to one operation, for its first `times`
/// attempts: what AWS sends back when it denies or throttles a call, on the SDK's own
/// deserialisation and retry path (moto does not enforce IAM). The request itself still
/// reaches moto, so only read operations are failed this way.
#[derive(Debug, Clone)]
pub struct FailCalls {
    pub operation: &'static str,
    pub status: u16,
    pub content_type: &'static str,
    pub body: String,
    pub times: usize,
    /// Calls answered by moto before the first failed one.
    pub skip: usize,
    pub seen: Arc<AtomicU64>,
}

impl FailCalls {
    /// DynamoDB's JSON protocol error `code` (`AccessDeniedException`, `ThrottlingException`).
    pub fn dynamodb(operation: &'static str, code: &str, times: usize) -> Self {
        FailCalls {
            operation,
            status: 400,
            content_type: "application/x-amz-json-1.0",
            body: format!(
                r#"{{"__type":"com.amazonaws.dynamodb.v20120810#{code}","message":"injected by the test"}}"#
            ),
            times,
            skip: 0,
            seen: Arc::default(),
        }
    }

    /// AWS Config's JSON protocol error `code` (`ThrottlingException`).
    pub fn config(operation: &'static str, code: &str, times: usize) -> Self {
        FailCalls {
            operation,
            status: 400,
            content_type: "application/x-amz-json-1.1",
            body: format!(r#"{{"__type":"{code}","message":"injected by the test"}}"#),
            times,
            skip: 0,
            seen: Arc::default(),
        }
    }

    /// The same failures, after `calls` calls answered by moto.
    pub fn after(mut self, calls: usize) -> Self {
        self.skip = calls;
        self
    }

    /// S3's REST-XML error `code` with its HTTP status (403 AccessDenied, 503 SlowDown).
    pub fn s3(operation: &'static str, status: u16, code: &str, times: usize) -> Self {
        FailCalls {
            operation,
            status,
            content_type: "application/xml",
            body: format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>{code}</Code><Message>injected by the test</Message></Error>"
            ),
            times,
            skip: 0,
            seen: Arc::default(),
        }
    }
}

impl Intercept for FailCalls {
    fn name(&self) -> &'static str {
        "FailCalls"
    }

    fn modify_before_deserialization(
        &self,
        ctx: &mut BeforeDeserializationInterceptorContextMut<'_>,
        _rc: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), aws_smithy_runtime_api::box_error::BoxError> {
        let op = cfg.load::<Metadata>().map(|m| m.name().to_owned());
        if op.as_deref() != Some(self.operation) {
            return Ok(());
        }
        let call = self.seen.fetch_add(1, Ordering::SeqCst) as usize;
        if call < self.skip || call >= self.skip + self.times {
            return Ok(());
        }
        let mut answer = HttpResponse::new(
            StatusCode::try_from(self.status)?,
            SdkBody::from(self.body.clone()),
        );
        answer
            .headers_mut()
            .insert("content-type", self.content_type);
        *ctx.response_mut() = answer;
        Ok(())
    }
}

/// A DynamoDB client on moto whose answers to one operation are replaced by an error.
pub fn failing_dynamo(sdk: &aws_config::SdkConfig, fail: &FailCalls) -> aws_sdk_dynamodb::Client {
    let conf = aws_sdk_dynamodb::config::Builder::from(sdk)
        .interceptor(fail.clone())
        .build();
    aws_sdk_dynamodb::Client::from_conf(conf)
}

/// An S3 client on moto (path-style) whose answers to one operation are replaced by an error.
pub fn failing_s3(sdk: &aws_config::SdkConfig, fail: &FailCalls) -> aws_sdk_s3::Client {
    let conf = aws_sdk_s3::config::Builder::from(sdk)
        .force_path_style(true)
        .interceptor(fail.clone())
        .build();
    aws_sdk_s3::Client::from_conf(conf)
}

/// A DynamoDB client on moto that records its requests.
pub fn dynamo(sdk: &aws_config::SdkConfig, log: &RequestLog) -> aws_sdk_dynamodb::Client {
    let conf = aws_sdk_dynamodb::config::Builder::from(sdk)
        .interceptor(log.clone())
        .build();
    aws_sdk_dynamodb::Client::from_conf(conf)
}

/// The risk table as the SAM template declares it: `pk`/`sk`, the sparse re-score index, a
/// stream with both images.
pub async fn create_risk_table(client: &aws_sdk_dynamodb::Client) -> String {
    let name = unique("risk");
    let attr = |n: &str, t: ScalarAttributeType| {
        AttributeDefinition::builder()
            .attribute_name(n)
            .attribute_type(t)
            .build()
            .expect("attribute")
    };
    let key = |n: &str, t: KeyType| {
        KeySchemaElement::builder()
            .attribute_name(n)
            .key_type(t)
            .build()
            .expect("key")
    };
    client
        .create_table()
        .table_name(&name)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(attr(PK, ScalarAttributeType::S))
        .attribute_definitions(attr(SK, ScalarAttributeType::S))
        .attribute_definitions(attr(RISKY, ScalarAttributeType::S))
        .attribute_definitions(attr("evaluated_at", ScalarAttributeType::N))
        .attribute_definitions(attr("open_board", ScalarAttributeType::S))
        .attribute_definitions(attr("open_order", ScalarAttributeType::S))
        .key_schema(key(PK, KeyType::Hash))
        .key_schema(key(SK, KeyType::Range))
        .global_secondary_indexes(
            GlobalSecondaryIndex::builder()
                .index_name(RISKY_INDEX)
                .key_schema(key(RISKY, KeyType::Hash))
                .key_schema(key("evaluated_at", KeyType::Range))
                .projection(
                    Projection::builder()
                        .projection_type(ProjectionType::KeysOnly)
                        .build(),
                )
                .build()
                .expect("index"),
        )
        .global_secondary_indexes(
            GlobalSecondaryIndex::builder()
                .index_name(OPEN_INDEX)
                .key_schema(key("open_board", KeyType::Hash))
                .key_schema(key("open_order", KeyType::Range))
                .projection(
                    Projection::builder()
                        .projection_type(ProjectionType::Include)
                        .non_key_attributes("open")
                        .build(),
                )
                .build()
                .expect("index"),
        )
        .stream_specification(
            StreamSpecification::builder()
                .stream_enabled(true)
                .stream_view_type(StreamViewType::NewAndOldImages)
                .build()
                .expect("stream"),
        )
        .send()
        .await
        .unwrap_or_else(|e| panic!("create table on moto: {e:?}"));
    name
}

/// A runtime with timers and I/O, for tests that run concurrent tasks.
pub fn full_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

pub async fn create_bucket(s3: &aws_sdk_s3::Client) -> String {
    let name = unique("krampus").to_lowercase();
    s3.create_bucket()
        .bucket(&name)
        .send()
        .await
        .unwrap_or_else(|e| panic!("create bucket on moto: {e:?}"));
    name
}

/// An object's bytes, `None` when there is none.
pub async fn get_object(s3: &aws_sdk_s3::Client, bucket: &str, key: &str) -> Option<Vec<u8>> {
    match s3.get_object().bucket(bucket).key(key).send().await {
        Ok(o) => Some(o.body.collect().await.expect("body").into_bytes().to_vec()),
        Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_key()) => None,
        Err(e) => panic!("GetObject {bucket}/{key}: {e:?}"),
    }
}

/// Every object under a prefix, parsed as JSON.
pub async fn objects_under(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    prefix: &str,
) -> Vec<serde_json::Value> {
    let mut out = Vec::new();
    let mut token = None;
    loop {
        let page = s3
            .list_objects_v2()
            .bucket(bucket)
            .prefix(prefix)
            .set_continuation_token(token.take())
            .send()
            .await
            .expect("list objects");
        for o in page.contents() {
            let key = o.key().unwrap_or_default();
            let bytes = get_object(s3, bucket, key).await.expect("listed object");
            out.push(serde_json::from_slice(&bytes).expect("JSON object"));
        }
        match page.next_continuation_token() {
            Some(t) if page.is_truncated() == Some(true) => token = Some(t.to_owned()),
            _ => return out,
        }
    }
}

/// A new SQS queue named after `prefix`: its URL.
pub async fn create_queue(sqs: &aws_sdk_sqs::Client, prefix: &str) -> String {
    sqs.create_queue()
        .queue_name(unique(prefix))
        .send()
        .await
        .expect("create queue")
        .queue_url
        .expect("queue url")
}

/// An SNS topic with an SQS queue subscribed (raw delivery off: the queue gets SNS envelopes).
pub async fn topic_with_queue(
    sns: &aws_sdk_sns::Client,
    sqs: &aws_sdk_sqs::Client,
) -> (String, String) {
    let topic = sns
        .create_topic()
        .name(unique("security"))
        .send()
        .await
        .expect("create topic")
        .topic_arn
        .expect("topic arn");
    let queue = create_queue(sqs, "security-q").await;
    let queue_arn = sqs
        .get_queue_attributes()
        .queue_url(&queue)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
        .send()
        .await
        .expect("queue attributes")
        .attributes
        .and_then(|a| {
            a.get(&aws_sdk_sqs::types::QueueAttributeName::QueueArn)
                .cloned()
        })
        .expect("queue arn");
    sns.subscribe()
        .topic_arn(&topic)
        .protocol("sqs")
        .endpoint(queue_arn)
        .send()
        .await
        .expect("subscribe");
    (topic, queue)
}

/// The bodies of the SNS messages waiting in a queue (the `Message` of each envelope).
pub async fn drain_messages(sqs: &aws_sdk_sqs::Client, queue: &str) -> Vec<serde_json::Value> {
    let mut out = Vec::new();
    loop {
        let got = sqs
            .receive_message()
            .queue_url(queue)
            .max_number_of_messages(10)
            .send()
            .await
            .expect("receive");
        let msgs = got.messages.unwrap_or_default();
        if msgs.is_empty() {
            return out;
        }
        for m in msgs {
            let body: serde_json::Value =
                serde_json::from_str(m.body().unwrap_or("{}")).expect("SNS envelope");
            out.push(body);
            if let Some(h) = m.receipt_handle() {
                sqs.delete_message()
                    .queue_url(queue)
                    .receipt_handle(h)
                    .send()
                    .await
                    .expect("delete");
            }
        }
    }
}

/// An `ObjectCreated:Put` event as S3 sends it to Lambda (keys already URL-encoded).
pub fn s3_event(bucket: &str, keys: &[String]) -> serde_json::Value {
    let records: Vec<serde_json::Value> = keys
        .iter()
        .map(|key| {
            serde_json::json!({
                "eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1",
                "eventTime": "2026-11-26T00:00:00.000Z", "eventName": "ObjectCreated:Put",
                "userIdentity": {"principalId": "AWS:AROAEXAMPLE:judge"},
                "requestParameters": {"sourceIPAddress": "10.0.0.1"},
                "responseElements": {"x-amz-request-id": "C3D13FE58DE4C810", "x-amz-id-2": "FMyUVURIY8/IgAtTv8xRjskZQpcIZ9KG4V5Wp6S7S/JRWeUWerMUE5JgHvANOjpD"},
                "s3": {
                    "s3SchemaVersion": "1.0",
                    "configurationId": "verdicts",
                    "bucket": {"name": bucket, "ownerIdentity": {"principalId": "A3NL1KOZZKExample"}, "arn": format!("arn:aws:s3:::{bucket}")},
                    "object": {"key": key, "size": 1024, "eTag": "d41d8cd98f00b204e9800998ecf8427e", "sequencer": "0055AED6DCD90281E5"}
                }
            })
        })
        .collect();
    serde_json::json!({ "Records": records })
}

/// The stream's records since `after` (a sequence number), as Lambda delivers them.
pub async fn stream_event(
    conf: &aws_config::SdkConfig,
    table: &str,
    after: Option<&str>,
) -> (serde_json::Value, Option<String>) {
    let ddb = aws_sdk_dynamodb::Client::new(conf);
    let streams = aws_sdk_dynamodbstreams::Client::new(conf);
    let arn = ddb
        .describe_table()
        .table_name(table)
        .send()
        .await
        .expect("describe table")
        .table
        .and_then(|t| t.latest_stream_arn)
        .expect("stream arn");
    let shards = streams
        .describe_stream()
        .stream_arn(&arn)
        .send()
        .await
        .expect("describe stream")
        .stream_description
        .map(|d| d.shards.unwrap_or_default())
        .unwrap_or_default();
    let mut records = Vec::new();
    let mut last = after.map(str::to_owned);
    for shard in shards {
        let mut it = streams
            .get_shard_iterator()
            .stream_arn(&arn)
            .shard_id(shard.shard_id().unwrap_or_default());
        it = match after {
            Some(seq) => it
                .shard_iterator_type(
                    aws_sdk_dynamodbstreams::types::ShardIteratorType::AfterSequenceNumber,
                )
                .sequence_number(seq),
            None => it.shard_iterator_type(
                aws_sdk_dynamodbstreams::types::ShardIteratorType::TrimHorizon,
            ),
        };
        let iterator = it.send().await.expect("iterator").shard_iterator;
        let got = streams
            .get_records()
            .set_shard_iterator(iterator)
            .send()
            .await
            .expect("get records");
        for r in got.records.unwrap_or_default() {
            let d = r.dynamodb.clone().expect("stream record");
            let item = |m: Option<
                std::collections::HashMap<String, aws_sdk_dynamodbstreams::types::AttributeValue>,
            >| {
                serde_json::to_value(serde_dynamo::Item::from(m.unwrap_or_default()))
                    .expect("item json")
            };
            last = d.sequence_number.clone();
            records.push(serde_json::json!({
                "eventID": r.event_id,
                "eventName": r.event_name.map(|n| n.as_str().to_owned()),
                "eventVersion": "1.1",
                "eventSource": "aws:dynamodb",
                "awsRegion": "us-east-1",
                "eventSourceARN": arn,
                "dynamodb": {
                    "Keys": item(d.keys),
                    "NewImage": item(d.new_image),
                    "OldImage": item(d.old_image),
                    "SequenceNumber": d.sequence_number,
                    "SizeBytes": d.size_bytes,
                    "StreamViewType": "NEW_AND_OLD_IMAGES"
                }
            }));
        }
    }
    (serde_json::json!({ "Records": records }), last)
}

/// A plain HTTP GET of `url` (moto's `http://127.0.0.1:…`): the status and the body. What a
/// browser does with a presigned link, with nothing of the SDK's signing.
pub fn http_get(url: &str) -> (u16, Vec<u8>) {
    use std::io::{Read, Write};
    let rest = url.strip_prefix("http://").expect("an http URL");
    let (host, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let mut stream = std::net::TcpStream::connect(host).expect("connect");
    write!(
        stream,
        "GET {} HTTP/1.0\r\nHost: {host}\r\nConnection: close\r\n\r\n",
        if path.is_empty() { "/" } else { path }
    )
    .expect("send");
    let mut response = Vec::new();
    stream.read_to_end(&mut response).expect("read");
    let end = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("headers");
    let head = String::from_utf8_lossy(&response[..end]).into_owned();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status");
    (status, response[end + 4..].to_vec())
}
