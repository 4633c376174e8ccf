//! AWS adapters of the Justice Engine's ports: the risk table on DynamoDB, AWS Config as the
//! configuration source, and the policy object in S3. Clients are built by the caller once per
//! cold start and handed in.

mod aggregate_source;
pub mod config_source;
pub mod docket_store;
pub mod env;
pub mod lambda;
pub mod outbox;
pub mod policy_source;
pub mod report_shelf;
pub mod risk_store;
pub mod stream;
pub mod task_board;

pub use config_source::AwsConfigSource;
pub use outbox::SnsOutbox;
pub use policy_source::{PolicyLoadError, PolicyProvider, S3PolicySource};
pub use report_shelf::S3ReportShelf;
pub use risk_store::DynamoRiskStore;
pub use task_board::S3TaskBoard;

/// What an SDK error says: the service's own message, else the cause chain cut short (its tail
/// repeats the raw response, which can be kilobytes of someone's configuration).
pub(crate) fn sdk_error_detail<E, R>(
    e: &aws_smithy_runtime_api::client::result::SdkError<E, R>,
) -> String
where
    E: std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    use aws_smithy_runtime_api::client::result::SdkError;
    match e {
        SdkError::ServiceError(s) => s.err().to_string(),
        other => aws_smithy_types::error::display::DisplayErrorContext(other)
            .to_string()
            .chars()
            .take(400)
            .collect(),
    }
}

/// Whether an SDK error may pass when the call is tried again. Only errors known to fail the
/// same way every time are permanent: access denied, a missing table, bucket or key, a
/// rejected request, a request that cannot be built, an SNS topic denied or gone. Anything else (throttling, conflicts,
/// server errors, timeouts, lost connections, expired credentials, a code not known here) is
/// retried: a permanent error sends its event to the dead-letter queue at once, and a doubt
/// must not cost an event its automatic retries.
pub(crate) fn is_transient<E>(
    e: &aws_smithy_runtime_api::client::result::SdkError<
        E,
        aws_smithy_runtime_api::client::orchestrator::HttpResponse,
    >,
) -> bool
where
    E: aws_smithy_types::error::metadata::ProvideErrorMetadata,
{
    use aws_smithy_runtime_api::client::result::SdkError;
    match e {
        SdkError::ConstructionFailure(_) => false,
        SdkError::ServiceError(s) => {
            let status = s.raw().status().as_u16();
            status == 429
                || status >= 500
                || !matches!(
                    s.err().code(),
                    Some(
                        "AccessDeniedException"
                            | "AccessDenied"
                            | "UnrecognizedClientException"
                            | "ResourceNotFoundException"
                            | "NoSuchBucket"
                            | "NoSuchKey"
                            | "ValidationException"
                            | "SerializationException"
                            | "InvalidParameterValueException"
                            | "InvalidParameterException"
                            | "InvalidTimeRangeException"
                            | "InvalidLimitException"
                            | "InvalidNextTokenException"
                            | "NoSuchConfigurationRecorderException"
                            // Config aggregators: none of that name, an item too big to serve.
                            | "NoSuchConfigurationAggregatorException"
                            | "OversizedConfigurationItemException"
                            // SNS: a denied, missing or refused topic, its key unusable.
                            | "AuthorizationError"
                            | "NotFound"
                            | "InvalidParameter"
                            | "InvalidParameterValue"
                            | "KMSAccessDenied"
                            | "KMSDisabled"
                            | "KMSNotFound"
                    )
                )
        }
        _ => true,
    }
}

/// An SDK call's failure: the call named with the service's own message, and whether a retry
/// may pass (from the service's error code). Each port's error is made from it.
pub(crate) struct Failure {
    detail: String,
    transient: bool,
}

/// `e`, the failure of `call`: `?` turns it into the error of the port that made the call.
pub(crate) fn failure<E>(
    call: impl std::fmt::Display,
    e: &aws_smithy_runtime_api::client::result::SdkError<
        E,
        aws_smithy_runtime_api::client::orchestrator::HttpResponse,
    >,
) -> Failure
where
    E: std::error::Error
        + aws_smithy_types::error::metadata::ProvideErrorMetadata
        + Send
        + Sync
        + 'static,
{
    Failure {
        detail: format!("{call}: {}", sdk_error_detail(e)),
        transient: is_transient(e),
    }
}

impl From<Failure> for justice_service::StoreError {
    fn from(f: Failure) -> Self {
        justice_service::StoreError::Backend {
            source: f.detail.into(),
            transient: f.transient,
        }
    }
}

impl From<Failure> for justice_service::SourceError {
    fn from(f: Failure) -> Self {
        justice_service::SourceError::Backend {
            source: f.detail.into(),
            transient: f.transient,
        }
    }
}

impl From<Failure> for justice_service::BoardError {
    fn from(f: Failure) -> Self {
        justice_service::BoardError::Backend {
            source: f.detail.into(),
            transient: f.transient,
        }
    }
}

impl From<Failure> for justice_service::OutboxError {
    fn from(f: Failure) -> Self {
        justice_service::OutboxError {
            source: f.detail.into(),
            transient: f.transient,
        }
    }
}

/// The SDK configuration from the environment: region, credentials and, when set, the
/// endpoint of `AWS_ENDPOINT_URL` (moto in tests, a VPC endpoint in production).
pub async fn sdk_config() -> aws_config::SdkConfig {
    aws_config::load_from_env().await
}

/// The clients a function builds once per cold start, from the environment's SDK configuration.
pub struct Clients {
    pub sdk: aws_config::SdkConfig,
    pub s3: aws_sdk_s3::Client,
    pub dynamodb: aws_sdk_dynamodb::Client,
}

impl Clients {
    pub async fn from_env() -> Self {
        let sdk = sdk_config().await;
        Clients {
            s3: s3_client(&sdk),
            dynamodb: aws_sdk_dynamodb::Client::new(&sdk),
            sdk,
        }
    }

    /// The function's dead-letter queue (`DEAD_LETTER_QUEUE_URL`), when one is set.
    pub fn dead_letters(&self, url: Option<&String>) -> Option<lambda::SqsDeadLetters> {
        url.map(|url| lambda::SqsDeadLetters::new(&self.sdk, url.clone()))
    }
}

/// An S3 client; path-style addressing when an endpoint override is set (moto by host name).
pub fn s3_client(config: &aws_config::SdkConfig) -> aws_sdk_s3::Client {
    let mut b = aws_sdk_s3::config::Builder::from(config);
    if config.endpoint_url().is_some() {
        b = b.force_path_style(true);
    }
    aws_sdk_s3::Client::from_conf(b.build())
}

#[cfg(test)]
mod tests {
    use aws_sdk_dynamodb::operation::get_item::GetItemError;
    use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
    use aws_smithy_runtime_api::client::result::SdkError;
    use aws_smithy_types::body::SdkBody;
    use aws_smithy_types::error::ErrorMetadata;

    fn service(status: u16, code: &str) -> SdkError<GetItemError, HttpResponse> {
        let err = GetItemError::generic(ErrorMetadata::builder().code(code).build());
        let raw = HttpResponse::new(status.try_into().expect("a status code"), SdkBody::empty());
        SdkError::service_error(err, raw)
    }

    #[test]
    fn retry_is_decided_from_the_service_error_code() {
        for (status, code) in [
            (400, "ThrottlingException"),
            (400, "ProvisionedThroughputExceededException"),
            (400, "TransactionConflictException"),
            (500, "InternalServerError"),
            (503, "ServiceUnavailable"),
            (429, "SomethingNew"),
            (400, "ExpiredTokenException"),
            (400, "KMSThrottlingException"),
            (400, "ACodeNotKnownHere"),
        ] {
            assert!(
                super::is_transient(&service(status, code)),
                "{status} {code}"
            );
        }
        for (status, code) in [
            (400, "AccessDeniedException"),
            (400, "ResourceNotFoundException"),
            (400, "ValidationException"),
            (403, "UnrecognizedClientException"),
            (403, "AccessDenied"),
            (404, "NoSuchBucket"),
            (403, "AuthorizationError"),
            (404, "NotFound"),
        ] {
            assert!(
                !super::is_transient(&service(status, code)),
                "{status} {code}"
            );
        }
    }
}
