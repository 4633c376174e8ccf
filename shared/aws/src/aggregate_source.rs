//! The `ConfigSource` port over an AWS Config aggregator (`CONFIG_AGGREGATOR`): an oversized
//! notification from any account and region the aggregator covers is resolved with
//! `GetAggregateResourceConfig`, and a back-fill pages through
//! `ListAggregateDiscoveredResources` and `BatchGetAggregateResourceConfig`, whose next token
//! covers every source account and region of a type.

use aws_sdk_config::types::{AggregateResourceIdentifier, ResourceType};
use justice_core::{ConfigItem, OversizedSummary};
use justice_service::{DiscoveredPage, SourceError};

use crate::config_source::{history_item_json, not_discovered, page, AwsConfigSource, BATCH};

impl AwsConfigSource {
    /// The aggregator's copy of the summary's item. The aggregated view trails the member
    /// accounts: a copy older than the summary is not the item notified (`None`, so the event
    /// is retried), and a newer one is the resource as it is now, which the scorer takes.
    pub(crate) async fn fetch_aggregate(
        &self,
        aggregator: &str,
        s: &OversizedSummary,
    ) -> Result<Option<ConfigItem>, SourceError> {
        let id = AggregateResourceIdentifier::builder()
            .source_account_id(&s.account)
            .source_region(&s.region)
            .resource_type(ResourceType::from(s.resource_type.as_str()))
            .resource_id(&s.resource_id)
            .set_resource_name(s.resource_name.clone())
            .build()
            .map_err(|e| crate::Failure {
                detail: format!("AWS Config GetAggregateResourceConfig: {e}"),
                transient: false,
            })?;
        let result = self
            .config_client()
            .get_aggregate_resource_config()
            .configuration_aggregator_name(aggregator)
            .resource_identifier(id)
            .send()
            .await;
        let out = match result {
            Ok(out) => out,
            Err(e) if not_discovered(&e) => return Ok(None),
            Err(e) => {
                return Err(crate::failure("AWS Config GetAggregateResourceConfig", &e).into())
            }
        };
        let Some(item) = out.configuration_item() else {
            return Ok(None);
        };
        let item = ConfigItem::from_api(history_item_json(item))?;
        Ok((item.capture_time >= s.capture_time).then_some(item))
    }

    /// A page of the aggregator's resources of `resource_type`, across its accounts and
    /// regions.
    pub(crate) async fn discover_aggregate(
        &self,
        aggregator: &str,
        resource_type: &str,
        token: Option<&str>,
    ) -> Result<DiscoveredPage, SourceError> {
        let listed = self
            .config_client()
            .list_aggregate_discovered_resources()
            .configuration_aggregator_name(aggregator)
            .resource_type(ResourceType::from(resource_type))
            .limit(BATCH as i32)
            .set_next_token(token.map(str::to_owned))
            .send()
            .await
            .map_err(|e| crate::failure("AWS Config ListAggregateDiscoveredResources", &e))?;
        let (ids, next) = (listed.resource_identifiers(), listed.next_token());
        if ids.is_empty() {
            return Ok(page(&[], 0, resource_type, next));
        }
        let got = self
            .config_client()
            .batch_get_aggregate_resource_config()
            .configuration_aggregator_name(aggregator)
            .set_resource_identifiers(Some(ids.to_vec()))
            .send()
            .await
            .map_err(|e| crate::failure("AWS Config BatchGetAggregateResourceConfig", &e))?;
        let unprocessed = got.unprocessed_resource_identifiers().len();
        Ok(page(
            got.base_configuration_items(),
            unprocessed,
            resource_type,
            next,
        ))
    }
}
