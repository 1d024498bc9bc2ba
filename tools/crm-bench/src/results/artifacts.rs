//! Sizes of what each stack deploys (the "artifacts" object of docs/results-schema.md).
//!
//! k3d: the Axum container images as `docker image inspect` sizes them (uncompressed), the Spin
//! components as files. Local: the three Axum release binaries; the Spin components with the
//! Spin CLI that runs them listed apart (`runtime`, not counted in `total_bytes`). An artifact
//! that cannot be measured has `bytes` null, never a guess.

use crate::results::environment::first_line_of;
use crate::results::model::{Artifact, Artifacts, NullableMap};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub const SERVICES: [&str; 3] = ["gateway", "customer-service", "order-service"];

/// k3d, Axum: the images setup-all.sh pushed as `<registry>/crm/axum-<service>:dev`.
pub fn axum_images(registry: &str) -> Artifacts {
    let items = SERVICES.iter().map(|svc| {
        let reference = format!("{registry}/crm/axum-{svc}:dev");
        let bytes = first_line_of(&["docker", "image", "inspect", "-f", "{{.Size}}", &reference])
            .and_then(|s| s.parse::<f64>().ok());
        let item = Artifact {
            kind: Some("oci-image".into()),
            reference: Some(reference),
            bytes,
            ..Artifact::default()
        };
        (svc.to_string(), Some(item))
    });
    with_total("axum", items.collect())
}

/// Local, Axum: the release binaries axum-gateway, axum-customer-service, axum-order-service.
pub fn axum_binaries(bin_dir: &Path) -> Artifacts {
    let items = SERVICES.iter().map(|svc| {
        let path = bin_dir.join(format!("axum-{svc}"));
        let item = Artifact {
            kind: Some("binary".into()),
            bytes: file_size(&path),
            path: Some(path.display().to_string()),
            ..Artifact::default()
        };
        (svc.to_string(), Some(item))
    });
    with_total("axum", items.collect())
}

/// The Wasm components named by spin-crm/<service>/spin.toml under `root` (the repository);
/// `spin_cli`, when given, is the runtime (kind "spin-cli", apart from `total_bytes`).
pub fn spin_wasm(root: &Path, spin_cli: Option<&Path>) -> Artifacts {
    let items = SERVICES.iter().map(|svc| {
        let manifest = root.join("spin-crm").join(svc).join("spin.toml");
        (svc.to_string(), Some(spin_service(&manifest)))
    });
    let mut artifacts = with_total("spin", items.collect());
    artifacts.runtime = spin_cli.map(|cli| Artifact {
        kind: Some("spin-cli".into()),
        path: Some(cli.display().to_string()),
        bytes: file_size(cli),
        ..Artifact::default()
    });
    artifacts
}

fn spin_service(manifest: &Path) -> Artifact {
    let components = match spin_components(manifest) {
        Ok(c) => c,
        Err(e) => {
            return Artifact {
                kind: Some("wasm".into()),
                manifest: Some(manifest.display().to_string()),
                error: Some(e),
                ..Artifact::default()
            }
        }
    };
    let sizes: NullableMap<f64> = components
        .into_iter()
        .map(|(id, path)| (id, file_size(&path)))
        .collect();
    Artifact {
        kind: Some("wasm".into()),
        bytes: sum_all(sizes.values().copied()),
        components: sizes,
        ..Artifact::default()
    }
}

/// The local Wasm files a spin.toml names: `[component.<id>] source = "path"`, by id.
fn spin_components(manifest: &Path) -> Result<BTreeMap<String, PathBuf>, String> {
    #[derive(Deserialize)]
    struct Manifest {
        #[serde(default)]
        component: BTreeMap<String, Component>,
    }
    #[derive(Deserialize)]
    struct Component {
        // A table (a registry or URL source) is not a local file: skipped.
        source: Option<toml::Value>,
    }
    let text = std::fs::read_to_string(manifest)
        .map_err(|e| format!("cannot read {}: {e}", manifest.display()))?;
    let doc: Manifest =
        toml::from_str(&text).map_err(|e| format!("{}: {e}", manifest.display()))?;
    let base = manifest.parent().unwrap_or(Path::new("."));
    Ok(doc
        .component
        .into_iter()
        .filter_map(|(id, c)| Some((id, base.join(c.source?.as_str()?))))
        .collect())
}

fn file_size(path: &Path) -> Option<f64> {
    std::fs::metadata(path).ok().map(|m| m.len() as f64)
}

/// The sum when every part is known (and there is at least one), else `None`.
fn sum_all(parts: impl Iterator<Item = Option<f64>>) -> Option<f64> {
    let mut any = false;
    let mut total = 0.0;
    for part in parts {
        total += part?;
        any = true;
    }
    any.then_some(total)
}

fn with_total(stack: &str, items: NullableMap<Artifact>) -> Artifacts {
    Artifacts {
        stack: Some(stack.to_string()),
        total_bytes: sum_all(items.values().map(|i| i.as_ref().and_then(|i| i.bytes))),
        items,
        runtime: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("crm-artifacts-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn binaries_sized_and_a_missing_one_leaves_the_total_null() {
        let dir = temp("bin");
        for (svc, n) in [
            ("gateway", 10),
            ("customer-service", 20),
            ("order-service", 30),
        ] {
            std::fs::write(dir.join(format!("axum-{svc}")), vec![0u8; n]).unwrap();
        }
        let a = axum_binaries(&dir);
        assert_eq!(a.total_bytes, Some(60.0));
        let gw = a.items["gateway"].as_ref().unwrap();
        assert_eq!((gw.kind.as_deref(), gw.bytes), (Some("binary"), Some(10.0)));
        std::fs::remove_file(dir.join("axum-order-service")).unwrap();
        let a = axum_binaries(&dir);
        assert_eq!(a.total_bytes, None);
        assert_eq!(a.items["order-service"].as_ref().unwrap().bytes, None);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn spin_components_from_the_manifests_and_the_runtime_apart() {
        let root = temp("spin");
        for (svc, n) in [
            ("gateway", 100),
            ("customer-service", 200),
            ("order-service", 300),
        ] {
            let d = root.join("spin-crm").join(svc);
            std::fs::create_dir_all(d.join("target")).unwrap();
            std::fs::write(
                d.join("spin.toml"),
                format!(
                    "spin_manifest_version = 2\n[component.{svc}]\nsource = \"target/{svc}.wasm\"\n\
                     [component.remote]\nsource = {{ url = \"https://example.invalid/x.wasm\", digest = \"sha256:0\" }}\n"
                ),
            )
            .unwrap();
            std::fs::write(d.join(format!("target/{svc}.wasm")), vec![0u8; n]).unwrap();
        }
        let cli = root.join("spin");
        std::fs::write(&cli, vec![0u8; 7]).unwrap();
        let a = spin_wasm(&root, Some(&cli));
        assert_eq!(a.total_bytes, Some(600.0));
        let gw = a.items["gateway"].as_ref().unwrap();
        assert_eq!(gw.components.len(), 1);
        assert_eq!(gw.components["gateway"], Some(100.0));
        let rt = a.runtime.unwrap();
        assert_eq!(
            (rt.kind.as_deref(), rt.bytes),
            (Some("spin-cli"), Some(7.0))
        );
        // An unreadable manifest: bytes null with the reason, total null.
        std::fs::write(root.join("spin-crm/order-service/spin.toml"), "[component").unwrap();
        let a = spin_wasm(&root, None);
        let os = a.items["order-service"].as_ref().unwrap();
        assert!(os.bytes.is_none() && os.error.is_some());
        assert!(a.total_bytes.is_none() && a.runtime.is_none());
        std::fs::remove_dir_all(root).unwrap();
    }

    #[test]
    fn the_project_manifests_name_their_components() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        for svc in SERVICES {
            let comps =
                spin_components(&root.join("spin-crm").join(svc).join("spin.toml")).unwrap();
            assert!(!comps.is_empty(), "{svc}");
            assert!(comps
                .values()
                .all(|p| p.extension().is_some_and(|e| e == "wasm")));
        }
    }

    #[test]
    fn images_without_docker_are_unmeasured() {
        // No image of this name exists (or no docker): bytes null, the ref recorded.
        let a = axum_images("crm-registry.invalid:1");
        let gw = a.items["gateway"].as_ref().unwrap();
        assert_eq!(
            gw.reference.as_deref(),
            Some("crm-registry.invalid:1/crm/axum-gateway:dev")
        );
        assert_eq!((gw.bytes, a.total_bytes), (None, None));
    }
}
