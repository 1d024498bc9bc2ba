//! Memory and CPU of process trees from procfs (Linux): VmRSS of each process and its
//! descendants (`spin up` serves from a child process), CPU time from utime+stime. A sampler
//! runs on its own thread until stopped. [`memory_of`] adds PSS for a set of trees at one
//! instant: RSS counts a page shared by N processes N times, PSS a 1/N share in each, and
//! anonymous memory (heap, stacks) is what no other process maps, whatever else runs.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// One process tree at one instant.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TreeSample {
    pub rss_bytes: u64,
    pub cpu_s: f64,
}

/// Every named tree at one instant (`None`: that process is gone).
#[derive(Clone, Debug)]
pub struct Sample {
    /// Seconds since the epoch.
    pub t: f64,
    pub trees: BTreeMap<String, Option<TreeSample>>,
}

/// Average and peak of one tree (or of their sum, "total") over a sampling window.
#[derive(Clone, Debug, PartialEq)]
pub struct Usage {
    pub samples: u32,
    pub rss_avg_bytes: f64,
    pub rss_max_bytes: f64,
    /// CPU in millicores (1000 = one core busy) between consecutive samples.
    pub cpu_avg_m: Option<f64>,
    pub cpu_max_m: Option<f64>,
}

fn clock_ticks() -> f64 {
    // SAFETY: sysconf has no preconditions.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if ticks > 0 {
        ticks as f64
    } else {
        100.0
    }
}

/// `/proc/<pid>/stat` fields after the command (which may hold spaces and parentheses).
fn stat_fields(pid: i32) -> Option<Vec<String>> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 2..];
    Some(rest.split_whitespace().map(str::to_string).collect())
}

/// parent pid -> children, for every process.
fn children_map() -> BTreeMap<i32, Vec<i32>> {
    let mut out: BTreeMap<i32, Vec<i32>> = BTreeMap::new();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return out;
    };
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<i32>().ok())
        else {
            continue;
        };
        if let Some(ppid) = stat_fields(pid).and_then(|f| f.get(1)?.parse().ok()) {
            out.entry(ppid).or_default().push(pid);
        }
    }
    out
}

/// `pid` and every descendant of it, as /proc shows them now.
pub fn with_descendants(pid: i32) -> Vec<i32> {
    tree(pid, &children_map())
}

/// Every process in the trees rooted at `roots`, each once; `None` when a root is gone.
fn processes_under(roots: &[i32]) -> Option<Vec<i32>> {
    let children = children_map();
    let mut procs: Vec<i32> = Vec::new();
    for &root in roots {
        rss_bytes(root)?;
        procs.extend(tree(root, &children));
    }
    procs.sort_unstable();
    procs.dedup();
    Some(procs)
}

fn tree(pid: i32, children: &BTreeMap<i32, Vec<i32>>) -> Vec<i32> {
    let mut todo = vec![pid];
    let mut seen = Vec::new();
    while let Some(p) = todo.pop() {
        if seen.contains(&p) {
            continue;
        }
        seen.push(p);
        todo.extend(children.get(&p).into_iter().flatten());
    }
    seen
}

fn rss_bytes(pid: i32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    Some(line.split_whitespace().nth(1)?.parse::<u64>().ok()? * 1024)
}

fn cpu_seconds(pid: i32, ticks: f64) -> Option<f64> {
    let fields = stat_fields(pid)?;
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / ticks)
}

/// RSS and PSS of a set of process trees at one instant.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Memory {
    pub rss_bytes: u64,
    /// `None` when some process's `smaps_rollup` could not be read (kernel before 4.14, or
    /// no permission): a partial sum would understate it.
    pub pss_bytes: Option<u64>,
    /// Anonymous memory (`Anonymous:` of `smaps_rollup`): the pages no file backs, which
    /// unlike PSS do not depend on what other processes map the same files. `None` as PSS.
    pub anon_bytes: Option<u64>,
    /// How many processes the figures sum.
    pub processes: u32,
}

/// `Pss:` and `Anonymous:` of `/proc/<pid>/smaps_rollup`, in bytes.
fn rollup(pid: i32) -> Option<(u64, u64)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).ok()?;
    let field = |name: &str| -> Option<u64> {
        let line = text.lines().find(|l| l.starts_with(name))?;
        Some(line.split_whitespace().nth(1)?.parse::<u64>().ok()? * 1024)
    };
    Some((field("Pss:")?, field("Anonymous:")?))
}

/// The memory of every process in the trees rooted at `roots` (each process counted once,
/// however many roots reach it); `None` when a root is gone.
pub fn memory_of(roots: &[i32]) -> Option<Memory> {
    let procs = processes_under(roots)?;
    let rollups: Option<Vec<(u64, u64)>> = procs.iter().map(|p| rollup(*p)).collect();
    Some(Memory {
        rss_bytes: procs.iter().filter_map(|p| rss_bytes(*p)).sum(),
        pss_bytes: rollups.as_ref().map(|v| v.iter().map(|r| r.0).sum()),
        anon_bytes: rollups.as_ref().map(|v| v.iter().map(|r| r.1).sum()),
        processes: procs.len() as u32,
    })
}

/// Samples every named tree once.
pub fn sample_once(pids: &[(String, i32)]) -> Sample {
    let children = children_map();
    let ticks = clock_ticks();
    let t = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or_default();
    let trees = pids
        .iter()
        .map(|(name, pid)| {
            let procs = tree(*pid, &children);
            let sample = rss_bytes(*pid).map(|_| TreeSample {
                rss_bytes: procs.iter().filter_map(|p| rss_bytes(*p)).sum(),
                cpu_s: procs.iter().filter_map(|p| cpu_seconds(*p, ticks)).sum(),
            });
            (name.clone(), sample)
        })
        .collect();
    Sample { t, trees }
}

/// A sampling thread.
pub struct Sampler {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<Vec<Sample>>,
}

impl Sampler {
    /// Samples `pids` every `interval` until [`Sampler::finish`].
    pub fn start(pids: Vec<(String, i32)>, interval: Duration) -> Sampler {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            let mut samples = vec![sample_once(&pids)];
            while !flag.load(Ordering::Relaxed) {
                std::thread::sleep(interval);
                samples.push(sample_once(&pids));
            }
            samples
        });
        Sampler { stop, thread }
    }

    /// Stops sampling; every sample taken.
    pub fn finish(self) -> Vec<Sample> {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().unwrap_or_default()
    }
}

/// Per tree and "total" (the sum of all trees, only at instants where all were alive): the
/// average and peak RSS and CPU. A tree never seen alive is `None`.
pub fn usage(samples: &[Sample]) -> BTreeMap<String, Option<Usage>> {
    let names: Vec<String> = samples
        .iter()
        .flat_map(|s| s.trees.keys().cloned())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    let total = |s: &Sample| -> Option<TreeSample> {
        let all: Option<Vec<TreeSample>> = names.iter().map(|n| *s.trees.get(n)?).collect();
        let all = all?;
        Some(TreeSample {
            rss_bytes: all.iter().map(|t| t.rss_bytes).sum(),
            cpu_s: all.iter().map(|t| t.cpu_s).sum(),
        })
    };
    let mut out = BTreeMap::new();
    for name in names.iter().map(String::as_str).chain(["total"]) {
        let series: Vec<(f64, Option<TreeSample>)> = samples
            .iter()
            .map(|s| {
                let value = if name == "total" {
                    total(s)
                } else {
                    s.trees.get(name).copied().flatten()
                };
                (s.t, value)
            })
            .collect();
        out.insert(name.to_string(), usage_of(&series));
    }
    out
}

fn usage_of(series: &[(f64, Option<TreeSample>)]) -> Option<Usage> {
    let rss: Vec<f64> = series
        .iter()
        .filter_map(|(_, s)| s.map(|s| s.rss_bytes as f64))
        .collect();
    if rss.is_empty() {
        return None;
    }
    let cpu: Vec<f64> = series
        .windows(2)
        .filter_map(|w| {
            let ((t0, Some(a)), (t1, Some(b))) = (w[0], w[1]) else {
                return None;
            };
            (t1 > t0).then(|| 1000.0 * (b.cpu_s - a.cpu_s) / (t1 - t0))
        })
        .collect();
    let avg = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    let max = |v: &[f64]| v.iter().copied().fold(f64::MIN, f64::max);
    Some(Usage {
        samples: rss.len() as u32,
        rss_avg_bytes: avg(&rss).round(),
        rss_max_bytes: max(&rss),
        cpu_avg_m: (!cpu.is_empty()).then(|| avg(&cpu)),
        cpu_max_m: (!cpu.is_empty()).then(|| max(&cpu)),
    })
}

/// Open file descriptors of every process in the trees rooted at `roots` (entries of
/// `/proc/<pid>/fd`); `None` when a root is gone or a directory cannot be read.
pub fn open_fds(roots: &[i32]) -> Option<u64> {
    let procs = processes_under(roots)?;
    let mut total = 0;
    for pid in procs {
        total += std::fs::read_dir(format!("/proc/{pid}/fd")).ok()?.count() as u64;
    }
    Some(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(t: f64, trees: &[(&str, Option<(u64, f64)>)]) -> Sample {
        Sample {
            t,
            trees: trees
                .iter()
                .map(|(n, v)| {
                    let v = v.map(|(rss_bytes, cpu_s)| TreeSample { rss_bytes, cpu_s });
                    (n.to_string(), v)
                })
                .collect(),
        }
    }

    #[test]
    fn usage_averages_peaks_and_cpu_rates() {
        let samples = [
            at(0.0, &[("a", Some((100, 1.0))), ("b", Some((10, 0.0)))]),
            at(0.5, &[("a", Some((300, 1.25))), ("b", None)]),
            at(1.0, &[("a", Some((200, 1.5))), ("b", Some((30, 0.5)))]),
        ];
        let u = usage(&samples);
        let a = u["a"].clone().unwrap();
        assert_eq!(
            (a.samples, a.rss_avg_bytes, a.rss_max_bytes),
            (3, 200.0, 300.0)
        );
        assert_eq!((a.cpu_avg_m, a.cpu_max_m), (Some(500.0), Some(500.0)));
        // b was gone in the middle sample: no rate across the gap.
        let b = u["b"].clone().unwrap();
        assert_eq!((b.samples, b.cpu_avg_m), (2, None));
        // total only where both were alive.
        let total = u["total"].clone().unwrap();
        assert_eq!((total.samples, total.rss_max_bytes), (2, 230.0));
    }

    #[test]
    fn memory_of_counts_each_process_once_and_pss_at_most_rss() {
        let me = i32::try_from(std::process::id()).unwrap();
        let once = memory_of(&[me]).unwrap();
        assert!(once.processes >= 1 && once.rss_bytes > 0);
        let pss = once
            .pss_bytes
            .expect("smaps_rollup is readable for our own process");
        assert!(pss > 0 && pss <= once.rss_bytes, "{once:?}");
        let anon = once.anon_bytes.expect("read with the PSS");
        assert!(anon > 0 && anon <= once.rss_bytes, "{once:?}");
        let twice = memory_of(&[me, me]).unwrap();
        assert_eq!(twice.processes, once.processes);
        assert_eq!(memory_of(&[me, i32::MAX]), None);
    }

    #[test]
    fn this_process_is_sampled() {
        let me = i32::try_from(std::process::id()).unwrap();
        let s = sample_once(&[("me".to_string(), me), ("gone".to_string(), i32::MAX)]);
        assert!(s.trees["me"].unwrap().rss_bytes > 0);
        assert_eq!(s.trees["gone"], None);
    }
}
