//! `SnsOutbox`: notices published to SNS.

use aws_sdk_sns::Client;
use justice_service::{Outbox, OutboxError, SecurityAlert};

#[derive(Debug, Clone)]
pub struct SnsOutbox {
    client: Client,
    security_topic: String,
}

impl SnsOutbox {
    pub fn new(client: Client, security_topic: impl Into<String>) -> Self {
        SnsOutbox {
            client,
            security_topic: security_topic.into(),
        }
    }
}

/// SNS subjects: at most 100 printable ASCII characters, no line breaks.
pub fn sns_subject(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_graphic() || c == ' ' {
                c
            } else {
                '?'
            }
        })
        .take(100)
        .collect()
}

impl Outbox for SnsOutbox {
    async fn alert_security(&self, alert: &SecurityAlert) -> Result<(), OutboxError> {
        self.client
            .publish()
            .topic_arn(&self.security_topic)
            .subject(sns_subject(&alert.subject))
            .message(&alert.body)
            .message_attributes(
                "event",
                aws_sdk_sns::types::MessageAttributeValue::builder()
                    .data_type("String")
                    .string_value("security-alert")
                    .build()
                    .map_err(|e| OutboxError {
                        source: Box::new(e),
                    })?,
            )
            .send()
            .await
            .map(|_| ())
            .map_err(|e| OutboxError {
                source: format!("SNS Publish: {}", crate::sdk_error_detail(&e)).into(),
            })
    }
}
