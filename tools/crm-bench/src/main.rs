//! crm-bench: renders a benchmark results folder into a report a person can look at.
//!
//!   crm-bench report results/<timestamp>
//!
//! reads `<dir>/summary.json` (docs/results-schema.md; written by scripts/lib/summarize.py for
//! both the local run, scripts/bench-local.sh, and the k3d run, scripts/bench-all.sh) and
//! writes `<dir>/report.md` and `<dir>/charts/*.svg`.

mod charts;
mod model;
mod report;
mod run;
mod stack_cmd;
mod table;

use clap::{Parser, Subcommand};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "crm-bench",
    about = "Benchmark reports for the CRM stacks (Axum vs Spin)"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Write report.md and charts/*.svg from a results folder's summary.json.
    Report {
        /// The results folder, e.g. results/20261121T081530Z.
        dir: PathBuf,
        /// Read this summary instead of <dir>/summary.json.
        #[arg(long)]
        summary: Option<PathBuf>,
    },
    /// Run the side-by-side benchmark on this machine (the main job).
    Run(run::RunArgs),
    /// Start a stack on free ports, run a command with its URLs exported, stop the stack.
    Stack(stack_cmd::StackArgs),
}

fn run_report(dir: &Path, summary_path: Option<&Path>) -> Result<(), String> {
    let path = summary_path.map_or_else(|| dir.join("summary.json"), Path::to_path_buf);
    let text = std::fs::read_to_string(&path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let summary = model::Summary::from_json(&text)
        .map_err(|e| format!("{} is not a summary.json: {e}", path.display()))?;
    let rep = report::build(&summary);
    let chart_dir = dir.join("charts");
    std::fs::create_dir_all(&chart_dir)
        .map_err(|e| format!("cannot create {}: {e}", chart_dir.display()))?;
    let mut drawn = 0;
    for spec in rep.charts.iter().filter(|c| c.has_data()) {
        let file = chart_dir.join(&spec.file);
        charts::render(spec, &file).map_err(|e| format!("chart {}: {e}", file.display()))?;
        drawn += 1;
    }
    let out = dir.join("report.md");
    std::fs::write(&out, &rep.markdown)
        .map_err(|e| format!("cannot write {}: {e}", out.display()))?;
    println!(
        "wrote {} and {drawn} chart(s) in {}",
        out.display(),
        chart_dir.display()
    );
    Ok(())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match &cli.command {
        Command::Report { dir, summary } => run_report(dir, summary.as_deref()),
        Command::Run(args) => run::execute(args),
        Command::Stack(args) => stack_cmd::execute(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("crm-bench: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_writes_markdown_and_svg_charts() {
        let dir = std::env::temp_dir().join(format!("crm-bench-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("summary.json"),
            include_str!("../tests/fixtures/summary.json"),
        )
        .unwrap();
        run_report(&dir, None).unwrap();
        let md = std::fs::read_to_string(dir.join("report.md")).unwrap();
        assert!(md.contains("![Latency percentiles, scenario read"));
        let svg = std::fs::read_to_string(dir.join("charts/latency-read.svg")).unwrap();
        assert!(svg.starts_with("<svg"));
        assert!(svg.contains("spin-combined (one spin up, chained in-process)"));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_missing_summary_is_an_error_not_a_panic() {
        let err = run_report(Path::new("/nonexistent/crm-bench"), None).unwrap_err();
        assert!(err.contains("cannot read"));
    }
}
