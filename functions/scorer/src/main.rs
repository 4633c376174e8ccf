//! The scorer's Lambda binary: configuration and clients once per cold start, then the loop.

justice_aws::lambda_main!(
    justice_scorer::App,
    justice_scorer::Config,
    Box<serde_json::value::RawValue>
);
