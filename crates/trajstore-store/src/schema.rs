//! The two tables and the conversions between trajectories and Arrow record batches.
//!
//! * `summaries`: one narrow row per trajectory (ids, numbers, question, tags, metadata,
//!   the mutable bookmark/tags/notes). Lists, counts, statistics and updates touch only
//!   this table. A trajectory exists exactly when its summary row exists: the summary
//!   insert is the commit point of an import.
//! * `payloads`: the bulky, immutable part (steps, task, unknown fields), append-only.
//!   A summary names its payload by `write_id`, so a payload written by an import that
//!   died before its summary commit (or that lost a race to another import) is never
//!   read, and `optimize` removes it.
//!   The full-text search text (derived from the steps at import) is a payload column
//!   too: it is as bulky as the steps and never changes, and in `summaries` every
//!   `merge_insert` and every compaction of the narrow table would copy it.

use std::collections::HashMap;
use std::sync::Arc;

use arrow_array::builder::{
    BooleanBuilder, Float64Builder, Int64Builder, LargeStringBuilder, ListBuilder, StringBuilder,
};
use arrow_array::{
    Array, ArrayRef, BooleanArray, Float64Array, Int64Array, LargeStringArray, ListArray, RecordBatch, StringArray,
};
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use trajstore_model::step_facts::StepFacts;
use trajstore_model::{Cell, CellValue, Column, ColumnType, Summary, Trajectory, COLUMNS};

use crate::StoreError;

pub const SUMMARIES: &str = "summaries";
pub const PAYLOADS: &str = "payloads";

/// Summary columns returned by list queries: the column table's (everything but the
/// filter-only `metadata_kv` and the internal `write_id` and similarity columns).
pub const SUMMARY_COLUMNS: &[&str] = trajstore_model::COLUMN_NAMES;

/// The entries of `metadata` as `"key":value` texts, for `metadata.KEY` filters.
const METADATA_KV: &str = "metadata_kv";

fn list_field(name: &str) -> Field {
    Field::new(name, DataType::List(Arc::new(Field::new("item", DataType::Utf8, true))), false)
}

/// The Arrow type of a column of the column table.
pub fn arrow_type(ty: ColumnType) -> DataType {
    match ty {
        ColumnType::Str | ColumnType::Json => DataType::Utf8,
        ColumnType::Int | ColumnType::Time => DataType::Int64,
        ColumnType::Float => DataType::Float64,
        ColumnType::Bool => DataType::Boolean,
        ColumnType::StrList => DataType::List(Arc::new(Field::new("item", DataType::Utf8, true))),
    }
}

/// The stored field of a column of the column table.
pub fn column_field(c: &Column) -> Field {
    let field = Field::new(c.name, arrow_type(c.ty), c.nullable);
    if c.name != "trajectory_id" {
        return field;
    }
    // Declaring the id as the table's primary key makes `merge_insert` record the keys
    // it inserts in its transaction, so that Lance detects two concurrent imports
    // inserting the same new id and retries the later one (which then skips it).
    // Without it, both commits succeed and the id is stored twice.
    field.with_metadata([("lance-schema:unenforced-primary-key".to_string(), "true".to_string())].into())
}

pub fn summaries_schema() -> SchemaRef {
    let mut fields = Vec::with_capacity(COLUMNS.len() + 4);
    for c in COLUMNS {
        fields.push(column_field(c));
        if c.name == "metadata" {
            // The scalar entries of the metadata object for `metadata.KEY` filters.
            fields.push(list_field(METADATA_KV));
        }
    }
    fields.push(Field::new("write_id", DataType::Int64, false));
    // Similarity search columns (see `search.rs` for why they live here).
    fields.push(Field::new(EMBED_TEXT, DataType::Utf8, true));
    fields.push(embedding_field());
    Arc::new(Schema::new(fields))
}

/// The columns of the column table that `schema` lacks, as a schema of nullable fields:
/// added, all null, to a store written before they existed.
pub fn missing_columns_schema(schema: &Schema) -> Option<SchemaRef> {
    let missing: Vec<Field> = COLUMNS
        .iter()
        .filter(|c| schema.field_with_name(c.name).is_err())
        .map(|c| column_field(c).with_nullable(true))
        .collect();
    (!missing.is_empty()).then(|| Arc::new(Schema::new(missing)))
}

/// A large, nullable text column, compressed with zstd at `level`. Lance's default for
/// large values is zstd level 3, whose match finder took a quarter of an import's CPU
/// time. At 100k demo records: steps at level 1 take 344 MB with the search text also
/// at 1 (level 3: 366 MB), and the import ran 1.3x faster; the search text, read only
/// to build the full-text index, is kept at level -1 (+64 MB, a further 10%).
fn bulky_text(name: &str, level: i32) -> Field {
    Field::new(name, DataType::LargeUtf8, true).with_metadata(zstd_metadata(level))
}

/// The level the search text is compressed at (see [`bulky_text`]).
pub(crate) const SEARCH_TEXT_ZSTD_LEVEL: i32 = -1;

/// A column's metadata that makes Lance compress it with zstd at `level`.
pub(crate) fn zstd_metadata(level: i32) -> HashMap<String, String> {
    [
        (ZSTD_METADATA_KEY.to_string(), "zstd".to_string()),
        ("lance-encoding:compression-level".to_string(), level.to_string()),
    ]
    .into()
}

pub(crate) const ZSTD_METADATA_KEY: &str = "lance-encoding:compression";

/// The payload key of a summary row: the write that stored its steps.
pub const WRITE_ID: &str = "write_id";

/// The schema of [`SUMMARY_COLUMNS`] and [`WRITE_ID`], in that order: what a copy of the
/// summary rows keeps so that it can later read a row's payload alone.
pub fn keyed_summary_schema() -> SchemaRef {
    let full = summaries_schema();
    let indices: Vec<usize> =
        SUMMARY_COLUMNS.iter().chain(&[WRITE_ID]).map(|c| full.index_of(c).expect("a summary column")).collect();
    Arc::new(full.project(&indices).expect("indices are in range"))
}

/// Full-text search indexes this payload column: question, message contents, tool
/// calls, tool outputs.
pub const SEARCH_TEXT: &str = "search_text";
/// The text whose embedding similarity search uses (question + last assistant message).
pub const EMBED_TEXT: &str = "embed_text";
/// The unit-length embedding of `embed_text`, null until `embed` fills it.
pub const EMBEDDING: &str = "embedding";
/// The dimension of stored embeddings (all-MiniLM-L6-v2's).
pub const EMBEDDING_DIM: i32 = 384;

pub fn embedding_field() -> Field {
    Field::new(
        EMBEDDING,
        DataType::FixedSizeList(Arc::new(Field::new("item", DataType::Float32, true)), EMBEDDING_DIM),
        true,
    )
}

/// The similarity search columns of `summaries`, all null: added to stores created
/// before they existed.
pub fn similarity_columns_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![Field::new(EMBED_TEXT, DataType::Utf8, true), embedding_field()]))
}

/// The payloads' search text column, all null: added to stores created before it moved
/// there (`optimize` fills it in).
pub fn search_text_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![bulky_text(SEARCH_TEXT, SEARCH_TEXT_ZSTD_LEVEL)]))
}

/// The payloads table as a new store creates it: its search text marked as terms, in
/// the same commit that creates the table (batches written later need not carry it).
pub fn new_payloads_table_schema() -> SchemaRef {
    let schema = payloads_schema();
    let fields = schema
        .fields()
        .iter()
        .map(|f| {
            let f = f.as_ref().clone();
            if f.name() == SEARCH_TEXT {
                // Added to its compression settings: the table's schema, not a batch's, is
                // what Lance encodes every later write with.
                let mut metadata = f.metadata().clone();
                metadata
                    .insert(crate::terms::SEARCH_TEXT_FORMAT_KEY.to_string(), crate::terms::TERMS_FORMAT.to_string());
                f.with_metadata(metadata)
            } else {
                f
            }
        })
        .collect::<Vec<_>>();
    Arc::new(Schema::new(fields))
}

pub fn payloads_schema() -> SchemaRef {
    let [step_facts, call_facts] = crate::facts::facts_fields();
    Arc::new(Schema::new(vec![
        Field::new("trajectory_id", DataType::Utf8, false),
        Field::new("write_id", DataType::Int64, false),
        bulky_text("task", 1),
        bulky_text("steps", 1).with_nullable(false),
        bulky_text("extra", 1),
        bulky_text(SEARCH_TEXT, SEARCH_TEXT_ZSTD_LEVEL),
        step_facts,
        call_facts,
    ]))
}

fn strings<'a>(rows: &'a [Trajectory], f: impl Fn(&'a Trajectory) -> Option<&'a str>) -> ArrayRef {
    let mut b = StringBuilder::with_capacity(rows.len(), rows.len() * 16);
    for r in rows {
        b.append_option(f(r));
    }
    Arc::new(b.finish())
}

fn large_strings<'a>(rows: &'a [Trajectory], f: impl Fn(&'a Trajectory) -> Option<&'a str>) -> ArrayRef {
    let bytes: usize = rows.iter().map(|r| f(r).map_or(0, str::len)).sum();
    let mut b = LargeStringBuilder::with_capacity(rows.len(), bytes);
    for r in rows {
        b.append_option(f(r));
    }
    Arc::new(b.finish())
}

fn ints(rows: &[Trajectory], f: impl Fn(&Trajectory) -> Option<i64>) -> ArrayRef {
    let mut b = Int64Builder::with_capacity(rows.len());
    for r in rows {
        b.append_option(f(r));
    }
    Arc::new(b.finish())
}

fn lists<'a, I: IntoIterator<Item = S>, S: AsRef<str>>(
    rows: &'a [Trajectory],
    f: impl Fn(&'a Trajectory) -> I,
) -> ArrayRef {
    let mut b = ListBuilder::new(StringBuilder::new());
    for r in rows {
        for v in f(r) {
            b.values().append_value(v);
        }
        b.append(true);
    }
    Arc::new(b.finish())
}

/// The Arrow array of one column of the column table over `rows`. A `Time` column
/// falls back to the row's `created_at`, then to `now`.
pub fn column_array(c: &Column, rows: &[Trajectory], now: i64) -> ArrayRef {
    macro_rules! build {
        ($builder:expr, $variant:ident, |$r:ident, $v:ident| $value:expr) => {{
            let mut b = $builder;
            for $r in rows {
                match (c.get)($r) {
                    Cell::$variant($v) => b.append_option($value),
                    other => unreachable!("column {} holds {other:?}", c.name),
                }
            }
            Arc::new(b.finish()) as ArrayRef
        }};
    }
    match c.ty {
        ColumnType::Str | ColumnType::Json => {
            build!(StringBuilder::with_capacity(rows.len(), rows.len() * 16), Str, |_r, v| v)
        }
        ColumnType::Int => build!(Int64Builder::with_capacity(rows.len()), Int, |_r, v| v),
        ColumnType::Time => {
            build!(Int64Builder::with_capacity(rows.len()), Int, |r, v| Some(v.or(r.created_at).unwrap_or(now)))
        }
        ColumnType::Float => build!(Float64Builder::with_capacity(rows.len()), Float, |_r, v| v),
        ColumnType::Bool => build!(BooleanBuilder::with_capacity(rows.len()), Bool, |_r, v| v),
        ColumnType::StrList => lists(rows, |r| match (c.get)(r) {
            Cell::List(v) => v,
            other => unreachable!("column {} holds {other:?}", c.name),
        }),
    }
}

/// Summary rows for trajectories. `created_at`/`updated_at` fall back to `now`.
/// `embed_texts` holds each row's embedding text (see `trajstore_model::text`).
pub fn summaries_batch(
    rows: &[Trajectory],
    embed_texts: &[String],
    write_id: i64,
    now: i64,
) -> Result<RecordBatch, StoreError> {
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(COLUMNS.len() + 4);
    for c in COLUMNS {
        columns.push(column_array(c, rows, now));
        if c.name == "metadata" {
            columns.push(lists(rows, |r| {
                r.metadata_json
                    .as_deref()
                    .and_then(|m| serde_json::from_str::<serde_json::Value>(m).ok())
                    .map(|m| trajstore_query::metadata_entries(&m))
                    .unwrap_or_default()
            }));
        }
    }
    columns.push(ints(rows, |_| Some(write_id)));
    let mut b = StringBuilder::with_capacity(embed_texts.len(), embed_texts.iter().map(String::len).sum());
    embed_texts.iter().for_each(|t| b.append_value(t));
    columns.push(Arc::new(b.finish()));
    columns.push(arrow_array::new_null_array(embedding_field().data_type(), rows.len()));
    Ok(RecordBatch::try_new(summaries_schema(), columns)?)
}

/// Payload rows for trajectories; `search_texts` holds each row's full-text search text
/// and `facts` its step and call facts.
pub fn payloads_batch(
    rows: &[Trajectory],
    search_texts: &[String],
    facts: &[StepFacts],
    write_id: i64,
) -> Result<RecordBatch, StoreError> {
    let [step_facts, call_facts] = crate::facts::facts_arrays(facts)?;
    let columns: Vec<ArrayRef> = vec![
        strings(rows, |r| Some(&r.trajectory_id)),
        ints(rows, |_| Some(write_id)),
        large_strings(rows, |r| r.task_json.as_deref()),
        large_strings(rows, |r| Some(&r.steps_json)),
        large_strings(rows, |r| r.extra_json.as_deref()),
        {
            let mut b =
                LargeStringBuilder::with_capacity(search_texts.len(), search_texts.iter().map(String::len).sum());
            search_texts.iter().for_each(|t| b.append_value(t));
            Arc::new(b.finish())
        },
        step_facts,
        call_facts,
    ];
    Ok(RecordBatch::try_new(payloads_schema(), columns)?)
}

/// Typed access to the columns of a result batch by name.
pub struct Columns<'a> {
    batch: &'a RecordBatch,
}

impl<'a> Columns<'a> {
    pub fn new(batch: &'a RecordBatch) -> Self {
        Columns { batch }
    }

    fn column<T: 'static>(&self, name: &str) -> Result<&'a T, StoreError> {
        self.batch
            .column_by_name(name)
            .and_then(|c| c.as_any().downcast_ref::<T>())
            .ok_or_else(|| StoreError::Corrupt(format!("column {name} is missing or has an unexpected type")))
    }

    pub fn str(&self, name: &str) -> Result<&'a StringArray, StoreError> {
        self.column(name)
    }
    pub fn large_str(&self, name: &str) -> Result<&'a LargeStringArray, StoreError> {
        self.column(name)
    }
    pub fn i64(&self, name: &str) -> Result<&'a Int64Array, StoreError> {
        self.column(name)
    }
    pub fn f64(&self, name: &str) -> Result<&'a Float64Array, StoreError> {
        self.column(name)
    }
    pub fn bool(&self, name: &str) -> Result<&'a BooleanArray, StoreError> {
        self.column(name)
    }
    pub fn list(&self, name: &str) -> Result<&'a ListArray, StoreError> {
        self.column(name)
    }
}

pub fn string_list(a: &ListArray, i: usize) -> Vec<String> {
    if a.is_null(i) {
        return Vec::new();
    }
    let values = a.value(i);
    let Some(s) = values.as_any().downcast_ref::<StringArray>() else { return Vec::new() };
    (0..s.len()).filter(|&j| s.is_valid(j)).map(|j| s.value(j).to_string()).collect()
}

/// Row `i` of `array`, a column of the column table of type `ty`, as a cell value.
fn cell_value(ty: ColumnType, array: &dyn Array, i: usize) -> Result<CellValue, StoreError> {
    use arrow_array::cast::AsArray;
    use arrow_array::types::{Float64Type, Int64Type};
    let wrong = || StoreError::Corrupt(format!("a column of type {ty:?} holds {}", array.data_type()));
    Ok(match (ty, array.data_type()) {
        (ColumnType::Str | ColumnType::Json, DataType::Utf8) => {
            let a = array.as_string::<i32>();
            CellValue::Str(a.is_valid(i).then(|| a.value(i).to_string()))
        }
        (ColumnType::Int | ColumnType::Time, DataType::Int64) => {
            let a = array.as_primitive::<Int64Type>();
            CellValue::Int(a.is_valid(i).then(|| a.value(i)))
        }
        (ColumnType::Float, DataType::Float64) => {
            let a = array.as_primitive::<Float64Type>();
            CellValue::Float(a.is_valid(i).then(|| a.value(i)))
        }
        (ColumnType::Bool, DataType::Boolean) => {
            let a = array.as_boolean();
            CellValue::Bool(a.is_valid(i).then(|| a.value(i)))
        }
        (ColumnType::StrList, DataType::List(_)) => CellValue::List(string_list(array.as_list::<i32>(), i)),
        _ => return Err(wrong()),
    })
}

/// The arrays of the column table's columns in `batch`, by name.
fn table_arrays(batch: &RecordBatch) -> Result<Vec<(&'static Column, &ArrayRef)>, StoreError> {
    COLUMNS
        .iter()
        .map(|c| {
            let array = batch
                .column_by_name(c.name)
                .ok_or_else(|| StoreError::Corrupt(format!("column {} is missing", c.name)))?;
            Ok((c, array))
        })
        .collect()
}

/// Summary rows of a batch that holds [`SUMMARY_COLUMNS`].
pub fn summaries_from_batch(batch: &RecordBatch) -> Result<Vec<Summary>, StoreError> {
    let arrays = table_arrays(batch)?;
    (0..batch.num_rows())
        .map(|i| {
            let mut s = Summary::default();
            for (c, array) in &arrays {
                (c.summary_set)(&mut s, cell_value(c.ty, array.as_ref(), i)?)
                    .map_err(|e| StoreError::Corrupt(format!("{} of {}: {e}", c.name, s.trajectory_id)))?;
            }
            Ok(s)
        })
        .collect()
}

/// The summary columns of row `i` of `batch` set in `t`.
pub fn set_summary_fields(t: &mut Trajectory, batch: &RecordBatch, i: usize) -> Result<(), StoreError> {
    for (c, array) in table_arrays(batch)? {
        (c.set)(t, cell_value(c.ty, array.as_ref(), i)?)
            .map_err(|e| StoreError::Corrupt(format!("{}: {e}", c.name)))?;
    }
    Ok(())
}
