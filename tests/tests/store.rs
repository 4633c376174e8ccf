//! The local risk store keeps DynamoDB's semantics: a redelivered item changes nothing, an older
//! item never replaces the newer state, history is kept per resource.

use justice_core::event::{parse_event, Notice};
use justice_core::time::HOUR_MS;
use justice_core::{key_of, ConfigItem, Level, Policy};
use justice_local::{LocalConfigSource, LocalRiskStore};
use justice_service::{EventClock, Outcome, RiskStore, Scorer};
use justice_tests::{eb_item, set};
use serde_json::json;

fn volume(encrypted: bool, at: &str, state_id: u64) -> ConfigItem {
    eb_item(
        "eventbridge/eb-ci-change-ec2-volume-unencrypted.json",
        |ci| {
            set(ci, "/configuration/encrypted", json!(encrypted));
            set(ci, "/configurationItemCaptureTime", json!(at));
            set(ci, "/configurationStateId", json!(state_id));
            set(ci, "/tags", json!({"owner": "alice", "team": "storage"}));
        },
    )
}

fn score(store: &LocalRiskStore, item: &ConfigItem) -> (u32, Level, bool) {
    let policy = Policy::default_policy();
    let source = LocalConfigSource::empty();
    let scorer = Scorer {
        store,
        source: &source,
        policy: &policy,
        clock: &EventClock,
    };
    let rt = justice_tests::runtime();
    match rt.block_on(scorer.score_item(item, item.capture_time)) {
        Ok(Outcome::Scored { state, written }) => (state.score, state.level, written),
        other => panic!("{other:?}"),
    }
}

fn load(store: &LocalRiskStore, item: &ConfigItem) -> justice_service::Stored {
    let rt = justice_tests::runtime();
    rt.block_on(store.load(&key_of(item).expect("a valid key")))
        .expect("load")
}

fn history(store: &LocalRiskStore, item: &ConfigItem) -> Vec<justice_core::HistoryRecord> {
    let rt = justice_tests::runtime();
    rt.block_on(store.history(&key_of(item).expect("a valid key")))
        .expect("history")
}

#[test]
fn a_redelivered_item_changes_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = LocalRiskStore::open(dir.path()).expect("store");
    let item = volume(false, "2024-01-01T00:00:00.000Z", 1);
    assert_eq!(score(&store, &item), (25, Level::Warn, true));
    let before = load(&store, &item);
    assert_eq!(score(&store, &item), (25, Level::Warn, false));
    assert_eq!(load(&store, &item), before);
}

#[test]
fn an_older_item_adds_history_but_the_state_stays_on_the_newest() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = LocalRiskStore::open(dir.path()).expect("store");
    let fixed = volume(true, "2024-01-02T00:00:00.000Z", 2);
    let older = volume(false, "2024-01-01T00:00:00.000Z", 1);
    assert_eq!(score(&store, &fixed).0, 0);
    let (s, level, written) = score(&store, &older);
    assert!(written, "the older record is kept");
    assert_eq!(
        (s, level),
        (0, Level::None),
        "the state still describes the newer, fixed item"
    );
    let stored = load(&store, &fixed);
    assert_eq!(history(&store, &fixed).len(), 2);
    let state = stored.state.expect("state");
    assert_eq!(state.state_id, "2");
    assert_eq!(state.revision, 2);
}

#[test]
fn history_is_kept_per_resource_and_survives_reopening() {
    let dir = tempfile::tempdir().expect("tempdir");
    let a = volume(false, "2024-01-01T00:00:00.000Z", 1);
    let a_later = volume(false, "2024-01-01T12:00:00.000Z", 2);
    let b = eb_item(
        "eventbridge/eb-ci-change-ec2-volume-unencrypted.json",
        |ci| {
            set(ci, "/resourceId", json!("vol-other"));
            set(
                ci,
                "/ARN",
                json!("arn:aws:ec2:us-east-1:264683526309:volume/vol-other"),
            );
        },
    );
    {
        let store = LocalRiskStore::open(dir.path()).expect("store");
        score(&store, &a);
        // Twelve hours open: the finding's points grew by half.
        assert_eq!(score(&store, &a_later).0, 38);
        score(&store, &b);
    }
    let store = LocalRiskStore::open(dir.path()).expect("reopen");
    assert_eq!(history(&store, &a).len(), 2);
    assert_eq!(history(&store, &b).len(), 1);
    assert_eq!(store.states().expect("states").len(), 2);
    let s = load(&store, &a).state.expect("state");
    assert_eq!(s.findings[0].first_seen + 12 * HOUR_MS, s.capture_time);
}

#[test]
fn a_deletion_ends_the_findings() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = LocalRiskStore::open(dir.path()).expect("store");
    let path = justice_tests::fixtures()
        .join("config-events/eventbridge/eb-ci-change-s3-bucket-resource-deleted.json");
    let mut records = parse_event(&justice_tests::read(&path)).expect("event");
    let Some(Ok(Notice::Item { item: deleted, .. })) = records.pop() else {
        panic!("no item")
    };
    let public = eb_item("eventbridge/eb-ci-change-s3-bucket-public.json", |ci| {
        set(ci, "/resourceId", json!(deleted.resource_id.clone()));
        set(ci, "/awsAccountId", json!(deleted.account.clone()));
        set(ci, "/awsRegion", json!(deleted.region.clone()));
        set(ci, "/resourceName", json!(deleted.resource_id.clone()));
        set(
            ci,
            "/ARN",
            json!(format!("arn:aws:s3:::{}", deleted.resource_id)),
        );
        set(
            ci,
            "/configurationItemCaptureTime",
            json!("2017-08-10T14:00:00.000Z"),
        );
    });
    assert!(score(&store, &public).0 > 150);
    assert_eq!(score(&store, &deleted), (0, Level::None, true));
}

#[test]
fn rescore_visits_only_risky_states_and_moves_their_score_with_time() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = LocalRiskStore::open(dir.path()).expect("store");
    let risky = volume(false, "2024-03-01T10:00:00.000Z", 1);
    let safe = eb_item(
        "eventbridge/eb-ci-change-ec2-volume-unencrypted.json",
        |ci| {
            set(ci, "/configuration/encrypted", json!(true));
            set(ci, "/resourceId", json!("vol-safe"));
            set(
                ci,
                "/ARN",
                json!("arn:aws:ec2:us-east-1:264683526309:volume/vol-safe"),
            );
            set(ci, "/tags", json!({"owner": "alice", "team": "storage"}));
        },
    );
    let (before, _, _) = score(&store, &risky);
    let (safe_score, _, _) = score(&store, &safe);
    assert_eq!(safe_score, 0);

    let rt = justice_tests::runtime();
    let later = risky.capture_time + 12 * HOUR_MS;
    let (policy, source) = (Policy::default_policy(), LocalConfigSource::empty());
    let report = rt
        .block_on(
            Scorer {
                store: &store,
                source: &source,
                policy: &policy,
                clock: &EventClock,
            }
            .rescore(later, later, 100),
        )
        .expect("rescore");
    assert_eq!(report.visited, 1, "the safe volume has no findings to age");
    let state = rt
        .block_on(store.load(&key_of(&risky).expect("a valid key")))
        .expect("load")
        .state
        .expect("state");
    assert!(state.score > before, "{} -> {}", before, state.score);
    assert_eq!(state.evaluated_at, later);
    assert_eq!(state.revision, 2, "a re-score is a write");
}

#[test]
fn a_job_cursor_is_saved_and_cleared() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = LocalRiskStore::open(dir.path()).expect("store");
    let rt = justice_tests::runtime();
    assert_eq!(
        rt.block_on(store.job_cursor("BACKFILL")).expect("read"),
        None
    );
    rt.block_on(store.set_job_cursor("BACKFILL", Some("{\"resource_type\":\"AWS::S3::Bucket\"}")))
        .expect("save");
    assert_eq!(
        rt.block_on(store.job_cursor("BACKFILL"))
            .expect("read")
            .as_deref(),
        Some("{\"resource_type\":\"AWS::S3::Bucket\"}")
    );
    rt.block_on(store.set_job_cursor("BACKFILL", None))
        .expect("clear");
    assert_eq!(
        rt.block_on(store.job_cursor("BACKFILL")).expect("read"),
        None
    );
}

/// A re-evaluation pass in which a state failed is not complete, even when the failure was in
/// an earlier run of the pass than the one that reaches the end: the pass is done again.
#[test]
fn a_reevaluation_pass_that_failed_in_an_earlier_run_is_not_complete() {
    use justice_service::jobs::{reevaluate, RunBudget, REEVALUATED_JOB};
    use justice_service::Write;

    let dir = tempfile::tempdir().expect("tempdir");
    let store = LocalRiskStore::open(dir.path()).expect("store");
    let rt = justice_tests::runtime();
    let at = "2024-01-01T00:00:00.000Z";
    let (broken, fine) = (volume(false, at, 1), volume(false, at, 1));
    let mut broken = broken;
    broken.resource_id = "vol-0000000a".into();
    let mut fine = fine;
    fine.resource_id = "vol-0000000b".into();
    score(&store, &broken);
    score(&store, &fine);
    // The state the re-evaluation reads first (the store's order, not the keys') keeps an
    // item that does not read back.
    let first = rt
        .block_on(store.resources(None, 1))
        .expect("resources")
        .keys;
    if first.first() != Some(&key_of(&broken).expect("a valid key")) {
        std::mem::swap(&mut broken, &mut fine);
    }
    let key = key_of(&broken).expect("a valid key");
    let stored = load(&store, &broken).state.expect("a state");
    let write = Write {
        record: None,
        replace: false,
        state: &stored,
        item: Some(b"not a kept item"),
        expected_revision: Some(stored.revision),
    };
    rt.block_on(store.commit(&key, write))
        .expect("corrupt the kept item");

    let mut policy = Policy::default_policy();
    policy.version = "another policy".into();
    let source = LocalConfigSource::empty();
    let scorer = Scorer {
        store: &store,
        source: &source,
        policy: &policy,
        clock: &EventClock,
    };
    let run = || rt.block_on(reevaluate(&scorer, HOUR_MS, 1, RunBudget::pages(1)));
    let first = run().expect("first run");
    assert_eq!(
        (first.visited, first.failed.len(), first.done),
        (1, 1, false)
    );
    let second = run().expect("second run");
    assert_eq!((second.visited, second.failed.len()), (1, 0));
    // The end of the pass: nothing left to read, nothing failed in this run.
    let third = run().expect("third run");
    assert_eq!((third.visited, third.failed.len()), (0, 0));
    assert!(!third.done, "a pass with a failure is not complete");
    assert_eq!(
        rt.block_on(store.job_cursor(REEVALUATED_JOB))
            .expect("read"),
        None
    );
}

/// The walk the re-evaluation makes: page by page from a saved cursor, every stored resource
/// once, in the store's order; after a reopen (the index rebuilt from the log) the same walk.
#[test]
fn a_paged_walk_visits_every_resource_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rt = justice_tests::runtime();
    let mut keys = std::collections::BTreeSet::new();
    {
        let store = LocalRiskStore::open(dir.path()).expect("store");
        for i in 0..30 {
            let mut item = volume(false, "2024-01-01T00:00:00.000Z", 1);
            item.resource_id = format!("vol-{i:08x}");
            item.arn = Some(format!(
                "arn:aws:ec2:us-east-1:264683526309:volume/vol-{i:08x}"
            ));
            score(&store, &item);
            keys.insert(key_of(&item).expect("a valid key").to_string());
        }
    }
    let store = LocalRiskStore::open(dir.path()).expect("reopen");
    let mut walked = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let page = rt
            .block_on(store.resources(cursor.as_deref(), 7))
            .expect("page");
        assert!(page.keys.len() <= 7);
        walked.extend(page.keys.iter().map(ToString::to_string));
        match page.next {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    assert_eq!(walked.len(), 30, "each resource once: {walked:?}");
    assert_eq!(
        walked
            .iter()
            .cloned()
            .collect::<std::collections::BTreeSet<_>>(),
        keys
    );
}

/// A crash in the middle of writing a batch leaves a torn record at the log's end: the store
/// opens again with every whole event, and goes on.
#[test]
fn a_torn_write_at_the_end_of_the_log_costs_only_the_torn_event() {
    let dir = tempfile::tempdir().expect("tempdir");
    let a = volume(false, "2024-01-01T00:00:00.000Z", 1);
    let a_later = volume(false, "2024-01-01T12:00:00.000Z", 2);
    {
        let store = LocalRiskStore::open(dir.path()).expect("store");
        score(&store, &a);
        score(&store, &a_later);
    }
    let log = dir.path().join("risk.log");
    let whole = std::fs::read(&log).expect("read the log");
    // The second event's record, cut in the middle.
    let first_len = {
        let n = u32::from_le_bytes(whole[16..20].try_into().expect("four bytes")) as usize;
        16 + 8 + n
    };
    std::fs::write(&log, &whole[..first_len + 40]).expect("tear the log");
    let store = LocalRiskStore::open(dir.path()).expect("opens after a torn write");
    let state = load(&store, &a).state.expect("the first event's state");
    assert_eq!((state.revision, state.state_id.as_str()), (1, "1"));
    assert_eq!(history(&store, &a).len(), 1);
    // The lost event, delivered again, is scored as new.
    assert_eq!(score(&store, &a_later), (38, Level::Warn, true));
    assert_eq!(history(&store, &a).len(), 2);
}

/// The store's summary (counts by level, the riskiest with their rules) comes from its index
/// for the states this process wrote and from the states themselves for those found on
/// opening: either way it is what reading every state gives, ties ranked by key.
#[test]
fn the_summary_is_what_reading_every_state_gives() {
    use std::collections::BTreeMap;
    let rt = justice_tests::runtime();
    let group = |i: u32, score: u32| {
        let mut s = justice_tests::states::sg(score, &[22, 3389][..(i % 2 + 1) as usize]);
        let id = format!("sg-{i:08x}");
        s.key = justice_core::ResourceKey::new(&s.account, &s.region, &s.resource_type, &id)
            .expect("key");
        s.resource_id = id;
        s.arn = None;
        s
    };
    // Every summary the store gives, against the one worked out from the states themselves.
    let check = |store: &LocalRiskStore, states: &BTreeMap<u32, justice_core::RiskState>| {
        for top in [0, 1, 20, 1000] {
            let got = store.summarize(top).expect("summary");
            assert_eq!(got.count, states.len());
            let mut by_level = BTreeMap::new();
            for s in states.values() {
                *by_level.entry(s.level).or_insert(0) += 1;
            }
            assert_eq!(got.by_level, by_level);
            let mut riskiest: Vec<_> = states
                .values()
                .filter(|s| s.level != Level::None)
                .map(|s| justice_local::StateSummary {
                    key: s.key.to_string(),
                    score: s.score,
                    level: s.level,
                    rules: s.findings.iter().map(|f| f.finding.rule.clone()).collect(),
                })
                .collect();
            riskiest.sort_by(|a, b| b.score.cmp(&a.score).then_with(|| a.key.cmp(&b.key)));
            riskiest.truncate(top);
            assert_eq!(got.riskiest, riskiest, "top {top}");
        }
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let mut states = BTreeMap::new();
    {
        let store = LocalRiskStore::open(dir.path()).expect("store");
        // Scores in steps of 10 from 0 to 140 (many ties), in no order.
        for i in 0..90u32 {
            states.insert(i, group(i, (i * 37) % 15 * 10));
        }
        rt.block_on(justice_tests::write_states(
            &store,
            &states.values().cloned().collect::<Vec<_>>(),
        ));
        check(&store, &states);
        // Some fixed (their old score must not linger in the list), some worse.
        let changed: Vec<_> = (0..90u32)
            .filter(|i| i % 7 == 0)
            .map(|i| group(i, if i % 2 == 0 { 0 } else { 150 }))
            .collect();
        rt.block_on(justice_tests::write_states(&store, &changed));
        for s in changed {
            let i = u32::from_str_radix(&s.resource_id[3..], 16).expect("id");
            states.insert(i, s);
        }
        check(&store, &states);
        store.flush().expect("flush");
    }
    // Opened again: nothing known of the states until they are read, then one written anew.
    let store = LocalRiskStore::open(dir.path()).expect("store");
    check(&store, &states);
    let again = group(3, 140);
    rt.block_on(justice_tests::write_states(
        &store,
        std::slice::from_ref(&again),
    ));
    states.insert(3, again);
    check(&store, &states);
}

/// The judge's dockets are found whatever the process that wrote them: those of this process,
/// those found on opening the store again, on their own board only; a key with no docket has
/// none, and a save still checks the revision it was read at.
#[test]
fn dockets_are_found_after_a_save_and_after_opening_again() {
    use justice_core::verdict::{Docket, VerdictKind};
    use justice_service::{Commit, DocketStore};
    let rt = justice_tests::runtime();
    let key = |i: u32| {
        justice_core::ResourceKey::new(
            "123456789012",
            "us-east-1",
            "AWS::EC2::SecurityGroup",
            &format!("sg-{i:08x}"),
        )
        .expect("key")
    };
    let docket = |i: u32, dry_run: bool, revision: u64| Docket {
        key: key(i),
        dry_run,
        revision,
        kind: VerdictKind::Warn,
        level: Level::Warn,
        reason: format!("docket {i}"),
        tasks: vec![],
        decided_at: 0,
        state_revision: 1,
        last_verdict: None,
        last_alert: None,
        open: None,
    };
    let keys: Vec<_> = (0..40).map(key).collect();
    // Even keys have a live docket, multiples of 3 a dry-run one.
    let found = |store: &LocalRiskStore, dry_run: bool| -> Vec<u32> {
        let got = rt.block_on(store.dockets(&keys, dry_run)).expect("dockets");
        assert!(got.unreadable.is_empty());
        let mut ids: Vec<u32> = got
            .found
            .values()
            .map(|d| {
                assert_eq!(d.dry_run, dry_run);
                d.reason[7..].parse().expect("id")
            })
            .collect();
        ids.sort_unstable();
        ids
    };
    let live: Vec<u32> = (0..40).filter(|i| i % 2 == 0).collect();
    let dry: Vec<u32> = (0..40).filter(|i| i % 3 == 0).collect();
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let mut store = LocalRiskStore::open(dir.path()).expect("store");
        store.set_batch_size(100);
        assert_eq!(found(&store, false), Vec::<u32>::new());
        let new: Vec<Docket> = live
            .iter()
            .map(|&i| docket(i, false, 1))
            .chain(dry.iter().map(|&i| docket(i, true, 1)))
            .collect();
        let saves: Vec<_> = new.iter().map(|d| (d, None)).collect();
        let done = rt.block_on(store.save_dockets(&saves));
        assert!(done.iter().all(|c| matches!(c, Ok(Commit::Written))));
        assert_eq!(found(&store, false), live);
        assert_eq!(found(&store, true), dry);
        store.flush().expect("flush");
    }
    let store = LocalRiskStore::open(dir.path()).expect("store");
    assert_eq!(found(&store, false), live);
    assert_eq!(found(&store, true), dry);
    // A save at a stale revision conflicts; at the one read, it is written.
    let stale = docket(2, false, 2);
    let odd = docket(5, false, 1);
    let done = rt.block_on(store.save_dockets(&[(&stale, None), (&odd, None)]));
    assert!(matches!(done[0], Ok(Commit::Conflict)), "{done:?}");
    assert!(matches!(done[1], Ok(Commit::Written)), "{done:?}");
    let mut live = live;
    live.push(5);
    live.sort_unstable();
    assert_eq!(found(&store, false), live);
}
