//! What the commands print on stdout: JSON documents and lines, for the scripts that read them.

/// `value` as pretty JSON on stdout.
pub fn print_json<T: serde::Serialize>(value: &T) -> Result<(), String> {
    say(&serde_json::to_string_pretty(value).map_err(|e| e.to_string())?)
}

/// A line on stdout. A reader that stopped reading (`| head`) is not an error, nor a panic.
pub fn say(line: &str) -> Result<(), String> {
    use std::io::Write;
    match writeln!(std::io::stdout().lock(), "{line}") {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(format!("stdout: {e}")),
        _ => Ok(()),
    }
}
