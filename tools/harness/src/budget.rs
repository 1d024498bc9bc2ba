//! One CPU budget for the stack under test: the stack's processes on one core, everything else
//! (this process, k6, wrk, a Postgres this process starts) on the others, so that the figures
//! measure the stack and not a generator or a database fighting it for the same core.
//!
//! How, in order of preference:
//! - **cgroup cpuset** (root, cgroup v1 or v2): a cgroup `crm-bench-<pid>` whose `cpuset.cpus`
//!   is the stack core; every stack process is written into its `cgroup.procs` between fork and
//!   exec, so what it starts later (`spin up`'s `spin trigger http`) is in it too. The same
//!   cgroup counts the CPU time of everything that ran in it (`cpuacct.usage` on v1,
//!   `cpu.stat usage_usec` on v2), short-lived children included: CPU per request comes from
//!   there.
//! - **affinity** (no writable cgroups): `sched_setaffinity` to the stack core between fork and
//!   exec, inherited by the children; CPU time then comes from procfs (live processes only).
//! - **shared** (one core, or affinity refused): nothing confined, said so in the results.
//!
//! The generator side is this process itself: [`Budget::pin_self`] pins every thread of it to
//! the other cores, and whatever it spawns inherits that. Call it before any thread starts.
//! Confining a stack process is [`confine`] on its `Command`, a no-op until [`install`] ran, so
//! the test suites, which never install a budget, spawn as before.

use std::collections::BTreeMap;
use std::ffi::CString;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use anyhow::{bail, Context, Result};

/// How the stack is kept on its core.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    CgroupV1,
    CgroupV2,
    Affinity,
    Shared,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::CgroupV1 => "cgroup cpuset (v1)",
            Mode::CgroupV2 => "cgroup cpuset (v2)",
            Mode::Affinity => "affinity",
            Mode::Shared => "shared",
        }
    }
}

/// Where the stack's CPU time is counted.
#[derive(Clone, Debug)]
enum UsageFile {
    /// cgroup v1 `cpuacct.usage`, nanoseconds.
    Nanos(PathBuf),
    /// cgroup v2 `cpu.stat`, the `usage_usec` line.
    CpuStat(PathBuf),
}

/// The budget of a run: which cores the stack gets, which the rest, and how.
#[derive(Clone, Debug)]
pub struct Budget {
    pub mode: Mode,
    pub stack_cpus: Vec<usize>,
    pub generator_cpus: Vec<usize>,
    /// Why the mode is not a cgroup (what failed), for the results.
    pub note: Option<String>,
    /// The cgroup directories made (removed by [`Budget::cleanup`]).
    dirs: Vec<PathBuf>,
    /// `cgroup.procs` files a stack process writes itself into.
    procs_files: Vec<CString>,
    usage: Option<UsageFile>,
    /// The budget cgroup's path below each hierarchy's root (`/crm-bench-<tag>-<pid>`), in the
    /// cgroup modes.
    cgroup: Option<String>,
}

static INSTALLED: OnceLock<Budget> = OnceLock::new();

/// Makes `budget` the one [`confine`] applies. Only the first call counts.
pub fn install(budget: Budget) -> &'static Budget {
    INSTALLED.get_or_init(|| budget)
}

/// The installed budget, if any.
pub fn installed() -> Option<&'static Budget> {
    INSTALLED.get()
}

/// Puts the process `cmd` will start on the stack's core (cgroup and affinity), when a budget
/// is installed; the spawn fails, saying so, when that cannot be done.
pub fn confine(cmd: &mut Command) {
    let Some(budget) = installed() else { return };
    if budget.mode == Mode::Shared {
        return;
    }
    let files = budget.procs_files.clone();
    let set = cpu_set(&budget.stack_cpus);
    // SAFETY: only async-signal-safe calls (open, write, close, sched_setaffinity) on data
    // prepared before the fork.
    unsafe {
        cmd.pre_exec(move || {
            for file in &files {
                let fd = libc::open(file.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC);
                if fd < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                // "0": the writing process itself.
                let written = libc::write(fd, b"0".as_ptr().cast(), 1);
                libc::close(fd);
                if written != 1 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            if libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

fn cpu_set(cpus: &[usize]) -> libc::cpu_set_t {
    // SAFETY: cpu_set_t is plain data; CPU_ZERO/CPU_SET only write inside it.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_ZERO(&mut set);
        for &cpu in cpus {
            libc::CPU_SET(cpu, &mut set);
        }
        set
    }
}

/// The CPUs this process may run on.
pub fn allowed_cpus() -> Vec<usize> {
    // SAFETY: sched_getaffinity writes only into the set it is given.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        if libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) != 0 {
            return Vec::new();
        }
        (0..libc::CPU_SETSIZE as usize)
            .filter(|&c| libc::CPU_ISSET(c, &set))
            .collect()
    }
}

/// The CPUs online on the machine (whatever this process is pinned to).
pub fn online_cpus() -> usize {
    // SAFETY: sysconf has no preconditions.
    let n = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) };
    usize::try_from(n).unwrap_or(0).max(1)
}

/// "0", "0-3", "0,2": the kernel's list format.
pub fn cpu_list(cpus: &[usize]) -> String {
    let mut parts = Vec::new();
    let mut i = 0;
    while i < cpus.len() {
        let mut j = i;
        while j + 1 < cpus.len() && cpus[j + 1] == cpus[j] + 1 {
            j += 1;
        }
        parts.push(if i == j {
            cpus[i].to_string()
        } else {
            format!("{}-{}", cpus[i], cpus[j])
        });
        i = j + 1;
    }
    parts.join(",")
}

/// The split of `allowed`: the last CPU for the stack, the others for the rest. `None` with
/// fewer than two.
pub fn split(allowed: &[usize]) -> Option<(Vec<usize>, Vec<usize>)> {
    let (&stack, rest) = allowed.split_last()?;
    if rest.is_empty() {
        return None;
    }
    Some((vec![stack], rest.to_vec()))
}

impl Budget {
    /// The budget this machine allows: a cgroup when one can be made, else affinity, else
    /// shared. Makes the cgroup; pins nothing yet.
    pub fn create(tag: &str) -> Budget {
        let allowed = allowed_cpus();
        let Some((stack_cpus, generator_cpus)) = split(&allowed) else {
            return Budget::shared(
                &allowed,
                format!("{} CPU(s) allowed: nothing to split", allowed.len().max(1)),
            );
        };
        let name = format!("crm-bench-{tag}-{}", std::process::id());
        let cgroup = if Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
            cgroup_v2(&name, &stack_cpus)
        } else {
            cgroup_v1(&name, &stack_cpus)
        };
        match cgroup {
            Ok((mode, dirs, procs, usage)) => Budget {
                cgroup: Some(format!("/{name}")),
                mode,
                stack_cpus,
                generator_cpus,
                note: None,
                procs_files: procs
                    .iter()
                    .filter_map(|p| CString::new(p.as_os_str().as_encoded_bytes()).ok())
                    .collect(),
                dirs,
                usage: Some(usage),
            },
            Err(e) => Budget {
                mode: Mode::Affinity,
                stack_cpus,
                generator_cpus,
                note: Some(format!(
                    "no cgroup cpuset ({e:#}): sched_setaffinity instead"
                )),
                dirs: Vec::new(),
                procs_files: Vec::new(),
                usage: None,
                cgroup: None,
            },
        }
    }

    fn shared(allowed: &[usize], note: String) -> Budget {
        Budget {
            mode: Mode::Shared,
            stack_cpus: allowed.to_vec(),
            generator_cpus: allowed.to_vec(),
            note: Some(note),
            dirs: Vec::new(),
            procs_files: Vec::new(),
            usage: None,
            cgroup: None,
        }
    }

    /// Where a container runtime puts the cgroups of the stack's containers so that they are
    /// inside the budget: a child of the budget cgroup (`/crm-bench-<tag>-<pid>/<name>`), on
    /// the stack's CPUs by inheritance (runc and youki copy an empty cpuset from the parent)
    /// and counted by the budget's CPU counter (hierarchical). `None` outside the cgroup
    /// modes: the containers then run on every CPU (a container's cpuset cgroup resets the
    /// affinity its runtime inherited), which docs/benchmark.md says of the affinity mode.
    pub fn container_parent(&self, name: &str) -> Option<String> {
        self.cgroup.as_ref().map(|c| format!("{c}/{name}"))
    }

    /// Pins every thread of this process to the generator's cores (children inherit it).
    pub fn pin_self(&mut self) -> Result<()> {
        if self.mode == Mode::Shared {
            return Ok(());
        }
        let set = cpu_set(&self.generator_cpus);
        let tasks = std::fs::read_dir("/proc/self/task").context("cannot list /proc/self/task")?;
        for task in tasks.flatten() {
            let Some(tid) = task
                .file_name()
                .to_str()
                .and_then(|t| t.parse::<i32>().ok())
            else {
                continue;
            };
            // SAFETY: plain syscall on a thread of this process.
            if unsafe { libc::sched_setaffinity(tid, std::mem::size_of::<libc::cpu_set_t>(), &set) }
                != 0
            {
                let e = std::io::Error::last_os_error();
                self.cleanup();
                let note = format!("sched_setaffinity refused ({e}): nothing confined");
                *self = Budget::shared(&allowed_cpus(), note);
                return Ok(());
            }
        }
        Ok(())
    }

    /// One line for the report's top and the progress.
    pub fn describe(&self) -> String {
        match self.mode {
            Mode::Shared => format!(
                "none: the stack, the generator and Postgres share CPU(s) {} ({})",
                cpu_list(&self.stack_cpus),
                self.note.as_deref().unwrap_or("")
            ),
            _ => format!(
                "the stack under test on CPU {} ({}), the generators (k6, wrk) and the harness \
                 on CPU {}",
                cpu_list(&self.stack_cpus),
                self.mode.as_str(),
                cpu_list(&self.generator_cpus)
            ),
        }
    }

    /// CPU seconds every process ever in the stack's cgroup used so far (`None`: no cgroup;
    /// take procfs instead).
    pub fn stack_cpu_s(&self) -> Option<f64> {
        match self.usage.as_ref()? {
            UsageFile::Nanos(path) => {
                let ns: f64 = std::fs::read_to_string(path).ok()?.trim().parse().ok()?;
                Some(ns / 1e9)
            }
            UsageFile::CpuStat(path) => {
                let text = std::fs::read_to_string(path).ok()?;
                let usec: f64 = text
                    .lines()
                    .find_map(|l| l.strip_prefix("usage_usec "))?
                    .trim()
                    .parse()
                    .ok()?;
                Some(usec / 1e6)
            }
        }
    }

    /// The number of stack CPUs (the budget in cores).
    pub fn stack_cores(&self) -> usize {
        self.stack_cpus.len()
    }

    /// Removes the cgroup directories (empty once the stack processes are gone), and the
    /// budget's directory in the other v1 hierarchies, where a container runtime made it for
    /// the containers it nested below ([`Budget::container_parent`]).
    pub fn cleanup(&self) {
        for dir in self.dirs.iter().rev() {
            let _ = std::fs::remove_dir(dir);
        }
        if let (Some(rel), Mode::CgroupV1) = (&self.cgroup, self.mode) {
            let rel = rel.trim_start_matches('/');
            for hierarchy in std::fs::read_dir("/sys/fs/cgroup")
                .into_iter()
                .flatten()
                .flatten()
            {
                let _ = std::fs::remove_dir(hierarchy.path().join(rel));
            }
        }
    }
}

type CgroupParts = (Mode, Vec<PathBuf>, Vec<PathBuf>, UsageFile);

/// v1: a cpuset group (its cpus and the parent's mems) and a cpuacct group of the same name.
fn cgroup_v1(name: &str, cpus: &[usize]) -> Result<CgroupParts> {
    let cpuset_root = Path::new("/sys/fs/cgroup/cpuset");
    let acct_root = Path::new("/sys/fs/cgroup/cpuacct");
    if !cpuset_root.join("cpuset.cpus").exists() || !acct_root.join("cpuacct.usage").exists() {
        bail!("no cgroup v1 cpuset and cpuacct hierarchies under /sys/fs/cgroup");
    }
    let cpuset = make_dir(&cpuset_root.join(name))?;
    let mems = std::fs::read_to_string(cpuset_root.join("cpuset.mems"))?;
    let made = write(&cpuset.join("cpuset.cpus"), &cpu_list(cpus))
        .and_then(|()| write(&cpuset.join("cpuset.mems"), mems.trim()));
    if let Err(e) = made {
        let _ = std::fs::remove_dir(&cpuset);
        return Err(e);
    }
    let acct = match make_dir(&acct_root.join(name)) {
        Ok(dir) => dir,
        Err(e) => {
            let _ = std::fs::remove_dir(&cpuset);
            return Err(e);
        }
    };
    Ok((
        Mode::CgroupV1,
        vec![cpuset.clone(), acct.clone()],
        vec![cpuset.join("cgroup.procs"), acct.join("cgroup.procs")],
        UsageFile::Nanos(acct.join("cpuacct.usage")),
    ))
}

/// v2: a child of the root with the cpuset and cpu controllers (enabled for the root's
/// children first). The stack's processes go into its leaf `processes`, not into it: a
/// container runtime that nests containers below it ([`Budget::container_parent`]) enables
/// controllers in its `subtree_control`, which v2 refuses for a cgroup with processes of its
/// own. The leaf's processes are governed by the parent's cpuset; the parent's `cpu.stat`
/// counts both.
fn cgroup_v2(name: &str, cpus: &[usize]) -> Result<CgroupParts> {
    let root = Path::new("/sys/fs/cgroup");
    let enabled = std::fs::read_to_string(root.join("cgroup.subtree_control")).unwrap_or_default();
    for controller in ["cpuset", "cpu"] {
        if !enabled.split_whitespace().any(|c| c == controller) {
            write(
                &root.join("cgroup.subtree_control"),
                &format!("+{controller}"),
            )?;
        }
    }
    let dir = make_dir(&root.join(name))?;
    let leaf = write(&dir.join("cpuset.cpus"), &cpu_list(cpus))
        .and_then(|()| make_dir(&dir.join("processes")));
    let leaf = match leaf {
        Ok(leaf) => leaf,
        Err(e) => {
            let _ = std::fs::remove_dir(&dir);
            return Err(e);
        }
    };
    Ok((
        Mode::CgroupV2,
        vec![dir.clone(), leaf.clone()],
        vec![leaf.join("cgroup.procs")],
        UsageFile::CpuStat(dir.join("cpu.stat")),
    ))
}

fn make_dir(dir: &Path) -> Result<PathBuf> {
    std::fs::create_dir(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    Ok(dir.to_path_buf())
}

fn write(path: &Path, value: &str) -> Result<()> {
    std::fs::write(path, value)
        .with_context(|| format!("cannot write {value:?} to {}", path.display()))
}

/// Busy and total jiffies of each CPU (`/proc/stat`), for the share of a core in use.
#[derive(Clone, Debug, Default)]
pub struct CoreTimes(BTreeMap<usize, (u64, u64)>);

impl CoreTimes {
    pub fn now() -> CoreTimes {
        CoreTimes::parse(&std::fs::read_to_string("/proc/stat").unwrap_or_default())
    }

    /// `cpuN user nice system idle iowait irq softirq steal ...`: busy is all but idle and
    /// iowait.
    pub fn parse(stat: &str) -> CoreTimes {
        let mut out = BTreeMap::new();
        for line in stat.lines() {
            let mut fields = line.split_whitespace();
            let Some(cpu) = fields
                .next()
                .and_then(|f| f.strip_prefix("cpu"))
                .and_then(|n| n.parse::<usize>().ok())
            else {
                continue;
            };
            let values: Vec<u64> = fields.take(8).filter_map(|f| f.parse().ok()).collect();
            if values.len() < 5 {
                continue;
            }
            let total: u64 = values.iter().sum();
            let idle = values[3] + values[4];
            out.insert(cpu, (total - idle, total));
        }
        CoreTimes(out)
    }

    /// The busy fraction (0..1) of `cpus` together between `self` and `later`.
    pub fn busy_between(&self, later: &CoreTimes, cpus: &[usize]) -> Option<f64> {
        let (mut busy, mut total) = (0u64, 0u64);
        for cpu in cpus {
            let (b0, t0) = self.0.get(cpu)?;
            let (b1, t1) = later.0.get(cpu)?;
            busy += b1.saturating_sub(*b0);
            total += t1.saturating_sub(*t0);
        }
        (total > 0).then(|| busy as f64 / total as f64)
    }
}

/// CPU seconds (utime+stime) of every live process whose command name is `comm` (e.g. every
/// Postgres backend and the postmaster, "postgres").
pub fn cpu_s_of_command(comm: &str) -> f64 {
    let ticks = clock_ticks();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return 0.0;
    };
    let mut total = 0.0;
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<i32>().ok())
        else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        if let Some(cpu) = stat_cpu_if(&stat, comm) {
            total += cpu / ticks;
        }
    }
    total
}

/// utime+stime (ticks) of a `/proc/<pid>/stat` line whose command is `comm`.
fn stat_cpu_if(stat: &str, comm: &str) -> Option<f64> {
    let open = stat.find('(')?;
    let close = stat.rfind(')')?;
    if &stat[open + 1..close] != comm {
        return None;
    }
    let fields: Vec<&str> = stat[close + 2..].split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

/// CPU seconds of one process (and only it), `None` once it is gone.
pub fn cpu_s_of_pid(pid: i32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let close = stat.rfind(')')?;
    let comm = &stat[stat.find('(')? + 1..close];
    stat_cpu_if(&stat, comm).map(|t| t / clock_ticks())
}

/// CPU seconds (user + system) of this process's reaped children so far.
pub fn reaped_children_cpu_s() -> Option<f64> {
    // SAFETY: getrusage writes only into the struct it is given.
    unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        if libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage) != 0 {
            return None;
        }
        let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
        Some(secs(usage.ru_utime) + secs(usage.ru_stime))
    }
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

/// The threads of a process and its descendants, by thread name with a count
/// (`tokio-runtime-w` × 1): how many workers a runtime started under the budget.
pub fn thread_names(pids: &[i32]) -> BTreeMap<String, u32> {
    let mut names = BTreeMap::new();
    for &pid in pids {
        let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
            continue;
        };
        for task in tasks.flatten() {
            let comm = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
            *names.entry(comm.trim().to_string()).or_insert(0) += 1;
        }
    }
    names
}

/// `pid` and every descendant of it (the process-tree walk of [`crate::procfs`]).
pub use crate::procfs::with_descendants;

/// The CPUs a process may run on (`Cpus_allowed_list` of its status).
pub fn cpus_allowed(pid: i32) -> Option<String> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
        .map(|v| v.trim().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_lists_are_written_as_the_kernel_does() {
        assert_eq!(cpu_list(&[0]), "0");
        assert_eq!(cpu_list(&[0, 1, 2, 5, 7, 8]), "0-2,5,7-8");
        assert_eq!(cpu_list(&[]), "");
    }

    #[test]
    fn the_last_cpu_goes_to_the_stack_and_one_cpu_is_not_split() {
        assert_eq!(split(&[0, 1]), Some((vec![1], vec![0])));
        assert_eq!(split(&[0, 1, 2, 3]), Some((vec![3], vec![0, 1, 2])));
        assert_eq!(split(&[4]), None);
        assert_eq!(split(&[]), None);
    }

    #[test]
    fn core_times_give_the_busy_share_of_chosen_cpus() {
        let before = CoreTimes::parse(
            "cpu  10 0 10 80 0 0 0 0 0 0\ncpu0 5 0 5 40 0 0 0 0 0 0\ncpu1 5 0 5 40 0 0 0 0\n",
        );
        let after = CoreTimes::parse(
            "cpu  0 0 0 0 0\ncpu0 95 0 5 40 0 0 0 0 0 0\ncpu1 5 0 5 130 0 0 0 0\n",
        );
        assert_eq!(before.busy_between(&after, &[0]), Some(1.0));
        assert_eq!(before.busy_between(&after, &[1]), Some(0.0));
        assert_eq!(before.busy_between(&after, &[0, 1]), Some(0.5));
        assert_eq!(before.busy_between(&after, &[2]), None);
    }

    #[test]
    fn process_cpu_is_read_after_a_command_with_spaces() {
        let stat = "42 (spin trigger) S 1 42 42 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 3 0";
        assert_eq!(stat_cpu_if(stat, "spin trigger"), Some(300.0));
        assert_eq!(stat_cpu_if(stat, "postgres"), None);
    }

    #[test]
    fn this_process_is_allowed_some_cpu_and_sees_its_own_threads() {
        assert!(!allowed_cpus().is_empty());
        let me = i32::try_from(std::process::id()).unwrap();
        assert!(cpus_allowed(me).is_some());
        assert!(thread_names(&[me]).values().sum::<u32>() >= 1);
        assert!(cpu_s_of_pid(me).is_some());
    }
}
