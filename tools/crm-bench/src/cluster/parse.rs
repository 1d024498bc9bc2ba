//! The text the k3d scripts collect, read into numbers: `kubectl top` output, probe logs
//! (availability, cold start), registry push output. No cluster needed, so tests/shell/ and
//! the unit tests check it on fixtures. `crm-bench parse ...` exposes each to the scripts.

use crate::results::model::ProbeOutcome;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

// --- kubectl top ------------------------------------------------------------------------------

/// One pod of a `kubectl top pod --no-headers` sample.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TopRow {
    pub pod: String,
    /// The Deployment the pod belongs to.
    pub service: String,
    pub cpu_m: f64,
    pub memory_bytes: f64,
}

/// "3m" -> 3, "1" -> 1000, "250000n" -> 0.25, "1500u" -> 1.5 (millicores).
pub fn cpu_millicores(text: &str) -> Option<f64> {
    let (number, unit) = split_quantity(text.trim())?;
    let scale = match unit {
        "n" => 1e-6,
        "u" => 1e-3,
        "m" => 1.0,
        "" => 1000.0,
        _ => return None,
    };
    Some(number * scale)
}

/// "12Mi" -> 12582912, "1Gi", "500Ki", "100M", "1k", "1234" -> bytes (whole).
pub fn memory_bytes(text: &str) -> Option<f64> {
    let (number, unit) = split_quantity(text.trim())?;
    let scale: f64 = match unit {
        "" => 1.0,
        "Ki" => 1024.0,
        "Mi" => 1024f64.powi(2),
        "Gi" => 1024f64.powi(3),
        "Ti" => 1024f64.powi(4),
        "k" | "K" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "T" => 1e12,
        _ => return None,
    };
    Some((number * scale).trunc())
}

/// "12.5Mi" -> (12.5, "Mi"): a `\d+(\.\d+)?` number and the unit after it.
fn split_quantity(text: &str) -> Option<(f64, &str)> {
    let end = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let number = &text[..end];
    let well_formed = number.split('.').count() <= 2
        && !number.starts_with('.')
        && !number.ends_with('.')
        && !number.is_empty();
    well_formed.then(|| Some((number.parse().ok()?, &text[end..])))?
}

/// A Deployment's pod is named `<deployment>-<replicaset hash, 5-10>-<5 chars>`: gives
/// `<deployment>`; any other name is returned whole.
pub fn pod_service(pod: &str) -> &str {
    let alnum = |s: &str, lens: std::ops::RangeInclusive<usize>| {
        lens.contains(&s.len())
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
    };
    let mut parts = pod.rsplitn(3, '-');
    match (parts.next(), parts.next(), parts.next()) {
        (Some(suffix), Some(hash), Some(name))
            if !name.is_empty() && alnum(suffix, 5..=5) && alnum(hash, 5..=10) =>
        {
            name
        }
        _ => pod,
    }
}

/// `kubectl top pod --no-headers` output -> rows. Lines that do not parse (warnings, blanks,
/// a header) are skipped: a pod without metrics is then absent, reported as unavailable by
/// the caller rather than as zero.
pub fn parse_top(text: &str) -> Vec<TopRow> {
    text.lines()
        .filter_map(|line| {
            let parts: Vec<&str> = line.split_whitespace().collect();
            let [pod, cpu, mem] = parts[..] else {
                return None;
            };
            if pod == "NAME" {
                return None;
            }
            Some(TopRow {
                pod: pod.to_string(),
                service: pod_service(pod).to_string(),
                cpu_m: cpu_millicores(cpu)?,
                memory_bytes: memory_bytes(mem)?,
            })
        })
        .collect()
}

/// Samples (the rows of each) -> per service: samples, cpu_m and memory_bytes avg/max. The
/// pods of one service in one sample are summed (a rollout can briefly show two), then
/// averaged and maxed over the samples that reported the service.
pub fn aggregate_top(
    samples: &[Vec<TopRow>],
) -> BTreeMap<String, crate::results::model::ServiceResources> {
    use crate::results::model::{AvgMax, ServiceResources};
    let mut per: BTreeMap<String, Vec<(f64, f64)>> = BTreeMap::new();
    for rows in samples {
        let mut sums: BTreeMap<&str, (f64, f64)> = BTreeMap::new();
        for r in rows {
            let s = sums.entry(&r.service).or_default();
            s.0 += r.cpu_m;
            s.1 += r.memory_bytes;
        }
        for (svc, v) in sums {
            per.entry(svc.to_string()).or_default().push(v);
        }
    }
    per.into_iter()
        .map(|(svc, vals)| {
            let n = vals.len() as f64;
            let avg_max = |f: fn(&(f64, f64)) -> f64| AvgMax {
                avg: Some(vals.iter().map(f).sum::<f64>() / n),
                max: vals.iter().map(f).reduce(f64::max),
            };
            let mut memory = avg_max(|v| v.1);
            memory.avg = memory.avg.map(f64::trunc);
            let figures = ServiceResources {
                samples: u32::try_from(vals.len()).ok(),
                cpu_m: Some(avg_max(|v| v.0)),
                memory_bytes: Some(memory),
            };
            (svc, figures)
        })
        .collect()
}

// --- probe logs -------------------------------------------------------------------------------

/// One probe: started and ended (µs since the epoch), HTTP status (0: no HTTP answer).
pub type Probe = (u64, u64, u16);

/// Lines "<start_us> <end_us> <status>" -> probes sorted by start; other lines are skipped.
pub fn parse_probe_log(text: &str) -> Vec<Probe> {
    let mut probes: Vec<Probe> = text
        .lines()
        .filter_map(|line| {
            let parts: Vec<&str> = line.split_whitespace().collect();
            let [s, e, c] = parts[..] else { return None };
            let digits = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
            if !(digits(s) && digits(e) && digits(c)) {
                return None;
            }
            Some((s.parse().ok()?, e.parse().ok()?, c.parse().ok()?))
        })
        .collect();
    probes.sort_unstable();
    probes
}

fn is_ok(code: u16) -> bool {
    (200..300).contains(&code)
}

fn ms_since(end_us: u64, since_us: u64) -> f64 {
    (end_us as f64 - since_us as f64) / 1000.0
}

/// Steady probing while a pod is killed at `kill_us` (same clock as the log).
pub fn availability(probes: &[Probe], kill_us: u64) -> ProbeOutcome {
    let (before, after): (Vec<&Probe>, Vec<&Probe>) = probes.iter().partition(|p| p.0 < kill_us);
    let failures: Vec<&Probe> = after.iter().copied().filter(|p| !is_ok(p.2)).collect();
    let mut res = ProbeOutcome {
        requests_total: probes.len() as u64,
        requests_after_kill: after.len() as u64,
        failed_before_kill: before.iter().filter(|p| !is_ok(p.2)).count() as u64,
        failed_requests: failures.len() as u64,
        ..ProbeOutcome::default()
    };
    for p in &failures {
        *res.failure_codes.entry(format!("{:03}", p.2)).or_default() += 1;
    }
    if after.is_empty() {
        return res;
    }
    let (Some(first_fail), Some(last_fail)) = (failures.first(), failures.last()) else {
        // The kill went unnoticed.
        res.time_to_first_success_ms = Some(0.0);
        res.time_to_recovery_ms = Some(0.0);
        res.recovered = true;
        return res;
    };
    let first_ok_after = |t: u64| after.iter().find(|p| p.0 > t && is_ok(p.2));
    res.time_to_first_success_ms = first_ok_after(first_fail.0).map(|p| ms_since(p.1, kill_us));
    if let Some(p) = first_ok_after(last_fail.0) {
        res.time_to_recovery_ms = Some(ms_since(p.1, kill_us));
        res.recovered = true;
    }
    res.outage_window_ms = Some(ms_since(last_fail.1, first_fail.0));
    res
}

/// A cold start's timing out of a probe log.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
pub struct FirstSuccess {
    /// Probes started at or after the start.
    pub probes: u64,
    /// From the start to the end of the first 2xx; null if none came.
    pub first_200_ms: Option<f64>,
    pub failed_probes_before_200: u64,
}

/// Cold start: ms from `since_us` to the end of the first 2xx probe started after it.
pub fn first_success(probes: &[Probe], since_us: u64) -> FirstSuccess {
    let after: Vec<&Probe> = probes.iter().filter(|p| p.0 >= since_us).collect();
    let first_ok = after.iter().find(|p| is_ok(p.2));
    FirstSuccess {
        probes: after.len() as u64,
        first_200_ms: first_ok.map(|p| ms_since(p.1, since_us)),
        failed_probes_before_200: after
            .iter()
            .filter(|p| first_ok.is_none_or(|ok| p.0 < ok.0))
            .count() as u64,
    }
}

// --- registry pushes --------------------------------------------------------------------------

/// The last "sha256:<64 hex>" in `docker push` / `spin registry push` output.
pub fn push_digest(text: &str) -> Option<&str> {
    let is_hex = |b: u8| b.is_ascii_digit() || (b'a'..=b'f').contains(&b);
    text.match_indices("sha256:")
        .filter_map(|(i, _)| text.get(i..i + 7 + 64))
        .filter(|d| d.bytes().skip(7).all(is_hex))
        .last()
}

// --- result files -----------------------------------------------------------------------------

/// `["a=text", "b:=3", "c@=file.json"]` -> `{"a": "text", "b": 3, "c": <the file's JSON, or
/// null if it is absent or not JSON>}`; dotted keys nest ("idle.cpu_m:=3"). Lets the scripts
/// write their result files without hand-built JSON strings.
pub fn json_object(args: &[String]) -> Result<Value, String> {
    let mut out = Map::new();
    for arg in args {
        let (key, op, val) = split_assignment(arg)
            .ok_or_else(|| format!("expected key=value, key:=json or key@=file, got {arg:?}"))?;
        let value = match op {
            "=" => Value::String(val.to_string()),
            ":=" => serde_json::from_str(val).map_err(|e| format!("{key}: {e}"))?,
            _ => std::fs::read_to_string(val)
                .ok()
                .and_then(|t| serde_json::from_str(&t).ok())
                .unwrap_or(Value::Null),
        };
        let mut parts: Vec<&str> = key.split('.').collect();
        let last = parts.pop().unwrap_or(key);
        let mut cur = &mut out;
        for part in parts {
            let slot = cur.entry(part).or_insert_with(|| Value::Object(Map::new()));
            if !slot.is_object() {
                *slot = Value::Object(Map::new());
            }
            cur = slot.as_object_mut().expect("made an object just above");
        }
        cur.insert(last.to_string(), value);
    }
    Ok(Value::Object(out))
}

/// The value at a dotted path ("serverVersion.gitVersion", "items.0.name"; a number indexes
/// an array).
pub fn json_get<'a>(value: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').try_fold(value, |v, key| match v {
        Value::Array(a) => a.get(key.parse::<usize>().ok()?),
        _ => v.get(key),
    })
}

/// A Deployment's `.spec.selector` -> "k=v,k2=v2" (its matchLabels, sorted) for `kubectl -l`.
pub fn label_selector(selector: &Value) -> String {
    let Some(labels) = selector.get("matchLabels").and_then(Value::as_object) else {
        return String::new();
    };
    let mut pairs: Vec<String> = labels
        .iter()
        .map(|(k, v)| {
            format!(
                "{k}={}",
                v.as_str().map_or_else(|| v.to_string(), str::to_string)
            )
        })
        .collect();
    pairs.sort();
    pairs.join(",")
}

/// "key:=v" -> ("key", ":=", "v"); the key is `[A-Za-z_][A-Za-z0-9_.]*`.
fn split_assignment(arg: &str) -> Option<(&str, &str, &str)> {
    let key_len = arg
        .char_indices()
        .find(|&(i, c)| {
            !(c.is_ascii_alphabetic() || c == '_' || (i > 0 && (c.is_ascii_digit() || c == '.')))
        })
        .map_or(arg.len(), |(i, _)| i);
    if key_len == 0 {
        return None;
    }
    let (key, rest) = arg.split_at(key_len);
    ["=", ":=", "@="]
        .into_iter()
        .find_map(|op| rest.strip_prefix(op).map(|val| (key, op, val)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> String {
        let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
        std::fs::read_to_string(path).unwrap()
    }

    #[test]
    fn quantities() {
        assert_eq!(cpu_millicores("3m"), Some(3.0));
        assert_eq!(cpu_millicores("1"), Some(1000.0));
        assert_eq!(cpu_millicores("250000n"), Some(0.25));
        assert_eq!(cpu_millicores("1500u"), Some(1.5));
        assert_eq!(memory_bytes("12Mi"), Some(12_582_912.0));
        assert_eq!(memory_bytes("1k"), Some(1000.0));
        assert_eq!(memory_bytes("1234"), Some(1234.0));
        for bad in ["", "m", "1.m", "3x", "1..2m", "<unknown>"] {
            assert_eq!(cpu_millicores(bad), None, "{bad:?}");
        }
        assert_eq!(memory_bytes("12Xi"), None);
    }

    #[test]
    fn pod_names_to_deployments() {
        assert_eq!(
            pod_service("customer-service-7d9f8b6c5d-x2x9q"),
            "customer-service"
        );
        assert_eq!(pod_service("gateway-5b7c9-abcde"), "gateway");
        assert_eq!(pod_service("postgres-0"), "postgres-0");
        assert_eq!(pod_service("gateway-ABCDE-abcde"), "gateway-ABCDE-abcde");
    }

    #[test]
    fn top_rows_and_aggregation() {
        let s1 = parse_top(&fixture("top.txt"));
        assert_eq!(s1.len(), 3);
        let services: Vec<&str> = s1.iter().map(|r| r.service.as_str()).collect();
        assert_eq!(services, ["customer-service", "gateway", "order-service"]);
        assert_eq!((s1[0].cpu_m, s1[0].memory_bytes), (3.0, 12_582_912.0));
        assert_eq!((s1[2].cpu_m, s1[2].memory_bytes), (250.0, 1_073_741_824.0));
        let s2 = parse_top(&fixture("top-missing.txt"));
        let agg = aggregate_top(&[s1, s2]);
        let gw = &agg["gateway"];
        let cpu = gw.cpu_m.as_ref().unwrap();
        assert_eq!(
            (gw.samples, cpu.avg, cpu.max),
            (Some(2), Some(1.5), Some(2.0))
        );
        // Counted only in the samples where the pod was reported.
        assert_eq!(agg["customer-service"].samples, Some(1));
    }

    #[test]
    fn availability_timing() {
        let probes = parse_probe_log(&fixture("probe-availability.log"));
        let r = availability(&probes, 1_000_000_000);
        assert_eq!(r.failed_requests, 4);
        let codes: Vec<(&str, u64)> = r
            .failure_codes
            .iter()
            .map(|(k, v)| (k.as_str(), *v))
            .collect();
        assert_eq!(codes, [("000", 1), ("502", 3)]);
        assert_eq!(r.time_to_first_success_ms, Some(210.0));
        assert_eq!((r.time_to_recovery_ms, r.recovered), (Some(408.0), true));
        assert_eq!(r.outage_window_ms, Some(201.0));
        assert_eq!((r.failed_before_kill, r.requests_total), (0, 11));
        // An unnoticed kill: 0 failures, 0 ms.
        let r = availability(&parse_probe_log("1 2 200\n3 4 200\n"), 2);
        assert_eq!((r.failed_requests, r.time_to_recovery_ms), (0, Some(0.0)));
        // Nothing probed after the kill: nothing known.
        let r = availability(&parse_probe_log("1 2 200\n"), 5);
        assert_eq!((r.time_to_recovery_ms, r.recovered), (None, false));
    }

    #[test]
    fn coldstart_timing() {
        let probes = parse_probe_log(&fixture("probe-coldstart.log"));
        let r = first_success(&probes, 2_000_000_000);
        assert_eq!(
            (r.first_200_ms, r.failed_probes_before_200),
            (Some(73.5), 3)
        );
        let r = first_success(&parse_probe_log("5 6 502\nnot a line\n"), 1);
        assert_eq!(
            (r.first_200_ms, r.probes, r.failed_probes_before_200),
            (None, 1, 1)
        );
    }

    #[test]
    fn digests() {
        assert_eq!(
            push_digest(&fixture("push-docker.txt")),
            Some("sha256:4b2c1f3d5e6a7b8c9d0e1f2a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e")
        );
        assert_eq!(
            push_digest(&fixture("push-spin.txt")),
            Some("sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef")
        );
        assert_eq!(push_digest(&fixture("push-none.txt")), None);
        assert_eq!(push_digest("sha256:abc"), None);
    }

    #[test]
    fn json_objects() {
        let dir = std::env::temp_dir().join(format!("crm-jsonobj-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("f.json");
        std::fs::write(&file, r#"{"x": [1]}"#).unwrap();
        let args: Vec<String> = [
            "test=x",
            "n:=3",
            "nested.ms:=1.5",
            "eq=a=b",
            &format!("file@={}", file.display()),
            "gone@=/nonexistent/x.json",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let v = json_object(&args).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"test": "x", "n": 3, "nested": {"ms": 1.5}, "eq": "a=b",
                               "file": {"x": [1]}, "gone": null})
        );
        assert!(json_object(&["1bad=x".to_string()]).is_err());
        assert_eq!(json_get(&v, "nested.ms"), Some(&serde_json::json!(1.5)));
        assert_eq!(json_get(&v, "file.x.0"), Some(&serde_json::json!(1)));
        assert_eq!(json_get(&v, "file.x.1"), None);
        assert_eq!(json_get(&v, "test.more"), None);
        let sel =
            serde_json::json!({"matchLabels": {"core.spinkube.dev/app-name": "gateway", "a": "1"}});
        assert_eq!(
            label_selector(&sel),
            "a=1,core.spinkube.dev/app-name=gateway"
        );
        assert_eq!(label_selector(&serde_json::json!({})), "");
        assert!(json_object(&["k:=not json".to_string()]).is_err());
        std::fs::remove_dir_all(dir).unwrap();
    }
}
