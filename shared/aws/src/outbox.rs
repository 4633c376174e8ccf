//! `SnsOutbox`: notices published to SNS, with a sent log in the risk table.

use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::types::AttributeValue;
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
    /// The name prefix of the topics teams may have their notices sent to (the account
    /// mapping's `topic`), in the owner topic's account and region: what the role allows.
    team_topic_prefix: Option<String>,
    sent_log: Option<SentLog>,
}

/// A marker item per notice sent, `pk` = `justice#sent#<notice id>`, created only if absent
/// and expiring after [`SENT_TTL_DAYS`]. In the risk table rather than S3: a conditional put is
/// one write unit ($0.625 a million) where an S3 PUT and HEAD cost $5.40 a million, and the
/// markers were a sixth of the cost of a million changes. The judge's stream filter (STATE
/// items) and the re-evaluation scan (`sk` = STATE) pass them by.
#[derive(Debug, Clone)]
struct SentLog {
    dynamodb: aws_sdk_dynamodb::Client,
    table: String,
}

/// The key prefix of sent-log markers: no resource key starts with it (resource keys start
/// with a 12-digit account).
pub const SENT_PK_PREFIX: &str = "justice#sent#";
const SENT_SK: &str = "SENT";
/// Long past any retry of the invocation that sent the notice (S3 and Lambda retry for hours).
pub const SENT_TTL_DAYS: i64 = 90;

impl SentLog {
    fn key(&self, id: &str) -> [(String, AttributeValue); 2] {
        [
            (
                crate::risk_store::PK.to_owned(),
                AttributeValue::S(format!("{SENT_PK_PREFIX}{id}")),
            ),
            (
                crate::risk_store::SK.to_owned(),
                AttributeValue::S(SENT_SK.into()),
            ),
        ]
    }
}

impl SnsOutbox {
    pub fn new(client: Client, security_topic: impl Into<String>) -> Self {
        SnsOutbox {
            client,
            security_topic: security_topic.into(),
            owner_topic: None,
            team_topic_prefix: None,
            sent_log: None,
        }
    }

    /// Lets the account mapping send a team's notices to its own topic, when the topic's name
    /// starts with `prefix` and it is in the owner topic's account and region.
    pub fn with_team_topics(mut self, prefix: Option<String>) -> Self {
        self.team_topic_prefix = prefix.filter(|p| !p.is_empty());
        self
    }

    /// The topic a notice goes to: the recipient's own topic when the team topics allow it,
    /// else the owner topic (a topic the role may not publish to would fail every notice).
    fn topic_for<'a>(&'a self, wanted: Option<&'a str>) -> Option<&'a str> {
        let owner = self.owner_topic.as_deref();
        match (wanted, self.team_topic_prefix.as_deref(), owner) {
            (Some(t), Some(prefix), Some(o)) if team_topic_allowed(t, prefix, o) => Some(t),
            (Some(t), _, _) => {
                tracing::warn!(topic = %justice_core::text::quote(t, 300), "the mapping's topic is not a team topic this function may publish to (TEAM_TOPIC_PREFIX): sent to the owner topic");
                owner
            }
            (None, _, _) => owner,
        }
    }

    /// The topic owners subscribe to with filter policies.
    pub fn with_owner_topic(mut self, topic: impl Into<String>) -> Self {
        self.owner_topic = Some(topic.into());
        self
    }

    /// Where published notices are recorded (the risk table), so that a retry does not
    /// publish them again.
    pub fn with_sent_log(
        mut self,
        dynamodb: aws_sdk_dynamodb::Client,
        table: impl Into<String>,
    ) -> Self {
        self.sent_log = Some(SentLog {
            dynamodb,
            table: table.into(),
        });
        self
    }

    fn log(&self) -> Result<&SentLog, OutboxError> {
        self.sent_log
            .as_ref()
            .ok_or_else(|| OutboxError::permanent("no sent log configured"))
    }
}

/// Whether `topic` is a team topic: an SNS topic ARN in `owner`'s partition, region and
/// account whose name starts with `prefix` (the resource the template's role allows).
pub fn team_topic_allowed(topic: &str, prefix: &str, owner: &str) -> bool {
    let (Some(t), Some(o)) = (topic_parts(topic), topic_parts(owner)) else {
        return false;
    };
    (t.0, t.1, t.2) == (o.0, o.1, o.2)
        && t.3.starts_with(prefix)
        && t.3.len() <= 256
        && t.3
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// (partition, region, account, name) of an SNS topic ARN.
fn topic_parts(arn: &str) -> Option<(&str, &str, &str, &str)> {
    match arn.split(':').collect::<Vec<_>>()[..] {
        ["arn", partition, "sns", region, account, name] => {
            Some((partition, region, account, name))
        }
        _ => None,
    }
}

/// SNS subjects: at most 100 printable ASCII characters, no line breaks.
pub fn sns_subject(s: &str) -> String {
    justice_core::notice::subject(s)
}

/// `text` cut to at most `max` bytes (on a character boundary), saying so when it was: SNS
/// refuses a message over 256 KB whole, and a refused digest would be refused again at every
/// retry and every window, so nothing of it would ever reach anyone.
fn fit(text: &str, max: usize) -> std::borrow::Cow<'_, str> {
    const CUT: &str = "\n[cut: the full message exceeded SNS's 256 KB]\n";
    if text.len() <= max {
        return text.into();
    }
    let mut end = max.saturating_sub(CUT.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}{CUT}", &text[..end]).into()
}

fn string_attribute(v: &str) -> Result<MessageAttributeValue, OutboxError> {
    MessageAttributeValue::builder()
        .data_type("String")
        .string_value(v)
        .build()
        .map_err(OutboxError::permanent)
}

impl Outbox for SnsOutbox {
    async fn alert_security(&self, alert: &SecurityAlert) -> Result<(), OutboxError> {
        self.client
            .publish()
            .topic_arn(&self.security_topic)
            .subject(sns_subject(&alert.subject))
            .message(fit(&alert.body, SNS_MAX_BYTES - 4096))
            .message_attributes("event", string_attribute("security-alert")?)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| crate::failure("SNS Publish", &e).into())
    }

    async fn publish(&self, notice: &Notice) -> Result<(), OutboxError> {
        // Notices go to owners; the security team hears from `alert_security`.
        let Some(topic) = self.topic_for(notice.recipient.topic.as_deref()) else {
            return Err(OutboxError::permanent("no owner-notices topic configured"));
        };
        let mut message = notice.sns_message();
        let attrs: usize = notice
            .attributes
            .iter()
            .map(|(k, v)| k.len() + v.len() + 6)
            .sum();
        if message.len() + attrs > SNS_MAX_BYTES {
            // The renderer caps every list and value, so this is a last resort: the text alone,
            // cut in bytes to what stays under the limit once JSON-escaped (at most twice as
            // long: line breaks, quotes and backslashes take two bytes; the text holds no other
            // control character).
            let text = fit(notice.text(), SNS_MAX_BYTES.saturating_sub(attrs) / 2 - 64);
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
        publish
            .send()
            .await
            .map(|_| ())
            .map_err(|e| crate::failure(format!("SNS Publish to {topic}"), &e).into())
    }

    async fn was_sent(&self, id: &str) -> Result<bool, OutboxError> {
        let log = self.log()?;
        let out = log
            .dynamodb
            .get_item()
            .table_name(&log.table)
            .set_key(Some(log.key(id).into_iter().collect()))
            .projection_expression("#pk")
            .expression_attribute_names("#pk", crate::risk_store::PK)
            // A marker written a moment ago by a retried invocation must be seen.
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| {
                crate::failure(format!("GetItem {SENT_PK_PREFIX}{id} in {}", log.table), &e)
            })?;
        Ok(out.item.is_some())
    }

    async fn mark_sent(&self, id: &str) -> Result<bool, OutboxError> {
        let log = self.log()?;
        let expires = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0)
            + SENT_TTL_DAYS * 86_400;
        let out = log
            .dynamodb
            .put_item()
            .table_name(&log.table)
            .set_item(Some(log.key(id).into_iter().collect()))
            .item(
                crate::risk_store::EXPIRES_AT,
                AttributeValue::N(expires.to_string()),
            )
            .condition_expression("attribute_not_exists(#pk)")
            .expression_attribute_names("#pk", crate::risk_store::PK)
            .send()
            .await;
        match out {
            Ok(_) => Ok(true),
            Err(SdkError::ServiceError(s)) if s.err().is_conditional_check_failed_exception() => {
                Ok(false)
            }
            Err(e) => Err(crate::failure(
                format!("PutItem {SENT_PK_PREFIX}{id} in {}", log.table),
                &e,
            )
            .into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_team_topic_is_one_the_role_allows() {
        let owner = "arn:aws:sns:eu-west-1:111122223333:justice-owners";
        let ok = |t: &str| team_topic_allowed(t, "justice-team-", owner);
        assert!(ok(
            "arn:aws:sns:eu-west-1:111122223333:justice-team-payments"
        ));
        assert!(
            !ok("arn:aws:sns:eu-west-1:111122223333:payments"),
            "no prefix"
        );
        assert!(
            !ok("arn:aws:sns:us-east-1:111122223333:justice-team-payments"),
            "region"
        );
        assert!(
            !ok("arn:aws:sns:eu-west-1:999988887777:justice-team-payments"),
            "account"
        );
        assert!(
            !ok("arn:aws-cn:sns:eu-west-1:111122223333:justice-team-payments"),
            "partition"
        );
        assert!(
            !ok("arn:aws:sqs:eu-west-1:111122223333:justice-team-payments"),
            "service"
        );
        assert!(
            !ok("arn:aws:sns:eu-west-1:111122223333:justice-team-x:extra"),
            "segments"
        );
        assert!(
            !ok("arn:aws:sns:eu-west-1:111122223333:justice-team-x*"),
            "a pattern"
        );
        assert!(!ok("justice-team-payments"), "not an ARN");
    }

    #[test]
    fn a_message_is_cut_to_its_bytes_on_a_character_boundary() {
        assert_eq!(fit("short", 100), "short");
        // 4-byte characters: a cut by characters would still be four times the bound.
        let long = "🙂".repeat(100_000);
        let cut = fit(&long, 1000);
        assert!(cut.len() <= 1000, "{}", cut.len());
        assert!(cut.ends_with("exceeded SNS's 256 KB]\n"));
        assert!(cut.starts_with("🙂🙂"));
        let json = serde_json::json!({ "default": fit(&"\"\n".repeat(200_000), 100_000) });
        assert!(json.to_string().len() <= 200_000);
    }
}
