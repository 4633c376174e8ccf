//! The judge's Lambda binary: configuration and clients once per cold start, then the loop.

justice_aws::lambda_main!(
    justice_judge::App,
    justice_judge::Config,
    Box<serde_json::value::RawValue>
);
