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
    "aws:resourceorgid",
    "s3:dataaccesspointaccount",
    "s3:dataaccesspointarn",
    "sts:externalid",
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
/// Negated operators, `…IfExists` and wildcard values do not narrow anything.
pub fn has_restricting_condition(stmt: &Value) -> bool {
    let Some(Value::Object(ops)) = stmt.get("Condition") else {
        return false;
    };
    ops.iter().any(|(op, keys)| {
        let op = op.to_ascii_lowercase();
        if op.contains("not") || op.ends_with("ifexists") || op == "null" {
            return false;
        }
        let Value::Object(keys) = keys else {
            return false;
        };
        keys.iter().any(|(key, values)| {
            let key = key.to_ascii_lowercase();
            RESTRICTING_KEYS.contains(&key.as_str())
                && json::one_or_many(values).all(|v| match v.as_str() {
                    Some(s) => !is_wildcard_value(&key, s),
                    None => false,
                })
                && !matches!(values, Value::Array(a) if a.is_empty())
        })
    })
}

fn is_wildcard_value(key: &str, v: &str) -> bool {
    let v = v.trim();
    v.is_empty()
        || v == "*"
        || (key == "aws:sourceip" && (v == "0.0.0.0/0" || v == "::/0"))
        || (v.starts_with("arn:") && v.ends_with(":*") && v.matches(':').count() <= 2)
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
