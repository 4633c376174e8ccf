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
