//! The loop with Krampus, locally: the scorer and the judge over the local store write tasks;
//! the Krampus model (`tests/src/krampus.rs`, Krampus's own behaviour) carries them out on a
//! world of resources and writes the file back as Krampus does; the resources' next Config
//! items, built from that world, go through the scorer; the judge then confirms each task whose
//! effect shows and takes it out of `tasks.json`, so Krampus stops running it.

use std::collections::BTreeMap;

use justice_core::event::parse_event;
use justice_core::krampus::TasksFile;
use justice_core::policy::Policy;
use justice_core::time::{self, Millis, HOUR_MS};
use justice_core::RiskState;
use justice_local::{LocalConfigSource, LocalOutbox, LocalRiskStore, LocalTaskBoard};
use justice_service::{
    prepare, Change, EventClock, FixedClock, Judge, JudgeSettings, Outcome, Scorer,
};
use justice_tests::krampus::{self, Grant, Resources};
use justice_tests::{read_json, set};
use serde_json::{json, Value};

const SG: &str = "eventbridge/eb-ci-change-ec2-securitygroup-open-world.json";
const BUCKET: &str = "eventbridge/eb-ci-change-s3-bucket-public.json";
const CI: &str = "/detail/configurationItem";

struct Local {
    _dir: tempfile::TempDir,
    path: std::path::PathBuf,
    store: LocalRiskStore,
    board: LocalTaskBoard,
    outbox: LocalOutbox,
    settings: JudgeSettings,
    policy: Policy,
    rt: tokio::runtime::Runtime,
}

impl Local {
    fn new() -> Local {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().to_owned();
        Local {
            store: LocalRiskStore::open(&path).expect("store"),
            board: LocalTaskBoard::new(&path, false),
            outbox: LocalOutbox::new(&path),
            settings: JudgeSettings {
                dry_run: false,
                accounts: vec!["123456789012".into(), "644160558196".into()],
                blast_per_hour: 100,
                max_attempts: 3,
            },
            policy: Policy::default_policy(),
            rt: justice_tests::runtime(),
            path,
            _dir: dir,
        }
    }

    /// Scores one event at its own time; the state written.
    fn score(&self, event: &Value) -> RiskState {
        let scorer = Scorer {
            store: &self.store,
            source: &LocalConfigSource::empty(),
            policy: &self.policy,
            clock: &EventClock,
        };
        let bytes = serde_json::to_vec(event).expect("json");
        let notice = parse_event(&bytes)
            .expect("envelope")
            .pop()
            .expect("one record")
            .expect("accepted");
        let prepared = prepare(notice, &self.policy).expect("prepared");
        match self.rt.block_on(scorer.apply(prepared)).expect("scored") {
            Outcome::Scored { state, .. } => *state,
            Outcome::Ignored { reason } => panic!("ignored: {reason}"),
        }
    }

    /// Re-scores at `now` and judges the states, as the stream would deliver them.
    fn judge(
        &self,
        states: &[RiskState],
        now: Millis,
    ) -> Vec<justice_core::verdict::VerdictRecord> {
        let scorer = Scorer {
            store: &self.store,
            source: &LocalConfigSource::empty(),
            policy: &self.policy,
            clock: &FixedClock(now),
        };
        self.rt
            .block_on(scorer.rescore(now, now, usize::MAX))
            .expect("re-score");
        let changes: Vec<Change> = states
            .iter()
            .map(|s| {
                let stored = self
                    .rt
                    .block_on(justice_service::RiskStore::load(&self.store, &s.key));
                let state = stored.expect("load").state.expect("state");
                Change {
                    id: format!("{}@{}", s.key, state.revision),
                    key: s.key.clone(),
                    state: Some(state),
                }
            })
            .collect();
        let judge = Judge {
            board: &self.board,
            dockets: &self.store,
            outbox: &self.outbox,
            settings: &self.settings,
        };
        let report = self
            .rt
            .block_on(judge.judge(&changes, &self.policy, now))
            .expect("judged");
        assert!(report.failed.is_empty(), "{:?}", report.failed);
        self.board.take_new()
    }

    fn tasks(&self) -> TasksFile {
        std::fs::read(self.path.join("tasks.json"))
            .ok()
            .map(|b| TasksFile::parse(&b).expect("tasks file"))
            .unwrap_or_default()
    }

    /// One Krampus run on the local `tasks.json`, written back as Krampus writes it.
    fn krampus(&self, world: &mut Resources, now: Millis) -> Vec<Value> {
        let run = krampus::run(&self.tasks(), now / 1000, &[], world).expect("Krampus's run");
        std::fs::write(self.path.join("tasks.json"), run.written.to_bytes()).expect("write");
        run.ran
    }
}

/// The event again, captured at `at` with a new state id, after `edit`.
fn later(event: &Value, at: Millis, edit: impl FnOnce(&mut Value)) -> Value {
    let mut v = event.clone();
    let t = time::format_rfc3339(at);
    set(
        &mut v,
        &format!("{CI}/configurationItemCaptureTime"),
        json!(t),
    );
    set(&mut v, &format!("{CI}/configurationStateId"), json!(at));
    set(&mut v, "/detail/notificationCreationTime", json!(t));
    if let Some(ci) = v.pointer_mut(CI) {
        edit(ci);
    }
    v
}

#[test]
fn krampus_revokes_the_rules_config_shows_it_and_the_judge_takes_the_tasks_out() {
    let local = Local::new();
    let open = read_json(SG);
    let state = local.score(&open);
    let t0 = state.capture_time;
    local.judge(std::slice::from_ref(&state), t0);
    let written = local.tasks();
    assert!(!written.tasks.is_empty(), "the open group gets tasks");

    // The group as EC2 holds it: Config's ingress rules.
    let group = state.resource_id.clone();
    let mut world = Resources::default();
    let perms = open
        .pointer(&format!("{CI}/configuration/ipPermissions"))
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let mut rules = Vec::new();
    for p in &perms {
        let proto = p["ipProtocol"].as_str().unwrap_or_default().to_owned();
        let (from, to) = (
            p["fromPort"].as_i64().unwrap_or(-1),
            p["toPort"].as_i64().unwrap_or(-1),
        );
        for r in p["ipv4Ranges"].as_array().into_iter().flatten() {
            rules.push((
                proto.clone(),
                from,
                to,
                r["cidrIp"].as_str().unwrap_or_default().to_owned(),
            ));
        }
    }
    let before = rules.len();
    world.rules.insert(group.clone(), rules);

    // Past the grace period Krampus runs: the rules go; the tasks stay (it re-queues them).
    let due = t0 + 25 * HOUR_MS;
    let ran = local.krampus(&mut world, due);
    assert!(!ran.is_empty());
    assert!(
        world.rules[&group].len() < before,
        "Krampus revoked the rules"
    );
    assert_eq!(
        local.tasks().ours().len(),
        1,
        "Krampus kept the tasks it ran"
    );
    // A second run would run them again.
    assert_eq!(local.krampus(&mut world, due + HOUR_MS).len(), ran.len());

    // Config records the group without the revoked rules.
    let remaining: Vec<(String, i64, i64, String)> = world.rules[&group].clone();
    let after = later(&open, due + 2 * HOUR_MS, |ci| {
        let perms: Vec<Value> = ci["configuration"]["ipPermissions"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .filter_map(|mut p| {
                let proto = p["ipProtocol"].as_str().unwrap_or_default().to_owned();
                let (from, to) = (
                    p["fromPort"].as_i64().unwrap_or(-1),
                    p["toPort"].as_i64().unwrap_or(-1),
                );
                let keep: Vec<Value> = p["ipv4Ranges"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
                    .into_iter()
                    .filter(|r| {
                        let cidr = r["cidrIp"].as_str().unwrap_or_default();
                        remaining
                            .iter()
                            .any(|x| x.0 == proto && x.1 == from && x.2 == to && x.3 == cidr)
                    })
                    .collect();
                let v6 = p["ipv6Ranges"].as_array().map_or(0, Vec::len);
                p["ipv4Ranges"] = json!(keep);
                p["ipRanges"] = json!(keep
                    .iter()
                    .filter_map(|r| r["cidrIp"].as_str())
                    .collect::<Vec<_>>());
                (!keep.is_empty() || v6 > 0).then_some(p)
            })
            .collect();
        ci["configuration"]["ipPermissions"] = json!(perms);
    });
    let fixed = local.score(&after);
    let records = local.judge(&[fixed], due + 2 * HOUR_MS + 60_000);
    let confirmed: usize = records.iter().map(|r| r.confirmed.len()).sum();
    assert_eq!(
        confirmed,
        ran.len(),
        "every revoke Krampus carried out is confirmed: {records:#?}"
    );
    let left = local.tasks();
    let ran_ids: Vec<&str> = ran.iter().filter_map(|t| t["unique_id"].as_str()).collect();
    assert!(
        left.tasks
            .iter()
            .all(|t| !ran_ids.contains(&t["unique_id"].as_str().unwrap_or_default())),
        "a confirmed task is still in tasks.json: {:#?}",
        left.tasks
    );
    // Krampus's next run has nothing of these to do.
    assert!(local
        .krampus(&mut world, due + 3 * HOUR_MS)
        .iter()
        .all(|t| !ran_ids.contains(&t["unique_id"].as_str().unwrap_or_default())));
}

/// The S3 task names S3's permission: under Krampus's exact comparison the public grant goes
/// (and, as Krampus does, the owner's grant with it: the notice said so).
#[test]
fn an_s3_task_removes_the_public_grant_under_krampus_exact_comparison() {
    let local = Local::new();
    let public = read_json(BUCKET);
    let state = local.score(&public);
    let t0 = state.capture_time;
    local.judge(std::slice::from_ref(&state), t0);
    let file = local.tasks();
    let task = file
        .tasks
        .iter()
        .find(|t| t["s3_principal"].is_string())
        .expect("a grant task");
    assert_eq!(task["s3_permission"], json!(["READ"]));
    let bucket = state.resource_id.clone();
    let mut world = Resources::default();
    world.buckets.insert(
        bucket.clone(),
        vec![
            Grant {
                grantee_type: "CanonicalUser".into(),
                grantee: "owner-id".into(),
                permission: "FULL_CONTROL".into(),
            },
            Grant {
                grantee_type: "Group".into(),
                grantee: "http://acs.amazonaws.com/groups/global/AllUsers".into(),
                permission: "READ".into(),
            },
        ],
    );
    let ran = local.krampus(&mut world, t0 + 25 * HOUR_MS);
    assert_eq!(ran.len(), 1);
    let left: BTreeMap<&str, &str> = world.buckets[&bucket]
        .iter()
        .map(|g| (g.grantee.as_str(), g.permission.as_str()))
        .collect();
    assert!(
        !left.contains_key("http://acs.amazonaws.com/groups/global/AllUsers"),
        "{left:?}"
    );
    // Config's spelling would have left the public grant in place.
    let mut world2 = Resources {
        buckets: BTreeMap::from([(
            bucket.clone(),
            vec![Grant {
                grantee_type: "Group".into(),
                grantee: "http://acs.amazonaws.com/groups/global/AllUsers".into(),
                permission: "READ".into(),
            }],
        )]),
        ..Resources::default()
    };
    let mut config_spelling = Value::clone(task);
    config_spelling["s3_permission"] = json!(["Read"]);
    let f = TasksFile::new(
        vec![std::sync::Arc::new(config_spelling)],
        Default::default(),
    );
    krampus::run(&f, t0 / 1000 + 25 * 3600, &[], &mut world2).expect("run");
    assert_eq!(
        world2.buckets[&bucket].len(),
        1,
        "the model compares exactly, as Krampus does"
    );
}
