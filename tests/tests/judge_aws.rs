//! The judge over the wire: S3 (tasks.json, verdicts/), DynamoDB (dockets, budget, the real
//! stream), SNS → SQS (security alerts), all served by moto. Run by `infra/test.sh`; without
//! moto every test here fails with instructions.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::sync::Arc;

use justice_aws::env::FromEnv;
use justice_aws::{DynamoRiskStore, PolicyProvider, S3TaskBoard, SnsOutbox};
use justice_core::allow::AllowList;
use justice_core::krampus::{TasksFile, TASK_SOURCE};
use justice_core::notice::AccountMap;
use justice_core::policy::Policy;
use justice_core::time::{Millis, HOUR_MS};
use justice_core::verdict::VerdictRecord;
use justice_core::RiskState;
use justice_service::{
    BoardError, BoardRead, BoardWrite, Change, DocketStore, Judge, JudgeSettings, TaskBoard,
};
use justice_tests::aws::{
    create_bucket, create_queue, create_risk_table, drain_messages, dynamo, full_runtime,
    get_object, objects_under, sdk, stream_event, topic_with_queue, RequestLog,
};
use justice_tests::states::{finding, ingress, sg, state, ACCOUNT, T0};
use serde_json::{json, Value};

fn settings(dry_run: bool, blast: u32) -> JudgeSettings {
    JudgeSettings {
        dry_run,
        accounts: vec![ACCOUNT.to_owned()],
        blast_per_hour: blast,
        max_attempts: 50,
    }
}

struct Aws {
    s3: aws_sdk_s3::Client,
    sns: aws_sdk_sns::Client,
    sqs: aws_sdk_sqs::Client,
    store: DynamoRiskStore,
    bucket: String,
    topic: String,
    queue: String,
}

async fn aws() -> Aws {
    let conf = sdk().await;
    let s3 = justice_aws::s3_client(&conf);
    let sns = aws_sdk_sns::Client::new(&conf);
    let sqs = aws_sdk_sqs::Client::new(&conf);
    let ddb = dynamo(&conf, &RequestLog::default());
    let table = create_risk_table(&ddb).await;
    let bucket = create_bucket(&s3).await;
    let (topic, queue) = topic_with_queue(&sns, &sqs).await;
    Aws {
        store: DynamoRiskStore::new(ddb, table, 90),
        s3,
        sns,
        sqs,
        bucket,
        topic,
        queue,
    }
}

impl Aws {
    fn board(&self, key: &str) -> S3TaskBoard {
        S3TaskBoard::new(self.s3.clone(), &self.bucket, key, "verdicts/", None)
    }

    fn outbox(&self) -> SnsOutbox {
        SnsOutbox::new(self.sns.clone(), &self.topic)
    }

    async fn tasks(&self, key: &str) -> Option<TasksFile> {
        get_object(&self.s3, &self.bucket, key)
            .await
            .map(|b| TasksFile::parse(&b).expect("tasks file"))
    }
}

fn change(s: &RiskState) -> Change {
    Change {
        id: format!("{}@{}", s.key, s.revision),
        key: s.key.clone(),
        state: Some(s.clone()),
    }
}

/// The state of resource `i` of worker `w` at round `r`: risky from round `i % 4`, escalated
/// to kill three rounds later when `i % 3 == 0`, fixed for good the round after when
/// `i % 5 == 4` (before its grace ends: its task is withdrawn, not run).
fn scripted(w: usize, i: usize, r: usize) -> RiskState {
    let id = format!("sg-{:08x}", w * 100 + i);
    let start = i % 4;
    let score = if r < start || (i % 5 == 4 && r > start) {
        0
    } else if i.is_multiple_of(3) && r >= start + 3 {
        160
    } else {
        70
    };
    let mut s = state(
        "AWS::EC2::SecurityGroup",
        &id,
        Some(&format!(
            "arn:aws:ec2:us-east-1:{ACCOUNT}:security-group/{id}"
        )),
        score,
        if score == 0 {
            vec![]
        } else {
            vec![finding(
                "sg-world-admin-ports",
                "tcp/22 open to 0.0.0.0/0",
                vec![ingress(22, "0.0.0.0/0")],
            )]
        },
    );
    s.revision = r as u64 + 1;
    s
}

#[derive(Default)]
struct KrampusLog {
    /// How many times each task was carried out.
    runs: BTreeMap<String, usize>,
    duplicates: usize,
    /// Runs whose unconditional write replaced a file the judges had changed since Krampus
    /// read it: the judges' edits of that round were lost.
    clobbers: usize,
    /// Runs that wrote between the judges' reads and writes.
    mid_batch_writes: usize,
    /// Tasks carried out after the judge had withdrawn them before their time.
    ran_after_withdrawal: Vec<String>,
}

/// What Krampus read at the start of a run: the file and its ETag.
struct KrampusRead {
    file: TasksFile,
    etag: String,
}

async fn krampus_read(aws: &Aws, log: &mut KrampusLog) -> Option<KrampusRead> {
    let out = aws
        .s3
        .get_object()
        .bucket(&aws.bucket)
        .key("tasks.json")
        .send()
        .await
        .ok()?;
    let etag = out.e_tag().unwrap_or_default().to_owned();
    let bytes = out.body.collect().await.expect("body").into_bytes();
    let file = TasksFile::parse(&bytes).expect("tasks file");
    let mut seen = BTreeSet::new();
    for t in &file.tasks {
        if let Some(id) = t.get("unique_id").and_then(Value::as_str) {
            if !seen.insert(id.to_owned()) {
                log.duplicates += 1;
            }
        }
    }
    Some(KrampusRead { file, etag })
}

/// The end of a Krampus run (`krampus::run`, the model of Krampus's own code): the due tasks
/// are carried out and written back with the deferred ones, unconditionally, as Krampus does.
async fn krampus_finish(
    aws: &Aws,
    read: KrampusRead,
    now: Millis,
    withdrawn: &BTreeSet<String>,
    log: &mut KrampusLog,
) -> bool {
    let run = justice_tests::krampus::run(
        &read.file,
        now / 1000,
        &[],
        &mut justice_tests::krampus::Responding,
    )
    .expect("Krampus's run stops on nothing the judges write");
    for t in &run.ran {
        let id = t["unique_id"].as_str().unwrap_or_default().to_owned();
        if withdrawn.contains(&id) {
            log.ran_after_withdrawal.push(id.clone());
        }
        *log.runs.entry(id).or_default() += 1;
    }
    let now_etag = aws
        .s3
        .head_object()
        .bucket(&aws.bucket)
        .key("tasks.json")
        .send()
        .await
        .expect("head tasks.json")
        .e_tag()
        .unwrap_or_default()
        .to_owned();
    if now_etag != read.etag {
        log.clobbers += 1;
    }
    aws.s3
        .put_object()
        .bucket(&aws.bucket)
        .key("tasks.json")
        .body(run.written.to_bytes().into())
        .send()
        .await
        .expect("Krampus's unconditional put");
    true
}

/// The interleaving of one round, decided by the test rather than by this machine's speed.
/// Krampus's runs are the model of its own code (`tests/src/krampus.rs`): it re-queues what it
/// ran and rewrites the file unconditionally. In even rounds it runs between the judges' reads
/// and their writes, so every judge's conditional write fails and must be redone; in odd
/// rounds it reads before the judges and writes after them, so their edits of the round are
/// lost, as they are in AWS, and the judges must notice in the next round.
struct Schedule {
    aws: Arc<Aws>,
    /// The round being played (the judges' boards gate their first read of each round).
    round: AtomicUsize,
    /// The clock of the round, shared by the judges and Krampus as the wall clock is in AWS.
    now: AtomicI64,
    /// Krampus runs between the judges' reads and writes this round.
    mid_batch: std::sync::atomic::AtomicBool,
    barrier: tokio::sync::Barrier,
    krampus: tokio::sync::Mutex<KrampusLog>,
    withdrawn: tokio::sync::Mutex<BTreeSet<String>>,
}

/// A judge's real S3 board, held to the schedule at its first read of each round.
struct ScheduledBoard {
    inner: S3TaskBoard,
    schedule: Arc<Schedule>,
    /// 1 + the last round whose first read was gated.
    gated: AtomicUsize,
}

impl TaskBoard for ScheduledBoard {
    async fn read(&self) -> Result<BoardRead, BoardError> {
        let read = self.inner.read().await?;
        let s = &self.schedule;
        let round = s.round.load(Ordering::SeqCst) + 1;
        if self.gated.swap(round, Ordering::SeqCst) != round {
            // Every judge has read before anyone writes; one of them lets Krampus run.
            if s.barrier.wait().await.is_leader() && s.mid_batch.load(Ordering::SeqCst) {
                let mut log = s.krampus.lock().await;
                if let Some(k) = krampus_read(&s.aws, &mut log).await {
                    let withdrawn = s.withdrawn.lock().await.clone();
                    let now = s.now.load(Ordering::SeqCst);
                    if krampus_finish(&s.aws, k, now, &withdrawn, &mut log).await {
                        log.mid_batch_writes += 1;
                    }
                }
            }
            s.barrier.wait().await;
        }
        Ok(read)
    }

    async fn write(
        &self,
        file: &TasksFile,
        version: Option<&str>,
    ) -> Result<BoardWrite, BoardError> {
        self.inner.write(file, version).await
    }

    async fn record_verdict(&self, record: &VerdictRecord) -> Result<bool, BoardError> {
        self.inner.record_verdict(record).await
    }

    async fn allow_list(&self) -> Result<AllowList, BoardError> {
        self.inner.allow_list().await
    }

    async fn verdict(&self, key: &str) -> Result<Option<VerdictRecord>, BoardError> {
        self.inner.verdict(key).await
    }

    async fn account_map(&self) -> Result<AccountMap, BoardError> {
        self.inner.account_map().await
    }
}

/// Every unique id listed under `field` of the verdict records.
fn ids_in(records: &[Value], field: &str) -> BTreeSet<String> {
    records
        .iter()
        .flat_map(|r| r[field].as_array().cloned().unwrap_or_default())
        .filter_map(|t| t["unique_id"].as_str().map(str::to_owned))
        .collect()
}

#[test]
fn racing_judges_and_krampus_lose_nothing_silently_and_leave_nothing_stale() {
    full_runtime().block_on(async {
        let aws = Arc::new(aws().await);
        // Someone else's task and key, which nobody may drop.
        let hand = json!({"tasks": [{"action": "disable", "action_time": 4_000_000_000i64,
            "aws_resource_name": format!("arn:aws:ec2:us-east-1:{ACCOUNT}:instance/i-0000aaaa"),
            "aws_region": "us-east-1", "aws_object_type": "ec2", "unique_id": "hand-1"}],
            "krampus_note": "keep me"});
        aws.s3
            .put_object()
            .bucket(&aws.bucket)
            .key("tasks.json")
            .body(hand.to_string().into_bytes().into())
            .send()
            .await
            .expect("seed tasks.json");
        let policy = Arc::new(
            Policy::from_toml(
                "version = 1\n[grace]\ndisable_hours = 3\nkill_hours = 4\ndestructive_hours = 4\n",
            )
            .expect("policy"),
        );
        let (workers, per_worker, rounds) = (3usize, 6usize, 10usize);
        let schedule = Arc::new(Schedule {
            aws: aws.clone(),
            round: AtomicUsize::new(0),
            now: AtomicI64::new(T0),
            mid_batch: Default::default(),
            barrier: tokio::sync::Barrier::new(workers),
            krampus: tokio::sync::Mutex::new(KrampusLog::default()),
            withdrawn: Default::default(),
        });
        let settings = Arc::new(settings(false, 10_000));
        let mut judge_conflicts = 0;
        let judge_round = |r: usize, now: Millis| {
            let (schedule, policy, settings) = (schedule.clone(), policy.clone(), settings.clone());
            async move {
                let mut judges = tokio::task::JoinSet::new();
                for w in 0..workers {
                    let (schedule, policy, settings) =
                        (schedule.clone(), policy.clone(), settings.clone());
                    judges.spawn(async move {
                        let board = ScheduledBoard {
                            inner: schedule.aws.board("tasks.json"),
                            schedule: schedule.clone(),
                            gated: AtomicUsize::new(0),
                        };
                        let outbox = schedule.aws.outbox();
                        let judge = Judge {
                            board: &board,
                            dockets: &schedule.aws.store,
                            outbox: &outbox,
                            settings: &settings,
                        };
                        let changes: Vec<Change> = (0..per_worker)
                            .map(|i| change(&scripted(w, i, r)))
                            .collect();
                        let report = judge
                            .judge(&changes, &policy, now)
                            .await
                            .unwrap_or_else(|e| panic!("worker {w} round {r}: {e}"));
                        assert!(report.failed.is_empty(), "{:?}", report.failed);
                        report.conflicts
                    });
                }
                let mut conflicts = 0;
                while let Some(done) = judges.join_next().await {
                    conflicts += done.expect("judge worker");
                }
                // What the judges withdrew before its time, for the check that Krampus never
                // carries it out.
                let records =
                    objects_under(&schedule.aws.s3, &schedule.aws.bucket, "verdicts/").await;
                *schedule.withdrawn.lock().await = ids_in(&records, "withdrawn");
                conflicts
            }
        };
        // A bound for a hang (a judge failing before its read would leave the others at the
        // barrier), not a measure: the rounds take a few seconds.
        let played = tokio::time::timeout(std::time::Duration::from_secs(600), async {
            for r in 0..=rounds {
                // An hour a round: tasks come due (grace 3 h) and are run by Krampus while
                // the judges go on deciding about the same resources. The last round only
                // judges: the next stream batch after Krampus's last run.
                let now = T0 + r as i64 * HOUR_MS;
                schedule.round.store(r, Ordering::SeqCst);
                schedule.now.store(now, Ordering::SeqCst);
                let overlap = r % 2 == 1 && r < rounds;
                schedule
                    .mid_batch
                    .store(r % 2 == 0 && r < rounds, Ordering::SeqCst);
                let early = if overlap {
                    krampus_read(&aws, &mut *schedule.krampus.lock().await).await
                } else {
                    None
                };
                judge_conflicts += judge_round(r, now).await;
                if let Some(k) = early {
                    let withdrawn = schedule.withdrawn.lock().await.clone();
                    krampus_finish(
                        &aws,
                        k,
                        now,
                        &withdrawn,
                        &mut *schedule.krampus.lock().await,
                    )
                    .await;
                }
            }
        })
        .await;
        assert!(played.is_ok(), "the rounds hung");
        let krampus = std::mem::take(&mut *schedule.krampus.lock().await);

        let file = aws.tasks("tasks.json").await.expect("tasks.json");
        let on_file: BTreeSet<String> = file
            .ours()
            .values()
            .flat_map(|m| m.keys().cloned())
            .collect();
        let records = objects_under(&aws.s3, &aws.bucket, "verdicts/").await;
        let scheduled = ids_in(&records, "scheduled");
        let withdrawn = ids_in(&records, "withdrawn");
        let confirmed = ids_in(&records, "confirmed");
        let lost_and_told = ids_in(&records, "removed_by_others");
        eprintln!(
            "{} verdicts, {} tasks scheduled, {} run by Krampus ({} runs), {} withdrawn, {} \
             confirmed, {} lost to Krampus's rewrites and reported, {} on file; conflicts: \
             judges {judge_conflicts}; Krampus wrote between the judges' reads and writes {} \
             times and clobbered their writes {} times",
            records.len(),
            scheduled.len(),
            krampus.runs.len(),
            krampus.runs.values().sum::<usize>(),
            withdrawn.len(),
            confirmed.len(),
            lost_and_told.len(),
            on_file.len(),
            krampus.mid_batch_writes,
            krampus.clobbers,
        );
        assert_eq!(krampus.duplicates, 0, "duplicate tasks in tasks.json");
        assert!(
            krampus.ran_after_withdrawal.is_empty(),
            "Krampus ran tasks withdrawn before their time: {:?}",
            krampus.ran_after_withdrawal
        );
        // Nothing lost silently: every task scheduled is on file, was run, was taken out by
        // the judge, or its loss to a rewrite was recorded (and the security team alerted).
        let silent: Vec<&String> = scheduled
            .iter()
            .filter(|id| {
                !on_file.contains(*id)
                    && !krampus.runs.contains_key(*id)
                    && !withdrawn.contains(*id)
                    && !confirmed.contains(*id)
                    && !lost_and_told.contains(*id)
            })
            .collect();
        assert!(silent.is_empty(), "tasks lost silently: {silent:?}");
        // Nothing stale: after the judges' last pass, the file holds exactly the tasks the
        // dockets say are on it, whatever Krampus's rewrites put back.
        let keys: Vec<_> = (0..workers)
            .flat_map(|w| (0..per_worker).map(move |i| scripted(w, i, 0).key))
            .collect();
        let dockets = aws
            .store
            .dockets(&keys, false)
            .await
            .expect("dockets")
            .found;
        let remembered: BTreeSet<String> = dockets
            .values()
            .flat_map(|d| d.pending().map(|t| t.unique_id.clone()))
            .collect();
        assert_eq!(
            on_file, remembered,
            "tasks.json and the dockets disagree after the judges' last pass"
        );
        assert!(
            scheduled.len() >= workers * per_worker,
            "the race had work to do"
        );
        assert!(!krampus.runs.is_empty(), "the schedule brings tasks due");
        assert!(
            krampus.runs.values().any(|&n| n > 1),
            "Krampus re-queues what it ran and runs it again"
        );
        assert!(
            !withdrawn.is_empty(),
            "the schedule fixes resources in time"
        );
        // The races happened, in both shapes, and were recovered from.
        assert!(
            judge_conflicts >= rounds / 2,
            "only {judge_conflicts} conflicts in {rounds} rounds: nobody raced"
        );
        assert!(
            krampus.mid_batch_writes > 0 && krampus.clobbers > 0,
            "Krampus never raced the judges"
        );
        assert!(
            !lost_and_told.is_empty(),
            "a rewrite lost the judges' new tasks and they said so"
        );
        assert!(
            file.tasks.iter().any(|t| t["unique_id"] == "hand-1"),
            "hand task dropped"
        );
        assert_eq!(file.rest.get("krampus_note"), Some(&json!("keep me")));
    });
}

#[test]
fn the_blast_radius_holds_across_concurrent_judges_and_alerts_security() {
    full_runtime().block_on(async {
        let aws = Arc::new(aws().await);
        // Instances are acted on for their IMDSv1 finding only when hygiene may drive actions.
        let policy = Arc::new(justice_tests::hygiene_acts());
        let settings = Arc::new(settings(false, 5));
        let instance = |w: usize, i: usize| {
            let id = format!("i-{:08x}", w * 100 + i);
            state(
                "AWS::EC2::Instance",
                &id,
                Some(&format!("arn:aws:ec2:us-east-1:{ACCOUNT}:instance/{id}")),
                70,
                vec![finding(
                    "ec2-public-ip-imdsv1",
                    "IMDSv1 on a public instance",
                    vec![],
                )],
            )
        };
        let mut judges = tokio::task::JoinSet::new();
        for w in 0..4 {
            let (aws, policy, settings) = (aws.clone(), policy.clone(), settings.clone());
            judges.spawn(async move {
                let board = aws.board("tasks.json");
                let outbox = aws.outbox();
                let judge = Judge {
                    board: &board,
                    dockets: &aws.store,
                    outbox: &outbox,
                    settings: &settings,
                };
                let changes: Vec<Change> = (0..4).map(|i| change(&instance(w, i))).collect();
                judge.judge(&changes, &policy, T0).await.expect("judge")
            });
        }
        let mut held = 0;
        while let Some(r) = judges.join_next().await {
            let r = r.expect("worker");
            assert!(r.failed.is_empty(), "{:?}", r.failed);
            held += r.held;
        }
        let file = aws.tasks("tasks.json").await.expect("tasks.json");
        let ours: usize = file.ours().values().map(BTreeMap::len).sum();
        assert_eq!(ours, 5, "exactly the budget of new tasks this hour");
        assert_eq!(held, 11);
        let records = objects_under(&aws.s3, &aws.bucket, "verdicts/").await;
        assert_eq!(records.iter().filter(|r| r["kind"] == "held").count(), 11);
        let alerts = drain_messages(&aws.sqs, &aws.queue).await;
        assert!(!alerts.is_empty(), "security was not alerted");
        assert!(alerts.iter().all(|a| a["Subject"]
            .as_str()
            .unwrap_or("")
            .contains("held by the blast-radius limit")));

        // An hour later the held verdicts are judged again (the re-score re-sends them).
        let board = aws.board("tasks.json");
        let outbox = aws.outbox();
        let judge = Judge {
            board: &board,
            dockets: &aws.store,
            outbox: &outbox,
            settings: &settings,
        };
        let all: Vec<Change> = (0..4)
            .flat_map(|w| (0..4).map(move |i| change(&instance(w, i))))
            .collect();
        let r = judge
            .judge(&all, &policy, T0 + HOUR_MS)
            .await
            .expect("judge");
        assert_eq!(r.scheduled, 5);
        let keys: Vec<_> = all.iter().map(|c| c.key.clone()).collect();
        let dockets = aws
            .store
            .dockets(&keys, false)
            .await
            .expect("dockets")
            .found;
        let still_held = dockets
            .values()
            .filter(|d| d.kind == justice_core::verdict::VerdictKind::Held)
            .count();
        assert_eq!(
            still_held, 6,
            "the rest stay held, without a new verdict or alert each time"
        );

        // Two hours later only a newcomer's change arrives. The held ones are served first
        // from the queue (the sparse index's held partition, oldest first), with the states
        // the scorer stored; the newcomer waits behind the one left.
        for c in &all {
            let state = c.state.as_ref().expect("state");
            let write = justice_service::Write {
                record: None,
                replace: false,
                state,
                item: None,
                expected_revision: None,
            };
            justice_service::RiskStore::commit(&aws.store, &c.key, write)
                .await
                .expect("state stored");
        }
        let newcomer = instance(9, 0);
        let r = judge
            .judge(&[change(&newcomer)], &policy, T0 + 2 * HOUR_MS)
            .await
            .expect("judge");
        assert!(r.failed.is_empty(), "{:?}", r.failed);
        assert_eq!(r.scheduled, 5, "{r:?}");
        let queue = aws.store.held_queue(false, 10).await.expect("queue");
        assert_eq!(queue.len(), 2, "{queue:?}");
        assert_eq!(
            queue[1], newcomer.key,
            "the newcomer queues behind the one held longer"
        );
        assert!(keys.contains(&queue[0]));
        // The digests' walk over the index, a line a page: each open line once.
        let mut walked = Vec::new();
        let mut cursor: Option<String> = None;
        for _ in 0..20 {
            let page = aws
                .store
                .open_verdicts(false, cursor.as_deref(), 1)
                .await
                .expect("page");
            walked.extend(page.lines.into_iter().map(|(k, _)| k));
            match page.next {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
        assert_eq!(
            walked, queue,
            "every open line once, the held ones oldest first"
        );
    });
}

#[test]
fn a_dry_run_writes_its_own_file_and_never_krampus_file() {
    full_runtime().block_on(async {
        let aws = aws().await;
        let board = aws.board("dry-run/tasks.json");
        let outbox = aws.outbox();
        let settings = settings(true, 100);
        let judge = Judge {
            board: &board,
            dockets: &aws.store,
            outbox: &outbox,
            settings: &settings,
        };
        let s = sg(130, &[22, 3389]);
        let r = judge
            .judge(&[change(&s)], &Policy::default_policy(), T0)
            .await
            .expect("judge");
        assert_eq!(r.scheduled, 2);
        assert!(
            aws.tasks("tasks.json").await.is_none(),
            "a dry run wrote Krampus's tasks.json"
        );
        let dry = aws.tasks("dry-run/tasks.json").await.expect("dry-run file");
        assert_eq!(dry.tasks.len(), 2);
        let records = objects_under(&aws.s3, &aws.bucket, "verdicts/").await;
        assert_eq!(records.len(), 1);
        assert_eq!(records[0]["dry_run"], json!(true));
        // The live board keeps its own dockets: switching dry run off starts fresh.
        assert!(aws
            .store
            .dockets(std::slice::from_ref(&s.key), false)
            .await
            .expect("dockets")
            .found
            .is_empty());
        assert_eq!(
            aws.store
                .dockets(std::slice::from_ref(&s.key), true)
                .await
                .expect("dockets")
                .found
                .len(),
            1
        );
    });
}

/// The judge Lambda's outbox keeps its sent log in the risk table: a tasks.json entry that
/// would stop Krampus is reported to the security team once, not on every batch (and, before
/// the sent log, not at all: the check failed and the report was skipped).
#[test]
fn a_hazard_in_tasks_json_is_reported_to_security_once() {
    full_runtime().block_on(async {
        let aws = aws().await;
        let bad = json!({"tasks": [{
            "action": "disable",
            "action_time": 1,
            "aws_resource_name": "arn:aws:ec2:us-east-1:1234567890123:instance/i-0123456789abcdef0",
            "source": "someone-else"
        }]});
        aws.s3
            .put_object()
            .bucket(&aws.bucket)
            .key("tasks.json")
            .body(bad.to_string().into_bytes().into())
            .send()
            .await
            .expect("put");
        let board = aws.board("tasks.json");
        let outbox = aws
            .outbox()
            .with_sent_log(aws.store.client().clone(), aws.store.table());
        let settings = settings(false, 100);
        let judge = Judge {
            board: &board,
            dockets: &aws.store,
            outbox: &outbox,
            settings: &settings,
        };
        for (round, score) in [(0, 130), (1, 0), (2, 130)] {
            let mut s = sg(score, &[22]);
            s.revision = round + 1;
            judge
                .judge(
                    &[change(&s)],
                    &Policy::default_policy(),
                    T0 + round as i64 * HOUR_MS,
                )
                .await
                .expect("judged");
        }
        let messages = drain_messages(&aws.sqs, &aws.queue).await;
        let reports: Vec<&Value> = messages
            .iter()
            .filter(|m| {
                m["Subject"]
                    .as_str()
                    .is_some_and(|s| s.contains("would stop Krampus"))
            })
            .collect();
        assert_eq!(reports.len(), 1, "{messages:#?}");
        assert!(
            reports[0]["Message"]
                .as_str()
                .is_some_and(|m| m.contains("1234567890123")),
            "{:#?}",
            reports[0]
        );
        // The other person's entry is still there: reported, never removed.
        let file = aws.tasks("tasks.json").await.expect("tasks.json");
        assert!(file.tasks.iter().any(|t| t["source"] == "someone-else"));
    });
}

/// A public bucket policy and an administrator managed policy: critical, and no Krampus task
/// fixes them. The security team hears of each once, over several re-scores.
#[test]
fn what_no_task_fixes_reaches_the_security_team_once() {
    full_runtime().block_on(async {
        let aws = aws().await;
        let board = aws.board("tasks.json");
        let outbox = aws.outbox();
        let settings = settings(false, 100);
        let judge = Judge {
            board: &board,
            dockets: &aws.store,
            outbox: &outbox,
            settings: &settings,
        };
        let states = |revision: u64| {
            let mut bucket = state(
                "AWS::S3::Bucket",
                "website-bucket",
                Some("arn:aws:s3:::website-bucket"),
                100,
                vec![finding(
                    "s3-public-policy",
                    "Principal * on s3:GetObject",
                    vec![],
                )],
            );
            let mut admin = state(
                "AWS::IAM::Policy",
                "ANPAEXAMPLEADMIN",
                Some(&format!("arn:aws:iam::{ACCOUNT}:policy/admin")),
                100,
                vec![finding(
                    "iam-policy-admin-star",
                    "Action * on Resource *",
                    vec![],
                )],
            );
            bucket.revision = revision;
            admin.revision = revision;
            vec![change(&bucket), change(&admin)]
        };
        for round in 0..3u64 {
            judge
                .judge(
                    &states(round + 1),
                    &Policy::default_policy(),
                    T0 + round as i64 * HOUR_MS,
                )
                .await
                .expect("judged");
        }
        let messages = drain_messages(&aws.sqs, &aws.queue).await;
        let alerts: Vec<&Value> = messages
            .iter()
            .filter(|m| {
                m["Subject"]
                    .as_str()
                    .is_some_and(|s| s.contains("need a person"))
            })
            .collect();
        assert_eq!(alerts.len(), 1, "{messages:#?}");
        let body = alerts[0]["Message"].as_str().unwrap_or("");
        assert!(
            body.contains("website-bucket") && body.contains("ANPAEXAMPLEADMIN"),
            "{body}"
        );
        assert!(aws
            .tasks("tasks.json")
            .await
            .is_none_or(|f| f.tasks.is_empty()));
    });
}

#[test]
fn a_broken_tasks_file_is_never_overwritten() {
    full_runtime().block_on(async {
        let aws = aws().await;
        aws.s3
            .put_object()
            .bucket(&aws.bucket)
            .key("tasks.json")
            .body(b"{\"tasks\": [".to_vec().into())
            .send()
            .await
            .expect("put");
        let board = aws.board("tasks.json");
        let outbox = aws.outbox();
        let settings = settings(false, 100);
        let judge = Judge {
            board: &board,
            dockets: &aws.store,
            outbox: &outbox,
            settings: &settings,
        };
        let s = sg(130, &[22]);
        let e = judge
            .judge(&[change(&s)], &Policy::default_policy(), T0)
            .await
            .expect_err("must fail");
        assert!(
            e.to_string().contains("tasks.json") && e.to_string().contains("not JSON"),
            "{e}"
        );
        assert_eq!(
            get_object(&aws.s3, &aws.bucket, "tasks.json")
                .await
                .as_deref(),
            Some(&b"{\"tasks\": ["[..])
        );
        assert!(aws
            .store
            .dockets(std::slice::from_ref(&s.key), false)
            .await
            .expect("dockets")
            .found
            .is_empty());
    });
}

/// The scorer Lambda on the same table, as in production.
fn scorer(
    aws: &Aws,
) -> justice_scorer::App<
    DynamoRiskStore,
    justice_local::LocalConfigSource,
    justice_service::EventClock,
> {
    justice_scorer::App {
        store: aws.store.clone(),
        source: justice_local::LocalConfigSource::empty(),
        policy: justice_scorer::PolicySource::Fixed(Arc::new(Policy::default_policy())),
        clock: justice_service::EventClock,
        dead_letters: None,
        config: justice_scorer::Config::from_lookup(|k| match k {
            "RISK_TABLE" => Some(aws.store.table().to_owned()),
            "ALLOWED_ACCOUNTS" => Some("123456789012".into()),
            _ => None,
        })
        .expect("config"),
    }
}

/// A bucket that denies the judge: nothing can be decided and no retry changes that, so the
/// batch's records go to the judge's dead-letter queue at once, as a stream event to redrive
/// them with, and the batch is not retried (the metric says how many). S3 slowing down (503)
/// fails the batch for the event source to retry, and nothing is dead-lettered.
#[test]
fn a_denied_bucket_dead_letters_the_batch_at_once_and_a_slow_one_is_retried() {
    use justice_aws::lambda::{capture_metrics, captured_metrics, SqsDeadLetters};
    use justice_tests::aws::{failing_s3, FailCalls};
    full_runtime().block_on(async {
        let aws = aws().await;
        let conf = sdk().await;
        let open =
            justice_tests::read_json("eventbridge/eb-ci-change-ec2-securitygroup-open-world.json");
        let raw = serde_json::value::to_raw_value(&open).expect("raw");
        scorer(&aws)
            .handle(lambda_runtime::LambdaEvent::new(
                raw,
                lambda_runtime::Context::default(),
            ))
            .await
            .expect("scored");
        let (event, _) = stream_event(&conf, aws.store.table(), None).await;
        let event: aws_lambda_events::dynamodb::Event =
            serde_json::from_value(event).expect("a Lambda stream event");
        let url = create_queue(&aws.sqs, "judge-dlq").await;
        let denied = FailCalls::s3("GetObject", 403, "AccessDenied", usize::MAX);
        let mut judge = justice_judge::App {
            clock: justice_service::SystemClock,
            dead_letters: Some(SqsDeadLetters {
                client: aws.sqs.clone(),
                url: url.clone(),
            }),
            dockets: aws.store.clone(),
            board: S3TaskBoard::new(
                failing_s3(&conf, &denied),
                &aws.bucket,
                "tasks.json",
                "verdicts/",
                None,
            ),
            outbox: aws.outbox(),
            policy: PolicyProvider::Fixed(Arc::new(Policy::default_policy())),
            settings: JudgeSettings {
                accounts: vec!["123456789012".into()],
                ..settings(false, 100)
            },
        };
        let now = justice_core::time::parse_rfc3339("2026-11-26T00:00:00Z").expect("time");
        capture_metrics();
        let out = judge.judge(&event, now).await.expect("answered");
        assert_eq!(
            serde_json::to_value(&out).expect("JSON"),
            json!({"batchItemFailures": []}),
            "not retried"
        );
        assert_eq!(denied.seen.load(Ordering::SeqCst), 1);
        let letters = drain_messages(&aws.sqs, &url).await;
        assert_eq!(letters.len(), 1, "{letters:?}");
        let failure = &letters[0]["failures"][0];
        assert!(
            failure["reason"]
                .as_str()
                .is_some_and(|r| r.contains("AccessDenied") || r.contains("injected by the test")),
            "{failure}"
        );
        assert!(failure["resource"]
            .as_str()
            .is_some_and(|r| r.contains("AWS::EC2::SecurityGroup")));
        let key = failure["resource"].as_str().expect("resource").to_owned();
        assert_eq!(
            letters[0]["event"],
            json!({"justice": "rejudge", "keys": [key]}),
            "the resource to judge again, not the image"
        );
        let counted: Vec<u64> = captured_metrics()
            .iter()
            .filter_map(|d| d["RecordsDeadLettered"].as_u64())
            .collect();
        assert_eq!(counted, [1]);
        assert!(aws.tasks("tasks.json").await.is_none(), "nothing decided");

        // S3 slowing down may pass later: the batch fails, for the event source to retry.
        let slow = FailCalls::s3("GetObject", 503, "SlowDown", usize::MAX);
        judge.board = S3TaskBoard::new(
            failing_s3(&conf, &slow),
            &aws.bucket,
            "tasks.json",
            "verdicts/",
            None,
        );
        judge.judge(&event, now).await.expect_err("retried");
        assert!(slow.seen.load(Ordering::SeqCst) > 1, "the SDK tried again");
        assert!(drain_messages(&aws.sqs, &url).await.is_empty());

        // Once the bucket lets the judge in, the letter redrives, from the state stored when
        // it is redriven: the owner closed the group meanwhile (and no docket was ever saved
        // for it), so nothing is scheduled from the letter's time.
        judge.board = aws.board("tasks.json");
        let redrive = |letter: &Value| {
            let raw = serde_json::value::to_raw_value(letter).expect("raw");
            lambda_runtime::LambdaEvent::new(raw, lambda_runtime::Context::default())
        };
        let ci = "/detail/configurationItem";
        let at = |event: &Value, time: &str, id: i64| {
            let mut e = event.clone();
            justice_tests::set(
                &mut e,
                &format!("{ci}/configurationItemCaptureTime"),
                json!(time),
            );
            justice_tests::set(&mut e, &format!("{ci}/configurationStateId"), json!(id));
            // The notification is sent when the item is captured.
            justice_tests::set(&mut e, "/detail/notificationCreationTime", json!(time));
            serde_json::value::to_raw_value(&e).expect("raw")
        };
        let mut fixed = open.clone();
        justice_tests::set(
            &mut fixed,
            &format!("{ci}/configuration/ipPermissions"),
            json!([]),
        );
        let lambda =
            |raw| lambda_runtime::LambdaEvent::new(raw, lambda_runtime::Context::default());
        let scorer = scorer(&aws);
        scorer
            .handle(lambda(at(
                &fixed,
                "2023-06-21T10:15:44.902Z",
                1687342544902,
            )))
            .await
            .expect("scored");
        let out = judge
            .handle(redrive(&letters[0]["event"]))
            .await
            .expect("judged");
        assert_eq!(
            serde_json::to_value(&out).expect("JSON"),
            json!({"batchItemFailures": []})
        );
        assert!(
            aws.tasks("tasks.json")
                .await
                .is_none_or(|f| f.ours().is_empty()),
            "a fixed resource gets no task from an old letter"
        );

        // Opened again later: the same letter now finds it risky.
        scorer
            .handle(lambda(at(&open, "2023-06-21T10:30:00.000Z", 1687343400000)))
            .await
            .expect("scored");
        judge
            .handle(redrive(&letters[0]["event"]))
            .await
            .expect("judged");
        let file = aws.tasks("tasks.json").await.expect("tasks.json");
        assert!(!file.ours().is_empty(), "the redriven resource was judged");
    });
}

#[test]
fn the_judge_lambda_reads_the_real_stream_and_reports_a_poison_record_alone() {
    full_runtime().block_on(async {
        let aws = aws().await;
        let conf = sdk().await;
        // The scorer writes the states, as in production.
        let scorer = scorer(&aws);
        let open =
            justice_tests::read_json("eventbridge/eb-ci-change-ec2-securitygroup-open-world.json");
        let raw = serde_json::value::to_raw_value(&open).expect("raw");
        scorer
            .handle(lambda_runtime::LambdaEvent::new(
                raw,
                lambda_runtime::Context::default(),
            ))
            .await
            .expect("scored");
        let (mut event, last) = stream_event(&conf, aws.store.table(), None).await;
        let records = event["Records"].as_array_mut().expect("records");
        // The history record and the state: the event source's filter would pass the state
        // only; the judge ignores the other anyway.
        assert_eq!(records.len(), 2);
        let state = records
            .iter()
            .find(|r| r["dynamodb"]["Keys"]["sk"]["S"] == "STATE")
            .expect("the STATE record")
            .clone();
        // A poison record: a STATE image that is not a risk state.
        let mut poison = state.clone();
        poison["dynamodb"]["SequenceNumber"] = json!("999999999999999999999");
        poison["dynamodb"]["NewImage"]["state"] = json!({"B": "bm90IGEgc3RhdGU="});
        records.insert(0, poison);

        let judge = justice_judge::App {
            clock: justice_service::SystemClock,
            dead_letters: None,
            dockets: aws.store.clone(),
            board: aws.board("tasks.json"),
            outbox: aws.outbox(),
            policy: PolicyProvider::Fixed(Arc::new(Policy::default_policy())),
            settings: JudgeSettings {
                accounts: vec!["123456789012".into()],
                ..settings(false, 100)
            },
        };
        let event: aws_lambda_events::dynamodb::Event =
            serde_json::from_value(event).expect("a Lambda stream event");
        let now = justice_core::time::parse_rfc3339("2026-11-26T00:00:00Z").expect("time");
        let out = judge.judge(&event, now).await.expect("judged");
        assert_eq!(
            serde_json::to_value(&out).expect("JSON"),
            json!({"batchItemFailures": [{"itemIdentifier": "999999999999999999999"}]})
        );
        let file = aws.tasks("tasks.json").await.expect("tasks.json");
        assert!(
            !file.tasks.is_empty(),
            "the good record was judged despite the poison"
        );
        assert!(file
            .tasks
            .iter()
            .all(|t| t["source"] == TASK_SOURCE && t["aws_account"] == "123456789012"));

        // The owner closes the group: the scorer's new state withdraws the tasks.
        let mut fixed = open.clone();
        let ci = "/detail/configurationItem";
        justice_tests::set(
            &mut fixed,
            &format!("{ci}/configuration/ipPermissions"),
            json!([]),
        );
        justice_tests::set(
            &mut fixed,
            &format!("{ci}/configurationItemCaptureTime"),
            json!("2023-06-21T10:15:44.902Z"),
        );
        justice_tests::set(
            &mut fixed,
            &format!("{ci}/configurationStateId"),
            json!(1687342544902i64),
        );
        justice_tests::set(
            &mut fixed,
            "/detail/notificationCreationTime",
            json!("2023-06-21T10:15:46.117Z"),
        );
        let raw = serde_json::value::to_raw_value(&fixed).expect("raw");
        scorer
            .handle(lambda_runtime::LambdaEvent::new(
                raw,
                lambda_runtime::Context::default(),
            ))
            .await
            .expect("scored");
        let (event, _) = stream_event(&conf, aws.store.table(), last.as_deref()).await;
        let event: aws_lambda_events::dynamodb::Event =
            serde_json::from_value(event).expect("event");
        let out = judge.judge(&event, now + HOUR_MS).await.expect("judged");
        assert_eq!(
            serde_json::to_value(&out).expect("JSON"),
            json!({"batchItemFailures": []})
        );
        let file = aws.tasks("tasks.json").await.expect("tasks.json");
        assert!(file.ours().is_empty(), "{:?}", file.tasks);
        let kinds: Vec<String> = objects_under(&aws.s3, &aws.bucket, "verdicts/")
            .await
            .iter()
            .map(|r| r["kind"].as_str().unwrap_or("").to_owned())
            .collect();
        assert!(
            kinds.contains(&"act".to_owned()) && kinds.contains(&"clear".to_owned()),
            "{kinds:?}"
        );
    });
}

/// A docket that does not read back (written by a newer judge, or edited by hand) fails its own
/// resource, for good, and nothing else: the batch's other resource is judged, and a later
/// batch is not held up by it.
#[test]
fn an_unreadable_docket_fails_its_resource_alone() {
    use aws_sdk_dynamodb::types::AttributeValue;
    use justice_aws::risk_store::{PK, SK};
    full_runtime().block_on(async {
        let aws = aws().await;
        let (a, b) = (scripted(7, 0, 0), scripted(7, 4, 0));
        aws.store
            .client()
            .put_item()
            .table_name(aws.store.table())
            .item(PK, AttributeValue::S(a.key.as_str().to_owned()))
            .item(
                SK,
                AttributeValue::S(justice_aws::docket_store::docket_sk(false).into()),
            )
            .item("kind", AttributeValue::N("7".into()))
            .send()
            .await
            .expect("a docket that is not one");
        let board = aws.board("tasks.json");
        let outbox = aws.outbox();
        let judge = Judge {
            board: &board,
            dockets: &aws.store,
            outbox: &outbox,
            settings: &settings(false, 100),
        };
        let policy = Policy::default_policy();
        let report = judge
            .judge(&[change(&a), change(&b)], &policy, T0)
            .await
            .expect("the batch is judged");
        assert_eq!(report.failed.len(), 1, "{:?}", report.failed);
        let failed = &report.failed[0];
        assert_eq!(failed.resource, a.key.to_string());
        assert!(
            !failed.transient && failed.reason.contains("docket"),
            "{failed:?}"
        );
        let ours = aws.tasks("tasks.json").await.expect("tasks.json").ours();
        assert!(ours.contains_key(b.key.as_str()), "{ours:?}");
        assert!(!ours.contains_key(a.key.as_str()), "{ours:?}");

        // The next batch, of another resource, is judged as if nothing were wrong.
        let c = scripted(7, 8, 0);
        let report = judge
            .judge(&[change(&c)], &policy, T0)
            .await
            .expect("judged");
        assert!(report.failed.is_empty(), "{:?}", report.failed);
    });
}
