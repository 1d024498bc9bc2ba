//! Admission: how many requests a service works on at once, and how long a request may wait
//! for its turn before it is answered 503 `overloaded` with `retry-after` (docs/api.md,
//! "Overload").
//!
//! Why a wait and not an immediate refusal (tower's `load_shed` over a concurrency limit, which
//! refuses the moment every permit is taken): a burst of clients that the service would serve
//! within milliseconds — 100 closed-loop clients against a limit of 20 — is not overload, and
//! refusing it turns a fast service into a 503 machine. What marks overload is a wait that
//! grows: under an offered rate above capacity the queue's wait climbs until it reaches
//! `max_wait`, and from then on each request beyond what the service serves is refused within
//! `max_wait` instead of queueing without bound (or until a pool's acquire timeout turns it into
//! a slow `database_unavailable`). tower has a concurrency limit and a load shedder but no
//! bounded wait between the two, hence this small middleware on tokio's semaphore.
//!
//! Spin has no twin: Spin 3.5.1 admits every request (docs/api.md, "Overload").

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Router;
use crm_core::ApiError;
use tokio::sync::Semaphore;

use crate::reply::AppError;

/// The default of `MAX_QUEUE_WAIT_MS`: well below every timeout a caller of the services has
/// (the upstream timeout, 2 s; the pool's acquire timeout, 1 s), so an overloaded service
/// answers 503 before its callers give up, and long enough that a burst the service drains
/// in a few milliseconds per request is served, not refused.
pub const DEFAULT_MAX_QUEUE_WAIT_MS: u64 = 200;

/// The gateway's default limit of requests in flight (`MAX_CONCURRENT_REQUESTS`): one data
/// service's (4 × its default pool). A gateway request holds a socket and a wait on an
/// upstream, no database; more in flight here would only forward work for the services behind
/// to queue or refuse — a hop and two parses each, on the CPU the served requests need
/// (measured with immediate shedding at 3× capacity: with 64 here, some forwarded reads waited
/// past the upstream timeout). What waits past `MAX_QUEUE_WAIT_MS` is refused at the door.
pub const GATEWAY_DEFAULT_MAX_CONCURRENT_REQUESTS: u32 = 20;

/// How many requests run at once, and how long one may wait for a turn.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Admission {
    pub max_in_flight: u32,
    pub max_wait: Duration,
}

impl Admission {
    pub fn new(max_in_flight: u32, max_wait: Duration) -> Admission {
        Admission {
            max_in_flight,
            max_wait,
        }
    }

    /// `routes` behind this admission: one semaphore for every route of the service.
    pub fn apply(self, routes: Router) -> Router {
        let gate = Gate {
            permits: Arc::new(Semaphore::new(self.max_in_flight as usize)),
            max_wait: self.max_wait,
        };
        routes.layer(axum::middleware::from_fn_with_state(gate, admit))
    }
}

#[derive(Clone)]
struct Gate {
    permits: Arc<Semaphore>,
    max_wait: Duration,
}

/// Runs the request once a permit is free; 503 `overloaded` when none frees up within the
/// wait. The permit is held until the handler's response exists (its body is small and
/// already in memory).
async fn admit(State(gate): State<Gate>, request: Request, next: Next) -> Response {
    let permit = tokio::time::timeout(gate.max_wait, gate.permits.acquire_owned()).await;
    match permit {
        Ok(Ok(_permit)) => next.run(request).await,
        // Timed out, or the semaphore closed (never: nothing closes it).
        _ => AppError(ApiError::overloaded()).into_response(),
    }
}
