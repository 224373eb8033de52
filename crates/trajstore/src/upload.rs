//! Files that reach an import from outside the process: a body spooled to a temporary
//! file, and paths on this machine that a remote caller may name only below the roots the
//! operator allowed.

use std::path::{Path, PathBuf};

use futures::{Stream, StreamExt};
use tokio::io::AsyncWriteExt;

use crate::{Error, Result};

/// An upload written to a temporary file, removed when this is dropped.
#[derive(Debug)]
pub struct SpooledUpload {
    pub path: tempfile::TempPath,
    pub bytes: u64,
}

/// Writes the chunks of `body` to a temporary file, so an import can read it like any file
/// (detecting its format and compression) while the upload's memory stays bounded.
pub async fn spool_upload<B, E>(body: impl Stream<Item = std::result::Result<B, E>>) -> Result<SpooledUpload>
where
    B: AsRef<[u8]>,
    E: std::fmt::Display,
{
    let io = |source| Error::Io { context: "spooling the upload".into(), source };
    let (file, path) = tempfile::NamedTempFile::new().map_err(io)?.into_parts();
    let mut file = tokio::fs::File::from_std(file);
    let mut bytes = 0u64;
    let mut body = std::pin::pin!(body);
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| Error::invalid("body", format!("upload interrupted or too large: {e}")))?;
        bytes += chunk.as_ref().len() as u64;
        file.write_all(chunk.as_ref()).await.map_err(io)?;
    }
    file.flush().await.map_err(io)?;
    if bytes == 0 {
        return Err(Error::invalid("body", "empty upload"));
    }
    Ok(SpooledUpload { path, bytes })
}

/// Why a path on this machine named by a remote caller is refused.
#[derive(Debug, thiserror::Error)]
pub enum PathRefused {
    #[error("server-side imports are disabled: start the server with --import-root DIR")]
    Disabled,
    #[error("{requested}: {source}")]
    Missing { requested: String, source: std::io::Error },
    #[error("{requested} is outside the import roots")]
    Outside { requested: String },
    #[error("{requested} is not a file")]
    NotAFile { requested: String },
}

/// Resolves `requested` (with `..` and symbolic links) and accepts it only as a file below
/// one of `roots` (already canonical). No roots: every path is refused.
pub fn check_import_file(requested: &str, roots: &[PathBuf]) -> Result<PathBuf, PathRefused> {
    if roots.is_empty() {
        return Err(PathRefused::Disabled);
    }
    let resolved = Path::new(requested)
        .canonicalize()
        .map_err(|source| PathRefused::Missing { requested: requested.into(), source })?;
    if !roots.iter().any(|root| resolved.starts_with(root)) {
        return Err(PathRefused::Outside { requested: requested.into() });
    }
    if !resolved.is_file() {
        return Err(PathRefused::NotAFile { requested: requested.into() });
    }
    Ok(resolved)
}

/// The labels directory of a server-side import: it is read on the server too, so it obeys
/// the same roots as the path.
pub fn check_labels_dir(requested: &str, roots: &[PathBuf]) -> Result<PathBuf> {
    let dir = Path::new(requested).canonicalize().map_err(|e| Error::invalid("labels", format!("{requested}: {e}")))?;
    if !roots.iter().any(|root| dir.starts_with(root)) || !dir.is_dir() {
        return Err(Error::invalid("labels", format!("{requested} is not a directory below the import roots")));
    }
    Ok(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_upload_is_spooled_whole_and_an_empty_one_refused() {
        let chunks = futures::stream::iter([Ok::<_, String>(b"ab".to_vec()), Ok(b"cd".to_vec())]);
        let spooled = spool_upload(chunks).await.unwrap();
        assert_eq!((std::fs::read(&spooled.path).unwrap(), spooled.bytes), (b"abcd".to_vec(), 4));
        let empty = futures::stream::iter(Vec::<std::result::Result<Vec<u8>, String>>::new());
        assert_eq!(spool_upload(empty).await.unwrap_err().parameter(), Some("body"));
        let broken = futures::stream::iter([Ok(b"ab".to_vec()), Err("reset".to_string())]);
        assert!(spool_upload(broken).await.unwrap_err().to_string().contains("reset"));
    }

    #[test]
    fn only_files_below_a_root_are_accepted() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        std::fs::create_dir(root.join("inside")).unwrap();
        std::fs::write(root.join("inside/a.jsonl"), "{}").unwrap();
        let roots = [root.join("inside")];
        let file = root.join("inside/../inside/a.jsonl");
        assert_eq!(check_import_file(file.to_str().unwrap(), &roots).unwrap(), root.join("inside/a.jsonl"));
        assert!(matches!(check_import_file("/x", &[]), Err(PathRefused::Disabled)));
        assert!(matches!(check_import_file(root.to_str().unwrap(), &roots), Err(PathRefused::Outside { .. })));
        let inside = root.join("inside");
        assert!(matches!(check_import_file(inside.to_str().unwrap(), &roots), Err(PathRefused::NotAFile { .. })));
        let missing = root.join("inside/nope");
        assert!(matches!(check_import_file(missing.to_str().unwrap(), &roots), Err(PathRefused::Missing { .. })));
        assert!(check_labels_dir(inside.to_str().unwrap(), &roots).is_ok());
        assert_eq!(check_labels_dir(root.to_str().unwrap(), &roots).unwrap_err().parameter(), Some("labels"));
    }
}
