//! The judge's Lambda binary: configuration and clients once per cold start, then the loop.

use aws_lambda_events::dynamodb::Event;
use justice_judge::{App, Config};
use lambda_runtime::{service_fn, LambdaEvent};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    justice_aws::lambda::init_tracing();
    let config = Config::from_env().inspect_err(|e| tracing::error!(error = %e, "cold start"))?;
    let app = App::from_env(config).await;
    let app = &app;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Event>| async move {
        app.handle(event).await
    }))
    .await
}
