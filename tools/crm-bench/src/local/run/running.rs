//! The stack being measured, whatever its shape: processes (`spin up`s or the Axum binaries,
//! crm_harness::stack) or containers on the node runtime (crm_harness::node). The steps ask it
//! only where to send requests, which processes to watch and to stop.

use std::path::Path;
use std::time::Duration;

use anyhow::Result;
use crm_harness::node::NodeStack;
use crm_harness::stack::{Shape, Stack, START_LIMIT, UPSTREAM_TIMEOUT_MS};

use super::settings::StackColumn;
use crate::results::label::Label;

pub(super) enum Running {
    Processes(Stack),
    Containers(NodeStack),
}

impl Running {
    /// Starts `label`'s stack on `db` and waits until it serves. `spin`: the Spin CLI, which
    /// pushes the Spin apps to the node's registry (the container shape).
    pub(super) async fn start(label: Label, db: &str, spin: Option<&Path>) -> Result<Running> {
        if label.shape() == Shape::Node {
            let stack = NodeStack::start(label.runtime(), db, spin, UPSTREAM_TIMEOUT_MS).await?;
            return Ok(Running::Containers(stack));
        }
        let mut stack = Stack::spawn(label.runtime(), label.shape(), db, UPSTREAM_TIMEOUT_MS)?;
        stack.wait_ready(START_LIMIT).await?;
        Ok(Running::Processes(stack))
    }

    pub(super) fn gateway_url(&self) -> String {
        match self {
            Running::Processes(s) => s.gateway_url.clone(),
            Running::Containers(s) => s.gateway_url.clone(),
        }
    }

    /// customer-service's own URL where it is a separate process or container (not in the
    /// combined shape, whose services are private).
    pub(super) fn customer_service_url(&self) -> Option<String> {
        match self {
            Running::Processes(s) => s.customer_service.as_ref().map(|c| c.url()),
            Running::Containers(s) => Some(s.customer_service_url.clone()),
        }
    }

    /// The processes to sample, by service: the stack's processes, or each container's shim
    /// with its task below it.
    pub(super) fn pids(&self) -> Vec<(String, i32)> {
        match self {
            Running::Processes(s) => s.pids(),
            Running::Containers(s) => s.pids(),
        }
    }

    /// Stops every process (container, containerd, registry); what a node left behind is said,
    /// as the run goes on.
    pub(super) fn stop(&mut self, grace: Duration) {
        match self {
            Running::Processes(s) => s.stop(grace),
            Running::Containers(s) => {
                if let Err(e) = s.stop(grace) {
                    eprintln!("crm-bench run: {e:#}");
                }
            }
        }
    }
}
