//! The project's version pins: `versions.env` at the repository root, the one file the scripts
//! source and Rust reads. KEY=value lines, `#` comments and blank lines; a value is one word
//! (no quotes, no `$`), so the same text is valid bash and splits on its first `=` here.

use std::collections::BTreeMap;
use std::path::Path;

/// The pins file, relative to the repository root.
pub const FILE: &str = "versions.env";

/// The pins of `root`/versions.env, by key.
pub fn read(root: &Path) -> Result<BTreeMap<String, String>, String> {
    let path = root.join(FILE);
    let text = std::fs::read_to_string(&path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    parse(&text).map_err(|e| format!("{}: {e}", path.display()))
}

/// The pins of a versions.env text; a line that is not `KEY=value` (as the format says) is an
/// error, so that no pin is silently dropped or read differently from bash.
pub fn parse(text: &str) -> Result<BTreeMap<String, String>, String> {
    let mut pins = BTreeMap::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let bad = |why: &str| format!("line {}: {why}: {line:?}", n + 1);
        let (key, value) = line.split_once('=').ok_or_else(|| bad("not KEY=value"))?;
        let key_ok = key
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
            && key.bytes().next().is_some_and(|b| b.is_ascii_uppercase());
        if !key_ok {
            return Err(bad("the key is not an UPPER_CASE name"));
        }
        let value_ok = !value.is_empty()
            && !value
                .chars()
                .any(|c| c.is_whitespace() || "\"'$`\\;#".contains(c));
        if !value_ok {
            return Err(bad("the value is not one plain word"));
        }
        pins.insert(key.to_string(), value.to_string());
    }
    Ok(pins)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_value_lines_with_comments() {
        let pins =
            parse("# pins\n\nSPIN_CLI_VERSION=3.5.1\nK3D_IMAGE=ghcr.io/x/k3d:v0.22.0\n").unwrap();
        assert_eq!(pins["SPIN_CLI_VERSION"], "3.5.1");
        assert_eq!(pins["K3D_IMAGE"], "ghcr.io/x/k3d:v0.22.0");
        assert_eq!(pins.len(), 2);
    }

    #[test]
    fn what_bash_would_read_differently_is_refused() {
        for bad in [
            "SPIN=\"3.5.1\"",
            "SPIN=$OTHER",
            "SPIN=3.5.1 # note",
            "spin=3.5.1",
            "SPIN",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }

    /// The repository's own file parses, and holds what the report's environment prints.
    #[test]
    fn the_repository_pins_parse() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let pins = read(&root).unwrap();
        for key in [
            "SPIN_CLI_VERSION",
            "SPIN_SDK_VERSION",
            "POSTGRES_IMAGE",
            "K3D_IMAGE",
        ] {
            assert!(pins.contains_key(key), "{key} missing from versions.env");
        }
    }
}
