//! Required tags: missing or badly filled, only where the item recorded tags at all.

use super::settings::{RuleInputs, TagCheck};
use super::{Finding, FindingClass, KrampusRemedy, Rule, RuleInfo, Severity};
use crate::item::ConfigItem;
use crate::json::FieldError;
use crate::text::quote;

pub const RULE_ID: &str = "required-tags";

pub struct RequiredTags;
static REQUIRED_TAGS: RuleInfo = RuleInfo {
    id: RULE_ID,
    class: FindingClass::Tagging,
    severity: Severity::Low,
    resource_types: &[],
    checks: "Each tag the policy requires (`required_tags`) is present and its value matches the pattern or the allowed values. Not evaluated when Config recorded no tags for the item, or could not be read.",
    remediation: "Add or correct the tag so the owning team can be reached.",
    krampus: KrampusRemedy::None,
};

impl Rule for RequiredTags {
    fn info(&self) -> &'static RuleInfo {
        &REQUIRED_TAGS
    }

    fn evaluate(
        &self,
        item: &ConfigItem,
        policy: &RuleInputs<'_>,
        out: &mut Vec<Finding>,
    ) -> Result<(), FieldError> {
        // Tags that could not be read are not missing tags.
        let Some(tags) = item.tags.recorded() else {
            return Ok(());
        };
        for req in policy.required_tags {
            if !req.applies_to(&item.resource_type) {
                continue;
            }
            let value = tags
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(&req.key))
                .map(|(_, v)| v.as_str());
            let problem = match value {
                None => Some(format!("required tag `{}` is missing", req.key)),
                Some(v) if v.trim().is_empty() => Some(format!("tag `{}` is empty", req.key)),
                Some(v) => match &req.check {
                    TagCheck::Present => None,
                    TagCheck::Pattern(re) if re.is_match(v) => None,
                    TagCheck::Pattern(re) => Some(format!(
                        "tag `{}` = `{}` does not match {}",
                        req.key,
                        quote(v, 64),
                        re.as_str()
                    )),
                    TagCheck::Allowed(list) if list.iter().any(|a| a == v) => None,
                    TagCheck::Allowed(_) => Some(format!(
                        "tag `{}` = `{}` is not an allowed value",
                        req.key,
                        quote(v, 64)
                    )),
                },
            };
            if let Some(evidence) = problem {
                let mut f = REQUIRED_TAGS.finding(evidence);
                f.subject = req.key.clone();
                out.push(f);
            }
        }
        Ok(())
    }
}
