//! The tests a written rule carries: items it must fire on or stay quiet on. Run when a policy
//! is loaded (inline items) and by `justice policy check` (files too); the pack's items are run
//! by the test suite (tests/fixtures/rules/).

use serde_json::Value;

use super::{CustomRule, Expect, RuleSet};
use crate::exposure::WorldShare;
use crate::item::ConfigItem;

/// The item of a rule test: a configuration item (notification or API shape), or a whole
/// notification as the scorer receives it (EventBridge, SNS), read by the scorer's own parser.
pub fn test_item(v: &Value) -> Result<ConfigItem, String> {
    let v = match v {
        Value::String(text) => serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?,
        other => other.clone(),
    };
    if v.get("resourceType").is_none() {
        let text = v.to_string();
        // The first record: a test is about one item.
        let records = crate::event::parse_event(text.as_bytes()).map_err(|e| e.to_string())?;
        let first = records
            .into_iter()
            .next()
            .ok_or("the notification holds no configuration item")?;
        return match first.map_err(|e| e.to_string())? {
            crate::event::Notice::Item { item, .. } => Ok(*item),
            crate::event::Notice::Oversized(_) => {
                Err("an oversized notification: give the item itself".to_owned())
            }
            crate::event::Notice::Ignored { reason } => Err(reason),
        };
    }
    let parsed = if v.get("accountId").is_some() {
        ConfigItem::from_api(v)
    } else {
        ConfigItem::from_notification(v)
    };
    parsed.map_err(|e| e.to_string())
}

/// What a set's tests found.
#[derive(Debug, Default)]
pub struct TestReport {
    pub passed: usize,
    pub failures: Vec<String>,
}

/// Runs the tests of every rule of `set`. `load` reads a test's file; `Err(None)` when files
/// cannot be read here (the test is skipped).
pub fn run(
    set: &RuleSet,
    share: WorldShare,
    load: &dyn Fn(&str) -> Result<Value, Option<String>>,
) -> TestReport {
    let mut report = TestReport::default();
    for rule in set.rules() {
        for (i, t) in rule.spec.tests.iter().enumerate() {
            let name = match &t.file {
                Some(f) => format!("rule `{}`: test {} ({f})", rule.id(), i + 1),
                None => format!("rule `{}`: test {}", rule.id(), i + 1),
            };
            let raw = match (&t.item, &t.file) {
                (Some(item), _) => item.clone(),
                (None, Some(f)) => match load(f) {
                    Ok(v) => v,
                    // No files here (the scorer): `justice policy check` runs these.
                    Err(None) => continue,
                    Err(Some(e)) => {
                        report.failures.push(format!("{name}: {e}"));
                        continue;
                    }
                },
                (None, None) => continue,
            };
            match check_one(set, rule, share, &raw, t.expect, t.evidence.as_deref()) {
                Ok(()) => report.passed += 1,
                Err(e) => report.failures.push(format!("{name}: {e}")),
            }
        }
    }
    report
}

/// One rule of `set` on one test item: whether it does what the test says.
pub fn check_one(
    set: &RuleSet,
    rule: &CustomRule,
    share: WorldShare,
    raw: &Value,
    expect: Expect,
    evidence: Option<&str>,
) -> Result<(), String> {
    let item = test_item(raw).map_err(|e| format!("the item cannot be read: {e}"))?;
    if !rule.applies_to(&item.resource_type) {
        return Err(format!(
            "the item is a {}, which the rule does not read",
            item.resource_type
        ));
    }
    let mut findings = Vec::new();
    let mut errors = Vec::new();
    set.evaluate(
        &item,
        share,
        |id| id == rule.id(),
        &mut findings,
        &mut errors,
    );
    if let Some(e) = errors.first() {
        return Err(format!("it could not be evaluated: {}", e.error));
    }
    match (expect, findings.first()) {
        (Expect::Fires, None) => Err("expected to fire, stayed quiet".to_owned()),
        (Expect::Quiet, Some(f)) => Err(format!("expected to stay quiet, fired: {}", f.evidence)),
        (Expect::Fires, Some(f)) => match evidence {
            Some(want) if !f.evidence.contains(want) => Err(format!(
                "fired, but the evidence `{}` does not contain `{want}`",
                f.evidence
            )),
            _ => Ok(()),
        },
        (Expect::Quiet, None) => Ok(()),
    }
}
