//! `justice rules` and `justice policy check`: what a policy runs, and whether a policy file
//! (its written rules and their tests included) may be deployed.

use std::path::Path;
use std::process::ExitCode;

use crate::out;

use justice_core::catalog::RuleView;
use justice_core::policy::{ActionCap, Policy};
use justice_core::rules::custom::{Expect, RuleSource};
use justice_core::rules::FindingClass;

pub fn check_policy(path: &Path) -> Result<ExitCode, String> {
    let text = crate::read_text(path)?;
    let p = match Policy::from_toml(&text) {
        Ok(p) => p,
        Err(errors) => {
            for e in &errors.0 {
                note!("{}: {e}", path.display());
            }
            note!("{}: refused", path.display());
            return Ok(ExitCode::FAILURE);
        }
    };
    let base = path.parent().unwrap_or(Path::new("."));
    let load = |rel: &str| -> Result<serde_json::Value, Option<String>> {
        let file = base.join(rel);
        let bytes = std::fs::read(&file).map_err(|e| Some(format!("{}: {e}", file.display())))?;
        serde_json::from_slice(&bytes)
            .map_err(|e| Some(format!("{}: not JSON: {e}", file.display())))
    };
    let report = p.run_rule_tests(&load);
    let mut failures = report.failures;
    // Every written rule shows it can tell: one item it fires on, one it stays quiet on.
    for r in p.custom.rules() {
        for want in [Expect::Fires, Expect::Quiet] {
            if !r.spec.tests.iter().any(|t| t.expect == want) {
                failures.push(format!(
                    "rule `{}`: no test where it {} (each rule needs one item each way)",
                    r.id(),
                    if want == Expect::Fires {
                        "fires"
                    } else {
                        "stays quiet"
                    }
                ));
            }
        }
    }
    if !failures.is_empty() {
        for f in &failures {
            note!("{}: {f}", path.display());
        }
        note!("{}: refused", path.display());
        return Ok(ExitCode::FAILURE);
    }
    for id in p.replaced_pack_rules() {
        note!(
            "{}: rule `{id}` replaces the engine's pack rule of the same id",
            path.display()
        );
    }
    say!(
        "{}: ok — thresholds warn {} / disable {} / kill {}, {} rule override(s), {} required tag(s), {} written rule(s), {} rule test(s) passed",
        path.display(),
        p.thresholds.warn,
        p.thresholds.disable,
        p.thresholds.kill,
        p.rules.len(),
        p.required_tags.len(),
        p.custom.rules().len(),
        report.passed
    );
    Ok(ExitCode::SUCCESS)
}

fn types(r: &RuleView<'_>) -> String {
    if r.resource_types.is_empty() {
        "all types".to_owned()
    } else {
        r.resource_types.join(", ")
    }
}

pub fn list(p: &Policy, markdown: bool) {
    let rules = p.catalog();
    if markdown {
        out::stdout_text(&p.rules_markdown());
        return;
    }
    for r in &rules {
        let off = if p.rule_enabled(r.id) { "" } else { "  (off)" };
        say!(
            "{:<40} {:<7} {:<9} {:<8} {}{off}",
            r.id,
            r.source.as_str(),
            r.class.as_str(),
            r.severity.as_str(),
            types(r)
        );
        say!("    {}", r.checks);
    }
    let count = |s: RuleSource| rules.iter().filter(|r| r.source == s).count();
    let mut all_types: Vec<&str> = rules
        .iter()
        .flat_map(|r| r.resource_types.iter().copied())
        .collect();
    all_types.sort_unstable();
    all_types.dedup();
    say!(
        "{} rules ({} built-in, {} pack, {} policy) over {} resource types",
        rules.len(),
        count(RuleSource::Builtin),
        count(RuleSource::Pack),
        count(RuleSource::Policy),
        all_types.len()
    );
    say!("written rules (pack and policy) warn and are listed; they drive a Krampus action only with `act = true`");
    // What each class may drive under this policy (`[class_caps]` changes it).
    say!("class caps (`[class_caps]`): the strongest action findings of a class may drive");
    for class in FindingClass::ALL {
        let cap = p.class_caps.of(class);
        let note = match (class, cap) {
            (FindingClass::Exposure, ActionCap::Kill) => {
                " (an action that deletes: critical findings only)"
            }
            (_, ActionCap::None) => " (advised to the owner, never acted on)",
            _ => "",
        };
        say!("    {:<9} {}{}", class.as_str(), cap_name(cap), note);
    }
}

fn cap_name(cap: ActionCap) -> &'static str {
    match cap {
        ActionCap::None => "none",
        ActionCap::Disable => "disable",
        ActionCap::Kill => "kill",
    }
}
