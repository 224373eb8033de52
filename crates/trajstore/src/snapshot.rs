//! An in-memory, columnar copy of every summary row at one dataset version.
//!
//! Long-lived processes (the server, the benchmarks) answer lists, totals and statistics
//! from it in milliseconds, where a Lance scan per request costs tens to hundreds of
//! milliseconds at a million rows. One-shot CLI commands do not build it: one scan
//! answers them faster than building a copy first.
//!
//! It never serves an old version: like the cache, it is labelled with the dataset
//! version it was read at, and a read whose current version differs goes to Lance (fresh,
//! slower) while one background task builds the copy of the new version. Filters it
//! cannot evaluate (`metadata.KEY`) also go to Lance.
//!
//! Layout: the summary columns as one Arrow batch, except `question`, which is kept once
//! per distinct text (all samples of a prompt share it, and prompts can be long). String
//! columns that filters match or sort on are dictionary-coded with codes in byte order
//! of the values, so a filter tests each distinct value once and a sort compares integers.

use std::collections::BinaryHeap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use arrow_array::builder::{ListBuilder, StringBuilder};
use arrow_array::{
    Array, ArrayRef, BooleanArray, Float64Array, Int64Array, ListArray, RecordBatch, StringArray, UInt32Array,
};
use arrow_schema::{Field, Schema};
use trajstore_query::{Cmp, Cursor, Filter, FilterSet, Order, SortField, SortValue};
use trajstore_stats::FastMap;
use trajstore_store::{summaries_from_batch, Patch, Store, UpdateCommit, SUMMARY_COLUMNS};

use crate::{Error, Result, Summary};

/// The code of a null value in a [`Dict`].
const NULL: u32 = u32::MAX;

/// Dictionary-coded strings: a code per row, codes numbered in byte order of the values.
struct Dict {
    values: Vec<Box<str>>,
    codes: Vec<u32>,
}

impl Dict {
    fn build<'a>(rows: usize, value: impl Fn(usize) -> Option<&'a str>) -> Dict {
        let mut seen: FastMap<&'a str, u32> = FastMap::default();
        let mut values: Vec<&'a str> = Vec::new();
        let mut codes = Vec::with_capacity(rows);
        for i in 0..rows {
            codes.push(match value(i) {
                None => NULL,
                Some(v) => *seen.entry(v).or_insert_with(|| {
                    values.push(v);
                    (values.len() - 1) as u32
                }),
            });
        }
        // Renumber in value order, so that comparing codes compares the values.
        let mut order: Vec<u32> = (0..values.len() as u32).collect();
        order.sort_unstable_by(|&a, &b| values[a as usize].cmp(values[b as usize]));
        let mut rank = vec![0u32; order.len()];
        for (r, &c) in order.iter().enumerate() {
            rank[c as usize] = r as u32;
        }
        for c in codes.iter_mut().filter(|c| **c != NULL) {
            *c = rank[*c as usize];
        }
        Dict { values: order.iter().map(|&c| Box::from(values[c as usize])).collect(), codes }
    }

    fn from_array(a: &StringArray) -> Dict {
        Dict::build(a.len(), |i| a.is_valid(i).then(|| a.value(i)))
    }

    /// `Ok(code)` of `value`, or `Err(position)` where it would be inserted.
    fn find(&self, value: &str) -> std::result::Result<u32, u32> {
        self.values.binary_search_by(|v| v.as_ref().cmp(value)).map(|c| c as u32).map_err(|p| p as u32)
    }

    /// Which codes have a value that passes `keep` (each distinct value tested once).
    fn passing(&self, keep: impl Fn(&str) -> bool) -> Vec<bool> {
        self.values.iter().map(|v| keep(v)).collect()
    }

    fn value(&self, row: usize) -> Option<&str> {
        let c = self.codes[row];
        (c != NULL).then(|| self.values[c as usize].as_ref())
    }
}

/// A cursor value or id against a dictionary: `2*code+1` for a stored value, `2*p` for an
/// absent one that sorts between codes p-1 and p; rows then compare correctly with it.
fn half_rank(found: std::result::Result<u32, u32>) -> u64 {
    match found {
        Ok(c) => 2 * c as u64 + 1,
        Err(p) => 2 * p as u64,
    }
}

/// `*` matches any run of characters; every other character matches itself.
pub(crate) fn wildcard_match(pattern: &str, value: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if parts.len() == 1 {
        return pattern == value;
    }
    if value.len() < first.len() + last.len() || !value.starts_with(first) || !value.ends_with(last) {
        return false;
    }
    // Leftmost matches of the middle parts, in order, between the prefix and suffix.
    let mut rest = &value[first.len()..value.len() - last.len()];
    for mid in &parts[1..parts.len() - 1] {
        match rest.find(mid) {
            Some(p) => rest = &rest[p + mid.len()..],
            None => return false,
        }
    }
    true
}

/// `lower(hay)` contains `needle_lower` (already lower-cased), as SQL's `lower() LIKE`.
pub(crate) fn contains_folded(hay: &str, needle_lower: &str) -> bool {
    if hay.is_ascii() {
        // ASCII text lower-cases to ASCII, so only an ASCII needle can occur in it; and
        // comparing byte by byte avoids allocating a lower-cased copy of every value.
        if !needle_lower.is_ascii() {
            return false;
        }
        let (h, n) = (hay.as_bytes(), needle_lower.as_bytes());
        return n.is_empty()
            || (h.len() >= n.len()
                && h.windows(n.len()).any(|w| w.iter().zip(n).all(|(a, b)| a.to_ascii_lowercase() == *b)));
    }
    hay.to_lowercase().contains(needle_lower)
}

fn compare<T: PartialOrd>(x: T, cmp: Cmp, v: T) -> bool {
    match cmp {
        Cmp::Eq => x == v,
        Cmp::Ge => x >= v,
        Cmp::Le => x <= v,
        Cmp::Lt => x < v,
    }
}

/// Order-preserving integer images of sort values (ascending).
fn int_key(v: i64) -> u64 {
    (v as u64) ^ (1 << 63)
}
fn float_key(v: f64) -> u64 {
    // Arrow orders floats by total order; this is that order as unsigned integers.
    let b = v.to_bits();
    if b >> 63 == 1 {
        !b
    } else {
        b ^ (1 << 63)
    }
}

/// A row's position in a sort: nulls last, then the value (inverted when descending),
/// then the id's rank. Unique per row, so it also orders pages and cursors.
fn pack(value: Option<u64>, descending: bool, id: u64) -> u128 {
    match value {
        None => (1u128 << 127) | id as u128,
        Some(v) => (((if descending { !v } else { v }) as u128) << 40) | id as u128,
    }
}

/// Columns the snapshot dictionary-codes (besides `question`, coded the same way).
const CODED: [&str; 5] = ["data_id", "agent_name", "training_id", "termination_reason", "source"];

/// What no update changes: shared between a snapshot and its patched successors.
struct Fixed {
    question: Dict,
    coded: [Dict; 5],
    /// Rank of each row's trajectory_id in byte order, and the rows in that order.
    id_rank: Vec<u32>,
    by_id: Vec<u32>,
    /// The task of each row for pass@k: data_id, else question, else the row itself.
    task: Vec<u32>,
}

/// Tags: row i has `codes[offsets[i]..offsets[i+1]]`.
struct TagIndex {
    offsets: Vec<u32>,
    codes: Vec<u32>,
    dict: Dict,
}

impl TagIndex {
    fn build(list: &ListArray) -> Result<TagIndex> {
        let values = list
            .values()
            .as_any()
            .downcast_ref::<StringArray>()
            .ok_or_else(|| Error::Internal("tags are not strings".into()))?;
        let dict = Dict::from_array(values);
        let raw = list.value_offsets();
        let mut offsets = Vec::with_capacity(list.len() + 1);
        let mut codes = Vec::new();
        offsets.push(0u32);
        for i in 0..list.len() {
            if list.is_valid(i) {
                codes.extend(dict.codes[raw[i] as usize..raw[i + 1] as usize].iter().filter(|&&c| c != NULL));
            }
            offsets.push(codes.len() as u32);
        }
        Ok(TagIndex { offsets, codes, dict })
    }

    fn bytes(&self) -> usize {
        (self.offsets.len() + self.codes.len()) * 4
            + self.dict.codes.len() * 4
            + self.dict.values.iter().map(|v| v.len() + 16).sum::<usize>()
    }
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
    /// Builds from batches holding [`SUMMARY_COLUMNS`] (any number, any sizes).
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
        let coded = [
            Dict::from_array(&str_col(CODED[0])?),
            Dict::from_array(&str_col(CODED[1])?),
            Dict::from_array(&str_col(CODED[2])?),
            Dict::from_array(&str_col(CODED[3])?),
            Dict::from_array(&str_col(CODED[4])?),
        ];
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
        let data_ids = &coded[0];
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

    pub fn row_of(&self, id: &str) -> Option<usize> {
        let ids: &StringArray = self.array("trajectory_id")?;
        self.fixed.by_id.binary_search_by(|&r| ids.value(r as usize).cmp(id)).ok().map(|p| self.fixed.by_id[p] as usize)
    }

    /// The task id of each row (see [`Fixed::task`]).
    pub fn tasks(&self) -> &[u32] {
        &self.fixed.task
    }

    /// Reads every summary row and builds; `None` when a write landed meanwhile (the
    /// copy could not be labelled with one version).
    pub async fn load(store: &Store) -> Result<Option<Snapshot>> {
        use futures::TryStreamExt;
        let before = store.version().await?;
        let mut columns = SUMMARY_COLUMNS.to_vec();
        // The payload key, so that `get` reads only the payload.
        columns.push("write_id");
        let batches: Vec<RecordBatch> = store.scan(None, &columns).await?.try_collect().await?;
        if store.version().await? != before {
            return Ok(None);
        }
        let batches: Vec<RecordBatch> = batches.into_iter().filter(|b| b.num_rows() > 0).collect();
        if batches.is_empty() {
            return Ok(Some(Snapshot::empty(before)));
        }
        crate::on_blocking_thread(move || Snapshot::build(before, &batches).map(Some)).await?
    }

    fn empty(version: u64) -> Snapshot {
        let schema = trajstore_store::summary_columns_schema();
        let batch = RecordBatch::new_empty(schema);
        Snapshot::build(version, &[batch]).expect("an empty batch has every column")
    }

    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Bytes held (approximately), for the health endpoint.
    pub fn memory_bytes(&self) -> usize {
        let dict = |d: &Dict| d.codes.len() * 4 + d.values.iter().map(|v| v.len() + 16).sum::<usize>();
        let f = &self.fixed;
        self.batch.get_array_memory_size()
            + dict(&f.question)
            + f.coded.iter().map(dict).sum::<usize>()
            + self.tags.bytes()
            + (f.id_rank.len() + f.by_id.len() + f.task.len()) * 4
    }

    fn coded(&self, column: &str) -> Option<&Dict> {
        if column == "question" {
            return Some(&self.fixed.question);
        }
        CODED.iter().position(|c| *c == column).map(|i| &self.fixed.coded[i])
    }

    fn array<T: 'static>(&self, column: &str) -> Option<&T> {
        self.batch.column_by_name(column)?.as_any().downcast_ref::<T>()
    }

    pub fn batch(&self) -> &RecordBatch {
        &self.batch
    }

    /// A row test for one filter; `None` for filters evaluated only by Lance.
    fn predicate<'a>(&'a self, filter: &'a Filter) -> Option<Box<dyn Fn(usize) -> bool + 'a>> {
        Some(match filter {
            Filter::Wildcard { column, pattern } => {
                let dict = self.coded(column)?;
                if pattern.contains('*') {
                    let pass = dict.passing(|v| wildcard_match(pattern, v));
                    Box::new(move |i| dict.codes[i] != NULL && pass[dict.codes[i] as usize])
                } else {
                    match dict.find(pattern) {
                        Ok(code) => Box::new(move |i| dict.codes[i] == code),
                        Err(_) => Box::new(|_| false),
                    }
                }
            }
            Filter::Contains { column, needle } => {
                let needle = needle.to_lowercase();
                if let Some(dict) = self.coded(column) {
                    let pass = dict.passing(|v| contains_folded(v, &needle));
                    Box::new(move |i| dict.codes[i] != NULL && pass[dict.codes[i] as usize])
                } else {
                    let a: &StringArray = self.array(column)?;
                    Box::new(move |i| a.is_valid(i) && contains_folded(a.value(i), &needle))
                }
            }
            Filter::AnyOf { column, values } => {
                let dict = self.coded(column)?;
                let mut pass = vec![false; dict.values.len()];
                for v in values {
                    if let Ok(c) = dict.find(v) {
                        pass[c as usize] = true;
                    }
                }
                Box::new(move |i| dict.codes[i] != NULL && pass[dict.codes[i] as usize])
            }
            Filter::Float { column, cmp, value } => {
                let a: &Float64Array = self.array(column)?;
                let (cmp, v) = (*cmp, float_key(*value));
                // Compared in total order, as Arrow's kernels compare floats.
                Box::new(move |i| a.is_valid(i) && compare(float_key(a.value(i)), cmp, v))
            }
            Filter::Int { column, cmp, value } => {
                let a: &Int64Array = self.array(column)?;
                let (cmp, v) = (*cmp, *value);
                Box::new(move |i| a.is_valid(i) && compare(a.value(i), cmp, v))
            }
            Filter::Bool { column, value } => {
                let a: &BooleanArray = self.array(column)?;
                let v = *value;
                Box::new(move |i| a.is_valid(i) && a.value(i) == v)
            }
            Filter::TagsAny(wanted) => {
                let tags = &self.tags;
                let mut pass = vec![false; tags.dict.values.len()];
                for t in wanted {
                    if let Ok(c) = tags.dict.find(t) {
                        pass[c as usize] = true;
                    }
                }
                Box::new(move |i| {
                    tags.codes[tags.offsets[i] as usize..tags.offsets[i + 1] as usize].iter().any(|&c| pass[c as usize])
                })
            }
            Filter::Metadata { .. } => return None,
        })
    }

    /// The rows matching every filter, in row order; `None` when a filter needs Lance.
    pub fn select(&self, filters: &FilterSet) -> Option<Vec<u32>> {
        let tests: Vec<_> = filters.filters.iter().map(|f| self.predicate(f)).collect::<Option<_>>()?;
        let mut rows: Option<Vec<u32>> = None;
        for test in &tests {
            rows = Some(match rows {
                None => (0..self.rows).filter(|&i| test(i)).map(|i| i as u32).collect(),
                Some(mut r) => {
                    r.retain(|&i| test(i as usize));
                    r
                }
            });
        }
        Some(rows.unwrap_or_else(|| (0..self.rows as u32).collect()))
    }

    /// The sort position of each row (see [`pack`]).
    fn sort_key<'a>(&'a self, sort: SortField, descending: bool) -> Box<dyn Fn(usize) -> u128 + 'a> {
        let id_rank = &self.fixed.id_rank;
        let id = move |i: usize| 2 * id_rank[i] as u64 + 1;
        let column = sort.column();
        if sort == SortField::TrajectoryId {
            return Box::new(move |i| pack(Some(id(i)), descending, 0));
        }
        if let Some(dict) = self.coded(column) {
            return Box::new(move |i| {
                pack((dict.codes[i] != NULL).then(|| 2 * dict.codes[i] as u64 + 1), descending, id(i))
            });
        }
        if let Some(a) = self.array::<Int64Array>(column) {
            return Box::new(move |i| pack(a.is_valid(i).then(|| int_key(a.value(i))), descending, id(i)));
        }
        if let Some(a) = self.array::<Float64Array>(column) {
            return Box::new(move |i| pack(a.is_valid(i).then(|| float_key(a.value(i))), descending, id(i)));
        }
        if let Some(a) = self.array::<BooleanArray>(column) {
            return Box::new(move |i| pack(a.is_valid(i).then(|| a.value(i) as u64), descending, id(i)));
        }
        unreachable!("every sort field is a summary column of a known type")
    }

    /// The sort position of a cursor: rows after it have larger positions.
    fn cursor_key(&self, c: &Cursor) -> u128 {
        let ids = self.array::<StringArray>("trajectory_id").expect("the id column");
        let id = half_rank(
            self.fixed
                .by_id
                .binary_search_by(|&r| ids.value(r as usize).cmp(&c.id))
                .map(|p| p as u32)
                .map_err(|p| p as u32),
        );
        let descending = c.order == Order::Desc;
        if c.sort == SortField::TrajectoryId {
            return pack(Some(id), descending, 0);
        }
        let value = match &c.value {
            SortValue::Null => None,
            SortValue::Str(s) => Some(self.coded(c.sort.column()).map_or(0, |d| half_rank(d.find(s)))),
            SortValue::Int(v) => Some(int_key(*v)),
            SortValue::Float(v) => Some(float_key(*v)),
            SortValue::Bool(b) => Some(*b as u64),
        };
        pack(value, descending, id)
    }

    /// Rows `offset..offset+limit` of `rows` in the order (sort, order, id), after the
    /// cursor if there is one. A bounded heap keeps only the best `offset+limit`.
    pub fn page(
        &self,
        rows: &[u32],
        sort: SortField,
        order: Order,
        cursor: Option<&Cursor>,
        offset: usize,
        limit: usize,
    ) -> Vec<u32> {
        let key = self.sort_key(sort, order == Order::Desc);
        let after = cursor.map(|c| self.cursor_key(c));
        let window = offset.saturating_add(limit).min(rows.len());
        if window == 0 {
            return Vec::new();
        }
        let mut heap: BinaryHeap<(u128, u32)> = BinaryHeap::with_capacity(window + 1);
        for &r in rows {
            let k = key(r as usize);
            if after.is_some_and(|a| k <= a) {
                continue;
            }
            if heap.len() < window {
                heap.push((k, r));
            } else if let Some(mut top) = heap.peek_mut() {
                if k < top.0 {
                    *top = (k, r);
                }
            }
        }
        heap.into_sorted_vec().into_iter().skip(offset).map(|(_, r)| r).collect()
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

/// The current snapshot of a store handle and the flag that lets one build run at a time.
#[derive(Default)]
pub(crate) struct SnapshotSlot {
    current: RwLock<Option<Arc<Snapshot>>>,
    building: AtomicBool,
    /// Full reads of the summary rows, and updates followed in place (for the health
    /// endpoint: many builds and few patches means writes from elsewhere).
    pub builds: AtomicU64,
    pub patches: AtomicU64,
    /// Updates through this handle not yet followed, and the signal that one was.
    pending_updates: AtomicU64,
    followed: tokio::sync::Notify,
}

/// Marks an update in flight until dropped (see [`SnapshotSlot::update_pending`]).
pub(crate) struct PendingUpdate(Arc<SnapshotSlot>);

impl Drop for PendingUpdate {
    fn drop(&mut self) {
        self.0.pending_updates.fetch_sub(1, Ordering::AcqRel);
        self.0.followed.notify_waiters();
    }
}

impl SnapshotSlot {
    fn current_at(&self, version: u64) -> Option<Arc<Snapshot>> {
        self.current.read().expect("not poisoned").as_ref().filter(|s| s.version == version).cloned()
    }

    /// The snapshot of `version` if it is ready. Otherwise `None`, after starting a build
    /// in the background (when none is running) so that later reads find it. While an
    /// update through this handle is being followed, waits for that (briefly) instead.
    pub async fn get(self: &Arc<Self>, store: &Store, version: u64) -> Option<Arc<Snapshot>> {
        let followed = self.followed.notified();
        tokio::pin!(followed);
        followed.as_mut().enable();
        if let Some(s) = self.current_at(version) {
            return Some(s);
        }
        if self.pending_updates.load(Ordering::Acquire) > 0 {
            let _ = tokio::time::timeout(std::time::Duration::from_millis(200), followed).await;
            if let Some(s) = self.current_at(version) {
                return Some(s);
            }
        }
        if self.pending_updates.load(Ordering::Acquire) == 0 && !self.building.swap(true, Ordering::AcqRel) {
            let (slot, store) = (self.clone(), store.clone());
            tokio::spawn(async move {
                // A failed build is not an error for anyone: reads keep going to Lance.
                let _ = slot.build(&store).await;
                slot.building.store(false, Ordering::Release);
            });
        }
        None
    }

    /// Builds now (waiting for it) unless the current one is of the store's version.
    pub async fn build(&self, store: &Store) -> Result<Option<Arc<Snapshot>>> {
        let version = store.version().await?;
        if let Some(s) = self.current.read().expect("not poisoned").as_ref() {
            if s.version == version {
                return Ok(Some(s.clone()));
            }
        }
        let Some(snapshot) = Snapshot::load(store).await? else { return Ok(None) };
        self.builds.fetch_add(1, Ordering::Relaxed);
        let snapshot = Arc::new(snapshot);
        let mut current = self.current.write().expect("not poisoned");
        if current.as_ref().is_none_or(|c| c.version < snapshot.version) {
            *current = Some(snapshot.clone());
        }
        Ok(Some(snapshot))
    }

    pub fn info(&self, s: &Snapshot) -> crate::MemoryIndexInfo {
        crate::MemoryIndexInfo {
            version: s.version,
            rows: s.rows(),
            bytes: s.memory_bytes(),
            builds: self.builds.load(Ordering::Relaxed),
            patches: self.patches.load(Ordering::Relaxed),
        }
    }

    pub fn current(&self) -> Option<Arc<Snapshot>> {
        self.current.read().expect("not poisoned").clone()
    }

    /// Call before an update's commit; readers then wait for it to be followed.
    pub fn update_pending(self: &Arc<Self>) -> PendingUpdate {
        self.pending_updates.fetch_add(1, Ordering::AcqRel);
        PendingUpdate(self.clone())
    }

    /// Follows an update made through this handle without reading every row again, when
    /// its commit came right after the current snapshot's version (nothing else between),
    /// and returns the updated row; otherwise `None`, and the next read rebuilds as after
    /// any write.
    pub fn apply_update(&self, id: &str, patch: &Patch, commit: UpdateCommit) -> Option<Summary> {
        let base = self.current()?;
        if base.version + 1 != commit.version {
            return None;
        }
        let next = base.patched(commit.version, id, patch, commit.updated_at).ok()?;
        let row = next.row_of(id).and_then(|r| next.summaries(&[r as u32]).ok()).and_then(|mut rows| rows.pop());
        let mut current = self.current.write().expect("not poisoned");
        if current.as_ref().is_some_and(|c| c.version == base.version) {
            *current = Some(Arc::new(next));
            self.patches.fetch_add(1, Ordering::Relaxed);
        }
        row
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_and_folded_substrings() {
        for (p, v, want) in [
            ("a*", "abc", true),
            ("*c", "abc", true),
            ("a*c", "abc", true),
            ("a*c", "ac", true),
            ("a*b*c", "abc", true),
            ("a*b*c", "acb", false),
            ("*", "", true),
            ("ab", "ab", true),
            ("ab", "abc", false),
            ("a*a", "a", false),
            ("*x*", "a\nxb", true),
            ("é*", "éa", true),
            ("%", "abc", false),
        ] {
            assert_eq!(wildcard_match(p, v), want, "{p:?} on {v:?}");
        }
        assert!(contains_folded("Hello World", "o w"));
        assert!(!contains_folded("Hello", "é"));
        assert!(contains_folded("ÉCOLE", "éc"));
        assert!(contains_folded("abc", ""));
        assert!(!contains_folded("ab", "abc"));
    }

    #[test]
    fn keys_order_values_nulls_last_and_ties_by_id() {
        let asc = |v: Option<u64>, id| pack(v, false, id);
        let desc = |v: Option<u64>, id| pack(v, true, id);
        assert!(asc(Some(float_key(-1.5)), 9) < asc(Some(float_key(0.0)), 1));
        assert!(asc(Some(float_key(0.0)), 1) < asc(Some(float_key(2.0)), 1));
        assert!(desc(Some(float_key(2.0)), 9) < desc(Some(float_key(0.0)), 1));
        assert!(asc(Some(int_key(i64::MAX)), 9) < asc(None, 1) && desc(Some(int_key(i64::MIN)), 9) < desc(None, 1));
        assert!(asc(Some(int_key(-3)), 3) < asc(Some(int_key(-3)), 5));
        assert!(asc(None, 3) < asc(None, 5));
    }
}
