//! Resources the security team has put out of Krampus's reach: the allow-list, in Krampus's
//! own `whitelist.json` format with Unix-style wildcards, and the policy's exemptions, which
//! carry a reason and an expiry. Both are owned by the security team, never by resource tags.

use serde_json::Value;

use crate::Refused;

/// `{"Whitelist": {"<ARN or pattern>": "reason", …}}` (`whitelist` is accepted too).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllowList {
    pub entries: Vec<(String, String)>,
}

impl AllowList {
    pub fn parse(bytes: &[u8]) -> Result<AllowList, Refused> {
        let v: Value = serde_json::from_slice(bytes).map_err(|e| format!("not JSON: {e}"))?;
        let map = v
            .get("Whitelist")
            .or_else(|| v.get("whitelist"))
            .and_then(Value::as_object)
            .ok_or("no `Whitelist` object")?;
        let mut entries = Vec::with_capacity(map.len());
        for (pattern, reason) in map {
            let reason = match reason {
                Value::String(s) => s.clone(),
                Value::Null => String::new(),
                other => other.to_string(),
            };
            entries.push((pattern.clone(), reason));
        }
        Ok(AllowList { entries })
    }

    /// The first entry matching any of the resource's names, with its reason.
    pub fn matching<'a>(&'a self, names: &[&str]) -> Option<(&'a str, &'a str)> {
        self.entries
            .iter()
            .find(|(p, _)| names.iter().any(|n| glob_match(p, n)))
            .map(|(p, r)| (p.as_str(), r.as_str()))
    }
}

/// Python's `fnmatch.fnmatchcase`: `*` any run (slashes included), `?` one character,
/// `[seq]` / `[!seq]` a set with ranges. A malformed set matches its `[` literally.
pub fn glob_match(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    // Iterative matcher with one backtrack point for the last `*`: linear in practice, and
    // never exponential on hostile patterns.
    let (mut pi, mut ni) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ni < n.len() {
        if pi < p.len() {
            match p[pi] {
                '*' => {
                    star = Some((pi, ni));
                    pi += 1;
                    continue;
                }
                '?' => {
                    pi += 1;
                    ni += 1;
                    continue;
                }
                '[' => {
                    if let Some((matched, next)) = class(&p, pi, n[ni]) {
                        if matched {
                            pi = next;
                            ni += 1;
                            continue;
                        }
                    } else if n[ni] == '[' {
                        pi += 1;
                        ni += 1;
                        continue;
                    }
                }
                c if c == n[ni] => {
                    pi += 1;
                    ni += 1;
                    continue;
                }
                _ => {}
            }
        }
        match star {
            Some((sp, sn)) => {
                pi = sp + 1;
                ni = sn + 1;
                star = Some((sp, sn + 1));
            }
            None => return false,
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

/// Matches `c` against the set starting at `p[start] == '['`: (matched, index after `]`), or
/// `None` when the set is not closed.
fn class(p: &[char], start: usize, c: char) -> Option<(bool, usize)> {
    let mut i = start + 1;
    let negate = p.get(i) == Some(&'!');
    if negate {
        i += 1;
    }
    let mut matched = false;
    let mut first = true;
    while i < p.len() {
        if p[i] == ']' && !first {
            return Some((matched != negate, i + 1));
        }
        first = false;
        if i + 2 < p.len() && p[i + 1] == '-' && p[i + 2] != ']' {
            if p[i] <= c && c <= p[i + 2] {
                matched = true;
            }
            i += 3;
        } else {
            if p[i] == c {
                matched = true;
            }
            i += 1;
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_follow_fnmatch() {
        assert!(glob_match(
            "arn:aws:ec2:*:111122223333:instance/*",
            "arn:aws:ec2:us-east-1:111122223333:instance/i-1"
        ));
        assert!(!glob_match(
            "arn:aws:ec2:*:111122223333:instance/*",
            "arn:aws:ec2:us-east-1:999922223333:instance/i-1"
        ));
        assert!(glob_match("arn:aws:s3:::logs-??", "arn:aws:s3:::logs-01"));
        assert!(!glob_match("arn:aws:s3:::logs-??", "arn:aws:s3:::logs-001"));
        assert!(glob_match("sg-[0-9a-f]*", "sg-0abc"));
        assert!(!glob_match("sg-[!0-9]*", "sg-0abc"));
        assert!(glob_match("a[b", "a[b"));
        assert!(glob_match("*", ""));
        assert!(!glob_match("", "x"));
        assert!(glob_match("exact", "exact"));
        assert!(!glob_match("exact", "exactly"));
        // No blow-up on many stars.
        assert!(!glob_match(&"*a".repeat(30), &"a".repeat(29)));
    }

    #[test]
    fn reads_krampus_whitelist_files() {
        let a = AllowList::parse(br#"{"Whitelist": {"arn:aws:s3:::keep-*": "public site"}}"#)
            .expect("valid");
        assert_eq!(
            a.matching(&["arn:aws:s3:::keep-www"]),
            Some(("arn:aws:s3:::keep-*", "public site"))
        );
        assert_eq!(a.matching(&["arn:aws:s3:::other"]), None);
        let b = AllowList::parse(br#"{"whitelist": {"x": "y"}}"#).expect("valid");
        assert_eq!(b.entries.len(), 1);
        assert!(AllowList::parse(br#"{"tasks": []}"#).is_err());
    }
}
