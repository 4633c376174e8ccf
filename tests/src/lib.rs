//! Shared helpers of the integration tests: the bundled fixtures and ways to vary them, and
//! (in [`aws`]) the local AWS the adapters are tested against.

pub mod aws;
pub mod krampus;
pub mod local;
pub mod states;

use std::path::{Path, PathBuf};

use justice_core::event::{parse_event, Notice};
use justice_core::{ConfigItem, Policy};
use serde_json::Value;

pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures")
}

/// The event fixtures (every envelope), sorted.
pub fn event_files() -> Vec<PathBuf> {
    let mut out = Vec::new();
    for dir in ["eventbridge", "sns", "config-rule"] {
        let mut files: Vec<PathBuf> = std::fs::read_dir(fixtures().join("config-events").join(dir))
            .map(|rd| rd.filter_map(|e| e.ok().map(|e| e.path())).collect())
            .unwrap_or_default();
        files.sort();
        out.extend(
            files
                .into_iter()
                .filter(|p| p.extension().is_some_and(|e| e == "json")),
        );
    }
    out
}

/// A single-threaded runtime for tests that call the async ports from plain `#[test]`s.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime")
}

pub fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

pub fn read_json(rel: &str) -> Value {
    let path = fixtures().join("config-events").join(rel);
    serde_json::from_slice(&read(&path)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// The configuration item of an EventBridge fixture, after `edit` changed it.
pub fn eb_item(rel: &str, edit: impl FnOnce(&mut Value)) -> ConfigItem {
    let mut event = read_json(rel);
    let ci = event
        .pointer_mut("/detail/configurationItem")
        .unwrap_or_else(|| panic!("{rel} has no configurationItem"));
    edit(ci);
    let bytes = serde_json::to_vec(&event).unwrap_or_default();
    let mut records = parse_event(&bytes).unwrap_or_else(|e| panic!("{rel}: {e}"));
    match records.pop() {
        Some(Ok(Notice::Item { item, .. })) => *item,
        other => panic!("{rel}: expected an item, got {other:?}"),
    }
}

/// The rule ids an item's findings come from, in order, with duplicates.
pub fn rule_ids(item: &ConfigItem, policy: &Policy) -> Vec<String> {
    match policy.findings(item) {
        Ok(f) => f.into_iter().map(|f| f.rule).collect(),
        Err(e) => panic!("evaluation failed: {e}"),
    }
}

/// Sets a value at a JSON pointer, creating nothing: the parent must exist.
pub fn set(v: &mut Value, pointer: &str, value: Value) {
    match v.pointer_mut(pointer) {
        Some(slot) => *slot = value,
        None => {
            let (parent, key) = pointer.rsplit_once('/').unwrap_or(("", pointer));
            match v.pointer_mut(parent) {
                Some(Value::Object(m)) => {
                    m.insert(key.to_owned(), value);
                }
                _ => panic!("no parent object at {parent}"),
            }
        }
    }
}

/// A policy document as AWS Config writes IAM documents: percent-encoded JSON.
pub fn url_encoded(doc: &Value) -> Value {
    let text = doc.to_string();
    let mut out = String::new();
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    Value::String(out)
}

/// The configuration of the property tests: the same cases on every run, so that CI never fails
/// by chance (a test that does teaches everyone to rerun instead of read). Set
/// `PROPTEST_RNG_SEED=<n>` to explore other cases; proptest prints the seed of a failure.
pub fn proptest_config(cases: u32) -> proptest::test_runner::Config {
    use proptest::test_runner::{Config, RngSeed};
    let mut config = Config {
        cases,
        ..Config::default()
    };
    if std::env::var_os("PROPTEST_RNG_SEED").is_none() {
        config.rng_seed = RngSeed::Fixed(0x4a75_7374_6963_6521);
    }
    config
}

/// A policy under which hygiene and tagging findings drive actions too, deletions included:
/// for tests of what Krampus does per type and of task identity, whatever finding asks for it
/// (the default policy acts on exposure only).
pub fn hygiene_acts() -> Policy {
    Policy::from_toml(
        "version = 1\n[class_caps]\nhygiene = \"kill\"\ntagging = \"kill\"\nallow_destructive_hygiene = true\n",
    )
    .expect("a valid policy")
}

/// Writes each state to the store as the scorer would before the judge hears of it (over any
/// revision stored): the judge reads a held resource's state back from the store.
pub async fn write_states<S: justice_service::RiskStore>(
    store: &S,
    states: &[justice_core::RiskState],
) {
    for s in states {
        let stored = store.load(&s.key).await.expect("state read");
        let write = justice_service::Write {
            record: None,
            replace: false,
            state: s,
            item: None,
            expected_revision: stored.state.map(|p| p.revision),
        };
        let done = store.commit(&s.key, write).await.expect("state written");
        assert_eq!(done, justice_service::Commit::Written, "{}", s.key);
    }
}

/// The hostile strings of `text::untrusted`'s own test: a resource's name, owner tag, finding
/// evidence and digest lines in the notices' and the report's tests.
pub fn hostile_corpus() -> Vec<String> {
    vec![
        "web\nSubject: URGENT\r\nARN: arn:aws:iam::000000000000:root".into(),
        "\u{202e}fdp.exe\u{202c} \u{2066}isolate\u{2069}".into(),
        "zero\u{200b}width\u{feff}bom\u{061c}alm\u{2028}ls\u{2029}ps".into(),
        "tag\u{e0041}chars\u{fff9}annot".into(),
        "\"quoted\" `tick` <b>bold</b> *md* [l](http://x) # h | t ~ &amp;".into(),
        "\t\u{0}\u{7}\u{1b}[31mred\u{1b}[0m".into(),
        format!("{}alice\nTeam: security", "\u{200b}".repeat(300)),
        "x".repeat(5000),
    ]
}
