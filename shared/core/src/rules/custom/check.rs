//! What a written rule's expression may name, checked before the policy is taken: every
//! variable is one the engine binds (or a comprehension's own), every function one it offers.
//! A wrong name is refused with its position, not left to fail on some item at run time.

use cel::common::ast::{EntryExpr, Expr, SourceInfo};
use cel::IdedExpr;

/// The variables bound for every item.
pub const VARIABLES: &[(&str, &str)] = &[
    (
        "resource",
        "the item's identity: type, id, name, account, region, arn, status, capture_time",
    ),
    (
        "configuration",
        "the item's `configuration`, decoded (Config's text-encoded configurations are read as JSON)",
    ),
    (
        "supplementary",
        "the item's `supplementaryConfiguration`, each value decoded",
    ),
    (
        "tags",
        "the item's tags as a map; naming it on an item whose tags Config did not record is the rule's error, not an empty map",
    ),
    (
        "relationships",
        "the item's relationships: a list of maps with resourceType, resourceId (null when Config gives only a name) and name (the relationship's, e.g. `Is attached to Instance`)",
    ),
];

/// The CEL standard functions and extensions this engine registers, and its own.
pub(super) const FUNCTIONS: &[&str] = &[
    "size",
    "contains",
    "startsWith",
    "endsWith",
    "matches",
    "int",
    "uint",
    "double",
    "string",
    "bytes",
    "bool",
    "dyn",
    "type",
    "orValue",
    "or",
    "hasValue",
    "value",
    "optional.of",
    "optional.none",
    "optional.ofNonZeroValue",
    "charAt",
    "indexOf",
    "lastIndexOf",
    "lowerAscii",
    "upperAscii",
    "trim",
    "replace",
    "split",
    "substring",
    "join",
    "reverse",
    "distinct",
    "flatten",
    "sort",
];

/// Type names an expression may use as values (`type(x) == string`).
const TYPE_NAMES: &[&str] = &[
    "bool",
    "int",
    "uint",
    "double",
    "string",
    "bytes",
    "list",
    "map",
    "null_type",
    "type",
];

/// How deep an expression's tree may be: the interpreter recurses on it, on the scorer's
/// threads (2 MiB of stack).
pub const MAX_DEPTH: usize = 48;

/// How deep loops may nest: each level multiplies the work by the length of a list (the
/// item's, or one the expression writes), and the interpreter's loops cannot be interrupted.
pub const MAX_LOOPS: usize = 2;

/// Every unknown name in `expr`, each as `line L, column C: …`, and a tree deeper than
/// [`MAX_DEPTH`].
pub fn unknown_names(expr: &IdedExpr, source: &SourceInfo, text: &str) -> Vec<String> {
    let mut walk = Walk {
        source,
        text,
        bound: Vec::new(),
        problems: Vec::new(),
        depth: 0,
        deepest: 0,
        loops: 0,
    };
    walk.expr(expr);
    if walk.deepest > MAX_DEPTH {
        walk.problems.push(format!(
            "the expression is nested more than {MAX_DEPTH} levels deep (chains of `+`, field \
             selections and calls count one level each): split it into several rules"
        ));
    }
    walk.problems
}

struct Walk<'a> {
    source: &'a SourceInfo,
    text: &'a str,
    bound: Vec<String>,
    problems: Vec<String>,
    depth: usize,
    deepest: usize,
    loops: usize,
}

impl Walk<'_> {
    fn at(&self, id: u64) -> String {
        let Some((start, _)) = self.source.offset_for(id) else {
            return "at an unknown position".to_owned();
        };
        // Offsets count characters; lines and columns are 1-based.
        let mut line = 1;
        let mut column = 1;
        for c in self.text.chars().take(start as usize) {
            if c == '\n' {
                line += 1;
                column = 1;
            } else {
                column += 1;
            }
        }
        format!("line {line}, column {column}")
    }

    fn expr(&mut self, e: &IdedExpr) {
        self.depth += 1;
        self.deepest = self.deepest.max(self.depth);
        // Far past the limit, stop walking: the expression is refused anyway.
        if self.depth <= 4 * MAX_DEPTH {
            self.node(e);
        }
        self.depth -= 1;
    }

    fn node(&mut self, e: &IdedExpr) {
        match &e.expr {
            Expr::Ident(name) => {
                let known = self.bound.iter().any(|b| b == name)
                    || VARIABLES.iter().any(|(v, _)| v == name)
                    || TYPE_NAMES.contains(&name.as_str());
                if !known {
                    self.problems.push(format!(
                        "{}: unknown variable `{name}` (the variables are {})",
                        self.at(e.id),
                        VARIABLES
                            .iter()
                            .map(|(v, _)| *v)
                            .collect::<Vec<_>>()
                            .join(", ")
                    ));
                }
            }
            Expr::Call(call) => {
                let operator = call.func_name.starts_with('_')
                    || call.func_name.starts_with('@')
                    || call.func_name.starts_with("!_")
                    || call.func_name.starts_with("-_");
                let known = operator
                    || FUNCTIONS.contains(&call.func_name.as_str())
                    || super::functions::FUNCTIONS
                        .iter()
                        .any(|(f, _, _)| *f == call.func_name);
                if !known {
                    self.problems.push(format!(
                        "{}: unknown function `{}`",
                        self.at(e.id),
                        call.func_name
                    ));
                }
                if let Some(t) = &call.target {
                    self.expr(t);
                }
                for a in &call.args {
                    self.expr(a);
                }
            }
            Expr::Select(s) => self.expr(&s.operand),
            Expr::List(l) => l.elements.iter().for_each(|x| self.expr(x)),
            Expr::Map(m) => {
                for entry in &m.entries {
                    if let EntryExpr::MapEntry(me) = &entry.expr {
                        self.expr(&me.key);
                        self.expr(&me.value);
                    }
                }
            }
            Expr::Struct(s) => {
                self.problems.push(format!(
                    "{}: message construction `{}{{…}}` is not supported",
                    self.at(e.id),
                    s.type_name
                ));
            }
            Expr::Comprehension(c) => {
                self.expr(&c.iter_range);
                self.expr(&c.accu_init);
                self.loops += 1;
                if self.loops == MAX_LOOPS + 1 {
                    self.problems.push(format!(
                        "{}: loops (`all`, `exists`, `exists_one`, `map`, `filter`) nested more \
                         than {MAX_LOOPS} deep: the work would grow as the item's lists to that power",
                        self.at(e.id)
                    ));
                }
                let depth = self.bound.len();
                self.bound.push(c.iter_var.clone());
                self.bound.extend(c.iter_var2.clone());
                self.bound.push(c.accu_var.clone());
                self.expr(&c.loop_cond);
                self.expr(&c.loop_step);
                self.expr(&c.result);
                self.bound.truncate(depth);
                self.loops -= 1;
            }
            Expr::Literal(_) | Expr::Unspecified => {}
        }
    }
}
