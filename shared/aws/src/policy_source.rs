//! `S3PolicySource`: the policy at run time from an S3 object, cached per container.
//!
//! The object is revalidated with its ETag (`If-None-Match`) at most once per interval. A
//! broken object (unreadable, or a policy that fails validation) never replaces the last good
//! policy: it is logged as an error and scoring goes on with the policy it had. Before any good
//! policy was loaded there is nothing safe to score with, so callers get an error and the event
//! stays for Lambda's retry — the embedded default is not silently substituted for a policy the
//! security team configured.

use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_sdk_s3::error::SdkError;
use aws_sdk_s3::Client;
use justice_core::Policy;
use tokio::sync::Mutex;

#[derive(Debug, thiserror::Error)]
#[error("policy s3://{bucket}/{key}: {reason}")]
pub struct PolicyLoadError {
    pub bucket: String,
    pub key: String,
    pub reason: String,
}

#[derive(Debug)]
pub struct S3PolicySource {
    client: Client,
    bucket: String,
    key: String,
    revalidate: Duration,
    cache: Mutex<Cache>,
}

#[derive(Debug, Default)]
struct Cache {
    good: Option<Arc<Policy>>,
    /// The ETag last fetched, good or broken: an unchanged broken object is not re-read.
    etag: Option<String>,
    checked: Option<Instant>,
}

/// How a fetch went.
enum Fetched {
    NotModified,
    Body { etag: Option<String>, text: String },
}

impl S3PolicySource {
    pub fn new(client: Client, bucket: String, key: String, revalidate: Duration) -> Self {
        S3PolicySource {
            client,
            bucket,
            key,
            revalidate,
            cache: Mutex::new(Cache::default()),
        }
    }

    fn error(&self, reason: String) -> PolicyLoadError {
        PolicyLoadError {
            bucket: self.bucket.clone(),
            key: self.key.clone(),
            reason,
        }
    }

    /// The policy to score with now.
    pub async fn current(&self) -> Result<Arc<Policy>, PolicyLoadError> {
        let mut cache = self.cache.lock().await;
        let fresh = cache.checked.is_some_and(|t| t.elapsed() < self.revalidate);
        if let (true, Some(good)) = (fresh, &cache.good) {
            return Ok(good.clone());
        }
        let fetched = self.fetch(cache.etag.as_deref()).await;
        cache.checked = Some(Instant::now());
        match fetched {
            Ok(Fetched::NotModified) => {}
            Ok(Fetched::Body { etag, text }) => {
                cache.etag = etag;
                match Policy::from_toml(&text) {
                    Ok(p) => {
                        tracing::info!(bucket = %self.bucket, key = %self.key, etag = ?cache.etag, "policy loaded");
                        cache.good = Some(Arc::new(p));
                    }
                    Err(errors) => {
                        let e = self.error(format!(
                            "invalid policy, keeping the last good one: {errors}"
                        ));
                        tracing::error!(error = %e, "policy rejected");
                        if cache.good.is_none() {
                            // Retry on the next event rather than in an interval.
                            cache.checked = None;
                            cache.etag = None;
                            return Err(e);
                        }
                    }
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "policy fetch failed, keeping the last good one");
                if cache.good.is_none() {
                    cache.checked = None;
                    return Err(e);
                }
            }
        }
        cache
            .good
            .clone()
            .ok_or_else(|| self.error("no policy loaded".into()))
    }

    async fn fetch(&self, etag: Option<&str>) -> Result<Fetched, PolicyLoadError> {
        let result = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(&self.key)
            .set_if_none_match(etag.map(str::to_owned))
            .send()
            .await;
        let out = match result {
            Ok(out) => out,
            Err(SdkError::ServiceError(e)) if e.raw().status().as_u16() == 304 => {
                return Ok(Fetched::NotModified)
            }
            Err(e) => {
                let detail = match &e {
                    SdkError::ServiceError(s) => format!("{:?}", s.err()),
                    other => other.to_string(),
                };
                return Err(self.error(detail));
            }
        };
        let etag = out.e_tag().map(str::to_owned);
        let bytes = out
            .body
            .collect()
            .await
            .map_err(|e| self.error(format!("reading the object: {e}")))?
            .into_bytes();
        let text = String::from_utf8(bytes.to_vec())
            .map_err(|_| self.error("the object is not UTF-8 text".into()))?;
        Ok(Fetched::Body { etag, text })
    }
}

/// Where a function's policy comes from: the embedded default, or an S3 object.
pub enum PolicyProvider {
    Fixed(Arc<Policy>),
    S3(S3PolicySource),
}

impl PolicyProvider {
    /// `s3://bucket/key` when configured, else the embedded default.
    pub fn new(
        s3: &aws_sdk_s3::Client,
        uri: Option<&(String, String)>,
        revalidate: Duration,
    ) -> Self {
        match uri {
            None => PolicyProvider::Fixed(Arc::new(Policy::default_policy())),
            Some((bucket, key)) => PolicyProvider::S3(S3PolicySource::new(
                s3.clone(),
                bucket.clone(),
                key.clone(),
                revalidate,
            )),
        }
    }

    pub async fn current(&self) -> Result<Arc<Policy>, PolicyLoadError> {
        match self {
            PolicyProvider::Fixed(p) => Ok(p.clone()),
            PolicyProvider::S3(s) => s.current().await,
        }
    }
}
