//! CEL's loop macros (`all`, `exists`, `exists_one`, `map`, `filter`) and `has`, as the CEL
//! specification defines them, with one difference: every loop charges its range to the
//! evaluation's budget before it starts (`@charge`), and `map` and `filter` charge what they
//! collect (`@push`). The interpreter's loops cannot be interrupted from outside; charged this
//! way, a rule that loops too much stops with an error instead of holding the scorer.

use cel::common::ast::{operators, CallExpr, ComprehensionExpr, Expr, ListExpr, LiteralValue};
use cel::common::types::{CelList, DYN_TYPE};
use cel::common::value::{CowVal, Val};
use cel::parser::{Macro, MacroExprHelper, ParseError};
use cel::{Env, ExecutionError, IdedExpr};

use super::value;

const RESULT: &str = "@result";
const CHARGE: &str = "@charge";
const PUSH: &str = "@push";

pub fn register(env: &mut Env) -> Result<(), cel::DeclarationError> {
    env.add_overload(CHARGE, "charge_dyn", vec![DYN_TYPE], charge)?;
    env.add_overload(PUSH, "push_dyn_dyn", vec![DYN_TYPE, DYN_TYPE], push)?;
    env.add_macro(Macro::global(operators::HAS, 1, |h, _, args| {
        has(h, args).map(Some)
    }))?;
    for (name, kind) in [
        (operators::ALL, Kind::All),
        (operators::EXISTS, Kind::Exists),
        (operators::EXISTS_ONE, Kind::ExistsOne),
        ("existsOne", Kind::ExistsOne),
        (operators::FILTER, Kind::Filter),
    ] {
        env.add_macro(Macro::receiver(name, 2, move |h, target, args| {
            expand(h, target, args, kind).map(Some)
        }))?;
    }
    env.add_macro(Macro::receiver(operators::MAP, 2, |h, target, args| {
        expand(h, target, args, Kind::Map).map(Some)
    }))?;
    env.add_macro(Macro::receiver(operators::MAP, 3, |h, target, args| {
        expand(h, target, args, Kind::MapIf).map(Some)
    }))?;
    Ok(())
}

#[derive(Debug, Clone, Copy)]
enum Kind {
    All,
    Exists,
    ExistsOne,
    Map,
    MapIf,
    Filter,
}

fn call(h: &mut MacroExprHelper<'_>, name: &str, args: Vec<IdedExpr>) -> IdedExpr {
    h.next_expr(Expr::Call(CallExpr {
        func_name: name.to_owned(),
        target: None,
        args,
    }))
}

fn result(h: &mut MacroExprHelper<'_>) -> IdedExpr {
    h.next_expr(Expr::Ident(RESULT.to_owned()))
}

fn boolean(h: &mut MacroExprHelper<'_>, b: bool) -> IdedExpr {
    h.next_expr(Expr::Literal(LiteralValue::Boolean(b.into())))
}

fn int(h: &mut MacroExprHelper<'_>, i: i64) -> IdedExpr {
    h.next_expr(Expr::Literal(LiteralValue::Int(i.into())))
}

fn has(h: &mut MacroExprHelper<'_>, args: &mut Vec<IdedExpr>) -> Result<IdedExpr, ParseError> {
    let arg = args.remove(0);
    match arg.expr {
        Expr::Select(mut select) => {
            select.test = true;
            Ok(h.next_expr(Expr::Select(select)))
        }
        _ => Err(h.new_error(arg.id, "invalid argument to has() macro")),
    }
}

fn expand(
    h: &mut MacroExprHelper<'_>,
    target: &mut Option<IdedExpr>,
    args: &mut Vec<IdedExpr>,
    kind: Kind,
) -> Result<IdedExpr, ParseError> {
    let var = args.remove(0);
    let var_name = match &var.expr {
        Expr::Ident(name) => name.clone(),
        _ => return Err(h.new_error(var.id, "argument must be a simple name")),
    };
    let range = target
        .take()
        .ok_or_else(|| h.new_error(0, "a loop macro needs a target"))?;
    let range = call(h, CHARGE, vec![range]);
    let (init, cond, step, out) = match kind {
        Kind::All | Kind::Exists => {
            let all = matches!(kind, Kind::All);
            let init = boolean(h, all);
            let r = result(h);
            let tested = if all {
                r
            } else {
                call(h, operators::LOGICAL_NOT, vec![r])
            };
            let cond = call(h, operators::NOT_STRICTLY_FALSE, vec![tested]);
            let r = result(h);
            let op = if all {
                operators::LOGICAL_AND
            } else {
                operators::LOGICAL_OR
            };
            let step = call(h, op, vec![r, args.remove(0)]);
            (init, cond, step, result(h))
        }
        Kind::ExistsOne => {
            let init = int(h, 0);
            let cond = boolean(h, true);
            let (r, one) = (result(h), int(h, 1));
            let plus = call(h, operators::ADD, vec![r, one]);
            let r = result(h);
            let step = call(h, operators::CONDITIONAL, vec![args.remove(0), plus, r]);
            let (r, one) = (result(h), int(h, 1));
            (init, cond, step, call(h, operators::EQUALS, vec![r, one]))
        }
        Kind::Map | Kind::MapIf | Kind::Filter => {
            let init = h.next_expr(Expr::List(ListExpr::new(Vec::new())));
            let cond = boolean(h, true);
            let (filter, value) = match kind {
                Kind::Map => (None, args.remove(0)),
                Kind::MapIf => {
                    let f = args.remove(0);
                    (Some(f), args.remove(0))
                }
                _ => (Some(args.remove(0)), var),
            };
            let r = result(h);
            let pushed = call(h, PUSH, vec![r, value]);
            let step = match filter {
                Some(f) => {
                    let r = result(h);
                    call(h, operators::CONDITIONAL, vec![f, pushed, r])
                }
                None => pushed,
            };
            (init, cond, step, result(h))
        }
    };
    Ok(h.next_expr(Expr::Comprehension(Box::new(ComprehensionExpr {
        iter_range: range,
        iter_var: var_name,
        iter_var2: None,
        accu_var: RESULT.to_owned(),
        accu_init: init,
        loop_cond: cond,
        loop_step: step,
        result: out,
    }))))
}

fn over_budget() -> ExecutionError {
    ExecutionError::function_error(
        "loop",
        "the rule's loops go over its budget of values for one item",
    )
}

/// The size a loop over `v` costs: its elements (a map's keys).
fn elements(v: &dyn Val) -> u64 {
    v.as_sizer()
        .map_or(1, |s| u64::try_from(*s.size().inner()).unwrap_or(0))
}

/// `@charge(range)`: the range itself, once its elements are charged.
fn charge<'b, 'v>(mut args: Vec<CowVal<'b, 'v>>) -> Result<CowVal<'b, 'v>, ExecutionError> {
    let range = args.pop().ok_or_else(over_budget)?;
    if !value::spend(elements(&*range)) {
        return Err(over_budget());
    }
    Ok(range)
}

/// `@push(list, value)`: the list with `value` at its end, the value charged by its size.
fn push<'b, 'v>(mut args: Vec<CowVal<'b, 'v>>) -> Result<CowVal<'b, 'v>, ExecutionError> {
    let (Some(value), Some(list)) = (args.pop(), args.pop()) else {
        return Err(over_budget());
    };
    if !value::spend(value::deep_size(&*value)) {
        return Err(over_budget());
    }
    let mut items: Vec<Box<dyn Val + 'v>> = match list {
        // The accumulator, owned: extended in place.
        CowVal::Owned(b) => Vec::try_from(b).map_err(|_| over_budget())?,
        CowVal::Borrowed(b) => <&[Box<dyn Val + 'v>]>::try_from(b)
            .map_err(|_| over_budget())?
            .iter()
            .map(|x| x.clone_as_boxed())
            .collect(),
    };
    items.push(value.into_owned());
    Ok(CowVal::owned(CelList::from(items)))
}
