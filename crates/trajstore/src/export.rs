//! Exports of a filtered set, streamed in bounded memory.

use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use arrow_array::builder::{
    BooleanBuilder, Float64Builder, Int64Builder, LargeStringBuilder, ListBuilder, StringBuilder,
};
use arrow_array::{ArrayRef, RecordBatch};
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;
use trajstore_model::Trajectory;
use trajstore_query::FilterSet;

use crate::{Error, Result, Trajstore};

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
}

impl ExportFormat {
    pub const ALL: &'static [ExportFormat] = &[ExportFormat::Jsonl, ExportFormat::Parquet, ExportFormat::Atif];

    pub fn name(self) -> &'static str {
        match self {
            ExportFormat::Jsonl => "jsonl",
            ExportFormat::Parquet => "parquet",
            ExportFormat::Atif => "atif",
        }
    }

    pub fn parse(s: &str) -> Result<Self> {
        ExportFormat::ALL
            .iter()
            .copied()
            .find(|f| f.name() == s)
            .ok_or_else(|| Error::invalid("format", format!("expected jsonl, parquet or atif, got {s:?}")))
    }

    /// The format a file name asks for (`.parquet`, else JSON Lines).
    pub fn from_path(path: &Path) -> Self {
        if path.extension().is_some_and(|e| e == "parquet") {
            ExportFormat::Parquet
        } else {
            ExportFormat::Jsonl
        }
    }
}

const PARQUET_ROWS_PER_BATCH: usize = 1024;

/// Builds Parquet record batches of whole trajectories.
struct ParquetRows {
    rows: Vec<Trajectory>,
}

impl ParquetRows {
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
        let mut tags = ListBuilder::new(StringBuilder::new());
        for r in &rows {
            for t in &r.tags {
                tags.values().append_value(t);
            }
            tags.append(true);
        }
        let columns: Vec<(&str, ArrayRef)> = vec![
            ("trajectory_id", col!(StringBuilder::new(), |r: &Trajectory| Some(r.trajectory_id.clone()))),
            ("data_id", col!(StringBuilder::new(), |r: &Trajectory| r.data_id.clone())),
            ("agent_name", col!(StringBuilder::new(), |r: &Trajectory| r.agent_name.clone())),
            ("training_id", col!(StringBuilder::new(), |r: &Trajectory| r.training_id.clone())),
            ("epoch_id", col!(Int64Builder::new(), |r: &Trajectory| r.epoch_id)),
            ("iteration_id", col!(Int64Builder::new(), |r: &Trajectory| r.iteration_id)),
            ("sample_id", col!(Int64Builder::new(), |r: &Trajectory| r.sample_id)),
            ("question", col!(StringBuilder::new(), |r: &Trajectory| r.question.clone())),
            ("termination_reason", col!(StringBuilder::new(), |r: &Trajectory| r.termination_reason.clone())),
            ("reward", col!(Float64Builder::new(), |r: &Trajectory| r.reward)),
            ("toolcall_reward", col!(Float64Builder::new(), |r: &Trajectory| r.toolcall_reward)),
            ("res_reward", col!(Float64Builder::new(), |r: &Trajectory| r.res_reward)),
            ("is_success", col!(BooleanBuilder::new(), |r: &Trajectory| r.is_success)),
            ("step_count", col!(Int64Builder::new(), |r: &Trajectory| Some(r.step_count))),
            ("exec_time", col!(Float64Builder::new(), |r: &Trajectory| r.exec_time)),
            ("is_bookmarked", col!(BooleanBuilder::new(), |r: &Trajectory| Some(r.is_bookmarked))),
            ("tags", Arc::new(tags.finish()) as ArrayRef),
            ("notes", col!(StringBuilder::new(), |r: &Trajectory| r.notes.clone())),
            ("metadata", col!(StringBuilder::new(), |r: &Trajectory| r.metadata_json.clone())),
            ("source", col!(StringBuilder::new(), |r: &Trajectory| r.source.clone())),
            ("created_at", col!(Int64Builder::new(), |r: &Trajectory| r.created_at)),
            ("updated_at", col!(Int64Builder::new(), |r: &Trajectory| r.updated_at)),
            ("task", col!(LargeStringBuilder::new(), |r: &Trajectory| r.task_json.clone())),
            ("steps", col!(LargeStringBuilder::new(), |r: &Trajectory| Some(r.steps_json.clone()))),
            ("extra", col!(LargeStringBuilder::new(), |r: &Trajectory| r.extra_json.clone())),
        ];
        RecordBatch::try_from_iter(columns).map_err(|e| Error::Internal(e.into()))
    }
}

fn io(context: &str) -> impl Fn(std::io::Error) -> Error + '_ {
    move |source| Error::Io { context: context.to_string(), source }
}

impl Trajstore {
    /// Writes every trajectory matching `filters` to `out` (JSON Lines or Parquet).
    /// Returns the number written.
    pub async fn export_to_writer<W: Write + Send>(
        &self,
        filters: &FilterSet,
        format: ExportFormat,
        out: W,
    ) -> Result<u64> {
        match format {
            ExportFormat::Jsonl | ExportFormat::Atif => {
                let mut out = std::io::BufWriter::with_capacity(1 << 20, out);
                let mut failure = None;
                let n = self
                    .store
                    .for_each_trajectory(filters.to_sql(), 256, |t| {
                        if failure.is_none() {
                            let line = match format {
                                ExportFormat::Atif => match trajstore_formats::native_to_atif(&t) {
                                    Ok(doc) => doc.to_string(),
                                    Err(e) => {
                                        let message = format!("trajectory {:?} cannot be written as ATIF (its JSON does not read back: {e}); export it as jsonl", t.trajectory_id);
                                        failure = Some(Error::invalid("format", message));
                                        return Ok(());
                                    }
                                },
                                _ => t.to_json(),
                            };
                            if let Err(e) = out.write_all(line.as_bytes()).and_then(|_| out.write_all(b"\n")) {
                                failure = Some(io("writing the export")(e));
                            }
                        }
                        Ok(())
                    })
                    .await?;
                if let Some(e) = failure {
                    return Err(e);
                }
                out.flush().map_err(io("writing the export"))?;
                Ok(n)
            }
            ExportFormat::Parquet => {
                let props = WriterProperties::builder()
                    .set_compression(Compression::ZSTD(ZstdLevel::try_new(3).expect("valid level")))
                    .build();
                let mut rows = ParquetRows { rows: Vec::new() };
                let mut writer: Option<ArrowWriter<W>> = None;
                let mut out = Some(out);
                let mut failure: Option<Error> = None;
                let mut flush = |rows: &mut ParquetRows, writer: &mut Option<ArrowWriter<W>>| -> Result<()> {
                    let batch = rows.batch()?;
                    if writer.is_none() {
                        let w = ArrowWriter::try_new(
                            out.take().expect("writer made once"),
                            batch.schema(),
                            Some(props.clone()),
                        )
                        .map_err(|e| Error::Internal(e.into()))?;
                        *writer = Some(w);
                    }
                    writer.as_mut().expect("set above").write(&batch).map_err(|e| Error::internal("writing parquet", e))
                };
                let n = self
                    .store
                    .for_each_trajectory(filters.to_sql(), 256, |t| {
                        rows.rows.push(t);
                        if rows.rows.len() >= PARQUET_ROWS_PER_BATCH && failure.is_none() {
                            if let Err(e) = flush(&mut rows, &mut writer) {
                                failure = Some(e);
                            }
                        }
                        Ok(())
                    })
                    .await?;
                if let Some(e) = failure {
                    return Err(e);
                }
                // Always write at least one batch, so an empty export is a valid file.
                if !rows.rows.is_empty() || writer.is_none() {
                    flush(&mut rows, &mut writer)?;
                }
                writer.expect("written").close().map_err(|e| Error::internal("writing parquet", e))?;
                Ok(n)
            }
        }
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
