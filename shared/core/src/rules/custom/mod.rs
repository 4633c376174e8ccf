//! Rules written without code: in the policy file (`[[custom_rules]]`) or in the engine's rule
//! pack. A rule is a CEL condition over one configuration item (CEL: the expression language of
//! Kubernetes admission policies and Google Cloud IAM conditions; side-effect free, always
//! terminates), compiled once per policy version and shared by every event after.
//!
//! A written rule that cannot be evaluated on an item (a missing field, a wrong type) is that
//! rule's error on that item: the other rules still score it, and the error is kept with the
//! item, never read as "compliant" (`score` keeps the rule's earlier findings open).

mod check;
mod functions;
mod macros;
pub mod testing;
mod value;

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use cel::common::types::{CelList, CelMap, CelMapKey, CelNull, CelString};
use cel::common::value::{CowVal, Val};
use cel::{Context, Env, Program};
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use check::VARIABLES;
pub use functions::FUNCTIONS;

use super::{Finding, FindingClass, RuleError, Severity};
use crate::exposure::WorldShare;
use crate::item::ConfigItem;

/// A written rule as the policy file gives it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CustomRuleSpec {
    /// Kebab-case, unique among the built-in, pack and policy rules.
    pub id: String,
    pub class: FindingClass,
    pub severity: Severity,
    /// The AWS Config types it reads (at least one).
    pub resource_types: Vec<String>,
    /// What it checks, one sentence.
    pub checks: String,
    /// A CEL expression that is true when the item has the problem.
    pub condition: String,
    /// The finding's evidence: text with `{{ expression }}` parts naming what matched.
    pub evidence: String,
    /// How an owner fixes it.
    pub remediation: String,
    /// Whether its findings may drive a Krampus action (within `[class_caps]`). Off unless
    /// said: a rule the engine did not ship warns and is listed, and never deletes anything.
    #[serde(default, skip_serializing_if = "is_false")]
    pub act: bool,
    /// Items it must fire on, or stay quiet on: run by `justice policy check` (and, for
    /// inline items, whenever the policy is loaded).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tests: Vec<RuleTest>,
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// One test of a written rule: an item, inline or in a file (a configuration item, or a whole
/// EventBridge or SNS notification), and what the rule must do on it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleTest {
    pub expect: Expect,
    /// The item inline: a table, or JSON text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub item: Option<Value>,
    /// A file holding the item, relative to the policy file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// Text the evidence must contain when the rule fires.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evidence: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Expect {
    Fires,
    Quiet,
}

/// Where a rule comes from, as `justice rules` shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RuleSource {
    /// Compiled Rust (`rules::RULES`).
    Builtin,
    /// The engine's rule pack (`pack/*.toml`), on by default.
    Pack,
    /// The policy file's `[[custom_rules]]`.
    Policy,
}

impl RuleSource {
    pub fn as_str(self) -> &'static str {
        match self {
            RuleSource::Builtin => "builtin",
            RuleSource::Pack => "pack",
            RuleSource::Policy => "policy",
        }
    }
}

/// A written rule, compiled.
#[derive(Debug)]
pub struct CustomRule {
    pub spec: CustomRuleSpec,
    pub source: RuleSource,
    /// Compiled when the policy is loaded (policy rules), or on the first item of a type the
    /// rule reads (pack rules: a cold start compiles only what its first event needs).
    compiled: OnceLock<Result<Compiled, String>>,
}

#[derive(Debug)]
struct Compiled {
    condition: Program,
    evidence: Vec<Piece>,
}

impl Compiled {
    /// The rule's expressions compiled (on a large stack: `on_large_stack`).
    fn of(spec: &CustomRuleSpec) -> Result<Compiled, Vec<String>> {
        on_large_stack(|| Compiled::here(spec)).unwrap_or_else(|e| Err(vec![e]))
    }

    fn here(spec: &CustomRuleSpec) -> Result<Compiled, Vec<String>> {
        let condition = compile(&spec.condition).map_err(|e| format!("condition: {e}"));
        let evidence = template(&spec.evidence).map_err(|e| format!("evidence: {e}"));
        match (condition, evidence) {
            (Ok(condition), Ok(evidence)) => Ok(Compiled {
                condition,
                evidence,
            }),
            (c, e) => Err(c.err().into_iter().chain(e.err()).collect()),
        }
    }
}

#[derive(Debug)]
enum Piece {
    Text(String),
    Expr(Program),
}

/// Runs `f` on a thread with a stack of its own: the CEL parser recurses on an expression's
/// structure (deeper in a debug build), and compiling happens once per rule and policy version,
/// on whatever thread loads the policy (the scorer's have 2 MiB).
fn on_large_stack<T: Send>(f: impl FnOnce() -> T + Send) -> Result<T, String> {
    std::thread::scope(|scope| {
        std::thread::Builder::new()
            .name("cel-compile".into())
            .stack_size(64 << 20)
            .spawn_scoped(scope, f)
            .map_err(|e| format!("cannot start the compiler's thread: {e}"))?
            .join()
            .map_err(|_| "the compiler's thread failed".to_owned())
    })
}

/// The values one rule may read of one item, and the loop steps it may take (each JSON value
/// lent or built, each element a loop visits or collects, counts one): far above what a rule
/// reading an item once needs, far below what takes a second.
pub const VALUE_BUDGET: u64 = 250_000;

/// The CEL environment: the standard library, the string and list extensions, the engine's
/// functions, and loop macros that charge the budget (`macros`). Built once per process.
fn env() -> &'static Arc<Env> {
    static ENV: OnceLock<Arc<Env>> = OnceLock::new();
    ENV.get_or_init(|| {
        // The standard library without its macros: ours charge every loop to the budget.
        let mut env = Env::default().with_stdlib();
        let registered = env
            .add_extension(cel::extensions::strings)
            .and_then(|()| env.add_extension(cel::extensions::lists))
            .and_then(|()| functions::register(&mut env))
            .and_then(|()| macros::register(&mut env));
        if let Err(e) = registered {
            // Fixed names registered once: a unit test builds this environment.
            panic!("the CEL environment cannot be built: {e}");
        }
        Arc::new(env)
    })
}

/// The longest expression and the deepest nesting a rule may have: the CEL parser and
/// interpreter recurse on the expression's structure, and a policy must not be able to exhaust
/// a thread's stack (the scorer's threads have 2 MiB).
const MAX_EXPRESSION_CHARS: usize = 4096;
const MAX_NESTING: usize = 24;

/// The deepest nesting of brackets in `text`, outside string literals (near enough: an
/// expression that confuses this count is refused or compiled on a larger stack anyway).
fn nesting(text: &str) -> usize {
    let (mut depth, mut max) = (0usize, 0usize);
    let mut quote: Option<char> = None;
    let mut escaped = false;
    for c in text.chars() {
        match quote {
            Some(q) => {
                if escaped {
                    escaped = false;
                } else if c == '\\' {
                    escaped = true;
                } else if c == q {
                    quote = None;
                }
            }
            None => match c {
                '\'' | '"' => quote = Some(c),
                '(' | '[' | '{' => {
                    depth += 1;
                    max = max.max(depth);
                }
                ')' | ']' | '}' => depth = depth.saturating_sub(1),
                _ => {}
            },
        }
    }
    max
}

/// Compiles one expression, checking every name it uses.
fn compile(text: &str) -> Result<Program, String> {
    let chars = text.chars().count();
    if chars > MAX_EXPRESSION_CHARS {
        return Err(format!(
            "{chars} characters: at most {MAX_EXPRESSION_CHARS} (split it into several rules)"
        ));
    }
    let depth = nesting(text);
    if depth > MAX_NESTING {
        return Err(format!(
            "brackets nested {depth} deep: at most {MAX_NESTING}"
        ));
    }
    let program = env().compile(text).map_err(|e| {
        // cel's message repeats the text with a caret under the fault: keep it, on one line.
        e.to_string().replace('\n', " ")
    })?;
    let unknown = check::unknown_names(program.expression(), program.source_info(), text);
    if unknown.is_empty() {
        Ok(program)
    } else {
        Err(unknown.join("; "))
    }
}

/// `{{ expression }}` parts of an evidence template, compiled.
fn template(text: &str) -> Result<Vec<Piece>, String> {
    let mut pieces = Vec::new();
    let mut rest = text;
    while let Some(open) = rest.find("{{") {
        if open > 0 {
            pieces.push(Piece::Text(rest[..open].to_owned()));
        }
        let after = &rest[open + 2..];
        let close = after.find("}}").ok_or_else(|| {
            format!(
                "`{{{{` at byte {} is never closed",
                text.len() - rest.len() + open
            )
        })?;
        let expr = after[..close].trim();
        if expr.is_empty() {
            return Err("an empty `{{ }}`".to_owned());
        }
        pieces.push(Piece::Expr(
            compile(expr).map_err(|e| format!("`{{{{ {expr} }}}}`: {e}"))?,
        ));
        rest = &after[close + 2..];
    }
    if rest.contains("}}") {
        return Err("a `}}` with no `{{` before it".to_owned());
    }
    if !rest.is_empty() {
        pieces.push(Piece::Text(rest.to_owned()));
    }
    Ok(pieces)
}

/// The resource types AWS Config records, as its API spells them.
fn config_types() -> impl Iterator<Item = &'static str> {
    include_str!("config-resource-types.txt")
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
}

pub fn is_config_type(t: &str) -> bool {
    config_types().any(|k| k == t)
}

fn is_kebab(id: &str) -> bool {
    !id.is_empty()
        && id.split('-').all(|w| {
            !w.is_empty()
                && w.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        })
}

impl CustomRule {
    /// Compiles a rule on the current thread (the caller has a large stack: `RuleSet::compile`);
    /// `Err` lists everything wrong with it, each naming the rule.
    fn compile_here(spec: CustomRuleSpec, source: RuleSource) -> Result<CustomRule, Vec<String>> {
        let id = spec.id.clone();
        let mut errors = Vec::new();
        let mut problem = |what: String| errors.push(format!("rule `{id}`: {what}"));
        if !is_kebab(&spec.id) {
            problem("the id must be kebab-case (a-z, 0-9, single dashes)".to_owned());
        }
        if spec.resource_types.is_empty() {
            problem("resource_types is empty: name the AWS Config types it reads".to_owned());
        }
        for t in &spec.resource_types {
            if !is_config_type(t) {
                let hint = config_types()
                    .find(|k| k.eq_ignore_ascii_case(t))
                    .map(|k| format!(" (did you mean {k}?)"))
                    .unwrap_or_default();
                problem(format!(
                    "`{t}` is not a resource type AWS Config records{hint}"
                ));
            }
        }
        for (name, text) in [
            ("checks", &spec.checks),
            ("remediation", &spec.remediation),
            ("evidence", &spec.evidence),
        ] {
            if text.trim().is_empty() {
                problem(format!("{name} is empty"));
            }
        }
        for (i, t) in spec.tests.iter().enumerate() {
            if t.item.is_some() == t.file.is_some() {
                problem(format!("tests[{i}]: give exactly one of `item` and `file`"));
            }
        }
        let compiled = match Compiled::here(&spec) {
            Ok(c) => Some(c),
            Err(e) => {
                e.into_iter().for_each(&mut problem);
                None
            }
        };
        match compiled {
            Some(c) if errors.is_empty() => Ok(CustomRule {
                spec,
                source,
                compiled: OnceLock::from(Ok(c)),
            }),
            _ => Err(errors),
        }
    }

    /// A pack rule, compiled on first use (the pack's unit tests compile every rule).
    fn lazy(spec: CustomRuleSpec) -> CustomRule {
        CustomRule {
            spec,
            source: RuleSource::Pack,
            compiled: OnceLock::new(),
        }
    }

    fn compiled(&self) -> Result<&Compiled, String> {
        self.compiled
            .get_or_init(|| Compiled::of(&self.spec).map_err(|e| e.join("; ")))
            .as_ref()
            .map_err(|e| format!("the rule does not compile: {e}"))
    }

    pub fn id(&self) -> &str {
        &self.spec.id
    }

    pub fn applies_to(&self, resource_type: &str) -> bool {
        self.spec.resource_types.iter().any(|t| t == resource_type)
    }
}

/// The written rules of a policy (or of the pack), compiled.
#[derive(Debug, Default)]
pub struct RuleSet {
    rules: Vec<CustomRule>,
}

impl RuleSet {
    /// Compiles every rule; `Err` lists every problem of every rule.
    pub fn compile(specs: &[CustomRuleSpec], source: RuleSource) -> Result<RuleSet, Vec<String>> {
        on_large_stack(|| RuleSet::compile_here(specs, source)).unwrap_or_else(|e| Err(vec![e]))
    }

    fn compile_here(specs: &[CustomRuleSpec], source: RuleSource) -> Result<RuleSet, Vec<String>> {
        let mut rules = Vec::with_capacity(specs.len());
        let mut errors = Vec::new();
        for (i, spec) in specs.iter().enumerate() {
            if specs[..i].iter().any(|o| o.id == spec.id) {
                errors.push(format!("rule `{}`: defined twice", spec.id));
                continue;
            }
            match CustomRule::compile_here(spec.clone(), source) {
                Ok(r) => rules.push(r),
                Err(e) => errors.extend(e),
            }
        }
        if errors.is_empty() {
            Ok(RuleSet { rules })
        } else {
            Err(errors)
        }
    }

    pub fn rules(&self) -> &[CustomRule] {
        &self.rules
    }

    pub fn find(&self, id: &str) -> Option<&CustomRule> {
        self.rules.iter().find(|r| r.spec.id == id)
    }

    /// Runs the rules `enabled` names that read the item's type: findings of those that fire,
    /// an error for each that cannot be evaluated on this item.
    pub fn evaluate(
        &self,
        item: &ConfigItem,
        share: WorldShare,
        enabled: impl Fn(&str) -> bool,
        findings: &mut Vec<Finding>,
        errors: &mut Vec<RuleError>,
    ) {
        if !self
            .rules
            .iter()
            .any(|r| r.applies_to(&item.resource_type) && enabled(&r.spec.id))
        {
            return;
        }
        let vars = ItemVars { item };
        let mut ctx = Context::with_env(Arc::clone(env()));
        ctx.set_variable_resolver(&vars);
        functions::with_shares(share, || {
            for r in &self.rules {
                if !r.applies_to(&item.resource_type) || !enabled(&r.spec.id) {
                    continue;
                }
                let (result, exceeded) = value::with_budget(VALUE_BUDGET, || r.run(&ctx));
                let result = if exceeded {
                    Err(format!(
                        "the rule reads or loops over more than {VALUE_BUDGET} values on this \
                         item (a loop inside a loop over a long list, or the item read again in \
                         a loop?): not evaluated"
                    ))
                } else {
                    result
                };
                match result {
                    Ok(Some(f)) => findings.push(f),
                    Ok(None) => {}
                    Err(error) => errors.push(RuleError {
                        rule: r.spec.id.clone(),
                        error,
                    }),
                }
            }
        });
    }
}

impl CustomRule {
    /// The finding, if the condition holds; `Err` with the reason when it cannot be told.
    fn run(&self, ctx: &Context<'_, '_>) -> Result<Option<Finding>, String> {
        let c = self.compiled()?;
        match c.condition.execute(ctx) {
            Ok(cel::Value::Bool(false)) => Ok(None),
            Ok(cel::Value::Bool(true)) => Ok(Some(Finding {
                rule: self.spec.id.clone(),
                subject: String::new(),
                severity: self.spec.severity,
                evidence: render(&c.evidence, ctx)?,
                remedies: Vec::new(),
                reachable: true,
            })),
            Ok(other) => Err(format!(
                "the condition gave {}, not true or false",
                value::kind_of(&other)
            )),
            Err(e) => Err(format!("the condition failed: {}", explain(&e))),
        }
    }
}

/// The evidence text: the template's parts, each expression's value quoted as untrusted text.
fn render(evidence: &[Piece], ctx: &Context<'_, '_>) -> Result<String, String> {
    let mut out = String::new();
    for p in evidence {
        match p {
            Piece::Text(t) => out.push_str(t),
            Piece::Expr(e) => {
                let v = e
                    .execute(ctx)
                    .map_err(|e| format!("the evidence failed: {}", explain(&e)))?;
                let shown = value::from_cel(&v)
                    .map(|j| value::display(&j))
                    .unwrap_or_else(|| value::kind_of(&v).to_owned());
                out.push_str(&crate::text::quote(&shown, 300));
            }
        }
    }
    Ok(out)
}

/// An evaluation error in words an author can act on.
fn explain(e: &cel::ExecutionError) -> String {
    match e {
        cel::ExecutionError::UndeclaredReference(name) if name.as_str() == "tags" => {
            "the item's tags were not recorded (unknown tags are not missing tags)".to_owned()
        }
        cel::ExecutionError::UndeclaredReference(name) if name.as_str() == "configuration" => {
            "the item has no configuration".to_owned()
        }
        cel::ExecutionError::NoSuchKey(k) => format!("the item has no field `{k}`"),
        other => other.to_string(),
    }
}

/// The item, lent to CEL by name: `configuration.groupName` is answered with that one field,
/// borrowed, so an evaluation converts only what its expressions read (the interpreter asks
/// for the longest name first, then shorter ones).
struct ItemVars<'i> {
    item: &'i ConfigItem,
}

impl cel::context::VariableResolver for ItemVars<'_> {
    fn resolve<'b>(&'b self, name: &str) -> Option<CowVal<'b, 'b>> {
        let item = self.item;
        let mut parts = name.split('.');
        let root = parts.next()?;
        match root {
            "configuration" => walk(item.configuration.as_ref()?, parts),
            "supplementary" => match parts.next() {
                None => Some(CowVal::Owned(value::lend_map(&item.supplementary))),
                Some(key) => walk(item.supplementary.get(key)?, parts),
            },
            _ if parts.next().is_some() => None,
            "resource" => Some(CowVal::Owned(resource(item))),
            "tags" => {
                let tags = item.tags.recorded()?;
                let m: HashMap<CelMapKey<'b>, Box<dyn Val + 'b>> = tags
                    .iter()
                    .map(|(k, v)| (CelMapKey::from(k.as_str()), text(v)))
                    .collect();
                Some(CowVal::Owned(Box::new(CelMap::from(m))))
            }
            "relationships" => {
                let list: Vec<Box<dyn Val + 'b>> = item
                    .relationships
                    .iter()
                    .map(|r| {
                        map(vec![
                            ("resourceType", text(&r.resource_type)),
                            ("resourceId", opt(r.resource_id.as_ref())),
                            ("name", text(&r.name)),
                        ])
                    })
                    .collect();
                Some(CowVal::Owned(Box::new(CelList::from(list))))
            }
            _ => None,
        }
    }
}

/// The value at a path of object keys under `v`, lent.
fn walk<'b>(mut v: &'b Value, parts: std::str::Split<'_, char>) -> Option<CowVal<'b, 'b>> {
    for key in parts {
        v = v.as_object()?.get(key)?;
    }
    Some(CowVal::Owned(value::lend(v)))
}

fn text(s: &str) -> Box<dyn Val + '_> {
    Box::new(CelString::from(s))
}

fn opt(s: Option<&String>) -> Box<dyn Val + '_> {
    match s {
        Some(s) => Box::new(CelString::from(s.as_str())),
        None => Box::new(CelNull),
    }
}

fn map<'b>(entries: Vec<(&'b str, Box<dyn Val + 'b>)>) -> Box<dyn Val + 'b> {
    let m: HashMap<CelMapKey<'b>, Box<dyn Val + 'b>> = entries
        .into_iter()
        .map(|(k, v)| (CelMapKey::from(k), v))
        .collect();
    Box::new(CelMap::from(m))
}

fn resource(item: &ConfigItem) -> Box<dyn Val + '_> {
    map(vec![
        ("type", text(&item.resource_type)),
        ("id", text(&item.resource_id)),
        ("name", opt(item.resource_name.as_ref())),
        ("account", text(&item.account)),
        ("region", text(&item.region)),
        ("arn", opt(item.arn.as_ref())),
        ("status", text(item.status.as_str())),
        (
            "capture_time",
            Box::new(CelString::from(crate::time::format_rfc3339(
                item.capture_time,
            ))),
        ),
    ])
}

/// The engine's rule pack: read once per process, each rule compiled on its first use. A pack
/// that does not read is a bug of this build, found by its unit tests (`pack_errors`): it is
/// then empty.
pub fn pack() -> &'static RuleSet {
    static PACK: OnceLock<RuleSet> = OnceLock::new();
    PACK.get_or_init(|| RuleSet {
        rules: pack_specs()
            .unwrap_or_default()
            .into_iter()
            .map(CustomRule::lazy)
            .collect(),
    })
}

/// Everything wrong with the pack, every rule compiled and checked as a policy's would be
/// (empty for a good build).
pub fn pack_errors() -> Vec<String> {
    match pack_specs() {
        Ok(specs) => RuleSet::compile(&specs, RuleSource::Pack)
            .err()
            .unwrap_or_default(),
        Err(e) => e,
    }
}

/// The pack's files, embedded.
pub const PACK_FILES: &[(&str, &str)] = &[
    ("network.toml", include_str!("../../../pack/network.toml")),
    ("data.toml", include_str!("../../../pack/data.toml")),
    ("identity.toml", include_str!("../../../pack/identity.toml")),
    ("logging.toml", include_str!("../../../pack/logging.toml")),
];

/// A pack file: `[[custom_rules]]` only.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PackFile {
    pub custom_rules: Vec<CustomRuleSpec>,
}

pub fn pack_specs() -> Result<Vec<CustomRuleSpec>, Vec<String>> {
    let mut all = Vec::new();
    for (name, text) in PACK_FILES {
        let file: PackFile = toml::from_str(text).map_err(|e| vec![format!("pack/{name}: {e}")])?;
        all.extend(file.custom_rules);
    }
    Ok(all)
}

/// A content hash of the pack: part of every policy's version, so that a changed pack
/// evaluates stored states again.
pub fn pack_version() -> &'static str {
    static V: OnceLock<String> = OnceLock::new();
    V.get_or_init(|| {
        let texts: Vec<&str> = PACK_FILES.iter().map(|(_, t)| *t).collect();
        format!("{:016x}", crate::item::hash_parts(&texts))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::Policy;
    use serde_json::json;

    fn item(configuration: Value, tags: Option<Value>) -> ConfigItem {
        let mut v = json!({
            "configurationItemVersion": "1.3",
            "configurationItemCaptureTime": "2026-11-30T10:00:00.000Z",
            "configurationStateId": 1,
            "awsAccountId": "123456789012",
            "configurationItemStatus": "OK",
            "resourceType": "AWS::SNS::Topic",
            "resourceId": "arn:aws:sns:us-east-1:123456789012:alerts",
            "resourceName": "alerts",
            "ARN": "arn:aws:sns:us-east-1:123456789012:alerts",
            "awsRegion": "us-east-1",
            "relationships": [],
            "supplementaryConfiguration": {},
            "configuration": configuration,
        });
        if let Some(t) = tags {
            v["tags"] = t;
        }
        ConfigItem::from_notification(v).expect("a valid item")
    }

    fn policy(rules: &str) -> Result<Policy, String> {
        Policy::from_toml(&format!("version = 1\n{rules}")).map_err(|e| e.to_string())
    }

    const RULES: &str = r#"
[[custom_rules]]
id = "topic-field"
class = "hygiene"
severity = "low"
resource_types = ["AWS::SNS::Topic"]
checks = "x."
condition = "configuration.DisplayName == 'x'"
evidence = "named {{ configuration.DisplayName }}"
remediation = "y."
[[custom_rules]]
id = "topic-tagged"
class = "hygiene"
severity = "low"
resource_types = ["AWS::SNS::Topic"]
checks = "x."
condition = "tag(tags, 'env') == 'prod'"
evidence = "prod"
remediation = "y."
"#;

    #[test]
    fn the_environment_builds_and_every_listed_function_is_callable() {
        assert!(pack_errors().is_empty(), "{:?}", pack_errors());
        for (name, _, _) in FUNCTIONS {
            assert!(
                env().compile(&format!("{name}(null)")).is_ok(),
                "{name} does not parse"
            );
        }
    }

    #[test]
    fn every_standard_function_the_checker_admits_exists() {
        let ctx = Context::with_env(Arc::clone(env()));
        let undeclared = |text: String| {
            let p = env().compile(&text).expect("parses");
            matches!(
                p.execute(&ctx),
                Err(cel::ExecutionError::UndeclaredReference(_))
            )
        };
        // The test can tell: a name nobody registered is undeclared both ways.
        assert!(undeclared("nosuchfn('a')".into()) && undeclared("'a'.nosuchfn('a')".into()));
        for name in check::FUNCTIONS {
            // Called as a function or as a method, with arguments it may not take: an error
            // other than "undeclared" says the name exists.
            assert!(
                !undeclared(format!("{name}('a')")) || !undeclared(format!("'a'.{name}('a')")),
                "{name} is admitted by the checker but not registered"
            );
        }
    }

    #[test]
    fn a_rule_that_fails_on_an_item_is_its_error_and_the_others_still_score() {
        let p = policy(RULES).expect("policy");
        // No DisplayName: `topic-field` fails; `topic-tagged` still runs.
        let e = p
            .evaluate(&item(
                json!({"TopicArn": "t"}),
                Some(json!({"env": "prod"})),
            ))
            .expect("evaluated");
        let fired: Vec<&str> = e.findings.iter().map(|f| f.rule.as_str()).collect();
        assert!(fired.contains(&"topic-tagged"), "{fired:?}");
        assert_eq!(e.rule_errors.len(), 1, "{:?}", e.rule_errors);
        assert_eq!(e.rule_errors[0].rule, "topic-field");
        assert!(
            e.rule_errors[0].error.contains("DisplayName"),
            "{:?}",
            e.rule_errors
        );
        // Tags Config did not record are not missing tags: an error, not "compliant".
        let e = p
            .evaluate(&item(json!({"DisplayName": "x"}), None))
            .expect("evaluated");
        let errors: Vec<&str> = e.rule_errors.iter().map(|r| r.rule.as_str()).collect();
        assert_eq!(errors, ["topic-tagged"]);
        assert!(
            e.rule_errors[0].error.contains("not recorded"),
            "{:?}",
            e.rule_errors
        );
        assert_eq!(
            e.findings
                .iter()
                .filter(|f| f.rule == "topic-field")
                .count(),
            1
        );
    }

    #[test]
    fn a_condition_that_is_not_a_bool_is_an_error() {
        let p = policy(&RULES.replace(
            "configuration.DisplayName == 'x'",
            "configuration.DisplayName",
        ))
        .expect("policy");
        let e = p
            .evaluate(&item(json!({"DisplayName": "x"}), Some(json!({}))))
            .expect("evaluated");
        assert!(
            e.rule_errors[0].error.contains("not true or false"),
            "{:?}",
            e.rule_errors
        );
    }

    #[test]
    fn bad_rules_are_refused_whole_with_their_id() {
        for (bad, needle) in [
            ("configuration.DisplayName ==", "Syntax error"),
            ("nope(configuration)", "unknown function `nope`"),
            ("cfg.DisplayName == 'x'", "unknown variable `cfg`"),
            ("configuration.x.exists(p, q > 1)", "unknown variable `q`"),
        ] {
            let err =
                policy(&RULES.replace("configuration.DisplayName == 'x'", bad)).expect_err(bad);
            assert!(
                err.contains("rule `topic-field`") && err.contains(needle),
                "{bad}: {err}"
            );
        }
        let err = policy(&RULES.replace("named {{ configuration.DisplayName }}", "named {{ x"))
            .expect_err("open");
        assert!(err.contains("never closed"), "{err}");
        let err = policy(&RULES.replace("topic-tagged", "topic-field")).expect_err("twice");
        assert!(err.contains("defined twice"), "{err}");
        let err = policy(&RULES.replace("topic-tagged", "s3-public-acl")).expect_err("taken");
        assert!(err.contains("built-in"), "{err}");
        // A pack rule's id: the policy's rule replaces it (a release that adds a pack rule
        // with an id a deployed policy uses must not make that policy refused).
        let p =
            policy(&RULES.replace("topic-tagged", "sns-topic-not-encrypted")).expect("replaces");
        assert_eq!(p.replaced_pack_rules(), ["sns-topic-not-encrypted"]);
        assert_eq!(
            p.rule("sns-topic-not-encrypted").map(|r| r.source),
            Some(RuleSource::Policy)
        );
        assert_eq!(
            p.catalog()
                .iter()
                .filter(|r| r.id == "sns-topic-not-encrypted")
                .count(),
            1
        );
        let err = policy(&RULES.replace(
            "\"AWS::SNS::Topic\"]\nchecks = \"x.\"\ncondition = \"tag",
            "\"SNS Topic\"]\nchecks = \"x.\"\ncondition = \"tag",
        ))
        .expect_err("type");
        assert!(err.contains("SNS Topic"), "{err}");
        let err = policy(&RULES.replace(
            "\"AWS::SNS::Topic\"]\nchecks = \"x.\"\ncondition = \"tag",
            "\"AWS::SNS::topic\"]\nchecks = \"x.\"\ncondition = \"tag",
        ))
        .expect_err("case");
        assert!(err.contains("did you mean AWS::SNS::Topic"), "{err}");
        // What would exhaust a thread's stack is refused before it is compiled or run.
        let deep = format!("{}configuration.x{} == 1", "(".repeat(30), ")".repeat(30));
        let err =
            policy(&RULES.replace("configuration.DisplayName == 'x'", &deep)).expect_err("deep");
        assert!(err.contains("nested 30 deep"), "{err}");
        let long = format!("has(configuration{})", ".x".repeat(200));
        let err =
            policy(&RULES.replace("configuration.DisplayName == 'x'", &long)).expect_err("long");
        assert!(err.contains("levels deep"), "{err}");
        let huge = vec!["true"; 1000].join(" && ");
        let err =
            policy(&RULES.replace("configuration.DisplayName == 'x'", &huge)).expect_err("huge");
        assert!(err.contains("at most 4096"), "{err}");
        let nested = "[1].all(a, [1].all(b, [1].all(c, a + b + c > 0)))";
        let err =
            policy(&RULES.replace("configuration.DisplayName == 'x'", nested)).expect_err("loops");
        assert!(err.contains("nested more than 2 deep"), "{err}");
        // A comprehension's own variable is known inside it only.
        assert!(policy(&RULES.replace(
            "configuration.DisplayName == 'x'",
            "[1, 2].exists(q, q > 1)"
        ))
        .is_ok());
    }

    #[test]
    fn a_rule_that_reads_the_item_in_a_loop_is_cut_short_not_left_running() {
        // For each of 3,000 elements, the whole configuration again: 9 million values.
        let p = policy(&RULES.replace(
            "configuration.DisplayName == 'x'",
            "configuration.list.exists(a, configuration.?list.orValue([]).exists(b, b == -1))",
        ))
        .expect("policy");
        let list: Vec<i64> = (0..3000).collect();
        let e = p
            .evaluate(&item(
                json!({"list": list, "DisplayName": "x"}),
                Some(json!({})),
            ))
            .expect("evaluated");
        let err = e
            .rule_errors
            .iter()
            .find(|r| r.rule == "topic-field")
            .expect("an error");
        assert!(err.error.contains("more than"), "{}", err.error);
        assert!(!e.findings.iter().any(|f| f.rule == "topic-field"));
    }

    #[test]
    fn loops_over_what_the_expression_builds_are_charged_too() {
        // 600 x 600 steps over a list the expression writes, and a map that copies it 600
        // times: neither reads the item, both must stop on the budget.
        let zeros = vec!["0"; 600].join(",");
        for condition in [
            format!("[{zeros}].all(a, [{zeros}].all(b, a + b >= 0))"),
            format!("size([{zeros}].map(a, [{zeros}])) > 0"),
        ] {
            let p = policy(&RULES.replace("configuration.DisplayName == 'x'", &condition))
                .expect("policy");
            let e = p
                .evaluate(&item(json!({"DisplayName": "x"}), Some(json!({}))))
                .expect("evaluated");
            let err = e
                .rule_errors
                .iter()
                .find(|r| r.rule == "topic-field")
                .unwrap_or_else(|| panic!("no error for {condition}: {:?}", e.findings));
            assert!(err.error.contains("more than"), "{}", err.error);
        }
        // What the macros compute is CEL's.
        for (condition, fires) in [
            ("[1, 2, 3].all(x, x > 0)", true),
            ("[1, 2, 3].all(x, x > 1)", false),
            ("[1, 2, 3].exists(x, x == 2)", true),
            ("[1, 2, 3].exists_one(x, x > 1)", false),
            ("[1, 2, 3].exists_one(x, x > 2)", true),
            ("[1, 2, 3].map(x, x * 2) == [2, 4, 6]", true),
            ("[1, 2, 3].map(x, x > 1, x * 2) == [4, 6]", true),
            ("[1, 2, 3].filter(x, x != 2) == [1, 3]", true),
            ("{'a': 1}.exists(k, k == 'a')", true),
            ("[].all(x, false)", true),
            ("has(configuration.DisplayName)", true),
            ("has(configuration.nope)", false),
        ] {
            let p = policy(&RULES.replace("configuration.DisplayName == 'x'", condition))
                .expect(condition);
            let e = p
                .evaluate(&item(json!({"DisplayName": "x"}), Some(json!({}))))
                .expect("evaluated");
            assert!(
                e.rule_errors.iter().all(|r| r.rule != "topic-field"),
                "{condition}: {:?}",
                e.rule_errors
            );
            assert_eq!(
                e.findings.iter().any(|f| f.rule == "topic-field"),
                fires,
                "{condition}"
            );
        }
    }

    #[test]
    fn world_open_counts_as_the_policy_does_and_refuses_what_is_not_a_range() {
        let p = policy(
            &RULES
                .replace(
                    "configuration.DisplayName == 'x'",
                    "world_open(configuration.ranges)",
                )
                .replace(
                    "{{ configuration.DisplayName }}",
                    "{{ configuration.ranges }}",
                ),
        )
        .expect("policy");
        let fires = |ranges: Value| {
            let e = p
                .evaluate(&item(json!({"ranges": ranges}), Some(json!({}))))
                .expect("evaluated");
            (
                e.findings.iter().any(|f| f.rule == "topic-field"),
                e.rule_errors.first().map(|r| r.error.clone()),
            )
        };
        assert_eq!(fires(json!("0.0.0.0/0")), (true, None));
        assert_eq!(fires(json!(["0.0.0.0/1", "128.0.0.0/1"])), (true, None));
        assert_eq!(fires(json!(["::/0"])), (true, None));
        assert_eq!(
            fires(json!(["10.0.0.0/8", "203.0.113.0/24"])),
            (false, None)
        );
        let (hit, err) = fires(json!(["0.0.0.0/0x"]));
        assert!(!hit && err.is_some_and(|e| e.contains("not a CIDR")));
    }
}
