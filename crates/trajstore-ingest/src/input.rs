//! Turning command-line arguments into the list of inputs to read.

use std::path::{Path, PathBuf};

use crate::IngestError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    File(PathBuf),
    Stdin,
    /// A copy of part of another file (a chunk of a followed file), read from `path` and
    /// named `label` in errors and records.
    Copy {
        path: PathBuf,
        label: String,
    },
}

impl Input {
    /// The name errors and results use for this input.
    pub fn label(&self) -> String {
        match self {
            Input::File(p) => p.display().to_string(),
            Input::Stdin => "<stdin>".to_string(),
            Input::Copy { label, .. } => label.clone(),
        }
    }

    /// Size on disk (compressed size for .gz/.zst), for progress; `None` for stdin.
    pub fn size(&self) -> Option<u64> {
        match self {
            Input::File(p) => std::fs::metadata(p).ok().map(|m| m.len()),
            Input::Stdin => None,
            Input::Copy { path, .. } => std::fs::metadata(path).ok().map(|m| m.len()),
        }
    }
}

/// File names that a directory walk picks up: JSON and JSON Lines (mini-swe-agent's
/// `.traj.json` included), SWE-agent's `.traj`, Inspect's `.eval` and Aider's Markdown
/// chat history. Files a format reads together with another one (SWE-bench's
/// `logs/<instance_id>/report.json` labels, a Harbor trial's files, a verifiers run's
/// `metadata.json`) are left out: [`trajstore_formats::is_companion_file`].
fn is_data_file(path: &Path) -> bool {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    let base = name.strip_suffix(".gz").or_else(|| name.strip_suffix(".zst")).unwrap_or(name);
    [".jsonl", ".json", ".ndjson", ".traj", ".eval", ".aider.chat.history.md"].iter().any(|ext| base.ends_with(ext))
        && !trajstore_formats::is_companion_file(path)
}

fn walk(dir: &Path, out: &mut Vec<Input>) -> Result<(), IngestError> {
    let io = |source| IngestError::Io { path: dir.display().to_string(), source };
    let mut entries: Vec<PathBuf> =
        std::fs::read_dir(dir).map_err(io)?.map(|e| e.map(|e| e.path())).collect::<Result<_, _>>().map_err(io)?;
    entries.sort();
    for path in entries {
        if path.is_dir() {
            walk(&path, out)?;
        } else if is_data_file(&path) {
            out.push(Input::File(path));
        }
    }
    Ok(())
}

/// Expands files, directories (walked recursively, sorted, picking `.jsonl`, `.json`,
/// `.ndjson`, `.traj`, `.eval`, `.aider.chat.history.md`, optionally `.gz`/`.zst`, and
/// leaving out the files a format reads with another, such as SWE-bench's labels), glob patterns and `-` (stdin). An argument that
/// names nothing is an error, so a typo never imports silently nothing.
pub fn expand_inputs(args: &[String]) -> Result<Vec<Input>, IngestError> {
    let mut out = Vec::new();
    for arg in args {
        if arg == "-" {
            out.push(Input::Stdin);
            continue;
        }
        let path = Path::new(arg);
        if path.is_dir() {
            walk(path, &mut out)?;
        } else if path.exists() {
            out.push(Input::File(path.to_path_buf()));
        } else if arg.contains(['*', '?', '[']) {
            let paths = glob::glob(arg)
                .map_err(|e| IngestError::BadPattern { pattern: arg.clone(), message: e.to_string() })?;
            let before = out.len();
            for p in paths.flatten() {
                if p.is_dir() {
                    walk(&p, &mut out)?;
                } else {
                    out.push(Input::File(p));
                }
            }
            if out.len() == before {
                return Err(IngestError::NoMatch { pattern: arg.clone() });
            }
        } else {
            return Err(IngestError::NotFound { path: arg.clone() });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expands_dirs_globs_and_reports_missing() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::create_dir(d.join("sub")).unwrap();
        std::fs::create_dir_all(d.join("logs/x-1")).unwrap();
        for name in [
            "a.jsonl",
            "b.json.gz",
            "sub/c.ndjson.zst",
            "notes.txt",
            "logs/x-1/report.json",
            "run.traj",
            "log.eval",
            ".aider.chat.history.md",
            "README.md",
        ] {
            std::fs::write(d.join(name), "").unwrap();
        }
        let got = expand_inputs(&[d.display().to_string()]).unwrap();
        let names: Vec<String> = got.iter().map(|i| i.label().rsplit('/').next().unwrap().to_string()).collect();
        assert_eq!(names, [".aider.chat.history.md", "a.jsonl", "b.json.gz", "log.eval", "run.traj", "c.ndjson.zst"]);
        let got = expand_inputs(&[format!("{}/*.jsonl", d.display()), "-".into()]).unwrap();
        assert_eq!(got.len(), 2);
        assert_eq!(got[1], Input::Stdin);
        assert!(matches!(expand_inputs(&[format!("{}/nope.jsonl", d.display())]), Err(IngestError::NotFound { .. })));
        assert!(matches!(expand_inputs(&[format!("{}/*.parquet", d.display())]), Err(IngestError::NoMatch { .. })));
    }
}
