//! Reading IAM-style policy documents (bucket, queue, function and trust policies): who is
//! allowed, and under which conditions.

use serde_json::Value;

use crate::json::{self, FieldError};

/// Condition keys that pin a `"*"` principal to a known network, organization, account or
/// caller. A statement with one of them (positively, with a concrete value) is not public.
const RESTRICTING_KEYS: &[&str] = &[
    "aws:sourcevpce",
    "aws:sourcevpc",
    "aws:sourceip",
    "aws:principalorgid",
    "aws:principalorgpaths",
    "aws:principalaccount",
    "aws:principalarn",
    "aws:sourceaccount",
    "aws:sourcearn",
    "aws:sourceowner",
    "aws:userid",
    "s3:dataaccesspointaccount",
    "s3:dataaccesspointarn",
    "sts:externalid",
    // A KMS key policy's "principals in the account" statements.
    "kms:calleraccount",
];

/// The statements of a policy document (`Statement` is an object or a list).
pub fn statements<'a>(doc: &'a Value, field: &str) -> Result<Vec<&'a Value>, FieldError> {
    match doc.get("Statement") {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(list)) => {
            for s in list {
                if !s.is_object() {
                    return Err(FieldError::new(
                        format!("{field}.Statement[]"),
                        "an object",
                        s,
                    ));
                }
            }
            Ok(list.iter().collect())
        }
        Some(s @ Value::Object(_)) => Ok(vec![s]),
        Some(other) => Err(FieldError::new(
            format!("{field}.Statement"),
            "an object or a list",
            other,
        )),
    }
}

pub fn is_allow(stmt: &Value) -> bool {
    stmt.get("Effect").and_then(Value::as_str) == Some("Allow")
}

/// `"*"`, `{"AWS": "*"}` (or a list holding `"*"`); an `Allow` with `NotPrincipal` is open to
/// everyone but the listed principals, so it counts as well.
pub fn has_public_principal(stmt: &Value) -> bool {
    if stmt.get("NotPrincipal").is_some() {
        return true;
    }
    match stmt.get("Principal") {
        Some(Value::String(s)) => s == "*",
        Some(Value::Object(m)) => m
            .iter()
            .filter(|(k, _)| k.as_str() == "AWS" || k.as_str() == "CanonicalUser")
            .any(|(_, v)| json::one_or_many(v).any(|p| p.as_str() == Some("*"))),
        _ => false,
    }
}

/// Whether the statement's `Condition` narrows who can use it (see [`RESTRICTING_KEYS`]).
/// Negated operators, `…IfExists`, `Null`, `ForAllValues:` (true when the key is absent, as it
/// is for a caller from the Internet) and values that pin nothing do not narrow anything.
pub fn has_restricting_condition(stmt: &Value) -> bool {
    let Some(Value::Object(ops)) = stmt.get("Condition") else {
        return false;
    };
    ops.iter().any(|(op, keys)| {
        let op = op.to_ascii_lowercase();
        // `ForAnyValue:` needs one value to match, as the plain operator does; `ForAllValues:`
        // is true when the key is absent, so it narrows nothing.
        let base = op.strip_prefix("foranyvalue:").unwrap_or(&op);
        if !RESTRICTING_OPERATORS.contains(&base) {
            return false;
        }
        let Value::Object(keys) = keys else {
            return false;
        };
        keys.iter().any(|(key, values)| {
            let key = key.to_ascii_lowercase();
            RESTRICTING_KEYS.contains(&key.as_str())
                && !matches!(values, Value::Array(a) if a.is_empty())
                && pins(base, &key, values)
        })
    })
}

/// The operators a condition narrows the caller with: equality or a pattern. Negated ones,
/// `…IfExists`, `Null`, numeric, date and boolean comparisons narrow nothing here.
const RESTRICTING_OPERATORS: &[&str] = &[
    "stringequals",
    "stringequalsignorecase",
    "stringlike",
    "arnequals",
    "arnlike",
    "ipaddress",
];

/// Whether every value of a restricting key names something definite: an account, an
/// organization, an endpoint, a network short of the whole Internet.
fn pins(op: &str, key: &str, values: &Value) -> bool {
    let texts: Option<Vec<String>> = json::one_or_many(values)
        .map(|v| match v {
            Value::String(s) => Some(s.trim().to_owned()),
            // An account id written as a number.
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        })
        .collect();
    let Some(texts) = texts else {
        return false;
    };
    if key == "aws:sourceip" {
        // Ranges that together reach the whole Internet (0.0.0.0/0, ::/0 however written, two
        // halves) pin nothing; an unreadable range is not taken on trust either.
        let blocks: Option<Vec<_>> = texts.iter().map(|t| crate::exposure::parse(t)).collect();
        return op == "ipaddress"
            && blocks.is_some_and(|b| !crate::exposure::WorldShare::default().world(&b));
    }
    // Under the string operators a `*` matches across an ARN's colons.
    let string_pattern = op == "stringlike";
    texts.iter().all(|t| pins_value(key, t, string_pattern))
}

/// Matches anything, or is filled in per request (`${aws:PrincipalAccount}` is every caller's
/// own account).
fn wild(s: &str) -> bool {
    s.is_empty() || s.contains(['*', '?']) || s.contains("${")
}

fn pins_value(key: &str, v: &str, string_pattern: bool) -> bool {
    match key {
        // An ARN pins an account when its account field is definite; one without an account
        // (an S3 bucket) pins a resource when nothing of it is a wildcard.
        "aws:sourcearn" | "aws:principalarn" | "s3:dataaccesspointarn" => {
            let parts: Vec<&str> = v.splitn(6, ':').collect();
            parts.len() == 6
                && parts[0] == "arn"
                && !(string_pattern && wild(v))
                && !v.contains("${")
                && if parts[4].is_empty() {
                    !wild(parts[2]) && !wild(parts[5])
                } else {
                    !wild(parts[4])
                }
        }
        // `o-…/r-…/ou-…/*`: the organization is what pins it.
        "aws:principalorgpaths" => v.split('/').next().is_some_and(|org| !wild(org)),
        // `AROA…:*`: a role's sessions; anonymous callers have the id `anonymous`.
        "aws:userid" => v
            .split(':')
            .next()
            .is_some_and(|id| !wild(id) && !id.eq_ignore_ascii_case("anonymous")),
        _ => !wild(v),
    }
}

/// An `Allow` open to everyone with no restricting condition.
pub fn is_public_statement(stmt: &Value) -> bool {
    is_allow(stmt) && has_public_principal(stmt) && !has_restricting_condition(stmt)
}

/// The public statements of a policy document, named for evidence (Sid or position).
pub fn public_statements(doc: &Value, field: &str) -> Result<Vec<String>, FieldError> {
    Ok(statements(doc, field)?
        .into_iter()
        .enumerate()
        .filter(|(_, s)| is_public_statement(s))
        .map(|(i, s)| describe(s, i))
        .collect())
}

/// `Allow` of action `*` on resource `*`: full administrator.
pub fn is_admin_star(stmt: &Value) -> bool {
    let star = |k: &str| {
        stmt.get(k)
            .is_some_and(|v| json::one_or_many(v).any(|a| matches!(a.as_str(), Some("*" | "*:*"))))
    };
    is_allow(stmt) && star("Action") && star("Resource")
}

/// A short text for evidence: the statement's Sid, or its position.
pub fn describe(stmt: &Value, index: usize) -> String {
    match stmt.get("Sid").and_then(Value::as_str) {
        Some(sid) if !sid.is_empty() => format!("statement `{}`", crate::text::quote(sid, 64)),
        _ => format!("statement #{}", index + 1),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn principal_star_without_condition_is_public() {
        let s = json!({"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject"});
        assert!(is_public_statement(&s));
        let s = json!({"Effect": "Allow", "Principal": {"AWS": ["arn:aws:iam::1:root", "*"]}});
        assert!(is_public_statement(&s));
    }

    #[test]
    fn restricting_conditions_make_it_private() {
        for (op, key, val) in [
            (
                "StringLike",
                "aws:PrincipalOrgPaths",
                json!("o-a1b2c3d4e5/r-ab12/ou-ab12-11111111/*"),
            ),
            ("StringLike", "aws:userid", json!("AROAEXAMPLEID:*")),
            ("ArnLike", "aws:SourceArn", json!("arn:aws:s3:::my-bucket")),
            ("StringEquals", "kms:CallerAccount", json!("111122223333")),
            (
                "ForAnyValue:StringEquals",
                "aws:SourceVpce",
                json!(["vpce-1"]),
            ),
            ("StringEquals", "aws:SourceVpce", json!("vpce-1a2b")),
            ("IpAddress", "aws:SourceIp", json!(["203.0.113.0/24"])),
            ("StringEquals", "aws:PrincipalOrgID", json!("o-abc")),
            (
                "ArnLike",
                "AWS:SourceArn",
                json!("arn:aws:execute-api:us-east-1:1:abc/*"),
            ),
        ] {
            let s = json!({"Effect": "Allow", "Principal": "*", "Condition": {op: {key: val}}});
            assert!(!is_public_statement(&s), "{op} {key}");
        }
    }

    #[test]
    fn conditions_that_do_not_restrict_leave_it_public() {
        for cond in [
            json!({"StringEquals": {"aws:PrincipalAccount": "${aws:PrincipalAccount}"}}),
            json!({"StringEquals": {"aws:ResourceOrgID": "o-abc"}}),
            json!({"StringEquals": {"aws:userid": "anonymous"}}),
            json!({"StringLike": {"aws:SourceArn": "arn:aws:*::111122223333:*"}}),
            json!({"NumericGreaterThan": {"aws:PrincipalAccount": "0"}}),
            json!({"ForAllValues:StringEquals": {"aws:SourceVpce": "vpce-1a2b"}}),
            json!({"StringLike": {"aws:PrincipalAccount": "????????????"}}),
            json!({"StringLike": {"kms:CallerAccount": "*?"}}),
            json!({"ArnLike": {"aws:PrincipalArn": "arn:aws:iam::*:*"}}),
            json!({"ArnLike": {"aws:SourceArn": "arn:aws:*:*:*:*"}}),
            json!({"StringLike": {"aws:SourceVpce": "vpce-*"}}),
            json!({"StringLike": {"aws:PrincipalOrgID": "o-*"}}),
            json!({"IpAddress": {"aws:SourceIp": "0::/0"}}),
            json!({"IpAddress": {"aws:SourceIp": ["0.0.0.0/1", "128.0.0.0/1"]}}),
            json!({"IpAddress": {"aws:SourceIp": "not-a-range"}}),
            json!({"Bool": {"aws:SecureTransport": "true"}}),
            json!({"StringNotEquals": {"aws:PrincipalOrgID": "o-abc"}}),
            json!({"StringEqualsIfExists": {"aws:SourceVpce": "vpce-1"}}),
            json!({"IpAddress": {"aws:SourceIp": "0.0.0.0/0"}}),
            json!({"StringEquals": {"lambda:FunctionUrlAuthType": "NONE"}}),
            json!({"StringLike": {"aws:PrincipalArn": "*"}}),
        ] {
            let s = json!({"Effect": "Allow", "Principal": "*", "Condition": cond});
            assert!(is_public_statement(&s), "{s}");
        }
    }

    #[test]
    fn json_text_is_read_as_written_not_percent_decoded() {
        // Decoding the whole text would make `aws:SourceIp` a key of the condition.
        let text = r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"sns:Publish","Condition":{"StringLike":{"aws:UserAgent":"*%7B%22,%22aws:SourceIp%22:%2210.0.0.1"}}}]}"#;
        let doc = crate::json::policy_document(&Value::String(text.into()), "Policy")
            .expect("readable")
            .expect("a document");
        assert_eq!(public_statements(&doc, "Policy").expect("read").len(), 1);
        // IAM's URL-encoded documents are still decoded.
        let encoded = "%7B%22Statement%22%3A%5B%7B%22Effect%22%3A%22Allow%22%2C%22Principal%22%3A%22%2A%22%7D%5D%7D";
        let doc = crate::json::policy_document(&Value::String(encoded.into()), "Policy")
            .expect("readable")
            .expect("a document");
        assert_eq!(public_statements(&doc, "Policy").expect("read").len(), 1);
    }

    #[test]
    fn deny_and_service_principals_are_not_public() {
        assert!(!is_public_statement(
            &json!({"Effect": "Deny", "Principal": "*", "Action": "s3:*"})
        ));
        assert!(!is_public_statement(
            &json!({"Effect": "Allow", "Principal": {"Service": "events.amazonaws.com"}})
        ));
    }

    #[test]
    fn admin_star_needs_both_action_and_resource_star() {
        assert!(is_admin_star(
            &json!({"Effect": "Allow", "Action": "*", "Resource": "*"})
        ));
        assert!(is_admin_star(
            &json!({"Effect": "Allow", "Action": ["s3:*", "*"], "Resource": ["*"]})
        ));
        assert!(!is_admin_star(
            &json!({"Effect": "Allow", "Action": "s3:*", "Resource": "*"})
        ));
        assert!(!is_admin_star(
            &json!({"Effect": "Deny", "Action": "*", "Resource": "*"})
        ));
    }
}
