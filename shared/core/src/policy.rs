//! The policy: what is risky, how much, and what may be done about it. A TOML file (format in
//! `default-policy.toml`, which is embedded and is the default), validated as a whole: a policy
//! with any error is refused, never half applied.

use std::collections::BTreeMap;
use std::fmt;

use regex::Regex;
use serde::{Deserialize, Serialize};

pub use crate::rules::settings::{Exposure, Ports, RequiredTag, RuleInputs, TagCheck};
use crate::rules::{self, Severity};

pub const DEFAULT_POLICY: &str = include_str!("default-policy.toml");

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    None,
    Warn,
    Disable,
    Kill,
}

impl Level {
    pub const ALL: [Level; 4] = [Level::None, Level::Warn, Level::Disable, Level::Kill];

    pub fn as_str(self) -> &'static str {
        match self {
            Level::None => "none",
            Level::Warn => "warn",
            Level::Disable => "disable",
            Level::Kill => "kill",
        }
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

pub use crate::types::ActionCap;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Thresholds {
    pub warn: u32,
    pub disable: u32,
    pub kill: u32,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            warn: 25,
            disable: 60,
            kill: 150,
        }
    }
}

impl Thresholds {
    pub fn level(&self, score: u32) -> Level {
        if score >= self.kill {
            Level::Kill
        } else if score >= self.disable {
            Level::Disable
        } else if score >= self.warn {
            Level::Warn
        } else {
            Level::None
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Points {
    pub critical: u32,
    pub high: u32,
    pub medium: u32,
    pub low: u32,
}

impl Default for Points {
    fn default() -> Self {
        Points {
            critical: 100,
            high: 60,
            medium: 25,
            low: 5,
        }
    }
}

impl Points {
    pub fn of(&self, s: Severity) -> u32 {
        match s {
            Severity::Critical => self.critical,
            Severity::High => self.high,
            Severity::Medium => self.medium,
            Severity::Low => self.low,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Age {
    pub full_after_hours: f64,
    pub max_extra: f64,
}

impl Default for Age {
    fn default() -> Self {
        Age {
            full_after_hours: 24.0,
            max_extra: 1.0,
        }
    }
}

/// The most episode starts a state keeps (the newest). A resource that flaps thousands of
/// times in the window would otherwise carry every start in every read and write of its
/// state; the policy's recidivism factor must reach `max_factor` within
/// `MAX_EPISODE_STARTS - 1` episodes (one start may be taken back when a richer copy of the
/// newest item replaces it), so the starts dropped never count.
pub const MAX_EPISODE_STARTS: usize = 128;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Recidivism {
    pub window_days: u32,
    pub per_episode: f64,
    pub max_factor: f64,
}

impl Default for Recidivism {
    fn default() -> Self {
        Recidivism {
            window_days: 30,
            per_episode: 0.25,
            max_factor: 2.0,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Reachability {
    pub unreachable_factor: f64,
}

impl Default for Reachability {
    fn default() -> Self {
        Reachability {
            unreachable_factor: 0.2,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Grace {
    pub disable_hours: u32,
    pub kill_hours: u32,
    pub destructive_hours: u32,
}

impl Default for Grace {
    fn default() -> Self {
        Grace {
            disable_hours: 24,
            kill_hours: 72,
            destructive_hours: 72,
        }
    }
}

/// The strongest action the findings of each class may drive (`justice rules` shows each
/// rule's class). Only the points of findings allowed to drive an action count towards its
/// level; an action that cannot be undone counts only findings allowed to kill (for exposure,
/// critical ones). A hygiene or tagging cap of `kill` is
/// refused unless `allow_destructive_hygiene` says it is meant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClassCaps {
    pub exposure: ActionCap,
    pub hygiene: ActionCap,
    pub tagging: ActionCap,
    pub allow_destructive_hygiene: bool,
}

impl Default for ClassCaps {
    fn default() -> Self {
        ClassCaps {
            exposure: ActionCap::Kill,
            hygiene: ActionCap::None,
            tagging: ActionCap::None,
            allow_destructive_hygiene: false,
        }
    }
}

impl ClassCaps {
    pub fn of(&self, class: crate::rules::FindingClass) -> ActionCap {
        use crate::rules::FindingClass;
        match class {
            FindingClass::Exposure => self.exposure,
            FindingClass::Hygiene => self.hygiene,
            FindingClass::Tagging => self.tagging,
        }
    }
}

/// What the scorer accepts from an event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Intake {
    /// How far a capture time may lie after the notification's time or the clock: more is an
    /// item from the future, which would pin the state and hide every later change.
    pub clock_skew_minutes: u32,
}

impl Default for Intake {
    fn default() -> Self {
        Intake {
            clock_skew_minutes: 5,
        }
    }
}

impl Intake {
    pub fn skew_ms(&self) -> crate::time::Millis {
        i64::from(self.clock_skew_minutes) * 60_000
    }
}

/// What the judge expects of Krampus.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KrampusSettings {
    /// Krampus keeps a task it ran in `tasks.json` and runs it again on every run; the judge
    /// removes it once a Config item shows its effect. A task past its time and still not
    /// confirmed after this many hours is reported to the security team, once.
    pub confirm_hours: u32,
    /// A resource held by the blast-radius limit this many hours is reported to the security
    /// team, once: the budget is too small for what is open, and a person must decide.
    pub held_alert_hours: u32,
}

impl Default for KrampusSettings {
    fn default() -> Self {
        KrampusSettings {
            confirm_hours: 24,
            held_alert_hours: 24,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Owner {
    pub tag_keys: Vec<String>,
}

impl Default for Owner {
    fn default() -> Self {
        Owner {
            tag_keys: vec!["owner".into(), "team".into(), "contact".into()],
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RuleSettings {
    pub enabled: bool,
    pub weight: f64,
}

impl Default for RuleSettings {
    fn default() -> Self {
        RuleSettings {
            enabled: true,
            weight: 1.0,
        }
    }
}

#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequiredTagSpec {
    pub key: String,
    pub pattern: Option<String>,
    pub allowed: Option<Vec<String>>,
    #[serde(default = "ten")]
    pub points: u32,
    pub resource_types: Option<Vec<String>>,
}

fn ten() -> u32 {
    10
}

/// The policy file as written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyFile {
    pub version: u32,
    #[serde(default)]
    pub thresholds: Thresholds,
    #[serde(default)]
    pub points: Points,
    #[serde(default)]
    pub age: Age,
    #[serde(default)]
    pub recidivism: Recidivism,
    #[serde(default)]
    pub reachability: Reachability,
    #[serde(default)]
    pub ports: Ports,
    #[serde(default)]
    pub exposure: Exposure,
    #[serde(default)]
    pub grace: Grace,
    #[serde(default)]
    pub intake: Intake,
    #[serde(default)]
    pub krampus: KrampusSettings,
    #[serde(default = "default_caps")]
    pub caps: BTreeMap<String, ActionCap>,
    #[serde(default)]
    pub class_caps: ClassCaps,
    #[serde(default)]
    pub owner: Owner,
    #[serde(default)]
    pub rules: BTreeMap<String, RuleSettings>,
    #[serde(default = "default_required_tags")]
    pub required_tags: Vec<RequiredTagSpec>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exemptions: Vec<ExemptionSpec>,
    /// Rules written in the policy (`rules::custom`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub custom_rules: Vec<crate::rules::custom::CustomRuleSpec>,
}

/// A resource the security team exempts from tasks for a while, as written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExemptionSpec {
    /// An ARN, the ARN written in tasks, or a resource key; Unix-style wildcards allowed.
    pub resource: String,
    pub reason: String,
    /// RFC 3339; the exemption ends then.
    pub expires: String,
}

/// A validated exemption.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exemption {
    pub resource: String,
    pub reason: String,
    pub expires: crate::time::Millis,
}

/// The caps of `types::RESOURCE_TYPES` under a default of kill (the embedded default policy
/// says the same, which a test holds it to).
fn default_caps() -> BTreeMap<String, ActionCap> {
    std::iter::once(("default".to_owned(), ActionCap::Kill))
        .chain(
            crate::types::RESOURCE_TYPES
                .iter()
                .filter_map(|t| t.default_cap.map(|c| (t.config_type.to_owned(), c))),
        )
        .collect()
}

fn default_required_tags() -> Vec<RequiredTagSpec> {
    vec![
        RequiredTagSpec {
            key: "owner".into(),
            pattern: Some("^[A-Za-z0-9][A-Za-z0-9._@+-]{1,127}$".into()),
            allowed: None,
            points: 10,
            resource_types: None,
        },
        RequiredTagSpec {
            key: "team".into(),
            pattern: Some("^[a-z0-9][a-z0-9-]{1,62}$".into()),
            allowed: None,
            points: 10,
            resource_types: None,
        },
    ]
}

/// The numbers of a policy file in their ranges: thresholds in order, factors and hours
/// bounded, no port 0, no destructive cap for hygiene unless meant.
fn check_numbers(file: &PolicyFile, errors: &mut Vec<PolicyError>) {
    if file.version != 1 {
        errors.push(PolicyError::Version(file.version));
    }
    let t = &file.thresholds;
    if !(t.warn > 0 && t.warn < t.disable && t.disable < t.kill) {
        errors.push(PolicyError::ThresholdOrder {
            warn: t.warn,
            disable: t.disable,
            kill: t.kill,
        });
    }
    let positive = |x: f64| x.is_finite() && x > 0.0;
    if !positive(file.age.full_after_hours) {
        errors.push(invalid("age.full_after_hours", "must be a positive number"));
    }
    if !(file.age.max_extra.is_finite() && (0.0..=10.0).contains(&file.age.max_extra)) {
        errors.push(invalid("age.max_extra", "must be between 0 and 10"));
    }
    let r = &file.recidivism;
    if r.window_days == 0 || r.window_days > 366 {
        errors.push(invalid(
            "recidivism.window_days",
            "must be between 1 and 366",
        ));
    }
    if !(r.per_episode.is_finite() && r.per_episode >= 0.0) {
        errors.push(invalid("recidivism.per_episode", "must be zero or more"));
    }
    if !(r.max_factor.is_finite() && (1.0..=10.0).contains(&r.max_factor)) {
        errors.push(invalid("recidivism.max_factor", "must be between 1 and 10"));
    } else if r.per_episode > 0.0 && !recidivism_saturates(r) {
        errors.push(invalid(
            "recidivism.per_episode",
            "too small: the factor must reach max_factor within 127 episodes, so \
             per_episode must be 0 or at least (max_factor - 1) / 126",
        ));
    }
    let f = file.reachability.unreachable_factor;
    if !(f.is_finite() && (0.0..=1.0).contains(&f)) {
        errors.push(invalid(
            "reachability.unreachable_factor",
            "must be between 0 and 1",
        ));
    }
    if file.ports.admin.contains(&0)
        || file.ports.database.contains(&0)
        || file.ports.web.contains(&0)
    {
        errors.push(invalid("ports", "port 0 is not a port"));
    }
    let c = &file.class_caps;
    for (name, cap) in [("hygiene", c.hygiene), ("tagging", c.tagging)] {
        if cap == ActionCap::Kill && !c.allow_destructive_hygiene {
            errors.push(invalid(
                &format!("class_caps.{name}"),
                "`kill` lets a finding that exposes nothing delete a resource; set \
                 `allow_destructive_hygiene = true` if that is meant",
            ));
        }
    }
    let e = &file.exposure;
    if !(e.range_percent.is_finite() && e.range_percent > 0.0 && e.range_percent <= 100.0) {
        errors.push(invalid(
            "exposure.range_percent",
            "must be more than 0 and at most 100",
        ));
    }
    if !(e.union_percent.is_finite() && e.union_percent > 0.0 && e.union_percent < 100.0) {
        errors.push(invalid(
            "exposure.union_percent",
            "must be more than 0 and less than 100",
        ));
    }
    let g = &file.grace;
    if g.kill_hours < g.disable_hours || g.destructive_hours < g.disable_hours {
        errors.push(invalid(
            "grace",
            "kill_hours and destructive_hours must be at least disable_hours: destroying gets the longer grace",
        ));
    }
    if file.intake.clock_skew_minutes > 60 {
        errors.push(invalid(
            "intake.clock_skew_minutes",
            "must be at most 60: a later capture time is an item from the future",
        ));
    }
    if !(1..=720).contains(&file.krampus.confirm_hours) {
        errors.push(invalid(
            "krampus.confirm_hours",
            "must be between 1 and 720",
        ));
    }
}

/// The names a policy file gives: resource types of the caps, owner tag keys, rule ids (from
/// the rule registry) and their weights.
fn check_names(file: &PolicyFile, errors: &mut Vec<PolicyError>) {
    if !file.caps.contains_key("default") {
        errors.push(invalid(
            "caps.default",
            "is required when [caps] is given: it caps every type not listed",
        ));
    }
    for key in file.caps.keys() {
        if key != "default" && !is_resource_type(key) {
            errors.push(invalid(
                &format!("caps.\"{key}\""),
                "not `default` nor a resource type like AWS::S3::Bucket",
            ));
        }
    }
    if file.owner.tag_keys.iter().any(|k| k.trim().is_empty()) {
        errors.push(invalid("owner.tag_keys", "empty tag key"));
    }
    for (id, s) in &file.rules {
        if rules::find(id).is_none()
            && rules::custom::pack().find(id).is_none()
            && !file.custom_rules.iter().any(|r| &r.id == id)
        {
            errors.push(PolicyError::UnknownRule(id.clone()));
        }
        if !(s.weight.is_finite() && (0.0..=100.0).contains(&s.weight)) {
            errors.push(invalid(
                &format!("rules.{id}.weight"),
                "must be between 0 and 100",
            ));
        }
    }
}

/// The policy's written rules, compiled; every problem goes to `errors`, each naming its rule.
fn compile_custom(file: &PolicyFile, errors: &mut Vec<PolicyError>) -> rules::custom::RuleSet {
    for r in &file.custom_rules {
        // A pack rule of the same id is replaced by the policy's (a later release may add one
        // with an id a policy already uses: refusing the policy then would stop the scorer).
        if rules::find(&r.id).is_some() {
            errors.push(PolicyError::Rule(format!(
                "rule `{}`: the id is a built-in rule's (switch that one with [rules.{}])",
                r.id, r.id
            )));
        }
    }
    match rules::custom::RuleSet::compile(&file.custom_rules, rules::custom::RuleSource::Policy) {
        Ok(set) => set,
        Err(e) => {
            errors.extend(e.into_iter().map(PolicyError::Rule));
            rules::custom::RuleSet::default()
        }
    }
}

/// The required tags, each with its check compiled; a bad one is an error, not skipped.
fn required_tags(file: &PolicyFile, errors: &mut Vec<PolicyError>) -> Vec<RequiredTag> {
    let mut required_tags = Vec::with_capacity(file.required_tags.len());
    for (i, spec) in file.required_tags.iter().enumerate() {
        let field = format!("required_tags[{i}]");
        if spec.key.trim().is_empty() {
            errors.push(invalid(&field, "key is empty"));
            continue;
        }
        if file.required_tags[..i]
            .iter()
            .any(|o| o.key.eq_ignore_ascii_case(&spec.key))
        {
            errors.push(invalid(
                &field,
                &format!("tag `{}` is required twice", spec.key),
            ));
        }
        if let Some(types) = &spec.resource_types {
            for t in types.iter().filter(|t| !is_resource_type(t)) {
                errors.push(invalid(
                    &format!("{field}.resource_types"),
                    &format!("`{t}` is not a resource type"),
                ));
            }
        }
        let check = match (&spec.pattern, &spec.allowed) {
            (Some(_), Some(_)) => {
                errors.push(invalid(&field, "give `pattern` or `allowed`, not both"));
                continue;
            }
            (Some(p), None) => match Regex::new(p) {
                Ok(re) => TagCheck::Pattern(re),
                Err(e) => {
                    errors.push(PolicyError::BadPattern {
                        key: spec.key.clone(),
                        reason: e.to_string(),
                    });
                    continue;
                }
            },
            (None, Some(list)) if list.is_empty() => {
                errors.push(invalid(
                    &field,
                    "`allowed` is empty: nothing could satisfy it",
                ));
                continue;
            }
            (None, Some(list)) => TagCheck::Allowed(list.clone()),
            (None, None) => TagCheck::Present,
        };
        required_tags.push(RequiredTag {
            key: spec.key.clone(),
            check,
            points: spec.points,
            resource_types: spec.resource_types.clone(),
        });
    }
    required_tags
}

/// The exemptions, each with its expiry read; one without a reason or a time is an error.
fn exemptions(file: &PolicyFile, errors: &mut Vec<PolicyError>) -> Vec<Exemption> {
    let mut exemptions = Vec::with_capacity(file.exemptions.len());
    for (i, e) in file.exemptions.iter().enumerate() {
        let field = format!("exemptions[{i}]");
        if e.resource.trim().is_empty() {
            errors.push(invalid(&field, "resource is empty"));
        }
        if e.reason.trim().is_empty() {
            errors.push(invalid(&field, "an exemption needs a reason"));
        }
        match crate::time::parse_rfc3339(&e.expires) {
            Some(expires) => exemptions.push(Exemption {
                resource: e.resource.clone(),
                reason: e.reason.clone(),
                expires,
            }),
            None => errors.push(invalid(
                &format!("{field}.expires"),
                "not an RFC 3339 time like 2027-01-31T00:00:00Z",
            )),
        }
    }
    exemptions
}

/// Whether the recidivism factor reaches `max_factor` within the episodes a state keeps
/// (`MAX_EPISODE_STARTS`, less one that a richer copy of the newest item may take back).
fn recidivism_saturates(r: &Recidivism) -> bool {
    let episodes = (MAX_EPISODE_STARTS - 1) as f64;
    1.0 + r.per_episode * (episodes - 1.0) >= r.max_factor
}

fn invalid(field: &str, reason: &str) -> PolicyError {
    PolicyError::Invalid {
        field: field.to_owned(),
        reason: reason.to_owned(),
    }
}

/// What the rules found on one item.
#[derive(Debug, Clone, PartialEq)]
pub struct Evaluation {
    pub findings: Vec<rules::Finding>,
    /// Written rules that could not be evaluated on the item.
    pub rule_errors: Vec<rules::RuleError>,
}

/// A validated policy, ready for scoring.
#[derive(Debug, Clone)]
pub struct Policy {
    pub thresholds: Thresholds,
    pub points: Points,
    pub age: Age,
    pub recidivism: Recidivism,
    pub reachability: Reachability,
    pub ports: Ports,
    pub exposure: Exposure,
    pub grace: Grace,
    pub intake: Intake,
    pub krampus: KrampusSettings,
    pub caps: BTreeMap<String, ActionCap>,
    pub class_caps: ClassCaps,
    pub owner_tag_keys: Vec<String>,
    pub rules: BTreeMap<String, RuleSettings>,
    pub required_tags: Vec<RequiredTag>,
    pub exemptions: Vec<Exemption>,
    /// The policy's written rules, compiled (the pack's are `rules::custom::pack`).
    pub custom: std::sync::Arc<crate::rules::custom::RuleSet>,
    /// The file as read, for display.
    pub file: PolicyFile,
    /// A content hash of the policy (of what it says, not how the file is laid out): a state
    /// records the version it was evaluated with, and is evaluated again under another.
    pub version: String,
}

/// One thing wrong with a policy file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    #[error("not a valid policy file: {0}")]
    Syntax(String),
    #[error("unsupported version {0} (this build reads version 1)")]
    Version(u32),
    #[error("unknown rule id `{0}` in [rules] (see `justice rules`)")]
    UnknownRule(String),
    #[error("thresholds out of order: warn {warn} < disable {disable} < kill {kill} is required")]
    ThresholdOrder { warn: u32, disable: u32, kill: u32 },
    #[error("required tag `{key}`: bad pattern: {reason}")]
    BadPattern { key: String, reason: String },
    #[error("{field}: {reason}")]
    Invalid { field: String, reason: String },
    /// A written rule that does not compile, or fails its own tests.
    #[error("{0}")]
    Rule(String),
}

/// All the errors of a refused policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyErrors(pub Vec<PolicyError>);

impl fmt::Display for PolicyErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for PolicyErrors {}

impl Policy {
    /// The embedded default policy.
    pub fn default_policy() -> Policy {
        match Policy::from_toml(DEFAULT_POLICY) {
            Ok(p) => p,
            // The embedded file is checked by a unit test; this cannot fail in a tested build.
            Err(e) => panic!("embedded default policy is invalid: {e}"),
        }
    }

    pub fn from_toml(text: &str) -> Result<Policy, PolicyErrors> {
        let file: PolicyFile = toml::from_str(text)
            .map_err(|e| PolicyErrors(vec![PolicyError::Syntax(e.to_string())]))?;
        Policy::from_file(file)
    }

    pub fn from_file(file: PolicyFile) -> Result<Policy, PolicyErrors> {
        let mut errors = Vec::new();
        check_numbers(&file, &mut errors);
        check_names(&file, &mut errors);
        let required_tags = required_tags(&file, &mut errors);
        let exemptions = exemptions(&file, &mut errors);
        let custom = compile_custom(&file, &mut errors);
        if !errors.is_empty() {
            return Err(PolicyErrors(errors));
        }
        let canonical = serde_json::to_string(&file).unwrap_or_default();
        // The rules' code is part of what a policy means: a new rules version re-evaluates
        // stored states as a policy change does.
        let version = format!(
            "p-{:016x}",
            crate::item::hash_parts(&[
                &canonical,
                crate::rules::RULES_VERSION,
                crate::rules::custom::pack_version(),
            ])
        );
        let policy = Policy {
            thresholds: file.thresholds.clone(),
            points: file.points.clone(),
            age: file.age.clone(),
            recidivism: file.recidivism.clone(),
            reachability: file.reachability.clone(),
            ports: file.ports.clone(),
            exposure: file.exposure.clone(),
            grace: file.grace.clone(),
            intake: file.intake.clone(),
            krampus: file.krampus.clone(),
            caps: file.caps.clone(),
            class_caps: file.class_caps.clone(),
            owner_tag_keys: file.owner.tag_keys.clone(),
            rules: file.rules.clone(),
            required_tags,
            exemptions,
            custom: std::sync::Arc::new(custom),
            file,
            version,
        };
        // Inline tests of the written rules run wherever the policy is loaded; tests on
        // files need `justice policy check`.
        let report =
            rules::custom::testing::run(&policy.custom, policy.exposure.share(), &|_| Err(None));
        if report.failures.is_empty() {
            Ok(policy)
        } else {
            Err(PolicyErrors(
                report.failures.into_iter().map(PolicyError::Rule).collect(),
            ))
        }
    }

    /// What the rules read of this policy.
    pub fn rule_inputs<'a>(&'a self, memo: &'a rules::settings::Memo) -> RuleInputs<'a> {
        RuleInputs {
            memo,
            ports: &self.ports,
            exposure: &self.exposure,
            required_tags: &self.required_tags,
        }
    }

    /// The findings of the rules this policy enables that apply to the item, built-in, pack and
    /// written (see [`rules::evaluate`]); a written rule that cannot be evaluated on it is its
    /// error, kept apart. `Err` when a built-in rule cannot read the item: the item is wrong.
    pub fn evaluate(
        &self,
        item: &crate::item::ConfigItem,
    ) -> Result<Evaluation, crate::item::ItemError> {
        let memo = rules::settings::Memo::default();
        let mut findings =
            rules::evaluate(item, &self.rule_inputs(&memo), |id| self.rule_enabled(id))?;
        let mut rule_errors = Vec::new();
        let share = self.exposure.share();
        rules::custom::pack().evaluate(
            item,
            share,
            |id| self.rule_enabled(id) && self.custom.find(id).is_none(),
            &mut findings,
            &mut rule_errors,
        );
        self.custom.evaluate(
            item,
            share,
            |id| self.rule_enabled(id),
            &mut findings,
            &mut rule_errors,
        );
        Ok(Evaluation {
            findings,
            rule_errors,
        })
    }

    /// The findings alone: `Err` also when a written rule could not be evaluated.
    pub fn findings(
        &self,
        item: &crate::item::ConfigItem,
    ) -> Result<Vec<rules::Finding>, crate::item::ItemError> {
        let e = self.evaluate(item)?;
        match e.rule_errors.first() {
            None => Ok(e.findings),
            Some(first) => Err(crate::item::ItemError::new(
                item.label(),
                format!("rule {}: {}", first.rule, first.error),
            )),
        }
    }

    pub fn rule_enabled(&self, id: &str) -> bool {
        self.rules.get(id).is_none_or(|s| s.enabled)
    }

    pub fn rule_weight(&self, id: &str) -> f64 {
        self.rules.get(id).map_or(1.0, |s| s.weight)
    }

    /// The strongest action allowed on a resource type.
    pub fn cap(&self, resource_type: &str) -> ActionCap {
        self.caps
            .get(resource_type)
            .or_else(|| self.caps.get("default"))
            .copied()
            .unwrap_or(ActionCap::Kill)
    }

    /// The exemption in force at `now` for a resource known by any of `names`.
    pub fn exemption(&self, names: &[&str], now: crate::time::Millis) -> Option<&Exemption> {
        self.exemptions.iter().find(|e| {
            e.expires > now
                && names
                    .iter()
                    .any(|n| crate::allow::glob_match(&e.resource, n))
        })
    }

    /// Points of a required tag's finding.
    pub fn tag_points(&self, key: &str) -> u32 {
        self.required_tags
            .iter()
            .find(|t| t.key.eq_ignore_ascii_case(key))
            .map_or(0, |t| t.points)
    }
}

fn is_resource_type(s: &str) -> bool {
    crate::identity::check_resource_type(s).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_default_is_valid_and_equals_the_built_in_defaults() {
        let p = Policy::from_toml(DEFAULT_POLICY).expect("default policy");
        let empty = Policy::from_toml("version = 1").expect("minimal policy");
        assert_eq!(
            p.file, empty.file,
            "default-policy.toml and the Default impls disagree"
        );
    }

    fn errors(text: &str) -> Vec<PolicyError> {
        match Policy::from_toml(text) {
            Ok(_) => Vec::new(),
            Err(e) => e.0,
        }
    }

    #[test]
    fn refuses_an_unknown_rule_id() {
        let e = errors("version = 1\n[rules.sg-open-everything]\nweight = 2.0\n");
        assert_eq!(
            e,
            vec![PolicyError::UnknownRule("sg-open-everything".into())]
        );
    }

    #[test]
    fn refuses_a_recidivism_factor_that_grows_past_the_kept_episodes() {
        let policy = |per_episode: &str, max_factor: &str| {
            format!(
                "version = 1\n[recidivism]\nper_episode = {per_episode}\nmax_factor = {max_factor}\n"
            )
        };
        // 1 + 0.005 * 126 < 2: the 128th episode would still count.
        let e = errors(&policy("0.005", "2.0"));
        assert!(
            matches!(&e[..], [PolicyError::Invalid { field, .. }] if field == "recidivism.per_episode"),
            "{e:?}"
        );
        // No growth, growth that stops in time, or nothing to grow to.
        for (per_episode, max_factor) in [("0.0", "2.0"), ("0.008", "2.0"), ("0.001", "1.0")] {
            assert_eq!(
                errors(&policy(per_episode, max_factor)),
                vec![],
                "{per_episode}"
            );
        }
    }

    #[test]
    fn refuses_thresholds_out_of_order() {
        let e = errors("version = 1\n[thresholds]\nwarn = 70\ndisable = 60\n");
        assert!(
            matches!(
                e[..],
                [PolicyError::ThresholdOrder {
                    warn: 70,
                    disable: 60,
                    kill: 150
                }]
            ),
            "{e:?}"
        );
    }

    #[test]
    fn refuses_a_bad_pattern_naming_the_tag() {
        let e = errors("version = 1\n[[required_tags]]\nkey = \"owner\"\npattern = \"([a-z\"\n");
        assert!(
            matches!(&e[..], [PolicyError::BadPattern { key, .. }] if key == "owner"),
            "{e:?}"
        );
    }

    #[test]
    fn refuses_unknown_keys_and_reports_every_error() {
        let e = errors("version = 1\n[thresholds]\nwarm = 10\n");
        assert!(
            matches!(&e[..], [PolicyError::Syntax(m)] if m.contains("warm")),
            "{e:?}"
        );
        let e = errors(
            "version = 2\n[age]\nfull_after_hours = -1.0\n[caps]\n\"S3 bucket\" = \"kill\"\n",
        );
        assert_eq!(e.len(), 4, "version, age, caps key, caps.default: {e:?}");
    }

    #[test]
    fn weights_enable_flags_and_caps_are_read() {
        let p = Policy::from_toml(
            "version = 1\n[rules.ebs-volume-unencrypted]\nenabled = false\n[rules.s3-public-acl]\nweight = 1.5\n",
        )
        .expect("policy");
        assert!(!p.rule_enabled("ebs-volume-unencrypted"));
        assert!(p.rule_enabled("s3-public-acl"));
        assert_eq!(p.rule_weight("s3-public-acl"), 1.5);
        assert_eq!(p.cap("AWS::S3::Bucket"), ActionCap::Disable);
        assert_eq!(p.cap("AWS::EC2::Volume"), ActionCap::Kill);
    }
}
