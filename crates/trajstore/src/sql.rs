//! Read-only SQL (`trajstore sql`, `POST /api/sql`). The store plans and runs the query
//! (see `trajstore_store::sql`, which also refuses anything but a read); this module
//! holds the limits, runs each query on a thread of its own so that a long one never
//! holds up other requests, and shapes the result as JSON or CSV.

use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow_array::{Array, ArrayRef, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema};
use trajstore_store::{SqlLimits, SqlOutput};

use crate::{Error, Result, Trajstore};

/// The limits every query runs under; a request may ask for fewer rows, not more.
#[derive(Debug, Clone, Copy)]
pub struct SqlSettings {
    pub max_rows: usize,
    pub timeout: Duration,
    /// Memory for the query's sorts, aggregations and joins (nothing spills to disk).
    pub memory_bytes: usize,
}

impl Default for SqlSettings {
    fn default() -> Self {
        SqlSettings { max_rows: 10_000, timeout: Duration::from_secs(30), memory_bytes: 512 << 20 }
    }
}

/// A query and, optionally, fewer rows than the configured limit.
#[derive(Debug, Clone, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SqlRequest {
    /// One read-only statement: `SELECT`, `WITH` or `VALUES`.
    #[schema(min_length = 1)]
    pub sql: String,
    /// Rows to return at most; the server's row limit (its default) caps it, and the
    /// answer's `row_limit` says which applied.
    #[serde(default)]
    #[schema(minimum = 1)]
    pub max_rows: Option<usize>,
}

/// A query's result, to answer as JSON ([`SqlResult::answer`]) or CSV.
#[derive(Debug)]
pub struct SqlResult {
    output: SqlOutput,
    row_limit: usize,
    elapsed: Duration,
}

/// A column of a result: its name and its Arrow type (`Int64`, `Utf8`, `Float64`,
/// `Timestamp(µs, "UTC")`, ...).
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct SqlColumn {
    pub name: String,
    #[serde(rename = "type")]
    pub ty: String,
}

/// The JSON form of a result.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct SqlAnswer {
    pub columns: Vec<SqlColumn>,
    /// One array per row, its values in the order of `columns`.
    #[schema(value_type = Vec<Vec<Object>>)]
    pub rows: Vec<Vec<serde_json::Value>>,
    /// The query had more rows than `row_limit`; the first `row_limit` are given.
    pub truncated: bool,
    pub row_limit: usize,
    pub elapsed_ms: f64,
}

impl SqlResult {
    pub fn rows(&self) -> usize {
        self.output.batches.iter().map(RecordBatch::num_rows).sum()
    }

    pub fn truncated(&self) -> bool {
        self.output.truncated
    }

    pub fn row_limit(&self) -> usize {
        self.row_limit
    }

    pub fn answer(&self) -> Result<SqlAnswer> {
        let schema = &self.output.schema;
        let columns = schema
            .fields()
            .iter()
            .map(|f| SqlColumn { name: f.name().clone(), ty: f.data_type().to_string() })
            .collect();
        let mut rows = Vec::with_capacity(self.rows());
        for batch in &self.output.batches {
            rows.extend(json_rows(batch)?);
        }
        Ok(SqlAnswer {
            columns,
            rows,
            truncated: self.output.truncated,
            row_limit: self.row_limit,
            elapsed_ms: self.elapsed.as_secs_f64() * 1e3,
        })
    }

    /// The rows as CSV with a header line.
    pub fn write_csv(&self, out: impl std::io::Write) -> Result<()> {
        let mut writer = arrow_csv::WriterBuilder::new().with_header(true).build(out);
        if self.output.batches.is_empty() {
            writer.write(&RecordBatch::new_empty(self.output.schema.clone())).map_err(csv_error)?;
        }
        for batch in &self.output.batches {
            writer.write(&flat(batch)?).map_err(csv_error)?;
        }
        Ok(())
    }
}

/// `batch` with its nested columns (lists, structs), which CSV cannot hold, as text.
fn flat(batch: &RecordBatch) -> Result<RecordBatch> {
    let nested = |t: &DataType| t.is_nested();
    if !batch.schema_ref().fields().iter().any(|f| nested(f.data_type())) {
        return Ok(batch.clone());
    }
    let options = arrow_cast::display::FormatOptions::default();
    let mut fields = Vec::new();
    let mut columns: Vec<ArrayRef> = Vec::new();
    for (field, column) in batch.schema_ref().fields().iter().zip(batch.columns()) {
        if !nested(field.data_type()) {
            fields.push(field.as_ref().clone());
            columns.push(column.clone());
            continue;
        }
        let formatter = arrow_cast::display::ArrayFormatter::try_new(column.as_ref(), &options)
            .map_err(|e| Error::internal("writing the result as CSV", e))?;
        let texts: StringArray =
            (0..column.len()).map(|i| column.is_valid(i).then(|| formatter.value(i).to_string())).collect();
        fields.push(Field::new(field.name(), DataType::Utf8, true));
        columns.push(Arc::new(texts));
    }
    RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)
        .map_err(|e| Error::internal("writing the result as CSV", e))
}

fn csv_error(e: arrow_schema::ArrowError) -> Error {
    match e {
        arrow_schema::ArrowError::IoError(context, source) => Error::Io { context, source },
        e => Error::internal("writing the result as CSV", e),
    }
}

/// A batch's rows as arrays of JSON values, by arrow-json's mapping of types (lists as
/// arrays, nulls as null), with times written as the rest of the API writes them.
fn json_rows(batch: &RecordBatch) -> Result<Vec<Vec<serde_json::Value>>> {
    let mut writer = arrow_json::WriterBuilder::new()
        .with_struct_mode(arrow_json::StructMode::ListOnly)
        .with_timestamp_tz_format("%Y-%m-%dT%H:%M:%S%.6fZ".to_string())
        .build::<_, arrow_json::writer::JsonArray>(Vec::new());
    // A type JSON cannot hold (a map with keys that are not text) is the query's doing.
    writer.write(batch).map_err(|e| Error::invalid("sql", format!("the result cannot be written as JSON: {e}")))?;
    writer.finish().map_err(|e| Error::internal("writing the result as JSON", e))?;
    serde_json::from_slice(&writer.into_inner()).map_err(|e| Error::internal("reading back the result's JSON", e))
}

impl Trajstore {
    /// Runs a read-only query under the store's limits (see [`SqlSettings`]).
    pub async fn sql(&self, request: &SqlRequest) -> Result<SqlResult> {
        let settings = self.sql_settings;
        let row_limit = match request.max_rows {
            Some(0) => return Err(Error::invalid("max_rows", "must be at least 1")),
            Some(n) => n.min(settings.max_rows),
            None => settings.max_rows,
        };
        if request.sql.trim().is_empty() {
            return Err(Error::invalid("sql", "is empty"));
        }
        let limits = SqlLimits { max_rows: row_limit, memory_bytes: settings.memory_bytes };
        let _turn = self.sql_turns.acquire().await.map_err(|e| Error::internal("waiting for a SQL turn", e))?;
        let (store, query) = (self.store.clone(), request.sql.clone());
        let started = Instant::now();
        // A runtime of its own on a thread of its own: a query's CPU-bound operators
        // never occupy the server's workers, and the time limit drops (cancels) it.
        let (tx, rx) = tokio::sync::oneshot::channel();
        std::thread::Builder::new()
            .name("trajstore-sql".into())
            .spawn(move || {
                let outcome = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(|e| Error::internal("starting a runtime for a SQL query", e))
                    .and_then(|rt| {
                        rt.block_on(async { tokio::time::timeout(settings.timeout, store.sql(&query, &limits)).await })
                            .map_err(|_| Error::LimitExceeded {
                                limit: "time",
                                message: format!(
                                    "the query ran longer than its time limit of {:.1} s",
                                    settings.timeout.as_secs_f64()
                                ),
                            })
                            .and_then(|r| r.map_err(Error::from))
                    });
                let _ = tx.send(outcome);
            })
            .map_err(|e| Error::internal("starting a thread for a SQL query", e))?;
        let output = rx.await.map_err(|e| Error::internal("a SQL query's thread ended without an answer", e))??;
        Ok(SqlResult { output, row_limit, elapsed: started.elapsed() })
    }
}
