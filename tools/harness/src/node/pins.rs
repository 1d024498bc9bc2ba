//! The node runtime's versions for the Rust side. The pins file is versions.env (the tool table,
//! scripts/lib/tools.sh, and the shim's resolver, scripts/lib/shim.sh, read it); a test below
//! keeps these constants equal to it.

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

    /// `KEY=value` of versions.env (its format: one word after the first `=`).
    fn pin(key: &str) -> String {
        read("versions.env")
            .lines()
            .find_map(|line| line.strip_prefix(&format!("{key}=")))
            .unwrap_or_else(|| panic!("versions.env has no {key}"))
            .to_string()
    }

    #[test]
    fn these_are_the_pins_of_versions_env() {
        assert_eq!(pin("CONTAINERD_VERSION"), CONTAINERD_VERSION);
        assert_eq!(pin("CONTAINERD_DEBIAN_SUITE"), DEBIAN_SUITE);
        assert_eq!(pin("REGISTRY_VERSION"), REGISTRY_VERSION);
        assert_eq!(
            pin("CONTAINERD_SHIM_SPIN_VERSION"),
            format!("v{SHIM_VERSION}")
        );
        assert_eq!(pin("SHIM_SPIN_VERSION"), SHIM_SPIN_VERSION);
    }
}
