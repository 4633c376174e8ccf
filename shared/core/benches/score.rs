//! Scoring time per configuration item, parse included: bytes of an event in, a risk state out.
//! Run: `cargo bench -p justice-core --bench score`.

use std::hint::black_box;
use std::path::Path;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
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
    let mut group = c.benchmark_group("score_stream");
    group.throughput(Throughput::Elements(events.len() as u64));
    group.bench_function("generated_100", |b| {
        b.iter(|| {
            events
                .iter()
                .map(|e| score_event(black_box(e), &policy))
                .sum::<u32>()
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
