//! The scorer's Lambda binary: configuration and clients once per cold start, then the runtime
//! loop.

use justice_scorer::{App, Config};
use lambda_runtime::{service_fn, LambdaEvent};
use serde_json::value::RawValue;

// Many small JSON nodes per event: mimalloc serves them faster than glibc's allocator.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    justice_aws::lambda::init_tracing();
    let config = Config::from_env().inspect_err(|e| tracing::error!(error = %e, "cold start"))?;
    let app = App::from_env(config).await;
    let app = &app;
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<Box<RawValue>>| async move { app.handle(event).await },
    ))
    .await
}
