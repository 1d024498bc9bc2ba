//! The run's settings: the quick and full defaults, each overridable by a flag or, where
//! `crm-bench run --help` names one, an environment variable.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use crm_harness::stack::Shape;

use crate::results::label::Label;

/// What a measured column's stack is, for the run: its deployment shape and how much of the
/// plan it takes.
pub trait StackColumn {
    fn shape(self) -> Shape;
    /// The variant row measures less: no CPU-bound, scale, error or ping-db suites (the
    /// gateway answers those the same way in both Spin shapes).
    fn full_suite(self) -> bool;
}

/// The columns measured when `--stacks` is not given: the process shape, and as root the
/// container shape beside it (the node runtime needs root; as another user the run says what
/// it leaves out).
pub fn default_stacks(root: bool) -> Vec<Label> {
    let mut labels = vec![Label::Axum, Label::Spin, Label::SpinCombined];
    if root {
        labels.extend(Label::CONTAINERS);
    }
    labels
}

impl StackColumn for Label {
    fn shape(self) -> Shape {
        match self {
            Label::SpinCombined => Shape::Combined,
            Label::Axum | Label::Spin | Label::SpinSize => Shape::Services,
            Label::AxumContainer | Label::SpinShim => Shape::Node,
        }
    }

    /// The container columns take the load suite, the hop, capacity and the ladder: what
    /// tells the shape apart. The CPU-bound, scale, error and ping-db suites answer the same
    /// code's figures again (their container cost is in the load suite's CPU per request).
    fn full_suite(self) -> bool {
        !matches!(
            self,
            Label::SpinCombined | Label::AxumContainer | Label::SpinShim
        )
    }
}

#[derive(Args, Debug)]
pub struct RunArgs {
    /// Short runs (a few minutes for all stacks once built) that check the pipeline end to
    /// end: one sample per figure, indicative only.
    #[arg(long)]
    pub quick: bool,
    /// Which columns, comma-separated [default: axum,spin,spin-combined, and as root also
    /// axum-container,spin-shim: the container shape on the node runtime, which needs root,
    /// Docker (the Axum images) and the node tools]
    #[arg(long, value_enum, value_delimiter = ',')]
    pub stacks: Option<Vec<Label>>,
    /// The results folder [default: results/<UTC timestamp>]
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Use the binaries as built (no cargo / build-wasm.sh step).
    #[arg(long)]
    pub no_build: bool,
    /// Measure the Axum services and floor in this directory as they were built, instead of
    /// building them for release: CI's quick run takes the debug binaries its native stage
    /// built (its figures only check the pipeline). The report's environment says which.
    #[arg(long)]
    pub axum_bin_dir: Option<PathBuf>,
    /// Also measure `spin-size`, the size-optimised Spin build (opt-level "s", wasm-opt -Oz):
    /// its module sizes and /compute, beside the speed-built `spin` column [default: in a full
    /// run with the spin stack; not in --quick]
    #[arg(long, conflicts_with = "no_size_variant")]
    pub size_variant: bool,
    /// Leave the `spin-size` variant out of a full run.
    #[arg(long)]
    pub no_size_variant: bool,
    /// Samples of every k6 figure: the suites run this many times, the stacks interleaved
    /// (A B A B A B); the report gives the median and the range [default: 3; quick 1]
    #[arg(long, env = "SAMPLES", value_parser = clap::value_parser!(u32).range(1..=20))]
    pub samples: Option<u32>,
    /// k6 virtual users of the load, cpu-bound, error, ping-db and floor suites [default: 10; quick 4]
    #[arg(long, env = "VUS")]
    pub vus: Option<u32>,
    /// Duration of each load, error, ping-db and floor scenario, per sample [default: 5s; quick 3s]
    #[arg(long, env = "DURATION")]
    pub duration: Option<String>,
    /// Pause between scenarios [default: 1s; quick 500ms]
    #[arg(long, env = "SCENARIO_GAP")]
    pub scenario_gap: Option<String>,
    /// Client levels of the scale suite [default: 1,5,10,20,50,100; quick 1,4,8]
    #[arg(long, env = "SCALE_LEVELS")]
    pub scale_levels: Option<String>,
    /// Duration of each scale level, per sample [default: 5s; quick 3s]
    #[arg(long, env = "LEVEL_DURATION")]
    pub level_duration: Option<String>,
    /// Pause between scale levels [default: 2s; quick 500ms]
    #[arg(long, env = "LEVEL_GAP")]
    pub level_gap: Option<String>,
    /// /compute sizes, "ITER_N:REC_N" pairs separated by spaces
    /// [default: "10000:15 100000:20 1000000:25 10000000:30"; quick "100000:20 1000000:25"]
    #[arg(long, env = "COMPUTE_PAIRS")]
    pub compute_pairs: Option<String>,
    /// Duration of each /compute scenario, per sample [default: 3s; quick 3s]
    #[arg(long, env = "COMPUTE_DURATION")]
    pub compute_duration: Option<String>,
    /// Cold starts per stack, after one warm-up start [default: 20; quick 3]
    #[arg(long, env = "COLD_RUNS")]
    pub cold_runs: Option<u32>,
    /// Seconds of idle memory sampling [default: 10; quick 3]
    #[arg(long, env = "IDLE_SECONDS")]
    pub idle_seconds: Option<u64>,
    /// Seed rows, "CUSTOMERS:ORDERS" [default: 10000:50000; quick 2000:5000]
    #[arg(long, env = "SEED_ROWS")]
    pub seed_rows: Option<String>,
    /// Customers the k6 scripts create through the API first [default: 200; quick 40]
    #[arg(long, env = "K6_SEED_CUSTOMERS")]
    pub k6_seed_customers: Option<u32>,
    /// Orders the k6 scripts create through the API first [default: 50; quick 10]
    #[arg(long, env = "K6_SEED_ORDERS")]
    pub k6_seed_orders: Option<u32>,
    /// Density: how many copies of customer-service to start at once, comma-separated; 0 or
    /// empty leaves the measurement out [default: 1,5,10,20; quick 1,2]
    #[arg(long, env = "DENSITY_COUNTS")]
    pub density_counts: Option<String>,
    /// Seconds of wrk per capacity target and route [default: 4; quick 3]
    #[arg(long, env = "CAPACITY_SECONDS", value_parser = clap::value_parser!(u64).range(1..=600))]
    pub capacity_seconds: Option<u64>,
    /// wrk's connections (one thread) for every capacity figure [default: 10]
    #[arg(long, env = "WRK_CONNECTIONS", value_parser = clap::value_parser!(u32).range(1..=10000))]
    pub wrk_connections: Option<u32>,
    /// Offered rates of the open-loop ladder, requests/s, comma-separated; each stack climbs
    /// them up to its gateway's capacity [default: 50,100,200,400,800,1600,3200,6400; quick
    /// 50,200,800]
    #[arg(long, env = "LADDER_RATES")]
    pub ladder_rates: Option<String>,
    /// Duration of each rate of the ladder [default: 5s; quick 4s]
    #[arg(long, env = "LADDER_DURATION")]
    pub ladder_duration: Option<String>,
    /// The p99 (ms) a ladder rate must stay under to count as served well [default: 50]
    #[arg(long, env = "P99_TARGET_MS")]
    pub p99_target_ms: Option<f64>,
    /// Soak each stack for this long (e.g. 10m) at half of its gateway's read capacity,
    /// sampling RSS/PSS, open descriptors, Postgres connections and p99 every
    /// --soak-interval, with a slope per series and a flag on growth; 0 or off leaves it out
    /// [default: off]
    #[arg(long, env = "SOAK")]
    pub soak: Option<String>,
    /// One soak sample per this interval (the load runs throughout) [default: 60s; quick 10s]
    #[arg(long, env = "SOAK_INTERVAL")]
    pub soak_interval: Option<String>,
}

/// Every setting, resolved.
#[derive(Clone, Debug)]
pub struct Settings {
    pub quick: bool,
    /// Runs of every k6 suite, the stacks interleaved.
    pub samples: u32,
    /// Measure the `spin-size` variant (when the spin stack is measured).
    pub size_variant: bool,
    pub vus: u32,
    pub duration: String,
    pub scenario_gap: String,
    pub scale_levels: String,
    pub level_duration: String,
    pub level_gap: String,
    /// (iterative n, recursive n)
    pub compute_pairs: Vec<(u64, u64)>,
    pub compute_duration: String,
    pub cold_runs: u32,
    pub idle_seconds: u64,
    pub seed_customers: u32,
    pub seed_orders: u32,
    pub k6_seed_customers: u32,
    pub k6_seed_orders: u32,
    /// The N of the density measurement, ascending; empty: not measured.
    pub density_counts: Vec<u32>,
    /// wrk per capacity target and route, seconds.
    pub capacity_seconds: u64,
    pub wrk_connections: u32,
    /// The open-loop ladder's offered rates, ascending.
    pub ladder_rates: Vec<u32>,
    pub ladder_duration: String,
    pub p99_target_ms: f64,
    /// How long each stack is soaked; `None`: no soak.
    pub soak: Option<Duration>,
    /// One soak sample per interval.
    pub soak_interval: Duration,
}

/// The pair whose run is the stack's `k6-cpu-bound.json` (the k6 script's defaults).
pub const MAIN_COMPUTE_PAIR: (u64, u64) = (1_000_000, 25);

/// Seconds between two resource samples.
pub const SAMPLE_INTERVAL_S: f64 = 0.5;

impl Settings {
    pub fn from_args(a: &RunArgs) -> Result<Settings, String> {
        let q = a.quick;
        let pick = |v: &Option<String>, full: &str, quick: &str| {
            v.clone()
                .unwrap_or_else(|| if q { quick } else { full }.to_string())
        };
        let pairs = pick(
            &a.compute_pairs,
            "10000:15 100000:20 1000000:25 10000000:30",
            "100000:20 1000000:25",
        );
        let compute_pairs = pairs
            .split_whitespace()
            .map(|p| {
                let (i, r) = p.split_once(':')?;
                Some((i.parse().ok()?, r.parse().ok()?))
            })
            .collect::<Option<Vec<_>>>()
            .filter(|v| !v.is_empty())
            .ok_or_else(|| format!("COMPUTE_PAIRS: \"{pairs}\" is not \"ITER_N:REC_N ...\""))?;
        let seed = pick(&a.seed_rows, "10000:50000", "2000:5000");
        let (seed_customers, seed_orders) = seed
            .split_once(':')
            .and_then(|(c, o)| Some((c.parse().ok()?, o.parse().ok()?)))
            .filter(|(c, _): &(u32, u32)| *c > 0)
            .ok_or_else(|| format!("SEED_ROWS: \"{seed}\" is not \"CUSTOMERS:ORDERS\""))?;
        let settings = Settings {
            quick: q,
            samples: a.samples.unwrap_or(if q { 1 } else { 3 }),
            // A quick run (CI's) stays cheap: the variant only when asked for.
            size_variant: a.size_variant || (!q && !a.no_size_variant),
            vus: a.vus.unwrap_or(if q { 4 } else { 10 }),
            duration: pick(&a.duration, "5s", "3s"),
            scenario_gap: pick(&a.scenario_gap, "1s", "500ms"),
            scale_levels: pick(&a.scale_levels, "1,5,10,20,50,100", "1,4,8"),
            level_duration: pick(&a.level_duration, "5s", "3s"),
            level_gap: pick(&a.level_gap, "2s", "500ms"),
            compute_pairs,
            compute_duration: pick(&a.compute_duration, "3s", "3s"),
            cold_runs: a.cold_runs.unwrap_or(if q { 3 } else { 20 }),
            idle_seconds: a.idle_seconds.unwrap_or(if q { 3 } else { 10 }),
            seed_customers,
            seed_orders,
            k6_seed_customers: a.k6_seed_customers.unwrap_or(if q { 40 } else { 200 }),
            k6_seed_orders: a.k6_seed_orders.unwrap_or(if q { 10 } else { 50 }),
            density_counts: density_counts(&pick(&a.density_counts, "1,5,10,20", "1,2"))?,
            capacity_seconds: a.capacity_seconds.unwrap_or(if q { 3 } else { 4 }),
            wrk_connections: a.wrk_connections.unwrap_or(10),
            ladder_rates: ladder_rates(&pick(
                &a.ladder_rates,
                "50,100,200,400,800,1600,3200,6400",
                "50,200,800",
            ))?,
            ladder_duration: pick(&a.ladder_duration, "5s", "4s"),
            p99_target_ms: a
                .p99_target_ms
                .filter(|t| t.is_finite() && *t > 0.0)
                .map_or_else(
                    || match a.p99_target_ms {
                        None => Ok(50.0),
                        Some(t) => Err(format!("P99_TARGET_MS: {t} is not a positive number")),
                    },
                    Ok,
                )?,
            soak: soak_duration(a.soak.as_deref())?,
            soak_interval: soak_interval(&pick(&a.soak_interval, "60s", "10s"))?,
        };
        if let Some(soak) = settings.soak {
            // The slopes need three points.
            let samples = soak.as_secs_f64() / settings.soak_interval.as_secs_f64();
            if samples < 3.0 {
                return Err(format!(
                    "SOAK: {} s at SOAK_INTERVAL {} s gives {} sample(s); a slope needs at least \
                     3 (a longer --soak or a shorter --soak-interval)",
                    soak.as_secs(),
                    settings.soak_interval.as_secs_f64(),
                    samples.round()
                ));
            }
        }
        for (name, text) in [
            ("DURATION", &settings.duration),
            ("SCENARIO_GAP", &settings.scenario_gap),
            ("LEVEL_DURATION", &settings.level_duration),
            ("LEVEL_GAP", &settings.level_gap),
            ("COMPUTE_DURATION", &settings.compute_duration),
            ("LADDER_DURATION", &settings.ladder_duration),
        ] {
            if crate::results::k6_summary::duration_seconds(text).is_none() {
                return Err(format!(
                    "{name}: \"{text}\" is not a k6 duration (e.g. 30s, 1m30s)"
                ));
            }
        }
        Ok(settings)
    }

    /// Whole seconds of a k6 duration (rounded up), for estimates.
    pub fn secs(text: &str) -> u64 {
        crate::results::k6_summary::duration_seconds(text).map_or(0, |s| s.ceil() as u64)
    }

    pub fn scale_level_count(&self) -> u64 {
        self.scale_levels
            .split(',')
            .filter(|s| !s.trim().is_empty())
            .count() as u64
    }
}

/// "50,200,800" -> [50, 200, 800] (sorted, each once); at least one rate, each above 0.
fn ladder_rates(text: &str) -> Result<Vec<u32>, String> {
    let mut rates = text
        .split(',')
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .map(|n| n.parse::<u32>().ok().filter(|n| *n > 0))
        .collect::<Option<Vec<u32>>>()
        .filter(|r| !r.is_empty())
        .ok_or_else(|| format!("LADDER_RATES: \"{text}\" is not \"RATE,RATE,...\" (RATE > 0)"))?;
    rates.sort_unstable();
    rates.dedup();
    Ok(rates)
}

/// "10m" -> 10 minutes; absent, "0", "off" or "" -> no soak.
fn soak_duration(text: Option<&str>) -> Result<Option<Duration>, String> {
    let Some(text) = text.map(str::trim) else {
        return Ok(None);
    };
    if matches!(text, "" | "0" | "off") {
        return Ok(None);
    }
    crate::results::k6_summary::duration_seconds(text)
        .filter(|s| *s >= 1.0)
        .map(|s| Some(Duration::from_secs_f64(s)))
        .ok_or_else(|| {
            format!("SOAK: \"{text}\" is not a duration of at least 1s (e.g. 10m, 40s) or off")
        })
}

/// "60s" -> 60 seconds; at least one second.
fn soak_interval(text: &str) -> Result<Duration, String> {
    crate::results::k6_summary::duration_seconds(text.trim())
        .filter(|s| *s >= 1.0)
        .map(Duration::from_secs_f64)
        .ok_or_else(|| {
            format!("SOAK_INTERVAL: \"{text}\" is not a duration of at least 1s (e.g. 60s)")
        })
}

/// "1,5,10,20" -> [1, 5, 10, 20] (sorted, each once); "0" or "" -> none.
fn density_counts(text: &str) -> Result<Vec<u32>, String> {
    let bad = || format!("DENSITY_COUNTS: \"{text}\" is not \"N,N,...\" (N > 0) or 0");
    if text.trim() == "0" {
        return Ok(Vec::new());
    }
    let mut counts = text
        .split(',')
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .map(|n| n.parse::<u32>().ok().filter(|n| *n > 0))
        .collect::<Option<Vec<u32>>>()
        .ok_or_else(bad)?;
    counts.sort_unstable();
    counts.dedup();
    Ok(counts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        run: RunArgs,
    }

    fn settings(args: &[&str]) -> Result<Settings, String> {
        let cli = Cli::try_parse_from(std::iter::once("run").chain(args.iter().copied()))
            .map_err(|e| e.to_string())?;
        Settings::from_args(&cli.run)
    }

    #[test]
    fn quick_and_full_defaults() {
        let full = settings(&["--vus", "10"]).unwrap();
        assert_eq!((full.cold_runs, full.compute_pairs.len()), (20, 4));
        assert_eq!((full.samples, full.duration.as_str()), (3, "5s"));
        assert_eq!((full.seed_customers, full.seed_orders), (10_000, 50_000));
        let quick = settings(&["--quick", "--vus", "4", "--duration", "3s"]).unwrap();
        assert_eq!((quick.cold_runs, quick.duration.as_str()), (3, "3s"));
        assert_eq!(quick.samples, 1);
        assert!(settings(&["--samples", "0"]).is_err());
        assert_eq!(quick.compute_pairs, [(100_000, 20), (1_000_000, 25)]);
    }

    #[test]
    fn density_counts_default_parse_and_switch_off() {
        assert_eq!(settings(&[]).unwrap().density_counts, [1, 5, 10, 20]);
        assert_eq!(settings(&["--quick"]).unwrap().density_counts, [1, 2]);
        let custom = settings(&["--density-counts", "10, 1,5,5"]).unwrap();
        assert_eq!(custom.density_counts, [1, 5, 10]);
        for off in ["0", ""] {
            assert!(settings(&["--density-counts", off])
                .unwrap()
                .density_counts
                .is_empty());
        }
        for bad in ["1,x", "0,5", "five"] {
            let err = settings(&["--density-counts", bad]).unwrap_err();
            assert!(err.contains("DENSITY_COUNTS"), "{bad}: {err}");
        }
    }

    #[test]
    fn bad_settings_are_refused_with_their_name() {
        let err = settings(&["--compute-pairs", "10:x"]).unwrap_err();
        assert!(err.contains("COMPUTE_PAIRS"), "{err}");
        let err = settings(&["--seed-rows", "0:5"]).unwrap_err();
        assert!(err.contains("SEED_ROWS"), "{err}");
        let err = settings(&["--duration", "soon"]).unwrap_err();
        assert!(err.contains("DURATION"), "{err}");
        assert!(settings(&["--stacks", "axum,nginx"]).is_err());
    }

    #[test]
    fn ladder_and_capacity_settings_default_and_refuse_nonsense() {
        let full = settings(&[]).unwrap();
        assert_eq!(
            full.ladder_rates,
            [50, 100, 200, 400, 800, 1600, 3200, 6400]
        );
        assert_eq!((full.capacity_seconds, full.p99_target_ms), (4, 50.0));
        let quick = settings(&["--quick"]).unwrap();
        assert_eq!(quick.ladder_rates, [50, 200, 800]);
        let custom = settings(&["--ladder-rates", "400, 100,100"]).unwrap();
        assert_eq!(custom.ladder_rates, [100, 400]);
        for bad in ["", "0", "fast", "100,-1"] {
            let err = settings(&["--ladder-rates", bad]).unwrap_err();
            assert!(err.contains("LADDER_RATES"), "{bad}: {err}");
        }
        assert!(settings(&["--p99-target-ms", "0"])
            .unwrap_err()
            .contains("P99_TARGET_MS"));
        assert!(settings(&["--ladder-duration", "soon"]).is_err());
        assert!(settings(&["--capacity-seconds", "0"]).is_err());
    }

    #[test]
    fn the_soak_is_off_by_default_and_its_interval_follows_quick() {
        let full = settings(&[]).unwrap();
        assert_eq!(full.soak, None);
        assert_eq!(full.soak_interval, Duration::from_secs(60));
        let quick = settings(&["--quick", "--soak", "40s"]).unwrap();
        assert_eq!(quick.soak, Some(Duration::from_secs(40)));
        assert_eq!(quick.soak_interval, Duration::from_secs(10));
        let custom = settings(&["--soak", "10m", "--soak-interval", "30s"]).unwrap();
        assert_eq!(custom.soak, Some(Duration::from_secs(600)));
        assert_eq!(custom.soak_interval, Duration::from_secs(30));
        for off in ["0", "off", ""] {
            assert_eq!(settings(&["--soak", off]).unwrap().soak, None, "{off}");
        }
        for bad in ["soon", "500ms"] {
            let err = settings(&["--soak", bad]).unwrap_err();
            assert!(err.contains("SOAK"), "{bad}: {err}");
        }
        let err = settings(&["--soak", "1m", "--soak-interval", "0s"]).unwrap_err();
        assert!(err.contains("SOAK_INTERVAL"), "{err}");
        // Fewer than three samples: no slope.
        let err = settings(&["--soak", "1m"]).unwrap_err();
        assert!(err.contains("at least 3"), "{err}");
    }

    #[test]
    fn labels_map_to_runtimes_and_shapes() {
        assert_eq!(Label::SpinCombined.shape(), Shape::Combined);
        assert_eq!(Label::Spin.shape(), Shape::Services);
        assert!(!Label::SpinCombined.full_suite() && Label::Axum.full_suite());
    }

    #[test]
    fn the_size_variant_runs_in_a_full_run_and_in_quick_only_when_asked() {
        assert!(settings(&[]).unwrap().size_variant);
        assert!(!settings(&["--no-size-variant"]).unwrap().size_variant);
        assert!(!settings(&["--quick"]).unwrap().size_variant);
        assert!(
            settings(&["--quick", "--size-variant"])
                .unwrap()
                .size_variant
        );
        assert!(settings(&["--size-variant"]).unwrap().size_variant);
        assert!(Cli::try_parse_from(["crm-bench", "--size-variant", "--no-size-variant"]).is_err());
    }
}
