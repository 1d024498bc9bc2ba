//! The columns of a results folder and its report, by name: the stacks a run measures and the
//! variants beside them. A label names the stack's directory (`<label>/k6-load.json`, …) and
//! its key in summary.json; the results keep it as a string (a k3d run or an older file may
//! hold others), and this type says what the known ones are.

use crm_core::http::Runtime;

/// A known column. The variants (`spin-combined`, `spin-size`) are the Spin components
/// measured another way: each measures only some figures, by design.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, clap::ValueEnum)]
pub enum Label {
    /// The three Axum services as native release binaries.
    Axum,
    /// The headline Spin column: three `spin up`s, one per service manifest, talking HTTP.
    Spin,
    /// The variant: one `spin up` of spin-crm/spin.toml, the services chained in-process
    /// (cold start, memory and the load test only).
    SpinCombined,
    /// The variant: the same components built for size (opt-level "s", wasm-opt -Oz): module
    /// sizes and /compute on its gateway alone. Measured beside `spin`, never asked for by
    /// itself (`crm-bench run --stacks` does not offer it).
    #[value(skip)]
    SpinSize,
    /// The container shape of `axum`: the three services as the static musl images under runc
    /// on the node runtime (a private containerd 1.7, k8s/'s resources as cgroup limits; root),
    /// as k3d's Deployments run them.
    AxumContainer,
    /// The container shape of `spin`: the three per-service Spin apps under
    /// containerd-shim-spin v0.22.0 on the same node runtime, as SpinKube runs them.
    SpinShim,
}

impl Label {
    pub const ALL: [Label; 6] = [
        Label::Axum,
        Label::Spin,
        Label::SpinCombined,
        Label::SpinSize,
        Label::AxumContainer,
        Label::SpinShim,
    ];

    /// The columns in the container shape (the node runtime).
    pub const CONTAINERS: [Label; 2] = [Label::AxumContainer, Label::SpinShim];

    /// The directory and key name.
    pub fn as_str(self) -> &'static str {
        match self {
            Label::Axum => "axum",
            Label::Spin => "spin",
            Label::SpinCombined => "spin-combined",
            Label::SpinSize => "spin-size",
            Label::AxumContainer => "axum-container",
            Label::SpinShim => "spin-shim",
        }
    }

    /// The known label of this name, if it is one.
    pub fn parse(name: &str) -> Option<Label> {
        Label::ALL.into_iter().find(|l| l.as_str() == name)
    }

    /// The runtime that answers its requests.
    pub fn runtime(self) -> Runtime {
        match self {
            Label::Axum | Label::AxumContainer => Runtime::Axum,
            Label::Spin | Label::SpinCombined | Label::SpinSize | Label::SpinShim => Runtime::Spin,
        }
    }

    /// A variant row: measures only some figures by design, so what it does not write is not
    /// missing.
    pub fn is_variant(self) -> bool {
        matches!(self, Label::SpinCombined | Label::SpinSize)
    }

    /// A column of the container shape (runs on the node runtime).
    pub fn is_container(self) -> bool {
        Label::CONTAINERS.contains(&self)
    }
}

impl std::fmt::Display for Label {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_variants_are_typed() {
        for label in Label::ALL {
            assert_eq!(Label::parse(label.as_str()), Some(label));
        }
        assert_eq!(Label::parse("nginx"), None);
        assert!(Label::SpinSize.is_variant() && Label::SpinCombined.is_variant());
        assert!(!Label::Axum.is_variant() && !Label::Spin.is_variant());
        assert_eq!(Label::SpinSize.runtime(), Runtime::Spin);
    }

    #[test]
    fn the_size_build_is_not_a_stack_to_ask_for() {
        use clap::ValueEnum;
        let offered: Vec<&str> = Label::value_variants().iter().map(|l| l.as_str()).collect();
        assert_eq!(
            offered,
            [
                "axum",
                "spin",
                "spin-combined",
                "axum-container",
                "spin-shim"
            ]
        );
    }
}
