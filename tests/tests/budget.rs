//! The blast-radius budget over the judge's batches: resources held by the limit get the budget
//! first, oldest first, when it frees up; a hold that goes on too long reaches a person, once.

use std::collections::BTreeMap;

use justice_core::policy::Policy;
use justice_core::time::HOUR_MS;
use justice_core::verdict::{Judgement, VerdictKind};
use justice_core::RiskState;
use justice_tests::local::LocalWorld;
use justice_tests::states::{ssh_group as group, ACCOUNT, T0};

#[test]
fn the_resource_held_longest_gets_the_budget_first() {
    let w = LocalWorld::new(1);
    let policy = Policy::default_policy();
    let run = |states: &[RiskState], now: i64| w.judge(states, &policy, now);
    // Hour 0: the first group spends the hour's budget; the second (its key sorts last) is
    // held.
    run(&[group("sg-00000001", 1)], T0);
    let held = run(&[group("sg-ffffffff", 1)], T0);
    assert_eq!(held[0].kind, VerdictKind::Held);
    // Hour 1: the held group comes back with a newcomer whose key sorts first. The held one
    // gets the budget; the newcomer waits.
    let next = T0 + HOUR_MS;
    let records = run(&[group("sg-ffffffff", 2), group("sg-10000000", 1)], next);
    let kind_of = |id: &str| {
        records
            .iter()
            .find(|r| r.resource.key.ends_with(id))
            .map(|r| r.kind)
    };
    assert_eq!(kind_of("sg-ffffffff"), Some(VerdictKind::Act));
    assert_eq!(kind_of("sg-10000000"), Some(VerdictKind::Held));
}

#[test]
fn a_hold_past_the_bound_reaches_a_person_once() {
    let policy = Policy::default_policy();
    let allow = justice_core::allow::AllowList::default();
    let accounts = vec![ACCOUNT.to_owned()];
    let decide = |s: &RiskState, docket: Option<&justice_core::verdict::Docket>, now: i64| {
        let j = Judgement {
            policy: &policy,
            allow: &allow,
            accounts: &accounts,
            now,
            dry_run: false,
        };
        let mut budget = 0;
        j.decide(&s.key, Some(s), docket, &BTreeMap::new(), &mut budget)
    };
    let d1 = decide(&group("sg-0000000a", 1), None, T0);
    assert_eq!(d1.record.as_ref().map(|r| r.kind), Some(VerdictKind::Held));
    // Re-scored every hour, still no budget: quiet until the bound, then told once.
    let mut docket = d1.docket;
    let mut told = Vec::new();
    for hour in 1..=30 {
        let d = decide(
            &group("sg-0000000a", 1 + hour as u64),
            Some(&docket),
            T0 + hour * HOUR_MS,
        );
        if !d.alerts.is_empty() {
            told.push((hour, d.alerts.clone()));
        }
        docket = d.docket;
    }
    assert_eq!(told.len(), 1, "{told:?}");
    assert_eq!(told[0].0, 24);
    assert!(
        told[0].1[0].contains("more than 24 hours"),
        "{:?}",
        told[0].1
    );
}

/// The queue spans batches: a resource held in one batch gets the budget of the next hour
/// before a newcomer of a later batch it is not part of.
#[test]
fn a_held_resource_is_served_from_the_queue_before_a_later_newcomer() {
    let w = LocalWorld::new(1);
    let policy = Policy::default_policy();
    // The judge reads a queued resource's state from the store, as the scorer wrote it
    // (`LocalWorld::judge` writes each state first).
    let run = |states: &[RiskState], now: i64| w.judge(states, &policy, now);
    let (first, held, late) = (
        group("sg-00000001", 1),
        group("sg-0000000b", 1),
        group("sg-0000000c", 1),
    );
    run(&[first], T0);
    assert_eq!(run(&[held], T0 + 60_000)[0].kind, VerdictKind::Held);
    // Hour 1: only the newcomer's change arrives. The held group comes from the queue and
    // takes the hour's budget; the newcomer is held behind it.
    let records = run(&[late], T0 + HOUR_MS);
    let kind_of = |id: &str| {
        records
            .iter()
            .find(|r| r.resource.key.ends_with(id))
            .map(|r| r.kind)
    };
    assert_eq!(
        kind_of("sg-0000000b"),
        Some(VerdictKind::Act),
        "{records:?}"
    );
    assert_eq!(kind_of("sg-0000000c"), Some(VerdictKind::Held));
    // The queue now holds the newcomer alone.
    let queue =
        w.rt.block_on(justice_service::DocketStore::held_queue(
            &w.store, false, 10,
        ))
        .expect("queue");
    assert_eq!(queue, vec![group("sg-0000000c", 1).key]);
}

/// A held resource whose state is no longer in the store (its item removed) is judged as
/// its stream record would have it, removed: its hold ends, and it does not stay at the head
/// of the queue, batch after batch, ahead of the resources that are really held.
#[test]
fn a_held_resource_whose_state_is_gone_leaves_the_queue() {
    let w = LocalWorld::new(1);
    let policy = Policy::default_policy();
    w.judge(&[group("sg-00000001", 1)], &policy, T0);
    // Judged from a stream record alone: the store never held this state.
    let gone = group("sg-0000000d", 1);
    let judge = justice_service::Judge {
        board: &w.board,
        dockets: &w.store,
        outbox: &w.outbox,
        settings: &w.settings,
    };
    let change = justice_service::Change {
        id: gone.key.to_string(),
        key: gone.key.clone(),
        state: Some(gone.clone()),
    };
    w.rt.block_on(judge.judge(&[change], &policy, T0 + 60_000))
        .expect("judged");
    let queue = |w: &LocalWorld| {
        w.rt.block_on(justice_service::DocketStore::held_queue(
            &w.store, false, 10,
        ))
        .expect("queue")
    };
    assert_eq!(queue(&w), vec![gone.key.clone()], "held");
    // The next hour's batch serves the queue: the resource is gone, its hold ends.
    w.judge(&[group("sg-00000001", 2)], &policy, T0 + HOUR_MS);
    assert!(queue(&w).is_empty(), "{:?}", queue(&w));
}
