//! The configuration item: one recorded state of one AWS resource, read from the notification
//! shape (EventBridge / SNS) or the API shape (`GetResourceConfigHistory`), FORMAT.md §3 and §6.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::identity::{self, IdentityError, Named};
use crate::json::{self, FieldError};
use crate::time::{self, Millis};
use crate::{refuse, Refused};

/// A configuration item could not be read; it never produces a verdict.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{resource}: {reason}")]
pub struct ItemError {
    /// The best name known for the resource (ARN, else type and id, else "unknown resource").
    pub resource: String,
    pub reason: String,
}

impl ItemError {
    pub fn new(resource: impl Into<String>, reason: impl Into<String>) -> Self {
        ItemError {
            resource: resource.into(),
            reason: reason.into(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum ItemStatus {
    Ok,
    ResourceDiscovered,
    ResourceNotRecorded,
    ResourceDeleted,
    ResourceDeletedNotRecorded,
}

impl ItemStatus {
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "OK" => ItemStatus::Ok,
            "ResourceDiscovered" => ItemStatus::ResourceDiscovered,
            "ResourceNotRecorded" => ItemStatus::ResourceNotRecorded,
            "ResourceDeleted" => ItemStatus::ResourceDeleted,
            "ResourceDeletedNotRecorded" => ItemStatus::ResourceDeletedNotRecorded,
            _ => return None,
        })
    }

    /// As AWS Config writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            ItemStatus::Ok => "OK",
            ItemStatus::ResourceDiscovered => "ResourceDiscovered",
            ItemStatus::ResourceNotRecorded => "ResourceNotRecorded",
            ItemStatus::ResourceDeleted => "ResourceDeleted",
            ItemStatus::ResourceDeletedNotRecorded => "ResourceDeletedNotRecorded",
        }
    }

    /// The resource's life has ended: its findings and tasks go.
    pub fn is_deletion(self) -> bool {
        matches!(
            self,
            ItemStatus::ResourceDeleted | ItemStatus::ResourceDeletedNotRecorded
        )
    }
}

/// What the item says about tags. Config does not record tags for every type, and an item whose
/// tags cannot be read must not look untagged: only `Recorded` feeds the tag rules.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Tags {
    Recorded(BTreeMap<String, String>),
    NotRecorded,
    Unreadable(String),
}

impl Tags {
    pub fn recorded(&self) -> Option<&BTreeMap<String, String>> {
        match self {
            Tags::Recorded(t) => Some(t),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Relationship {
    pub resource_type: String,
    pub resource_id: Option<String>,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ConfigItem {
    pub account: String,
    pub region: String,
    pub resource_type: String,
    pub resource_id: String,
    pub resource_name: Option<String>,
    pub arn: Option<String>,
    pub capture_time: Millis,
    /// Kept as text: a number in notifications, a string in the API shape.
    pub state_id: String,
    pub status: ItemStatus,
    pub tags: Tags,
    pub relationships: Vec<Relationship>,
    /// False when the item carries no `relationships` at all (`BatchGetResourceConfig` items):
    /// unknown, which is not "attached to nothing".
    pub relationships_known: bool,
    /// `None` when Config recorded no configuration (deletions).
    pub configuration: Option<Value>,
    pub supplementary: Map<String, Value>,
    /// Content digest of the whole item, independent of key order: a redelivery (same item
    /// through EventBridge and SNS, or twice) has the same digest.
    pub digest: u64,
}

/// Which spelling of the item to read (FORMAT.md §6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    Notification,
    Api,
}

impl Shape {
    fn account(self) -> &'static str {
        match self {
            Shape::Notification => "awsAccountId",
            Shape::Api => "accountId",
        }
    }
    fn arn(self) -> &'static str {
        match self {
            Shape::Notification => "ARN",
            Shape::Api => "arn",
        }
    }
}

/// A name for a resource in error messages, from whatever an item or summary holds.
pub fn label_of(v: &Value) -> String {
    let s = |k: &str| v.get(k).and_then(Value::as_str);
    if let Some(arn) = s("ARN").or_else(|| s("arn")) {
        return arn.to_owned();
    }
    match (s("resourceType"), s("resourceId")) {
        (Some(t), Some(id)) => format!("{t} {id}"),
        (None, Some(id)) => id.to_owned(),
        _ => "unknown resource".to_owned(),
    }
}

impl ConfigItem {
    /// Reads the `configurationItem` of a change notification.
    pub fn from_notification(v: Value) -> Result<Self, ItemError> {
        Self::read(v, Shape::Notification)
    }

    /// Reads one item as `GetResourceConfigHistory` / `BatchGetResourceConfig` return it.
    pub fn from_api(v: Value) -> Result<Self, ItemError> {
        Self::read(v, Shape::Api)
    }

    /// A name for this resource in messages: the ARN, else type and id.
    pub fn label(&self) -> String {
        match &self.arn {
            Some(arn) => arn.clone(),
            None => format!("{} {}", self.resource_type, self.resource_id),
        }
    }

    fn read(v: Value, shape: Shape) -> Result<Self, ItemError> {
        let label = label_of(&v);
        let digest = digest(&v);
        let err = |reason: String| ItemError::new(label.clone(), reason);
        let field = |e: FieldError| ItemError::new(label.clone(), e.to_string());
        let Value::Object(mut obj) = v else {
            return Err(err(format!("configuration item is {}", json::kind(&v))));
        };

        let required = |key: &str| -> Result<String, ItemError> {
            match json::opt_str(obj.get(key), key).map_err(field)? {
                Some(s) if !s.is_empty() => Ok(s.to_owned()),
                _ => Err(err(format!("missing `{key}`"))),
            }
        };
        let resource_type = required("resourceType")?;
        let resource_id = required("resourceId")?;
        let account = required(shape.account())?;
        let region = required("awsRegion")?;
        let status_text = required("configurationItemStatus")?;
        let status = ItemStatus::parse(&status_text)
            .ok_or_else(|| err(format!("unknown configurationItemStatus `{status_text}`")))?;
        let capture_time =
            capture_time(obj.get("configurationItemCaptureTime")).map_err(|e| err(e.0))?;
        let state_id = state_id(obj.get("configurationStateId")).map_err(&err)?;
        let resource_name = json::opt_str(obj.get("resourceName"), "resourceName")
            .map_err(field)?
            .filter(|s| !s.is_empty())
            .map(str::to_owned);
        let arn = json::opt_str(obj.get(shape.arn()), shape.arn())
            .map_err(field)?
            .filter(|s| !s.is_empty())
            .map(str::to_owned);
        let who = Named {
            account: &account,
            region: &region,
            resource_type: &resource_type,
            resource_id: &resource_id,
            resource_name: resource_name.as_deref(),
        };
        check_identity(shape.account(), &who, arn.as_deref()).map_err(|e| err(e.to_string()))?;

        let relationships_known = obj.get("relationships").is_some_and(|r| !r.is_null());
        let relationships = relationships(obj.get("relationships")).map_err(&err)?;
        let configuration = configuration(obj.remove("configuration")).map_err(&err)?;
        let supplementary =
            supplementary(obj.remove("supplementaryConfiguration"), shape).map_err(&err)?;
        let tags = read_tags(obj.get("tags"), configuration.as_ref(), &supplementary);

        Ok(ConfigItem {
            account,
            region,
            resource_type,
            resource_id,
            resource_name,
            arn,
            capture_time,
            state_id,
            status,
            tags,
            relationships,
            relationships_known,
            configuration,
            supplementary,
            digest,
        })
    }

    /// How complete this copy of the item is: tags recorded, relationships known. Two copies of
    /// one item (the event's and the one a back-fill reads, which has neither) are one item, and
    /// the richer is kept.
    pub fn rank(&self) -> u8 {
        u8::from(matches!(self.tags, Tags::Recorded(_))) * 2 + u8::from(self.relationships_known)
    }

    /// A top-level key of `configuration`, if there is a configuration.
    pub fn config(&self, key: &str) -> Option<&Value> {
        self.configuration.as_ref().and_then(|c| c.get(key))
    }
}

/// The identity an item (or an oversized summary) claims, checked before anything is read
/// from it: it decides which resource's records and tasks the item may touch.
pub fn check_identity(
    account_field: &'static str,
    who: &Named<'_>,
    arn: Option<&str>,
) -> Result<(), IdentityError> {
    identity::check_account(account_field, who.account)?;
    identity::check_region("awsRegion", who.region)?;
    identity::check_resource_type(who.resource_type)?;
    identity::check_text("resourceId", who.resource_id, identity::MAX_ID)?;
    if let Some(name) = who.resource_name {
        identity::check_text("resourceName", name, identity::MAX_NAME)?;
    }
    if let Some(arn) = arn {
        identity::check_config_arn(arn, who)?;
    }
    Ok(())
}

fn capture_time(v: Option<&Value>) -> Result<Millis, Refused> {
    match v {
        Some(Value::String(s)) => time::parse_rfc3339(s).ok_or_else(|| {
            format!("configurationItemCaptureTime `{s}` is not an RFC 3339 time").into()
        }),
        // The API's wire form: epoch seconds, possibly fractional.
        Some(Value::Number(n)) => match n.as_f64() {
            Some(secs) if secs.is_finite() && secs > 0.0 && secs < 1.0e11 => {
                Ok((secs * 1000.0).round() as Millis)
            }
            _ => refuse(format!(
                "configurationItemCaptureTime {n} is not an epoch time"
            )),
        },
        None | Some(Value::Null) => refuse("missing `configurationItemCaptureTime`"),
        Some(other) => refuse(format!(
            "configurationItemCaptureTime is {}",
            json::kind(other)
        )),
    }
}

fn relationships(v: Option<&Value>) -> Result<Vec<Relationship>, String> {
    let list = json::opt_array(v, "relationships").map_err(|e| e.to_string())?;
    let mut out = Vec::with_capacity(list.len());
    for (i, r) in list.iter().enumerate() {
        let o = r
            .as_object()
            .ok_or_else(|| format!("relationships[{i}] is {}", json::kind(r)))?;
        let s = |k: &str| o.get(k).and_then(Value::as_str).map(str::to_owned);
        let resource_type =
            s("resourceType").ok_or_else(|| format!("relationships[{i}] has no resourceType"))?;
        out.push(Relationship {
            resource_type,
            resource_id: s("resourceId"),
            name: s("name")
                .or_else(|| s("relationshipName"))
                .unwrap_or_default(),
        });
    }
    Ok(out)
}

/// `configurationStateId`: a whole number (the notification shape) or a non-empty string (the
/// API shape), as text.
fn state_id(v: Option<&Value>) -> Result<String, String> {
    Ok(match v {
        Some(Value::Number(n)) if n.is_u64() => n.to_string(),
        Some(Value::Number(n)) => match json::opt_int(Some(&Value::Number(n.clone())), "") {
            Ok(Some(i)) if i >= 0 => i.to_string(),
            _ => return Err(format!("configurationStateId {n} is not a whole number")),
        },
        Some(Value::String(s)) if !s.is_empty() => s.clone(),
        None | Some(Value::Null) => return Err("missing `configurationStateId`".into()),
        Some(other) => {
            return Err(format!(
                "configurationStateId is {}, expected a number",
                json::kind(other)
            ))
        }
    })
}

/// The item's configuration: an object, a string holding one (the API shape), or none.
fn configuration(v: Option<Value>) -> Result<Option<Value>, String> {
    Ok(match v {
        None | Some(Value::Null) => None,
        Some(c @ Value::Object(_)) => Some(c),
        Some(Value::String(s)) => match serde_json::from_str::<Value>(&s) {
            Ok(Value::Null) => None,
            Ok(c @ Value::Object(_)) => Some(c),
            _ => return Err("configuration is a string that is not a JSON object".into()),
        },
        Some(other) => {
            return Err(format!("configuration is {}", json::kind(&other)));
        }
    })
}

/// The supplementary configuration; in the API shape every value is a JSON string, decoded
/// once here.
fn supplementary(v: Option<Value>, shape: Shape) -> Result<Map<String, Value>, String> {
    Ok(match v {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(m)) => match shape {
            Shape::Notification => m,
            // Every value is a JSON string in the API shape; decode them once here.
            Shape::Api => m
                .into_iter()
                .map(|(k, v)| {
                    let d = json::decoded(&v).into_owned();
                    (k, d)
                })
                .collect(),
        },
        Some(other) => {
            return Err(format!(
                "supplementaryConfiguration is {}",
                json::kind(&other)
            ))
        }
    })
}

fn read_tags(
    top: Option<&Value>,
    configuration: Option<&Value>,
    supp: &Map<String, Value>,
) -> Tags {
    match top {
        Some(Value::Object(m)) => return tags_from_map(m),
        Some(Value::Null) | None => {}
        Some(other) => return Tags::Unreadable(format!("tags is {}", json::kind(other))),
    }
    // Some types keep tags only inside their configuration (FORMAT.md §5, "Tags").
    let candidates = [
        configuration.and_then(|c| c.get("tags")),
        configuration.and_then(|c| c.get("Tags")),
        configuration.and_then(|c| c.get("FileSystemTags")),
        supp.get("Tags"),
    ];
    match candidates.into_iter().flatten().find(|v| !v.is_null()) {
        Some(Value::Object(m)) => tags_from_map(m),
        Some(Value::Array(list)) => tags_from_list(list),
        Some(other) => Tags::Unreadable(format!("tags are {}", json::kind(other))),
        None => Tags::NotRecorded,
    }
}

fn tags_from_map(m: &Map<String, Value>) -> Tags {
    let mut out = BTreeMap::new();
    for (k, v) in m {
        match v {
            Value::String(s) => {
                out.insert(k.clone(), s.clone());
            }
            other => {
                return Tags::Unreadable(format!("tag `{k}` is {}", json::kind(other)));
            }
        }
    }
    Tags::Recorded(out)
}

fn tags_from_list(list: &[Value]) -> Tags {
    let mut out = BTreeMap::new();
    for t in list {
        let get = |a: &str, b: &str| t.get(a).or_else(|| t.get(b));
        match (get("key", "Key"), get("value", "Value")) {
            (Some(Value::String(k)), Some(Value::String(v))) => {
                out.insert(k.clone(), v.clone());
            }
            (Some(Value::String(k)), None | Some(Value::Null)) => {
                out.insert(k.clone(), String::new());
            }
            _ => return Tags::Unreadable("a tag entry has no string key and value".into()),
        }
    }
    Tags::Recorded(out)
}

/// A 64-bit hash over a canonical walk of the JSON (object keys sorted), so key order and the
/// envelope do not change the digest. It is part of stored history keys: its definition below is
/// fixed, not left to a library's choice of hash.
pub fn digest(v: &Value) -> u64 {
    let mut h = Mix(0xcbf2_9ce4_8422_2325);
    walk(v, &mut h);
    h.0
}

/// The same fixed hash over a sequence of strings (each one length-delimited): stable ids
/// (Krampus task ids, verdict ids) that must not change between builds.
pub fn hash_parts(parts: &[&str]) -> u64 {
    let mut h = Mix(0xcbf2_9ce4_8422_2325);
    for p in parts {
        h.word(p.len() as u64);
        h.bytes(p.as_bytes());
    }
    h.0
}

/// Word-at-a-time multiply-xorshift: eight bytes per multiply where FNV-1a spends one each.
struct Mix(u64);

impl Mix {
    const K: u64 = 0x9e37_79b9_7f4a_7c15;

    fn word(&mut self, w: u64) {
        self.0 = (self.0 ^ w).wrapping_mul(Self::K);
        self.0 ^= self.0 >> 32;
    }

    /// One byte, as `bytes(&[b])` hashes it (the tail's length in the top byte).
    fn tag(&mut self, b: u8) {
        self.word(u64::from(b) | 1 << 56);
    }

    /// Eight bytes, as `bytes(&x.to_le_bytes())` hashes them.
    fn u64(&mut self, x: u64) {
        self.word(x);
    }

    fn bytes(&mut self, b: &[u8]) {
        let mut chunks = b.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            self.word(u64::from_le_bytes(w));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut w = [0u8; 8];
            w[..rest.len()].copy_from_slice(rest);
            // The tail's length is in its top byte so that "a" and "a\0" differ.
            w[7] ^= rest.len() as u8;
            self.word(u64::from_le_bytes(w));
        }
    }
}

/// Whether serde_json's maps iterate in key order: they are B-trees unless a crate of the build
/// turns on serde_json's `preserve_order` (feature unification can do that from afar), so this
/// is asked once of a map, not assumed.
fn maps_iterate_sorted() -> bool {
    static SORTED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *SORTED.get_or_init(|| {
        let mut m = serde_json::Map::new();
        m.insert("b".into(), Value::Null);
        m.insert("a".into(), Value::Null);
        m.keys().map(String::as_str).eq(["a", "b"])
    })
}

fn walk(v: &Value, h: &mut Mix) {
    match v {
        Value::Null => h.tag(b'n'),
        Value::Bool(b) => h.tag(if *b { b't' } else { b'f' }),
        Value::Number(n) => {
            h.tag(b'#');
            if let Some(i) = n.as_i64() {
                h.u64(i as u64);
            } else if let Some(u) = n.as_u64() {
                h.u64(u);
            } else {
                h.u64(n.as_f64().unwrap_or(0.0).to_bits());
            }
        }
        Value::String(s) => {
            h.tag(b'"');
            h.u64(s.len() as u64);
            h.bytes(s.as_bytes());
        }
        Value::Array(a) => {
            h.tag(b'[');
            for x in a {
                walk(x, h);
            }
            h.tag(b']');
        }
        Value::Object(m) => {
            h.tag(b'{');
            // serde_json's map iterates in key order unless its `preserve_order` feature is on;
            // sort only when it is not already sorted.
            if maps_iterate_sorted() || m.keys().is_sorted() {
                for (k, x) in m {
                    entry(k, x, h);
                }
            } else {
                let mut keys: Vec<(&String, &Value)> = m.iter().collect();
                keys.sort_unstable_by(|a, b| a.0.cmp(b.0));
                for (k, x) in keys {
                    entry(k, x, h);
                }
            }
            h.tag(b'}');
        }
    }
}

fn entry(k: &str, x: &Value, h: &mut Mix) {
    h.u64(k.len() as u64);
    h.bytes(k.as_bytes());
    walk(x, h);
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn minimal() -> Value {
        json!({
            "configurationItemCaptureTime": "2020-10-06T22:39:22.579Z",
            "configurationStateId": 1602023962579u64,
            "awsAccountId": "123456789012",
            "configurationItemStatus": "OK",
            "resourceType": "AWS::EC2::Volume",
            "resourceId": "vol-1",
            "ARN": "arn:aws:ec2:us-east-1:123456789012:volume/vol-1",
            "awsRegion": "us-east-1",
            "tags": {"owner": "alice"},
            "relationships": [],
            "configuration": {"encrypted": true},
            "supplementaryConfiguration": {}
        })
    }

    #[test]
    fn reads_a_minimal_item() {
        let item = ConfigItem::from_notification(minimal()).expect("item");
        assert_eq!(item.state_id, "1602023962579");
        assert_eq!(item.capture_time, 1_602_023_962_579);
        assert_eq!(item.tags.recorded().map(|t| t.len()), Some(1));
    }

    #[test]
    fn an_unparsable_capture_time_is_an_error_naming_the_resource() {
        let mut v = minimal();
        v["configurationItemCaptureTime"] = json!("2020-13-45 noon");
        let e = ConfigItem::from_notification(v.clone()).expect_err("must refuse");
        assert!(e.resource.contains("vol-1"), "{e}");
        assert!(e.reason.contains("configurationItemCaptureTime"), "{e}");
    }

    #[test]
    fn absent_tags_are_not_recorded_and_bad_tags_unreadable() {
        let mut v = minimal();
        v.as_object_mut().map(|o| o.remove("tags"));
        let item = ConfigItem::from_notification(v.clone()).expect("item");
        assert_eq!(item.tags, Tags::NotRecorded);
        v["tags"] = json!({"owner": 7});
        let item = ConfigItem::from_notification(v.clone()).expect("item");
        assert!(matches!(item.tags, Tags::Unreadable(_)));
    }

    #[test]
    fn digest_ignores_key_order() {
        let a = json!({"a": 1, "b": [true, null, "x"]});
        let b: Value =
            serde_json::from_str(r#"{"b": [true, null, "x"], "a": 1}"#).unwrap_or_default();
        assert_eq!(digest(&a), digest(&b));
        assert_ne!(digest(&a), digest(&json!({"a": 2, "b": [true, null, "x"]})));
    }
}

#[cfg(test)]
mod digest_pin {
    use super::*;

    /// The digest is stored with every history record (it tells a redelivery from another
    /// item): its value for a given item must not change between builds.
    #[test]
    fn the_digest_of_an_item_is_what_it_was() {
        let v = serde_json::json!({
            "a": null, "b": true, "c": false, "d": -12, "e": 18446744073709551615u64,
            "f": 1.5, "g": "", "h": "x", "i": "0123456789abcdef!", "j": [1, "two", {"k": []}],
            "l": {}
        });
        assert_eq!(format!("{:016x}", digest(&v)), "6b7526c40914ae41");
    }
}
