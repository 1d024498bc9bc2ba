//! The machine and tools the run used, and its settings.

use crate::report::table::{fmt_bytes, md_escape};
use crate::report::{setting_text, Ctx, Section};
use crate::results::model::Environment;
use std::fmt::Write;

pub(in crate::report) fn environment(cx: &Ctx) -> Section {
    let mut s = Section::titled("Environment");
    s.md.push_str("| | |\n| --- | --- |\n");
    match &cx.summary.environment {
        Some(env) => environment_rows(&mut s.md, env),
        None => s.md.push_str("| environment | not recorded |\n"),
    }
    s.md.push_str(
        "\nSource: `environment.json` (written by `crm-bench run`, or by `crm-bench env` for \
         a k3d run).\n",
    );
    s
}

fn environment_rows(md: &mut String, env: &Environment) {
    let cpu = env.cpu.as_ref();
    let _ = writeln!(
        md,
        "| CPU | {} ({} cores) |",
        md_escape(cpu.and_then(|c| c.model.as_deref()).unwrap_or("?")),
        cpu.and_then(|c| c.cores)
            .map_or("?".to_string(), |c| c.to_string())
    );
    let memory = env.memory_bytes.map_or("?".to_string(), fmt_bytes);
    let _ = writeln!(md, "| memory | {memory} |");
    let os = md_escape(env.os.as_deref().unwrap_or("?"));
    let _ = writeln!(md, "| OS | {os} |");
    for (k, v) in &env.tools {
        let v = md_escape(v.as_deref().unwrap_or("not found"));
        let _ = writeln!(md, "| tool `{k}` | {v} |");
    }
    let value = |v: &Option<serde_json::Value>| {
        md_escape(&v.as_ref().map_or("–".to_string(), setting_text))
    };
    for (k, v) in &env.pins {
        let _ = writeln!(md, "| pin `{k}` | {} |", value(v));
    }
    for (k, v) in &env.settings {
        let _ = writeln!(md, "| setting `{k}` | {} |", value(v));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::tests::summary;
    use serde_json::json;

    #[test]
    fn unknown_values_are_marked_not_left_blank() {
        let s = summary(json!({"stacks": {}, "environment": {
            "cpu": {"cores": 2}, "tools": {"k6": null}, "pins": {"spin": null},
            "settings": {"vus": 10, "note": "a|b"}}}));
        let md = environment(&Ctx::new(&s)).md;
        assert!(md.contains("| CPU | ? (2 cores) |"), "{md}");
        assert!(md.contains("| memory | ? |"));
        assert!(md.contains("| tool `k6` | not found |"));
        assert!(md.contains("| pin `spin` | – |"));
        assert!(md.contains("| setting `vus` | 10 |"));
        assert!(md.contains("| setting `note` | a\\|b |"));
    }

    #[test]
    fn a_missing_environment_is_said_so() {
        let s = summary(json!({"stacks": {}}));
        assert!(environment(&Ctx::new(&s))
            .md
            .contains("| environment | not recorded |"));
    }
}
