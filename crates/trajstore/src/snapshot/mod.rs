//! An in-memory, columnar copy of every summary row at one dataset version.
//!
//! Long-lived processes (the server, the benchmarks) answer lists, totals and statistics
//! from it in milliseconds, where a Lance scan per request costs tens to hundreds of
//! milliseconds at a million rows. One-shot CLI commands do not build it: one scan
//! answers them faster than building a copy first.
//!
//! Like the cache, it is labelled with a dataset version. Adds through the same handle
//! extend it from their own rows, and commits that change no row (compaction, index
//! builds) only relabel it; any other commit (a delete, another process's write) makes it
//! old, and reads then go to Lance (fresh, slower) while one background task reads the
//! rows that commit changed (every row only when that cannot be told) and brings the
//! copy past it. An add returns only once the copy holds it, so reads never miss an
//! acknowledged write (see `slot`). Filters it cannot evaluate (`metadata.KEY`) also go
//! to Lance.
//!
//! Layout: the summary columns as one Arrow batch, except `question`, which is kept once
//! per distinct text (all samples of a prompt share it, and prompts can be long). String
//! columns that filters match or sort on are dictionary-coded with codes in byte order
//! of the values, so a filter tests each distinct value once and a sort compares integers.

mod columns;
mod dict;
mod order;
mod slot;

use std::collections::HashSet;
use std::sync::Arc;

use arrow_array::builder::{ListBuilder, StringBuilder};
use arrow_array::{Array, ArrayRef, BooleanArray, Int64Array, ListArray, RecordBatch, StringArray, UInt32Array};
use arrow_schema::{Field, Schema};
use trajstore_query::{FilterSet, NULL_CODE as NULL};
use trajstore_store::{keyed_summary_schema, summaries_from_batch, Patch, Store};

use dict::{Dict, TagIndex};
pub(crate) use slot::SnapshotSlot;

use crate::{Error, Result, Summary};

/// Columns the snapshot dictionary-codes (besides `question`, coded the same way): the
/// sortable text columns of the column table but the id (`data_id` among them).
fn coded_columns() -> impl Iterator<Item = &'static str> {
    trajstore_model::COLUMNS
        .iter()
        .filter(|c| c.ty == trajstore_model::ColumnType::Str && c.sortable)
        .map(|c| c.name)
        .filter(|n| !matches!(*n, "trajectory_id" | "question"))
}

/// What no update changes: shared between a snapshot and its patched successors.
struct Fixed {
    question: Dict,
    /// In the order of `coded_columns`.
    coded: Vec<(&'static str, Dict)>,
    /// Rank of each row's trajectory_id in byte order, and the rows in that order.
    id_rank: Vec<u32>,
    by_id: Vec<u32>,
    /// The task of each row for pass@k: data_id, else question, else the row itself.
    task: Vec<u32>,
}

pub(crate) struct Snapshot {
    pub version: u64,
    /// Every summary column but `question`.
    batch: RecordBatch,
    rows: usize,
    fixed: Arc<Fixed>,
    tags: Arc<TagIndex>,
}

impl Snapshot {
    /// Builds from batches holding [`keyed_summary_schema`]'s columns (any number, any sizes).
    pub fn build(version: u64, batches: &[RecordBatch]) -> Result<Snapshot> {
        let internal = |e: &dyn std::fmt::Display| Error::Internal(format!("building the in-memory index: {e}").into());
        let Some(first) = batches.first() else {
            return Err(Error::Internal("building the in-memory index: no batches".into()));
        };
        let schema = first.schema();
        let batch = arrow_select::concat::concat_batches(&schema, batches).map_err(|e| internal(&e))?;
        let rows = batch.num_rows();
        if rows >= (1 << 31) {
            return Err(internal(&"too many rows"));
        }
        let col = |name: &str| batch.column_by_name(name).ok_or_else(|| internal(&format!("column {name} is missing")));
        let str_col = |name: &str| {
            col(name)?
                .as_any()
                .downcast_ref::<StringArray>()
                .cloned()
                .ok_or_else(|| internal(&format!("column {name} is not a string")))
        };

        let question_array = str_col("question")?;
        let question = Dict::from_array(&question_array);
        let coded: Vec<(&'static str, Dict)> =
            coded_columns().map(|c| Ok((c, Dict::from_array(&str_col(c)?)))).collect::<Result<_>>()?;
        let ids = str_col("trajectory_id")?;
        let mut by_id: Vec<u32> = (0..rows as u32).collect();
        by_id.sort_unstable_by(|&a, &b| ids.value(a as usize).cmp(ids.value(b as usize)));
        let mut id_rank = vec![0u32; rows];
        for (r, &row) in by_id.iter().enumerate() {
            id_rank[row as usize] = r as u32;
        }
        let tag_list = col("tags")?
            .as_any()
            .downcast_ref::<ListArray>()
            .cloned()
            .ok_or_else(|| internal(&"tags is not a list"))?;
        let tags = TagIndex::build(&tag_list)?;

        // Tasks: codes of data_id first, then of questions, then one per row.
        let data_ids = &coded.iter().find(|(c, _)| *c == "data_id").ok_or_else(|| internal(&"data_id"))?.1;
        let base_q = data_ids.values.len() as u32;
        let base_row = base_q + question.values.len() as u32;
        let task = (0..rows)
            .map(|i| match (data_ids.codes[i], question.codes[i]) {
                (d, _) if d != NULL => d,
                (_, q) if q != NULL => base_q + q,
                _ => base_row + i as u32,
            })
            .collect();

        // Drop the per-row question texts: the dictionary holds each once.
        let keep: Vec<usize> = (0..schema.fields().len()).filter(|&i| schema.field(i).name() != "question").collect();
        let batch = batch.project(&keep).map_err(|e| internal(&e))?;
        let fixed = Arc::new(Fixed { question, coded, id_rank, by_id, task });
        Ok(Snapshot { version, batch, rows, fixed, tags: Arc::new(tags) })
    }

    /// This snapshot with one row's bookmark, tags or notes changed as `patch` says,
    /// labelled `version`: the commit that made exactly that change.
    pub fn patched(&self, version: u64, id: &str, patch: &Patch, updated_at: i64) -> Result<Snapshot> {
        let internal = |e: &dyn std::fmt::Display| Error::Internal(format!("patching the in-memory index: {e}").into());
        let row = self.row_of(id).ok_or_else(|| internal(&format!("{id:?} is not in it")))?;
        let n = self.rows;
        let mut columns: Vec<ArrayRef> = self.batch.columns().to_vec();
        let index = |name: &str| self.batch.schema().index_of(name).map_err(|e| internal(&e));
        let i = index("updated_at")?;
        let a: &Int64Array = self.array("updated_at").ok_or_else(|| internal(&"updated_at"))?;
        let mut values = a.values().to_vec();
        values[row] = updated_at;
        columns[i] = Arc::new(Int64Array::new(values.into(), a.nulls().cloned()));
        if let Some(b) = patch.is_bookmarked {
            let a: &BooleanArray = self.array("is_bookmarked").ok_or_else(|| internal(&"is_bookmarked"))?;
            columns[index("is_bookmarked")?] = Arc::new(
                (0..n)
                    .map(|j| if j == row { Some(b) } else { a.is_valid(j).then(|| a.value(j)) })
                    .collect::<BooleanArray>(),
            );
        }
        if let Some(notes) = &patch.notes {
            let a: &StringArray = self.array("notes").ok_or_else(|| internal(&"notes"))?;
            columns[index("notes")?] = Arc::new(
                (0..n)
                    .map(|j| if j == row { notes.as_deref() } else { a.is_valid(j).then(|| a.value(j)) })
                    .collect::<StringArray>(),
            );
        }
        let mut tags = self.tags.clone();
        if let Some(new_tags) = &patch.tags {
            let a: &ListArray = self.array("tags").ok_or_else(|| internal(&"tags"))?;
            let mut builder = ListBuilder::new(StringBuilder::new());
            for j in 0..n {
                if j == row {
                    for t in new_tags {
                        builder.values().append_value(t);
                    }
                } else {
                    let v = a.value(j);
                    let v =
                        v.as_any().downcast_ref::<StringArray>().ok_or_else(|| internal(&"tags are not strings"))?;
                    for k in 0..v.len() {
                        builder.values().append_option(v.is_valid(k).then(|| v.value(k)));
                    }
                }
                builder.append(true);
            }
            let list = builder.finish();
            tags = Arc::new(TagIndex::build(&list)?);
            columns[index("tags")?] = Arc::new(list);
        }
        let batch = RecordBatch::try_new(self.batch.schema(), columns).map_err(|e| internal(&e))?;
        Ok(Snapshot { version, batch, rows: n, fixed: self.fixed.clone(), tags })
    }

    /// The same rows labelled `version` (a later commit that changed no row).
    pub fn relabelled(&self, version: u64) -> Snapshot {
        Snapshot {
            version,
            batch: self.batch.clone(),
            rows: self.rows,
            fixed: self.fixed.clone(),
            tags: self.tags.clone(),
        }
    }

    pub fn row_of(&self, id: &str) -> Option<usize> {
        let ids: &StringArray = self.array("trajectory_id")?;
        self.fixed.by_id.binary_search_by(|&r| ids.value(r as usize).cmp(id)).ok().map(|p| self.fixed.by_id[p] as usize)
    }

    /// The task id of each row (see [`Fixed::task`]).
    pub fn tasks(&self) -> &[u32] {
        &self.fixed.task
    }

    /// Reads every summary row and builds, labelled with the version current when the
    /// read began. The scan may see later commits too: the copy then holds a newer state
    /// than its label, which only makes a reader who accepts that label see more (see
    /// [`SnapshotSlot`] for how later versions are followed or detected).
    pub async fn load(store: &Store) -> Result<Snapshot> {
        use futures::TryStreamExt;
        let before = store.version().await?;
        let schema = keyed_summary_schema();
        let columns: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
        let batches: Vec<RecordBatch> = store.scan(None, &columns).await?.try_collect().await?;
        let batches: Vec<RecordBatch> = batches.into_iter().filter(|b| b.num_rows() > 0).collect();
        if batches.is_empty() {
            return Ok(Snapshot::empty(before));
        }
        crate::on_blocking_thread(move || Snapshot::build(before, &batches)).await?
    }

    fn empty(version: u64) -> Snapshot {
        let batch = RecordBatch::new_empty(keyed_summary_schema());
        Snapshot::build(version, &[batch]).expect("an empty batch has every column")
    }

    /// This snapshot without the rows whose id is in `removed` and with the rows of
    /// `added` (rows of the summaries table with at least [`keyed_summary_schema`]'s
    /// columns), labelled `version`. An id in both is an updated row: its new copy is
    /// kept. Added rows whose id it holds and does not remove are left out: a full read
    /// that began before their commit may have seen them.
    pub fn changed(&self, version: u64, removed: &HashSet<String>, added: &[RecordBatch]) -> Result<Snapshot> {
        let internal =
            |e: &dyn std::fmt::Display| Error::Internal(format!("extending the in-memory index: {e}").into());
        let schema = keyed_summary_schema();
        let questions: StringArray = self
            .fixed
            .question
            .codes
            .iter()
            .map(|&c| (c != NULL).then(|| &*self.fixed.question.values[c as usize]))
            .collect();
        let current: Vec<ArrayRef> = schema
            .fields()
            .iter()
            .map(|f| match f.name().as_str() {
                "question" => Ok(Arc::new(questions.clone()) as ArrayRef),
                name => self.batch.column_by_name(name).cloned().ok_or_else(|| internal(&format!("{name} is missing"))),
            })
            .collect::<Result<_>>()?;
        let current = RecordBatch::try_new(schema.clone(), current).map_err(|e| internal(&e))?;
        let mut batches = vec![without_ids(&current, removed)?];
        let mut seen = HashSet::new();
        for rows in added {
            let ids = rows
                .column_by_name("trajectory_id")
                .and_then(|a| a.as_any().downcast_ref::<StringArray>())
                .ok_or_else(|| internal(&"trajectory_id"))?;
            let keep: BooleanArray = (0..rows.num_rows())
                .map(|i| {
                    let id = ids.value(i);
                    Some((self.row_of(id).is_none() || removed.contains(id)) && seen.insert(id))
                })
                .collect();
            let columns: Vec<ArrayRef> = schema
                .fields()
                .iter()
                .map(|f| {
                    let a =
                        rows.column_by_name(f.name()).ok_or_else(|| internal(&format!("{} is missing", f.name())))?;
                    arrow_select::filter::filter(a, &keep).map_err(|e| internal(&e))
                })
                .collect::<Result<_>>()?;
            batches.push(RecordBatch::try_new(schema.clone(), columns).map_err(|e| internal(&e))?);
        }
        Snapshot::build(version, &batches)
    }

    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Bytes held (approximately), for the health endpoint.
    pub fn memory_bytes(&self) -> usize {
        let f = &self.fixed;
        self.batch.get_array_memory_size()
            + f.question.bytes()
            + f.coded.iter().map(|(_, d)| d.bytes()).sum::<usize>()
            + self.tags.bytes()
            + (f.id_rank.len() + f.by_id.len() + f.task.len()) * 4
    }

    fn dict(&self, column: &str) -> Option<&Dict> {
        if column == "question" {
            return Some(&self.fixed.question);
        }
        self.fixed.coded.iter().find(|(c, _)| *c == column).map(|(_, d)| d)
    }

    fn array<T: 'static>(&self, column: &str) -> Option<&T> {
        self.batch.column_by_name(column)?.as_any().downcast_ref::<T>()
    }

    pub fn batch(&self) -> &RecordBatch {
        &self.batch
    }

    /// The rows matching every filter, in row order; `None` when a filter needs Lance.
    pub fn select(&self, filters: &FilterSet) -> Option<Vec<u32>> {
        filters.select(self)
    }

    /// The summary rows of `rows`, in that order.
    pub fn summaries(&self, rows: &[u32]) -> Result<Vec<Summary>> {
        Ok(summaries_from_batch(&self.summary_batch(rows)?)?)
    }

    /// The rows as one batch of every summary column (and `write_id`), in that order.
    pub fn summary_batch(&self, rows: &[u32]) -> Result<RecordBatch> {
        let indices = UInt32Array::from(rows.to_vec());
        let taken =
            arrow_select::take::take_record_batch(&self.batch, &indices).map_err(|e| Error::Internal(e.into()))?;
        let question: StringArray = rows.iter().map(|&r| self.fixed.question.value(r as usize)).collect();
        let mut fields: Vec<Arc<Field>> = taken.schema().fields().iter().cloned().collect();
        fields.push(Arc::new(Field::new("question", arrow_schema::DataType::Utf8, true)));
        let mut columns: Vec<ArrayRef> = taken.columns().to_vec();
        columns.push(Arc::new(question));
        RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).map_err(|e| Error::Internal(e.into()))
    }
}

/// `batch` without the rows whose `trajectory_id` is in `ids`.
pub(super) fn without_ids(batch: &RecordBatch, ids: &HashSet<String>) -> Result<RecordBatch> {
    if ids.is_empty() {
        return Ok(batch.clone());
    }
    let internal =
        |e: &dyn std::fmt::Display| Error::Internal(format!("removing rows from the in-memory index: {e}").into());
    let column = batch
        .column_by_name("trajectory_id")
        .and_then(|a| a.as_any().downcast_ref::<StringArray>())
        .ok_or_else(|| internal(&"trajectory_id is missing"))?;
    let keep: BooleanArray = column.iter().map(|id| Some(id.is_none_or(|id| !ids.contains(id)))).collect();
    if keep.true_count() == batch.num_rows() {
        return Ok(batch.clone());
    }
    arrow_select::filter::filter_record_batch(batch, &keep).map_err(|e| internal(&e))
}
