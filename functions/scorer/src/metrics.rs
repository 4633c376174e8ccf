//! CloudWatch metrics in Embedded Metric Format: one JSON line on stdout per invocation, which
//! CloudWatch Logs turns into metrics without an API call.

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

pub const NAMESPACE: &str = "JusticeEngine";

/// Counts of one invocation.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Counts {
    /// Items scored, by the level of the resulting state.
    pub scored_by_level: BTreeMap<&'static str, u64>,
    pub ignored: u64,
    pub refused: u64,
    pub rescored: u64,
    /// Records that failed for good (access denied, a missing table, bad input), sent to the
    /// dead-letter queue at once rather than retried.
    pub dead_lettered: u64,
}

impl Counts {
    /// The EMF documents: one per level (dimension `Level`) and one for the function's totals.
    pub fn emf(&self, function: &str, timestamp_ms: i64) -> Vec<Value> {
        let doc = |dims: &[&str], metrics: &[(&str, u64)], extra: &[(&str, &str)]| {
            let mut m = Map::new();
            m.insert(
                "_aws".into(),
                json!({
                    "Timestamp": timestamp_ms,
                    "CloudWatchMetrics": [{
                        "Namespace": NAMESPACE,
                        "Dimensions": [dims],
                        "Metrics": metrics.iter().map(|(n, _)| json!({"Name": n, "Unit": "Count"})).collect::<Vec<_>>(),
                    }],
                }),
            );
            m.insert("Function".into(), Value::String(function.to_owned()));
            for (k, v) in extra {
                m.insert((*k).into(), Value::String((*v).to_owned()));
            }
            for (n, v) in metrics {
                m.insert((*n).into(), json!(v));
            }
            Value::Object(m)
        };
        let mut out: Vec<Value> = self
            .scored_by_level
            .iter()
            .map(|(level, n)| {
                doc(
                    &["Function", "Level"],
                    &[("ItemsScored", *n)],
                    &[("Level", level)],
                )
            })
            .collect();
        out.push(doc(
            &["Function"],
            &[
                ("EventsIgnored", self.ignored),
                ("EventsRefused", self.refused),
                ("StatesRescored", self.rescored),
                ("RecordsDeadLettered", self.dead_lettered),
            ],
            &[],
        ));
        out
    }

    /// Writes the documents to stdout, where Lambda sends them to CloudWatch Logs.
    pub fn publish(&self, function: &str) {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        for doc in self.emf(function, now) {
            println!("{doc}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_follow_the_embedded_metric_format() {
        let mut c = Counts::default();
        c.scored_by_level.insert("disable", 2);
        c.refused = 1;
        let docs = c.emf("scorer", 1_700_000_000_000);
        assert_eq!(docs.len(), 2);
        let level = &docs[0];
        assert_eq!(level["ItemsScored"], 2);
        assert_eq!(level["Level"], "disable");
        let directive = &level["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(directive["Namespace"], NAMESPACE);
        assert_eq!(directive["Dimensions"][0], json!(["Function", "Level"]));
        assert_eq!(directive["Metrics"][0]["Name"], "ItemsScored");
        // Every metric and dimension named in the directive is a member of the document.
        for d in &docs {
            let dir = &d["_aws"]["CloudWatchMetrics"][0];
            for m in dir["Metrics"].as_array().into_iter().flatten() {
                assert!(d.get(m["Name"].as_str().unwrap_or("?")).is_some());
            }
            for dim in dir["Dimensions"][0].as_array().into_iter().flatten() {
                assert!(d.get(dim.as_str().unwrap_or("?")).is_some());
            }
        }
        assert_eq!(docs[1]["EventsRefused"], 1);
    }
}
