//! The run's environment.json: the machine and tool versions (results/environment.rs), the pins
//! a local run depends on (versions.env) and every setting, each said the way the report's
//! Environment section prints it.

use std::collections::BTreeMap;

use anyhow::Result;
use crm_harness::pg;
use serde_json::Value;

use super::{density, soak, Run};
use crate::local::tooling;
use crate::results::label::Label;
use crate::results::pins;

impl Run {
    /// environment.json: the machine, the tools, the pins (versions.env) and every setting of
    /// the run, as the report's Environment section shows them.
    pub(super) fn environment(&mut self) -> Result<()> {
        let s = &self.settings;
        let spin_column = self.spin.as_ref().map(|spin| {
            format!(
                "{} ({}); spin = three `spin up` (one per service manifest), spin-combined = one \
                 `spin up` of spin-crm/spin.toml{}",
                tooling::spin_version(spin),
                spin.display(),
                if self.measures_size_variant() {
                    format!(
                        ", {} = the size-optimised build of the same components (opt-level \
                         \"s\", wasm-opt -Oz; the headline columns are built for speed): its \
                         module sizes and /compute on its gateway alone",
                        Label::SpinSize.as_str()
                    )
                } else {
                    String::new()
                }
            )
        });
        // versions.env, the pins file the scripts source: the ones a local run depends on.
        let pinned = pins::read(&crm_harness::repo_root()).unwrap_or_else(|e| {
            self.progress.say(&format!("note: {e}"));
            BTreeMap::new()
        });
        let pin = |name: &str| -> Value {
            pinned
                .get(name)
                .map_or(Value::Null, |v| Value::String(v.clone()))
        };
        let mut pins = BTreeMap::new();
        pins.insert("spin_cli".to_string(), pin("SPIN_CLI_VERSION"));
        pins.insert("spin_sdk".to_string(), pin("SPIN_SDK_VERSION"));
        pins.insert(
            "postgres_image".to_string(),
            Value::String(format!(
                "{} (k3d only)",
                pin("POSTGRES_IMAGE").as_str().unwrap_or("?")
            )),
        );
        let pairs = s
            .compute_pairs
            .iter()
            .map(|(i, r)| format!("{i}:{r}"))
            .collect::<Vec<_>>()
            .join(" ");
        let labels = self
            .labels
            .iter()
            .map(|l| l.as_str())
            .collect::<Vec<_>>()
            .join(" ");
        let cores = crm_harness::budget::online_cpus();
        let settings: BTreeMap<String, Value> = [
            ("stacks", labels),
            ("spin_column", spin_column.unwrap_or_default()),
            ("quick", u8::from(s.quick).to_string()),
            ("vus", s.vus.to_string()),
            ("duration", s.duration.clone()),
            ("scenario_gap", s.scenario_gap.clone()),
            ("scale_levels", s.scale_levels.clone()),
            ("level_duration", s.level_duration.clone()),
            ("compute_pairs", pairs),
            ("compute_duration", s.compute_duration.clone()),
            ("coldstart_runs", format!("{} (+1 warm-up)", s.cold_runs)),
            (
                "seed_rows",
                format!(
                    "{}:{} (customers:orders, SQL generate_series)",
                    s.seed_customers, s.seed_orders
                ),
            ),
            (
                "k6_seed",
                format!(
                    "{} customers, {} orders (through the API)",
                    s.k6_seed_customers, s.k6_seed_orders
                ),
            ),
            (
                "build",
                match &self.axum_bin_dir {
                    None => format!(
                        "for speed on both sides: cargo --release, opt-level 3 (axum-crm); \
                         spin-crm: {}",
                        tooling::wasm_build_info()
                    ),
                    Some(dir) => format!(
                        "axum-crm: the binaries in {} as they were built (--axum-bin-dir; not \
                         necessarily a release build: figures only check the pipeline); \
                         spin-crm: {}",
                        dir.display(),
                        tooling::wasm_build_info()
                    ),
                },
            ),
            (
                "size_variant",
                if self.measures_size_variant() {
                    format!(
                        "{}: spin-crm's release-size profile (opt-level \"s\") + wasm-opt -Oz; \
                         module sizes and the cpu-bound suite on its gateway alone",
                        Label::SpinSize.as_str()
                    )
                } else if s.size_variant {
                    "not measured (the spin stack is not in this run)".into()
                } else {
                    "not measured (--quick or --no-size-variant; --size-variant adds it)".into()
                },
            ),
            (
                "db_pool_max_axum",
                std::env::var("DB_POOL_MAX").unwrap_or_else(|_| "5 (default)".into()),
            ),
            (
                "postgres_server",
                pg::hide_password(self.server.admin_url()),
            ),
            (
                "cpu_sharing",
                format!(
                    "{cores} cores; {}; stacks measured one after the other",
                    crm_harness::budget::installed().map_or("no budget".into(), |b| b.describe())
                ),
            ),
            (
                "capacity",
                format!(
                    "wrk, 1 thread, {} connections, {} s per target and route",
                    s.wrk_connections, s.capacity_seconds
                ),
            ),
            (
                "ladder",
                format!(
                    "k6 constant-arrival-rate at {} req/s (up to each gateway's capacity), {} \
                     each; p99 target {} ms",
                    s.ladder_rates
                        .iter()
                        .map(u32::to_string)
                        .collect::<Vec<_>>()
                        .join(", "),
                    s.ladder_duration,
                    s.p99_target_ms
                ),
            ),
            (
                "samples_per_figure",
                if s.samples > 1 {
                    format!(
                        "{} (every k6 suite, the stacks interleaved; figures are medians)",
                        s.samples
                    )
                } else {
                    "1 (indicative only)".into()
                },
            ),
            (
                crate::results::collect::DENSITY_SETTING,
                density::setting(s),
            ),
            (
                crate::results::collect::SOAK_SETTING,
                soak::setting(s.soak, s.soak_interval),
            ),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), Value::String(v)))
        .collect();
        let mut env = crate::results::environment::environment("local", pins, settings);
        env.cpu_budget = Some(super::budget::describe(self.server.started_here()));
        // The machine's CPUs, not the generator's share this process is pinned to.
        if let Some(cpu) = env.cpu.as_mut() {
            cpu.cores = u32::try_from(cores).ok();
        }
        crate::results::collect::write_json(&self.out.join("environment.json"), &env)
            .map_err(anyhow::Error::msg)?;
        Ok(())
    }
}
