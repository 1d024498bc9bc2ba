//! `GET /compute`: CPU-bound Fibonacci on the blocking pool, so it never stalls the workers
//! that serve other requests.

use std::time::Instant;

use axum::extract::RawQuery;
use axum::response::Response;
use axum_common::{Reply, Timer};
use crm_core::compute::ComputeResult;
use crm_core::params::ComputeQuery;
use crm_core::timing::{millis, Phase};
use crm_core::ApiError;

pub async fn compute(RawQuery(raw): RawQuery) -> Response {
    let mut t = Timer::start();
    let result = async {
        let query = ComputeQuery::parse(raw.as_deref())?;
        let (result, elapsed) = tokio::task::spawn_blocking(move || {
            let started = Instant::now();
            let result = query.algo.run(query.n);
            (result, started.elapsed())
        })
        .await
        .map_err(|_| {
            tracing::error!("the compute task failed");
            ApiError::internal()
        })?;
        t.record(Phase::Compute, elapsed);
        Ok(Reply::ok(ComputeResult {
            n: query.n,
            algo: query.algo,
            result: result.to_string(),
            compute_ms: millis(elapsed),
        }))
    }
    .await;
    t.finish(result)
}
