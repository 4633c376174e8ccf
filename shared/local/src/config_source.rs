//! `LocalConfigSource`: recorded AWS Config API items (the shape `GetResourceConfigHistory`
//! and `BatchGetResourceConfig` return) read from JSON files, to resolve oversized
//! notifications offline.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use justice_core::{ConfigItem, OversizedSummary};
use justice_service::{ConfigSource, DiscoveredPage, SourceError};
use serde_json::Value;

#[derive(Debug, Default)]
pub struct LocalConfigSource {
    items: Vec<ConfigItem>,
}

#[derive(Debug, thiserror::Error)]
#[error("{path}: {reason}")]
pub struct LoadError {
    pub path: PathBuf,
    pub reason: String,
}

impl LocalConfigSource {
    /// A source that has no items: every oversized notification stays unresolved.
    pub fn empty() -> Self {
        Self::default()
    }

    /// Reads every `*.json` under `dir`: a single item, a `GetResourceConfigHistory` response
    /// (`configurationItems`) or a `BatchGetResourceConfig` response (`baseConfigurationItems`).
    pub fn from_dir(dir: &Path) -> Result<Self, LoadError> {
        let mut files = Vec::new();
        collect(dir, &mut files)?;
        files.sort();
        let mut items = Vec::new();
        for path in files {
            let fail = |reason: String| LoadError {
                path: path.clone(),
                reason,
            };
            let bytes = std::fs::read(&path).map_err(|e| fail(e.to_string()))?;
            let v: Value = serde_json::from_slice(&bytes).map_err(|e| fail(e.to_string()))?;
            let list: Vec<Value> = match v {
                Value::Object(mut m) => {
                    match (
                        m.remove("configurationItems"),
                        m.remove("baseConfigurationItems"),
                    ) {
                        (Some(Value::Array(a)), _) | (_, Some(Value::Array(a))) => a,
                        _ => vec![Value::Object(m)],
                    }
                }
                other => vec![other],
            };
            for item in list {
                items.push(ConfigItem::from_api(item).map_err(|e| fail(e.to_string()))?);
            }
        }
        Ok(LocalConfigSource { items })
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// As `GetResourceConfigHistory` with `laterTime` = the capture time: the item captured
    /// then, else the newest captured before.
    fn find(&self, s: &OversizedSummary) -> Option<&ConfigItem> {
        self.items
            .iter()
            .filter(|i| {
                i.resource_type == s.resource_type
                    && i.resource_id == s.resource_id
                    && i.account == s.account
                    && i.region == s.region
                    && i.capture_time <= s.capture_time
            })
            .max_by_key(|i| i.capture_time)
    }
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), LoadError> {
    let fail = |e: std::io::Error| LoadError {
        path: dir.to_owned(),
        reason: e.to_string(),
    };
    for entry in std::fs::read_dir(dir).map_err(fail)? {
        let path = entry.map_err(fail)?.path();
        if path.is_dir() {
            collect(&path, out)?;
        } else if path.extension().is_some_and(|e| e == "json") {
            out.push(path);
        }
    }
    Ok(())
}

impl ConfigSource for LocalConfigSource {
    async fn fetch(&self, summary: &OversizedSummary) -> Result<Option<ConfigItem>, SourceError> {
        Ok(self.find(summary).cloned())
    }

    /// The newest recorded item of each resource of the type, in one page.
    async fn discover(
        &self,
        resource_type: &str,
        _token: Option<&str>,
    ) -> Result<DiscoveredPage, SourceError> {
        let mut newest: BTreeMap<(&str, &str, &str), &ConfigItem> = BTreeMap::new();
        for i in self
            .items
            .iter()
            .filter(|i| i.resource_type == resource_type)
        {
            let slot = newest
                .entry((&i.account, &i.region, &i.resource_id))
                .or_insert(i);
            if i.capture_time > slot.capture_time {
                *slot = i;
            }
        }
        Ok(DiscoveredPage {
            items: newest.into_values().map(|i| Ok(i.clone())).collect(),
            next: None,
        })
    }
}
