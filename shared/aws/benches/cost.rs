//! What a million AWS Config changes cost, from what each change really writes and reads.
//!
//! Replays a generated event stream (`infra/bench/gen_events.py`) through the scorer and the
//! judge over the local adapters, and prices every request the AWS adapters would make for
//! it, with items sized exactly as `DynamoRiskStore` stores them (DynamoDB bills an item by
//! its attribute names and values: 1 write unit per KB written, twice in a transaction; 1
//! read unit per 4 KB read consistently).
//!
//!     cargo bench -p justice-aws --bench cost -- EVENTS.jsonl
//!
//! Prices: us-east-1 on-demand list prices (2025): DynamoDB $0.625 per million write request
//! units, $0.125 per million read request units; Lambda $0.20 per million requests and
//! $0.0000133334 per GB-second on arm64; S3 $0.005 per 1,000 PUTs and $0.0004 per 1,000 GETs;
//! SNS $0.50 per million publishes. Stream reads by Lambda and EventBridge's delivery of AWS
//! service events are free.

use std::collections::HashMap;
use std::io::BufRead;

use aws_sdk_dynamodb::types::AttributeValue;
use justice_aws::risk_store::{history_attributes, state_attributes};
use justice_core::event::parse_event;
use justice_core::policy::Policy;
use justice_core::{HistoryRecord, ResourceKey, RiskState};
use justice_local::{LocalConfigSource, LocalOutbox, LocalRiskStore, LocalTaskBoard};
use justice_service::ports::{KeyPage, Write};
use justice_service::{
    prepare, Change, Commit, DocketStore, EventClock, Judge, JudgeSettings, RiskStore, Scorer,
    StoreError, Stored,
};

const WRU: f64 = 0.625e-6;
const RRU: f64 = 0.125e-6;
const LAMBDA_REQUEST: f64 = 0.20e-6;
const LAMBDA_GB_S: f64 = 0.000_013_333_4;
const S3_PUT: f64 = 0.005e-3;
const S3_GET: f64 = 0.0004e-3;
const SNS_PUBLISH: f64 = 0.50e-6;
/// The functions' memory (template.yaml) and the duration assumed per invocation: the scorer
/// makes two DynamoDB round trips per change, the judge a few S3 and DynamoDB round trips per
/// batch, the notifier one S3 read and one SNS publish per record.
const MEMORY_GB: f64 = 0.25;
const SCORER_S: f64 = 0.025;
const JUDGE_S: f64 = 0.5;
const NOTIFIER_S: f64 = 0.05;
const JUDGE_BATCH: usize = 100;

/// DynamoDB's size of an item: each attribute's name and value, in bytes.
fn item_size(item: &HashMap<String, AttributeValue>) -> usize {
    item.iter()
        .map(|(name, v)| {
            name.len()
                + match v {
                    AttributeValue::S(s) => s.len(),
                    // Numbers: about one byte per two significant digits, plus one.
                    AttributeValue::N(n) => n.trim_start_matches('-').len().div_ceil(2) + 1,
                    AttributeValue::B(b) => b.as_ref().len(),
                    _ => 1,
                }
        })
        .sum()
}

fn units(bytes: usize, per: usize) -> u64 {
    bytes.div_ceil(per).max(1) as u64
}

#[derive(Default, Debug)]
struct Tally {
    events: u64,
    write_units: u64,
    read_units: u64,
    state_bytes: u64,
    history_bytes: u64,
    states_written: u64,
    records_written: u64,
}

/// The local store, with every request the DynamoDB adapter would make for it tallied.
struct Priced<'a> {
    inner: &'a LocalRiskStore,
    tally: std::sync::Mutex<Tally>,
}

impl RiskStore for Priced<'_> {
    async fn load(&self, key: &ResourceKey) -> Result<Stored, StoreError> {
        let stored = self.inner.load(key).await?;
        // A consistent GetItem: 1 read unit per 4 KB, at least 1 (a missing item too).
        let size = match &stored.state {
            Some(s) => item_size(&state_attributes(s, stored.item.as_deref()).unwrap_or_default()),
            None => 0,
        };
        self.tally
            .lock()
            .map(|mut t| t.read_units += units(size, 4096))
            .ok();
        Ok(stored)
    }

    async fn history(&self, key: &ResourceKey) -> Result<Vec<HistoryRecord>, StoreError> {
        let history = self.inner.history(key).await?;
        let bytes: usize = history
            .iter()
            .map(|r| item_size(&history_attributes(key, r, 0).unwrap_or_default()))
            .sum();
        self.tally
            .lock()
            .map(|mut t| t.read_units += units(bytes, 4096))
            .ok();
        Ok(history)
    }

    async fn commit(&self, key: &ResourceKey, w: Write<'_>) -> Result<Commit, StoreError> {
        // Whether the stored state is in the re-score index already (read from the local
        // store, which costs nothing on AWS: the scorer read it before).
        let was_risky = self
            .inner
            .load(key)
            .await?
            .state
            .is_some_and(|s| s.needs_rescore());
        let out = self.inner.commit(key, w).await?;
        if out == Commit::Written {
            let state = item_size(&state_attributes(w.state, w.item).unwrap_or_default());
            let mut t = self.tally.lock().unwrap_or_else(|p| p.into_inner());
            // A transaction bills each item's write units twice.
            let factor = if w.record.is_some() { 2 } else { 1 };
            t.write_units += factor * units(state, 1024);
            t.state_bytes += state as u64;
            t.states_written += 1;
            if let Some(r) = w.record {
                let h = item_size(&history_attributes(key, r, 0).unwrap_or_default());
                t.write_units += 2 * units(h, 1024);
                t.history_bytes += h as u64;
                t.records_written += 1;
            }
            // The sparse re-score index (keys only, sorted by `evaluated_at`): a state entering
            // or leaving it is one index write; a risky state written again moves its sort key,
            // which DynamoDB bills as two (the old entry deleted, the new one put).
            t.write_units += match (was_risky, w.state.needs_rescore()) {
                (true, true) => 2,
                (false, false) => 0,
                _ => 1,
            };
        }
        Ok(out)
    }

    async fn job_cursor(&self, job: &str) -> Result<Option<String>, StoreError> {
        self.inner.job_cursor(job).await
    }

    async fn set_job_cursor(&self, job: &str, cursor: Option<&str>) -> Result<(), StoreError> {
        self.inner.set_job_cursor(job, cursor).await
    }

    async fn risky(&self, before: i64, limit: usize) -> Result<Vec<ResourceKey>, StoreError> {
        self.inner.risky(before, limit).await
    }

    async fn resources(&self, cursor: Option<&str>, limit: usize) -> Result<KeyPage, StoreError> {
        self.inner.resources(cursor, limit).await
    }
}

fn main() {
    // `cargo bench` gives the stream; `cargo test --all-targets` runs this with none, and then
    // it prices the bundled EventBridge fixtures (a smoke run of the arithmetic).
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let (path, lines): (String, Vec<String>) =
        match std::env::args().skip(1).find(|a| !a.starts_with('-')) {
            Some(p) => {
                let file = std::fs::File::open(&p).unwrap_or_else(|e| panic!("{p}: {e}"));
                let lines = std::io::BufReader::new(file)
                    .lines()
                    .map(|l| l.unwrap_or_else(|e| panic!("{p}: {e}")))
                    .collect();
                (p, lines)
            }
            None => {
                let dir = root.join("tests/fixtures/config-events/eventbridge");
                let mut files: Vec<_> = std::fs::read_dir(&dir)
                    .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
                    .filter_map(|e| e.ok().map(|e| e.path()))
                    .collect();
                files.sort();
                let lines = files
                    .iter()
                    .map(|f| {
                        std::fs::read_to_string(f)
                            .unwrap_or_default()
                            .replace('\n', " ")
                    })
                    .collect();
                (dir.display().to_string(), lines)
            }
        };
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    let mut local = LocalRiskStore::open(dir.path()).unwrap_or_else(|e| panic!("store: {e}"));
    local.set_batch_size(1000);
    let priced = Priced {
        inner: &local,
        tally: Default::default(),
    };
    let policy = Policy::default_policy();
    let source = LocalConfigSource::empty();
    let scorer = Scorer {
        store: &priced,
        source: &source,
        policy: &policy,
        clock: &EventClock,
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap_or_else(|e| panic!("runtime: {e}"));
    let board = LocalTaskBoard::new(dir.path(), false);
    let outbox = LocalOutbox::new(dir.path());
    let settings = JudgeSettings {
        dry_run: false,
        accounts: vec![
            "123456789012".into(),
            "210987654321".into(),
            "555566667777".into(),
        ],
        blast_per_hour: 10,
        max_attempts: 3,
    };
    let judge = Judge {
        board: &board,
        dockets: &local,
        outbox: &outbox,
        settings: &settings,
    };
    let (mut batches, mut verdicts, mut notices, mut board_writes) = (0u64, 0u64, 0u64, 0u64);
    let mut docket_units = 0u64;
    let mut open_index_writes = 0u64;
    let mut queue_reads = 0u64;
    let mut pending: Vec<Change> = Vec::new();
    let mut last_now = 0;
    let mut judge_batch = |pending: &mut Vec<Change>, now: i64| {
        if pending.is_empty() {
            return;
        }
        // The sparse open-verdicts index is written when a docket gains, changes or loses its
        // open line (DynamoDB does not write an index whose attributes a write leaves as they
        // were).
        let keys: Vec<ResourceKey> = pending.iter().map(|c| c.key.clone()).collect();
        let open_lines = || {
            rt.block_on(local.dockets(&keys, false))
                .unwrap_or_else(|e| panic!("dockets: {e}"))
                .found
                .into_iter()
                .map(|(k, d)| (k, d.open))
                .collect::<HashMap<_, _>>()
        };
        let before = open_lines();
        // The held queue: a Query of the index's held partition (a unit, rounded up) and a
        // consistent GetItem of each queued state (1 unit each) per batch.
        let queued = rt
            .block_on(local.held_queue(false, 10))
            .unwrap_or_else(|e| panic!("held queue: {e}"));
        queue_reads += 1 + queued.iter().filter(|k| !keys.contains(k)).count() as u64;
        let report = rt
            .block_on(judge.judge(pending, &policy, now))
            .unwrap_or_else(|e| panic!("judge: {e}"));
        let after = open_lines();
        for k in &keys {
            let (b, a) = (
                before.get(k).cloned().flatten(),
                after.get(k).cloned().flatten(),
            );
            if b != a {
                open_index_writes += 1;
            }
        }
        batches += 1;
        board_writes += report.board_writes as u64;
        verdicts += report.verdicts as u64;
        // Each verdict saves its docket (about 1 KB: 1 write unit) and the hour's budget is
        // one conditional update per batch that schedules.
        docket_units += report.verdicts as u64 + u64::from(report.scheduled > 0);
        for r in board.take_new() {
            if justice_core::notice::kind_of(&r).is_some() {
                notices += 1;
            }
        }
        pending.clear();
    };
    for line in &lines {
        for record in parse_event(line.as_bytes()).into_iter().flatten().flatten() {
            let Ok(prepared) = prepare(record, &policy) else {
                continue;
            };
            if let Ok(justice_service::Outcome::Scored {
                state,
                written: true,
            }) = rt.block_on(scorer.apply(prepared))
            {
                priced.tally.lock().map(|mut t| t.events += 1).ok();
                last_now = state.evaluated_at;
                pending.push(Change {
                    id: state.key.to_string(),
                    key: state.key.clone(),
                    state: Some(RiskState::clone(&state)),
                });
                if pending.len() == JUDGE_BATCH {
                    judge_batch(&mut pending, last_now);
                }
            }
        }
    }
    judge_batch(&mut pending, last_now);
    let t = priced.tally.into_inner().unwrap_or_else(|p| p.into_inner());
    let n = t.events.max(1) as f64;
    let per_million = |count: f64| count / n * 1e6;
    // The sent log: a consistent GetItem and a conditional PutItem of a small marker item per
    // notice (one unit each).
    let writes = t.write_units + docket_units + open_index_writes + notices;
    let dynamo_writes = per_million(writes as f64) * WRU;
    let reads = t.read_units + docket_units + notices + queue_reads;
    let dynamo_reads = per_million(reads as f64) * RRU;
    let scorer = per_million(n) * (LAMBDA_REQUEST + MEMORY_GB * SCORER_S * LAMBDA_GB_S);
    let judge_cost =
        per_million(batches as f64) * (LAMBDA_REQUEST + MEMORY_GB * JUDGE_S * LAMBDA_GB_S);
    let notifier =
        per_million(notices as f64) * (LAMBDA_REQUEST + MEMORY_GB * NOTIFIER_S * LAMBDA_GB_S);
    // Verdict records and tasks.json are S3 PUTs; the judge reads tasks.json and the
    // allow-list per batch. The notifier is invoked for (and reads) only the records that call
    // for a notice (`.notice.json`, the bucket's event filter).
    let s3 = per_million((verdicts + board_writes) as f64) * S3_PUT
        + per_million(notices as f64 + 2.0 * batches as f64) * S3_GET;
    let sns = per_million(notices as f64) * SNS_PUBLISH;
    let total = dynamo_writes + dynamo_reads + scorer + judge_cost + notifier + s3 + sns;
    println!("{path}: {} changes written", t.events);
    println!(
        "per change: state item {:.0} B, history item {:.0} B; {:.2} write units, {:.2} read units",
        t.state_bytes as f64 / t.states_written.max(1) as f64,
        t.history_bytes as f64 / t.records_written.max(1) as f64,
        writes as f64 / n,
        reads as f64 / n,
    );
    println!(
        "judge: {batches} batches, {verdicts} verdicts, {board_writes} tasks.json writes, {notices} notices, {open_index_writes} open-verdicts index writes"
    );
    println!("per million changes, USD:");
    println!("  DynamoDB writes  {dynamo_writes:>7.2}");
    println!("  DynamoDB reads   {dynamo_reads:>7.2}");
    println!("  scorer Lambda    {scorer:>7.2}");
    println!("  judge Lambda     {judge_cost:>7.2}");
    println!("  notifier Lambda  {notifier:>7.2}");
    println!("  S3 requests      {s3:>7.2}");
    println!("  SNS publishes    {sns:>7.2}");
    println!("  total            {total:>7.2}  (goal <= 5.00)");
}
