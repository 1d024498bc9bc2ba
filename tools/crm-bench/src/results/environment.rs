//! The "environment" object of summary.json: the machine (CPU, memory, OS), the versions of the
//! tools that took part, and the pins and settings of the run. Linux and macOS. A tool that is
//! absent or does not answer within a few seconds is recorded as null, never guessed.

use crate::results::model::{Cpu, Environment};
use serde_json::Value;
use std::collections::BTreeMap;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Tool -> the command printing its version (its first line is kept).
const TOOLS: [(&str, &[&str]); 7] = [
    ("k6", &["k6", "version"]),
    ("kubectl", &["kubectl", "version", "--client"]),
    ("k3d", &["k3d", "version"]),
    ("helm", &["helm", "version", "--short"]),
    (
        "docker",
        &["docker", "version", "--format", "{{.Server.Version}}"],
    ),
    ("spin", &["spin", "--version"]),
    ("rustc", &["rustc", "--version"]),
];

/// How long a tool may take to print its version (docker asks its daemon).
const TOOL_TIMEOUT: Duration = Duration::from_secs(10);

pub fn environment(
    kind: &str,
    pins: BTreeMap<String, Value>,
    settings: BTreeMap<String, Value>,
) -> Environment {
    Environment {
        kind: Some(kind.to_string()),
        cpu: Some(Cpu {
            model: cpu_model(),
            cores: std::thread::available_parallelism()
                .ok()
                .and_then(|n| u32::try_from(n.get()).ok()),
        }),
        memory_bytes: memory_bytes(),
        os: os(),
        tools: TOOLS
            .iter()
            .map(|(name, cmd)| (name.to_string(), first_line_of(cmd)))
            .collect(),
        pins: pins.into_iter().map(|(k, v)| (k, Some(v))).collect(),
        settings: settings.into_iter().map(|(k, v)| (k, Some(v))).collect(),
        cpu_budget: None,
    }
}

/// The first line a command prints (stdout, else stderr) when it succeeds within
/// [`TOOL_TIMEOUT`]; `None` when it is absent, fails or hangs.
pub fn first_line_of(cmd: &[&str]) -> Option<String> {
    let (program, args) = cmd.split_first()?;
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .ok()?;
    let deadline = Instant::now() + TOOL_TIMEOUT;
    loop {
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
        }
    }
    let out = child.wait_with_output().ok()?;
    if !out.status.success() {
        return None;
    }
    let text = if out.stdout.iter().any(|b| !b.is_ascii_whitespace()) {
        out.stdout
    } else {
        out.stderr
    };
    String::from_utf8_lossy(&text)
        .trim()
        .lines()
        .next()
        .map(str::to_string)
        .filter(|l| !l.is_empty())
}

fn cpu_model() -> Option<String> {
    match std::fs::read_to_string("/proc/cpuinfo") {
        Ok(info) => info
            .lines()
            .find(|l| l.starts_with("model name"))
            .and_then(|l| l.split_once(':'))
            .map(|(_, v)| v.trim().to_string()),
        Err(_) => first_line_of(&["sysctl", "-n", "machdep.cpu.brand_string"]),
    }
}

fn memory_bytes() -> Option<f64> {
    if let Ok(info) = std::fs::read_to_string("/proc/meminfo") {
        let kib = info
            .lines()
            .find(|l| l.starts_with("MemTotal:"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<f64>().ok());
        return kib.map(|k| k * 1024.0);
    }
    first_line_of(&["sysctl", "-n", "hw.memsize"]).and_then(|v| v.parse().ok())
}

/// "Linux 6.8.0-45-generic x86_64 (Debian GNU/Linux 12 (bookworm))": the kernel, and the
/// distribution when /etc/os-release names it.
fn os() -> Option<String> {
    let kernel = first_line_of(&["uname", "-s", "-r", "-m"])
        .unwrap_or_else(|| format!("{} {}", std::env::consts::OS, std::env::consts::ARCH));
    let distro = std::fs::read_to_string("/etc/os-release")
        .ok()
        .and_then(|t| {
            t.lines()
                .find_map(|l| l.strip_prefix("PRETTY_NAME="))
                .map(|v| v.trim_matches('"').to_string())
        });
    Some(match distro {
        Some(d) => format!("{kernel} ({d})"),
        None => kernel,
    })
}

/// "KEY=VALUE" -> (KEY, VALUE as a JSON string).
pub fn pair(item: &str) -> Result<(String, Value), String> {
    match item.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_string(), Value::String(v.to_string()))),
        _ => Err(format!("expected KEY=VALUE, got {item:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn machine_pins_and_a_missing_tool() {
        let pins = BTreeMap::from([("spin_cli".to_string(), Value::from("3.5.1"))]);
        let env = environment("local", pins, BTreeMap::new());
        assert_eq!(env.kind.as_deref(), Some("local"));
        assert!(env.cpu.unwrap().cores.unwrap() >= 1);
        assert!(env.memory_bytes.unwrap() > 0.0);
        assert!(env.os.is_some());
        assert_eq!(env.pins["spin_cli"], Some(Value::from("3.5.1")));
        // rustc runs the tests; every tool has a key, a missing one null.
        assert!(env.tools["rustc"].as_deref().unwrap().starts_with("rustc "));
        assert_eq!(env.tools.len(), TOOLS.len());
        assert_eq!(
            first_line_of(&["crm-bench-no-such-tool", "--version"]),
            None
        );
        assert_eq!(first_line_of(&["false"]), None);
    }

    #[test]
    fn pairs_split_at_the_first_equals_sign() {
        assert_eq!(pair("a=b=c").unwrap(), ("a".into(), Value::from("b=c")));
        assert_eq!(pair("empty=").unwrap(), ("empty".into(), Value::from("")));
        assert!(pair("novalue").is_err() && pair("=x").is_err());
    }
}
