//! Cold starts of customer-service on the node, as a cluster has them: from the task's start
//! (`ctr run`, what the kubelet's CreateContainer + StartContainer come to) to the first 200
//! on a database route, in two kinds:
//!
//! - **after a pull**: the image removed from containerd's store first (`ctr images rm
//!   --sync`: the garbage collector takes its blobs and snapshots) together with the shim's
//!   precompiled component, then pulled again from the loopback registry; the pull is timed
//!   apart. containerd-shim-spin v0.22.0 (runwasi containerd-shim-wasm v1.0.0) compiles the
//!   component on a start that finds no precompiled content and stores the result as a blob
//!   in containerd's **content store**, labelled `runwasi.io/precompiled/<engine>/<hash>
//!   /original` and kept alive by `containerd.io/gc.ref.content.precompile.<i>` labels on the
//!   image's blobs (runwasi crates/containerd-shim-wasm/src/containerd/client.rs:438-535, at
//!   containerd-shim-wasm/v1.0.0, 5652bc9e): it goes with the image, and
//!   [`Node::remove_images`] checks that it did (removing any blob left);
//! - **cached**: the image and (Spin) the precompiled component in the store, as when a pod
//!   restarts on a node that ran it before.
//!
//! runc's starts are measured the same way (after a pull: the layers unpacked again). The
//! kernel's page cache is not dropped (the machine is shared): a runc start after a pull
//! reads a binary the cache may still hold.

use std::time::{Duration, Instant};

use anyhow::{bail, Result};

use super::{service_spec, Node};
use crate::probe::{fresh_client, get_status};
use crate::procs::free_port;
use crate::stack::{Runtime, Service, NOWHERE, START_LIMIT};

/// Which kind of start.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StartKind {
    AfterPull,
    Cached,
}

impl StartKind {
    pub fn as_str(self) -> &'static str {
        match self {
            StartKind::AfterPull => "after_pull",
            StartKind::Cached => "cached",
        }
    }
}

/// One start.
#[derive(Clone, Debug)]
pub struct ColdStart {
    pub kind: StartKind,
    /// From `ctr run` to the first 200 on the database route.
    pub first_200: Duration,
    /// The pull before it (after a pull only).
    pub pull: Option<Duration>,
    /// Precompiled blobs in the content store once it served (Spin: 1 after its first start
    /// compiled and stored the component; runc: 0).
    pub precompiled_after: usize,
    /// Precompiled blobs that outlived the image removal and were removed by hand.
    pub precompiled_left_by_gc: usize,
}

/// What to start: customer-service of `runtime`, from the registry reference `image` (pulled
/// again before each start after a pull), on `database_url` (migrated, with the row
/// `probe_path` reads).
pub struct Target<'a> {
    pub runtime: Runtime,
    pub image: &'a str,
    pub database_url: &'a str,
    /// A database route, e.g. `/customers/1`.
    pub probe_path: &'a str,
}

/// `after_pull` starts after a pull, then `cached` cached starts, one container at a time,
/// each removed once it served. `progress` gets a line per start.
pub async fn customer_service_starts(
    node: &mut Node,
    target: &Target<'_>,
    after_pull: usize,
    cached: usize,
    mut progress: impl FnMut(&str),
) -> Result<Vec<ColdStart>> {
    let mut samples = Vec::new();
    let kinds = std::iter::repeat_n(StartKind::AfterPull, after_pull)
        .chain(std::iter::repeat_n(StartKind::Cached, cached));
    for (k, kind) in kinds.enumerate() {
        let (pull, left) = match kind {
            StartKind::AfterPull => {
                let left = node.remove_images()?;
                let t = Instant::now();
                node.pull(target.image)?;
                (Some(t.elapsed()), left)
            }
            StartKind::Cached => (None, 0),
        };
        let id = format!("{}-cs-start-{k}", target.runtime.as_str());
        let first_200 = start_once(node, target, &id).await;
        node.remove_container(&id, Duration::from_secs(5));
        let first_200 = first_200?;
        let sample = ColdStart {
            kind,
            first_200,
            pull,
            precompiled_after: node.precompiled_blobs()?.len(),
            precompiled_left_by_gc: left,
        };
        progress(&format!(
            "{} customer-service start {}/{} ({}): first 200 on {} after {:.0} ms{}",
            target.runtime.as_str(),
            k + 1,
            after_pull + cached,
            kind.as_str(),
            target.probe_path,
            first_200.as_secs_f64() * 1000.0,
            pull.map(|p| format!(" (pull {:.0} ms before)", p.as_secs_f64() * 1000.0))
                .unwrap_or_default()
        ));
        samples.push(sample);
    }
    Ok(samples)
}

/// Runs one customer-service container and times its first 200 on the probe route.
pub async fn start_once(node: &mut Node, target: &Target<'_>, id: &str) -> Result<Duration> {
    let port = free_port()?;
    let spec = service_spec(
        target.runtime,
        Service::CustomerService,
        id,
        target.image,
        &format!("127.0.0.1:{port}"),
        target.database_url,
        (NOWHERE, NOWHERE),
        crate::stack::UPSTREAM_TIMEOUT_MS,
    )?;
    let url = format!("http://127.0.0.1:{port}{}", target.probe_path);
    let t0 = Instant::now();
    node.run(&spec)?;
    first_200(node, id, &url, t0).await
}

/// Polls `url` every 10 ms until a 200 (the time since `t0`); the task's status is checked
/// only every half second (each check runs `ctr`, which would take CPU from the start).
pub async fn first_200(node: &Node, id: &str, url: &str, t0: Instant) -> Result<Duration> {
    let client = fresh_client(Duration::from_secs(2));
    let mut checked = Instant::now();
    loop {
        if get_status(&client, url).await == Some(200) {
            return Ok(t0.elapsed());
        }
        if checked.elapsed() > Duration::from_millis(500) {
            checked = Instant::now();
            if node.task_status(id).as_deref() != Some("RUNNING") {
                bail!("{id} exited before serving {url} (containerd's log: node-containerd)");
            }
        }
        if t0.elapsed() > START_LIMIT {
            bail!("{url} did not answer 200 within {START_LIMIT:?}");
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
