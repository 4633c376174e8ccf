//! The human breakdown of a risk state, as `justice explain` prints it.

use std::fmt::Write as _;

use crate::policy::{Policy, MAX_EPISODE_STARTS};
use crate::state::{ResourceStatus, RiskState};
use crate::text::quote;
use crate::time::format_rfc3339;

pub fn render(state: &RiskState, policy: &Policy) -> String {
    let mut s = String::new();
    let t = &policy.thresholds;
    let name = state.arn.as_deref().unwrap_or(state.key.as_str());
    let _ = writeln!(s, "resource  {}", quote(name, 256));
    let _ = writeln!(
        s,
        "          {} in account {}, region {}",
        state.resource_type, state.account, state.region
    );
    let _ = writeln!(
        s,
        "item      captured {}, state id {}{}",
        format_rfc3339(state.capture_time),
        state.state_id,
        if state.status == ResourceStatus::Deleted {
            ", resource deleted"
        } else {
            ""
        }
    );
    let _ = writeln!(s, "scored at {}", format_rfc3339(state.evaluated_at));
    let _ = writeln!(
        s,
        "score     {} -> level {} (warn >= {}, disable >= {}, kill >= {})",
        state.score, state.level, t.warn, t.disable, t.kill
    );
    if let Some(owner) = &state.owner {
        let _ = writeln!(s, "owner     {}", quote(owner, 256));
    }
    if state.episodes > 1 {
        let _ = writeln!(
            s,
            "history   {}{} risky episodes in the last {} days",
            state.episodes,
            // A state keeps only the newest starts; the factor has stopped growing by then.
            if state.episodes as usize >= MAX_EPISODE_STARTS {
                " or more"
            } else {
                ""
            },
            policy.recidivism.window_days
        );
    }
    for e in &state.rule_errors {
        let _ = writeln!(
            s,
            "unknown   rule {} could not be evaluated on the newest item: {} (its earlier \
             findings stay open and drive no action)",
            e.rule,
            quote(&e.error, 500)
        );
    }
    if state.findings.is_empty() {
        let _ = writeln!(s, "findings  none");
        return s;
    }
    let _ = writeln!(s, "findings");
    for f in &state.findings {
        let rule = policy.rule(&f.finding.rule);
        let _ = writeln!(
            s,
            "  {:<28} {:<8} {:>4} = base {} x age {:.2} x recidivism {:.2}   (open since {})",
            f.finding.rule,
            f.finding.severity.as_str(),
            f.points,
            f.base_points,
            f.age_factor,
            f.recidivism_factor,
            format_rfc3339(f.first_seen)
        );
        let _ = writeln!(s, "      evidence: {}", quote(&f.finding.evidence, 2000));
        if !f.finding.reachable {
            let _ = writeln!(
                s,
                "      reachability: leads to nothing running, x{}",
                policy.reachability.unreachable_factor
            );
        }
        if let Some(info) = rule {
            let _ = writeln!(s, "      fix: {}", info.remediation);
        }
    }
    s
}
