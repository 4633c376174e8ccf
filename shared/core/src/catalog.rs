//! Every rule a policy runs, under one view: the built-in rules (compiled Rust), the engine's
//! rule pack and the policy's own written rules. What `justice rules` lists, what notices and
//! `explain` take a rule's fix from, and what decides whether a rule's findings may act.

use serde_json::Value;

use crate::policy::{ActionCap, Policy};
use crate::rules::custom::testing::{self, TestReport};
use crate::rules::custom::{self, CustomRule, Expect, RuleSource};
use crate::rules::{self, FindingClass, Severity};

/// One rule, whatever its source.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleView<'a> {
    pub id: &'a str,
    pub source: RuleSource,
    pub class: FindingClass,
    pub severity: Severity,
    pub resource_types: Vec<&'a str>,
    pub checks: &'a str,
    pub remediation: &'a str,
    /// Whether its findings may drive a Krampus action at all (then `[class_caps]` bound it).
    pub acts: bool,
}

impl<'a> RuleView<'a> {
    fn builtin(r: &'static dyn rules::Rule) -> RuleView<'static> {
        let i = r.info();
        RuleView {
            id: i.id,
            source: RuleSource::Builtin,
            class: i.class,
            severity: i.severity,
            resource_types: i.resource_types.to_vec(),
            checks: i.checks,
            remediation: i.remediation,
            acts: true,
        }
    }

    fn written(r: &'a CustomRule) -> RuleView<'a> {
        RuleView {
            id: &r.spec.id,
            source: r.source,
            class: r.spec.class,
            severity: r.spec.severity,
            resource_types: r.spec.resource_types.iter().map(String::as_str).collect(),
            checks: &r.spec.checks,
            remediation: &r.spec.remediation,
            acts: r.spec.act,
        }
    }
}

impl Policy {
    /// Runs the tests of the policy's written rules. `load` reads a test's file (relative to
    /// the policy file); `Err(None)` when files cannot be read here (the test is skipped).
    pub fn run_rule_tests(
        &self,
        load: &dyn Fn(&str) -> Result<Value, Option<String>>,
    ) -> TestReport {
        testing::run(&self.custom, self.exposure.share(), load)
    }

    /// One rule (pack or the policy's) on one test item: whether it does what the test says.
    pub fn check_one(
        &self,
        rule: &CustomRule,
        raw: &Value,
        expect: Expect,
        evidence: Option<&str>,
    ) -> Result<(), String> {
        let set = if rule.source == RuleSource::Pack {
            custom::pack()
        } else {
            &*self.custom
        };
        testing::check_one(set, rule, self.exposure.share(), raw, expect, evidence)
    }

    /// A rule this policy runs or knows, by id.
    pub fn rule(&self, id: &str) -> Option<RuleView<'_>> {
        if let Some(r) = rules::find(id) {
            return Some(RuleView::builtin(r));
        }
        self.custom
            .find(id)
            .or_else(|| custom::pack().find(id))
            .map(RuleView::written)
    }

    /// The rule table of docs/rules.md and the README (`justice rules --markdown`): every rule,
    /// one row each, in the catalog's order.
    pub fn rules_markdown(&self) -> String {
        let mut out = String::from(
            "| Rule | Source | Class | Severity | Resource types | Checks |\n| --- | --- | --- | --- | --- | --- |\n",
        );
        for r in self.catalog() {
            let types = if r.resource_types.is_empty() {
                "all types".to_owned()
            } else {
                r.resource_types.join(", ").replace("AWS::", "")
            };
            let off = if self.rule_enabled(r.id) {
                ""
            } else {
                " (off)"
            };
            out.push_str(&format!(
                "| `{}`{off} | {} | {} | {} | {} | {} |\n",
                r.id,
                r.source.as_str(),
                r.class.as_str(),
                r.severity.as_str(),
                types,
                r.checks.replace('|', "\\|")
            ));
        }
        out
    }

    /// The pack's rules this policy replaces with a rule of its own of the same id.
    pub fn replaced_pack_rules(&self) -> Vec<&str> {
        self.custom
            .rules()
            .iter()
            .map(CustomRule::id)
            .filter(|id| custom::pack().find(id).is_some())
            .collect()
    }

    /// Every rule: built-in, then the pack (less those the policy replaces), then the
    /// policy's own.
    pub fn catalog(&self) -> Vec<RuleView<'_>> {
        rules::RULES
            .iter()
            .map(|r| RuleView::builtin(*r))
            .chain(
                custom::pack()
                    .rules()
                    .iter()
                    .filter(|r| self.custom.find(r.id()).is_none())
                    .map(RuleView::written),
            )
            .chain(self.custom.rules().iter().map(RuleView::written))
            .collect()
    }

    /// The class of a finding's rule (hygiene for a rule this policy does not know).
    pub fn class_of(&self, rule: &str) -> FindingClass {
        self.rule(rule).map_or(FindingClass::Hygiene, |r| r.class)
    }

    /// The strongest action one finding may drive: none for a rule that does not act or that
    /// this policy does not know, its class's cap otherwise, and exposure below critical never
    /// deletes.
    pub fn finding_cap(&self, rule: &str, severity: Severity) -> ActionCap {
        // A rule this policy does not know (removed or renamed since the finding was stored,
        // or a state written under another version) drives nothing.
        let Some(view) = self.rule(rule) else {
            return ActionCap::None;
        };
        // A rule switched off since the finding was stored drives nothing either, before the
        // state is evaluated again.
        if !view.acts || !self.rule_enabled(rule) {
            return ActionCap::None;
        }
        let cap = self.class_caps.of(view.class);
        if view.class == FindingClass::Exposure && severity < Severity::Critical {
            cap.min(ActionCap::Disable)
        } else {
            cap
        }
    }
}
