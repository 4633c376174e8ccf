//! The local AWS of the tests: moto in server mode, started by `infra/test.sh` (which exports
//! `JUSTICE_MOTO_URL`). Without it these tests fail with instructions; they never skip.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType, StreamSpecification, StreamViewType,
};
use aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextRef;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
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
    let queue = sqs
        .create_queue()
        .queue_name(unique("security-q"))
        .send()
        .await
        .expect("create queue")
        .queue_url
        .expect("queue url");
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
