//! A resource's score over time, from its history, drawn as inline SVG with the level
//! thresholds marked.

use std::fmt::Write as _;

use crate::policy::Policy;
use crate::score::derive_state;
use crate::state::{HistoryRecord, RiskState};
use crate::time::Millis;

/// The most items a chart draws: the newest. Each point derives the state from the history
/// up to it, so a long history costs this many derivations, not one per item.
pub const MAX_CHART_POINTS: usize = 60;

/// (time, score) after each of the newest items of `history` (sorted, oldest first), each
/// scored as the policy scores it at that item's time, then the state's score when it was
/// last evaluated (a re-score ages it).
pub fn series(
    state: &RiskState,
    history: &[HistoryRecord],
    policy: &Policy,
    now: Millis,
) -> Vec<(Millis, u32)> {
    let from = history.len().saturating_sub(MAX_CHART_POINTS);
    let mut out: Vec<(Millis, u32)> = (from..history.len())
        .filter_map(|i| {
            let at = history[i].capture_time;
            derive_state(&state.key, &history[..=i], at, policy).map(|s| (at, s.score))
        })
        .collect();
    let _ = now;
    let last = state.evaluated_at;
    if out.last().is_none_or(|&(t, _)| t <= last) {
        out.push((last, state.score));
    }
    out
}

const W: f64 = 360.0;
const H: f64 = 120.0;
const LEFT: f64 = 4.0;
const RIGHT: f64 = 44.0;
const TOP: f64 = 6.0;
/// Room for the first and last dates.
const BOTTOM: f64 = 16.0;

/// The chart of `points` (oldest first) as an `<svg>` element. Only numbers and our own
/// labels go in it.
pub(super) fn svg(out: &mut String, points: &[(Millis, u32)], policy: &Policy) {
    let t = &policy.thresholds;
    let top_score = points
        .iter()
        .map(|p| p.1)
        .max()
        .unwrap_or(0)
        .max(t.kill)
        .max(1);
    let y_max = f64::from(top_score) * 1.1;
    let (t0, t1) = match (points.first(), points.last()) {
        (Some(a), Some(b)) if b.0 > a.0 => (a.0, b.0),
        (Some(a), _) => (a.0.saturating_sub(1), a.0.saturating_add(1)),
        _ => (0, 1),
    };
    let span = t1.saturating_sub(t0).max(1) as f64;
    let x = |ms: Millis| LEFT + ms.saturating_sub(t0) as f64 / span * (W - LEFT - RIGHT);
    let y = |score: u32| TOP + (1.0 - f64::from(score) / y_max) * (H - TOP - BOTTOM);
    let _ = write!(
        out,
        r#"<svg class="chart" viewBox="0 0 {W} {H}" width="{W}" height="{H}" role="img" aria-label="score over time"><title>Score over time, from {} to {}</title>"#,
        crate::time::format_rfc3339(t0),
        crate::time::format_rfc3339(t1)
    );
    // Each threshold's line, labelled unless the one below is too close to read.
    let mut last_label = f64::INFINITY;
    for (name, v) in [("warn", t.warn), ("disable", t.disable), ("kill", t.kill)] {
        let yy = y(v);
        let _ = write!(
            out,
            r#"<line class="t-{name}" x1="{LEFT}" x2="{:.0}" y1="{yy:.1}" y2="{yy:.1}"/>"#,
            W - RIGHT
        );
        if last_label - yy >= 10.0 {
            let _ = write!(
                out,
                r#"<text x="{:.0}" y="{:.1}">{name} {v}</text>"#,
                W - RIGHT + 2.0,
                yy + 3.0
            );
            last_label = yy;
        }
    }
    let _ = write!(
        out,
        r#"<text x="{LEFT}" y="{:.0}">{}</text><text x="{:.0}" y="{:.0}" text-anchor="end">{}</text>"#,
        H - 3.0,
        day(t0),
        W - RIGHT,
        H - 3.0,
        day(t1)
    );
    // A step line: the score holds from one item to the next (its growth with age between
    // items is drawn as the rise at the next point).
    out.push_str(r#"<polyline class="score" points=""#);
    let mut prev: Option<f64> = None;
    for &(ms, score) in points {
        let (px, py) = (x(ms), y(score));
        if let Some(py0) = prev {
            let _ = write!(out, "{px:.1},{py0:.1} ");
        }
        let _ = write!(out, "{px:.1},{py:.1} ");
        prev = Some(py);
    }
    out.push_str(r#""/>"#);
    if let Some(&(ms, score)) = points.last() {
        let _ = write!(
            out,
            r#"<circle cx="{:.1}" cy="{:.1}" r="3"><title>{score} at {}</title></circle>"#,
            x(ms),
            y(score),
            crate::time::format_rfc3339(ms)
        );
    }
    out.push_str("</svg>");
}

/// The date of `ms` (`YYYY-MM-DD`).
fn day(ms: Millis) -> String {
    let s = crate::time::format_rfc3339(ms);
    s.get(..10).map_or(s.clone(), str::to_owned)
}
