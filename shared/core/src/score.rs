//! Risk over time. A configuration item is evaluated once into a history record (findings with
//! base points); the state is then a pure function of the resource's whole history and the
//! clock, so it does not depend on the order the items arrived in.

use crate::item::{ConfigItem, ItemError};
use crate::policy::{Level, Policy};
use crate::rules::{self, Finding, REQUIRED_TAGS_RULE};
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
    let findings = if item.status.is_deletion() {
        Vec::new()
    } else {
        if item.configuration.is_none() {
            return Err(ItemError::new(
                item.label(),
                format!("configuration is missing on a {:?} item", item.status),
            ));
        }
        rules::evaluate(item, policy)?
            .into_iter()
            .map(|f| RecordedFinding {
                base_points: base_points(&f, policy),
                finding: f,
            })
            .collect()
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
        effects: crate::krampus::effects_shown(item),
    })
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

/// The state of a resource from its history (sorted by sort key, oldest first) at `now`.
/// `None` for an empty history.
pub fn derive_state(
    key: &ResourceKey,
    history: &[HistoryRecord],
    now: Millis,
    policy: &Policy,
) -> Option<RiskState> {
    let newest = history.last()?;
    let (account, region, resource_type, resource_id) = key.parts();
    let episodes = episodes_in_window(history, now, policy);
    let recidivism_factor = if episodes >= 2 {
        (1.0 + policy.recidivism.per_episode * f64::from(episodes - 1))
            .min(policy.recidivism.max_factor)
    } else {
        1.0
    };
    let deleted = newest.is_deletion();
    let findings: Vec<ScoredFinding> = if deleted {
        Vec::new()
    } else {
        newest
            .findings
            .iter()
            .map(|rf| {
                let first_seen = first_seen(history, &rf.finding);
                let age_factor = age_factor(now.saturating_sub(first_seen), policy);
                ScoredFinding {
                    finding: rf.finding.clone(),
                    base_points: rf.base_points,
                    first_seen,
                    age_factor,
                    recidivism_factor,
                    points: round(f64::from(rf.base_points) * age_factor * recidivism_factor),
                }
            })
            .collect()
    };
    let score: u32 = findings.iter().map(|f| f.points).sum();
    let level = if deleted {
        Level::None
    } else {
        policy.thresholds.level(score)
    };
    Some(RiskState {
        key: key.clone(),
        account: account.to_owned(),
        region: region.to_owned(),
        resource_type: resource_type.to_owned(),
        resource_id: resource_id.to_owned(),
        arn: latest(history, |r| r.arn.clone()),
        resource_name: latest(history, |r| r.resource_name.clone()),
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
        level,
        findings,
        owner: newest.tags.as_ref().and_then(|t| owner(t, policy)),
        tags: newest.tags.clone(),
        effects: newest.effects.clone(),
        episodes,
        revision: history.len() as u64,
    })
}

/// The newest non-empty value (deletions carry no name, for instance).
fn latest(
    history: &[HistoryRecord],
    f: impl Fn(&HistoryRecord) -> Option<String>,
) -> Option<String> {
    history.iter().rev().find_map(f)
}

/// The start of the unbroken run of items, ending with the newest, that show this finding.
fn first_seen(history: &[HistoryRecord], f: &Finding) -> Millis {
    let mut first = history.last().map_or(0, |r| r.capture_time);
    for r in history.iter().rev() {
        if r.is_deletion() || !r.has(&f.rule, &f.subject) {
            break;
        }
        first = r.capture_time;
    }
    first
}

pub fn age_factor(age: Millis, policy: &Policy) -> f64 {
    let full = policy.age.full_after_hours * HOUR_MS as f64;
    let share = (age.max(0) as f64 / full).min(1.0);
    1.0 + policy.age.max_extra * share
}

/// Risky episodes (base score crossing `warn` from below) that started within the window.
fn episodes_in_window(history: &[HistoryRecord], now: Millis, policy: &Policy) -> u32 {
    let since = now.saturating_sub(i64::from(policy.recidivism.window_days) * DAY_MS);
    let mut was_risky = false;
    let mut count = 0;
    for r in history {
        let risky = !r.is_deletion() && r.base_total() >= policy.thresholds.warn;
        if risky && !was_risky && r.capture_time > since && r.capture_time <= now {
            count += 1;
        }
        was_risky = risky;
    }
    count
}

/// The owner named by the first owner tag key present, matched case-insensitively.
pub fn owner(tags: &std::collections::BTreeMap<String, String>, policy: &Policy) -> Option<String> {
    policy.owner_tag_keys.iter().find_map(|want| {
        tags.iter()
            .find(|(k, v)| k.eq_ignore_ascii_case(want) && !v.trim().is_empty())
            .map(|(_, v)| crate::text::quote(v.trim(), 256))
    })
}

/// Inserts a record in sort-key order; `false` if the same record (same key) is already there.
pub fn insert_record(history: &mut Vec<HistoryRecord>, record: HistoryRecord) -> bool {
    let key = record.sort_key();
    match history.binary_search_by(|r| r.sort_key().cmp(&key)) {
        Ok(_) => false,
        Err(at) => {
            history.insert(at, record);
            true
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
            effects: vec![],
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
        assert!(insert_record(&mut h, record(2, &[], ItemStatus::Ok)));
        assert!(insert_record(&mut h, record(1, &[], ItemStatus::Ok)));
        assert!(!insert_record(&mut h, record(2, &[], ItemStatus::Ok)));
        assert_eq!(
            h.iter().map(|r| r.capture_time).collect::<Vec<_>>(),
            vec![1, 2]
        );
    }
}
