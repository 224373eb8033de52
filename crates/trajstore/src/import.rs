//! Streaming import: one thread reads and parses (with helpers per core, see
//! `trajstore_ingest`), the async writer stores batches.
//!
//! Memory stays bounded whatever the input size: the parser hands over batches of at
//! most `batch_rows` records or `batch_bytes` bytes through a channel of one slot (the
//! parser outruns the writer, so a deeper queue only held memory: 1M records peaked at
//! 913 MB with two slots, 876 MB with one, at the same speed), and the writer holds at
//! most [`STAGES_IN_FLIGHT`] batches being written plus one committing, so at most about
//! five batches exist at once, besides the chunk being parsed.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use serde::Serialize;
use trajstore_ingest::{read_input_with, Input, Item, ItemError, Progress, ReadOptions};
use trajstore_model::Trajectory;
use trajstore_store::InsertMode;

use crate::{Error, Result, Trajstore};

/// During an import, new rows are folded into the id index every this many batches.
const INDEX_REFRESH_BATCHES: u64 = 16;

/// Batches whose payloads are written at once, besides the one committing.
const STAGES_IN_FLIGHT: usize = 2;

/// At most this many errors are listed in a report; the rest are counted.
pub const MAX_LISTED_ERRORS: usize = 1000;

#[derive(Debug, Clone)]
pub struct ImportOptions {
    /// Import nothing when any record is bad (the inputs are read twice).
    pub strict: bool,
    /// Skip the de-duplication check: only for a fresh store filled by a single import
    /// whose ids are known to be unique (a repeated id would then be stored twice).
    pub skip_duplicate_check: bool,
    pub batch_rows: usize,
    pub batch_bytes: usize,
    /// Fold the imported rows into the indexes (and `optimize`) before returning.
    /// Without it the import returns once the rows are stored: every query sees them at
    /// once, and full-text search scans the rows its index does not cover yet until
    /// `optimize` or a server's background step folds them in.
    pub wait_for_index: bool,
    /// Set to stop: the batch being written is finished, nothing is half-written.
    pub cancel: Arc<AtomicBool>,
    /// The input format (auto-detected per file by default) and where labels are.
    pub read: ReadOptions,
}

impl Default for ImportOptions {
    fn default() -> Self {
        ImportOptions {
            strict: false,
            skip_duplicate_check: false,
            batch_rows: 4096,
            batch_bytes: 64 << 20,
            wait_for_index: false,
            cancel: Arc::new(AtomicBool::new(false)),
            read: ReadOptions::default(),
        }
    }
}

/// Live counters of a running import (for progress bars and the HTTP task status).
#[derive(Debug, Default)]
pub struct ImportProgress {
    pub read: Arc<Progress>,
    pub bytes_total: AtomicU64,
    pub imported: AtomicU64,
    pub skipped: AtomicU64,
    pub failed: AtomicU64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ImportErrorEntry {
    pub file: String,
    pub line: Option<u64>,
    pub index: Option<u64>,
    pub field: Option<String>,
    pub message: String,
}

impl From<ItemError> for ImportErrorEntry {
    fn from(e: ItemError) -> Self {
        ImportErrorEntry {
            file: e.location.file.to_string(),
            line: e.location.line,
            index: e.location.index,
            field: e.field,
            message: e.message,
        }
    }
}

/// One input file and the format it was read as.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ImportedFile {
    pub path: String,
    pub format: &'static str,
}

#[derive(Debug, Clone, Default, Serialize, utoipa::ToSchema)]
pub struct ImportReport {
    pub imported: u64,
    pub skipped: u64,
    pub failed: u64,
    /// The first [`MAX_LISTED_ERRORS`] errors; `failed` counts all of them.
    pub errors: Vec<ImportErrorEntry>,
    pub seconds: f64,
    /// Each file read and its format (detected or named); a file no format recognised
    /// is not listed here but in `errors`.
    pub files: Vec<ImportedFile>,
    /// True when the import was stopped before the end of its inputs.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub cancelled: bool,
    /// Rows (of the whole store) that the full-text index does not cover yet.
    pub unindexed_rows: u64,
}

struct Batch {
    rows: Vec<Trajectory>,
}

/// What the parser thread found besides records.
#[derive(Default)]
struct ParseOutcome {
    failed: u64,
    errors: Vec<ImportErrorEntry>,
    files: Vec<ImportedFile>,
}

impl ParseOutcome {
    fn record(&mut self, e: ItemError) {
        self.failed += 1;
        if self.errors.len() < MAX_LISTED_ERRORS {
            self.errors.push(e.into());
        }
    }
}

/// Reads every input; sends batches to `tx` when given (else only validates).
fn parse_inputs(
    inputs: &[Input],
    opts: &ImportOptions,
    progress: &ImportProgress,
    tx: Option<tokio::sync::mpsc::Sender<Batch>>,
) -> Result<ParseOutcome> {
    let mut outcome = ParseOutcome::default();
    let mut rows = Vec::with_capacity(opts.batch_rows);
    let mut bytes = 0usize;
    let mut receiver_gone = false;
    for input in inputs {
        read_input_with(input, &opts.read, &progress.read, &mut |item| {
            if opts.cancel.load(Ordering::Relaxed) || receiver_gone {
                return false;
            }
            match item {
                Item::Record(_, t) => {
                    if let Some(tx) = &tx {
                        bytes += t.steps_json.len() + t.texts.bytes() + 256;
                        rows.push(t);
                        if rows.len() >= opts.batch_rows || bytes >= opts.batch_bytes {
                            let full = std::mem::replace(&mut rows, Vec::with_capacity(opts.batch_rows));
                            bytes = 0;
                            receiver_gone = tx.blocking_send(Batch { rows: full }).is_err();
                        }
                    }
                }
                Item::Error(e) => {
                    progress.failed.fetch_add(1, Ordering::Relaxed);
                    outcome.record(e);
                }
                Item::Format { file, format } => outcome.files.push(ImportedFile { path: file.to_string(), format }),
            }
            true
        })?;
    }
    if let Some(tx) = &tx {
        if !rows.is_empty() && !opts.cancel.load(Ordering::Relaxed) {
            let _ = tx.blocking_send(Batch { rows });
        }
    }
    Ok(outcome)
}

/// `-` (stdin) can be read only once; strict mode reads twice, so it is spooled first.
fn spool_stdin(inputs: Vec<Input>) -> Result<(Vec<Input>, Option<tempfile::NamedTempFile>)> {
    if !inputs.contains(&Input::Stdin) {
        return Ok((inputs, None));
    }
    let mut file =
        tempfile::NamedTempFile::new().map_err(|source| Error::Io { context: "spooling stdin".into(), source })?;
    std::io::copy(&mut std::io::stdin().lock(), &mut file)
        .map_err(|source| Error::Io { context: "spooling stdin".into(), source })?;
    let path = file.path().to_path_buf();
    let inputs = inputs.into_iter().map(|i| if i == Input::Stdin { Input::File(path.clone()) } else { i }).collect();
    Ok((inputs, Some(file)))
}

/// Reports name stdin `<stdin>`, not the file `--strict` spooled it to.
fn label_stdin(report: &mut ImportReport, spool: Option<&tempfile::NamedTempFile>) {
    if let Some(spool) = spool {
        report.rename_file(&spool.path().display().to_string(), &Input::Stdin.label());
    }
}

impl ImportReport {
    /// Names the input `path` as `name` in the errors and files: an input copied to a
    /// temporary file (stdin, an upload) is reported under the name its sender knows.
    pub fn rename_file(&mut self, path: &str, name: &str) {
        for file in self.errors.iter_mut().map(|e| &mut e.file).chain(self.files.iter_mut().map(|f| &mut f.path)) {
            if file == path {
                *file = name.to_string();
            }
        }
    }
}

type Staging =
    std::collections::VecDeque<tokio::task::JoinHandle<trajstore_store::Result<trajstore_store::StagedBatch>>>;
type Committing = Option<tokio::task::JoinHandle<trajstore_store::Result<trajstore_store::InsertOutcome>>>;

/// Waits for the oldest staged batch and for the commit under way, then starts that
/// batch's commit; returns the outcome of the commit that finished.
async fn commit_next(
    store: &trajstore_store::Store,
    staging: &mut Staging,
    committing: &mut Committing,
) -> Result<Option<trajstore_store::InsertOutcome>> {
    let staged = match staging.pop_front() {
        Some(h) => Some(h.await.map_err(|e| Error::Internal(e.into()))??),
        None => None,
    };
    let finished = match committing.take() {
        Some(previous) => Some(previous.await.map_err(|e| Error::Internal(e.into()))??),
        None => None,
    };
    if let Some(staged) = staged {
        let store = store.clone();
        *committing = Some(tokio::spawn(async move { store.commit(staged).await }));
    }
    Ok(finished)
}

/// The write side of an import, a pipeline: up to [`STAGES_IN_FLIGHT`] batches are
/// staged at once (search text derived, payloads written) while the batch before them
/// commits its summary rows (a `merge_insert`). Commits go one at a time in input order,
/// so that the first occurrence of a repeated id is the one stored. Each batch writes its
/// payloads before its commit, so a crash leaves only unreferenced payloads, never half
/// records.
struct WritePipeline<'a> {
    store: &'a trajstore_store::Store,
    progress: &'a ImportProgress,
    mode: InsertMode,
    staging: Staging,
    committing: Committing,
    /// The indexes, built beside the import from its first stored rows.
    indexing: Option<tokio::task::JoinHandle<trajstore_store::Result<()>>>,
    batches: u64,
    written: trajstore_store::InsertOutcome,
}

impl<'a> WritePipeline<'a> {
    fn new(store: &'a trajstore_store::Store, progress: &'a ImportProgress, mode: InsertMode) -> Self {
        WritePipeline {
            store,
            progress,
            mode,
            staging: Staging::new(),
            committing: None,
            indexing: None,
            batches: 0,
            written: trajstore_store::InsertOutcome::default(),
        }
    }

    fn account(&mut self, out: Option<trajstore_store::InsertOutcome>) {
        let Some(out) = out else { return };
        // Into a store that was empty, ids are looked up only by the commits, until one of
        // them finds a duplicate: then each batch looks its ids up before writing payloads.
        if out.skipped > 0 && self.mode == InsertMode::DeduplicateOnCommit {
            self.mode = InsertMode::Deduplicate;
        }
        self.written.inserted += out.inserted;
        self.written.skipped += out.skipped;
        self.progress.imported.fetch_add(out.inserted, Ordering::Relaxed);
        self.progress.skipped.fetch_add(out.skipped, Ordering::Relaxed);
    }

    async fn push(&mut self, batch: Batch) -> Result<()> {
        self.batches += 1;
        // Commits look their ids up in the stored ones: the indexes are created once the
        // first batch is stored (below), and new rows are folded into the id index now
        // and then, so that the lookups of a long import do not scan an ever longer
        // unindexed tail.
        if self.batches.is_multiple_of(INDEX_REFRESH_BATCHES) {
            self.store.refresh_summary_indexes().await?;
        }
        let (store, mode) = (self.store.clone(), self.mode);
        self.staging.push_back(tokio::spawn(async move { store.stage(batch.rows, mode).await }));
        if self.staging.len() >= STAGES_IN_FLIGHT {
            let out = commit_next(self.store, &mut self.staging, &mut self.committing).await?;
            self.account(out);
            if self.indexing.is_none() && self.written.inserted > 0 {
                let store = self.store.clone();
                self.indexing = Some(tokio::spawn(async move { store.ensure_indexes(false).await.map(drop) }));
            }
        }
        Ok(())
    }

    /// Commits every batch still staged.
    async fn drain(&mut self) -> Result<()> {
        while !self.staging.is_empty() || self.committing.is_some() {
            let out = commit_next(self.store, &mut self.staging, &mut self.committing).await?;
            self.account(out);
        }
        Ok(())
    }

    /// Stops what is still under way after `error` (or after [`drain`](Self::drain)) and
    /// returns what was written, or the first error.
    async fn finish(mut self, error: Option<Error>) -> Result<trajstore_store::InsertOutcome> {
        // After a failure, batches still staging are stopped (their payloads, if written,
        // are unreferenced) and a commit under way is waited for (it may have succeeded).
        self.staging.iter().for_each(|h| h.abort());
        if let Some(last) = self.committing.take() {
            if let Ok(Ok(out)) = last.await {
                self.account(Some(out));
            }
        }
        let indexed = match self.indexing.take() {
            Some(indexing) => indexing.await.map_err(|e| Error::Internal(e.into()))?.map_err(Error::from),
            None => Ok(()),
        };
        match error {
            Some(e) => Err(e),
            None => indexed.map(|()| self.written),
        }
    }
}

/// `--strict`'s first pass: parses every input without storing anything; the report of
/// the failures when there are any.
async fn strict_check(inputs: &[Input], opts: &ImportOptions) -> Result<Option<ImportReport>> {
    let (inputs, opts) = (inputs.to_vec(), opts.clone());
    let check = tokio::task::spawn_blocking(move || {
        let quiet = ImportProgress { read: Arc::new(Progress::default()), ..Default::default() };
        parse_inputs(&inputs, &opts, &quiet, None)
    })
    .await
    .map_err(|e| Error::Internal(e.into()))??;
    Ok((check.failed > 0).then(|| ImportReport {
        failed: check.failed,
        errors: check.errors,
        files: check.files,
        ..Default::default()
    }))
}

/// The thread that reads and parses the inputs and sends their batches to `tx`.
fn spawn_parser(
    inputs: Vec<Input>,
    opts: &ImportOptions,
    progress: &Arc<ImportProgress>,
    tx: tokio::sync::mpsc::Sender<Batch>,
) -> Result<std::thread::JoinHandle<Result<ParseOutcome>>> {
    let (opts, progress) = (opts.clone(), progress.clone());
    std::thread::Builder::new()
        .name("trajstore-parse".into())
        .spawn(move || parse_inputs(&inputs, &opts, &progress, Some(tx)))
        .map_err(|source| Error::Io { context: "starting the parser thread".into(), source })
}

impl Trajstore {
    /// Imports the inputs. Bad records are reported with their place and the good ones
    /// are stored (unless `strict`); records already stored are skipped.
    pub async fn import(
        &self,
        inputs: Vec<Input>,
        opts: ImportOptions,
        progress: Arc<ImportProgress>,
    ) -> Result<ImportReport> {
        let started = Instant::now();
        let (inputs, spool) = if opts.strict { spool_stdin(inputs)? } else { (inputs, None) };
        progress.bytes_total.store(inputs.iter().filter_map(Input::size).sum(), Ordering::Relaxed);
        if opts.strict {
            if let Some(mut report) = strict_check(&inputs, &opts).await? {
                progress.failed.store(report.failed, Ordering::Relaxed);
                report.seconds = started.elapsed().as_secs_f64();
                label_stdin(&mut report, spool.as_ref());
                return Ok(report);
            }
        }
        let (tx, mut rx) = tokio::sync::mpsc::channel::<Batch>(1);
        let parser = spawn_parser(inputs, &opts, &progress, tx)?;
        let mode = if opts.skip_duplicate_check {
            InsertMode::AppendUnchecked
        } else if self.store.count(None).await? == 0 {
            InsertMode::DeduplicateOnCommit
        } else {
            InsertMode::Deduplicate
        };
        let mut pipeline = WritePipeline::new(&self.store, &progress, mode);
        let mut write_error = None;
        while let Some(batch) = rx.recv().await {
            if let Err(e) = pipeline.push(batch).await {
                write_error = Some(e);
                break;
            }
        }
        if write_error.is_none() {
            write_error = pipeline.drain().await.err();
        }
        let written = pipeline.finish(write_error).await;
        // Dropping the receiver makes the parser stop at its next batch.
        drop(rx);
        let parsed = tokio::task::spawn_blocking(move || parser.join())
            .await
            .map_err(|e| Error::Internal(e.into()))?
            .map_err(|_| Error::Internal("the parser thread panicked".into()))?;
        let written = written?;
        let parsed = parsed?;
        let mut report = ImportReport {
            imported: written.inserted,
            skipped: written.skipped,
            failed: parsed.failed,
            errors: parsed.errors,
            files: parsed.files,
            cancelled: opts.cancel.load(Ordering::Relaxed),
            ..Default::default()
        };
        label_stdin(&mut report, spool.as_ref());
        if report.imported > 0 {
            if opts.wait_for_index {
                self.optimize().await?;
            } else {
                self.store.ensure_indexes(false).await?;
            }
        }
        report.unindexed_rows = self.store.unindexed_text_rows().await?;
        report.seconds = started.elapsed().as_secs_f64();
        Ok(report)
    }
}
