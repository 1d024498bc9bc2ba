//! `crm-spin-host`: a test fixture that serves the project's compiled Spin components with
//! wasmtime, for machines (this one, CI) where the Spin CLI cannot be installed. Not a runtime
//! for production; see README.md for what it implements and how it differs from Spin.

mod bindings;
mod manifest;
mod outbound;
mod pg;
mod routes;
mod server;
mod state;

use std::io::{IsTerminal, Write};
use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Parser;

#[derive(Debug, Parser)]
#[command(
    name = "crm-spin-host",
    about = "Test fixture: serve a Spin HTTP application's compiled components with wasmtime"
)]
struct Cli {
    /// Path to spin.toml (spin_manifest_version = 2).
    #[arg(long)]
    manifest: PathBuf,
    /// Address to listen on, e.g. 127.0.0.1:3000 (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:3000")]
    listen: SocketAddr,
    /// Do not use wasmtime's on-disk compilation cache.
    #[arg(long)]
    no_compile_cache: bool,
}

fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("RUST_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let cli = Cli::parse();

    let result = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the tokio runtime")
        .and_then(|runtime| runtime.block_on(run(cli)));
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            // One readable line (with causes), not anyhow's backtrace dump under RUST_BACKTRACE.
            eprintln!("crm-spin-host: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> Result<()> {
    let options = server::LoadOptions {
        compile_cache: !cli.no_compile_cache,
    };
    let manifest = cli.manifest.clone();
    // Compiling components is CPU-bound and can take seconds; keep it off the async workers.
    let app = tokio::task::spawn_blocking(move || server::App::load(&manifest, &options))
        .await
        .context("loading the application")??;
    let listener = tokio::net::TcpListener::bind(cli.listen)
        .await
        .with_context(|| format!("binding {}", cli.listen))?;
    let local_addr = listener.local_addr()?;
    {
        let mut stdout = std::io::stdout().lock();
        writeln!(stdout, "listening on http://{local_addr}")?;
        stdout.flush()?;
    }
    app.serve(listener, shutdown_signal()).await?;
    tracing::info!("stopped");
    Ok(())
}

/// Resolves on SIGTERM or SIGINT.
async fn shutdown_signal() {
    let mut terminate =
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(signal) => signal,
            Err(error) => {
                tracing::warn!("cannot watch SIGTERM ({error}); only Ctrl-C stops the host");
                let _ = tokio::signal::ctrl_c().await;
                return;
            }
        };
    tokio::select! {
        _ = terminate.recv() => tracing::info!("SIGTERM received"),
        _ = tokio::signal::ctrl_c() => tracing::info!("SIGINT received"),
    }
}
