//! `SnsOutbox`: notices published to SNS, with a sent log in S3.

use aws_sdk_s3::error::SdkError;
use aws_sdk_sns::types::MessageAttributeValue;
use aws_sdk_sns::Client;
use justice_core::notice::Notice;
use justice_service::{Outbox, OutboxError, SecurityAlert};

/// SNS's limit on a message with its attributes.
const SNS_MAX_BYTES: usize = 256 * 1024;

#[derive(Debug, Clone)]
pub struct SnsOutbox {
    client: Client,
    security_topic: String,
    owner_topic: Option<String>,
    sent_log: Option<SentLog>,
}

/// Markers `<prefix><notice id>` created with `If-None-Match: *`.
#[derive(Debug, Clone)]
struct SentLog {
    s3: aws_sdk_s3::Client,
    bucket: String,
    prefix: String,
}

fn failed(what: String) -> OutboxError {
    OutboxError {
        source: what.into(),
    }
}

impl SnsOutbox {
    pub fn new(client: Client, security_topic: impl Into<String>) -> Self {
        SnsOutbox {
            client,
            security_topic: security_topic.into(),
            owner_topic: None,
            sent_log: None,
        }
    }

    /// The topic owners subscribe to with filter policies.
    pub fn with_owner_topic(mut self, topic: impl Into<String>) -> Self {
        self.owner_topic = Some(topic.into());
        self
    }

    /// Where published notices are recorded, so that a retry does not publish them again.
    pub fn with_sent_log(
        mut self,
        s3: aws_sdk_s3::Client,
        bucket: impl Into<String>,
        prefix: impl Into<String>,
    ) -> Self {
        self.sent_log = Some(SentLog {
            s3,
            bucket: bucket.into(),
            prefix: prefix.into(),
        });
        self
    }

    fn log(&self) -> Result<&SentLog, OutboxError> {
        self.sent_log
            .as_ref()
            .ok_or_else(|| failed("no sent log configured".into()))
    }
}

/// SNS subjects: at most 100 printable ASCII characters, no line breaks.
pub fn sns_subject(s: &str) -> String {
    justice_core::notice::subject(s)
}

fn string_attribute(v: &str) -> Result<MessageAttributeValue, OutboxError> {
    MessageAttributeValue::builder()
        .data_type("String")
        .string_value(v)
        .build()
        .map_err(|e| OutboxError {
            source: Box::new(e),
        })
}

impl Outbox for SnsOutbox {
    async fn alert_security(&self, alert: &SecurityAlert) -> Result<(), OutboxError> {
        self.client
            .publish()
            .topic_arn(&self.security_topic)
            .subject(sns_subject(&alert.subject))
            .message(&alert.body)
            .message_attributes("event", string_attribute("security-alert")?)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| failed(format!("SNS Publish: {}", crate::sdk_error_detail(&e))))
    }

    async fn publish(&self, notice: &Notice) -> Result<(), OutboxError> {
        let topic = if notice.to_security {
            &self.security_topic
        } else {
            match (&notice.recipient.topic, &self.owner_topic) {
                (Some(t), _) | (None, Some(t)) => t,
                (None, None) => return Err(failed("no owner-notices topic configured".into())),
            }
        };
        let mut message = notice.sns_message();
        let attrs: usize = notice
            .attributes
            .iter()
            .map(|(k, v)| k.len() + v.len() + 6)
            .sum();
        if message.len() + attrs > SNS_MAX_BYTES {
            // The renderer caps every list and value, so this is a last resort: the text alone.
            let mut text: String = notice.text.chars().take(150_000).collect();
            text.push_str("\n[cut: the full notice exceeded SNS's 256 KB]\n");
            message = serde_json::json!({ "default": text }).to_string();
        }
        let mut publish = self
            .client
            .publish()
            .topic_arn(topic)
            .subject(sns_subject(&notice.subject))
            .message_structure("json")
            .message(message);
        for (k, v) in &notice.attributes {
            publish = publish.message_attributes(k, string_attribute(v)?);
        }
        publish.send().await.map(|_| ()).map_err(|e| {
            failed(format!(
                "SNS Publish to {topic}: {}",
                crate::sdk_error_detail(&e)
            ))
        })
    }

    async fn was_sent(&self, id: &str) -> Result<bool, OutboxError> {
        let log = self.log()?;
        let key = format!("{}{id}", log.prefix);
        match log
            .s3
            .head_object()
            .bucket(&log.bucket)
            .key(&key)
            .send()
            .await
        {
            Ok(_) => Ok(true),
            Err(SdkError::ServiceError(s)) if s.err().is_not_found() => Ok(false),
            Err(e) => Err(failed(format!(
                "HeadObject s3://{}/{key}: {}",
                log.bucket,
                crate::sdk_error_detail(&e)
            ))),
        }
    }

    async fn mark_sent(&self, id: &str) -> Result<bool, OutboxError> {
        let log = self.log()?;
        let key = format!("{}{id}", log.prefix);
        let out = log
            .s3
            .put_object()
            .bucket(&log.bucket)
            .key(&key)
            .if_none_match("*")
            .body(Vec::new().into())
            .send()
            .await;
        match out {
            Ok(_) => Ok(true),
            Err(SdkError::ServiceError(s)) if matches!(s.raw().status().as_u16(), 412 | 409) => {
                Ok(false)
            }
            Err(e) => Err(failed(format!(
                "PutObject s3://{}/{key}: {}",
                log.bucket,
                crate::sdk_error_detail(&e)
            ))),
        }
    }
}
