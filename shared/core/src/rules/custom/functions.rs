//! The helpers the built-in rules use, offered to written rules as CEL functions. Each reads
//! its arguments strictly: a value of the wrong kind is an error (the rule's error on that
//! item), never a quiet `false`.

use std::cell::Cell;

use cel::common::types::{CelBool, CelList, CelString, DYN_TYPE, STRING_TYPE};
use cel::common::value::{CowVal, Val};
use cel::{Env, ExecutionError};
use serde_json::{Map, Value};

use super::value::{json_of, owned};
use crate::doc;
use crate::exposure::{self, WorldShare};
use crate::json;

/// The functions, as `justice rules` and the docs list them: name, signature, what it does.
pub const FUNCTIONS: &[(&str, &str, &str)] = &[
    (
        "world_open",
        "world_open(cidr | list<cidr>) -> bool",
        "whether a range, or a set of ranges together, reaches the whole Internet as the policy's `[exposure]` counts it (IPv4 and IPv6, private ranges excluded)",
    ),
    (
        "statements",
        "statements(document) -> list<map>",
        "the statements of an IAM-style policy document given as an object, JSON text or URL-encoded JSON; each with Action, NotAction, Resource, NotResource as lists, Principal as a map of lists, `public` and `ref` (its Sid or position, for evidence)",
    ),
    (
        "public_statements",
        "public_statements(document) -> list<map>",
        "the statements that allow anyone (Principal `*` or NotPrincipal) with no condition that restricts them",
    ),
    (
        "json",
        "json(string) -> dyn",
        "a JSON text decoded (fields AWS Config records as text)",
    ),
    (
        "url_decode",
        "url_decode(string) -> string",
        "a percent-encoded text decoded",
    ),
    (
        "listed",
        "listed(value) -> list",
        "a value as a list: null is empty, a list is itself, anything else a list of one (Config writes absent lists as null)",
    ),
    (
        "tag",
        "tag(tags, key) -> string",
        "the value of a tag, or \"\" when the resource has no such tag",
    ),
    (
        "related",
        "related(relationships, type) -> list<string>",
        "the ids of the related resources of a type (\"\" for one Config names without an id)",
    ),
];

thread_local! {
    /// The policy's `[exposure]` shares, set for the length of one item's evaluation
    /// (`with_shares`): CEL functions are plain functions and cannot capture the policy.
    static SHARES: Cell<Option<WorldShare>> = const { Cell::new(None) };
}

/// Runs `f` with `world_open` counting by `share`.
pub fn with_shares<R>(share: WorldShare, f: impl FnOnce() -> R) -> R {
    let before = SHARES.with(|s| s.replace(Some(share)));
    let out = f();
    SHARES.with(|s| s.set(before));
    out
}

pub fn register(env: &mut Env) -> Result<(), cel::DeclarationError> {
    env.add_overload("world_open", "world_open_dyn", vec![DYN_TYPE], world_open)?;
    env.add_overload("statements", "statements_dyn", vec![DYN_TYPE], statements)?;
    env.add_overload(
        "public_statements",
        "public_statements_dyn",
        vec![DYN_TYPE],
        public_statements,
    )?;
    env.add_overload("json", "json_string", vec![STRING_TYPE], json_text)?;
    env.add_overload(
        "url_decode",
        "url_decode_string",
        vec![STRING_TYPE],
        url_decode,
    )?;
    env.add_overload("listed", "listed_dyn", vec![DYN_TYPE], listed)?;
    env.add_overload("tag", "tag_dyn_string", vec![DYN_TYPE, STRING_TYPE], tag)?;
    env.add_overload(
        "related",
        "related_dyn_string",
        vec![DYN_TYPE, STRING_TYPE],
        related,
    )?;
    Ok(())
}

type Args<'b, 'v> = Vec<CowVal<'b, 'v>>;
type Out<'b, 'v> = Result<CowVal<'b, 'v>, ExecutionError>;

fn fail(function: &str, message: impl ToString) -> ExecutionError {
    ExecutionError::function_error(function, message)
}

fn arg<'a, 'b, 'v>(
    args: &'a Args<'b, 'v>,
    i: usize,
    function: &str,
) -> Result<&'a (dyn Val + 'v), ExecutionError> {
    args.get(i)
        .map(|a| &**a)
        .ok_or_else(|| fail(function, "missing argument"))
}

fn text<'a>(v: &'a dyn Val, function: &str) -> Result<&'a str, ExecutionError> {
    <&str>::try_from(v).map_err(|_| {
        fail(
            function,
            format!("expected a string, found {}", v.get_type().name()),
        )
    })
}

fn json_arg(v: &dyn Val, function: &str) -> Result<Value, ExecutionError> {
    json_of(v).ok_or_else(|| fail(function, format!("cannot read a {}", v.get_type().name())))
}

fn bool_out<'b, 'v>(b: bool) -> Out<'b, 'v> {
    Ok(CowVal::owned(CelBool::from(b)))
}

fn world_open<'b, 'v>(args: Args<'b, 'v>) -> Out<'b, 'v> {
    const F: &str = "world_open";
    let share = SHARES
        .with(Cell::get)
        .ok_or_else(|| fail(F, "called outside an evaluation"))?;
    let v = json_arg(arg(&args, 0, F)?, F)?;
    let mut blocks = Vec::new();
    for c in json::one_or_many(&v) {
        let Some(s) = c.as_str() else {
            return Err(fail(F, format!("expected a CIDR string, found {c}")));
        };
        let cidr = exposure::parse(s).ok_or_else(|| {
            fail(
                F,
                format!("`{}` is not a CIDR range", crate::text::quote(s, 64)),
            )
        })?;
        blocks.push(cidr);
    }
    bool_out(share.world(&blocks))
}

/// A policy document argument: `None` when there is none (null or empty text).
fn document(v: &dyn Val, function: &str) -> Result<Option<Value>, ExecutionError> {
    let raw = json_arg(v, function)?;
    json::policy_document(&raw, function).map_err(|e| fail(function, e))
}

fn normalised(doc: &Value, function: &str) -> Result<Vec<Value>, ExecutionError> {
    let list = doc::statements(doc, function).map_err(|e| fail(function, e))?;
    Ok(list
        .into_iter()
        .enumerate()
        .map(|(i, s)| normalise(s, i))
        .collect())
}

/// One statement with its string-or-list fields as lists and its principal as a map of lists.
fn normalise(stmt: &Value, index: usize) -> Value {
    let mut out = Map::new();
    if let Value::Object(fields) = stmt {
        for (k, v) in fields {
            let v = match k.as_str() {
                "Action" | "NotAction" | "Resource" | "NotResource" => {
                    Value::Array(json::one_or_many(v).cloned().collect())
                }
                "Principal" | "NotPrincipal" => principal(v),
                _ => v.clone(),
            };
            out.insert(k.clone(), v);
        }
    }
    out.entry("Sid")
        .or_insert_with(|| Value::String(String::new()));
    out.insert("public".into(), Value::Bool(doc::is_public_statement(stmt)));
    out.insert("ref".into(), Value::String(doc::describe(stmt, index)));
    Value::Object(out)
}

fn principal(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, v)| {
                    (
                        k.clone(),
                        Value::Array(json::one_or_many(v).cloned().collect()),
                    )
                })
                .collect(),
        ),
        other => {
            let mut m = Map::new();
            m.insert(
                "AWS".into(),
                Value::Array(json::one_or_many(other).cloned().collect()),
            );
            Value::Object(m)
        }
    }
}

fn statement_list<'b, 'v>(args: Args<'b, 'v>, function: &str, public_only: bool) -> Out<'b, 'v> {
    let list = match document(arg(&args, 0, function)?, function)? {
        Some(doc) => normalised(&doc, function)?,
        None => Vec::new(),
    };
    let list: Vec<Box<dyn Val + 'v>> = list
        .into_iter()
        .filter(|s| !public_only || s.get("public") == Some(&Value::Bool(true)))
        .map(|s| owned(s) as Box<dyn Val + 'v>)
        .collect();
    Ok(CowVal::owned(CelList::from(list)))
}

fn statements<'b, 'v>(args: Args<'b, 'v>) -> Out<'b, 'v> {
    statement_list(args, "statements", false)
}

fn public_statements<'b, 'v>(args: Args<'b, 'v>) -> Out<'b, 'v> {
    statement_list(args, "public_statements", true)
}

fn json_text<'b, 'v>(args: Args<'b, 'v>) -> Out<'b, 'v> {
    const F: &str = "json";
    let s = text(arg(&args, 0, F)?, F)?;
    let v: Value = serde_json::from_str(s).map_err(|e| fail(F, format!("not JSON text: {e}")))?;
    Ok(CowVal::Owned(owned(v)))
}

fn url_decode<'b, 'v>(args: Args<'b, 'v>) -> Out<'b, 'v> {
    const F: &str = "url_decode";
    let s = text(arg(&args, 0, F)?, F)?;
    let d = percent_encoding::percent_decode_str(s)
        .decode_utf8()
        .map_err(|_| fail(F, "not UTF-8 once decoded"))?;
    Ok(CowVal::owned(CelString::from(d.into_owned())))
}

fn listed<'b, 'v>(mut args: Args<'b, 'v>) -> Out<'b, 'v> {
    const F: &str = "listed";
    if args.len() != 1 {
        return Err(fail(F, "takes one argument"));
    }
    let v = args.remove(0);
    match v.get_type().kind() {
        cel::common::types::Kind::List => Ok(v),
        cel::common::types::Kind::NullType => Ok(CowVal::owned(CelList::from(Vec::<
            Box<dyn Val + 'v>,
        >::new()))),
        _ => Ok(CowVal::owned(CelList::from(vec![v.into_owned()]))),
    }
}

fn tag<'b, 'v>(args: Args<'b, 'v>) -> Out<'b, 'v> {
    const F: &str = "tag";
    let tags = json_arg(arg(&args, 0, F)?, F)?;
    let key = text(arg(&args, 1, F)?, F)?;
    let Value::Object(tags) = tags else {
        return Err(fail(F, "the first argument is not a map of tags"));
    };
    let value = match tags.get(key) {
        None => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => return Err(fail(F, format!("tag `{key}` is not a string: {other}"))),
    };
    Ok(CowVal::owned(CelString::from(value)))
}

fn related<'b, 'v>(args: Args<'b, 'v>) -> Out<'b, 'v> {
    const F: &str = "related";
    let rels = json_arg(arg(&args, 0, F)?, F)?;
    let wanted = text(arg(&args, 1, F)?, F)?;
    let Value::Array(rels) = rels else {
        return Err(fail(F, "the first argument is not a list of relationships"));
    };
    let mut out: Vec<Box<dyn Val + 'v>> = Vec::new();
    for r in &rels {
        if r.get("resourceType").and_then(Value::as_str) != Some(wanted) {
            continue;
        }
        let id = r
            .get("resourceId")
            .and_then(Value::as_str)
            .unwrap_or_default();
        out.push(Box::new(CelString::from(id.to_owned())));
    }
    Ok(CowVal::owned(CelList::from(out)))
}
