//! The notifier's Lambda binary: configuration and clients once per cold start, then the loop.

justice_aws::lambda_main!(
    justice_notifier::App,
    justice_notifier::Config,
    serde_json::Value
);
