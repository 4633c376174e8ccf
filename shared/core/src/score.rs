//! Risk over time. A configuration item is evaluated once into a history record (findings with
//! base points). The state is what the resource's history and the clock say, and it carries
//! what the next item needs to be folded in with no history at all (`fold`): each open
//! finding's first-seen time, the starts of the risky episodes inside the recidivism window,
//! whether the newest items were risky. An item older than the newest (out of order) takes the
//! slow path (`derive_state` over the history), which gives the same state: the result does
//! not depend on the order the items arrived in.

use crate::item::{ConfigItem, ItemError};
use crate::policy::{Level, Policy, MAX_EPISODE_STARTS};
use crate::rules::{Finding, REQUIRED_TAGS_RULE};
use crate::state::{
    HistoryRecord, RecordedFinding, ResourceKey, ResourceStatus, RiskState, ScoredFinding,
};
use crate::time::{Millis, DAY_MS, HOUR_MS};

/// Evaluates the rules on one item. Deletions record no findings; an item that should carry a
/// configuration and does not is an error, never a clean bill of health.
pub fn evaluate_item(
    item: &ConfigItem,
    sent: Millis,
    policy: &Policy,
) -> Result<HistoryRecord, ItemError> {
    // An item from the future would stay the newest for good, pinning the state and hiding
    // every real change after it.
    if item.capture_time > sent.saturating_add(policy.intake.skew_ms()) {
        return Err(ItemError::new(
            item.label(),
            format!(
                "configurationItemCaptureTime {} is later than the notification's time {}",
                crate::time::format_rfc3339(item.capture_time),
                crate::time::format_rfc3339(sent)
            ),
        ));
    }
    let (findings, rule_errors) = if item.status.is_deletion() {
        (Vec::new(), Vec::new())
    } else {
        if item.configuration.is_none() {
            return Err(ItemError::new(
                item.label(),
                format!("configuration is missing on a {:?} item", item.status),
            ));
        }
        let evaluation = policy.evaluate(item)?;
        let findings = evaluation
            .findings
            .into_iter()
            .map(|f| RecordedFinding {
                base_points: base_points(&f, policy),
                finding: f,
            })
            .collect();
        (findings, evaluation.rule_errors)
    };
    Ok(HistoryRecord {
        capture_time: item.capture_time,
        state_id: item.state_id.clone(),
        digest: format!("{:016x}", item.digest),
        sent,
        status: item.status,
        arn: item.arn.clone(),
        resource_name: item.resource_name.clone(),
        tags: item.tags.recorded().cloned(),
        findings,
        rank: item.rank(),
        effects: crate::krampus::effects_shown(item),
        rule_errors,
    })
}

/// The open findings of the rules that could not be evaluated on `record`, as they were in
/// `before`: an error is not a fix.
fn carried<'a>(
    record: &'a HistoryRecord,
    before: &'a [ScoredFinding],
) -> impl Iterator<Item = (Finding, u32, Millis)> + 'a {
    before
        .iter()
        .filter(|o| record.rule_errors.iter().any(|e| e.rule == o.finding.rule))
        .map(|o| (o.finding.clone(), o.base_points, o.first_seen))
}

/// Severity (or tag) points × rule weight × reachability, rounded.
pub fn base_points(f: &Finding, policy: &Policy) -> u32 {
    let points = if f.rule == REQUIRED_TAGS_RULE {
        policy.tag_points(&f.subject)
    } else {
        policy.points.of(f.severity)
    };
    let reach = if f.reachable {
        1.0
    } else {
        policy.reachability.unreachable_factor
    };
    round(f64::from(points) * policy.rule_weight(&f.rule) * reach)
}

fn round(x: f64) -> u32 {
    if x.is_finite() && x > 0.0 {
        x.round().min(f64::from(u32::MAX)) as u32
    } else {
        0
    }
}

/// What a new item does to a resource's state.
#[derive(Debug, Clone, PartialEq)]
pub enum Fold {
    /// A newer item: the state it makes.
    Advance(RiskState),
    /// A richer copy of the newest item (same capture time and state id): the state it makes;
    /// its history record replaces the poorer copy's.
    Replace(RiskState),
    /// The newest item again (a redelivery), or a poorer copy of it: nothing to write.
    Unchanged,
    /// Older than the newest item: only the history can place it (`derive_state`).
    Older,
}

/// Where an item stands relative to the state's newest: capture time, then state id (as the
/// history's sort keys order them).
fn position(record: &HistoryRecord, state: &RiskState) -> std::cmp::Ordering {
    let order_id = |id: &str| -> (usize, String) {
        if id.bytes().all(|b| b.is_ascii_digit()) {
            (1, format!("{id:0>20}"))
        } else {
            (0, id.to_owned())
        }
    };
    record.capture_time.cmp(&state.capture_time).then_with(|| {
        order_id(&record.state_id)
            .1
            .cmp(&order_id(&state.state_id).1)
    })
}

/// Folds one evaluated item into the resource's state, at `now`, in O(1) of the history: the
/// fast path of every change event.
pub fn fold(
    key: &ResourceKey,
    previous: Option<&RiskState>,
    record: &HistoryRecord,
    now: Millis,
    policy: &Policy,
) -> Fold {
    let Some(prev) = previous else {
        return Fold::Advance(build(key, None, record, false, &[], now, policy));
    };
    let now = now.max(prev.evaluated_at);
    match position(record, prev) {
        std::cmp::Ordering::Greater => Fold::Advance(build(
            key,
            Some(prev),
            record,
            prev.risky_newest,
            &prev.episode_starts,
            now,
            policy,
        )),
        std::cmp::Ordering::Less => Fold::Older,
        std::cmp::Ordering::Equal => {
            if record.digest == prev.digest
                || (record.rank, record.digest.as_str()) <= (prev.rank, prev.digest.as_str())
            {
                return Fold::Unchanged;
            }
            // The same item, richer: the state as if this copy had come instead.
            let starts: Vec<Millis> = prev
                .episode_starts
                .iter()
                .copied()
                .filter(|&t| t != prev.capture_time || prev.risky_before)
                .collect();
            Fold::Replace(build(
                key,
                Some(prev),
                record,
                prev.risky_before,
                &starts,
                now,
                policy,
            ))
        }
    }
}

/// The state whose newest item is `record`, after a state `prev` (whose open findings keep
/// their first-seen times) whose newest item was risky or not (`risky_before`), with the
/// episodes that started before.
fn build(
    key: &ResourceKey,
    prev: Option<&RiskState>,
    record: &HistoryRecord,
    risky_before: bool,
    starts_before: &[Millis],
    now: Millis,
    policy: &Policy,
) -> RiskState {
    let risky = record.risky_after(policy.thresholds.warn, risky_before);
    let mut starts = starts_before.to_vec();
    if risky && !risky_before {
        starts.push(record.capture_time);
    }
    let first_seen = |f: &Finding| {
        prev.filter(|p| p.status == ResourceStatus::Active)
            .and_then(|p| {
                p.findings
                    .iter()
                    .find(|o| o.finding.rule == f.rule && o.finding.subject == f.subject)
            })
            .map_or(record.capture_time, |o| {
                o.first_seen.min(record.capture_time)
            })
    };
    let findings: Vec<(Finding, u32, Millis)> = if record.is_deletion() {
        Vec::new()
    } else {
        let open = prev
            .filter(|p| p.status == ResourceStatus::Active)
            .map_or(&[][..], |p| &p.findings[..]);
        record
            .findings
            .iter()
            .map(|rf| (rf.finding.clone(), rf.base_points, first_seen(&rf.finding)))
            .chain(carried(record, open))
            .collect()
    };
    let latest = |new: &Option<String>, old: Option<&Option<String>>| {
        new.clone().or_else(|| old.cloned().flatten())
    };
    let parts = Parts {
        arn: latest(&record.arn, prev.map(|p| &p.arn)),
        resource_name: latest(&record.resource_name, prev.map(|p| &p.resource_name)),
        risky_newest: risky,
        risky_before,
        episode_starts: starts,
    };
    assemble(key, record, findings, parts, now, policy)
}

/// The fields of a state that come from before its newest item.
struct Parts {
    arn: Option<String>,
    resource_name: Option<String>,
    risky_newest: bool,
    risky_before: bool,
    episode_starts: Vec<Millis>,
}

impl Parts {
    /// A state's own, for a state rewritten on the same newest item.
    fn of(state: &RiskState) -> Parts {
        Parts {
            arn: state.arn.clone(),
            resource_name: state.resource_name.clone(),
            risky_newest: state.risky_newest,
            risky_before: state.risky_before,
            episode_starts: state.episode_starts.clone(),
        }
    }
}

/// The state at `now` whose newest item is `newest`, with its findings (base points and
/// first-seen times) and what came before.
fn assemble(
    key: &ResourceKey,
    newest: &HistoryRecord,
    findings: Vec<(Finding, u32, Millis)>,
    mut parts: Parts,
    now: Millis,
    policy: &Policy,
) -> RiskState {
    let (account, region, resource_type, resource_id) = key.parts();
    let since = now.saturating_sub(i64::from(policy.recidivism.window_days) * DAY_MS);
    parts.episode_starts.retain(|&t| t > since);
    // The in-window starts are the newest ones, so keeping the newest keeps the factor.
    let over = parts
        .episode_starts
        .len()
        .saturating_sub(MAX_EPISODE_STARTS);
    parts.episode_starts.drain(..over);
    let episodes = parts.episode_starts.len() as u32;
    let recidivism_factor = if episodes >= 2 {
        (1.0 + policy.recidivism.per_episode * f64::from(episodes - 1))
            .min(policy.recidivism.max_factor)
    } else {
        1.0
    };
    let deleted = newest.is_deletion();
    let findings: Vec<ScoredFinding> = findings
        .into_iter()
        .map(|(finding, base_points, first_seen)| {
            let age_factor = age_factor(now.saturating_sub(first_seen), policy);
            ScoredFinding {
                finding,
                base_points,
                first_seen,
                age_factor,
                recidivism_factor,
                points: round(f64::from(base_points) * age_factor * recidivism_factor),
            }
        })
        .collect();
    let score: u32 = findings.iter().map(|f| f.points).sum();
    RiskState {
        key: key.clone(),
        account: account.to_owned(),
        region: region.to_owned(),
        resource_type: resource_type.to_owned(),
        resource_id: resource_id.to_owned(),
        arn: parts.arn,
        resource_name: parts.resource_name,
        status: if deleted {
            ResourceStatus::Deleted
        } else {
            ResourceStatus::Active
        },
        capture_time: newest.capture_time,
        state_id: newest.state_id.clone(),
        digest: newest.digest.clone(),
        evaluated_at: now,
        score,
        level: if deleted {
            Level::None
        } else {
            policy.thresholds.level(score)
        },
        findings,
        rule_errors: newest.rule_errors.clone(),
        owner: newest.tags.as_ref().and_then(|t| owner(t, policy)),
        tags: newest.tags.clone(),
        effects: newest.effects.clone(),
        episodes,
        episode_starts: parts.episode_starts,
        risky_newest: parts.risky_newest,
        risky_before: parts.risky_before,
        rank: newest.rank,
        policy_version: policy.version.clone(),
        revision: 0,
    }
}

/// The state of a resource from its whole history (sorted by sort key, oldest first) at
/// `now`: the slow path, for an item that arrived out of order. `None` for an empty history.
pub fn derive_state(
    key: &ResourceKey,
    history: &[HistoryRecord],
    now: Millis,
    policy: &Policy,
) -> Option<RiskState> {
    let newest = history.last()?;
    let warn = policy.thresholds.warn;
    let mut starts = Vec::new();
    let mut was_risky = false;
    let mut risky_before = false;
    for r in history {
        let risky = r.risky_after(warn, was_risky);
        if risky && !was_risky {
            starts.push(r.capture_time);
        }
        risky_before = was_risky;
        was_risky = risky;
    }
    let findings = if newest.is_deletion() {
        Vec::new()
    } else {
        let mut findings: Vec<(Finding, u32, Millis)> = newest
            .findings
            .iter()
            .map(|rf| {
                (
                    rf.finding.clone(),
                    rf.base_points,
                    first_seen(history, &rf.finding),
                )
            })
            .collect();
        findings.extend(carried_in_history(history));
        findings
    };
    let parts = Parts {
        arn: latest(history, |r| r.arn.clone()),
        resource_name: latest(history, |r| r.resource_name.clone()),
        risky_newest: was_risky,
        risky_before,
        episode_starts: starts,
    };
    let mut state = assemble(key, newest, findings, parts, now, policy);
    state.revision = history.len() as u64;
    Some(state)
}

/// The state evaluated again under `policy` from its kept newest item, at `now`: a finding
/// still open keeps its first-seen time; one the new policy finds for the first time is seen
/// from `now` (the owner gets the full grace from the policy change). The episodes stay.
pub fn reevaluate(
    state: &RiskState,
    item: &ConfigItem,
    now: Millis,
    policy: &Policy,
) -> Result<RiskState, ItemError> {
    let record = evaluate_item(item, item.capture_time, policy)?;
    let now = now.max(state.evaluated_at);
    let findings: Vec<(Finding, u32, Millis)> = if record.is_deletion() {
        Vec::new()
    } else {
        record
            .findings
            .iter()
            .map(|rf| {
                let seen = state
                    .findings
                    .iter()
                    .find(|o| {
                        o.finding.rule == rf.finding.rule && o.finding.subject == rf.finding.subject
                    })
                    .map_or(now, |o| o.first_seen);
                (rf.finding.clone(), rf.base_points, seen)
            })
            .collect()
    };
    let mut findings = findings;
    if !record.is_deletion() {
        findings.extend(carried(&record, &state.findings));
    }
    let parts = Parts::of(state);
    let mut out = assemble(&state.key, &record, findings, parts, now, policy);
    out.revision = state.revision;
    Ok(out)
}

/// The state at a later `now`, its items unchanged: findings age, episodes leave the
/// recidivism window. What the scheduled re-score writes.
pub fn rescore(state: &RiskState, now: Millis, policy: &Policy) -> RiskState {
    let now = now.max(state.evaluated_at);
    let findings = state
        .findings
        .iter()
        .map(|f| (f.finding.clone(), f.base_points, f.first_seen))
        .collect();
    let parts = Parts::of(state);
    let newest = HistoryRecord {
        capture_time: state.capture_time,
        state_id: state.state_id.clone(),
        digest: state.digest.clone(),
        sent: state.capture_time,
        status: if state.status == ResourceStatus::Deleted {
            crate::item::ItemStatus::ResourceDeleted
        } else {
            crate::item::ItemStatus::Ok
        },
        arn: None,
        resource_name: None,
        tags: state.tags.clone(),
        findings: Vec::new(),
        rank: state.rank,
        effects: state.effects.clone(),
        rule_errors: state.rule_errors.clone(),
    };
    let mut out = assemble(&state.key, &newest, findings, parts, now, policy);
    // The findings were evaluated with the state's policy; only the clock moved.
    out.policy_version = state.policy_version.clone();
    out.revision = state.revision;
    out
}

/// The newest non-empty value (deletions carry no name, for instance).
fn latest(
    history: &[HistoryRecord],
    f: impl Fn(&HistoryRecord) -> Option<String>,
) -> Option<String> {
    history.iter().rev().find_map(f)
}

/// For each rule that could not be evaluated on the newest item, its findings on the latest
/// earlier item that evaluated it (back to the last deletion).
fn carried_in_history(history: &[HistoryRecord]) -> Vec<(Finding, u32, Millis)> {
    let Some((newest, earlier)) = history.split_last() else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for e in &newest.rule_errors {
        for (j, r) in earlier.iter().enumerate().rev() {
            if r.is_deletion() {
                break;
            }
            if r.rule_errors.iter().any(|x| x.rule == e.rule) {
                continue;
            }
            out.extend(
                r.findings
                    .iter()
                    .filter(|rf| rf.finding.rule == e.rule)
                    .map(|rf| {
                        (
                            rf.finding.clone(),
                            rf.base_points,
                            first_seen(&history[..=j], &rf.finding),
                        )
                    }),
            );
            break;
        }
    }
    out
}

/// The start of the unbroken run of items, ending with the newest, that show this finding.
fn first_seen(history: &[HistoryRecord], f: &Finding) -> Millis {
    let mut first = history.last().map_or(0, |r| r.capture_time);
    for r in history.iter().rev() {
        if r.is_deletion() {
            break;
        }
        if r.has(&f.rule, &f.subject) {
            first = r.capture_time;
        } else if !r.errored(&f.rule) {
            break;
        }
        // An item the rule could not be evaluated on neither breaks the run (it is no fix)
        // nor starts it: the run goes on only if an earlier item shows the finding.
    }
    first
}

pub fn age_factor(age: Millis, policy: &Policy) -> f64 {
    let full = policy.age.full_after_hours * HOUR_MS as f64;
    let share = (age.max(0) as f64 / full).min(1.0);
    1.0 + policy.age.max_extra * share
}

/// The owner named by the first owner tag key present, matched case-insensitively.
pub fn owner(tags: &std::collections::BTreeMap<String, String>, policy: &Policy) -> Option<String> {
    policy.owner_tag_keys.iter().find_map(|want| {
        tags.iter()
            .find(|(k, v)| k.eq_ignore_ascii_case(want) && !v.trim().is_empty())
            .map(|(_, v)| crate::text::quote(v.trim(), 256))
    })
}

/// What inserting a record into a history did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Inserted {
    /// A new item.
    New,
    /// A richer copy of an item already there replaced it.
    Replaced,
    /// The same item, or a poorer copy: nothing changed.
    Unchanged,
}

/// Inserts a record in sort-key order. Two copies of one item (same sort key) are one item:
/// the preferred copy stays.
pub fn insert_record(history: &mut Vec<HistoryRecord>, record: HistoryRecord) -> Inserted {
    let key = record.sort_key();
    match history.binary_search_by(|r| r.sort_key().cmp(&key)) {
        Ok(at) => {
            if record.preference() > history[at].preference() {
                history[at] = record;
                Inserted::Replaced
            } else {
                Inserted::Unchanged
            }
        }
        Err(at) => {
            history.insert(at, record);
            Inserted::New
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::item::ItemStatus;
    use crate::rules::Severity;

    fn finding(rule: &str, severity: Severity) -> Finding {
        Finding {
            rule: rule.into(),
            subject: String::new(),
            severity,
            evidence: "e".into(),
            remedies: vec![],
            reachable: true,
        }
    }

    fn record(t: Millis, findings: &[(&str, u32)], status: ItemStatus) -> HistoryRecord {
        HistoryRecord {
            capture_time: t,
            state_id: t.to_string(),
            digest: format!("{t:016x}"),
            sent: t,
            status,
            arn: Some("arn:aws:ec2:us-east-1:1:volume/vol-1".into()),
            resource_name: None,
            tags: None,
            rank: 3,
            effects: vec![],
            rule_errors: vec![],
            findings: findings
                .iter()
                .map(|(r, p)| RecordedFinding {
                    finding: finding(r, Severity::High),
                    base_points: *p,
                })
                .collect(),
        }
    }

    fn key() -> ResourceKey {
        ResourceKey::new("123456789012", "us-east-1", "AWS::EC2::Volume", "vol-1")
            .expect("valid key")
    }

    /// A record on which rule `x` could not be evaluated.
    fn errored(t: Millis, rule: &str) -> HistoryRecord {
        let mut r = record(t, &[], ItemStatus::Ok);
        r.rule_errors = vec![crate::rules::RuleError {
            rule: rule.into(),
            error: "the item has no field `y`".into(),
        }];
        r
    }

    #[test]
    fn a_rule_error_keeps_the_rules_earlier_findings_open_and_is_not_a_fix() {
        let p = Policy::default_policy();
        let first = record(0, &[("x", 60), ("z", 25)], ItemStatus::Ok);
        let second = errored(HOUR_MS, "x");
        // The fast path: folded onto the state of the first item.
        let Fold::Advance(s1) = fold(&key(), None, &first, 0, &p) else {
            panic!("first item advances");
        };
        let Fold::Advance(s2) = fold(&key(), Some(&s1), &second, HOUR_MS, &p) else {
            panic!("second item advances");
        };
        let rules: Vec<&str> = s2
            .findings
            .iter()
            .map(|f| f.finding.rule.as_str())
            .collect();
        // `z` was evaluated on the second item and is gone; `x` could not be, and stays.
        assert_eq!(rules, ["x"], "{s2:?}");
        assert_eq!(s2.findings[0].first_seen, 0);
        assert_eq!(s2.rule_errors.len(), 1);
        // The slow path, from the whole history, agrees.
        let d = derive_state(&key(), &[first.clone(), second.clone()], HOUR_MS, &p).expect("state");
        assert_eq!(d.findings, s2.findings);
        assert_eq!(d.rule_errors, s2.rule_errors);
        // Two errors in a row reach back to the last item that evaluated the rule.
        let third = errored(2 * HOUR_MS, "x");
        let d = derive_state(&key(), &[first, second, third], 2 * HOUR_MS, &p).expect("state");
        assert_eq!(d.findings.len(), 1);
        assert_eq!(d.findings[0].first_seen, 0);
        // The scheduled re-score keeps both the finding and the error.
        let r = rescore(&d, 3 * HOUR_MS, &p);
        assert_eq!(r.findings.len(), 1);
        assert_eq!(r.rule_errors, d.rule_errors);
    }

    #[test]
    fn a_rule_error_ends_no_episode_and_the_order_of_arrival_does_not_matter() {
        let p = Policy::default_policy();
        // Risky, then the rule fails, then risky again: one episode, open since the first.
        let h = vec![
            record(0, &[("x", 60)], ItemStatus::Ok),
            errored(HOUR_MS, "x"),
            record(2 * HOUR_MS, &[("x", 60)], ItemStatus::Ok),
        ];
        let d = derive_state(&key(), &h, 2 * HOUR_MS, &p).expect("state");
        assert_eq!(d.episodes, 1, "{d:?}");
        assert_eq!(d.findings[0].first_seen, 0);
        // Folded one at a time, in order: the same state.
        let mut state: Option<RiskState> = None;
        for (i, r) in h.iter().enumerate() {
            let now = i as i64 * HOUR_MS;
            state = match fold(&key(), state.as_ref(), r, now, &p) {
                Fold::Advance(s) | Fold::Replace(s) => Some(s),
                other => panic!("{other:?}"),
            };
        }
        let folded = state.expect("state");
        assert_eq!(folded.episodes, d.episodes);
        assert_eq!(folded.findings, d.findings);
        assert_eq!(folded.score, d.score);
    }

    #[test]
    fn a_rule_error_before_a_finding_does_not_date_it_back() {
        let p = Policy::default_policy();
        let h = vec![
            errored(0, "x"),
            record(7 * DAY_MS, &[("x", 60)], ItemStatus::Ok),
        ];
        let derived = derive_state(&key(), &h, 7 * DAY_MS, &p).expect("state");
        let Fold::Advance(s0) = fold(&key(), None, &h[0], 0, &p) else {
            panic!("advances");
        };
        let Fold::Advance(s1) = fold(&key(), Some(&s0), &h[1], 7 * DAY_MS, &p) else {
            panic!("advances");
        };
        assert_eq!(derived.findings[0].first_seen, 7 * DAY_MS);
        assert_eq!(s1.findings, derived.findings);
    }

    #[test]
    fn a_rule_error_after_a_deletion_carries_nothing() {
        let p = Policy::default_policy();
        let h = vec![
            record(0, &[("x", 60)], ItemStatus::Ok),
            record(HOUR_MS, &[], ItemStatus::ResourceDeleted),
            errored(2 * HOUR_MS, "x"),
        ];
        let d = derive_state(&key(), &h, 2 * HOUR_MS, &p).expect("state");
        assert!(d.findings.is_empty(), "{:?}", d.findings);
    }

    #[test]
    fn points_grow_with_age_up_to_double_after_a_day() {
        let p = Policy::default_policy();
        let h = vec![record(0, &[("x", 60)], ItemStatus::Ok)];
        let at = |now| derive_state(&key(), &h, now, &p).map(|s| s.score);
        assert_eq!(at(0), Some(60));
        assert_eq!(at(12 * HOUR_MS), Some(90));
        assert_eq!(at(24 * HOUR_MS), Some(120));
        assert_eq!(at(240 * HOUR_MS), Some(120));
    }

    #[test]
    fn first_seen_is_the_start_of_the_unbroken_run() {
        let p = Policy::default_policy();
        let h = vec![
            record(0, &[("x", 60)], ItemStatus::Ok),
            record(HOUR_MS, &[], ItemStatus::Ok),
            record(2 * HOUR_MS, &[("x", 60)], ItemStatus::Ok),
            record(3 * HOUR_MS, &[("x", 60)], ItemStatus::Ok),
        ];
        let s = derive_state(&key(), &h, 3 * HOUR_MS, &p).expect("state");
        assert_eq!(s.findings[0].first_seen, 2 * HOUR_MS);
    }

    #[test]
    fn recidivism_multiplies_after_the_second_episode_and_deletion_clears() {
        let p = Policy::default_policy();
        let mut h = vec![
            record(0, &[("x", 60)], ItemStatus::Ok),
            record(HOUR_MS, &[], ItemStatus::Ok),
            record(2 * HOUR_MS, &[("x", 60)], ItemStatus::Ok),
        ];
        let s = derive_state(&key(), &h, 2 * HOUR_MS, &p).expect("state");
        assert_eq!(s.episodes, 2);
        assert_eq!(s.findings[0].recidivism_factor, 1.25);
        assert_eq!(s.score, 75);
        h.push(record(3 * HOUR_MS, &[], ItemStatus::ResourceDeleted));
        let s = derive_state(&key(), &h, 3 * HOUR_MS, &p).expect("state");
        assert_eq!(
            (s.score, s.level, s.status),
            (0, Level::None, ResourceStatus::Deleted)
        );
    }

    #[test]
    fn episodes_outside_the_window_do_not_count() {
        let p = Policy::default_policy();
        let h = vec![
            record(0, &[("x", 60)], ItemStatus::Ok),
            record(HOUR_MS, &[], ItemStatus::Ok),
            record(40 * DAY_MS, &[("x", 60)], ItemStatus::Ok),
        ];
        let s = derive_state(&key(), &h, 40 * DAY_MS, &p).expect("state");
        assert_eq!(s.episodes, 1);
    }

    #[test]
    fn records_insert_in_order_once() {
        let mut h = Vec::new();
        assert_eq!(
            insert_record(&mut h, record(2, &[], ItemStatus::Ok)),
            Inserted::New
        );
        assert_eq!(
            insert_record(&mut h, record(1, &[], ItemStatus::Ok)),
            Inserted::New
        );
        assert_eq!(
            insert_record(&mut h, record(2, &[], ItemStatus::Ok)),
            Inserted::Unchanged
        );
        let mut poorer = record(2, &[("x", 60)], ItemStatus::Ok);
        poorer.rank = 0;
        poorer.digest = "ffff".into();
        assert_eq!(insert_record(&mut h, poorer), Inserted::Unchanged);
        let mut richer = record(2, &[("x", 60)], ItemStatus::Ok);
        richer.digest = "ffff".into();
        assert_eq!(insert_record(&mut h, richer), Inserted::Replaced);
        assert_eq!(h[1].findings.len(), 1);
        assert_eq!(
            h.iter().map(|r| r.capture_time).collect::<Vec<_>>(),
            vec![1, 2]
        );
    }

    /// A resource that flaps hundreds of times keeps only the newest episode starts, and no
    /// score differs from what all of them give: not at the cap, not after a richer copy takes
    /// the newest start back, not once most starts have left the window.
    #[test]
    fn a_flapping_resource_keeps_a_bounded_number_of_episodes_and_the_same_factor() {
        let mut p = Policy::default_policy();
        // The slowest growth the policy allows: 2.0 is reached at the 126th episode.
        p.recidivism.per_episode = 0.008;
        p.recidivism.max_factor = 2.0;
        // 300 episodes, risky on even hours and safe on odd ones, within the 30-day window.
        let history: Vec<HistoryRecord> = (0..600)
            .map(|h| {
                let points = if h % 2 == 0 { 60 } else { 0 };
                let findings: &[(&str, u32)] = if points > 0 { &[("x", 60)] } else { &[] };
                record(h * HOUR_MS, findings, ItemStatus::Ok)
            })
            .collect();
        let k = key();
        let mut state: Option<RiskState> = None;
        for r in &history {
            state = match fold(&k, state.as_ref(), r, r.capture_time, &p) {
                Fold::Advance(s) => Some(s),
                other => panic!("{other:?}"),
            };
        }
        let s = state.expect("state");
        let newest = 598 * HOUR_MS;
        assert_eq!(s.episode_starts.len(), MAX_EPISODE_STARTS);
        assert_eq!(s.episode_starts.last(), Some(&newest));
        assert_eq!(s.findings.len(), 0, "the newest item is safe");
        let mut derived = derive_state(&k, &history, s.evaluated_at, &p).expect("state");
        derived.revision = 0;
        assert_eq!(s, derived);
        // Back to the newest risky item: the factor of 300 episodes.
        let mut folded = None;
        for r in &history[..599] {
            folded = match fold(&k, folded.as_ref(), r, r.capture_time, &p) {
                Fold::Advance(s) => Some(s),
                other => panic!("{other:?}"),
            };
        }
        let at_cap = folded.expect("state");
        assert_eq!(at_cap.findings[0].recidivism_factor, 2.0);
        // A richer copy of that item below `warn` takes its start back: 299 episodes remain,
        // still past the growth's end.
        let mut richer = history[598].clone();
        richer.digest = "ffff".into();
        richer.findings[0].base_points = 10;
        let Fold::Replace(r) = fold(&k, Some(&at_cap), &richer, newest, &p) else {
            panic!("richer copy not taken");
        };
        assert_eq!(r.episode_starts.len(), MAX_EPISODE_STARTS - 1);
        assert_eq!(r.findings[0].recidivism_factor, 2.0);
        // Later, only the ten newest starts (580..598 h) are inside the window: all ten kept.
        let since = 578 * HOUR_MS + HOUR_MS / 2;
        let later = rescore(&at_cap, since + 30 * DAY_MS, &p);
        assert_eq!(later.episodes, 10);
        assert_eq!(later.findings[0].recidivism_factor, 1.0 + 0.008 * 9.0);
    }

    /// Folding items in order gives what the whole history gives.
    #[test]
    fn folding_in_order_equals_deriving_from_the_history() {
        let p = Policy::default_policy();
        let k = key();
        let steps: Vec<HistoryRecord> = vec![
            record(0, &[("x", 60)], ItemStatus::Ok),
            record(HOUR_MS, &[("x", 60), ("y", 30)], ItemStatus::Ok),
            record(2 * HOUR_MS, &[], ItemStatus::Ok),
            record(3 * HOUR_MS, &[("y", 30)], ItemStatus::Ok),
            record(4 * HOUR_MS, &[("y", 30)], ItemStatus::ResourceDeleted),
            record(50 * DAY_MS, &[("x", 60)], ItemStatus::Ok),
            record(50 * DAY_MS + HOUR_MS, &[("x", 60)], ItemStatus::Ok),
        ];
        let mut state: Option<RiskState> = None;
        for (i, r) in steps.iter().enumerate() {
            let now = r.capture_time + 10;
            let next = match fold(&k, state.as_ref(), r, now, &p) {
                Fold::Advance(s) => s,
                other => panic!("step {i}: {other:?}"),
            };
            let mut derived = derive_state(&k, &steps[..=i], now, &p).expect("state");
            derived.revision = 0;
            assert_eq!(next, derived, "step {i}");
            state = Some(next);
        }
        // Older, the same again, a poorer and a richer copy of the newest.
        let s = state.expect("state");
        assert_eq!(fold(&k, Some(&s), &steps[0], 0, &p), Fold::Older);
        assert_eq!(fold(&k, Some(&s), &steps[6], 0, &p), Fold::Unchanged);
        let mut poorer = steps[6].clone();
        poorer.rank = 0;
        poorer.digest = "ffff".into();
        assert_eq!(fold(&k, Some(&s), &poorer, 0, &p), Fold::Unchanged);
        let mut richer = steps[6].clone();
        richer.digest = "ffff".into();
        richer.findings.clear();
        let Fold::Replace(r) = fold(&k, Some(&s), &richer, 0, &p) else {
            panic!("richer copy not taken")
        };
        assert!(r.findings.is_empty());
        assert_eq!(r.episode_starts, s.episode_starts);
    }
}
