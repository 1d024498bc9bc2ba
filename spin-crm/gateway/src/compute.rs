//! `GET /compute`: Fibonacci in the component, `server-timing: compute;dur=`.

use std::time::Instant;

use crm_core::compute::ComputeResult;
use crm_core::params::ComputeQuery;
use crm_core::timing::{millis, Phase};
use crm_core::ApiError;
use spin_common::routing::query;
use spin_common::Ctx;
use spin_sdk::http::{Request, Response};

pub fn compute(ctx: &mut Ctx, req: &Request) -> Result<Response, ApiError> {
    let query = ComputeQuery::parse(query(req))?;
    let started = Instant::now();
    let result = query.algo.run(std::hint::black_box(query.n));
    let elapsed = started.elapsed();
    ctx.record(Phase::Compute, elapsed);
    Ok(ctx.ok(&ComputeResult {
        n: query.n,
        algo: query.algo,
        result: result.to_string(),
        compute_ms: millis(elapsed),
    }))
}
