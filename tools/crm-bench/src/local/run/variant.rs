//! The `spin-size` variant: the Spin components as a size-optimised build
//! (`scripts/build-wasm.sh --size`: opt-level "s", `wasm-opt -Oz`) beside the headline speed
//! build. Measured where the build flags matter: the module sizes, and `/compute` answered by
//! the size-built gateway alone under `spin up`. Its results go to their own stack directory
//! (`spin-size/`), which `crm-bench collect` reads like any stack.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};
use crm_harness::probe::wait_for_200;
use crm_harness::procs::{free_port, Proc};
use crm_harness::stack::{spin_up, START_LIMIT};
use serde::Deserialize;

use crate::results::artifacts::SERVICES;
use crate::results::label::Label;
use crate::results::model::{Artifact, Artifacts, NullableMap};

/// The signal `spin up` stops on (Linux's SIGTERM; no libc dependency for one constant).
const SIGTERM: i32 = 15;

/// Where `crm-bench run` has scripts/build-wasm.sh put the size-optimised modules: beside the
/// speed build the manifests run (`release/`), never over it.
pub fn wasm_dir() -> PathBuf {
    crm_harness::repo_root().join("spin-crm/target/wasm32-wasip1/size")
}

/// `scripts/build-wasm.sh --size <wasm_dir>`.
pub fn build_command() -> Command {
    let root = crm_harness::repo_root();
    let mut cmd = Command::new(root.join("scripts/build-wasm.sh"));
    cmd.arg("--size").arg(wasm_dir()).current_dir(root);
    cmd
}

/// The service manifest `spin-crm/<svc>/spin.toml`.
fn manifest_of(svc: &str) -> PathBuf {
    crm_harness::repo_root()
        .join("spin-crm")
        .join(svc)
        .join("spin.toml")
}

/// `[component.<id>] source = "path"` of a manifest: (id, the .wasm file name), local files only.
pub(super) fn component_files(manifest_text: &str) -> Result<Vec<(String, String)>> {
    #[derive(Deserialize)]
    struct Manifest {
        #[serde(default)]
        component: std::collections::BTreeMap<String, Component>,
    }
    #[derive(Deserialize)]
    struct Component {
        source: Option<toml::Value>,
    }
    let doc: Manifest = toml::from_str(manifest_text)?;
    Ok(doc
        .component
        .into_iter()
        .filter_map(|(id, c)| {
            let source = c.source?;
            let name = Path::new(source.as_str()?)
                .file_name()?
                .to_str()?
                .to_string();
            Some((id, name))
        })
        .collect())
}

/// The text of a manifest with every local `source = "…/x.wasm"` pointing at `wasm_dir/x.wasm`
/// instead; the rest (routes, variables, allowed hosts) as it is. By line, which keeps the
/// manifest readable (the toml crate here parses only).
pub(super) fn with_sources_in(manifest_text: &str, wasm_dir: &Path) -> String {
    let mut out = String::with_capacity(manifest_text.len());
    for line in manifest_text.lines() {
        let local_source = line
            .split_once('=')
            .filter(|(key, _)| key.trim() == "source")
            .and_then(|(_, value)| value.trim().strip_prefix('"')?.strip_suffix('"'))
            .filter(|path| path.ends_with(".wasm"))
            .and_then(|path| Path::new(path).file_name());
        match local_source {
            Some(file) => {
                let path = wasm_dir.join(file);
                out.push_str(&format!("source = {:?}", path.display().to_string()));
            }
            None => out.push_str(line),
        }
        out.push('\n');
    }
    out
}

/// Writes `dir/spin.toml`: the gateway's manifest with its component taken from `wasm_dir`,
/// after checking that every component now points at an existing file there.
pub fn write_gateway_manifest(dir: &Path, wasm_dir: &Path) -> Result<PathBuf> {
    let source = manifest_of("gateway");
    let text = std::fs::read_to_string(&source)
        .with_context(|| format!("cannot read {}", source.display()))?;
    let rewritten = with_sources_in(&text, wasm_dir);
    let files = component_files(&rewritten)?;
    if files.is_empty() {
        bail!("{} names no local component", source.display());
    }
    for (id, file) in &files {
        let path = wasm_dir.join(file);
        if !path.exists() {
            bail!(
                "component {id}: {} missing: build it with scripts/build-wasm.sh --size {}",
                path.display(),
                wasm_dir.display()
            );
        }
    }
    let manifest = dir.join("spin.toml");
    let header = format!(
        "# Written by crm-bench run: {} with the size-optimised component from {}.\n",
        source.display(),
        wasm_dir.display()
    );
    std::fs::write(&manifest, header + &rewritten)
        .with_context(|| format!("cannot write {}", manifest.display()))?;
    Ok(manifest)
}

/// `spin up` of the gateway manifest alone, ready (its `/readyz` answers 200). Returns the
/// process (stopped when dropped) and its URL.
///
/// The gateway's `/readyz`, which k6 waits for, asks its upstreams' `/healthz`; `/compute`
/// never calls them. The upstream URLs point at the gateway itself, which answers `/healthz`:
/// ready without a data service, and nothing but this one component running.
pub async fn start_gateway(manifest: &Path) -> Result<(Proc, String)> {
    let port = free_port()?;
    let url = format!("http://127.0.0.1:{port}");
    let name = format!("{}-gateway", Label::SpinSize);
    let mut cmd = spin_up(manifest.to_path_buf(), port, &name)?;
    cmd.env("SPIN_VARIABLE_CUSTOMER_SERVICE_URL", &url)
        .env("SPIN_VARIABLE_ORDER_SERVICE_URL", &url)
        .env(
            "RUST_LOG",
            std::env::var("RUST_LOG").unwrap_or_else(|_| "info".into()),
        );
    crm_harness::budget::confine(&mut cmd);
    let mut proc = Proc::spawn(&name, cmd, SIGTERM)?;
    wait_for_200(&format!("{url}/readyz"), START_LIMIT, Some(&mut proc)).await?;
    Ok((proc, url))
}

/// The sizes of the variant's modules, shaped as the `spin` stack's artifacts.json: one item
/// per service, its components by id (as its manifest names them), taken from `wasm_dir`.
pub fn artifacts(wasm_dir: &Path, spin_cli: Option<&Path>) -> Artifacts {
    let size = |p: &Path| std::fs::metadata(p).ok().map(|m| m.len() as f64);
    let items: NullableMap<Artifact> = SERVICES
        .iter()
        .map(|svc| {
            let manifest = manifest_of(svc);
            let item = match std::fs::read_to_string(&manifest)
                .map_err(anyhow::Error::from)
                .and_then(|t| component_files(&t))
            {
                Ok(files) => {
                    let components: NullableMap<f64> = files
                        .into_iter()
                        .map(|(id, file)| (id, size(&wasm_dir.join(file))))
                        .collect();
                    let bytes = components
                        .values()
                        .try_fold(0.0, |sum, b| Some(sum + (*b)?))
                        .filter(|_| !components.is_empty());
                    Artifact {
                        kind: Some("wasm".into()),
                        path: Some(wasm_dir.display().to_string()),
                        bytes,
                        components,
                        ..Artifact::default()
                    }
                }
                Err(e) => Artifact {
                    kind: Some("wasm".into()),
                    manifest: Some(manifest.display().to_string()),
                    error: Some(format!("{e:#}")),
                    ..Artifact::default()
                },
            };
            (svc.to_string(), Some(item))
        })
        .collect();
    let total_bytes = items
        .values()
        .try_fold(0.0, |sum, i| Some(sum + i.as_ref()?.bytes?));
    Artifacts {
        stack: Some(Label::SpinSize.as_str().into()),
        total_bytes,
        items,
        runtime: spin_cli.map(|cli| Artifact {
            kind: Some("spin-cli".into()),
            path: Some(cli.display().to_string()),
            bytes: size(cli),
            ..Artifact::default()
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_are_moved_and_the_rest_kept() {
        let text = "spin_manifest_version = 2\n[component.gateway]\n\
                    source = \"../target/wasm32-wasip1/release/spin_gateway.wasm\"\n\
                    allowed_outbound_hosts = [\"{{ customer_service_url }}\"]\n\
                    [component.remote]\nsource = { url = \"https://example.invalid/x.wasm\", digest = \"sha256:0\" }\n";
        let out = with_sources_in(text, Path::new("/opt/size"));
        assert!(
            out.contains("source = \"/opt/size/spin_gateway.wasm\"\n"),
            "{out}"
        );
        assert!(out.contains("allowed_outbound_hosts = [\"{{ customer_service_url }}\"]"));
        assert!(out.contains("source = { url = \"https://example.invalid/x.wasm\""));
        assert_eq!(
            component_files(&out).unwrap(),
            [("gateway".to_string(), "spin_gateway.wasm".to_string())]
        );
    }

    #[test]
    fn the_project_gateway_manifest_is_rewritten_or_refused() {
        let dir = std::env::temp_dir().join(format!("crm-variant-{}", std::process::id()));
        let wasm = dir.join("wasm");
        std::fs::create_dir_all(&wasm).unwrap();
        // No module yet: refused, saying how to build it.
        let err = write_gateway_manifest(&dir, &wasm).unwrap_err().to_string();
        assert!(err.contains("scripts/build-wasm.sh --size"), "{err}");
        std::fs::write(wasm.join("spin_gateway.wasm"), b"\0asm").unwrap();
        let manifest = write_gateway_manifest(&dir, &wasm).unwrap();
        let text = std::fs::read_to_string(manifest).unwrap();
        assert!(text.contains(&format!(
            "{:?}",
            wasm.join("spin_gateway.wasm").display().to_string()
        )));
        assert!(text.contains("route = \"/...\""));
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn sizes_per_service_and_a_missing_module_leaves_the_total_null() {
        let dir = std::env::temp_dir().join(format!("crm-variant-sizes-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for (file, n) in [
            ("spin_gateway.wasm", 10),
            ("spin_customer_service.wasm", 20),
            ("spin_order_service.wasm", 30),
        ] {
            std::fs::write(dir.join(file), vec![0u8; n]).unwrap();
        }
        let a = artifacts(&dir, None);
        assert_eq!(a.stack.as_deref(), Some(Label::SpinSize.as_str()));
        assert_eq!(a.total_bytes, Some(60.0));
        let gw = a.items["gateway"].as_ref().unwrap();
        assert_eq!((gw.kind.as_deref(), gw.bytes), (Some("wasm"), Some(10.0)));
        assert_eq!(gw.components["gateway"], Some(10.0));
        std::fs::remove_file(dir.join("spin_order_service.wasm")).unwrap();
        let a = artifacts(&dir, None);
        assert_eq!(a.total_bytes, None);
        assert_eq!(a.items["order-service"].as_ref().unwrap().bytes, None);
        std::fs::remove_dir_all(dir).unwrap();
    }
}
