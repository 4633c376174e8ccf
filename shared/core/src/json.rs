//! Lenient readers for the places where AWS Config is inconsistent (FORMAT.md §5), and strict
//! ones where a wrong guess would change a verdict.

use std::borrow::Cow;

use serde_json::Value;

/// A field is present but of a kind a rule cannot read. The caller names the resource.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("field `{field}` is {found}, expected {expected}")]
pub struct FieldError {
    pub field: String,
    pub expected: &'static str,
    pub found: &'static str,
}

impl FieldError {
    pub fn new(field: impl Into<String>, expected: &'static str, found: &Value) -> Self {
        FieldError {
            field: field.into(),
            expected,
            found: kind(found),
        }
    }
}

pub fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// A value that may be JSON itself or a string holding JSON (possibly twice, as the S3 ACL in
/// the API shape). Strings that are not JSON documents are returned as they are.
pub fn decoded(v: &Value) -> Cow<'_, Value> {
    let mut current = Cow::Borrowed(v);
    for _ in 0..2 {
        let next = match current.as_ref() {
            Value::String(s) if looks_like_json(s) => serde_json::from_str::<Value>(s).ok(),
            _ => None,
        };
        match next {
            Some(n) => current = Cow::Owned(n),
            None => break,
        }
    }
    current
}

fn looks_like_json(s: &str) -> bool {
    let t = s.trim_start();
    t.starts_with('{') || t.starts_with('[') || t.starts_with('"')
}

/// An IAM policy document as Config records it: URL-encoded JSON (percent-decoded, `+` is not a
/// space), plain JSON text, or an already decoded object. `Err` when it cannot be read at all.
pub fn policy_document(v: &Value, field: &str) -> Result<Option<Value>, FieldError> {
    match v {
        Value::Null => Ok(None),
        Value::Object(_) => Ok(Some(v.clone())),
        Value::String(s) if s.trim().is_empty() => Ok(None),
        Value::String(s) => {
            // JSON text is read as it is: decoding it whole would turn a `%7B…` inside one of
            // its strings into structure (a condition key that is not there).
            let text: Cow<'_, str> = if !s.trim_start().starts_with('{') {
                percent_encoding::percent_decode_str(s)
                    .decode_utf8()
                    .map_err(|_| FieldError::new(field, "a URL-encoded JSON policy", v))?
            } else {
                Cow::Borrowed(s.as_str())
            };
            match serde_json::from_str::<Value>(&text) {
                Ok(doc @ Value::Object(_)) => Ok(Some(doc)),
                _ => Err(FieldError::new(field, "a JSON policy document", v)),
            }
        }
        other => Err(FieldError::new(field, "a policy document", other)),
    }
}

/// A boolean a rule depends on. Absent or null is `None` (unknown); the strings `"true"` /
/// `"false"` (API shape, SQS) are accepted; anything else is an error.
pub fn opt_bool(v: Option<&Value>, field: &str) -> Result<Option<bool>, FieldError> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(Value::String(s)) if s.eq_ignore_ascii_case("true") => Ok(Some(true)),
        Some(Value::String(s)) if s.eq_ignore_ascii_case("false") => Ok(Some(false)),
        Some(other) => Err(FieldError::new(field, "a boolean", other)),
    }
}

/// An integer that AWS may send as `22`, `22.0` or `"22"`. A fraction is an error.
pub fn opt_int(v: Option<&Value>, field: &str) -> Result<Option<i64>, FieldError> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => {
            if let Some(i) = n.as_i64() {
                return Ok(Some(i));
            }
            match n.as_f64() {
                Some(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => Ok(Some(f as i64)),
                _ => Err(FieldError::new(
                    field,
                    "an integer",
                    v.unwrap_or(&Value::Null),
                )),
            }
        }
        Some(Value::String(s)) => s
            .trim()
            .parse::<i64>()
            .map(Some)
            .map_err(|_| FieldError::new(field, "an integer", v.unwrap_or(&Value::Null))),
        Some(other) => Err(FieldError::new(field, "an integer", other)),
    }
}

/// A string field; absent or null is `None`, another kind is an error.
pub fn opt_str<'a>(v: Option<&'a Value>, field: &str) -> Result<Option<&'a str>, FieldError> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(other) => Err(FieldError::new(field, "a string", other)),
    }
}

/// An array field; absent or null is empty, another kind is an error.
pub fn opt_array<'a>(v: Option<&'a Value>, field: &str) -> Result<&'a [Value], FieldError> {
    match v {
        None | Some(Value::Null) => Ok(&[]),
        Some(Value::Array(a)) => Ok(a),
        Some(other) => Err(FieldError::new(field, "an array", other)),
    }
}

/// One value or a list of values, as IAM writes `Action`, `Resource`, `Principal.AWS`.
pub fn one_or_many(v: &Value) -> impl Iterator<Item = &Value> {
    let slice: &[Value] = match v {
        Value::Array(a) => a,
        other => std::slice::from_ref(other),
    };
    slice.iter()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn decodes_json_in_strings_once_or_twice() {
        let once = json!("{\"a\":1}");
        assert_eq!(*decoded(&once), json!({"a": 1}));
        let twice = Value::String(serde_json::to_string(&once).unwrap_or_default());
        assert_eq!(*decoded(&twice), json!({"a": 1}));
        assert_eq!(*decoded(&json!("AllUsers")), json!("AllUsers"));
    }

    #[test]
    fn policy_documents_are_percent_decoded_not_form_decoded() {
        let doc = json!("%7B%22Statement%22%3A%5B%7B%22Sid%22%3A%22a+b%22%7D%5D%7D");
        let v = policy_document(&doc, "d").ok().flatten();
        assert_eq!(v, Some(json!({"Statement": [{"Sid": "a+b"}]})));
        assert_eq!(
            policy_document(&json!({"Statement": []}), "d"),
            Ok(Some(json!({"Statement": []})))
        );
        assert!(policy_document(&json!("%7Bnot json"), "d").is_err());
        assert!(policy_document(&json!(12), "d").is_err());
    }

    #[test]
    fn integers_accept_floats_and_strings_but_not_fractions() {
        assert_eq!(opt_int(Some(&json!(16.0)), "x"), Ok(Some(16)));
        assert_eq!(opt_int(Some(&json!("0")), "x"), Ok(Some(0)));
        assert!(opt_int(Some(&json!(22.5)), "x").is_err());
        assert!(opt_int(Some(&json!(true)), "x").is_err());
        assert_eq!(opt_int(None, "x"), Ok(None));
    }

    #[test]
    fn booleans_are_strict_about_kind() {
        assert_eq!(opt_bool(Some(&json!("false")), "x"), Ok(Some(false)));
        assert_eq!(opt_bool(Some(&Value::Null), "x"), Ok(None));
        assert!(opt_bool(Some(&json!("yes")), "x").is_err());
        assert!(opt_bool(Some(&json!(1)), "x").is_err());
    }
}
