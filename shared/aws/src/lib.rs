//! AWS adapters of the Justice Engine's ports: the risk table on DynamoDB, AWS Config as the
//! configuration source, and the policy object in S3. Clients are built by the caller once per
//! cold start and handed in.

pub mod config_source;
pub mod docket_store;
pub mod env;
pub mod outbox;
pub mod policy_source;
pub mod risk_store;
pub mod task_board;

pub use config_source::AwsConfigSource;
pub use outbox::SnsOutbox;
pub use policy_source::{PolicyLoadError, PolicyProvider, S3PolicySource};
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

/// The SDK configuration from the environment: region, credentials and, when set, the
/// endpoint of `AWS_ENDPOINT_URL` (moto in tests, a VPC endpoint in production).
pub async fn sdk_config() -> aws_config::SdkConfig {
    aws_config::load_from_env().await
}

/// An S3 client; path-style addressing when an endpoint override is set (moto by host name).
pub fn s3_client(config: &aws_config::SdkConfig) -> aws_sdk_s3::Client {
    let mut b = aws_sdk_s3::config::Builder::from(config);
    if config.endpoint_url().is_some() {
        b = b.force_path_style(true);
    }
    aws_sdk_s3::Client::from_conf(b.build())
}
