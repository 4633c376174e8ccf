//! JSON in and out of CEL values. An item's JSON is lent to an evaluation, not copied: strings
//! and map keys borrow the item's text.

use std::cell::Cell;
use std::collections::HashMap;

use cel::common::types::{
    CelBool, CelDouble, CelInt, CelList, CelMap, CelMapKey, CelNull, CelString,
};
use cel::common::value::Val;
use serde_json::Value;

thread_local! {
    /// Values one rule's evaluation may still lend or build (`with_budget`): a rule that reads
    /// the item in a loop (the whole configuration once per element, say) must not hold the
    /// scorer for seconds on a crafted item. Counted in values, not time: deterministic.
    static BUDGET: Cell<u64> = const { Cell::new(u64::MAX) };
    static EXCEEDED: Cell<bool> = const { Cell::new(false) };
}

/// Runs `f` with `limit` values to spend; true besides when it ran out.
pub fn with_budget<R>(limit: u64, f: impl FnOnce() -> R) -> (R, bool) {
    let before = BUDGET.with(|b| b.replace(limit));
    EXCEEDED.with(|e| e.set(false));
    let out = f();
    BUDGET.with(|b| b.set(before));
    (out, EXCEEDED.with(|e| e.replace(false)))
}

/// Charges `n` values to the running evaluation; false once its budget is spent (what is built
/// then is cut short, and the evaluation is reported as too costly, never used).
pub fn spend(n: u64) -> bool {
    BUDGET.with(|b| {
        let left = b.get();
        if left < n {
            b.set(0);
            EXCEEDED.with(|e| e.set(true));
            false
        } else {
            b.set(left - n);
            true
        }
    })
}

/// A CEL value borrowing `v`.
pub fn lend(v: &Value) -> Box<dyn Val + '_> {
    if !spend(1) {
        return Box::new(CelNull);
    }
    match v {
        Value::Null => Box::new(CelNull),
        Value::Bool(b) => Box::new(CelBool::from(*b)),
        Value::Number(n) => number(n),
        Value::String(s) => Box::new(CelString::from(s.as_str())),
        Value::Array(a) => Box::new(CelList::from(a.iter().map(lend).collect::<Vec<_>>())),
        Value::Object(o) => {
            let m: HashMap<CelMapKey<'_>, Box<dyn Val + '_>> = o
                .iter()
                .map(|(k, v)| (CelMapKey::from(k.as_str()), lend(v)))
                .collect();
            Box::new(CelMap::from(m))
        }
    }
}

/// A CEL value owning a copy of `v` (what a function returns).
pub fn owned(v: Value) -> Box<dyn Val + 'static> {
    if !spend(1) {
        return Box::new(CelNull);
    }
    match v {
        Value::Null => Box::new(CelNull),
        Value::Bool(b) => Box::new(CelBool::from(b)),
        Value::Number(n) => number(&n),
        Value::String(s) => Box::new(CelString::from(s)),
        Value::Array(a) => Box::new(CelList::from(a.into_iter().map(owned).collect::<Vec<_>>())),
        Value::Object(o) => {
            let m: HashMap<CelMapKey<'static>, Box<dyn Val + 'static>> = o
                .into_iter()
                .map(|(k, v)| (CelMapKey::from(k), owned(v)))
                .collect();
            Box::new(CelMap::from(m))
        }
    }
}

/// Integers stay integers (a port compares with `22`); anything else is a double.
fn number<'v>(n: &serde_json::Number) -> Box<dyn Val + 'v> {
    match n.as_i64() {
        Some(i) => Box::new(CelInt::from(i)),
        None => Box::new(CelDouble::from(n.as_f64().unwrap_or(f64::NAN))),
    }
}

/// The JSON of a CEL value; `None` for what JSON cannot hold (bytes, types, functions), or
/// once the evaluation's budget is spent.
pub fn json_of(v: &dyn Val) -> Option<Value> {
    if !spend(deep_size(v)) {
        return None;
    }
    from_cel(&cel::Value::try_from(v).ok()?)
}

pub fn from_cel(v: &cel::Value) -> Option<Value> {
    Some(match v {
        cel::Value::Null => Value::Null,
        cel::Value::Bool(b) => Value::Bool(*b),
        cel::Value::Int(i) => Value::from(*i),
        cel::Value::UInt(u) => Value::from(*u),
        cel::Value::Float(f) => Value::from(*f),
        cel::Value::String(s) => Value::String(s.as_str().to_owned()),
        cel::Value::List(l) => Value::Array(l.iter().map(from_cel).collect::<Option<_>>()?),
        cel::Value::Map(m) => {
            let mut out = serde_json::Map::new();
            for (k, v) in m.map.iter() {
                let key = match k {
                    cel::objects::Key::String(s) => s.as_str().to_owned(),
                    other => cel::Value::from(other).to_string_lossy(),
                };
                out.insert(key, from_cel(v)?);
            }
            Value::Object(out)
        }
        _ => return None,
    })
}

trait Lossy {
    fn to_string_lossy(&self) -> String;
}

impl Lossy for cel::Value {
    fn to_string_lossy(&self) -> String {
        match self {
            cel::Value::Int(i) => i.to_string(),
            cel::Value::UInt(u) => u.to_string(),
            cel::Value::Bool(b) => b.to_string(),
            cel::Value::String(s) => s.as_str().to_owned(),
            other => format!("{other:?}"),
        }
    }
}

/// Text for evidence: a string as it is, a list as its elements joined, anything else as JSON.
pub fn display(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Array(a) => a.iter().map(display).collect::<Vec<_>>().join(", "),
        other => other.to_string(),
    }
}

/// A map of JSON values lent to CEL (the supplementary configuration).
pub fn lend_map(m: &serde_json::Map<String, Value>) -> Box<dyn Val + '_> {
    let m: HashMap<CelMapKey<'_>, Box<dyn Val + '_>> = m
        .iter()
        .map(|(k, v)| (CelMapKey::from(k.as_str()), lend(v)))
        .collect();
    Box::new(CelMap::from(m))
}

/// The CEL type name of a value, for errors.
pub fn kind_of(v: &cel::Value) -> &'static str {
    match v {
        cel::Value::List(_) => "a list",
        cel::Value::Map(_) => "a map",
        cel::Value::Int(_) | cel::Value::UInt(_) => "an integer",
        cel::Value::Float(_) => "a double",
        cel::Value::String(_) => "a string",
        cel::Value::Bytes(_) => "bytes",
        cel::Value::Bool(_) => "a bool",
        cel::Value::Null => "null",
        _ => "a value of another kind",
    }
}

/// The number of values in `v`, nested ones included (a map's keys and values).
pub fn deep_size(v: &dyn Val) -> u64 {
    let Some(items) = v.as_iterable() else {
        return 1;
    };
    // Iterating a map gives its keys: its values are reached through its indexer.
    let values = if v.get_type().kind() == cel::common::types::Kind::Map {
        v.as_indexer()
    } else {
        None
    };
    let mut n = 1;
    let mut it = items.iter();
    while let Some(x) = it.next() {
        n += deep_size(x);
        if let Some(Ok(value)) = values.map(|i| i.get(x)) {
            n += deep_size(&*value);
        }
    }
    n
}
