//! Everything `justice` prints goes through here. Event text (ids, names, tags, evidence,
//! refusal reasons) is untrusted: control and invisible characters, escape sequences among
//! them, are replaced so that no event can rewrite the terminal or forge a line. When the
//! reader goes away (`justice rules | head`), the command ends quietly.

use std::io::Write;

/// The text with every control or invisible character but the line breaks replaced.
pub fn terminal(s: &str) -> std::borrow::Cow<'_, str> {
    let bad = |c: char| c != '\n' && justice_core::text::is_hidden(c);
    if !s.chars().any(bad) {
        return std::borrow::Cow::Borrowed(s);
    }
    std::borrow::Cow::Owned(
        s.chars()
            .map(|c| if bad(c) { '\u{fffd}' } else { c })
            .collect(),
    )
}

fn write(to: &mut dyn Write, text: &str) {
    if let Err(e) = to.write_all(terminal(text).as_bytes()) {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            // The reader has gone: nothing left to say to anyone.
            std::process::exit(0);
        }
    }
}

pub fn stdout(text: &str) {
    write(&mut std::io::stdout().lock(), text);
}

pub fn stderr(text: &str) {
    write(&mut std::io::stderr().lock(), text);
}

/// `println!` for `justice`: see the module.
macro_rules! say {
    () => { $crate::out::stdout("\n") };
    ($($arg:tt)*) => {{
        let mut line = format!($($arg)*);
        line.push('\n');
        $crate::out::stdout(&line)
    }};
}

/// `eprintln!` for `justice`: see the module.
macro_rules! note {
    ($($arg:tt)*) => {{
        let mut line = format!($($arg)*);
        line.push('\n');
        $crate::out::stderr(&line)
    }};
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_sequences_and_controls_are_replaced_line_breaks_kept() {
        assert_eq!(
            terminal("a\u{1b}[2Kb\rc\n\u{202e}d"),
            "a\u{fffd}[2Kb\u{fffd}c\n\u{fffd}d"
        );
        assert!(matches!(terminal("plain\n"), std::borrow::Cow::Borrowed(_)));
    }
}
