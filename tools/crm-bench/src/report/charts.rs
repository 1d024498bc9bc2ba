//! ChartSpec → SVG with plotters' SVG backend. No font files are read: text is written as SVG
//! `<text>` and laid out with plotters' built-in size estimate (the crate is built without its
//! `ttf` feature), so the charts render the same on a machine without fontconfig.

use super::{ChartKind, ChartSpec};
use plotters::coord::ranged1d::{SegmentValue, SegmentedCoord};
use plotters::coord::types::{RangedCoordf64, RangedCoordi32};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use std::error::Error;
use std::path::Path;

const SIZE: (u32, u32) = (960, 520);

/// A stack's colour, stable across charts.
fn color(name: &str, index: usize) -> RGBColor {
    match name {
        "axum" => RGBColor(0x1f, 0x77, 0xb4),
        "spin" => RGBColor(0xff, 0x7f, 0x0e),
        "spin-combined" => RGBColor(0x94, 0x67, 0xbd),
        _ => [
            RGBColor(0x2c, 0xa0, 0x2c),
            RGBColor(0xd6, 0x27, 0x28),
            RGBColor(0x8c, 0x56, 0x4b),
        ][index % 3],
    }
}

/// The legend says what a label is when the label alone could mislead.
pub fn legend_name(name: &str) -> String {
    match name {
        "spin-combined" => "spin-combined (one spin up, chained in-process)".to_string(),
        other => other.to_string(),
    }
}

fn y_max(spec: &ChartSpec) -> f64 {
    let m = spec
        .series
        .iter()
        .flat_map(|s| s.values.iter().flatten())
        .copied()
        .filter(|v| v.is_finite())
        .fold(0.0_f64, f64::max);
    if m > 0.0 {
        m * 1.18
    } else {
        1.0
    }
}

fn value_text(v: f64) -> String {
    if v >= 100.0 {
        format!("{v:.0}")
    } else if v >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

pub fn render(spec: &ChartSpec, path: &Path) -> Result<(), Box<dyn Error>> {
    match spec.kind {
        ChartKind::Bars => bars(spec, path),
        ChartKind::Lines => lines(spec, path),
        ChartKind::Cdf => cdf(spec, path),
    }
}

fn label_font(spec: &ChartSpec) -> u32 {
    let longest = spec.categories.iter().map(|c| c.len()).max().unwrap_or(0);
    if spec.categories.len() * longest > 120 {
        10
    } else {
        14
    }
}

fn bars(spec: &ChartSpec, path: &Path) -> Result<(), Box<dyn Error>> {
    let keep = categories_with_values(spec);
    let root = SVGBackend::new(path, SIZE).into_drawing_area();
    root.fill(&WHITE)?;
    let k = spec.series.len().max(1) as i32;
    let group = k + 1; // k bars and a gap
    let slots = keep.len() as i32 * group;
    // An integer range a..b has b - a + 1 segments: one per slot, the last gap included.
    let mut chart = ChartBuilder::on(&root)
        .caption(&spec.title, ("sans-serif", 20))
        .margin(16)
        .x_label_area_size(56)
        .y_label_area_size(72)
        .build_cartesian_2d((0..(slots - 1).max(1)).into_segmented(), 0.0..y_max(spec))?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(1)
        .x_label_formatter(&|_| String::new())
        .x_desc(spec.x_label.as_str())
        .y_desc(spec.y_label.as_str())
        .draw()?;
    group_labels(&root, &chart, spec, &keep, group)?;
    for (si, s) in spec.series.iter().enumerate() {
        let c = color(&s.name, si);
        let bars: Vec<(i32, f64)> = keep
            .iter()
            .enumerate()
            .filter_map(|(gi, &ci)| {
                let v = s.values.get(ci).copied().flatten()?;
                Some((gi as i32 * group + si as i32, v))
            })
            .collect();
        chart
            .draw_series(bars.iter().map(|&(slot, v)| {
                Rectangle::new(
                    [
                        (SegmentValue::Exact(slot), 0.0),
                        (SegmentValue::Exact(slot + 1), v),
                    ],
                    c.filled(),
                )
            }))?
            .label(legend_name(&s.name))
            .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 12, y + 5)], c.filled()));
        chart.draw_series(bars.iter().map(|&(slot, v)| {
            Text::new(
                value_text(v),
                (SegmentValue::CenterOf(slot), v),
                ("sans-serif", 11)
                    .into_font()
                    .color(&BLACK)
                    .pos(Pos::new(HPos::Center, VPos::Bottom)),
            )
        }))?;
    }
    legend(&mut chart, SeriesLabelPosition::UpperLeft)?;
    root.present()?;
    Ok(())
}

/// Categories without any value are left out rather than drawn as empty groups.
fn categories_with_values(spec: &ChartSpec) -> Vec<usize> {
    let has_value = |i: usize| {
        spec.series
            .iter()
            .any(|s| s.values.get(i).copied().flatten().is_some())
    };
    (0..spec.categories.len())
        .filter(|&i| has_value(i))
        .collect()
}

type BarChart<'a> =
    ChartContext<'a, SVGBackend<'a>, Cartesian2d<SegmentedCoord<RangedCoordi32>, RangedCoordf64>>;

/// Category names centred under their group of `group - 1` bars, on two lines when long.
fn group_labels(
    root: &DrawingArea<SVGBackend, Shift>,
    chart: &BarChart,
    spec: &ChartSpec,
    keep: &[usize],
    group: i32,
) -> Result<(), Box<dyn Error>> {
    let k = group - 1;
    let font = label_font(spec);
    for (gi, &ci) in keep.iter().enumerate() {
        let first = gi as i32 * group;
        let (x0, y) = chart.backend_coord(&(SegmentValue::Exact(first), 0.0));
        let (x1, _) = chart.backend_coord(&(SegmentValue::Exact(first + k), 0.0));
        let style = ("sans-serif", font)
            .into_font()
            .color(&BLACK)
            .pos(Pos::new(HPos::Center, VPos::Top));
        for (li, line) in split_label(&spec.categories[ci]).iter().enumerate() {
            root.draw(&Text::new(
                line.clone(),
                ((x0 + x1) / 2, y + 6 + li as i32 * (font as i32 + 2)),
                style.clone(),
            ))?;
        }
    }
    Ok(())
}

/// The legend box, where the series leave room for it.
fn legend<'a, CT: CoordTranslate>(
    chart: &mut ChartContext<'a, SVGBackend<'a>, CT>,
    position: SeriesLabelPosition,
) -> Result<(), Box<dyn Error>> {
    chart
        .configure_series_labels()
        .position(position)
        .border_style(BLACK)
        .background_style(WHITE.mix(0.85))
        .label_font(("sans-serif", 13))
        .draw()?;
    Ok(())
}

/// A long category name on two lines, split at the space nearest its middle.
fn split_label(text: &str) -> Vec<String> {
    if text.len() <= 14 {
        return vec![text.to_string()];
    }
    let mid = text.len() / 2;
    let split = text
        .match_indices(' ')
        .map(|(i, _)| i)
        .min_by_key(|i| i.abs_diff(mid));
    match split {
        Some(i) => vec![text[..i].to_string(), text[i + 1..].to_string()],
        None => vec![text.to_string()],
    }
}

fn lines(spec: &ChartSpec, path: &Path) -> Result<(), Box<dyn Error>> {
    let root = SVGBackend::new(path, SIZE).into_drawing_area();
    root.fill(&WHITE)?;
    let n = spec.categories.len() as i32;
    let cats = spec.categories.clone();
    let mut chart = ChartBuilder::on(&root)
        .caption(&spec.title, ("sans-serif", 20))
        .margin(16)
        .x_label_area_size(48)
        .y_label_area_size(72)
        .build_cartesian_2d((0..(n - 1).max(1)).into_segmented(), 0.0..y_max(spec))?;
    let formatter = move |v: &SegmentValue<i32>| -> String {
        match v {
            SegmentValue::CenterOf(i) => cats.get(*i as usize).cloned().unwrap_or_default(),
            _ => String::new(),
        }
    };
    chart
        .configure_mesh()
        .x_labels(n as usize + 1)
        .x_label_formatter(&formatter)
        .x_label_style(("sans-serif", label_font(spec)))
        .x_desc(spec.x_label.as_str())
        .y_desc(spec.y_label.as_str())
        .draw()?;
    for (si, s) in spec.series.iter().enumerate() {
        let c = color(&s.name, si);
        let points: Vec<(SegmentValue<i32>, f64)> = s
            .values
            .iter()
            .enumerate()
            .filter_map(|(i, v)| v.map(|v| (SegmentValue::CenterOf(i as i32), v)))
            .collect();
        chart
            .draw_series(LineSeries::new(points.clone(), c.stroke_width(2)))?
            .label(legend_name(&s.name))
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 14, y)], c.stroke_width(2)));
        chart.draw_series(points.iter().map(|p| Circle::new(p.clone(), 4, c.filled())))?;
        chart.draw_series(points.iter().map(|p| {
            Text::new(
                value_text(p.1),
                p.clone(),
                ("sans-serif", 11)
                    .into_font()
                    .color(&c)
                    .pos(Pos::new(HPos::Left, VPos::Bottom)),
            )
        }))?;
    }
    legend(&mut chart, SeriesLabelPosition::UpperLeft)?;
    root.present()?;
    Ok(())
}

/// The empirical distribution of `values` as a staircase of (value, % of samples at or below
/// it): up one step of 100/n at each sample, flat in between. Non-finite values are dropped.
pub fn cdf_steps(values: &[Option<f64>]) -> Vec<(f64, f64)> {
    let mut sorted: Vec<f64> = values
        .iter()
        .flatten()
        .copied()
        .filter(|v| v.is_finite())
        .collect();
    sorted.sort_by(f64::total_cmp);
    let n = sorted.len() as f64;
    sorted
        .iter()
        .enumerate()
        .flat_map(|(i, &v)| [(v, 100.0 * i as f64 / n), (v, 100.0 * (i + 1) as f64 / n)])
        .collect()
}

/// The percentiles the report's tables give, drawn as guides so a reader can find them on the
/// curves.
const GUIDES: [f64; 3] = [50.0, 90.0, 99.0];

fn cdf(spec: &ChartSpec, path: &Path) -> Result<(), Box<dyn Error>> {
    let root = SVGBackend::new(path, SIZE).into_drawing_area();
    root.fill(&WHITE)?;
    let x_max = y_max(spec); // the largest sample, with the same headroom as a bar's
    let mut chart = ChartBuilder::on(&root)
        .caption(&spec.title, ("sans-serif", 20))
        .margin(16)
        .x_label_area_size(48)
        .y_label_area_size(72)
        .build_cartesian_2d(0.0..x_max, 0.0..100.0)?;
    // No fine mesh: the guides are the horizontal lines a reader looks for.
    chart
        .configure_mesh()
        .light_line_style(TRANSPARENT)
        .y_labels(11)
        .x_desc(spec.x_label.as_str())
        .y_desc(spec.y_label.as_str())
        .draw()?;
    let guide = RGBColor(0x66, 0x66, 0x66);
    for p in GUIDES {
        chart.draw_series(LineSeries::new(
            [(0.0, p), (x_max, p)],
            guide.stroke_width(1),
        ))?;
        chart.draw_series([Text::new(
            format!("P{p:.0}"),
            (x_max, p),
            ("sans-serif", 11)
                .into_font()
                .color(&guide)
                .pos(Pos::new(HPos::Right, VPos::Bottom)),
        )])?;
    }
    for (si, s) in spec.series.iter().enumerate() {
        let c = color(&s.name, si);
        let steps = cdf_steps(&s.values);
        chart
            .draw_series(LineSeries::new(steps.clone(), c.stroke_width(2)))?
            .label(legend_name(&s.name))
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 14, y)], c.stroke_width(2)));
        // A dot per run, at the top of its step.
        let runs = steps.iter().skip(1).step_by(2);
        chart.draw_series(runs.map(|&p| Circle::new(p, 3, c.filled())))?;
    }
    legend(&mut chart, SeriesLabelPosition::LowerRight)?;
    root.present()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cdf_climbs_one_step_per_sample_in_value_order() {
        let steps = cdf_steps(&[
            Some(30.0),
            None,
            Some(10.0),
            Some(f64::NAN),
            Some(20.0),
            Some(40.0),
        ]);
        assert_eq!(
            steps,
            vec![
                (10.0, 0.0),
                (10.0, 25.0),
                (20.0, 25.0),
                (20.0, 50.0),
                (30.0, 50.0),
                (30.0, 75.0),
                (40.0, 75.0),
                (40.0, 100.0),
            ]
        );
        assert!(cdf_steps(&[]).is_empty());
    }

    #[test]
    fn a_cdf_chart_is_an_svg_with_a_line_per_stack() {
        let spec = ChartSpec {
            file: "cdf.svg".into(),
            title: "Cold start".into(),
            x_label: "ms".into(),
            y_label: "% of runs".into(),
            categories: Vec::new(),
            series: ["axum", "spin"]
                .iter()
                .enumerate()
                .map(|(i, name)| crate::report::Series {
                    name: name.to_string(),
                    values: (0..20).map(|r| Some((i * 20 + r) as f64)).collect(),
                })
                .collect(),
            kind: ChartKind::Cdf,
        };
        let path = std::env::temp_dir().join(format!("crm-bench-cdf-{}.svg", std::process::id()));
        render(&spec, &path).unwrap();
        let svg = std::fs::read_to_string(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        assert!(svg.starts_with("<svg"));
        let texts: Vec<&str> = svg
            .split("</text>")
            .filter_map(|t| Some(t.rsplit_once('>')?.1.trim()))
            .collect();
        for label in ["axum", "spin", "P50", "P90", "P99"] {
            assert!(texts.contains(&label), "{label} not in {texts:?}");
        }
        // 20 runs per stack: one dot each.
        assert_eq!(svg.matches("<circle").count(), 40);
    }
}
