//! The core's layering, checked so it cannot rot: its modules import one another without a
//! cycle (a cycle means two modules that can only be understood, and changed, together).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Each top-level module of `shared/core/src` and the modules it names as `crate::x`, in its
/// code outside tests.
fn core_imports() -> BTreeMap<String, BTreeSet<String>> {
    // The workspace's own library crates (its `shared/` folder), next to this test crate.
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the workspace");
    let src = root.join("shared").join("core").join("src");
    let mut files = Vec::new();
    let mut dirs = vec![src.clone()];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(&d).expect("core source") {
            let p = e.expect("entry").path();
            if p.is_dir() {
                dirs.push(p);
            } else if p.extension().is_some_and(|x| x == "rs") {
                files.push(p);
            }
        }
    }
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for f in files {
        let rel = f.strip_prefix(&src).expect("under src");
        let first = rel.components().next().expect("a component");
        let module = first
            .as_os_str()
            .to_string_lossy()
            .trim_end_matches(".rs")
            .to_owned();
        if module == "lib" {
            continue;
        }
        let text = std::fs::read_to_string(&f).expect("source");
        let code = text.split("#[cfg(test)]").next().unwrap_or("");
        let deps = graph.entry(module.clone()).or_default();
        for (i, _) in code.match_indices("crate::") {
            let rest = &code[i + "crate::".len()..];
            let names: Vec<&str> = match rest.strip_prefix('{') {
                // `crate::{a, b::c}`
                Some(group) => group
                    .split('}')
                    .next()
                    .unwrap_or("")
                    .split(',')
                    .filter_map(|p| p.trim().split("::").next())
                    .collect(),
                None => rest
                    .split(|c: char| !(c.is_alphanumeric() || c == '_'))
                    .next()
                    .into_iter()
                    .collect(),
            };
            deps.extend(
                names
                    .into_iter()
                    .filter(|n| *n != module)
                    .map(str::to_owned),
            );
        }
    }
    let modules: BTreeSet<String> = graph.keys().cloned().collect();
    for deps in graph.values_mut() {
        deps.retain(|d| modules.contains(d));
    }
    graph
}

/// A path from `to` back to `from`, if there is one.
fn path(graph: &BTreeMap<String, BTreeSet<String>>, from: &str, to: &str) -> Option<Vec<String>> {
    let mut seen = BTreeSet::new();
    let mut stack = vec![vec![to.to_owned()]];
    while let Some(p) = stack.pop() {
        let last = p.last().expect("non-empty").clone();
        if last == from {
            return Some(p);
        }
        if !seen.insert(last.clone()) {
            continue;
        }
        for next in graph.get(&last).into_iter().flatten() {
            let mut q = p.clone();
            q.push(next.clone());
            stack.push(q);
        }
    }
    None
}

#[test]
fn the_core_modules_import_one_another_without_a_cycle() {
    let graph = core_imports();
    assert!(graph.len() > 10, "the core's modules were found: {graph:?}");
    assert!(
        graph["verdict"].contains("policy"),
        "imports are read: {graph:?}"
    );
    for (module, deps) in &graph {
        for dep in deps {
            if let Some(back) = path(&graph, module, dep) {
                panic!("{module} imports {dep}, and back: {}", back.join(" → "));
            }
        }
    }
}
