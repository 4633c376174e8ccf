//! The docs that are reference material are checked against the code, so they cannot drift:
//! the rule table against the rule registry, the README's first commands, the links between
//! pages.

use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(root().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

#[test]
fn the_rule_tables_are_the_rules_the_code_has() {
    // Built-in, pack: what `justice rules --markdown` prints under the embedded policy.
    let table = justice_core::policy::Policy::default_policy().rules_markdown();
    for page in ["docs/rules.md", "README.md"] {
        let text = read(page);
        let between = text
            .split_once("<!-- rules:begin -->\n")
            .and_then(|(_, rest)| rest.split_once("<!-- rules:end -->"))
            .map(|(t, _)| t)
            .unwrap_or_else(|| panic!("{page}: no rules markers"));
        assert_eq!(
            between, table,
            "{page}: run `bash infra/rules_table.sh` to regenerate the table"
        );
    }
    let rows = table.lines().filter(|l| l.starts_with("| `")).count();
    assert_eq!(
        rows,
        justice_core::policy::Policy::default_policy()
            .catalog()
            .len()
    );
}

#[test]
fn the_readme_opens_with_the_two_commands() {
    let readme = read("README.md");
    let first: String = readme.lines().take(20).collect::<Vec<_>>().join("\n");
    assert!(
        first.contains(
            "cargo run --release -p justice -- replay tests/fixtures/config-events/eventbridge"
        ),
        "{first}"
    );
    assert!(first.contains("bash infra/test.sh"), "{first}");
}

#[test]
fn every_link_between_pages_leads_somewhere() {
    let mut pages = vec!["README.md".to_owned()];
    for e in std::fs::read_dir(root().join("docs")).expect("docs/") {
        let name = e.expect("entry").file_name().to_string_lossy().into_owned();
        if name.ends_with(".md") {
            pages.push(format!("docs/{name}"));
        }
    }
    for page in &pages {
        let text = read(page);
        let dir = Path::new(page).parent().unwrap_or(Path::new(""));
        for (i, _) in text.match_indices("](") {
            let rest = &text[i + 2..];
            let Some(end) = rest.find(')') else { continue };
            let target = &rest[..end];
            if target.starts_with("http") || target.starts_with('#') || target.contains(' ') {
                continue;
            }
            let file = target.split('#').next().unwrap_or(target);
            assert!(
                root().join(dir).join(file).exists(),
                "{page}: link to {target} leads nowhere"
            );
        }
    }
}
