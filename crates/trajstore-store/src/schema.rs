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

use std::sync::Arc;

use arrow_array::builder::{
    BooleanBuilder, Float64Builder, Int64Builder, LargeStringBuilder, ListBuilder, StringBuilder,
};
use arrow_array::{
    Array, ArrayRef, BooleanArray, Float64Array, Int64Array, LargeStringArray, ListArray, RecordBatch, StringArray,
};
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use trajstore_model::{Summary, Trajectory};

use crate::StoreError;

pub const SUMMARIES: &str = "summaries";
pub const PAYLOADS: &str = "payloads";

/// Summary columns returned by list queries (everything but the filter-only `metadata_kv`
/// and the internal `write_id`).
pub const SUMMARY_COLUMNS: &[&str] = &[
    "trajectory_id",
    "data_id",
    "agent_name",
    "training_id",
    "epoch_id",
    "iteration_id",
    "sample_id",
    "question",
    "termination_reason",
    "reward",
    "toolcall_reward",
    "res_reward",
    "is_success",
    "step_count",
    "exec_time",
    "is_bookmarked",
    "tags",
    "notes",
    "metadata",
    "source",
    "created_at",
    "updated_at",
];

fn list_field(name: &str) -> Field {
    Field::new(name, DataType::List(Arc::new(Field::new("item", DataType::Utf8, true))), false)
}

pub fn summaries_schema() -> SchemaRef {
    // Declaring the id as the table's primary key makes `merge_insert` record the keys
    // it inserts in its transaction, so that Lance detects two concurrent imports
    // inserting the same new id and retries the later one (which then skips it).
    // Without it, both commits succeed and the id is stored twice.
    let primary_key = [("lance-schema:unenforced-primary-key".to_string(), "true".to_string())].into_iter().collect();
    Arc::new(Schema::new(vec![
        Field::new("trajectory_id", DataType::Utf8, false).with_metadata(primary_key),
        Field::new("data_id", DataType::Utf8, true),
        Field::new("agent_name", DataType::Utf8, true),
        Field::new("training_id", DataType::Utf8, true),
        Field::new("epoch_id", DataType::Int64, true),
        Field::new("iteration_id", DataType::Int64, true),
        Field::new("sample_id", DataType::Int64, true),
        Field::new("question", DataType::Utf8, true),
        Field::new("termination_reason", DataType::Utf8, true),
        Field::new("reward", DataType::Float64, true),
        Field::new("toolcall_reward", DataType::Float64, true),
        Field::new("res_reward", DataType::Float64, true),
        Field::new("is_success", DataType::Boolean, true),
        Field::new("step_count", DataType::Int64, false),
        Field::new("exec_time", DataType::Float64, true),
        Field::new("is_bookmarked", DataType::Boolean, false),
        list_field("tags"),
        Field::new("notes", DataType::Utf8, true),
        // The metadata object as JSON text, and its scalar entries for `metadata.KEY` filters.
        Field::new("metadata", DataType::Utf8, true),
        list_field("metadata_kv"),
        Field::new("source", DataType::Utf8, true),
        // Microseconds since the Unix epoch, UTC.
        Field::new("created_at", DataType::Int64, false),
        Field::new("updated_at", DataType::Int64, false),
        Field::new("write_id", DataType::Int64, false),
        // Similarity search columns (see `search.rs` for why they live here).
        Field::new(EMBED_TEXT, DataType::Utf8, true),
        embedding_field(),
    ]))
}

/// A large, nullable text column, compressed with zstd at `level`. Lance's default for
/// large values is zstd level 3, whose match finder took a quarter of an import's CPU
/// time. At 100k demo records: steps at level 1 take 344 MB with the search text also
/// at 1 (level 3: 366 MB), and the import ran 1.3x faster; the search text, read only
/// to build the full-text index, is kept at level -1 (+64 MB, a further 10%).
fn bulky_text(name: &str, level: i32) -> Field {
    let encoding = [
        ("lance-encoding:compression".to_string(), "zstd".to_string()),
        ("lance-encoding:compression-level".to_string(), level.to_string()),
    ]
    .into_iter()
    .collect();
    Field::new(name, DataType::LargeUtf8, true).with_metadata(encoding)
}

/// The schema of [`SUMMARY_COLUMNS`] (what a list scan returns).
pub fn summary_columns_schema() -> SchemaRef {
    let full = summaries_schema();
    let indices: Vec<usize> = SUMMARY_COLUMNS.iter().map(|c| full.index_of(c).expect("a summary column")).collect();
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
    Arc::new(Schema::new(vec![bulky_text(SEARCH_TEXT, -1)]))
}

pub fn payloads_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("trajectory_id", DataType::Utf8, false),
        Field::new("write_id", DataType::Int64, false),
        bulky_text("task", 1),
        bulky_text("steps", 1).with_nullable(false),
        bulky_text("extra", 1),
        bulky_text(SEARCH_TEXT, -1),
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

fn floats(rows: &[Trajectory], f: impl Fn(&Trajectory) -> Option<f64>) -> ArrayRef {
    let mut b = Float64Builder::with_capacity(rows.len());
    for r in rows {
        b.append_option(f(r));
    }
    Arc::new(b.finish())
}

fn bools(rows: &[Trajectory], f: impl Fn(&Trajectory) -> Option<bool>) -> ArrayRef {
    let mut b = BooleanBuilder::with_capacity(rows.len());
    for r in rows {
        b.append_option(f(r));
    }
    Arc::new(b.finish())
}

fn lists(rows: &[Trajectory], f: impl Fn(&Trajectory) -> Vec<String>) -> ArrayRef {
    let mut b = ListBuilder::new(StringBuilder::new());
    for r in rows {
        for v in f(r) {
            b.values().append_value(v);
        }
        b.append(true);
    }
    Arc::new(b.finish())
}

/// Summary rows for trajectories. `created_at`/`updated_at` fall back to `now`.
/// `embed_texts` holds each row's embedding text (see `trajstore_model::text`).
pub fn summaries_batch(
    rows: &[Trajectory],
    embed_texts: &[String],
    write_id: i64,
    now: i64,
) -> Result<RecordBatch, StoreError> {
    let columns: Vec<ArrayRef> = vec![
        strings(rows, |r| Some(&r.trajectory_id)),
        strings(rows, |r| r.data_id.as_deref()),
        strings(rows, |r| r.agent_name.as_deref()),
        strings(rows, |r| r.training_id.as_deref()),
        ints(rows, |r| r.epoch_id),
        ints(rows, |r| r.iteration_id),
        ints(rows, |r| r.sample_id),
        strings(rows, |r| r.question.as_deref()),
        strings(rows, |r| r.termination_reason.as_deref()),
        floats(rows, |r| r.reward),
        floats(rows, |r| r.toolcall_reward),
        floats(rows, |r| r.res_reward),
        bools(rows, |r| r.is_success),
        ints(rows, |r| Some(r.step_count)),
        floats(rows, |r| r.exec_time),
        bools(rows, |r| Some(r.is_bookmarked)),
        lists(rows, |r| r.tags.clone()),
        strings(rows, |r| r.notes.as_deref()),
        strings(rows, |r| r.metadata_json.as_deref()),
        lists(rows, |r| {
            r.metadata_json
                .as_deref()
                .and_then(|m| serde_json::from_str::<serde_json::Value>(m).ok())
                .map(|m| trajstore_query::metadata_entries(&m))
                .unwrap_or_default()
        }),
        strings(rows, |r| r.source.as_deref()),
        ints(rows, |r| Some(r.created_at.unwrap_or(now))),
        ints(rows, |r| Some(r.updated_at.or(r.created_at).unwrap_or(now))),
        ints(rows, |_| Some(write_id)),
        {
            let mut b = StringBuilder::with_capacity(embed_texts.len(), embed_texts.iter().map(String::len).sum());
            embed_texts.iter().for_each(|t| b.append_value(t));
            Arc::new(b.finish())
        },
        arrow_array::new_null_array(embedding_field().data_type(), rows.len()),
    ];
    Ok(RecordBatch::try_new(summaries_schema(), columns)?)
}

/// Payload rows for trajectories; `search_texts` holds each row's full-text search text.
pub fn payloads_batch(rows: &[Trajectory], search_texts: &[String], write_id: i64) -> Result<RecordBatch, StoreError> {
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

pub fn opt_str(a: &StringArray, i: usize) -> Option<String> {
    a.is_valid(i).then(|| a.value(i).to_string())
}
pub fn opt_i64(a: &Int64Array, i: usize) -> Option<i64> {
    a.is_valid(i).then(|| a.value(i))
}
pub fn opt_f64(a: &Float64Array, i: usize) -> Option<f64> {
    a.is_valid(i).then(|| a.value(i))
}
pub fn opt_bool(a: &BooleanArray, i: usize) -> Option<bool> {
    a.is_valid(i).then(|| a.value(i))
}
pub fn string_list(a: &ListArray, i: usize) -> Vec<String> {
    if a.is_null(i) {
        return Vec::new();
    }
    let values = a.value(i);
    let Some(s) = values.as_any().downcast_ref::<StringArray>() else { return Vec::new() };
    (0..s.len()).filter(|&j| s.is_valid(j)).map(|j| s.value(j).to_string()).collect()
}

/// Summary rows of a batch that holds [`SUMMARY_COLUMNS`].
pub fn summaries_from_batch(batch: &RecordBatch) -> Result<Vec<Summary>, StoreError> {
    let c = Columns::new(batch);
    let (id, data_id, agent, training) =
        (c.str("trajectory_id")?, c.str("data_id")?, c.str("agent_name")?, c.str("training_id")?);
    let (epoch, iteration, sample) = (c.i64("epoch_id")?, c.i64("iteration_id")?, c.i64("sample_id")?);
    let (question, reason) = (c.str("question")?, c.str("termination_reason")?);
    let (reward, tc_reward, res_reward) = (c.f64("reward")?, c.f64("toolcall_reward")?, c.f64("res_reward")?);
    let (success, steps, exec, bookmarked) =
        (c.bool("is_success")?, c.i64("step_count")?, c.f64("exec_time")?, c.bool("is_bookmarked")?);
    let (tags, notes, metadata, source) = (c.list("tags")?, c.str("notes")?, c.str("metadata")?, c.str("source")?);
    let (created, updated) = (c.i64("created_at")?, c.i64("updated_at")?);
    (0..batch.num_rows())
        .map(|i| {
            Ok(Summary {
                trajectory_id: id.value(i).to_string(),
                data_id: opt_str(data_id, i),
                agent_name: opt_str(agent, i),
                training_id: opt_str(training, i),
                epoch_id: opt_i64(epoch, i),
                iteration_id: opt_i64(iteration, i),
                sample_id: opt_i64(sample, i),
                question: opt_str(question, i),
                termination_reason: opt_str(reason, i),
                reward: opt_f64(reward, i),
                toolcall_reward: opt_f64(tc_reward, i),
                res_reward: opt_f64(res_reward, i),
                is_success: opt_bool(success, i),
                step_count: steps.value(i),
                exec_time: opt_f64(exec, i),
                is_bookmarked: bookmarked.value(i),
                tags: string_list(tags, i),
                notes: opt_str(notes, i),
                metadata: metadata
                    .is_valid(i)
                    .then(|| serde_json::from_str(metadata.value(i)))
                    .transpose()
                    .map_err(|e| StoreError::Corrupt(format!("metadata of {}: {e}", id.value(i))))?,
                source: opt_str(source, i),
                created_at: opt_i64(created, i),
                updated_at: opt_i64(updated, i),
            })
        })
        .collect()
}
