//! What the three Lambda functions share at their edge: the log setup, the metrics writer, the
//! dead-letter queue and the error they return. Each function's crate is then wiring: decode
//! the event, call one service entry point, encode the answer.

use serde_json::{json, Map, Value};

pub use justice_service::SystemClock;

/// What a handler returns on failure: Lambda logs it and retries the invocation (or, for a
/// stream, the batch from its first reported failure).
pub type Error = Box<dyn std::error::Error + Send + Sync>;

/// A function's `main`: the allocator, the log setup, the configuration from the environment
/// (a bad one logged, naming the variable, before the runtime refuses the cold start), the
/// clients built once (`$app::from_env`), then the runtime's loop over `$app::handle` with
/// events of type `$event`. The crate using it depends on tokio, lambda_runtime, mimalloc and
/// tracing.
#[macro_export]
macro_rules! lambda_main {
    ($app:ty, $config:ty, $event:ty) => {
        // Many small JSON nodes per event: mimalloc serves them faster than glibc's allocator.
        #[global_allocator]
        static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

        #[tokio::main(flavor = "current_thread")]
        async fn main() -> Result<(), lambda_runtime::Error> {
            $crate::lambda::init_tracing();
            let config = <$config as $crate::env::FromEnv>::from_env()
                .inspect_err(|e| tracing::error!(error = %e, "cold start"))?;
            let app = <$app>::from_env(config).await;
            let app = &app;
            lambda_runtime::run(lambda_runtime::service_fn(
                move |event: lambda_runtime::LambdaEvent<$event>| async move {
                    app.handle(event).await
                },
            ))
            .await
        }
    };
}

/// JSON logs (CloudWatch Logs Insights reads the fields), at the level of `LOG_LEVEL` (info).
pub fn init_tracing() {
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("LOG_LEVEL")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_target(false)
        .with_current_span(false)
        .init();
}

/// The metrics namespace of every function.
pub const NAMESPACE: &str = "JusticeEngine";

/// One CloudWatch metrics document in Embedded Metric Format: a JSON line on stdout that
/// CloudWatch Logs turns into metrics, without an API call. Every value is a count.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Metrics {
    dimensions: Vec<(&'static str, String)>,
    counts: Vec<(&'static str, u64)>,
}

impl Metrics {
    pub fn new() -> Self {
        Metrics::default()
    }

    pub fn dimension(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.dimensions.push((name, value.into()));
        self
    }

    pub fn count(mut self, name: &'static str, value: u64) -> Self {
        self.counts.push((name, value));
        self
    }

    /// The document, stamped `timestamp_ms`.
    pub fn document(&self, timestamp_ms: i64) -> Value {
        let mut doc = Map::new();
        doc.insert(
            "_aws".into(),
            json!({
                "Timestamp": timestamp_ms,
                "CloudWatchMetrics": [{
                    "Namespace": NAMESPACE,
                    "Dimensions": [self.dimensions.iter().map(|(n, _)| *n).collect::<Vec<_>>()],
                    "Metrics": self.counts.iter()
                        .map(|(n, _)| json!({"Name": n, "Unit": "Count"}))
                        .collect::<Vec<_>>(),
                }],
            }),
        );
        for (name, value) in &self.dimensions {
            doc.insert((*name).into(), Value::String(value.clone()));
        }
        for (name, value) in &self.counts {
            doc.insert((*name).into(), json!(value));
        }
        Value::Object(doc)
    }

    /// Writes the document to stdout, where Lambda sends it to CloudWatch Logs (or, while
    /// [`capture_metrics`] is on for this thread, to the capture).
    pub fn emit(&self) {
        use justice_service::Clock;
        let doc = self.document(SystemClock.now(0));
        let kept = CAPTURED.with(|c| match c.borrow_mut().as_mut() {
            Some(docs) => {
                docs.push(doc.clone());
                true
            }
            None => false,
        });
        if !kept {
            println!("{doc}");
        }
    }
}

thread_local! {
    static CAPTURED: std::cell::RefCell<Option<Vec<Value>>> = const { std::cell::RefCell::new(None) };
}

/// From now on, the metrics documents this thread emits are kept, not printed: tests read
/// what a handler reported with [`captured_metrics`].
pub fn capture_metrics() {
    CAPTURED.with(|c| *c.borrow_mut() = Some(Vec::new()));
}

/// The documents emitted on this thread since [`capture_metrics`] (or the last call), each
/// metric's value by name; capturing goes on.
pub fn captured_metrics() -> Vec<Value> {
    CAPTURED.with(|c| {
        c.borrow_mut()
            .as_mut()
            .map(std::mem::take)
            .unwrap_or_default()
    })
}

/// A function's dead-letter queue, written by the function itself for the failures no retry
/// can fix, so that they reach a person (the queue's alarm) at once.
pub struct SqsDeadLetters {
    pub client: aws_sdk_sqs::Client,
    pub url: String,
}

#[derive(Debug, thiserror::Error)]
#[error("SQS SendMessage to the dead-letter queue: {detail}")]
pub struct DeadLetterError {
    detail: String,
}

impl SqsDeadLetters {
    pub fn new(sdk: &aws_config::SdkConfig, url: String) -> Self {
        SqsDeadLetters {
            client: aws_sdk_sqs::Client::new(sdk),
            url,
        }
    }

    /// Sends `letter`, when there is one and a queue: whether the queue took it. When it did
    /// not, the input is left to the trigger's retries, so nothing is lost.
    pub async fn take(queue: Option<&Self>, letter: Option<String>) -> bool {
        let (Some(queue), Some(body)) = (queue, letter) else {
            return false;
        };
        match queue.send(body).await {
            Ok(()) => true,
            Err(e) => {
                tracing::error!(reason = %e, "not dead-lettered: left for retry");
                false
            }
        }
    }

    pub async fn send(&self, body: String) -> Result<(), DeadLetterError> {
        self.client
            .send_message()
            .queue_url(&self.url)
            .message_body(body)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| DeadLetterError {
                detail: crate::sdk_error_detail(&e),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_follow_the_embedded_metric_format() {
        let m = Metrics::new()
            .dimension("Function", "scorer")
            .dimension("Level", "disable")
            .count("ItemsScored", 2)
            .count("EventsRefused", 1);
        let doc = m.document(1_700_000_000_000);
        let directive = &doc["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(doc["_aws"]["Timestamp"], 1_700_000_000_000_i64);
        assert_eq!(directive["Namespace"], NAMESPACE);
        assert_eq!(directive["Dimensions"][0], json!(["Function", "Level"]));
        assert_eq!(
            directive["Metrics"],
            json!([{"Name": "ItemsScored", "Unit": "Count"}, {"Name": "EventsRefused", "Unit": "Count"}])
        );
        assert_eq!(
            (
                &doc["Function"],
                &doc["Level"],
                &doc["ItemsScored"],
                &doc["EventsRefused"]
            ),
            (&json!("scorer"), &json!("disable"), &json!(2), &json!(1))
        );
    }
}
