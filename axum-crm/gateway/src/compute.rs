//! `GET /compute`: CPU-bound Fibonacci on the blocking pool, so it never stalls the workers
//! that serve other requests.

use std::time::Instant;

use axum::extract::RawQuery;
use axum_common::reply::record;
use axum_common::{AppError, Reply};
use crm_core::compute::ComputeResult;
use crm_core::params::ComputeQuery;
use crm_core::timing::{millis, Phase};
use crm_core::ApiError;

pub async fn compute(RawQuery(raw): RawQuery) -> Result<Reply<ComputeResult>, AppError> {
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
    record(Phase::Compute, elapsed);
    Ok(Reply::ok(ComputeResult {
        n: query.n,
        algo: query.algo,
        result: result.to_string(),
        compute_ms: millis(elapsed),
    }))
}
