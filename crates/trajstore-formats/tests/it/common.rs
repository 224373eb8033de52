//! Helpers shared by the test modules: fixtures in `tests/fixtures/`, the shared real-data
//! folder, and converting a file the way an import would.

use std::path::{Path, PathBuf};

use serde_json::Value;
use trajstore_formats::{convert, detect, Format, SourceFile};
use trajstore_model::Trajectory;

/// The package directory as `cargo test` gives it at run time: the build directory is
/// shared between clones, and a test binary built in another clone carries that clone's
/// compile-time path.
pub fn fixture(name: &str) -> PathBuf {
    std::path::PathBuf::from(
        std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_else(|| env!("CARGO_MANIFEST_DIR").into()),
    )
    .join("tests/fixtures")
    .join(name)
}

/// Detects and converts a fixture; each item is the native record (parsed back through
/// the model, as an import would) or the error text.
pub fn read(name: &str, expected: Format) -> Vec<Result<(Trajectory, Value), String>> {
    read_path(&fixture(name), name, expected)
}

/// [`read`] for any file, labelled `label`.
pub fn read_path(path: &Path, label: &str, expected: Format) -> Vec<Result<(Trajectory, Value), String>> {
    let bytes = std::fs::read(path).unwrap();
    assert_eq!(detect(&bytes), Some(expected), "{label}");
    let file = SourceFile { label, path: Some(path), bytes: &bytes, labels_dir: None };
    convert(expected, &file)
        .unwrap()
        .into_iter()
        .map(|c| {
            let v = c.record.map_err(|e| e.to_string())?;
            let t = Trajectory::from_json(v.to_string().as_bytes()).map_err(|e| e.to_string())?;
            Ok((t, v))
        })
        .collect()
}

pub fn ok(r: &Result<(Trajectory, Value), String>) -> (&Trajectory, &Value) {
    let (t, v) = r.as_ref().unwrap();
    (t, v)
}

/// The shared real-data folder, or `None` (with a note) where it is absent. Under `CI=true`
/// an absent folder fails the test instead: CI lays `shared/` beside the clone, so missing
/// data there is a broken setup, not a reason to pass.
pub fn realdata() -> Option<PathBuf> {
    let dir = std::env::var_os("TRAJSTORE_REALDATA").map(PathBuf::from).unwrap_or_else(|| {
        std::path::PathBuf::from(
            std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_else(|| env!("CARGO_MANIFEST_DIR").into()),
        )
        .join("../../../shared/realdata")
    });
    if dir.is_dir() {
        Some(dir)
    } else if std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "0" && v != "false") {
        panic!("real data not found at {} under CI=true (set TRAJSTORE_REALDATA to its folder)", dir.display());
    } else {
        eprintln!("SKIPPED: real data not found at {} (set TRAJSTORE_REALDATA to its folder)", dir.display());
        None
    }
}

pub fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            files(&p, out);
        } else {
            out.push(p);
        }
    }
}

pub fn files_under(root: &Path, sub: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    files(&root.join(sub), &mut out);
    out
}

/// What converting one file gave: its format and each record (validated as native).
pub struct Outcome {
    pub format: Option<Format>,
    pub records: Vec<Trajectory>,
    pub errors: Vec<String>,
}

pub fn convert_file(path: &Path) -> Outcome {
    let bytes = std::fs::read(path).unwrap();
    let label = path.display().to_string();
    let Some(format) = detect(&bytes) else {
        return Outcome { format: None, records: vec![], errors: vec!["unrecognised".into()] };
    };
    let file = SourceFile { label: &label, path: Some(path), bytes: &bytes, labels_dir: None };
    let mut out = Outcome { format: Some(format), records: vec![], errors: vec![] };
    for c in convert(format, &file).unwrap_or_else(|e| panic!("{e}")) {
        match c.record.and_then(|v| Trajectory::from_json(v.to_string().as_bytes())) {
            Ok(t) => out.records.push(t),
            Err(e) => out.errors.push(format!("{label} {:?}: {e}", c.position)),
        }
    }
    out
}

pub fn json(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

pub fn meta(t: &Trajectory) -> Value {
    t.metadata_json.as_deref().map(|m| serde_json::from_str(m).unwrap()).unwrap_or(Value::Null)
}
