//! What the `justice` command's tests share: the binary, run from the repository's root.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

pub fn justice(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_justice"))
        .args(args)
        .current_dir(root())
        .output()
        .expect("run justice")
}

/// The README's replay of the bundled sample events into a fresh store at `state`, with
/// `extra` arguments.
pub fn readme_replay(state: &str, extra: &[&str]) -> Output {
    let mut args = vec![
        "replay",
        "tests/fixtures/config-events/eventbridge",
        "tests/fixtures/config-events/sns",
        "--config-history",
        "tests/fixtures/config-history",
        "--fresh",
        "--state",
        state,
    ];
    args.extend_from_slice(extra);
    justice(&args)
}
