//! The report's files: a results folder's summary.json read, report.md and charts/*.svg written.

use std::path::Path;

use super::{build, charts};
use crate::results::model::Summary;

/// Writes `dir/report.md` and `dir/charts/*.svg` from `summary_path` (default
/// `dir/summary.json`), and says where on stdout.
pub fn write(dir: &Path, summary_path: Option<&Path>) -> Result<(), String> {
    let path = summary_path.map_or_else(|| dir.join("summary.json"), Path::to_path_buf);
    let text = std::fs::read_to_string(&path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let summary = Summary::from_json(&text)
        .map_err(|e| format!("{} is not a summary.json: {e}", path.display()))?;
    let rep = build(&summary);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_writes_markdown_and_svg_charts() {
        let dir = std::env::temp_dir().join(format!("crm-bench-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("summary.json"),
            include_str!("../../tests/fixtures/summary.json"),
        )
        .unwrap();
        write(&dir, None).unwrap();
        let md = std::fs::read_to_string(dir.join("report.md")).unwrap();
        assert!(md.contains("![Latency percentiles, scenario read"));
        let svg = std::fs::read_to_string(dir.join("charts/latency-read.svg")).unwrap();
        assert!(svg.starts_with("<svg"));
        assert!(svg.contains("spin-combined (one spin up, chained in-process)"));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn collect_then_report() {
        let dir = std::env::temp_dir().join(format!("crm-bench-collect-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("axum")).unwrap();
        let fx = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
        std::fs::copy(fx.join("k6-load.json"), dir.join("axum/k6-load.json")).unwrap();
        crate::results::collect::write_summary(&dir).unwrap();
        write(&dir, None).unwrap();
        let md = std::fs::read_to_string(dir.join("report.md")).unwrap();
        assert!(md.contains("axum"));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_missing_summary_is_an_error_not_a_panic() {
        let err = write(Path::new("/nonexistent/crm-bench"), None).unwrap_err();
        assert!(err.contains("cannot read"));
    }
}
