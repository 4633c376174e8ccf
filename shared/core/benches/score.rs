//! Scoring time per configuration item, parse included: bytes of an event in, a risk state out,
//! with the default policy (built-in rules and the whole rule pack).
//! Run: `cargo bench -p justice-core --bench score`.

use std::hint::black_box;
use std::path::Path;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};

// The allocator every binary of the engine runs with (the Lambda functions and `justice`):
// measured as it runs.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
use justice_core::event::{parse_event, Notice};
use justice_core::score::{derive_state, evaluate_item};
use justice_core::{key_of, Policy};

fn fixture(rel: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/config-events")
        .join(rel);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The whole pure path of the scorer for one event.
fn score_event(bytes: &[u8], policy: &Policy) -> u32 {
    let mut total = 0;
    for record in parse_event(bytes).into_iter().flatten().flatten() {
        if let Notice::Item { item, sent } = record {
            if let (Ok(rec), Ok(key)) = (evaluate_item(&item, sent, policy), key_of(&item)) {
                if let Some(state) = derive_state(&key, &[rec], sent, policy) {
                    total += state.score;
                }
            }
        }
    }
    total
}

fn bench(c: &mut Criterion) {
    let policy = Policy::default_policy();
    let mut group = c.benchmark_group("score_item");
    group.throughput(Throughput::Elements(1));
    for (name, rel) in [
        (
            "sg_open_world",
            "eventbridge/eb-ci-change-ec2-securitygroup-open-world.json",
        ),
        (
            "s3_public",
            "eventbridge/eb-ci-change-s3-bucket-public.json",
        ),
        (
            "ec2_instance",
            "eventbridge/eb-ci-change-ec2-instance-public-ip.json",
        ),
        (
            "iam_policy",
            "eventbridge/eb-ci-change-iam-policy-admin-star.json",
        ),
        ("sns_sg", "sns/sns-lambda-ec2-securitygroup-updated.json"),
    ] {
        let bytes = fixture(rel);
        assert!(score_event(&bytes, &policy) > 0, "{name} should score");
        group.bench_function(name, |b| b.iter(|| score_event(black_box(&bytes), &policy)));
    }
    group.finish();

    // 100 events of the generated stream the peers were measured on (gen_events.py --n 100
    // --seed 7): security groups and S3 buckets, risky and safe.
    let stream = include_str!("data/generated-100.jsonl");
    let events: Vec<&[u8]> = stream.lines().map(str::as_bytes).collect();
    // The default policy runs the whole rule pack; the other runs the built-in rules alone,
    // for the pack's own cost.
    let builtin_only = Policy::from_toml(&format!(
        "version = 1\n{}",
        justice_core::rules::custom::pack()
            .rules()
            .iter()
            .map(|r| format!("[rules.{}]\nenabled = false\n", r.id()))
            .collect::<String>()
    ))
    .expect("a policy without the pack");
    let mut group = c.benchmark_group("score_stream");
    group.throughput(Throughput::Elements(events.len() as u64));
    for (name, policy) in [
        ("generated_100", &policy),
        ("generated_100_builtin_only", &builtin_only),
    ] {
        group.bench_function(name, |b| {
            b.iter(|| {
                events
                    .iter()
                    .map(|e| score_event(black_box(e), policy))
                    .sum::<u32>()
            })
        });
    }
    group.finish();
}

/// What a cold start pays once for the rule pack: reading its files, and compiling its rules
/// (each is compiled on the first item of a type it reads; `pack_compile_all` is all of them).
fn pack(c: &mut Criterion) {
    use justice_core::rules::custom::{pack_specs, RuleSet, RuleSource};
    c.bench_function("pack_read", |b| b.iter(|| pack_specs().map(|s| s.len())));
    let specs = pack_specs().expect("the pack parses");
    c.bench_function("pack_compile_all", |b| {
        b.iter(|| RuleSet::compile(black_box(&specs), RuleSource::Pack).map(|s| s.rules().len()))
    });
}

criterion_group!(benches, bench, pack);
criterion_main!(benches);
