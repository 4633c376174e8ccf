//! Replaying is deterministic: every fixture twice, shuffled, ends in the same states as every
//! fixture once in order.

use justice_core::event::parse_event;
use justice_core::{Policy, RiskState};
use justice_local::{LocalConfigSource, LocalRiskStore};
use justice_service::{EventClock, Outcome, Scorer};
use justice_tests::{event_files, fixtures, read};
use proptest::prelude::*;

/// Replays payloads into a fresh store; returns the final states and how many were refused.
fn replay(payloads: &[Vec<u8>]) -> (Vec<RiskState>, usize) {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut store = LocalRiskStore::open(dir.path()).expect("store");
    store.set_batch_size(1000);
    let source = LocalConfigSource::from_dir(&fixtures().join("config-history")).expect("history");
    let policy = Policy::default_policy();
    let scorer = Scorer {
        store: &store,
        source: &source,
        policy: &policy,
        clock: &EventClock,
    };
    let rt = justice_tests::runtime();
    let mut refused = 0;
    for p in payloads {
        for record in parse_event(p).expect("fixture envelope") {
            let Ok(notice) = record else {
                refused += 1;
                continue;
            };
            match rt.block_on(scorer.handle(notice)) {
                Ok(Outcome::Scored { .. } | Outcome::Ignored { .. }) => {}
                Err(e) => panic!("{e}"),
            }
        }
    }
    store.flush().expect("flush");
    (store.states().expect("states"), refused)
}

fn payloads() -> Vec<Vec<u8>> {
    event_files().iter().map(|p| read(p)).collect()
}

#[test]
fn replaying_in_order_scores_every_fixture() {
    let (states, refused) = replay(&payloads());
    assert_eq!(refused, 0);
    assert!(states.len() >= 18, "{} states", states.len());
}

proptest! {
    #![proptest_config(justice_tests::proptest_config(24))]

    #[test]
    fn twice_shuffled_equals_once_in_order(order in Just((0..payloads().len() * 2).collect::<Vec<_>>()).prop_shuffle()) {
        let all = payloads();
        let (once, _) = replay(&all);
        let shuffled: Vec<Vec<u8>> = order.iter().map(|i| all[i % all.len()].clone()).collect();
        let (twice, _) = replay(&shuffled);
        // The revision counts writes (the optimistic lock): a poorer copy of an item that comes
        // after the richer one writes nothing, before it one write more. The state is the same.
        let content = |states: Vec<RiskState>| -> Vec<RiskState> {
            states.into_iter().map(|s| RiskState { revision: 0, ..s }).collect()
        };
        let (once, twice) = (content(once), content(twice));
        for (a, b) in once.iter().zip(&twice) {
            prop_assert_eq!(a, b);
        }
        prop_assert_eq!(once.len(), twice.len());
    }
}
