//! Postgres for a run: the one the user configured, or a throwaway cluster this process owns
//! (`initdb` into a temp directory, the server as a child process on a free port, deleted when
//! dropped; it can be stopped and started again, which the reliability suite does). On top:
//! fresh databases named after the run, the schema from `migrations/`, the benchmark's seed
//! rows.

use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use sqlx::postgres::PgPoolOptions;
use sqlx::{Connection, PgConnection, PgPool};

use crate::procs::{free_port, Proc};

/// How long Postgres may take to start or stop before it counts as broken.
const SERVER_LIMIT: Duration = Duration::from_secs(30);

/// The server a run uses and the databases it created there (dropped by [`Server::cleanup`]).
pub struct Server {
    admin_url: String,
    /// Set when this process started the server; dropping it deletes the cluster.
    cluster: Option<Cluster>,
    created: Vec<String>,
}

impl Server {
    /// `CRM_PG_ADMIN_URL`, else `DATABASE_URL` (a server where databases may be created),
    /// else `postgres://postgres@127.0.0.1:5432/postgres` when it answers, else a throwaway
    /// cluster from the server binaries found here (on Debian as root, `postgresql` is
    /// installed first when missing).
    pub async fn find_or_start() -> Result<Server> {
        for var in ["CRM_PG_ADMIN_URL", "DATABASE_URL"] {
            if let Ok(url) = std::env::var(var) {
                if url.trim().is_empty() {
                    continue;
                }
                let url = url.trim().to_string();
                reachable(&url)
                    .await
                    .with_context(|| format!("{var} is set but Postgres does not answer there"))?;
                return Ok(Server::external(url));
            }
        }
        let local = "postgres://postgres@127.0.0.1:5432/postgres";
        if reachable(local).await.is_ok() {
            return Ok(Server::external(local.to_string()));
        }
        let cluster = Cluster::start().await?;
        Ok(Server {
            admin_url: cluster.url("postgres"),
            cluster: Some(cluster),
            created: Vec::new(),
        })
    }

    fn external(admin_url: String) -> Server {
        Server {
            admin_url,
            cluster: None,
            created: Vec::new(),
        }
    }

    pub fn admin_url(&self) -> &str {
        &self.admin_url
    }

    /// Whether this process started the server (a throwaway cluster: its processes are this
    /// process's children, on its CPUs) rather than finding one running.
    pub fn started_here(&self) -> bool {
        self.cluster.is_some()
    }

    /// What to tell a person: the server and whether this run started it.
    pub fn describe(&self) -> String {
        let url = hide_password(&self.admin_url);
        match &self.cluster {
            Some(c) => format!("{url} (a throwaway cluster in {})", c.dir.display()),
            None => url,
        }
    }

    /// The admin URL with its database replaced by `name`.
    pub fn url(&self, name: &str) -> String {
        with_database(&self.admin_url, name)
    }

    /// A new empty database `<prefix>_<unique>`; its URL. Dropped by [`Server::cleanup`].
    pub async fn create_database(&mut self, prefix: &str) -> Result<String> {
        let name = format!("{prefix}_{}", crate::unique_suffix());
        let mut conn = PgConnection::connect(&self.admin_url)
            .await
            .context("connect to Postgres")?;
        sqlx::raw_sql(&format!("CREATE DATABASE \"{name}\""))
            .execute(&mut conn)
            .await
            .with_context(|| format!("CREATE DATABASE {name}"))?;
        let _ = conn.close().await;
        self.created.push(name.clone());
        Ok(self.url(&name))
    }

    /// Drops every database this run created (best effort: it runs on the way out).
    pub async fn cleanup(&mut self) {
        let Ok(mut conn) = PgConnection::connect(&self.admin_url).await else {
            return;
        };
        for name in self.created.drain(..) {
            let sql = format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)");
            let _ = sqlx::raw_sql(&sql).execute(&mut conn).await;
        }
        let _ = conn.close().await;
    }
}

/// One `SELECT 1` within a few seconds.
async fn reachable(url: &str) -> Result<()> {
    let connect = PgConnection::connect(url);
    let mut conn = tokio::time::timeout(Duration::from_secs(5), connect)
        .await
        .map_err(|_| anyhow!("no answer within 5 s"))??;
    sqlx::raw_sql("SELECT 1").execute(&mut conn).await?;
    let _ = conn.close().await;
    Ok(())
}

/// `url` with its path replaced by `/name` (query kept).
pub fn with_database(url: &str, name: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(mut parsed) => {
            parsed.set_path(&format!("/{name}"));
            parsed.to_string()
        }
        Err(_) => format!(
            "{}/{name}",
            url.rsplit_once('/').map_or(url, |(base, _)| base)
        ),
    }
}

/// `url` without its password, for logs.
pub fn hide_password(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("***"));
            parsed.to_string()
        }
        _ => url.to_string(),
    }
}

/// The server binaries from the tool table (`postgres-server`: Debian's `postgresql`, as root
/// or through sudo); otherwise an error saying what else would do.
fn install_debian_server() -> Result<()> {
    crate::tools::ensure("postgres-server").context(
        "no Postgres found: set DATABASE_URL to a Postgres where databases may be created, \
         start one on 127.0.0.1:5432 (user postgres), or install the server binaries so a \
         throwaway cluster can be started (Debian/Ubuntu: apt-get install postgresql; \
         macOS: brew install postgresql; or set CRM_PG_BIN to the directory of initdb)",
    )?;
    pg_bin_dir().map(|_| ())
}

/// A throwaway cluster this process owns.
pub struct Cluster {
    dir: PathBuf,
    bin: PathBuf,
    port: u16,
    /// uid/gid to run as when running as root (initdb and postgres refuse root).
    owner: Option<(u32, u32)>,
    server: Option<Proc>,
    /// Postgres's `max_connections` at the next `start_server`.
    max_connections: u32,
}

/// The throwaway cluster's `max_connections`: room for every pool a test or benchmark opens
/// (each `spin up` of a data service may hold 64).
const MAX_CONNECTIONS: u32 = 400;

impl Cluster {
    /// `initdb` and start. Binaries from `CRM_PG_BIN`, else the newest
    /// `/usr/lib/postgresql/*/bin`, else the directory of `initdb` on `PATH`.
    pub async fn start() -> Result<Cluster> {
        let bin = match pg_bin_dir() {
            Ok(bin) => bin,
            Err(_) => {
                install_debian_server()?;
                pg_bin_dir()?
            }
        };
        let dir = std::env::temp_dir().join(format!("crm-pg-{}", crate::unique_suffix()));
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
        let owner = pg_owner()?;
        if let Some((uid, gid)) = owner {
            std::os::unix::fs::chown(&dir, Some(uid), Some(gid))
                .context("cannot chown the cluster directory to the Postgres user")?;
        }
        let mut cluster = Cluster {
            dir,
            bin,
            port: free_port()?,
            owner,
            server: None,
            max_connections: MAX_CONNECTIONS,
        };
        let mut initdb = cluster.command("initdb");
        initdb.args(["-U", "postgres", "-A", "trust", "-E", "UTF8"]);
        initdb.args(["--no-locale", "--no-sync"]);
        initdb.arg("-D").arg(cluster.data());
        let mut proc = Proc::spawn("initdb", initdb, libc::SIGTERM)?;
        match proc.wait_exit(Duration::from_secs(120)) {
            Some(status) if status.success() => {}
            other => bail!("initdb failed ({other:?}):\n{}", proc.log_tail(30)),
        }
        cluster.start_server().await?;
        Ok(cluster)
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

    /// `max_connections` from the next [`Cluster::start_server`] on (a test of what the stacks
    /// do when Postgres refuses connections lowers it).
    pub fn set_max_connections(&mut self, max_connections: u32) {
        self.max_connections = max_connections;
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `postgres://postgres@127.0.0.1:PORT/NAME`.
    pub fn url(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.port)
    }

    /// Starts the server and waits until it accepts a connection; returns that instant.
    pub async fn start_server(&mut self) -> Result<Instant> {
        if self.server.is_some() {
            bail!("Postgres is already running");
        }
        let mut cmd = self.command("postgres");
        cmd.arg("-D").arg(self.data());
        cmd.arg("-p").arg(self.port.to_string());
        cmd.arg("-k").arg(&self.dir);
        // fsync off: speed. Commits still reach the OS before they are acknowledged, so a
        // server stop or crash (not an OS crash) loses nothing.
        let max_connections = format!("max_connections={}", self.max_connections);
        for setting in [
            "listen_addresses=127.0.0.1",
            "fsync=off",
            &max_connections,
            "shared_buffers=32MB",
        ] {
            cmd.arg("-c").arg(setting);
        }
        // SIGINT is Postgres's fast shutdown: sessions are ended, the server exits cleanly.
        let server = self
            .server
            .insert(Proc::spawn("postgres", cmd, libc::SIGINT)?);
        let admin = format!("postgres://postgres@127.0.0.1:{}/postgres", self.port);
        let deadline = Instant::now() + SERVER_LIMIT;
        loop {
            if let Ok(Ok(conn)) =
                tokio::time::timeout(Duration::from_secs(2), PgConnection::connect(&admin)).await
            {
                let ready = Instant::now();
                let _ = conn.close().await;
                return Ok(ready);
            }
            if !server.is_running() || Instant::now() > deadline {
                bail!(
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
    pub fn stop_server(&mut self, signal: i32) -> Result<Duration> {
        let started = Instant::now();
        let mut server = self.server.take().context("Postgres is not running")?;
        server.signal(signal);
        match server.wait_exit(SERVER_LIMIT) {
            Some(_) => Ok(started.elapsed()),
            None => bail!("Postgres did not stop within {SERVER_LIMIT:?}"),
        }
    }

    /// A new empty database; its URL.
    pub async fn create_database(&self, name: &str) -> Result<String> {
        let mut conn = PgConnection::connect(&self.url("postgres"))
            .await
            .context("connect to the throwaway cluster")?;
        sqlx::raw_sql(&format!("CREATE DATABASE \"{name}\""))
            .execute(&mut conn)
            .await
            .with_context(|| format!("CREATE DATABASE {name}"))?;
        let _ = conn.close().await;
        Ok(self.url(name))
    }

    /// A small pool for reading back what the services wrote.
    pub async fn pool(&self, database: &str) -> Result<PgPool> {
        PgPoolOptions::new()
            .max_connections(4)
            .acquire_timeout(Duration::from_secs(10))
            .connect(&self.url(database))
            .await
            .context("connect to the throwaway cluster")
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

/// Applies the project's migrations (`migrations/*.sql`, in name order): the Spin stack
/// does not migrate by itself.
pub async fn migrate(url: &str) -> Result<()> {
    let dir = crate::repo_root().join("migrations");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .with_context(|| format!("cannot read {}", dir.display()))?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| path.extension().is_some_and(|ext| ext == "sql"))
        .collect();
    files.sort();
    let mut conn = PgConnection::connect(url)
        .await
        .context("connect to migrate")?;
    for file in files {
        let sql = std::fs::read_to_string(&file)?;
        sqlx::raw_sql(&sql)
            .execute(&mut conn)
            .await
            .with_context(|| format!("{}", file.display()))?;
    }
    let _ = conn.close().await;
    Ok(())
}

/// The benchmark's rows: `customers` customers and `orders` orders from `generate_series`,
/// with fixed timestamps, so every stack reads the same data. Returns a line naming the counts
/// and a checksum of the customers (the run records it per stack).
pub async fn seed(url: &str, customers: u32, orders: u32) -> Result<String> {
    let mut conn = PgConnection::connect(url)
        .await
        .context("connect to seed")?;
    let sql = include_str!("seed.sql")
        .replace(":customers", &customers.to_string())
        .replace(":orders", &orders.to_string());
    sqlx::raw_sql(&sql)
        .execute(&mut conn)
        .await
        .context("seed rows")?;
    let line: String = sqlx::query_scalar(
        "SELECT (SELECT count(*) FROM customers) || ' customers, ' \
         || (SELECT count(*) FROM orders) || ' orders, checksum ' \
         || (SELECT md5(string_agg(id || name || email || coalesce(phone, ''), ',' ORDER BY id)) \
             FROM customers)",
    )
    .fetch_one(&mut conn)
    .await?;
    let _ = conn.close().await;
    Ok(line)
}

fn pg_bin_dir() -> Result<PathBuf> {
    if let Ok(dir) = std::env::var("CRM_PG_BIN") {
        if !dir.trim().is_empty() {
            return Ok(PathBuf::from(dir.trim()));
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
        return Ok(bin);
    }
    std::env::var_os("PATH")
        .map(|path| std::env::split_paths(&path).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .find(|dir| dir.join("initdb").exists() && dir.join("postgres").exists())
        .context(
            "no Postgres server binaries found: set CRM_PG_BIN to the directory holding \
             initdb and postgres (Debian: apt-get install postgresql)",
        )
}

/// When running as root, the uid/gid of `CRM_PG_USER` (default `postgres`, created as a
/// system user when missing).
fn pg_owner() -> Result<Option<(u32, u32)>> {
    // SAFETY: geteuid cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        return Ok(None);
    }
    let user = std::env::var("CRM_PG_USER").unwrap_or_else(|_| "postgres".to_string());
    let id = |flag: &str| -> Option<u32> {
        let out = Command::new("id").args([flag, &user]).output().ok()?;
        String::from_utf8_lossy(&out.stdout).trim().parse().ok()
    };
    if id("-u").is_none() {
        let _ = Command::new("useradd")
            .args(["--system", "--no-create-home", &user])
            .status();
    }
    match (id("-u"), id("-g")) {
        (Some(uid), Some(gid)) => Ok(Some((uid, gid))),
        _ => bail!(
            "running as root, Postgres needs an unprivileged user: `{user}` does not exist \
             (create it with `useradd --system {user}` or set CRM_PG_USER)"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_names_and_passwords_in_urls() {
        assert_eq!(
            with_database("postgres://u:p@h:5/postgres?sslmode=disable", "x_1"),
            "postgres://u:p@h:5/x_1?sslmode=disable"
        );
        assert_eq!(
            hide_password("postgres://u:secret@h/db"),
            "postgres://u:***@h/db"
        );
        assert_eq!(hide_password("postgres://u@h/db"), "postgres://u@h/db");
    }
}
