//! Text from resources (names, tag values, policy ids) is untrusted: quoted and cut.

/// Control characters, bidirectional overrides and invisible characters: what can end a line,
/// hide text or reorder what a reader sees. Identity fields refuse them; displayed text drops
/// or replaces them.
pub fn is_hidden(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{200b}'..='\u{200f}' | '\u{2028}' | '\u{2029}' | '\u{2060}'..='\u{2064}' | '\u{061c}' | '\u{feff}' | '\u{fff9}'..='\u{fffb}' | '\u{e0000}'..='\u{e007f}')
}

/// Where untrusted text is shown, and so what it must not be able to do there. Every output
/// goes through [`untrusted`]: one sanitiser, one policy per output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    /// Inside double quotes in our own text (notices, alerts, `tasks.json` fields, `explain`,
    /// errors): one line; hidden characters shown as U+FFFD, so that a name cannot pass for
    /// another; no double quote or backtick to end the quotes.
    Quoted,
    /// A chat message in markdown: quoted, then every markup character escaped.
    Markdown,
    /// An SNS message attribute, which subscription filters match: `[a-z0-9._-]`, hidden
    /// characters dropped (a zero-width space cannot steer a notice away from its team).
    Attribute,
    /// An SNS subject: printable ASCII, one line.
    Subject,
}

/// `s` made safe for `output`, cut to `max` characters (with an ellipsis).
pub fn untrusted(s: &str, max: usize, output: Output) -> String {
    let mut out = String::with_capacity(s.len().min(max.saturating_mul(4)) + 3);
    let mut n = 0;
    let mut space = false;
    for c in s.chars() {
        // Whitespace of any kind (line breaks included) is one space between words.
        if c.is_whitespace() {
            space = !out.is_empty();
            continue;
        }
        let c = match output {
            // A run of hidden characters shows as one marker: it cannot use up the length
            // bound, so what follows it (an owner's name after 200 zero-width spaces) stays,
            // and an attribute made from quoted text is still the one made from the raw text.
            _ if is_hidden(c) => match output {
                Output::Quoted | Output::Markdown if space || !out.ends_with('\u{fffd}') => {
                    '\u{fffd}'
                }
                Output::Quoted | Output::Markdown => continue,
                Output::Attribute | Output::Subject => continue,
            },
            // What `Quoted` put in place of a hidden character: an attribute made from quoted
            // text (a task's owner) is the one made from the raw text (a notice's owner).
            Output::Attribute if c == '\u{fffd}' => continue,
            Output::Quoted | Output::Markdown if matches!(c, '"' | '`') => '\'',
            Output::Subject if !c.is_ascii_graphic() => '?',
            Output::Attribute => match c.to_ascii_lowercase() {
                c @ ('a'..='z' | '0'..='9' | '.' | '_' | '-') => c,
                _ => '-',
            },
            _ => c,
        };
        if n >= max {
            if output != Output::Attribute && output != Output::Subject {
                out.push('…');
            }
            break;
        }
        if space {
            out.push(if output == Output::Attribute {
                '-'
            } else {
                ' '
            });
            n += 1;
            space = false;
            if n >= max {
                break;
            }
        }
        if output == Output::Markdown && "\\`*_{}[]()<>#+-.!|~&".contains(c) {
            out.push('\\');
        }
        out.push(c);
        n += 1;
    }
    if output == Output::Attribute && out.is_empty() {
        return "unknown".into();
    }
    out
}

/// Untrusted text inside quotes: [`Output::Quoted`].
pub fn quote(s: &str, max: usize) -> String {
    untrusted(s, max, Output::Quoted)
}

/// Untrusted text in chat markdown: [`Output::Markdown`].
pub fn markdown(s: &str, max: usize) -> String {
    untrusted(s, max, Output::Markdown)
}

/// An SNS message attribute value (at most 64 characters): [`Output::Attribute`].
pub fn attribute(s: &str) -> String {
    untrusted(s, 64, Output::Attribute)
}

/// An SNS subject (at most 100 characters): [`Output::Subject`].
pub fn subject(s: &str) -> String {
    untrusted(s, 100, Output::Subject)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_output_has_its_policy() {
        assert_eq!(quote("a\nb\u{202e}c`", 10), "a b\u{fffd}c'");
        assert_eq!(quote("a\u{200b}\u{200b}\u{feff}b", 10), "a\u{fffd}b");
        assert_eq!(quote("abcdef", 3), "abc…");
        assert_eq!(quote("  padded  ", 100), "padded");
        assert_eq!(quote("say \"hi\"", 100), "say 'hi'");
        assert_eq!(
            markdown("*bold* [link](http://x)", 100),
            "\\*bold\\* \\[link\\]\\(http://x\\)"
        );
        assert_eq!(subject("é\nBcc: x"), "? Bcc: x");
        assert_eq!(attribute("Team Platform!"), "team-platform-");
        assert_eq!(attribute("ali\u{200b}ce"), "alice");
        assert_eq!(attribute("\u{200b}"), "unknown");
    }

    /// One corpus of hostile strings, through every output: none can end a line, hide or
    /// reorder text, leave its quotes, inject markup, or grow past its bound.
    #[test]
    fn no_hostile_string_escapes_any_output() {
        let long = "x".repeat(5000);
        let corpus: &[&str] = &[
            "web\nSubject: URGENT\r\nARN: arn:aws:iam::000000000000:root",
            "\u{202e}fdp.exe\u{202c} \u{2066}isolate\u{2069}",
            "zero\u{200b}width\u{feff}bom\u{061c}alm\u{2028}ls\u{2029}ps",
            "tag\u{e0041}chars\u{fff9}annot",
            "\"quoted\" `tick` <b>bold</b> *md* [l](http://x) # h | t ~ &amp;",
            "\t\u{0}\u{7}\u{1b}[31mred\u{1b}[0m",
            "é日本語🙂",
            // Hidden characters past every length bound, then a name.
            &format!("{}alice", "\u{200b}".repeat(300)),
            &format!("{}alice", "\u{200b}\u{200b} a".repeat(120)),
            "",
            "   ",
            &long,
        ];
        for s in corpus {
            for (output, max) in [
                (Output::Quoted, 100),
                (Output::Markdown, 100),
                (Output::Attribute, 64),
                (Output::Subject, 100),
            ] {
                let out = untrusted(s, max, output);
                let why = format!("{output:?} of {s:?}: {out:?}");
                assert_eq!(attribute(&quote(s, 200)), attribute(s), "{why}");
                assert!(!out.chars().any(is_hidden), "{why}");
                assert!(!out.contains('\n') && !out.contains('\r'), "{why}");
                assert!(out.chars().count() <= 2 * max + 1, "{why}");
                match output {
                    Output::Quoted => {
                        assert!(!out.contains('"') && !out.contains('`'), "{why}");
                        assert!(out.chars().count() <= max + 1, "{why}");
                    }
                    Output::Markdown => {
                        // Every markup character is escaped.
                        let mut escaped = false;
                        for c in out.chars() {
                            if !escaped && "`*_{}[]()<>#+-.!|~&".contains(c) {
                                panic!("{why}: unescaped {c:?}");
                            }
                            escaped = !escaped && c == '\\';
                        }
                    }
                    Output::Attribute => {
                        assert!(!out.is_empty() && out.len() <= 64, "{why}");
                        assert!(
                            out.bytes().all(|b| b.is_ascii_lowercase()
                                || b.is_ascii_digit()
                                || b"._-".contains(&b)),
                            "{why}"
                        );
                    }
                    Output::Subject => {
                        assert!(
                            out.len() <= 100
                                && out.bytes().all(|b| b.is_ascii_graphic() || b == b' '),
                            "{why}"
                        );
                    }
                }
            }
        }
    }
}
