//! A followed folder (`trajstore import --follow DIR`): files that appear in it, and
//! lines appended to them, are imported as they come, and a restart resumes where the
//! last run stopped.
//!
//! A JSON Lines file (`.jsonl`, `.ndjson`) of a format with one trajectory per line
//! (native, openai-chat, verl, responses) is read by byte offset: each poll imports the
//! complete lines added since the last one. A last line without its newline waits until
//! it is complete, or until it has stayed the same for one poll and reads as a whole JSON
//! value (a writer that does not end its last line). Any other data file (a session
//! transcript, a JSON document, a compressed file, an Inspect log) is one import: it is
//! imported whole once it has not changed for the settle time, and only once, since ids
//! made from its content would change with it (a later change is reported, not imported).
//!
//! The state is a small JSON file (by default in the store's folder). Before a chunk is
//! imported its byte range is written there as pending; after the import commits, the
//! offset moves past it. A run killed between the two re-imports exactly the same bytes
//! on restart, so the records it had stored are skipped as duplicates, not stored twice
//! (ids made from the content are the same for the same bytes). Chunks are read from a
//! copy but named after the file they came from.

use std::collections::BTreeMap;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use trajstore_ingest::{expand_inputs, Format, FormatChoice, Input};

use crate::import::{ImportErrorEntry, ImportOptions, ImportProgress};
use crate::{Error, Result, Trajstore};

/// The largest chunk of a JSON Lines file imported at once; a longer run of new lines is
/// imported over several polls' worth of batches.
const MAX_CHUNK_BYTES: u64 = 64 << 20;

/// Where a followed folder's import stands.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
struct FollowState {
    /// The folder followed, as given (canonical).
    dir: String,
    /// Per file, by its path below the folder.
    files: BTreeMap<String, FileState>,
    /// A chunk whose import started and may not have committed.
    pending: Option<Chunk>,
}

#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
struct FileState {
    /// Bytes of the file imported (JSON Lines: always the end of a line).
    offset: u64,
    /// Lines before `offset`, so that errors name the file's own line numbers.
    lines: u64,
    /// The last chunk ended without a newline (a last line taken whole): the newline that
    /// may follow starts no new line.
    #[serde(default)]
    open_line: bool,
    /// The size seen at the last poll: a line file that did not grow between two polls
    /// is settled.
    size_seen: u64,
    /// The format the file was first read as, kept for its later chunks (detection on a
    /// few lines could guess otherwise).
    format: Option<String>,
    /// The file's inode: another file renamed over it is read from the start.
    #[serde(default)]
    inode: u64,
    /// A whole file already imported (it is not imported again).
    #[serde(default)]
    whole_done: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Chunk {
    file: String,
    start: u64,
    end: u64,
    /// False for a file imported whole (not by lines).
    lines: bool,
}

/// What one poll did: the chunks imported, and what a reader should know (files gone,
/// whole files changed after their import).
#[derive(Debug, Default)]
pub struct FollowPoll {
    pub batches: Vec<FollowBatch>,
    pub notes: Vec<String>,
}

/// One chunk imported: from which file, and what became of its records.
#[derive(Debug, Clone, Serialize)]
pub struct FollowBatch {
    /// The file's path below the followed folder.
    pub file: String,
    pub format: String,
    /// The byte range of the file imported.
    pub from: u64,
    pub to: u64,
    pub imported: u64,
    pub skipped: u64,
    pub failed: u64,
    /// With the file's own line numbers.
    pub errors: Vec<ImportErrorEntry>,
    /// True when this was a chunk left pending by an earlier run.
    pub replayed: bool,
}

/// Follows one folder into one store.
pub struct Follower {
    dir: PathBuf,
    state_path: PathBuf,
    state: FollowState,
    format: FormatChoice,
    options: ImportOptions,
    spool: tempfile::TempDir,
    /// Set to stop at the end of the chunk being imported.
    stop: Arc<AtomicBool>,
    /// How long a whole file must stay the same before it is imported.
    settle: std::time::Duration,
    /// When each whole file was last seen to change (size or modification time).
    changed: std::collections::HashMap<String, (u64, std::time::SystemTime, std::time::Instant)>,
}

impl Follower {
    /// Starts following `dir`, resuming from `state_path` when it exists. `options` is
    /// the import's (its format is the folder's). Its `cancel` is not used: a chunk is
    /// always imported whole; [`Follower::stopper`] stops between chunks.
    pub fn open(dir: &Path, state_path: PathBuf, mut options: ImportOptions) -> Result<Follower> {
        options.cancel = Arc::default();
        let dir = dir.canonicalize().map_err(|source| Error::Io { context: format!("{}", dir.display()), source })?;
        if !dir.is_dir() {
            return Err(Error::invalid("--follow", format!("{} is not a folder", dir.display())));
        }
        let state = match std::fs::read(&state_path) {
            Ok(bytes) => {
                let state: FollowState = serde_json::from_slice(&bytes).map_err(|e| {
                    Error::invalid("--state", format!("{} is not a follow state file: {e}", state_path.display()))
                })?;
                if state.dir != dir.display().to_string() {
                    return Err(Error::invalid(
                        "--state",
                        format!("{} follows {}, not {}", state_path.display(), state.dir, dir.display()),
                    ));
                }
                state
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                FollowState { dir: dir.display().to_string(), ..Default::default() }
            }
            Err(source) => return Err(Error::Io { context: state_path.display().to_string(), source }),
        };
        let spool = tempfile::Builder::new()
            .prefix("trajstore-follow")
            .tempdir()
            .map_err(|source| Error::Io { context: "a temporary folder".into(), source })?;
        let format = options.read.format;
        Ok(Follower {
            dir,
            state_path,
            state,
            format,
            options,
            spool,
            stop: Arc::default(),
            settle: std::time::Duration::from_secs(30),
            changed: Default::default(),
        })
    }

    /// How long a file that is imported whole (not by lines) must stay the same first
    /// (30 s by default).
    pub fn settle(mut self, settle: std::time::Duration) -> Self {
        self.settle = settle;
        self
    }

    /// Set it to make the poll under way return after the chunk it is importing.
    pub fn stopper(&self) -> Arc<AtomicBool> {
        self.stop.clone()
    }

    /// The default state file of a local store: one per followed folder, in the store's
    /// folder.
    pub fn default_state_path(db: &str, dir: &Path) -> Result<PathBuf> {
        let local = db.strip_prefix("file://").unwrap_or(db);
        if local.contains("://") {
            return Err(Error::invalid(
                "--state",
                "a store on object storage needs --state FILE for where the followed folder's import stands",
            ));
        }
        let canonical =
            dir.canonicalize().map_err(|source| Error::Io { context: dir.display().to_string(), source })?;
        let hash = trajstore_formats::normalize::content_hash(canonical.display().to_string().as_bytes());
        Ok(Path::new(local).join("follow").join(format!("{hash:016x}.json")))
    }

    /// Imports what is new since the last poll.
    pub async fn poll(&mut self, store: &Trajstore) -> Result<FollowPoll> {
        let mut out = FollowPoll::default();
        if let Some(chunk) = self.state.pending.clone() {
            self.import_or_note(store, chunk, true, &mut out).await?;
        }
        let dir = self.dir.display().to_string();
        for input in expand_inputs(&[dir])? {
            if self.stop.load(Ordering::Relaxed) {
                break;
            }
            let Input::File(path) = input else { continue };
            let Ok(meta) = std::fs::metadata(&path) else { continue }; // gone since the walk
            let name = self.name_of(&path);
            let chunk = match self.next_chunk(&path, &name, &meta, &mut out) {
                Ok(chunk) => chunk,
                Err(Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            };
            if let Some(chunk) = chunk {
                self.import_or_note(store, chunk, false, &mut out).await?;
            }
        }
        self.save()?;
        Ok(out)
    }

    /// The chunk of `path` to import now, if any.
    fn next_chunk(
        &mut self,
        path: &Path,
        name: &str,
        meta: &std::fs::Metadata,
        out: &mut FollowPoll,
    ) -> Result<Option<Chunk>> {
        use std::os::unix::fs::MetadataExt;
        let size = meta.len();
        let file = self.state.files.entry(name.to_string()).or_default();
        if size < file.offset || (file.inode != 0 && file.inode != meta.ino()) {
            // Truncated, or another file renamed over it: read it again from the start
            // (records already stored are skipped).
            *file = FileState::default();
        }
        file.inode = meta.ino();
        if file.format.is_none() && is_line_file(path) {
            file.format = choose_format(self.format, path)?.map(|f| f.name().to_string());
        }
        let by_lines = is_line_file(path) && file.format.as_deref().is_some_and(is_line_format);
        if !by_lines {
            return Ok(self.whole_file_chunk(name, size, meta, out));
        }
        let file = self.state.files.get_mut(name).expect("entered above");
        let settled = size == file.size_seen;
        file.size_seen = size;
        let start = file.offset;
        if start == size {
            return Ok(None);
        }
        let mut end = complete_lines_end(path, start, size.min(start + MAX_CHUNK_BYTES), settled)?;
        if end.is_none() && start + MAX_CHUNK_BYTES < size {
            // One line longer than a chunk: read on to its end.
            end = complete_lines_end(path, start, size, settled)?;
        }
        Ok(end.filter(|e| *e > start).map(|end| Chunk { file: name.to_string(), start, end, lines: true }))
    }

    /// A file imported whole: once it has stayed the same for the settle time, and once.
    fn whole_file_chunk(
        &mut self,
        name: &str,
        size: u64,
        meta: &std::fs::Metadata,
        out: &mut FollowPoll,
    ) -> Option<Chunk> {
        let modified = meta.modified().unwrap_or(std::time::UNIX_EPOCH);
        let now = std::time::Instant::now();
        let file = self.state.files.get_mut(name).expect("entered by next_chunk");
        if file.whole_done {
            if file.size_seen != size {
                file.size_seen = size;
                out.notes.push(format!(
                    "{name} changed after it was imported whole; not imported again (its ids would change): import it by hand when it is complete"
                ));
            }
            return None;
        }
        file.size_seen = size;
        let seen = self.changed.entry(name.to_string()).or_insert((size, modified, now));
        if seen.0 != size || seen.1 != modified {
            *seen = (size, modified, now);
        }
        (now.duration_since(seen.2) >= self.settle).then(|| Chunk {
            file: name.to_string(),
            start: 0,
            end: size,
            lines: false,
        })
    }

    /// Imports a chunk; a file that vanished meanwhile is noted and its chunk dropped.
    async fn import_or_note(
        &mut self,
        store: &Trajstore,
        chunk: Chunk,
        replayed: bool,
        out: &mut FollowPoll,
    ) -> Result<()> {
        let name = chunk.file.clone();
        match self.import_chunk(store, chunk, replayed).await {
            Ok(batch) => out.batches.push(batch),
            Err(Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
                self.state.pending = None;
                self.state.files.remove(&name);
                self.save()?;
                out.notes.push(format!("{name} is gone; what was imported of it stays"));
            }
            Err(e) => return Err(e),
        }
        Ok(())
    }

    fn name_of(&self, path: &Path) -> String {
        path.strip_prefix(&self.dir).unwrap_or(path).display().to_string()
    }

    async fn import_chunk(&mut self, store: &Trajstore, chunk: Chunk, replayed: bool) -> Result<FollowBatch> {
        self.state.pending = Some(chunk.clone());
        self.save()?;
        let path = self.dir.join(&chunk.file);
        let file_state = self.state.files.get(&chunk.file).cloned().unwrap_or_default();
        let (input, spooled, lines, open_line) = if chunk.lines {
            let bytes = read_range(&path, chunk.start, chunk.end)?;
            if (bytes.len() as u64) < chunk.end - chunk.start {
                // Shorter than when the chunk was chosen: replaced meanwhile.
                return Err(Error::Io { context: chunk.file.clone(), source: std::io::ErrorKind::NotFound.into() });
            }
            let spooled = self.spool(&path, &bytes)?;
            let mut lines = count_lines(&bytes);
            if file_state.open_line && bytes.first() == Some(&b'\n') {
                lines -= 1; // the newline that ends the line taken whole before
            }
            let open_line = bytes.last().is_some_and(|b| *b != b'\n');
            (Input::Copy { path: spooled.clone(), label: chunk.file.clone() }, Some(spooled), lines, open_line)
        } else {
            std::fs::metadata(&path).map_err(|source| Error::Io { context: chunk.file.clone(), source })?;
            (Input::File(path.clone()), None, 0, false)
        };
        let mut options = self.options.clone();
        options.read.format = match &file_state.format {
            Some(name) => FormatChoice::parse(name).unwrap_or(self.format),
            None => self.format,
        };
        let report = store.import(vec![input.clone()], options, Arc::new(ImportProgress::default())).await;
        if let Some(spooled) = &spooled {
            std::fs::remove_file(spooled).ok();
        }
        let mut report = report?;
        report.rename_file(&input.label(), &chunk.file);
        let lines_before = if chunk.lines { file_state.lines } else { 0 };
        for e in &mut report.errors {
            if let Some(line) = e.line.as_mut() {
                *line += lines_before;
            }
        }
        let format = report.files.first().map(|f| f.format.to_string());
        let file = self.state.files.entry(chunk.file.clone()).or_default();
        file.lines += lines;
        file.open_line = open_line;
        file.offset = chunk.end;
        file.size_seen = file.size_seen.max(chunk.end);
        file.whole_done |= !chunk.lines;
        if file.format.is_none() {
            file.format = format.clone();
        }
        self.state.pending = None;
        self.save()?;
        Ok(FollowBatch {
            file: chunk.file,
            format: format.unwrap_or_else(|| "unknown".into()),
            from: chunk.start,
            to: chunk.end,
            imported: report.imported,
            skipped: report.skipped,
            failed: report.failed,
            errors: report.errors,
            replayed,
        })
    }

    /// Writes a chunk of `path` to a file of the same name in the spool folder
    /// (detection reads the name's extension).
    fn spool(&self, path: &Path, bytes: &[u8]) -> Result<PathBuf> {
        let name = path.file_name().map(|n| n.to_os_string()).unwrap_or_else(|| "chunk.jsonl".into());
        let out = self.spool.path().join(name);
        std::fs::write(&out, bytes).map_err(|source| Error::Io { context: out.display().to_string(), source })?;
        Ok(out)
    }

    /// Writes the state atomically (a temporary file renamed over it).
    fn save(&self) -> Result<()> {
        let io = |source| Error::Io { context: self.state_path.display().to_string(), source };
        if let Some(parent) = self.state_path.parent() {
            std::fs::create_dir_all(parent).map_err(io)?;
        }
        let tmp = self.state_path.with_extension("json.tmp");
        let bytes = serde_json::to_vec_pretty(&self.state).map_err(|e| Error::internal("the follow state", e))?;
        std::fs::write(&tmp, bytes).map_err(io)?;
        std::fs::rename(&tmp, &self.state_path).map_err(io)
    }
}

/// The formats whose JSON Lines files hold one trajectory per line, so that a file of
/// them can be imported a chunk of lines at a time.
const LINE_FORMATS: [Format; 4] = [Format::Native, Format::OpenaiChat, Format::Verl, Format::Responses];

fn is_line_format(name: &str) -> bool {
    LINE_FORMATS.iter().any(|f| f.name() == name)
}

/// The format a file is read as: the one named, else the one detected from its first
/// bytes (`None` while it is empty or unrecognised yet).
fn choose_format(choice: FormatChoice, path: &Path) -> Result<Option<Format>> {
    if let FormatChoice::Named(f) = choice {
        return Ok(Some(f));
    }
    let head = read_range(path, 0, 1 << 20)?;
    Ok(trajstore_formats::detect(&head))
}

/// Files that may be read line by line as they grow (when their format allows it).
fn is_line_file(path: &Path) -> bool {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    name.ends_with(".jsonl") || name.ends_with(".ndjson")
}

fn read_range(path: &Path, start: u64, end: u64) -> Result<Vec<u8>> {
    let io = |source| Error::Io { context: path.display().to_string(), source };
    let mut f = std::fs::File::open(path).map_err(io)?;
    f.seek(SeekFrom::Start(start)).map_err(io)?;
    let mut bytes = Vec::with_capacity((end - start) as usize);
    f.take(end - start).read_to_end(&mut bytes).map_err(io)?;
    Ok(bytes)
}

fn count_lines(bytes: &[u8]) -> u64 {
    let newlines = bytes.iter().filter(|b| **b == b'\n').count() as u64;
    // A last line taken without its newline is a line too.
    newlines + u64::from(bytes.last().is_some_and(|b| *b != b'\n'))
}

/// Where the complete lines of `start..end` end: after the last newline; or, when there
/// is none and the file has `settled`, at `end` if what is there reads as whole JSON.
fn complete_lines_end(path: &Path, start: u64, end: u64, settled: bool) -> Result<Option<u64>> {
    let bytes = read_range(path, start, end)?;
    if let Some(last) = bytes.iter().rposition(|b| *b == b'\n') {
        return Ok(Some(start + last as u64 + 1));
    }
    let tail = bytes.trim_ascii();
    let whole = settled && !tail.is_empty() && serde_json::from_slice::<serde::de::IgnoredAny>(tail).is_ok();
    Ok(whole.then_some(end))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_half_written_line_waits_for_its_end() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("0.jsonl");
        std::fs::write(&p, b"{\"a\":1}\n{\"b\":").unwrap();
        assert_eq!(complete_lines_end(&p, 0, 14, false).unwrap(), Some(8));
        assert_eq!(complete_lines_end(&p, 8, 14, true).unwrap(), None, "not JSON yet");
        std::fs::write(&p, b"{\"a\":1}\n{\"b\":2}").unwrap();
        assert_eq!(complete_lines_end(&p, 8, 15, false).unwrap(), None, "may still grow");
        assert_eq!(complete_lines_end(&p, 8, 15, true).unwrap(), Some(15), "settled and whole");
        assert_eq!(count_lines(b"{\"a\":1}\n{\"b\":2}"), 2);
        assert_eq!(count_lines(b"{\"a\":1}\n"), 1);
    }
}
