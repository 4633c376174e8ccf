//! Everything `justice` prints goes through here. Event text (ids, names, tags, evidence,
//! refusal reasons) is untrusted: control and invisible characters, escape sequences among
//! them, are replaced so that no event can rewrite the terminal or forge a line. When the
//! reader goes away (`justice rules | head`), the command ends quietly.

use std::io::Write;

/// The text with every control or invisible character replaced, line breaks included: each
/// `say!` and `note!` prints exactly one line, whatever an event's text holds.
pub fn terminal(s: &str) -> std::borrow::Cow<'_, str> {
    lines(s, false)
}

/// As [`terminal`], keeping the line breaks of a multi-line text the engine composed itself
/// (`explain`'s breakdown quotes every event field in it).
pub fn lines(s: &str, keep_breaks: bool) -> std::borrow::Cow<'_, str> {
    let bad = |c: char| !(keep_breaks && c == '\n') && justice_core::text::is_hidden(c);
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
    if let Err(e) = to.write_all(text.as_bytes()) {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            // The reader has gone: nothing left to say to anyone.
            std::process::exit(0);
        }
    }
}

/// One line on stdout (see the module).
pub fn stdout(line: &str) {
    let mut text = terminal(line).into_owned();
    text.push('\n');
    write(&mut std::io::stdout().lock(), &text);
}

/// One line on stderr (see the module).
pub fn stderr(line: &str) {
    let mut text = terminal(line).into_owned();
    text.push('\n');
    write(&mut std::io::stderr().lock(), &text);
}

/// A multi-line text the engine composed, as it is (line breaks kept, nothing else hidden).
pub fn stdout_text(text: &str) {
    write(&mut std::io::stdout().lock(), &lines(text, true));
}

/// `println!` for `justice`: see the module.
macro_rules! say {
    () => { $crate::out::stdout("") };
    ($($arg:tt)*) => { $crate::out::stdout(&format!($($arg)*)) };
}

/// `eprintln!` for `justice`: see the module.
macro_rules! note {
    ($($arg:tt)*) => { $crate::out::stderr(&format!($($arg)*)) };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_sequences_controls_and_line_breaks_are_replaced() {
        assert_eq!(
            terminal("a\u{1b}[2Kb\rc\n\u{202e}d\u{2028}e"),
            "a\u{fffd}[2Kb\u{fffd}c\u{fffd}\u{fffd}d\u{fffd}e"
        );
        assert!(matches!(terminal("plain"), std::borrow::Cow::Borrowed(_)));
        assert_eq!(lines("a\nb\u{1b}", true), "a\nb\u{fffd}");
    }
}
