//! Finding the events to replay: files, directories (sorted, recursive), and JSON-lines streams.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

/// One event payload and where it came from (`file` or `file:line`).
pub struct Input {
    pub origin: String,
    pub bytes: Vec<u8>,
}

pub fn expand(paths: &[PathBuf]) -> Result<Vec<PathBuf>, String> {
    let mut out = Vec::new();
    for p in paths {
        walk(p, &mut out)?;
    }
    Ok(out)
}

fn walk(path: &Path, out: &mut Vec<PathBuf>) -> Result<(), String> {
    let meta = std::fs::metadata(path).map_err(|e| format!("{}: {e}", path.display()))?;
    if !meta.is_dir() {
        out.push(path.to_owned());
        return Ok(());
    }
    let mut entries: Vec<PathBuf> = std::fs::read_dir(path)
        .map_err(|e| format!("{}: {e}", path.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    entries.sort();
    for p in entries {
        let is_event_file = p.extension().is_some_and(|e| e == "json" || e == "jsonl");
        if p.is_dir() || is_event_file {
            walk(&p, out)?;
        }
    }
    Ok(())
}

/// Reads a file's events, handing each to `f`: a `.jsonl` file holds one per non-empty line,
/// streamed so that a long recording is never held in memory whole.
pub fn read(path: &Path, mut f: impl FnMut(Input)) -> Result<(), String> {
    let fail = |e: std::io::Error| format!("{}: {e}", path.display());
    if path.extension().is_some_and(|e| e == "jsonl") {
        let mut reader = BufReader::new(File::open(path).map_err(fail)?);
        let mut line = Vec::new();
        let mut n = 0;
        loop {
            line.clear();
            if reader.read_until(b'\n', &mut line).map_err(fail)? == 0 {
                return Ok(());
            }
            n += 1;
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            f(Input {
                origin: format!("{}:{n}", path.display()),
                bytes: std::mem::take(&mut line),
            });
        }
    }
    let bytes = std::fs::read(path).map_err(fail)?;
    f(Input {
        origin: path.display().to_string(),
        bytes,
    });
    Ok(())
}
