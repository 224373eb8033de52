//! Full-text search over the payloads' search text, and vector search over `summaries`.
//!
//! Where the search data lives, and why:
//! * The text that is embedded (`embed_text`) and the embedding (`embedding`) are
//!   columns of `summaries`: similarity search must apply the query engine's filters (on
//!   summary columns) *before* its top-k, and Lance prefilters only on columns of the
//!   table it searches. Lance is columnar, so lists, counts and statistics, which select
//!   other columns, never read them; filling embeddings later rewrites only the
//!   embedding column (a partial-schema `merge_insert`).
//! * The full-text search text is a column of the append-only `payloads` (it is as
//!   large as the steps: in `summaries`, every import commit and every compaction would
//!   copy it). Its hits are therefore checked against `summaries`: a hit counts only when
//!   its (id, write_id) is the stored summary's (not a payload left by a crashed or
//!   losing import, nor a deleted trajectory's) and that summary passes the filters.
//!   Candidates are drawn best first, as many as the filter's share of the rows
//!   suggests, and more (four times as many each round) until `limit` hits pass or
//!   the matches run out, so no hit that passes the filter is lost.

use std::collections::HashMap;

use arrow_array::builder::{FixedSizeListBuilder, Float32Builder, StringBuilder};
use arrow_array::{Array, Float32Array, RecordBatch, RecordBatchIterator};
use arrow_schema::{DataType, Field, Schema};
use futures::TryStreamExt;
use lance_index::scalar::inverted::query::{FtsQuery, MatchQuery, Operator};
use lance_index::scalar::FullTextSearchQuery;
use lancedb::index::vector::IvfHnswSqIndexBuilder;
use lancedb::index::Index;
use lancedb::query::{ExecutableQuery, QueryBase, Select};
use lancedb::DistanceType;
use trajstore_model::Summary;

use crate::schema::{
    embedding_field, summaries_from_batch, Columns, EMBEDDING, EMBEDDING_DIM, EMBED_TEXT, SEARCH_TEXT, SUMMARY_COLUMNS,
};
use crate::{retry_on_conflict, Result, Store, StoreError};

/// A full-text hit: the summary, its BM25 score and its steps (as JSON text) for
/// finding the step and snippet.
pub struct TextHit {
    pub summary: Summary,
    pub score: f32,
    pub steps_json: String,
}

/// A row waiting for its embedding.
pub struct PendingRow {
    pub trajectory_id: String,
    pub embed_text: String,
}

/// Rows with a vector at or above which similarity search builds a vector index (below
/// it, an exact scan over the filtered rows is fast enough and exact: about 1.2 ms per
/// thousand rows here, so 60 ms at this size).
pub const VECTOR_INDEX_MIN_ROWS: u64 = 50_000;

/// Candidates per result that the index passes on to be re-ranked by exact distance.
const VECTOR_REFINE_FACTOR: u32 = 4;

/// How many candidates the HNSW graph search keeps (Lance's default is 1.5 x the
/// candidates asked for, here 60). Demo prompts repeat, so many vectors are equal, and
/// HNSW finds few of a set of equal points: recall@10 against an exact scan (the
/// `search` benchmark) went from 0.72 to 1.00 at 100k rows and from 0.70 to 0.86 at 1M,
/// for 1 to 2 ms more per query (4.6 -> 5.3 ms, 8.8 -> 10.6 ms).
const HNSW_EF: usize = 1000;

fn and(filter: Option<String>, extra: &str) -> String {
    match filter {
        Some(f) => format!("({f}) AND {extra}"),
        None => extra.to_string(),
    }
}

impl Store {
    /// Up to `limit` trajectories matching every term of `query` (BM25 ranked) among the
    /// rows that match `filter`. `matching_share` is the share of all rows that match
    /// `filter` (1 without one), as known to the caller: it sets how many candidates the
    /// first round draws.
    pub async fn search_text(
        &self,
        query: &str,
        filter: Option<String>,
        limit: usize,
        matching_share: f64,
    ) -> Result<Vec<TextHit>> {
        if limit == 0 || matching_share <= 0.0 {
            return Ok(Vec::new());
        }
        let mut want = (limit as f64 / matching_share.min(1.0) * 1.5).ceil().min(1e9) as usize + 16;
        let mut hits = loop {
            let candidates = self.text_candidates(query, want).await?;
            let exhausted = candidates.len() < want;
            let hits = self.live_hits(candidates, filter.as_deref()).await?;
            if hits.len() >= limit || exhausted {
                break hits;
            }
            want = want.saturating_mul(4);
        };
        hits.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.trajectory_id.cmp(&b.0.trajectory_id)));
        hits.truncate(limit);
        let keys: Vec<(String, i64)> = hits.iter().map(|h| (h.0.trajectory_id.clone(), h.2)).collect();
        let mut payloads = self.payloads_for(&keys).await?;
        Ok(hits
            .into_iter()
            .map(|(summary, score, wid)| {
                let steps_json = payloads
                    .remove(&(summary.trajectory_id.clone(), wid))
                    .map(|p| p.steps)
                    .unwrap_or_else(|| "[]".into());
                TextHit { summary, score, steps_json }
            })
            .collect())
    }

    /// The best `want` payload rows for `query`: (trajectory_id, write_id, BM25 score).
    async fn text_candidates(&self, query: &str, want: usize) -> Result<Vec<(String, i64, f32)>> {
        let query = if self.search_terms.load(std::sync::atomic::Ordering::Relaxed) {
            crate::terms::to_terms(query)
        } else {
            query.to_string()
        };
        if query.trim().is_empty() {
            // Only stop words: nothing is indexed under them.
            return Ok(Vec::new());
        }
        let fts: FtsQuery = MatchQuery::new(query)
            .with_column(Some(SEARCH_TEXT.to_string()))
            .with_fuzziness(Some(0))
            .with_operator(Operator::And)
            .into();
        let q = self
            .payloads
            .query()
            .full_text_search(FullTextSearchQuery::new_query(fts))
            .select(Select::columns(&["trajectory_id", "write_id"]))
            .limit(want);
        let batches: Vec<RecordBatch> = q.execute().await?.try_collect().await?;
        let mut out = Vec::with_capacity(want.min(1 << 16));
        for b in &batches {
            let scores = b
                .column_by_name("_score")
                .and_then(|c| c.as_any().downcast_ref::<Float32Array>())
                .ok_or_else(|| StoreError::Corrupt("full-text results lack _score".into()))?;
            let c = Columns::new(b);
            let (ids, wids) = (c.str("trajectory_id")?, c.i64("write_id")?);
            out.extend((0..b.num_rows()).map(|i| (ids.value(i).to_string(), wids.value(i), scores.value(i))));
        }
        Ok(out)
    }

    /// The candidates whose payload is their trajectory's current one and whose summary
    /// passes `filter`, with that summary: (summary, score, write_id).
    async fn live_hits(
        &self,
        candidates: Vec<(String, i64, f32)>,
        filter: Option<&str>,
    ) -> Result<Vec<(Summary, f32, i64)>> {
        let mut cols: Vec<&str> = SUMMARY_COLUMNS.to_vec();
        cols.push("write_id");
        let mut live: HashMap<String, (Summary, i64)> = HashMap::new();
        for chunk in candidates.chunks(1024) {
            let ids = crate::ids_filter(chunk.iter().map(|c| c.0.as_str()));
            let condition = match filter {
                Some(f) => format!("({f}) AND {ids}"),
                None => ids,
            };
            let batches: Vec<RecordBatch> = self
                .summaries
                .query()
                .only_if(condition)
                .select(Select::columns(&cols))
                .execute()
                .await?
                .try_collect()
                .await?;
            for b in &batches {
                let wids = Columns::new(b).i64("write_id")?;
                for (i, s) in summaries_from_batch(b)?.into_iter().enumerate() {
                    live.insert(s.trajectory_id.clone(), (s, wids.value(i)));
                }
            }
        }
        Ok(candidates
            .into_iter()
            .filter_map(|(id, wid, score)| match live.remove(&id) {
                Some((s, live_wid)) if live_wid == wid => Some((s, score, wid)),
                // An older payload of a trajectory stored again: its current payload may
                // still come later in the candidates.
                Some(other) => {
                    live.insert(id, other);
                    None
                }
                None => None,
            })
            .collect())
    }

    /// Derives the search text of payload rows that have none: rows written before the
    /// text moved to `payloads` (see [`crate::maintenance::migrate`]). Returns how many were filled;
    /// each round of 16,384 rows is one commit that rewrites only that column.
    pub async fn fill_missing_search_text(&self) -> Result<u64> {
        self.gate.check()?;
        // Rows written since the text moved always have it, so once a pass finds none
        // missing, later passes through this handle (the server optimizes often) are
        // skipped.
        self.backfill_payload_column(SEARCH_TEXT, 16_384, &self.search_text_complete, |batches| async move {
            let questions = self.questions_of(&batches).await?;
            let terms = self.search_terms.load(std::sync::atomic::Ordering::Relaxed);
            search_text_batch(&batches, &questions, terms)
        })
        .await
    }

    /// Fills a payload column derived from the steps where it is null, `rows` at a time:
    /// `derive` turns payload rows (`trajectory_id`, `write_id`, `steps`) into their keys
    /// and the column's values, and each round is one commit that rewrites only that
    /// column. Once a pass finds none missing, `complete` is set so that later passes
    /// through this handle skip the search (which reads the whole column). Returns how
    /// many rows were filled.
    pub(crate) async fn backfill_payload_column<F, Fut>(
        &self,
        column: &str,
        rows: usize,
        complete: &std::sync::atomic::AtomicBool,
        mut derive: F,
    ) -> Result<u64>
    where
        // A plain closure returning a future, not an async closure: the future of an
        // async closure borrows the closure, and the compiler cannot then prove the
        // server's spawned tasks that optimize `Send`.
        F: FnMut(Vec<RecordBatch>) -> Fut,
        Fut: std::future::Future<Output = Result<RecordBatch>>,
    {
        use std::sync::atomic::Ordering;
        if complete.load(Ordering::Relaxed) {
            return Ok(0);
        }
        let mut filled = 0;
        loop {
            let batches: Vec<RecordBatch> = self
                .payloads
                .query()
                .only_if(format!("{column} IS NULL"))
                .select(Select::columns(&["trajectory_id", "write_id", "steps"]))
                .limit(rows)
                .execute()
                .await?
                .try_collect()
                .await?;
            if batches.iter().all(|b| b.num_rows() == 0) {
                complete.store(true, Ordering::Relaxed);
                return Ok(filled);
            }
            let batch = derive(batches).await?;
            let updated = update_columns(&self.payloads, &["trajectory_id", "write_id"], batch).await?;
            if updated == 0 {
                // Nothing matched (rows removed meanwhile): do not loop on them.
                return Ok(filled);
            }
            filled += updated;
        }
    }

    /// The questions of the trajectories whose payload rows are in `batches`, by id.
    async fn questions_of(&self, batches: &[RecordBatch]) -> Result<HashMap<String, String>> {
        let mut questions = HashMap::new();
        for b in batches {
            let ids = Columns::new(b).str("trajectory_id")?;
            let filter = crate::ids_filter((0..b.num_rows()).map(|i| ids.value(i)));
            let found: Vec<RecordBatch> = self
                .summaries
                .query()
                .only_if(filter)
                .select(Select::columns(&["trajectory_id", "question"]))
                .execute()
                .await?
                .try_collect()
                .await?;
            for f in &found {
                let c = Columns::new(f);
                let (fid, q) = (c.str("trajectory_id")?, c.str("question")?);
                for i in (0..f.num_rows()).filter(|&i| q.is_valid(i)) {
                    questions.insert(fid.value(i).to_string(), q.value(i).to_string());
                }
            }
        }
        Ok(questions)
    }

    /// The stored embedding of one trajectory: `Ok(None)` when the id is unknown,
    /// `Ok(Some(None))` when it is not embedded yet.
    pub async fn embedding_of(&self, id: &str) -> Result<Option<Option<Vec<f32>>>> {
        let batches: Vec<RecordBatch> = self
            .summaries
            .query()
            .only_if(crate::id_filter(id))
            .select(Select::columns(&[EMBEDDING]))
            .limit(1)
            .execute()
            .await?
            .try_collect()
            .await?;
        let Some(b) = batches.into_iter().find(|b| b.num_rows() > 0) else { return Ok(None) };
        let col = b
            .column(0)
            .as_any()
            .downcast_ref::<arrow_array::FixedSizeListArray>()
            .ok_or_else(|| StoreError::Corrupt("embedding has an unexpected type".into()))?;
        if col.is_null(0) {
            return Ok(Some(None));
        }
        let v = col.value(0);
        let f = v
            .as_any()
            .downcast_ref::<Float32Array>()
            .ok_or_else(|| StoreError::Corrupt("embedding has an unexpected type".into()))?;
        Ok(Some(Some(f.values().to_vec())))
    }

    /// The `k` nearest embedded rows to `vector` (cosine distance) among the rows that
    /// match `filter` (applied before the top-k), nearest first. `some_unembedded` says
    /// that matching rows may lack a vector, which adds that condition to the filter.
    /// `exact` compares the vector with every row instead of using the vector index: the
    /// reference that the index's recall is measured against.
    pub async fn nearest(
        &self,
        vector: &[f32],
        filter: Option<String>,
        k: usize,
        some_unembedded: bool,
        exact: bool,
    ) -> Result<Vec<(Summary, f32)>> {
        if vector.len() != EMBEDDING_DIM as usize {
            return Err(StoreError::Corrupt(format!(
                "a query vector of dimension {} (the store holds {EMBEDDING_DIM})",
                vector.len()
            )));
        }
        let mut q = self.summaries.query().nearest_to(vector)?.column(EMBEDDING).distance_type(DistanceType::Cosine);
        let filter = if some_unembedded { Some(and(filter, &format!("{EMBEDDING} IS NOT NULL"))) } else { filter };
        if let Some(f) = filter {
            q = q.only_if(f);
        }
        let q = q
            .select(Select::columns(SUMMARY_COLUMNS))
            .limit(k)
            // With an IVF index, look in more partitions than the default for good recall.
            .nprobes(32)?
            .refine_factor(VECTOR_REFINE_FACTOR)
            .ef(HNSW_EF.max(k * VECTOR_REFINE_FACTOR as usize));
        let q = if exact { q.bypass_vector_index() } else { q };
        let batches: Vec<RecordBatch> = q.execute().await?.try_collect().await?;
        let mut out = Vec::new();
        for b in &batches {
            let d = b
                .column_by_name("_distance")
                .and_then(|c| c.as_any().downcast_ref::<Float32Array>())
                .ok_or_else(|| StoreError::Corrupt("vector results lack _distance".into()))?;
            for (i, s) in summaries_from_batch(b)?.into_iter().enumerate() {
                // A row written between the caller's count and this search may lack a
                // vector; its distance is then null or NaN.
                if d.is_valid(i) && !d.value(i).is_nan() {
                    out.push((s, d.value(i)));
                }
            }
        }
        out.sort_by(|a, b| a.1.total_cmp(&b.1).then_with(|| a.0.trajectory_id.cmp(&b.0.trajectory_id)));
        Ok(out)
    }

    /// How many rows matching `filter` have no embedding yet.
    pub async fn count_not_embedded(&self, filter: Option<String>) -> Result<u64> {
        Ok(self.summaries.count_rows(Some(and(filter, &format!("{EMBEDDING} IS NULL")))).await? as u64)
    }

    /// Up to `limit` rows that have no embedding yet.
    pub async fn pending_embeddings(&self, limit: usize) -> Result<Vec<PendingRow>> {
        let batches: Vec<RecordBatch> = self
            .summaries
            .query()
            .only_if(format!("{EMBEDDING} IS NULL"))
            .select(Select::columns(&["trajectory_id", EMBED_TEXT, "question"]))
            .limit(limit)
            .execute()
            .await?
            .try_collect()
            .await?;
        let mut out = Vec::new();
        for b in &batches {
            let c = Columns::new(b);
            let (ids, texts, questions) = (c.str("trajectory_id")?, c.str(EMBED_TEXT)?, c.str("question")?);
            for i in 0..b.num_rows() {
                // Rows stored before the search columns existed have no embed_text:
                // their question stands in.
                let text = if texts.is_valid(i) {
                    texts.value(i)
                } else if questions.is_valid(i) {
                    questions.value(i)
                } else {
                    ""
                };
                out.push(PendingRow { trajectory_id: ids.value(i).to_string(), embed_text: text.to_string() });
            }
        }
        Ok(out)
    }

    /// The embedded text of each of `ids` that is stored (the question for rows stored
    /// before the text was kept), by id.
    pub async fn embed_texts_of(&self, ids: &[&str]) -> Result<HashMap<String, String>> {
        let mut out = HashMap::new();
        for chunk in ids.chunks(1000) {
            let batches: Vec<RecordBatch> = self
                .summaries
                .query()
                .only_if(crate::ids_filter(chunk.iter().copied()))
                .select(Select::columns(&["trajectory_id", EMBED_TEXT, "question"]))
                .execute()
                .await?
                .try_collect()
                .await?;
            for b in &batches {
                let c = Columns::new(b);
                let (ids, texts, questions) = (c.str("trajectory_id")?, c.str(EMBED_TEXT)?, c.str("question")?);
                for i in 0..b.num_rows() {
                    let text = if texts.is_valid(i) { texts.value(i) } else { questions.value(i) };
                    out.insert(ids.value(i).to_string(), text.to_string());
                }
            }
        }
        Ok(out)
    }

    /// Stores embeddings by trajectory id in one commit, rewriting only the embedding
    /// column. Ids deleted meanwhile are ignored.
    pub async fn set_embeddings(&self, rows: &[(String, Vec<f32>)]) -> Result<u64> {
        self.gate.check()?;
        if rows.is_empty() {
            return Ok(0);
        }
        let mut ids = StringBuilder::new();
        let mut vecs = FixedSizeListBuilder::with_capacity(
            Float32Builder::with_capacity(rows.len() * EMBEDDING_DIM as usize),
            EMBEDDING_DIM,
            rows.len(),
        )
        .with_field(std::sync::Arc::new(Field::new("item", DataType::Float32, true)));
        for (id, v) in rows {
            if v.len() != EMBEDDING_DIM as usize {
                return Err(StoreError::Corrupt(format!(
                    "an embedding of dimension {} (the store holds {EMBEDDING_DIM})",
                    v.len()
                )));
            }
            ids.append_value(id);
            vecs.values().append_slice(v);
            vecs.append(true);
        }
        let id_field = crate::schema::summaries_schema().field_with_name("trajectory_id")?.clone();
        let schema = std::sync::Arc::new(Schema::new(vec![id_field, embedding_field()]));
        let batch =
            RecordBatch::try_new(schema, vec![std::sync::Arc::new(ids.finish()), std::sync::Arc::new(vecs.finish())])?;
        update_columns(&self.summaries, &["trajectory_id"], batch).await
    }

    /// Creates the vector index once at least `min_rows` rows are embedded (IVF with
    /// HNSW over scalar-quantised vectors); returns whether one was made. Later rows are
    /// folded in by `optimize` and searched exactly until then.
    pub async fn ensure_vector_index(&self, min_rows: u64) -> Result<bool> {
        self.gate.check()?;
        let indexed =
            self.summaries.list_indices().await?.into_iter().any(|i| i.columns.iter().any(|c| c == EMBEDDING));
        if indexed {
            return Ok(false);
        }
        let embedded = self.summaries.count_rows(Some(format!("{EMBEDDING} IS NOT NULL"))).await? as u64;
        if embedded < min_rows {
            return Ok(false);
        }
        retry_on_conflict(|| async {
            self.summaries
                .create_index(
                    &[EMBEDDING],
                    Index::IvfHnswSq(IvfHnswSqIndexBuilder::default().distance_type(DistanceType::Cosine)),
                )
                .execute()
                .await
        })
        .await?;
        Ok(true)
    }

    /// Groups rows by text so that each distinct text is embedded once.
    pub fn distinct_texts(rows: &[PendingRow]) -> (Vec<&str>, Vec<usize>) {
        let mut index: HashMap<&str, usize> = HashMap::new();
        let mut texts = Vec::new();
        let slot = rows
            .iter()
            .map(|r| {
                *index.entry(r.embed_text.as_str()).or_insert_with(|| {
                    texts.push(r.embed_text.as_str());
                    texts.len() - 1
                })
            })
            .collect();
        (texts, slot)
    }
}

/// Sets the columns of `batch` in the rows of `table` whose `keys` match, in one commit
/// that rewrites only those columns (a partial-schema `merge_insert`); returns how many
/// rows were updated.
pub(crate) async fn update_columns(table: &lancedb::Table, keys: &[&str], batch: RecordBatch) -> Result<u64> {
    let schema = batch.schema();
    let updated = retry_on_conflict(|| {
        let reader = RecordBatchIterator::new(vec![Ok(batch.clone())], schema.clone());
        let mut merge = table.merge_insert(keys);
        merge.when_matched_update_all(None);
        async move { merge.execute(Box::new(reader)).await }
    })
    .await?;
    Ok(updated.num_updated_rows)
}

/// The key columns and the derived search text of payload rows (`trajectory_id`,
/// `write_id`, `steps`), for an update of that one column.
fn search_text_batch(batches: &[RecordBatch], questions: &HashMap<String, String>, terms: bool) -> Result<RecordBatch> {
    let mut ids = StringBuilder::new();
    let mut wids = arrow_array::builder::Int64Builder::new();
    let mut texts = arrow_array::builder::LargeStringBuilder::new();
    for b in batches {
        let c = Columns::new(b);
        let (id, wid, steps) = (c.str("trajectory_id")?, c.i64("write_id")?, c.large_str("steps")?);
        for i in 0..b.num_rows() {
            ids.append_value(id.value(i));
            wids.append_value(wid.value(i));
            let text =
                trajstore_model::text::search_text_of(questions.get(id.value(i)).map(String::as_str), steps.value(i));
            texts.append_value(if terms { crate::terms::to_terms(&text) } else { text });
        }
    }
    let full = crate::schema::payloads_schema();
    let schema = std::sync::Arc::new(Schema::new(vec![
        full.field_with_name("trajectory_id")?.clone(),
        full.field_with_name("write_id")?.clone(),
        full.field_with_name(SEARCH_TEXT)?.clone(),
    ]));
    Ok(RecordBatch::try_new(
        schema,
        vec![
            std::sync::Arc::new(ids.finish()),
            std::sync::Arc::new(wids.finish()),
            std::sync::Arc::new(texts.finish()),
        ],
    )?)
}
