//! A throwaway Postgres cluster the test owns: `initdb` into a temp directory, the `postgres`
//! server as a child process on a free port, stopped (fast shutdown) and started again at will,
//! deleted when dropped. Never the development or CI database: nothing here touches
//! 127.0.0.1:5432.

use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use sqlx::postgres::PgPoolOptions;
use sqlx::{Connection, PgConnection, PgPool};

use crate::procs::{free_port, Proc};

/// How long Postgres may take to start or stop before the test calls it broken.
const SERVER_LIMIT: Duration = Duration::from_secs(30);

pub struct Cluster {
    dir: PathBuf,
    bin: PathBuf,
    port: u16,
    /// uid/gid to run as when the tests run as root (initdb and postgres refuse root).
    owner: Option<(u32, u32)>,
    server: Option<Proc>,
}

impl Cluster {
    /// `initdb` and start. Binaries from `CRM_PG_BIN`, else the newest
    /// `/usr/lib/postgresql/*/bin`, else the directory of `initdb` on `PATH`.
    pub async fn start() -> Cluster {
        let bin = pg_bin_dir();
        let dir = std::env::temp_dir().join(format!("crm-rel-pg-{}", crate::unique_suffix()));
        std::fs::create_dir_all(&dir).expect("cannot create the cluster directory");
        let owner = pg_owner();
        if let Some((uid, gid)) = owner {
            std::os::unix::fs::chown(&dir, Some(uid), Some(gid))
                .expect("cannot chown the cluster directory to the Postgres user");
        }
        let mut cluster = Cluster {
            dir,
            bin,
            port: free_port(),
            owner,
            server: None,
        };
        let mut initdb = cluster.command("initdb");
        initdb.args([
            "-U",
            "postgres",
            "-A",
            "trust",
            "-E",
            "UTF8",
            "--no-locale",
            "--no-sync",
        ]);
        initdb.arg("-D").arg(cluster.data());
        let mut proc = Proc::spawn("initdb", initdb, libc::SIGTERM);
        match proc.wait_exit(Duration::from_secs(120)) {
            Some(status) if status.success() => {}
            other => panic!("initdb failed ({other:?}):\n{}", proc.log_tail(30)),
        }
        cluster.start_server().await;
        cluster
    }

    fn data(&self) -> PathBuf {
        self.dir.join("data")
    }

    fn command(&self, program: &str) -> Command {
        let mut cmd = Command::new(self.bin.join(program));
        if let Some((uid, gid)) = self.owner {
            cmd.uid(uid).gid(gid);
        }
        cmd.current_dir(&self.dir);
        cmd
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `postgres://postgres@127.0.0.1:PORT/NAME`.
    pub fn url(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.port)
    }

    /// Starts the server and waits until it accepts a connection; returns that instant.
    pub async fn start_server(&mut self) -> Instant {
        assert!(self.server.is_none(), "Postgres is already running");
        let mut cmd = self.command("postgres");
        cmd.arg("-D").arg(self.data());
        cmd.arg("-p").arg(self.port.to_string());
        cmd.arg("-k").arg(&self.dir);
        // fsync off: speed. Commits still reach the OS before they are acknowledged, so a
        // server stop or crash (not an OS crash) loses nothing; that is what is tested.
        for setting in [
            "listen_addresses=127.0.0.1",
            "fsync=off",
            "max_connections=300",
            "shared_buffers=32MB",
        ] {
            cmd.arg("-c").arg(setting);
        }
        // SIGINT is Postgres's fast shutdown: sessions are ended, the server exits cleanly.
        self.server = Some(Proc::spawn("postgres", cmd, libc::SIGINT));
        let admin = self.url("postgres");
        let deadline = Instant::now() + SERVER_LIMIT;
        loop {
            if let Ok(Ok(conn)) =
                tokio::time::timeout(Duration::from_secs(2), PgConnection::connect(&admin)).await
            {
                let ready = Instant::now();
                let _ = conn.close().await;
                return ready;
            }
            let server = self.server.as_mut().expect("just started");
            if !server.is_running() || Instant::now() > deadline {
                panic!(
                    "Postgres did not start on port {}:\n{}",
                    self.port,
                    server.log_tail(30)
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Stops the server with `signal` and waits for it to exit: SIGINT is a fast shutdown
    /// (sessions ended, a clean stop), SIGQUIT an immediate one (every process quits at once,
    /// like a crash; the next start replays the WAL). Returns how long the stop took.
    pub fn stop_server(&mut self, signal: i32) -> Duration {
        let started = Instant::now();
        let mut server = self.server.take().expect("Postgres is not running");
        server.signal(signal);
        match server.wait_exit(SERVER_LIMIT) {
            Some(_) => started.elapsed(),
            None => panic!("Postgres did not stop within {SERVER_LIMIT:?}"),
        }
    }

    /// A new empty database; its URL.
    pub async fn create_database(&self, name: &str) -> String {
        let mut conn = PgConnection::connect(&self.url("postgres"))
            .await
            .expect("connect to the throwaway cluster");
        sqlx::raw_sql(&format!("CREATE DATABASE \"{name}\""))
            .execute(&mut conn)
            .await
            .expect("CREATE DATABASE");
        let _ = conn.close().await;
        self.url(name)
    }

    /// A small pool for reading back what the services wrote.
    pub async fn pool(&self, database: &str) -> PgPool {
        PgPoolOptions::new()
            .max_connections(4)
            .acquire_timeout(Duration::from_secs(10))
            .connect(&self.url(database))
            .await
            .expect("connect to the throwaway cluster")
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if let Some(mut server) = self.server.take() {
            server.stop(SERVER_LIMIT);
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Applies the project's migrations (the Spin stack does not migrate by itself).
pub async fn migrate(url: &str) {
    let dir = crate::repo_root().join("migrations");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| path.extension().is_some_and(|ext| ext == "sql"))
        .collect();
    files.sort();
    let mut conn = PgConnection::connect(url)
        .await
        .expect("connect to migrate");
    for file in files {
        let sql = std::fs::read_to_string(&file).expect("read a migration");
        sqlx::raw_sql(&sql)
            .execute(&mut conn)
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    }
    let _ = conn.close().await;
}

fn pg_bin_dir() -> PathBuf {
    if let Ok(dir) = std::env::var("CRM_PG_BIN") {
        if !dir.trim().is_empty() {
            return PathBuf::from(dir.trim());
        }
    }
    let mut candidates: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .filter_map(|entry| {
            let entry = entry.ok()?;
            let version: u32 = entry.file_name().to_str()?.parse().ok()?;
            let bin = entry.path().join("bin");
            bin.join("initdb").exists().then_some((version, bin))
        })
        .collect();
    candidates.sort();
    if let Some((_, bin)) = candidates.pop() {
        return bin;
    }
    let on_path = std::env::var_os("PATH")
        .map(|path| std::env::split_paths(&path).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .find(|dir| dir.join("initdb").exists() && dir.join("postgres").exists());
    on_path.unwrap_or_else(|| {
        panic!(
            "no Postgres server binaries found: set CRM_PG_BIN to the directory holding initdb \
             and postgres (Debian: apt-get install postgresql)"
        )
    })
}

/// When running as root, the uid/gid of `CRM_PG_USER` (default `postgres`).
fn pg_owner() -> Option<(u32, u32)> {
    // SAFETY: geteuid cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        return None;
    }
    let user = std::env::var("CRM_PG_USER").unwrap_or_else(|_| "postgres".to_string());
    let id = |flag: &str| -> u32 {
        let out = Command::new("id")
            .args([flag, &user])
            .output()
            .expect("run id");
        String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .unwrap_or_else(|_| {
                panic!(
                    "running as root, Postgres needs an unprivileged user: `{user}` does not exist \
                     (create it with `useradd --system {user}` or set CRM_PG_USER)"
                )
            })
    };
    Some((id("-u"), id("-g")))
}
