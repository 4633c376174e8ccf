//! Finding the events to replay: files, directories (sorted, recursive), and JSON-lines streams.
//! Only regular files are read (a FIFO or a device named `*.json` would block or never end),
//! and no event may be larger than [`MAX_EVENT`]: a recording is input like any other.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

/// The largest event read. AWS delivers at most 256 KB through EventBridge or SNS; bigger
/// items come as oversized notifications, so anything near this size is not an event.
pub const MAX_EVENT: u64 = 4 << 20;

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
    if meta.is_file() {
        out.push(path.to_owned());
        return Ok(());
    }
    if !meta.is_dir() {
        return Err(format!(
            "{}: not a regular file or a directory (a FIFO, socket or device is never read)",
            path.display()
        ));
    }
    let mut entries: Vec<PathBuf> = std::fs::read_dir(path)
        .map_err(|e| format!("{}: {e}", path.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    entries.sort();
    for p in entries {
        let is_event_file = p.extension().is_some_and(|e| e == "json" || e == "jsonl");
        // Everything named like an event is checked, so a FIFO in a directory is an error,
        // not a hang.
        if p.is_dir() || is_event_file {
            walk(&p, out)?;
        }
    }
    Ok(())
}

/// One regular file of at most [`MAX_EVENT`] bytes (an event to explain, a policy).
pub fn read_one(path: &Path) -> Result<Vec<u8>, String> {
    let mut out = None;
    let read = |input: Input| out = Some(input.bytes);
    read_whole(path, read)?;
    out.ok_or_else(|| format!("{}: nothing read", path.display()))
}

/// Reads a file's events, handing each to `f`: a `.jsonl` file holds one per non-empty line,
/// streamed so that a long recording is never held in memory whole. `f` returns whether to go
/// on reading.
pub fn read(path: &Path, mut f: impl FnMut(Input) -> bool) -> Result<(), String> {
    let fail = |e: std::io::Error| format!("{}: {e}", path.display());
    let file = File::open(path).map_err(fail)?;
    // Checked on the open file: the path may have been replaced since it was listed.
    if !file.metadata().map_err(fail)?.is_file() {
        return Err(format!("{}: not a regular file", path.display()));
    }
    if path.extension().is_some_and(|e| e == "jsonl") {
        let mut reader = BufReader::new(file);
        let mut line = Vec::new();
        let mut n = 0;
        loop {
            line.clear();
            n += 1;
            let read = (&mut reader)
                .take(MAX_EVENT + 1)
                .read_until(b'\n', &mut line)
                .map_err(fail)?;
            if read == 0 {
                return Ok(());
            }
            if line.len() as u64 > MAX_EVENT {
                return Err(format!(
                    "{}:{n}: the line is longer than {MAX_EVENT} bytes: not one event",
                    path.display()
                ));
            }
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            let go_on = f(Input {
                origin: format!("{}:{n}", path.display()),
                bytes: std::mem::take(&mut line),
            });
            if !go_on {
                return Ok(());
            }
        }
    }
    whole(path, file, |input| {
        f(input);
    })
}

fn read_whole(path: &Path, f: impl FnMut(Input)) -> Result<(), String> {
    let fail = |e: std::io::Error| format!("{}: {e}", path.display());
    let file = File::open(path).map_err(fail)?;
    if !file.metadata().map_err(fail)?.is_file() {
        return Err(format!("{}: not a regular file", path.display()));
    }
    whole(path, file, f)
}

fn whole(path: &Path, file: File, mut f: impl FnMut(Input)) -> Result<(), String> {
    let fail = |e: std::io::Error| format!("{}: {e}", path.display());
    let mut bytes = Vec::new();
    file.take(MAX_EVENT + 1)
        .read_to_end(&mut bytes)
        .map_err(fail)?;
    if bytes.len() as u64 > MAX_EVENT {
        return Err(format!(
            "{}: larger than {MAX_EVENT} bytes: not one event",
            path.display()
        ));
    }
    f(Input {
        origin: path.display().to_string(),
        bytes,
    });
    Ok(())
}
