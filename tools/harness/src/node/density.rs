//! Density on the node: N customer-service containers of one runtime started together (image
//! and, for Spin, precompiled component cached), each on its own port and cgroup with the
//! manifest's limits, then, once every copy served a database route, each one's memory
//! ([`super::memory`]: working set, PSS of the cgroup's processes, its shim's PSS), then all
//! removed before the next N. The per-copy cost is the caller's arithmetic on these.

use std::time::{Duration, Instant};

use anyhow::Result;

use super::coldstart::{first_200, Target};
use super::memory::ContainerMemory;
use super::{service_spec, Node};
use crate::procs::free_port;
use crate::stack::{Service, NOWHERE, UPSTREAM_TIMEOUT_MS};

/// N copies, up.
#[derive(Clone, Debug)]
pub struct DensityPoint {
    pub n: usize,
    /// From the first `ctr run` until every copy had served its first 200.
    pub all_up: Duration,
    /// Each copy's memory, read once all were up and a second had passed.
    pub copies: Vec<ContainerMemory>,
}

impl DensityPoint {
    pub fn working_set(&self) -> u64 {
        self.copies.iter().map(|c| c.working_set_bytes).sum()
    }
    pub fn cgroup_pss(&self) -> u64 {
        self.copies.iter().map(ContainerMemory::cgroup_pss).sum()
    }
    pub fn shims_pss(&self) -> u64 {
        self.copies
            .iter()
            .map(ContainerMemory::shim_outside_pss)
            .sum()
    }
    pub fn pss_with_shims(&self) -> u64 {
        self.copies.iter().map(ContainerMemory::pss_with_shim).sum()
    }
}

/// One point per N of `ns`; `target.image` must be in the store already.
pub async fn customer_service_density(
    node: &mut Node,
    target: &Target<'_>,
    ns: &[usize],
    mut progress: impl FnMut(&str),
) -> Result<Vec<DensityPoint>> {
    let mut points = Vec::new();
    for &n in ns {
        let point = one_n(node, target, n).await;
        let ids: Vec<String> = node.containers.iter().map(|c| c.id.clone()).collect();
        for id in ids.iter().filter(|id| id.contains("-density-")) {
            node.remove_container(id, Duration::from_secs(5));
        }
        let point = point?;
        progress(&format!(
            "{} density N={n}: all up in {:.0} ms; working set {:.1} MiB, PSS {:.1} MiB in the cgroups + {:.1} MiB of shims",
            target.runtime.as_str(),
            point.all_up.as_secs_f64() * 1000.0,
            mib(point.working_set()),
            mib(point.cgroup_pss()),
            mib(point.shims_pss()),
        ));
        points.push(point);
    }
    Ok(points)
}

async fn one_n(node: &mut Node, target: &Target<'_>, n: usize) -> Result<DensityPoint> {
    let t0 = Instant::now();
    let mut probes = Vec::new();
    for k in 0..n {
        let id = format!("{}-density-{n}-{k}", target.runtime.as_str());
        let port = free_port()?;
        let spec = service_spec(
            target.runtime,
            Service::CustomerService,
            &id,
            target.image,
            &format!("127.0.0.1:{port}"),
            target.database_url,
            (NOWHERE, NOWHERE),
            UPSTREAM_TIMEOUT_MS,
        )?;
        node.run(&spec)?;
        probes.push((id, format!("http://127.0.0.1:{port}{}", target.probe_path)));
    }
    for (id, url) in &probes {
        first_200(node, id, url, t0).await?;
    }
    let all_up = t0.elapsed();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let copies = probes
        .iter()
        .map(|(id, _)| node.memory(id))
        .collect::<Result<Vec<_>>>()?;
    Ok(DensityPoint { n, all_up, copies })
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}
