//! The Kubernetes manifests' resources (k8s/containers/<service>.yaml, k8s/wasm/<service>.yaml),
//! the one source, as the cgroup settings a kubelet derives from them on cgroup v1: the CPU
//! limit as a CFS quota, the memory limit with swap equal to it (no swap), the CPU request as
//! CPU shares (`MilliCPUToShares`: millicores × 1024 / 1000). The memory request has no cgroup
//! v1 setting under a kubelet (it only schedules); it is read and reported, not applied.

#[cfg(test)]
use std::path::Path;

use anyhow::{bail, Context, Result};

use crate::stack::{Runtime, Service};

/// CFS period the quota is expressed in (the kernel's and the kubelet's default).
pub const CFS_PERIOD_US: u64 = 100_000;

/// One container's requests and limits, in kernel units.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Resources {
    pub cpu_request_milli: u64,
    pub cpu_limit_milli: u64,
    pub memory_request: u64,
    pub memory_limit: u64,
}

impl Resources {
    /// `cpu.cfs_quota_us` for [`CFS_PERIOD_US`].
    pub fn cfs_quota_us(&self) -> u64 {
        self.cpu_limit_milli * CFS_PERIOD_US / 1000
    }

    /// `cpu.shares` (kubelet: at least 2).
    pub fn cpu_shares(&self) -> u64 {
        (self.cpu_request_milli * 1024 / 1000).max(2)
    }
}

/// The manifest of `svc` for `runtime`: k8s/containers/ for Axum, k8s/wasm/ for Spin.
pub fn manifest(runtime: Runtime, svc: Service) -> std::path::PathBuf {
    let dir = match runtime {
        Runtime::Axum => "containers",
        Runtime::Spin => "wasm",
    };
    crate::repo_root()
        .join("k8s")
        .join(dir)
        .join(format!("{}.yaml", svc.as_str()))
}

/// Reads the resources of `svc`'s workload for `runtime` from its manifest.
pub fn of(runtime: Runtime, svc: Service) -> Result<Resources> {
    let path = manifest(runtime, svc);
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("cannot read {}", path.display()))?;
    parse(&text).with_context(|| format!("resources in {}", path.display()))
}

#[cfg(test)]
fn from_file(path: &Path) -> Result<Resources> {
    parse(&std::fs::read_to_string(path)?)
}

/// The first `resources:` block of a manifest (both kinds have exactly one): its `requests`
/// and `limits`, each with `cpu` and `memory`. A line-based reader of that block only: the
/// manifests are the project's own, and validate.sh checks them as YAML.
pub fn parse(text: &str) -> Result<Resources> {
    let lines: Vec<&str> = text.lines().collect();
    let start = lines
        .iter()
        .position(|l| l.trim() == "resources:")
        .context("no resources: block")?;
    let indent = |l: &str| l.len() - l.trim_start().len();
    let base = indent(lines[start]);
    let (mut section, mut values) = (String::new(), std::collections::HashMap::new());
    for line in &lines[start + 1..] {
        let t = line.trim();
        if t.is_empty() || t.starts_with('#') {
            continue;
        }
        if indent(line) <= base {
            break;
        }
        let (key, value) = t.split_once(':').context("a line without a key")?;
        let value = value.trim().trim_matches('"').trim_matches('\'');
        if value.is_empty() {
            section = key.to_string();
        } else {
            values.insert(format!("{section}.{key}"), value.to_string());
        }
    }
    let get = |k: &str| values.get(k).with_context(|| format!("no {k}"));
    Ok(Resources {
        cpu_request_milli: milli_cpu(get("requests.cpu")?)?,
        cpu_limit_milli: milli_cpu(get("limits.cpu")?)?,
        memory_request: bytes(get("requests.memory")?)?,
        memory_limit: bytes(get("limits.memory")?)?,
    })
}

/// "100m" -> 100, "1" -> 1000, "1.5" -> 1500.
pub fn milli_cpu(q: &str) -> Result<u64> {
    if let Some(m) = q.strip_suffix('m') {
        return m.parse().with_context(|| format!("CPU quantity {q}"));
    }
    let v: f64 = q.parse().with_context(|| format!("CPU quantity {q}"))?;
    if v.is_nan() || v <= 0.0 {
        bail!("CPU quantity {q}");
    }
    Ok((v * 1000.0).round() as u64)
}

/// "256Mi" -> 268435456, "1Gi", "64M", "1000" (bytes).
pub fn bytes(q: &str) -> Result<u64> {
    const UNITS: [(&str, u64); 8] = [
        ("Ki", 1 << 10),
        ("Mi", 1 << 20),
        ("Gi", 1 << 30),
        ("Ti", 1 << 40),
        ("k", 1_000),
        ("M", 1_000_000),
        ("G", 1_000_000_000),
        ("T", 1_000_000_000_000),
    ];
    for (suffix, factor) in UNITS {
        if let Some(n) = q.strip_suffix(suffix) {
            let n: u64 = n.parse().with_context(|| format!("memory quantity {q}"))?;
            return Ok(n * factor);
        }
    }
    q.parse().with_context(|| format!("memory quantity {q}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantities() {
        assert_eq!(milli_cpu("100m").unwrap(), 100);
        assert_eq!(milli_cpu("1").unwrap(), 1000);
        assert_eq!(milli_cpu("0.5").unwrap(), 500);
        assert_eq!(bytes("256Mi").unwrap(), 256 << 20);
        assert_eq!(bytes("64M").unwrap(), 64_000_000);
        assert!(bytes("lots").is_err());
    }

    #[test]
    fn every_manifest_has_resources_and_both_stacks_match() {
        for svc in [
            Service::Gateway,
            Service::CustomerService,
            Service::OrderService,
        ] {
            let axum = from_file(&manifest(Runtime::Axum, svc)).unwrap();
            let spin = from_file(&manifest(Runtime::Spin, svc)).unwrap();
            assert_eq!(
                axum,
                spin,
                "{}: the two stacks' resources differ",
                svc.as_str()
            );
            assert!(axum.cfs_quota_us() > 0 && axum.cpu_shares() >= 2);
        }
    }

    #[test]
    fn the_block_ends_at_its_indentation() {
        let r = parse(
            "spec:\n  resources:\n    requests:\n      cpu: 250m\n      memory: 64Mi\n    limits:\n      cpu: \"2\"\n      memory: 1Gi\n  other:\n    cpu: 9\n",
        )
        .unwrap();
        assert_eq!(r.cfs_quota_us(), 200_000);
        assert_eq!(r.cpu_shares(), 256);
        assert_eq!(r.memory_limit, 1 << 30);
        assert_eq!(r.memory_request, 64 << 20);
    }
}
