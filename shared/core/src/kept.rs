//! The newest configuration item as a resource's state keeps it, compressed: everything the
//! rules read, so that the state can be evaluated again when the policy changes, with neither
//! the history nor AWS Config.

use crate::item::ConfigItem;
use crate::state::ResourceKey;
use crate::{refuse, Refused};

/// The item, as stored next to the state (JSON, then LZ4: a few microseconds for a few KB).
pub fn keep(item: &ConfigItem) -> Vec<u8> {
    let json = serde_json::to_vec(item).unwrap_or_default();
    lz4_flex::compress_prepend_size(&json)
}

/// The item kept for `key`; an error when the bytes are not one, or are another resource's.
pub fn restore(bytes: &[u8], key: &ResourceKey) -> Result<ConfigItem, Refused> {
    let json = lz4_flex::decompress_size_prepended(bytes)
        .map_err(|e| format!("the kept item does not decompress: {e}"))?;
    let item: ConfigItem =
        serde_json::from_slice(&json).map_err(|e| format!("the kept item does not read: {e}"))?;
    let (account, region, resource_type, id) = key.parts();
    if (account, region, resource_type, id)
        != (
            item.account.as_str(),
            item.region.as_str(),
            item.resource_type.as_str(),
            item.resource_id.as_str(),
        )
    {
        return refuse("the kept item is another resource's");
    }
    Ok(item)
}
