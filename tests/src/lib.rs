//! Shared helpers for the cross-crate tests of the workspace.
//!
//! * [`repo_root`] locates the repository, wherever the tests are run from;
//! * [`vectors`] loads the wire vectors captured from the real jsocket implementations
//!   (`tests/vectors/*.tsv`, the repository's copy);
//! * [`python`] finds the Python interpreters that have a given jsocket release installed
//!   (`./tests/run.sh` creates them and exports their paths).
//!
//! These helpers are for tests: they panic with a message on a missing or malformed file.

use std::fs;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};

use serde_json::Value;

/// One frame of a vector file: the file it comes from (e.g. `jsocket-2.0.3.tsv`), the JSON value
/// the frame carries, and the exact bytes of the frame (header and payload).
pub type Vector = (String, Value, Vec<u8>);

/// The root of the repository (the directory of the workspace `Cargo.toml`).
pub fn repo_root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest
        .parent()
        .expect("the tests crate lives one level below the repository root")
        .to_path_buf()
}

/// The directory of the wire vectors: `<repo root>/tests/vectors`.
pub fn vectors_dir() -> PathBuf {
    repo_root().join("tests").join("vectors")
}

/// A helper script of `tests/python/` (e.g. `decode.py`), as an absolute path.
pub fn python_script(name: &str) -> PathBuf {
    repo_root().join("tests").join("python").join(name)
}

/// Every frame of every `*.tsv` file of [`vectors_dir`], in file-name order, then line order.
///
/// Each line is `json<TAB>hex of the whole frame`; empty lines and lines starting with `#` are
/// skipped. Panics if the directory is missing, holds no vector, or a line is malformed.
pub fn vectors() -> Vec<Vector> {
    vector_lines()
        .into_iter()
        .map(|(name, _, value, frame)| (name, value, frame))
        .collect()
}

/// As [`vectors`], with each frame's line number (from 1) in its file, for messages that point
/// at the line.
pub fn vector_lines() -> Vec<(String, usize, Value, Vec<u8>)> {
    let dir = vectors_dir();
    let entries = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot list the vectors in {}: {e}", dir.display()));
    let mut files: Vec<PathBuf> = entries
        .map(|entry| entry.expect("readable directory entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "tsv"))
        .collect();
    files.sort();

    let mut out = Vec::new();
    for path in &files {
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .expect("vector file names are UTF-8")
            .to_owned();
        let text = fs::read_to_string(path)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
        for (index, line) in text.lines().enumerate() {
            if line.trim().is_empty() || line.starts_with('#') {
                continue;
            }
            let at = || format!("{name}:{}", index + 1);
            let (json, hex) = line
                .split_once('\t')
                .unwrap_or_else(|| panic!("{}: no tab between json and hex", at()));
            let value: Value =
                serde_json::from_str(json).unwrap_or_else(|e| panic!("{}: bad json: {e}", at()));
            let frame = hex_decode(hex.trim()).unwrap_or_else(|| panic!("{}: bad hex", at()));
            out.push((name.clone(), index + 1, value, frame));
        }
    }
    assert!(!out.is_empty(), "no vector found in {}", dir.display());
    out
}

/// Decodes a string of hex digit pairs (either case); `None` if the length is odd or a
/// character is not a hex digit.
pub fn hex_decode(hex: &str) -> Option<Vec<u8>> {
    fn digit(c: u8) -> Option<u8> {
        match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            b'A'..=b'F' => Some(c - b'A' + 10),
            _ => None,
        }
    }
    let bytes = hex.as_bytes();
    if bytes.len() % 2 != 0 {
        return None;
    }
    bytes
        .chunks_exact(2)
        .map(|pair| Some(digit(pair[0])? << 4 | digit(pair[1])?))
        .collect()
}

/// The Python interpreter that has jsocket `version` (e.g. `"2.0.3"`) installed, read from the
/// environment variable `JSOCKET_PY_<version without dots>` (`JSOCKET_PY_203`,
/// `JSOCKET_PY_196`), which `./tests/run.sh` exports. `None` when the variable is unset or empty.
pub fn python(version: &str) -> Option<PathBuf> {
    let var = python_env_var(version);
    std::env::var_os(var)
        .filter(|path| !path.is_empty())
        .map(PathBuf::from)
}

/// [`python`] for a test named `what`, which is skipped (with a `SKIPPED:` line) when the
/// interpreter is not set up, unless `JSOCKET_REQUIRE_PY` or `CI` is set (as `./tests/run.sh`
/// does): then a missing interpreter fails the test.
pub fn python_or_skip(version: &str, what: &str) -> Option<PathBuf> {
    if let Some(path) = python(version) {
        return Some(path);
    }
    let var = python_env_var(version);
    let required = ["JSOCKET_REQUIRE_PY", "CI"]
        .iter()
        .any(|name| std::env::var_os(name).is_some_and(|v| !v.is_empty()));
    assert!(
        !required,
        "{var} is unset: ./tests/run.sh creates the jsocket {version} venv and exports it"
    );
    eprintln!("SKIPPED: {what} ({var} unset; run ./tests/run.sh)");
    None
}

/// A Python jsocket `ServerFactory` echo server (`python/peer_server.py`) on a free loopback
/// port; stopped (its stdin closed) on drop.
pub struct PythonServer {
    child: Child,
    stdin: Option<ChildStdin>,
    /// Where it listens.
    pub addr: SocketAddr,
}

impl PythonServer {
    /// Starts the server with the interpreter `py` and waits until it listens.
    pub fn start(py: &Path) -> PythonServer {
        let mut child = Command::new(py)
            .arg(python_script("peer_server.py"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("python runs");
        let stdin = child.stdin.take();
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout is piped"))
            .read_line(&mut line)
            .expect("peer_server.py prints its port");
        let port: u16 = line
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("peer_server.py printed {line:?}, not a port"));
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        PythonServer { child, stdin, addr }
    }
}

impl Drop for PythonServer {
    fn drop(&mut self) {
        drop(self.stdin.take());
        let _ = self.child.wait();
    }
}

/// The name of the environment variable [`python`] reads for `version`.
pub fn python_env_var(version: &str) -> String {
    format!("JSOCKET_PY_{}", version.replace('.', ""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_decode_reads_pairs_and_rejects_bad_input() {
        assert_eq!(hex_decode("4a534E31"), Some(b"JSN1".to_vec()));
        assert_eq!(hex_decode(""), Some(Vec::new()));
        assert_eq!(hex_decode("abc"), None);
        assert_eq!(hex_decode("zz"), None);
    }

    #[test]
    fn vectors_cover_the_three_dialects() {
        let all = vectors();
        for file in [
            "jsocket-2.0.3.tsv",
            "jsocket-1.9.6.tsv",
            "jsocket-1.0-le.tsv",
        ] {
            assert!(
                all.iter().filter(|(name, _, _)| name == file).count() >= 5,
                "too few vectors from {file}"
            );
        }
        // Each frame's header announces the length of the JSON text that follows it.
        for (file, _, frame) in &all {
            let (header, len) = match file.as_str() {
                "jsocket-2.0.3.tsv" => (
                    12,
                    u32::from_be_bytes([frame[4], frame[5], frame[6], frame[7]]),
                ),
                "jsocket-1.9.6.tsv" => (
                    4,
                    u32::from_be_bytes([frame[0], frame[1], frame[2], frame[3]]),
                ),
                "jsocket-1.0-le.tsv" => (
                    4,
                    u32::from_le_bytes([frame[0], frame[1], frame[2], frame[3]]),
                ),
                _ => continue,
            };
            assert_eq!(frame.len(), header + len as usize, "{file}: {frame:02x?}");
        }
    }

    #[test]
    fn python_env_var_names() {
        assert_eq!(python_env_var("2.0.3"), "JSOCKET_PY_203");
        assert_eq!(python_env_var("1.9.6"), "JSOCKET_PY_196");
    }
}
