//! Text from resources (names, tag values, policy ids) is untrusted: quoted and cut.

/// Control characters, bidirectional overrides and invisible characters: what can end a line,
/// hide text or reorder what a reader sees. Identity fields refuse them; displayed text drops
/// or replaces them.
pub fn is_hidden(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{200b}'..='\u{200f}' | '\u{2028}' | '\u{2029}' | '\u{2060}'..='\u{2064}' | '\u{061c}' | '\u{feff}' | '\u{fff9}'..='\u{fffb}' | '\u{e0000}'..='\u{e007f}')
}

/// Cuts to `max` characters, replaces control and bidirectional-override characters, and
/// escapes the backtick so the text stays inside its quotes.
pub fn quote(s: &str, max: usize) -> String {
    let mut out = String::with_capacity(s.len().min(max) + 1);
    for (n, c) in s.chars().enumerate() {
        if n == max {
            out.push('…');
            break;
        }
        if is_hidden(c) {
            out.push('\u{fffd}');
        } else if c == '`' {
            out.push('\'');
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn neutralises_control_bidi_and_length() {
        assert_eq!(quote("a\nb\u{202e}c`", 10), "a\u{fffd}b\u{fffd}c'");
        assert_eq!(quote("abcdef", 3), "abc…");
    }
}
