//! Processes under test: spawned with their output in a log file, each in a process group of its
//! own, signalled as a group, and always stopped (SIGTERM, then SIGKILL) when dropped. The group
//! matters for Spin: `spin up` runs the HTTP trigger as a child process (`spin trigger http`),
//! which outlives a SIGKILLed `spin up` and keeps serving its port, so a crash, a hang or a stop
//! of "the service" is a signal to the whole group, as a terminal's Ctrl-C or systemd sends it.
//! Each also gets `PR_SET_PDEATHSIG`, so nothing outlives a test binary that is itself killed. That signal follows the *thread* that spawned
//! the child, so processes are spawned from the test's main future (the `block_on` thread,
//! alive for the whole test), never from a spawned task or a blocking-pool thread.

use std::fs::File;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Where process logs go: `CRM_RELIABILITY_LOG_DIR`, else a fresh directory under the temp dir
/// (printed, and kept: it is what a failure is debugged with).
pub fn log_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = match std::env::var("CRM_RELIABILITY_LOG_DIR") {
            Ok(dir) if !dir.trim().is_empty() => PathBuf::from(dir.trim()),
            _ => std::env::temp_dir().join(format!(
                "crm-reliability-logs-{}-{}",
                std::process::id(),
                crate::unique_suffix()
            )),
        };
        std::fs::create_dir_all(&dir)
            .unwrap_or_else(|e| panic!("cannot create the log directory {}: {e}", dir.display()));
        eprintln!("reliability: process logs in {}", dir.display());
        dir
    })
}

/// A port nothing listens on right now (bind to port 0, read it, close).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("cannot bind 127.0.0.1:0")
}

/// A child process that is stopped when dropped.
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
    pub fn spawn(name: &str, mut cmd: Command, stop_signal: i32) -> Proc {
        static COUNT: AtomicUsize = AtomicUsize::new(0);
        let n = COUNT.fetch_add(1, Ordering::Relaxed);
        let log = log_dir().join(format!("{name}-{n}.log"));
        let out =
            File::create(&log).unwrap_or_else(|e| panic!("cannot create {}: {e}", log.display()));
        let err = out.try_clone().expect("cannot duplicate a log file handle");
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
            .unwrap_or_else(|e| panic!("cannot start {name} ({:?}): {e}", cmd.get_program()));
        Proc {
            name: name.to_string(),
            log,
            child,
            stop_signal,
            exited: None,
        }
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
                    std::thread::sleep(Duration::from_millis(20))
                }
                Ok(None) => return None,
                Err(e) => panic!("waiting for {}: {e}", self.name),
            }
        }
    }

    pub fn is_running(&mut self) -> bool {
        self.wait_exit(Duration::ZERO).is_none()
    }

    /// SIGKILL to the group and reap: gone without any chance to clean up, its ports free.
    pub fn kill(&mut self) {
        self.signal(libc::SIGCONT);
        self.signal(libc::SIGKILL);
        self.wait_exit(Duration::from_secs(10))
            .unwrap_or_else(|| panic!("{} survived SIGKILL", self.name));
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.group_alive() {
            assert!(
                Instant::now() < deadline,
                "a child of {} survived SIGKILL",
                self.name
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// The stop signal, up to `grace` to exit, then SIGKILL. Returns the exit status.
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
        self.kill();
        None
    }

    /// The last `lines` lines of the log, for failure messages.
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
