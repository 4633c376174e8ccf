//! Event intake: the EventBridge envelope, the SNS envelope (Lambda form and the raw body an SQS
//! or HTTP subscriber gets) and, for completeness, a custom Config rule invocation. The
//! notification inside is switched on `messageType` (FORMAT.md §1, §2, §7).

use serde_json::{Map, Value};

use crate::item::{self, ConfigItem, ItemError, ItemStatus};
use crate::json;
use crate::time::{self, Millis};

pub const CHANGE_NOTIFICATION: &str = "ConfigurationItemChangeNotification";
pub const OVERSIZED_NOTIFICATION: &str = "OversizedConfigurationItemChangeNotification";
pub const EVENTBRIDGE_DETAIL_TYPE: &str = "Config Configuration Item Change";

/// What one notification asks of the scorer.
#[derive(Debug, Clone, PartialEq)]
pub enum Notice {
    /// A full configuration item, with the notification's own time (the replay clock).
    Item { item: Box<ConfigItem>, sent: Millis },
    /// Too big to deliver: only a summary; the item is fetched through a `ConfigSource`.
    Oversized(OversizedSummary),
    /// Acknowledged and not scored, with the reason.
    Ignored { reason: String },
}

/// The metadata of an oversized item (FORMAT.md §2): enough to fetch the item.
#[derive(Debug, Clone, PartialEq)]
pub struct OversizedSummary {
    pub account: String,
    pub region: String,
    pub resource_type: String,
    pub resource_id: String,
    pub resource_name: Option<String>,
    pub arn: Option<String>,
    pub capture_time: Millis,
    pub state_id: Option<String>,
    pub status: ItemStatus,
    pub sent: Millis,
    /// `bucket/key` of the full item's copy, when Config delivered one.
    pub s3_location: Option<String>,
}

impl OversizedSummary {
    pub fn label(&self) -> String {
        match &self.arn {
            Some(arn) => arn.clone(),
            None => format!("{} {}", self.resource_type, self.resource_id),
        }
    }
}

/// An event, or one record of it, could not be taken. Never a verdict.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{subject}: {reason}")]
pub struct IntakeError {
    /// The resource if known, else which part of the event.
    pub subject: String,
    pub reason: String,
}

impl IntakeError {
    fn event(reason: impl Into<String>) -> Self {
        IntakeError {
            subject: "event".into(),
            reason: reason.into(),
        }
    }
}

impl From<ItemError> for IntakeError {
    fn from(e: ItemError) -> Self {
        IntakeError {
            subject: e.resource,
            reason: e.reason,
        }
    }
}

/// One notification's outcome; an SNS event may carry several.
pub type RecordResult = Result<Notice, IntakeError>;

/// Reads a trigger payload. The outer `Err` means the payload as a whole is not a Config event;
/// each record inside is then its own result, so one bad SNS record does not hide the others.
pub fn parse_event(bytes: &[u8]) -> Result<Vec<RecordResult>, IntakeError> {
    // Validating UTF-8 once lets serde_json skip it string by string.
    let text = std::str::from_utf8(bytes)
        .map_err(|e| IntakeError::event(format!("not JSON: not UTF-8 text: {e}")))?;
    if let Some(read) = fast::parse(text) {
        return read;
    }
    parse_event_general(text)
}

/// The general path alone, without the typed fast path: every event reads the same through both
/// (tests hold them to it).
pub fn parse_event_general(text: &str) -> Result<Vec<RecordResult>, IntakeError> {
    let v: Value =
        serde_json::from_str(text).map_err(|e| IntakeError::event(format!("not JSON: {e}")))?;
    parse_event_value(v)
}

/// Whether the typed fast path reads this event (for tests and benchmarks).
pub fn takes_fast_path(text: &str) -> bool {
    fast::parse(text).is_some()
}

/// As [`parse_event`], on a parsed payload. Takes ownership so that the configuration is moved,
/// not copied, into the item.
pub fn parse_event_value(v: Value) -> Result<Vec<RecordResult>, IntakeError> {
    let Value::Object(mut obj) = v else {
        return Err(IntakeError::event(format!(
            "is {}, not an AWS Config event",
            json::kind(&v)
        )));
    };
    if obj.contains_key("detail-type") || obj.contains_key("source") {
        return eventbridge(obj).map(|n| vec![Ok(n)]);
    }
    if let Some(records) = obj.remove("Records") {
        return sns_records(records);
    }
    if obj.get("Type").and_then(Value::as_str) == Some("Notification") {
        // The raw SNS body an SQS or HTTP subscriber receives.
        return Ok(vec![sns_message(obj.remove("Message"), "SNS message")]);
    }
    if let Some(invoking) = obj.remove("invokingEvent") {
        return Ok(vec![embedded(invoking, "Config rule invokingEvent")]);
    }
    Err(IntakeError::event(
        "not an AWS Config event: no EventBridge, SNS or Config rule envelope",
    ))
}

fn eventbridge(mut v: Map<String, Value>) -> Result<Notice, IntakeError> {
    let source = v.get("source").and_then(Value::as_str).unwrap_or("");
    let detail_type = v.get("detail-type").and_then(Value::as_str).unwrap_or("");
    if source != "aws.config" {
        return Err(IntakeError::event(format!(
            "EventBridge event from source `{source}`, not aws.config"
        )));
    }
    if detail_type != EVENTBRIDGE_DETAIL_TYPE {
        return Ok(Notice::Ignored {
            reason: format!(
                "EventBridge detail-type `{detail_type}` is not a configuration change"
            ),
        });
    }
    match v.remove("detail") {
        Some(d @ Value::Object(_)) => notification(d),
        Some(other) => Err(IntakeError::event(format!(
            "EventBridge detail is {}",
            json::kind(&other)
        ))),
        None => Err(IntakeError::event("EventBridge event has no detail")),
    }
}

fn sns_records(records: Value) -> Result<Vec<RecordResult>, IntakeError> {
    let list = match records {
        Value::Array(a) if !a.is_empty() => a,
        Value::Array(_) => return Err(IntakeError::event("Records is empty")),
        other => {
            return Err(IntakeError::event(format!(
                "Records is {}",
                json::kind(&other)
            )))
        }
    };
    Ok(list
        .into_iter()
        .enumerate()
        .map(|(i, mut r)| {
            let source = r
                .get("EventSource")
                .or_else(|| r.get("eventSource"))
                .and_then(Value::as_str);
            if source != Some("aws:sns") {
                return Err(IntakeError {
                    subject: format!("record {i}"),
                    reason: format!(
                        "event source {} is not aws:sns",
                        source.map_or("(none)".to_owned(), |s| format!("`{s}`"))
                    ),
                });
            }
            let id = r
                .pointer("/Sns/MessageId")
                .and_then(Value::as_str)
                .unwrap_or("?")
                .to_owned();
            let message = r.pointer_mut("/Sns/Message").map(Value::take);
            sns_message(message, &format!("record {i} (SNS message {id})"))
        })
        .collect())
}

fn sns_message(message: Option<Value>, what: &str) -> RecordResult {
    match message {
        Some(m) => embedded(m, what),
        None => Err(IntakeError {
            subject: what.to_owned(),
            reason: "has no Message".into(),
        }),
    }
}

/// A notification carried as a JSON string (SNS `Message`, rule `invokingEvent`). The AWS docs
/// print it as an object; accept that too.
fn embedded(v: Value, what: &str) -> RecordResult {
    let fail = |reason: String| IntakeError {
        subject: what.to_owned(),
        reason,
    };
    match v {
        Value::String(s) => match serde_json::from_str::<Value>(&s) {
            Ok(n @ Value::Object(_)) => notification(n),
            Ok(other) => Err(fail(format!("message holds {}", json::kind(&other)))),
            Err(e) => Err(fail(format!("message is not JSON: {e}"))),
        },
        n @ Value::Object(_) => notification(n),
        other => Err(fail(format!("message is {}", json::kind(&other)))),
    }
}

/// The notification object (EventBridge `detail` / parsed SNS `Message`).
pub fn notification(mut n: Value) -> RecordResult {
    let message_type = match n.get("messageType") {
        Some(Value::String(s)) => s.clone(),
        _ => return Err(IntakeError::event("notification has no messageType")),
    };
    let sent = sent_time(&n);
    let item = n.get_mut("configurationItem").map(Value::take);
    let summary = n.get("configurationItemSummary");
    dispatch(&message_type, sent, item, summary)
}

/// What a notification asks, from its parts: shared by the fast typed path and the general one
/// so both decide alike.
fn dispatch(
    message_type: &str,
    sent: Option<Millis>,
    item: Option<Value>,
    summary: Option<&Value>,
) -> RecordResult {
    match message_type {
        CHANGE_NOTIFICATION => {
            let ci = item.ok_or_else(|| {
                IntakeError::event("change notification has no configurationItem")
            })?;
            let item = ConfigItem::from_notification(ci)?;
            let sent = sent.unwrap_or(item.capture_time);
            if item.status == ItemStatus::ResourceNotRecorded {
                return Ok(Notice::Ignored {
                    reason: format!(
                        "{}: ResourceNotRecorded, Config holds no configuration to score",
                        item.label()
                    ),
                });
            }
            Ok(Notice::Item {
                item: Box::new(item),
                sent,
            })
        }
        OVERSIZED_NOTIFICATION => {
            let summary = summary.ok_or_else(|| {
                IntakeError::event("oversized notification has no configurationItemSummary")
            })?;
            oversized(summary, sent).map(Notice::Oversized)
        }
        other => Ok(Notice::Ignored {
            reason: format!("message type `{other}` carries no configuration item"),
        }),
    }
}

fn sent_time(n: &Value) -> Option<Millis> {
    n.get("notificationCreationTime")
        .and_then(Value::as_str)
        .and_then(time::parse_rfc3339)
}

/// The common shapes read straight into types: the parts no rule reads (`configurationItemDiff`,
/// which is often as big as the item, the SNS attributes) are skipped without being built. Any
/// surprise — a missing or mistyped field, a duplicate key, another envelope — returns `None`
/// and the general path, which words every error, reads the event again.
mod fast {
    use serde::Deserialize;
    use serde_json::value::RawValue;
    use serde_json::Value;

    use super::{dispatch, IntakeError, RecordResult, EVENTBRIDGE_DETAIL_TYPE};
    use crate::time;

    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Notification {
        message_type: String,
        notification_creation_time: Option<String>,
        // A present `null` stays `Some(Null)`, as in the general path: it is an item that is
        // null, not a missing item.
        #[serde(default, deserialize_with = "present")]
        configuration_item: Option<Value>,
        #[serde(default, deserialize_with = "present")]
        configuration_item_summary: Option<Value>,
    }

    fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Value>, D::Error> {
        Value::deserialize(d).map(Some)
    }

    impl Notification {
        fn dispatch(self) -> Option<RecordResult> {
            let sent = match &self.notification_creation_time {
                Some(t) => Some(time::parse_rfc3339(t)?),
                None => None,
            };
            Some(dispatch(
                &self.message_type,
                sent,
                self.configuration_item,
                self.configuration_item_summary.as_ref(),
            ))
        }
    }

    // Nested objects are read through `Obj` (or taken raw and read by `object`): serde's derived
    // structs also accept a JSON array (fields by position), which the general path rightly
    // refuses.
    #[derive(Deserialize)]
    struct Event<'a> {
        source: Option<&'a str>,
        #[serde(rename = "detail-type")]
        detail_type: Option<&'a str>,
        // Read in the same pass as the envelope: taking it raw first scanned it twice.
        detail: Option<Obj<Notification>>,
        #[serde(rename = "Records", borrow)]
        records: Option<Vec<&'a RawValue>>,
    }

    /// `T` read from a JSON object only, never from an array.
    struct Obj<T>(T);

    impl<'de, T: Deserialize<'de>> Deserialize<'de> for Obj<T> {
        fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            struct Visit<T>(std::marker::PhantomData<T>);
            impl<'de, T: Deserialize<'de>> serde::de::Visitor<'de> for Visit<T> {
                type Value = Obj<T>;
                fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                    f.write_str("an object")
                }
                fn visit_map<A: serde::de::MapAccess<'de>>(
                    self,
                    map: A,
                ) -> Result<Obj<T>, A::Error> {
                    T::deserialize(serde::de::value::MapAccessDeserializer::new(map)).map(Obj)
                }
            }
            d.deserialize_map(Visit(std::marker::PhantomData))
        }
    }

    #[derive(Deserialize)]
    struct SnsRecord<'a> {
        #[serde(rename = "EventSource")]
        event_source: String,
        #[serde(rename = "Sns", borrow)]
        sns: &'a RawValue,
    }

    /// `T` from a JSON object, never from an array.
    fn object<'a, T: Deserialize<'a>>(text: &'a str) -> Option<T> {
        if !text.trim_start().starts_with('{') {
            return None;
        }
        serde_json::from_str(text).ok()
    }

    #[derive(Deserialize)]
    struct Sns {
        #[serde(rename = "Message")]
        message: String,
    }

    /// As the general path: an EventBridge event is one notification, so its error is the
    /// event's; SNS records succeed or fail one by one.
    pub(super) fn parse(text: &str) -> Option<Result<Vec<RecordResult>, IntakeError>> {
        let event: Event = object(text)?;
        match event {
            Event {
                source: Some("aws.config"),
                detail_type: Some(EVENTBRIDGE_DETAIL_TYPE),
                detail: Some(Obj(detail)),
                records: None,
            } => Some(detail.dispatch()?.map(|n| vec![Ok(n)])),
            Event {
                source: None,
                detail_type: None,
                detail: None,
                records: Some(records),
            } if !records.is_empty() => records
                .into_iter()
                .map(|r| {
                    let r: SnsRecord = object(r.get())?;
                    if r.event_source != "aws:sns" {
                        return None;
                    }
                    let sns: Sns = object(r.sns.get())?;
                    object::<Notification>(&sns.message)?.dispatch()
                })
                .collect::<Option<_>>()
                .map(Ok),
            _ => None,
        }
    }
}

fn oversized(s: &Value, sent: Option<Millis>) -> Result<OversizedSummary, IntakeError> {
    let label = item::label_of(s);
    let fail = |reason: String| IntakeError {
        subject: label.clone(),
        reason,
    };
    let text = |k: &str| -> Result<Option<String>, IntakeError> {
        json::opt_str(s.get(k), k)
            .map(|o| o.filter(|x| !x.is_empty()).map(str::to_owned))
            .map_err(|e| fail(e.to_string()))
    };
    let need = |k: &str| -> Result<String, IntakeError> {
        text(k)?.ok_or_else(|| fail(format!("oversized summary has no `{k}`")))
    };
    let capture = need("configurationItemCaptureTime")?;
    let capture_time = time::parse_rfc3339(&capture).ok_or_else(|| {
        fail(format!(
            "configurationItemCaptureTime `{capture}` is not an RFC 3339 time"
        ))
    })?;
    let status_text = need("configurationItemStatus")?;
    let status = ItemStatus::parse(&status_text)
        .ok_or_else(|| fail(format!("unknown configurationItemStatus `{status_text}`")))?;
    let state_id = match s.get("configurationStateId") {
        Some(Value::Number(n)) => Some(n.to_string()),
        Some(Value::String(x)) if !x.is_empty() => Some(x.clone()),
        _ => None,
    };
    let (account, region) = (need("awsAccountId")?, need("awsRegion")?);
    let (resource_type, resource_id) = (need("resourceType")?, need("resourceId")?);
    let (resource_name, arn) = (text("resourceName")?, text("ARN")?);
    let who = crate::identity::Named {
        account: &account,
        region: &region,
        resource_type: &resource_type,
        resource_id: &resource_id,
        resource_name: resource_name.as_deref(),
    };
    item::check_identity("awsAccountId", &who, arn.as_deref()).map_err(|e| fail(e.to_string()))?;
    Ok(OversizedSummary {
        account,
        region,
        resource_type,
        resource_id,
        resource_name,
        arn,
        capture_time,
        state_id,
        status,
        sent: sent.unwrap_or(capture_time),
        s3_location: s
            .pointer("/s3DeliverySummary/s3BucketLocation")
            .and_then(Value::as_str)
            .map(str::to_owned),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn foreign_envelopes_are_errors() {
        let e = parse_event(br#"{"source":"aws.ec2","detail-type":"x","detail":{}}"#);
        assert!(e.is_err());
        assert!(parse_event(br#"{"hello":"world"}"#).is_err());
        assert!(parse_event(b"[1,2]").is_err());
        assert!(parse_event(b"{\"Records\":[]}").is_err());
    }

    #[test]
    fn other_config_detail_types_are_ignored_with_a_reason() {
        let v = json!({"source": "aws.config", "detail-type": "Config Rules Compliance Change", "detail": {}});
        let out = parse_event_value(v).expect("envelope");
        assert!(matches!(&out[0], Ok(Notice::Ignored { reason }) if reason.contains("Compliance")));
    }

    #[test]
    fn one_bad_sns_record_does_not_hide_the_others() {
        let good = json!({"messageType": "ConfigurationSnapshotDeliveryCompleted"}).to_string();
        let v = json!({"Records": [
            {"EventSource": "aws:sns", "Sns": {"MessageId": "m1", "Message": good}},
            {"EventSource": "aws:sns", "Sns": {"MessageId": "m2", "Message": "{truncated"}},
            {"EventSource": "aws:sqs", "body": "x"}
        ]});
        let out = parse_event_value(v).expect("envelope");
        assert!(matches!(out[0], Ok(Notice::Ignored { .. })));
        assert!(matches!(&out[1], Err(e) if e.subject.contains("m2")));
        assert!(matches!(&out[2], Err(e) if e.reason.contains("aws:sqs")));
    }
}
