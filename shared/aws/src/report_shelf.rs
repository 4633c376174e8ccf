//! The report pages in the bucket, under a prefix of their own (a lifecycle rule expires
//! them), read through presigned links: the bucket stays private.

use std::time::Duration;

use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::ByteStream;
use justice_core::time::Millis;
use justice_service::report::ReportShelf;
use justice_service::OutboxError;

/// SigV4 presigned links last at most seven days. One signed with a role's temporary
/// credentials (a Lambda function's) stops working when they expire, whatever it says:
/// docs/operations.md.
const MAX_VALID: Duration = Duration::from_secs(7 * 24 * 3600);

#[derive(Clone, Debug)]
pub struct S3ReportShelf {
    client: aws_sdk_s3::Client,
    bucket: String,
    /// `reports/`: the lifecycle rule's prefix.
    prefix: String,
}

impl S3ReportShelf {
    pub fn new(
        client: aws_sdk_s3::Client,
        bucket: impl Into<String>,
        prefix: impl Into<String>,
    ) -> Self {
        S3ReportShelf {
            client,
            bucket: bucket.into(),
            prefix: prefix.into(),
        }
    }

    /// The object key of a window's page.
    pub fn key(&self, window: &str, name: &str) -> String {
        format!("{}{window}/{name}", self.prefix)
    }
}

impl ReportShelf for S3ReportShelf {
    async fn put(
        &self,
        window: &str,
        name: &str,
        html: String,
        valid_ms: Millis,
    ) -> Result<String, OutboxError> {
        let key = self.key(window, name);
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(&key)
            .content_type("text/html; charset=utf-8")
            // A browser or a proxy keeps no copy: the page holds what is at risk.
            .cache_control("private, no-store")
            .body(ByteStream::from(html.into_bytes()))
            .send()
            .await
            .map_err(|e| crate::failure(format!("S3 PutObject {key}"), &e))?;
        let valid =
            Duration::from_millis(u64::try_from(valid_ms.max(1000)).unwrap_or(0)).min(MAX_VALID);
        let config = PresigningConfig::expires_in(valid).map_err(OutboxError::permanent)?;
        let signed = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(&key)
            .presigned(config)
            .await
            .map_err(|e| OutboxError::permanent(format!("presigning {key}: {e}")))?;
        Ok(signed.uri().to_owned())
    }
}
