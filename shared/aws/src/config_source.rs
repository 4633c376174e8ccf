//! `AwsConfigSource`: the `ConfigSource` port on the AWS Config API. Oversized notifications
//! are resolved with `GetResourceConfigHistory`; back-fill pages through
//! `ListDiscoveredResources` and `BatchGetResourceConfig`. Through an aggregator, the same
//! reads cover other accounts and regions (`aggregate_source`).
//!
//! The SDK returns typed items; they are rewritten into the API's JSON shape (FORMAT.md §6:
//! `accountId`, `arn`, epoch capture times, JSON-string `configuration`) and read by the same
//! `ConfigItem::from_api` the recorded items go through, so one parser decides.

use aws_sdk_config::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_config::primitives::DateTime;
use aws_sdk_config::types::{
    BaseConfigurationItem, ChronologicalOrder, ConfigurationItem, ResourceKey, ResourceType,
};
use aws_sdk_config::Client;
use justice_core::{ConfigItem, OversizedSummary};
use justice_service::{ConfigSource, DiscoveredPage, SourceError};
use serde_json::{json, Map, Value};

/// `BatchGetResourceConfig` (and its aggregate twin) takes at most 100 keys.
pub(crate) const BATCH: usize = 100;

#[derive(Debug, Clone)]
pub struct AwsConfigSource {
    client: Client,
    /// An aggregator of this account (`CONFIG_AGGREGATOR`): when set, every read goes through
    /// it, so that items of the accounts and regions it covers can be read.
    aggregator: Option<String>,
}

impl AwsConfigSource {
    /// The source of the account and region the client acts in.
    pub fn new(client: Client) -> Self {
        AwsConfigSource {
            client,
            aggregator: None,
        }
    }

    pub(crate) fn config_client(&self) -> &Client {
        &self.client
    }

    /// The source of every account and region `aggregator` covers.
    pub fn through_aggregator(mut self, aggregator: Option<String>) -> Self {
        self.aggregator = aggregator;
        self
    }
}

fn epoch(t: Option<&DateTime>) -> Value {
    t.map_or(Value::Null, |t| json!(t.as_secs_f64()))
}

fn opt(s: Option<&str>) -> Value {
    s.map_or(Value::Null, |s| Value::String(s.to_owned()))
}

/// The fields both item types share, in the API's JSON spelling.
#[allow(clippy::too_many_arguments)]
fn common(
    account: Option<&str>,
    region: Option<&str>,
    resource_type: Option<&ResourceType>,
    resource_id: Option<&str>,
    resource_name: Option<&str>,
    arn: Option<&str>,
    capture: Option<&DateTime>,
    status: Option<&str>,
    state_id: Option<&str>,
    configuration: Option<&str>,
    supplementary: Option<&std::collections::HashMap<String, String>>,
) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("accountId".into(), opt(account));
    m.insert("awsRegion".into(), opt(region));
    m.insert(
        "resourceType".into(),
        opt(resource_type.map(ResourceType::as_str)),
    );
    m.insert("resourceId".into(), opt(resource_id));
    m.insert("resourceName".into(), opt(resource_name));
    m.insert("arn".into(), opt(arn));
    m.insert("configurationItemCaptureTime".into(), epoch(capture));
    m.insert("configurationItemStatus".into(), opt(status));
    m.insert("configurationStateId".into(), opt(state_id));
    m.insert("configuration".into(), opt(configuration));
    if let Some(s) = supplementary {
        let supp: Map<String, Value> = s
            .iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect();
        m.insert("supplementaryConfiguration".into(), Value::Object(supp));
    }
    m
}

/// The fields the two SDK item types (`ConfigurationItem`, `BaseConfigurationItem`) share, by
/// the same accessors: one macro rather than two copies of the list.
macro_rules! common_of {
    ($i:expr) => {
        common(
            $i.account_id(),
            $i.aws_region(),
            $i.resource_type(),
            $i.resource_id(),
            $i.resource_name(),
            $i.arn(),
            $i.configuration_item_capture_time(),
            $i.configuration_item_status().map(|s| s.as_str()),
            $i.configuration_state_id(),
            $i.configuration(),
            $i.supplementary_configuration(),
        )
    };
}

/// A `GetResourceConfigHistory` item in the API's JSON shape.
pub fn history_item_json(i: &ConfigurationItem) -> Value {
    let mut m = common_of!(i);
    // `tags` absent means "not recorded", never "no tags": only an SDK map becomes tags.
    if let Some(tags) = i.tags() {
        let t: Map<String, Value> = tags
            .iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect();
        m.insert("tags".into(), Value::Object(t));
    }
    let rels: Vec<Value> = i
        .relationships()
        .iter()
        .map(|r| {
            json!({
                "resourceType": r.resource_type().map(ResourceType::as_str),
                "resourceId": r.resource_id(),
                "resourceName": r.resource_name(),
                "relationshipName": r.relationship_name(),
            })
        })
        .collect();
    m.insert("relationships".into(), Value::Array(rels));
    Value::Object(m)
}

/// A `BatchGetResourceConfig` item in the API's JSON shape. It carries neither tags nor
/// relationships: tag rules stay silent and exposure is weighed as unattached (the cautious
/// reading) until the resource's next change event brings the full item.
pub fn base_item_json(i: &BaseConfigurationItem) -> Value {
    Value::Object(common_of!(i))
}

impl ConfigSource for AwsConfigSource {
    async fn fetch(&self, s: &OversizedSummary) -> Result<Option<ConfigItem>, SourceError> {
        if let Some(aggregator) = &self.aggregator {
            return self.fetch_aggregate(aggregator, s).await;
        }
        // The item captured at the summary's time, else the newest one before it.
        let later = DateTime::from_millis(s.capture_time.saturating_add(1000));
        let result = self
            .client
            .get_resource_config_history()
            .resource_type(ResourceType::from(s.resource_type.as_str()))
            .resource_id(&s.resource_id)
            .later_time(later)
            .chronological_order(ChronologicalOrder::Reverse)
            .limit(1)
            .send()
            .await;
        let out = match result {
            Ok(out) => out,
            Err(e) if not_discovered(&e) => return Ok(None),
            Err(e) => return Err(crate::failure("AWS Config GetResourceConfigHistory", &e).into()),
        };
        match out.configuration_items().first() {
            Some(item) => Ok(Some(ConfigItem::from_api(history_item_json(item))?)),
            None => Ok(None),
        }
    }

    async fn discover(
        &self,
        resource_type: &str,
        token: Option<&str>,
    ) -> Result<DiscoveredPage, SourceError> {
        if let Some(aggregator) = &self.aggregator {
            return self
                .discover_aggregate(aggregator, resource_type, token)
                .await;
        }
        let rt = ResourceType::from(resource_type);
        let listed = self
            .client
            .list_discovered_resources()
            .resource_type(rt.clone())
            .limit(BATCH as i32)
            .set_next_token(token.map(str::to_owned))
            .send()
            .await
            .map_err(|e| crate::failure("AWS Config ListDiscoveredResources", &e))?;
        let keys: Vec<ResourceKey> = listed
            .resource_identifiers()
            .iter()
            .filter(|r| r.resource_deletion_time().is_none())
            .filter_map(|r| {
                ResourceKey::builder()
                    .resource_type(rt.clone())
                    .resource_id(r.resource_id()?)
                    .build()
                    .ok()
            })
            .collect();
        let next = listed.next_token();
        if keys.is_empty() {
            return Ok(page(&[], 0, resource_type, next));
        }
        // A page lists at most BATCH resources: one batch read.
        let got = self
            .client
            .batch_get_resource_config()
            .set_resource_keys(Some(keys))
            .send()
            .await
            .map_err(|e| crate::failure("AWS Config BatchGetResourceConfig", &e))?;
        let unprocessed = got.unprocessed_resource_keys().len();
        Ok(page(
            got.base_configuration_items(),
            unprocessed,
            resource_type,
            next,
        ))
    }
}

/// Whether Config answered that it has no such resource (never recorded, or not yet).
pub(crate) fn not_discovered<E: ProvideErrorMetadata, R>(e: &SdkError<E, R>) -> bool {
    e.code() == Some("ResourceNotDiscoveredException")
}

/// A page from a batch read's items. Resources Config could not serve now (throttling) come
/// back as unprocessed: the next back-fill picks them up, rather than a loop here.
pub(crate) fn page(
    got: &[BaseConfigurationItem],
    unprocessed: usize,
    resource_type: &str,
    next: Option<&str>,
) -> DiscoveredPage {
    if unprocessed > 0 {
        tracing::warn!(
            resource_type,
            unprocessed,
            "a batch read left resources unprocessed"
        );
    }
    DiscoveredPage {
        items: got
            .iter()
            .map(|item| ConfigItem::from_api(base_item_json(item)))
            .collect(),
        next: next.map(str::to_owned),
    }
}
