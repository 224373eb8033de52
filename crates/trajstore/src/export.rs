//! Exports of a filtered set, streamed in bounded memory.

use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use arrow_array::builder::LargeStringBuilder;
use arrow_array::{ArrayRef, RecordBatch};
use arrow_ipc::writer::StreamWriter;
use futures::stream::BoxStream;
use futures::{Stream, StreamExt, TryStreamExt};
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;
use trajstore_model::Trajectory;
use trajstore_query::FilterSet;

use crate::{on_blocking_thread, Error, Result, Trajstore};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    /// Native JSON Lines: one whole trajectory per line; re-imports to the same set.
    Jsonl,
    /// Parquet: the summary columns plus `task`, `steps` and `extra` as JSON text.
    Parquet,
    /// ATIF v1.8 (Agent Trajectory Interchange Format): one ATIF document per line. The
    /// native fields ATIF has no place for are kept in each document's
    /// `extra.trajstore`, so importing the file back restores the same records.
    Atif,
    /// An Arrow IPC stream of the Parquet export's columns, for readers that take Arrow
    /// without a file (pyarrow, pandas, DuckDB, Polars).
    Arrow,
    /// An Arrow IPC stream of the summary columns only (no steps are read): the quick way
    /// to get a large filtered set into a DataFrame. The same schema as a list page's
    /// `format=arrow`.
    ArrowSummary,
}

impl ExportFormat {
    pub const ALL: &'static [ExportFormat] = &[
        ExportFormat::Jsonl,
        ExportFormat::Parquet,
        ExportFormat::Atif,
        ExportFormat::Arrow,
        ExportFormat::ArrowSummary,
    ];

    pub fn name(self) -> &'static str {
        match self {
            ExportFormat::Jsonl => "jsonl",
            ExportFormat::Parquet => "parquet",
            ExportFormat::Atif => "atif",
            ExportFormat::Arrow => "arrow",
            ExportFormat::ArrowSummary => "arrow-summary",
        }
    }

    pub fn parse(s: &str) -> Result<Self> {
        ExportFormat::ALL.iter().copied().find(|f| f.name() == s).ok_or_else(|| {
            Error::invalid("format", format!("expected jsonl, parquet, atif, arrow or arrow-summary, got {s:?}"))
        })
    }

    /// The format a file name asks for (`.parquet`, `.arrow` or `.arrows`, else JSON Lines).
    pub fn from_path(path: &Path) -> Self {
        match path.extension().and_then(|e| e.to_str()) {
            Some("parquet") => ExportFormat::Parquet,
            Some("arrow" | "arrows") => ExportFormat::Arrow,
            _ => ExportFormat::Jsonl,
        }
    }
}

/// Builds record batches of whole trajectories (Parquet and Arrow exports).
struct WholeRows {
    rows: Vec<Trajectory>,
}

impl WholeRows {
    fn batch(&mut self) -> Result<RecordBatch> {
        let rows = std::mem::take(&mut self.rows);
        macro_rules! col {
            ($builder:expr, $f:expr) => {{
                let mut b = $builder;
                for r in &rows {
                    b.append_option($f(r));
                }
                Arc::new(b.finish()) as ArrayRef
            }};
        }
        // The summary columns of the column table, then the payload as JSON text.
        let mut columns: Vec<(&str, ArrayRef)> =
            trajstore_model::COLUMNS.iter().map(|c| (c.name, trajstore_store::column_array(c, &rows, 0))).collect();
        columns.extend([
            ("task", col!(LargeStringBuilder::new(), |r: &Trajectory| r.task_json.clone())),
            ("steps", col!(LargeStringBuilder::new(), |r: &Trajectory| Some(r.steps_json.clone()))),
            ("extra", col!(LargeStringBuilder::new(), |r: &Trajectory| r.extra_json.clone())),
        ]);
        RecordBatch::try_from_iter(columns).map_err(|e| Error::Internal(e.into()))
    }
}

fn io(context: &str) -> impl Fn(std::io::Error) -> Error + '_ {
    move |source| Error::Io { context: context.to_string(), source }
}

/// Records read (and encoded) at a time: one payload lookup, one chunk of output.
const EXPORT_CHUNK_ROWS: usize = 256;

/// A Parquet row group is written out once its encoded columns reach this size, so an
/// export of any size holds at most about this much of it in memory.
const PARQUET_ROW_GROUP_BYTES: usize = 32 << 20;

/// Turns trajectories into the bytes of one export format, a chunk at a time.
enum Encoder {
    /// One JSON document per line: the native record, or its ATIF document.
    Lines { atif: bool },
    /// An Arrow writer into a buffer that is drained after every chunk: it only fills when
    /// a row group is flushed (the writer counts the bytes itself, so draining is safe).
    Parquet { writer: Option<Box<ArrowWriter<Vec<u8>>>> },
    /// An Arrow IPC stream writer into a buffer drained after every chunk (a stream is
    /// written front to back, never revisited).
    Arrow { writer: Option<Box<StreamWriter<Vec<u8>>>> },
}

impl Encoder {
    fn new(format: ExportFormat) -> Self {
        match format {
            ExportFormat::Jsonl => Encoder::Lines { atif: false },
            ExportFormat::Atif => Encoder::Lines { atif: true },
            ExportFormat::Parquet => Encoder::Parquet { writer: None },
            // Summary rows take their own path (`summary_arrow_stream`); the whole
            // records' Arrow stream is the nearest encoder.
            ExportFormat::Arrow | ExportFormat::ArrowSummary => Encoder::Arrow { writer: None },
        }
    }

    /// The bytes of `rows` (for Parquet, of the row groups completed so far).
    fn encode(&mut self, rows: Vec<Trajectory>) -> Result<Vec<u8>> {
        match self {
            Encoder::Lines { atif } => lines(&rows, *atif),
            Encoder::Parquet { writer } => {
                let batch = WholeRows { rows }.batch()?;
                let w = match writer {
                    Some(w) => w,
                    None => writer.insert(Box::new(parquet_writer(&batch)?)),
                };
                w.write(&batch).map_err(|e| Error::internal("writing parquet", e))?;
                if w.in_progress_size() >= PARQUET_ROW_GROUP_BYTES {
                    w.flush().map_err(|e| Error::internal("writing parquet", e))?;
                }
                Ok(std::mem::take(w.inner_mut()))
            }
            Encoder::Arrow { writer } => {
                let batch = WholeRows { rows }.batch()?;
                let w = match writer {
                    Some(w) => w,
                    None => writer.insert(Box::new(arrow_writer(&batch)?)),
                };
                w.write(&batch).map_err(|e| Error::internal("writing arrow", e))?;
                Ok(std::mem::take(w.get_mut()))
            }
        }
    }

    /// The bytes that end the export (Parquet's last row group and footer).
    fn finish(self) -> Result<Vec<u8>> {
        match self {
            Encoder::Lines { .. } => Ok(Vec::new()),
            Encoder::Parquet { writer } => {
                let mut w = match writer {
                    Some(w) => *w,
                    // No rows: one empty batch still gives the file its schema.
                    None => {
                        let batch = WholeRows { rows: Vec::new() }.batch()?;
                        let mut w = parquet_writer(&batch)?;
                        w.write(&batch).map_err(|e| Error::internal("writing parquet", e))?;
                        w
                    }
                };
                w.finish().map_err(|e| Error::internal("writing parquet", e))?;
                Ok(std::mem::take(w.inner_mut()))
            }
            Encoder::Arrow { writer } => {
                let mut w = match writer {
                    Some(w) => *w,
                    // No rows: the stream still carries its schema.
                    None => arrow_writer(&WholeRows { rows: Vec::new() }.batch()?)?,
                };
                w.finish().map_err(|e| Error::internal("writing arrow", e))?;
                Ok(std::mem::take(w.get_mut()))
            }
        }
    }
}

type SummaryWriter = Option<StreamWriter<Vec<u8>>>;

/// Appends one scanned batch of summary rows to the stream (started at the first), or
/// ends it when `batch` is `None`.
fn summary_chunk(writer: SummaryWriter, batch: Option<RecordBatch>) -> Result<(SummaryWriter, ExportChunk)> {
    let arrow = |e| Error::internal("writing arrow", e);
    let rows = match &batch {
        Some(b) => trajstore_store::summaries_from_batch(b)?,
        None => Vec::new(),
    };
    let out = crate::arrow_stream::summary_batch(&rows)?;
    let mut w = match writer {
        Some(w) => w,
        None => StreamWriter::try_new(Vec::new(), &out.schema()).map_err(arrow)?,
    };
    if batch.is_some() {
        w.write(&out).map_err(arrow)?;
    } else {
        w.finish().map_err(arrow)?;
    }
    let bytes = std::mem::take(w.get_mut());
    Ok((Some(w), ExportChunk { bytes, records: rows.len() as u64 }))
}

fn arrow_writer(batch: &RecordBatch) -> Result<StreamWriter<Vec<u8>>> {
    StreamWriter::try_new(Vec::new(), &batch.schema()).map_err(|e| Error::internal("writing arrow", e))
}

fn parquet_writer(batch: &RecordBatch) -> Result<ArrowWriter<Vec<u8>>> {
    let props = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::try_new(3).expect("valid level")))
        .build();
    ArrowWriter::try_new(Vec::new(), batch.schema(), Some(props)).map_err(|e| Error::Internal(e.into()))
}

/// JSON Lines of `rows`: native records, or ATIF documents.
fn lines(rows: &[Trajectory], atif: bool) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    for t in rows {
        if atif {
            let doc = trajstore_formats::native_to_atif(t).map_err(|e| {
                let message = format!(
                    "trajectory {:?} cannot be written as ATIF (its JSON does not read back: {e}); export it as jsonl",
                    t.trajectory_id
                );
                Error::invalid("format", message)
            })?;
            out.extend_from_slice(doc.to_string().as_bytes());
        } else {
            out.extend_from_slice(t.to_json().as_bytes());
        }
        out.push(b'\n');
    }
    Ok(out)
}

/// A piece of an export: its bytes and how many records it completes.
#[derive(Debug, Default)]
pub struct ExportChunk {
    pub bytes: Vec<u8>,
    pub records: u64,
}

impl Trajstore {
    /// Every trajectory matching `filters`, whole, in storage order, in batches of a few
    /// hundred. Nothing is read ahead of what the consumer pulls, so memory stays bounded
    /// by one batch.
    pub fn trajectory_batches(
        &self,
        filters: &FilterSet,
    ) -> impl Stream<Item = Result<Vec<Trajectory>>> + Send + 'static {
        let (store, sql) = (self.store.clone(), filters.to_sql());
        futures::stream::once(async move { store.trajectories(sql, EXPORT_CHUNK_ROWS).await })
            .try_flatten()
            .map_err(Error::from)
    }

    /// Every trajectory matching `filters`, one at a time (see [`Trajstore::trajectory_batches`]).
    pub fn trajectories(&self, filters: &FilterSet) -> impl Stream<Item = Result<Trajectory>> + Send + 'static {
        self.trajectory_batches(filters).map_ok(|rows| futures::stream::iter(rows.into_iter().map(Ok))).try_flatten()
    }

    /// The export of every trajectory matching `filters`, as a stream of encoded chunks.
    /// Each chunk is encoded on the blocking pool; the next is read only when this one is
    /// taken (back-pressure). An error ends the stream: what came before is incomplete.
    pub fn export_stream(&self, filters: &FilterSet, format: ExportFormat) -> BoxStream<'static, Result<ExportChunk>> {
        if format == ExportFormat::ArrowSummary {
            return self.summary_arrow_stream(filters);
        }
        let rows = Box::pin(self.trajectory_batches(filters));
        futures::stream::try_unfold((rows, Some(Encoder::new(format))), |(mut rows, encoder)| async move {
            let Some(mut encoder) = encoder else { return Ok(None) };
            match rows.try_next().await? {
                Some(batch) => {
                    let records = batch.len() as u64;
                    let (encoder, bytes) = on_blocking_thread(move || {
                        let bytes = encoder.encode(batch);
                        (encoder, bytes)
                    })
                    .await?;
                    Ok(Some((ExportChunk { bytes: bytes?, records }, (rows, Some(encoder)))))
                }
                None => {
                    let bytes = on_blocking_thread(move || encoder.finish()).await??;
                    Ok(Some((ExportChunk { bytes, records: 0 }, (rows, None))))
                }
            }
        })
        .boxed()
    }

    /// Writes every trajectory matching `filters` to `out` (JSON Lines, ATIF or Parquet).
    /// Returns the number written.
    /// The summary rows matching `filters` as one Arrow IPC stream, a chunk per scanned
    /// batch, each converted on the blocking pool.
    fn summary_arrow_stream(&self, filters: &FilterSet) -> BoxStream<'static, Result<ExportChunk>> {
        let (store, sql) = (self.store.clone(), filters.to_sql());
        let batches = futures::stream::once(async move { store.scan(sql, trajstore_store::SUMMARY_COLUMNS).await })
            .try_flatten()
            .map_err(Error::from);
        // The batches left, and the writer (`None` once the stream has ended; the writer
        // itself is made at the first batch).
        let state: (BoxStream<'static, Result<RecordBatch>>, Option<SummaryWriter>) = (batches.boxed(), Some(None));
        futures::stream::try_unfold(state, |(mut batches, writer)| async move {
            let Some(writer) = writer else { return Ok(None) };
            let next = batches.try_next().await?;
            let done = next.is_none();
            let (writer, chunk) = on_blocking_thread(move || summary_chunk(writer, next)).await??;
            Ok(Some((chunk, (batches, (!done).then_some(writer)))))
        })
        .boxed()
    }

    pub async fn export_to_writer<W: Write + Send>(
        &self,
        filters: &FilterSet,
        format: ExportFormat,
        mut out: W,
    ) -> Result<u64> {
        let mut chunks = std::pin::pin!(self.export_stream(filters, format));
        let mut n = 0;
        while let Some(chunk) = chunks.try_next().await? {
            out.write_all(&chunk.bytes).map_err(io("writing the export"))?;
            n += chunk.records;
        }
        out.flush().map_err(io("writing the export"))?;
        Ok(n)
    }

    /// Exports to a file, written beside it and renamed when complete, so a failed
    /// export never leaves a truncated file under the requested name.
    pub async fn export_to_path(&self, filters: &FilterSet, format: ExportFormat, path: &Path) -> Result<u64> {
        let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        let tmp = tempfile::NamedTempFile::new_in(dir).map_err(io("creating the export file"))?;
        let file = tmp.reopen().map_err(io("creating the export file"))?;
        let n = self.export_to_writer(filters, format, file).await?;
        tmp.persist(path).map_err(|e| Error::Io { context: format!("writing {}", path.display()), source: e.error })?;
        Ok(n)
    }
}
