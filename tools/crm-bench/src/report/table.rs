//! Side-by-side tables: one column per stack, then one ratio column per non-baseline stack
//! (`<stack> ÷ <baseline>`), rendered as Markdown. Pure functions, unit-tested below.

/// How a figure is printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Ms,
    Rps,
    Bytes,
    Count,
    Percent,
    Millicores,
}

/// value ÷ base, when both are known, finite and the base is not 0.
pub fn ratio(value: Option<f64>, base: Option<f64>) -> Option<f64> {
    match (value, base) {
        (Some(v), Some(b)) if v.is_finite() && b.is_finite() && b != 0.0 => Some(v / b),
        _ => None,
    }
}

pub fn fmt_ratio(r: Option<f64>) -> String {
    match r {
        None => "–".to_string(),
        Some(r) if r >= 100.0 => format!("×{r:.0}"),
        Some(r) if r >= 10.0 => format!("×{r:.1}"),
        Some(r) => format!("×{r:.2}"),
    }
}

/// Milliseconds with about three significant digits.
pub fn fmt_ms(v: f64) -> String {
    let a = v.abs();
    if a >= 1000.0 {
        format!("{v:.0}")
    } else if a >= 100.0 {
        format!("{v:.1}")
    } else if a >= 10.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.3}")
    }
}

pub fn fmt_bytes(v: f64) -> String {
    const KIB: f64 = 1024.0;
    const MIB: f64 = 1024.0 * 1024.0;
    const GIB: f64 = 1024.0 * 1024.0 * 1024.0;
    if v >= GIB {
        format!("{:.2} GiB", v / GIB)
    } else if v >= MIB {
        format!("{:.2} MiB", v / MIB)
    } else if v >= KIB {
        format!("{:.1} KiB", v / KIB)
    } else {
        format!("{v:.0} B")
    }
}

pub fn fmt_value(v: Option<f64>, unit: Unit) -> String {
    let Some(v) = v.filter(|v| v.is_finite()) else {
        return "–".to_string();
    };
    match unit {
        Unit::Ms => fmt_ms(v),
        Unit::Rps => format!("{v:.1}"),
        Unit::Bytes => fmt_bytes(v),
        Unit::Count => format!("{v:.0}"),
        Unit::Percent => format!("{:.2} %", v * 100.0),
        Unit::Millicores => format!("{v:.0} m"),
    }
}

/// One row: a label (one or more leading cells), a unit, one value per stack, and for a figure
/// measured several times the samples' range per stack (the value is then their median).
#[derive(Debug, Clone)]
pub struct Row {
    pub keys: Vec<String>,
    pub unit: Unit,
    pub values: Vec<Option<f64>>,
    /// (min, max) of the samples, by stack; empty or `None`: one sample.
    pub ranges: Vec<Option<(f64, f64)>>,
}

impl Row {
    pub fn new(keys: &[&str], unit: Unit, values: Vec<Option<f64>>) -> Row {
        Row {
            keys: keys.iter().map(|k| k.to_string()).collect(),
            unit,
            values,
            ranges: Vec::new(),
        }
    }

    /// The same row with the samples' ranges, by stack.
    pub fn with_ranges(mut self, ranges: Vec<Option<(f64, f64)>>) -> Row {
        self.ranges = ranges;
        self
    }

    fn range(&self, i: usize) -> Option<(f64, f64)> {
        self.ranges.get(i).copied().flatten()
    }

    pub fn has_data(&self) -> bool {
        self.values.iter().any(Option::is_some)
    }
}

/// A comparison table: `key_headers` name the leading cells, `stacks` the value columns; the
/// first stack is the baseline of the ratio columns.
#[derive(Debug, Clone)]
pub struct Comparison {
    pub key_headers: Vec<String>,
    pub stacks: Vec<String>,
    pub rows: Vec<Row>,
}

impl Comparison {
    pub fn new(key_headers: &[&str], stacks: &[String]) -> Comparison {
        Comparison {
            key_headers: key_headers.iter().map(|k| k.to_string()).collect(),
            stacks: stacks.to_vec(),
            rows: Vec::new(),
        }
    }

    pub fn push(&mut self, row: Row) {
        self.rows.push(row);
    }

    pub fn has_data(&self) -> bool {
        self.rows.iter().any(Row::has_data)
    }

    /// The column stack `i` is held against: the Axum column of its own shape when the table
    /// has it (`spin-shim` against `axum-container`: the container shape against itself),
    /// else the first column.
    fn base_of(&self, i: usize) -> usize {
        use crate::results::label::Label;
        let container_spin = Label::parse(&self.stacks[i])
            .is_some_and(|l| l.is_container() && l != Label::AxumContainer);
        if container_spin {
            if let Some(at) = self
                .stacks
                .iter()
                .position(|s| s == Label::AxumContainer.as_str())
            {
                return at;
            }
        }
        0
    }

    /// Header cells: keys, one per stack, one `x ÷ baseline` per other stack.
    pub fn header(&self) -> Vec<String> {
        let mut h = self.key_headers.clone();
        h.extend(self.stacks.iter().cloned());
        for i in 1..self.stacks.len() {
            h.push(format!(
                "{} ÷ {}",
                self.stacks[i],
                self.stacks[self.base_of(i)]
            ));
        }
        h
    }

    /// Body cells of one row (rows without any value are kept: "–" says "not measured").
    pub fn cells(&self, row: &Row) -> Vec<String> {
        let mut c = row.keys.clone();
        c.resize(self.key_headers.len(), String::new());
        for i in 0..self.stacks.len() {
            let value = row.values.get(i).copied().flatten();
            c.push(match (value, row.range(i)) {
                (Some(_), Some(range)) => format!(
                    "{} ({})",
                    fmt_value(value, row.unit),
                    fmt_range(range, row.unit)
                ),
                _ => fmt_value(value, row.unit),
            });
        }
        for i in 1..self.stacks.len() {
            let b = self.base_of(i);
            let base = row.values.get(b).copied().flatten();
            let r = fmt_ratio(ratio(row.values.get(i).copied().flatten(), base));
            let same = match (row.range(b), row.range(i)) {
                (Some(a), Some(b)) => crate::results::samples::overlap(a, b),
                _ => false,
            };
            c.push(if same && r != "–" {
                format!("{r} (no clear difference)")
            } else {
                r
            });
        }
        c
    }

    pub fn to_markdown(&self) -> String {
        let header = self.header();
        let mut out = String::new();
        out.push_str(&md_row(&header));
        let align: Vec<String> = header
            .iter()
            .enumerate()
            .map(|(i, _)| {
                if i < self.key_headers.len() {
                    "---".to_string()
                } else {
                    "---:".to_string()
                }
            })
            .collect();
        out.push_str(&md_row(&align));
        for row in &self.rows {
            out.push_str(&md_row(&self.cells(row)));
        }
        out
    }
}

/// A samples' range, `lo–hi`, the unit's format without repeating a unit suffix.
pub fn fmt_range((lo, hi): (f64, f64), unit: Unit) -> String {
    let lo = fmt_value(Some(lo), unit);
    let hi = fmt_value(Some(hi), unit);
    match lo.split_once(' ') {
        // "12.0 %" – "14.0 %" → "12.0–14.0 %"
        Some((number, suffix)) if hi.ends_with(suffix) => format!("{number}–{hi}"),
        _ => format!("{lo}–{hi}"),
    }
}

pub fn md_escape(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

pub fn md_row(cells: &[String]) -> String {
    let escaped: Vec<String> = cells.iter().map(|c| md_escape(c)).collect();
    format!("| {} |\n", escaped.join(" | "))
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_container_spin_column_is_held_against_the_container_axum_column() {
        let stacks: Vec<String> = ["axum", "spin", "axum-container", "spin-shim"]
            .map(String::from)
            .to_vec();
        let mut t = Comparison::new(&["figure"], &stacks);
        t.push(Row {
            keys: vec!["x".into()],
            unit: Unit::Count,
            values: vec![Some(1.0), Some(2.0), Some(4.0), Some(12.0)],
            ranges: Vec::new(),
        });
        let h = t.header();
        assert_eq!(
            &h[5..],
            [
                "spin ÷ axum",
                "axum-container ÷ axum",
                "spin-shim ÷ axum-container"
            ]
        );
        let c = t.cells(&t.rows[0]);
        assert_eq!(&c[5..], ["×2.00", "×4.00", "×3.00"]);
    }

    use super::*;

    #[test]
    fn ratio_needs_both_values_and_a_nonzero_base() {
        assert_eq!(ratio(Some(3.0), Some(1.5)), Some(2.0));
        assert_eq!(ratio(None, Some(1.0)), None);
        assert_eq!(ratio(Some(1.0), None), None);
        assert_eq!(ratio(Some(1.0), Some(0.0)), None);
        assert_eq!(ratio(Some(f64::NAN), Some(1.0)), None);
    }

    #[test]
    fn ratios_are_printed_with_a_times_sign() {
        assert_eq!(fmt_ratio(Some(2.0)), "×2.00");
        assert_eq!(fmt_ratio(Some(0.456)), "×0.46");
        assert_eq!(fmt_ratio(Some(12.34)), "×12.3");
        assert_eq!(fmt_ratio(Some(250.0)), "×250");
        assert_eq!(fmt_ratio(None), "–");
    }

    #[test]
    fn values_keep_about_three_significant_digits() {
        assert_eq!(fmt_value(Some(0.12345), Unit::Ms), "0.123");
        assert_eq!(fmt_value(Some(12.345), Unit::Ms), "12.35");
        assert_eq!(fmt_value(Some(1234.5), Unit::Ms), "1234");
        assert_eq!(
            fmt_value(Some(3.0 * 1024.0 * 1024.0), Unit::Bytes),
            "3.00 MiB"
        );
        assert_eq!(fmt_value(Some(2048.0), Unit::Bytes), "2.0 KiB");
        assert_eq!(fmt_value(Some(0.005), Unit::Percent), "0.50 %");
        assert_eq!(fmt_value(None, Unit::Rps), "–");
    }

    #[test]
    fn a_table_has_one_ratio_column_per_other_stack() {
        let stacks = vec![
            "axum".to_string(),
            "spin".to_string(),
            "spin-combined".to_string(),
        ];
        let mut t = Comparison::new(&["scenario", "figure"], &stacks);
        t.push(Row::new(
            &["read", "p50 ms"],
            Unit::Ms,
            vec![Some(2.0), Some(5.0), None],
        ));
        assert_eq!(
            t.header(),
            vec![
                "scenario",
                "figure",
                "axum",
                "spin",
                "spin-combined",
                "spin ÷ axum",
                "spin-combined ÷ axum"
            ]
        );
        assert_eq!(
            t.cells(&t.rows[0]),
            vec!["read", "p50 ms", "2.000", "5.000", "–", "×2.50", "–"]
        );
        let md = t.to_markdown();
        assert!(md.starts_with("| scenario | figure | axum |"));
        assert!(md.contains("| --- | --- | ---: |"));
    }

    #[test]
    fn sampled_figures_show_their_range_and_overlapping_ratios_say_so() {
        let stacks = vec!["axum".to_string(), "spin".to_string(), "other".to_string()];
        let mut t = Comparison::new(&["figure"], &stacks);
        t.push(
            Row::new(
                &["p50 (ms)"],
                Unit::Ms,
                vec![Some(2.0), Some(2.1), Some(8.0)],
            )
            .with_ranges(vec![Some((1.9, 2.2)), Some((2.0, 2.4)), Some((7.5, 9.0))]),
        );
        t.push(Row::new(
            &["size"],
            Unit::Rps,
            vec![Some(10.0), Some(20.0), None],
        ));
        let md = t.to_markdown();
        assert!(
            md.contains(
                "| p50 (ms) | 2.000 (1.900–2.200) | 2.100 (2.000–2.400) | 8.000 (7.500–9.000) \
                 | ×1.05 (no clear difference) | ×4.00 |"
            ),
            "{md}"
        );
        assert!(
            md.contains("| size | 10.0 | 20.0 | – | ×2.00 | – |"),
            "{md}"
        );
        assert_eq!(fmt_range((0.12, 0.14), Unit::Percent), "12.00–14.00 %");
    }

    #[test]
    fn pipes_in_cells_are_escaped() {
        assert_eq!(md_row(&["a|b".to_string()]), "| a\\|b |\n");
    }
}
