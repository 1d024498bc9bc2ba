//! Child processes: spawned with their output in a log file, each in a process group of its
//! own, signalled as a group, and always stopped (the stop signal, then SIGKILL) when dropped.
//! The group matters for Spin: `spin up` runs the HTTP trigger as a child process (`spin
//! trigger http`) which outlives a SIGKILLed `spin up` and keeps serving its port, so stopping
//! or crashing "the service" is a signal to the whole group, as a terminal's Ctrl-C sends it.
//! Each also gets `PR_SET_PDEATHSIG`, so nothing outlives a harness that is itself killed.
//! That signal follows the *thread* that spawned the child: spawn from a thread that lives as
//! long as the process (the `block_on` thread), never from a blocking-pool thread.

use std::collections::BTreeSet;
use std::fs::File;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

static LOG_DIR: OnceLock<PathBuf> = OnceLock::new();

/// Sends process logs to `dir` (created). Only the first call counts: call it before the
/// first process starts.
pub fn set_log_dir(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let _ = LOG_DIR.set(dir.to_path_buf());
    Ok(())
}

/// Where process logs go: what [`set_log_dir`] said, else `CRM_LOG_DIR`, else a fresh
/// directory under the temp dir (kept: it is what a failure is debugged with).
pub fn log_dir() -> &'static Path {
    LOG_DIR.get_or_init(|| {
        let dir = match std::env::var("CRM_LOG_DIR") {
            Ok(dir) if !dir.trim().is_empty() => PathBuf::from(dir.trim()),
            _ => std::env::temp_dir().join(format!("crm-logs-{}", crate::unique_suffix())),
        };
        if let Err(e) = std::fs::create_dir_all(&dir) {
            eprintln!("cannot create the log directory {}: {e}", dir.display());
        }
        dir
    })
}

/// A port nothing listens on right now (bind to port 0, read it, close), and one this process
/// has not handed out before. The kernel may give a just-closed port 0 again, so two calls
/// made before either port is bound (a service's listener and its metrics listener) could
/// return the same port: a CI run failed on exactly that ("Address already in use" on the
/// gateway's second listener). Remembering what was handed out rules it out within a process.
pub fn free_port() -> Result<u16> {
    static HANDED_OUT: Mutex<BTreeSet<u16>> = Mutex::new(BTreeSet::new());
    let mut handed_out = HANDED_OUT.lock().unwrap_or_else(|e| e.into_inner());
    for _ in 0..64 {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").context("bind 127.0.0.1:0")?;
        let port = listener.local_addr()?.port();
        if handed_out.insert(port) {
            return Ok(port);
        }
    }
    bail!("no free port on 127.0.0.1 that this process has not handed out already (64 tries)")
}

/// A child process (group) that is stopped when dropped.
pub struct Proc {
    pub name: String,
    pub log: PathBuf,
    child: Child,
    /// The signal that asks it to stop (SIGTERM; SIGINT for Postgres: fast shutdown).
    stop_signal: i32,
    exited: Option<ExitStatus>,
}

impl Proc {
    /// Starts `cmd`, stdout and stderr to `<log dir>/<name>-<n>.log`.
    pub fn spawn(name: &str, cmd: Command, stop_signal: i32) -> Result<Proc> {
        static COUNT: AtomicUsize = AtomicUsize::new(0);
        let n = COUNT.fetch_add(1, Ordering::Relaxed);
        Proc::spawn_logged(
            name,
            cmd,
            stop_signal,
            log_dir().join(format!("{name}-{n}.log")),
        )
    }

    /// Starts `cmd`, stdout and stderr to `log`.
    pub fn spawn_logged(
        name: &str,
        mut cmd: Command,
        stop_signal: i32,
        log: PathBuf,
    ) -> Result<Proc> {
        let out = File::create(&log).with_context(|| format!("cannot create {}", log.display()))?;
        let err = out.try_clone()?;
        cmd.stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .process_group(0);
        // SAFETY: prctl is async-signal-safe and touches no memory of the parent.
        unsafe {
            cmd.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        let child = cmd
            .spawn()
            .with_context(|| format!("cannot start {name} ({:?})", cmd.get_program()))?;
        Ok(Proc {
            name: name.to_string(),
            log,
            child,
            stop_signal,
            exited: None,
        })
    }

    pub fn pid(&self) -> i32 {
        i32::try_from(self.child.id()).expect("pid fits i32")
    }

    /// Sends `signal` to the process group: the process and whatever it started (a group id
    /// is not reused while any member is alive, so this never reaches a stranger).
    pub fn signal(&self, signal: i32) {
        // SAFETY: plain syscall on our own child's process group.
        unsafe {
            libc::kill(-self.pid(), signal);
        }
    }

    /// Whether any process of the group is still alive (the leader may be gone already).
    fn group_alive(&self) -> bool {
        // SAFETY: signal 0 only checks for existence.
        unsafe { libc::kill(-self.pid(), 0) == 0 }
    }

    /// Waits up to `limit` for the process to exit; its status, or `None` if still running.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.exited {
                return Some(status);
            }
            match self.child.try_wait() {
                Ok(Some(status)) => {
                    self.exited = Some(status);
                    return Some(status);
                }
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(10))
                }
                // A child we cannot wait for is treated as still running: the drop kills it.
                Ok(None) | Err(_) => return None,
            }
        }
    }

    /// [`Proc::wait_exit`] for async callers: polls without blocking the runtime.
    pub async fn wait_exit_async(&mut self, limit: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.wait_exit(Duration::ZERO) {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub fn is_running(&mut self) -> bool {
        self.wait_exit(Duration::ZERO).is_none()
    }

    /// SIGKILL to the group and reap: gone without any chance to clean up, its ports free.
    pub fn kill(&mut self) -> Result<()> {
        self.signal(libc::SIGCONT);
        self.signal(libc::SIGKILL);
        if self.wait_exit(Duration::from_secs(10)).is_none() {
            bail!("{} survived SIGKILL", self.name);
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.group_alive() {
            if Instant::now() > deadline {
                bail!("a child of {} survived SIGKILL", self.name);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        Ok(())
    }

    /// The stop signal, up to `grace` to exit, then SIGKILL. The exit status when it stopped
    /// by itself, `None` when it had to be killed.
    pub fn stop(&mut self, grace: Duration) -> Option<ExitStatus> {
        // A stopped (SIGSTOP) process only handles signals once continued.
        self.signal(libc::SIGCONT);
        self.signal(self.stop_signal);
        if let Some(status) = self.wait_exit(grace) {
            return Some(status);
        }
        eprintln!(
            "{} ignored its stop signal for {grace:?}; killing it",
            self.name
        );
        if let Err(e) = self.kill() {
            eprintln!("{e}");
        }
        None
    }

    /// The last `lines` lines of the log, for error messages.
    pub fn log_tail(&self, lines: usize) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if self.exited.is_none() {
            self.stop(Duration::from_secs(5));
        }
        if self.group_alive() {
            self.signal(libc::SIGKILL);
        }
    }
}
