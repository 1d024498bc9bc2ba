//! `GET /compute`: CPU-bound Fibonacci on the blocking pool, so it never stalls the workers
//! that serve other requests.

use std::time::Instant;

use axum::extract::RawQuery;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum_common::error::json_response;
use axum_common::timing::set_server_timing;
use axum_common::AppError;
use crm_core::compute::ComputeResult;
use crm_core::params::ComputeQuery;
use crm_core::timing::{millis, Phase, ServerTiming};
use crm_core::ApiError;

pub async fn compute(RawQuery(raw): RawQuery) -> Response {
    let query = match ComputeQuery::parse(raw.as_deref()) {
        Ok(query) => query,
        Err(err) => return AppError(err).into_response(),
    };
    let run = tokio::task::spawn_blocking(move || {
        let started = Instant::now();
        let result = query.algo.run(query.n);
        (result, started.elapsed())
    })
    .await;
    let Ok((result, elapsed)) = run else {
        tracing::error!("the compute task failed");
        return AppError(ApiError::internal()).into_response();
    };
    let body = ComputeResult {
        n: query.n,
        algo: query.algo,
        result: result.to_string(),
        compute_ms: millis(elapsed),
    };
    let mut response = json_response(StatusCode::OK, crm_core::http::to_json(&body));
    let mut timing = ServerTiming::new();
    timing.add(Phase::Compute, elapsed);
    set_server_timing(&mut response, &timing.header_value());
    response
}
