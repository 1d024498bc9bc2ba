//! The node runtime's versions, in one place (the tool table, scripts/lib/tools.sh, and the
//! shim's resolver, scripts/lib/shim.sh, fetch them; a test below keeps them equal).

/// containerd, from Debian trixie's package (1.7: Docker's 1.6.20 cannot pull a `spin
/// registry push` artifact). The tool table's `containerd-private`.
pub const CONTAINERD_VERSION: &str = "1.7.24";
/// The Debian release the private containerd and the registry come from.
pub const DEBIAN_SUITE: &str = "trixie";
/// Debian's `docker-registry` (distribution 2.8), the loopback registry.
pub const REGISTRY_VERSION: &str = "2.8.3";
/// containerd-shim-spin, the k3d node image's (scripts/lib/cluster.sh), Spin 3.5.0 inside.
pub const SHIM_VERSION: &str = "0.22.0";
/// The Spin inside that shim (what its startup reports; docs).
pub const SHIM_SPIN_VERSION: &str = "3.5.0";

#[cfg(test)]
mod tests {
    use super::*;

    fn read(path: &str) -> String {
        std::fs::read_to_string(crate::repo_root().join(path)).unwrap()
    }

    #[test]
    fn the_scripts_fetch_these_versions() {
        let tools = read("scripts/lib/tools.sh");
        assert!(tools.contains(&format!(
            "[containerd-private]=\"debx:{DEBIAN_SUITE}:containerd:{CONTAINERD_VERSION}:containerd\""
        )));
        assert!(tools.contains(&format!(
            "[docker-registry]=\"debx:{DEBIAN_SUITE}:docker-registry:{REGISTRY_VERSION}:docker-registry\""
        )));
        let shim = read("scripts/lib/shim.sh");
        assert!(shim.contains(&format!("CRM_SHIM_VERSION=\"{SHIM_VERSION}\"")));
        let cluster = read("scripts/lib/cluster.sh");
        assert!(
            cluster.contains(SHIM_VERSION),
            "the k3d node image's shim is another version"
        );
    }
}
