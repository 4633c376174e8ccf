//! `S3TaskBoard`: Krampus's `tasks.json`, the verdict records and the allow-list in S3.
//!
//! Every write of `tasks.json` is conditional: `If-Match` the ETag read, or `If-None-Match: *`
//! when there was no file. S3 answers 412 (or 409 when two conditional writes race) and the
//! judge reads again. Verdict records are created with `If-None-Match: *`: written once, never
//! replaced.

use aws_sdk_s3::error::SdkError;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::Client;
use justice_core::allow::AllowList;
use justice_core::krampus::TasksFile;
use justice_core::notice::AccountMap;
use justice_core::verdict::VerdictRecord;
use justice_service::{BoardError, BoardRead, BoardWrite, TaskBoard};

/// The suffix of the verdict records that call for a notice: the notifier's S3 event filter.
pub const NOTICE_SUFFIX: &str = ".notice.json";

#[derive(Debug, Clone)]
pub struct S3TaskBoard {
    client: Client,
    bucket: String,
    tasks_key: String,
    verdict_prefix: String,
    whitelist_key: Option<String>,
    mapping_key: Option<String>,
}

fn backend(what: String, transient: bool) -> BoardError {
    BoardError::Backend {
        source: what.into(),
        transient,
    }
}

/// The HTTP status of a service error, when there is one.
fn status<E, R>(e: &SdkError<E, aws_smithy_runtime_api::http::Response<R>>) -> Option<u16> {
    match e {
        SdkError::ServiceError(s) => Some(s.raw().status().as_u16()),
        _ => None,
    }
}

impl S3TaskBoard {
    /// `tasks_key` is Krampus's key, or the dry-run key in dry-run mode.
    pub fn new(
        client: Client,
        bucket: impl Into<String>,
        tasks_key: impl Into<String>,
        verdict_prefix: impl Into<String>,
        whitelist_key: Option<String>,
    ) -> Self {
        S3TaskBoard {
            client,
            bucket: bucket.into(),
            tasks_key: tasks_key.into(),
            verdict_prefix: verdict_prefix.into(),
            whitelist_key,
            mapping_key: None,
        }
    }

    /// The account → team mapping object (`mapping.json`) in the same bucket.
    pub fn with_account_map(mut self, key: Option<String>) -> Self {
        self.mapping_key = key;
        self
    }

    pub fn tasks_key(&self) -> &str {
        &self.tasks_key
    }

    /// Where a record is written. A record that calls for a notice ends in `.notice.json`,
    /// the suffix the bucket's event filter sends to the notifier; the others (held, quiet
    /// re-decisions: about two in three of the generated stream's) only `.json`: kept for the
    /// audit without an invocation and a read of the notifier each.
    pub fn verdict_key(&self, record: &VerdictRecord) -> String {
        let suffix = if justice_core::notice::kind_of(record).is_some() {
            NOTICE_SUFFIX
        } else {
            ".json"
        };
        format!("{}{}{suffix}", self.verdict_prefix, record.verdict_id)
    }

    /// The object's bytes and ETag; `None` when there is no such object.
    async fn get(&self, key: &str) -> Result<Option<(Vec<u8>, Option<String>)>, BoardError> {
        let out = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await;
        match out {
            Ok(o) => {
                let etag = o.e_tag().map(str::to_owned);
                let bytes = o
                    .body
                    .collect()
                    .await
                    .map_err(|e| {
                        let what = format!("s3://{}/{key}: reading the body: {e}", self.bucket);
                        backend(what, true)
                    })?
                    .into_bytes()
                    .to_vec();
                Ok(Some((bytes, etag)))
            }
            Err(SdkError::ServiceError(s)) if s.err().is_no_such_key() => Ok(None),
            Err(e) => {
                Err(crate::failure(format!("GetObject s3://{}/{key}", self.bucket), &e).into())
            }
        }
    }
}

impl TaskBoard for S3TaskBoard {
    async fn read(&self) -> Result<BoardRead, BoardError> {
        match self.get(&self.tasks_key).await? {
            None => Ok(BoardRead::default()),
            Some((bytes, etag)) => {
                let file = TasksFile::parse(&bytes).map_err(|reason| BoardError::Unreadable {
                    what: format!("s3://{}/{}", self.bucket, self.tasks_key),
                    reason: reason.0,
                })?;
                let version = etag.ok_or_else(|| BoardError::Unreadable {
                    what: format!("s3://{}/{}", self.bucket, self.tasks_key),
                    reason: "no ETag to write it back at".into(),
                })?;
                Ok(BoardRead {
                    file,
                    version: Some(version),
                })
            }
        }
    }

    async fn write(
        &self,
        file: &TasksFile,
        version: Option<&str>,
    ) -> Result<BoardWrite, BoardError> {
        let put = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(&self.tasks_key)
            .content_type("application/json")
            .body(ByteStream::from(file.to_bytes()));
        let put = match version {
            Some(etag) => put.if_match(etag),
            None => put.if_none_match("*"),
        };
        match put.send().await {
            Ok(_) => Ok(BoardWrite::Written),
            Err(e) if matches!(status(&e), Some(412 | 409)) => Ok(BoardWrite::Conflict),
            Err(e) => Err(crate::failure(
                format!("PutObject s3://{}/{}", self.bucket, self.tasks_key),
                &e,
            )
            .into()),
        }
    }

    async fn record_verdict(&self, record: &VerdictRecord) -> Result<bool, BoardError> {
        let key = self.verdict_key(record);
        let body = serde_json::to_vec(record).map_err(|e| BoardError::Backend {
            source: Box::new(e),
            transient: false,
        })?;
        let out = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(&key)
            .content_type("application/json")
            .if_none_match("*")
            .body(ByteStream::from(body))
            .send()
            .await;
        match out {
            Ok(_) => Ok(true),
            Err(e) if matches!(status(&e), Some(412 | 409)) => Ok(false),
            Err(e) => {
                Err(crate::failure(format!("PutObject s3://{}/{key}", self.bucket), &e).into())
            }
        }
    }

    async fn allow_list(&self) -> Result<AllowList, BoardError> {
        let Some(key) = &self.whitelist_key else {
            return Ok(AllowList::default());
        };
        // A configured allow-list that is missing or broken stops the judge: deciding without
        // it could schedule tasks on resources the security team protected.
        match self.get(key).await? {
            Some((bytes, _)) => AllowList::parse(&bytes).map_err(|reason| BoardError::Unreadable {
                what: format!("s3://{}/{key}", self.bucket),
                reason: reason.0,
            }),
            None => Err(BoardError::Unreadable {
                what: format!("s3://{}/{key}", self.bucket),
                reason: "the configured allow-list does not exist".into(),
            }),
        }
    }

    async fn verdict(&self, key: &str) -> Result<Option<VerdictRecord>, BoardError> {
        match self.get(key).await? {
            None => Ok(None),
            Some((bytes, _)) => {
                serde_json::from_slice(&bytes)
                    .map(Some)
                    .map_err(|e| BoardError::Unreadable {
                        what: format!("s3://{}/{key}", self.bucket),
                        reason: format!("not a verdict record: {e}"),
                    })
            }
        }
    }

    async fn account_map(&self) -> Result<AccountMap, BoardError> {
        let Some(key) = &self.mapping_key else {
            return Ok(AccountMap::default());
        };
        match self.get(key).await? {
            Some((bytes, _)) => {
                AccountMap::parse(&bytes).map_err(|reason| BoardError::Unreadable {
                    what: format!("s3://{}/{key}", self.bucket),
                    reason: reason.0,
                })
            }
            None => Ok(AccountMap::default()),
        }
    }
}

/// An S3 event record whose object cannot be named.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventKeyError {
    #[error("key `{key}` is not URL-encoded UTF-8: {reason}")]
    NotUtf8 { key: String, reason: String },
    #[error("a record without an object key")]
    NoKey,
}

/// An S3 event key as it arrives: URL-encoded, with `+` for spaces.
pub fn decode_key(key: &str) -> Result<String, EventKeyError> {
    percent_encoding::percent_decode_str(&key.replace('+', " "))
        .decode_utf8()
        .map(|k| k.into_owned())
        .map_err(|e| EventKeyError::NotUtf8 {
            key: key.to_owned(),
            reason: e.to_string(),
        })
}

/// The verdict records an S3 event names (`ObjectCreated` under `prefix`, `.json`), decoded;
/// other keys are skipped with a warning, and a key that cannot be read is an error of its own.
pub fn verdict_keys(
    event: &aws_lambda_events::s3::S3Event,
    prefix: &str,
) -> Vec<Result<String, EventKeyError>> {
    let mut out = Vec::new();
    for r in &event.records {
        let key = match r.s3.object.key.as_deref() {
            Some(raw) => decode_key(raw),
            None => Err(EventKeyError::NoKey),
        };
        match key {
            Ok(k) if !k.starts_with(prefix) || !k.ends_with(".json") => {
                tracing::warn!(key = %k, "not a verdict record; ignored");
            }
            other => out.push(other),
        }
    }
    out
}
