//! Keeping the store in shape: the indexes (created when missing, refreshed during long
//! imports), `optimize` (compaction, index updates, orphan payloads, old versions), the
//! migration of stores written by an earlier trajstore, and the sizing of Lance's
//! compute threads. Maintenance steps that race another writer's commit are retried.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::Ordering;
use std::time::Duration;

use futures::TryStreamExt;
use lancedb::index::scalar::{BTreeIndexBuilder, BitmapIndexBuilder, LabelListIndexBuilder};
use lancedb::index::Index;
use lancedb::query::{ExecutableQuery, QueryBase, Select};
use lancedb::table::{CompactionOptions, OptimizeAction, OptimizeOptions};
use lancedb::Table;

use crate::schema::{self, Columns};
use crate::{ids_filter, now_micros, Result, Store, ORPHAN_GRACE, WRITE_ID_PID_BITS};

/// The kinds of scalar index the store keeps, one per indexed column.
#[derive(Clone, Copy)]
enum IndexKind {
    BTree,
    Bitmap,
    LabelList,
    FullText,
}

impl IndexKind {
    /// `terms`: the search text is stored as terms (see `terms.rs`).
    fn builder(self, terms: bool) -> Index {
        match self {
            IndexKind::BTree => Index::BTree(BTreeIndexBuilder::default()),
            IndexKind::Bitmap => Index::Bitmap(BitmapIndexBuilder::default()),
            IndexKind::LabelList => Index::LabelList(LabelListIndexBuilder::default()),
            IndexKind::FullText => Index::FTS(full_text_index(terms)),
        }
    }
}

/// The full-text index's parameters: for text stored as terms, a split at spaces; for
/// the raw text of stores not converted yet, Lance's defaults (lower case, ASCII
/// folding, English stemming and stop words). Built by as many workers as Lance has compute threads
/// (its default is half; see [`configure_lance`] for why that is one more than there
/// are cores on small machines), within a bounded memory (beyond it, Lance writes the
/// index in several partitions, all searched).
fn full_text_index(terms: bool) -> lancedb::index::scalar::FtsIndexBuilder {
    let params = if terms { crate::terms::terms_index_params() } else { Default::default() };
    params.num_workers(lance_compute_threads()).memory_limit_mb(FULL_TEXT_INDEX_MEMORY_MB)
}

/// The memory the full-text index build may use, all workers together. Below Lance's
/// default (2 GB per builder) the index is written in a few partitions, which measured
/// no slower to query and faster to build, at a lower peak (docs/benchmarks.md).
const FULL_TEXT_INDEX_MEMORY_MB: u64 = 768;

#[derive(Debug, Clone, Default)]
pub struct OptimizeReport {
    pub indexes_created: Vec<IndexCreated>,
    pub fragments_removed: u64,
    pub fragments_added: u64,
    pub orphan_payloads_removed: u64,
    pub old_versions_removed: u64,
    /// Payload rows given the search text they lacked (stores written by an earlier
    /// version).
    pub search_texts_filled: u64,
    /// Payload rows given the step and call facts they lacked (the SQL tables `steps`
    /// and `tool_calls`; stores written by an earlier version).
    pub step_facts_filled: u64,
}

/// An index an `optimize` (or import) created, and how long building it took.
#[derive(Debug, Clone, PartialEq)]
pub struct IndexCreated {
    /// `table.column`
    pub name: String,
    pub seconds: f64,
}

/// Brings a store written by an earlier trajstore to the current schema. Each step is a
/// metadata-only commit, and a step another process finished first is not an error.
///
/// * Stores from before a column of the column table: `summaries` gains it, all null.
/// * Stores from before search: `summaries` gains the (null) similarity columns.
/// * Stores whose search text lived in `summaries`: that column (and its index) is
///   dropped there, and `payloads` gains a null search text that `optimize` fills in.
///
/// Each step writes only when it is needed, and only when `gate` lets this process write.
pub(crate) async fn migrate(summaries: &Table, payloads: &Table, gate: &crate::WriteGate) -> Result<()> {
    async fn has(table: &Table, column: &str) -> Result<bool> {
        Ok(table.schema().await?.field_with_name(column).is_ok())
    }
    // A failed step is an error only if the change is still missing afterwards.
    async fn settle<T>(step: lancedb::Result<T>, done: impl std::future::Future<Output = Result<bool>>) -> Result<()> {
        match step {
            Err(e) if !done.await? => Err(e.into()),
            _ => Ok(()),
        }
    }
    // Columns of the column table added since the store was written: all null.
    if let Some(missing) = schema::missing_columns_schema(summaries.schema().await?.as_ref()) {
        gate.check()?;
        add_null_columns(summaries, missing).await?;
    }
    if !has(summaries, schema::EMBED_TEXT).await? {
        gate.check()?;
        add_null_columns(summaries, schema::similarity_columns_schema()).await?;
    } else if !has(summaries, schema::EMBEDDING).await? {
        // A re-embedding that died between dropping the vectors and adding the column.
        let embedding = arrow_schema::Schema::new(vec![schema::embedding_field()]);
        gate.check()?;
        add_null_columns(summaries, std::sync::Arc::new(embedding)).await?;
    }
    if has(summaries, schema::SEARCH_TEXT).await? {
        gate.check()?;
        for index in summaries.list_indices().await? {
            if index.columns.iter().any(|c| c == schema::SEARCH_TEXT) {
                let _ = summaries.drop_index(&index.name).await;
            }
        }
        let dropped = summaries.drop_columns(&[schema::SEARCH_TEXT]).await;
        settle(dropped, async { Ok(!has(summaries, schema::SEARCH_TEXT).await?) }).await?;
    }
    if !has(payloads, schema::SEARCH_TEXT).await? {
        gate.check()?;
        add_null_columns(payloads, schema::search_text_schema()).await?;
    }
    if !has(payloads, crate::facts::STEP_FACTS).await? {
        gate.check()?;
        add_null_columns(payloads, crate::facts::facts_schema()).await?;
    }
    let search_text = payloads.schema().await?.field_with_name(schema::SEARCH_TEXT)?.clone();
    if !search_text.metadata().contains_key(schema::ZSTD_METADATA_KEY) && gate.check().is_ok() {
        // Stores created before their search text kept its compression settings: Lance
        // encoded it with its defaults (FSST, or zstd at level 3), slower to write. Only a
        // speed-up, so a failure is not the open's: a handle that may not write, or that
        // loses to another opener's same commit (an incompatible one to Lance), leaves it
        // to a later open.
        let update = lancedb::table::FieldMetadataUpdate {
            path: schema::SEARCH_TEXT.to_string(),
            metadata: schema::zstd_metadata(schema::SEARCH_TEXT_ZSTD_LEVEL)
                .into_iter()
                .map(|(k, v)| (k, Some(v)))
                .collect(),
            replace: false,
        };
        let _ = payloads.update_field_metadata(std::slice::from_ref(&update)).await;
    }
    Ok(())
}

/// Whether the payloads' search text is stored as terms: its column says so (a new
/// store's table is created marked; see `schema::new_payloads_table_schema`).
pub(crate) async fn search_text_is_terms(payloads: &Table) -> Result<bool> {
    let schema = payloads.schema().await?;
    let format = schema.field_with_name(schema::SEARCH_TEXT)?.metadata().get(crate::terms::SEARCH_TEXT_FORMAT_KEY);
    Ok(format.is_some_and(|f| f == crate::terms::TERMS_FORMAT))
}

async fn mark_search_text_as_terms(payloads: &Table) -> Result<()> {
    let update = lancedb::table::FieldMetadataUpdate {
        path: schema::SEARCH_TEXT.to_string(),
        metadata: HashMap::from([(
            crate::terms::SEARCH_TEXT_FORMAT_KEY.to_string(),
            Some(crate::terms::TERMS_FORMAT.to_string()),
        )]),
        replace: false,
    };
    retry_on_conflict(|| payloads.update_field_metadata(std::slice::from_ref(&update))).await?;
    Ok(())
}

/// Adds the columns of `columns` to `table`, all null. When the commit fails because
/// another process added them first, that is not an error.
pub(crate) async fn add_null_columns(table: &Table, columns: arrow_schema::SchemaRef) -> Result<()> {
    let names: Vec<String> = columns.fields().iter().map(|f| f.name().clone()).collect();
    let added = table.add_columns().transform(lancedb::table::NewColumnTransform::AllNulls(columns)).execute().await;
    if let Err(e) = added {
        let now = table.schema().await?;
        if !names.iter().all(|n| now.field_with_name(n).is_ok()) {
            return Err(e.into());
        }
    }
    Ok(())
}

impl Store {
    /// Creates the indexes that are missing (once the table has rows). A missing
    /// full-text index is built over every row only when `full_text`; otherwise it is
    /// created empty, which costs nothing, and the rows are folded in later
    /// ([`Store::fold_indexes`]). Tokenising every imported text took longer than the
    /// import itself, so imports leave it to `optimize` or to a server's background
    /// step. Full-text search scans the rows no index covers yet with the index's own
    /// tokenizer (stemming, stop words), which only an index can supply: without one,
    /// `zebras` would not find "zebra".
    pub async fn ensure_indexes(&self, full_text: bool) -> Result<Vec<IndexCreated>> {
        self.gate.check()?;
        let mut created = Vec::new();
        if self.summaries.count_rows(None).await? == 0 {
            return Ok(created);
        }
        use IndexKind::{BTree, Bitmap, FullText, LabelList};
        let wanted = [
            (&self.summaries, "trajectory_id", BTree),
            (&self.summaries, "data_id", BTree),
            (&self.summaries, "training_id", BTree),
            (&self.summaries, "created_at", BTree),
            (&self.summaries, "reward", BTree),
            (&self.summaries, "epoch_id", BTree),
            (&self.summaries, "termination_reason", Bitmap),
            (&self.summaries, "agent_name", Bitmap),
            (&self.summaries, "is_bookmarked", Bitmap),
            (&self.summaries, "tags", LabelList),
            (&self.summaries, "metadata_kv", LabelList),
            (&self.payloads, "trajectory_id", BTree),
            // Full-text search (BM25) over the derived search text.
            (&self.payloads, schema::SEARCH_TEXT, FullText),
        ];
        let mut existing: HashMap<String, HashSet<String>> = HashMap::new();
        for table in [&self.summaries, &self.payloads] {
            let cols = table.list_indices().await?.into_iter().flat_map(|i| i.columns).collect();
            existing.insert(table.name().to_string(), cols);
        }
        for (table, column, index) in wanted {
            if existing[table.name()].contains(column) {
                continue;
            }
            let train = !matches!(index, FullText) || full_text;
            let started = std::time::Instant::now();
            let made = retry_on_conflict(|| async move {
                // A conflict means another process indexed the table first: look again.
                let indexed: HashSet<String> =
                    table.list_indices().await?.into_iter().flat_map(|i| i.columns).collect();
                if indexed.contains(column) {
                    return Ok(false);
                }
                let terms = self.search_terms.load(Ordering::Relaxed);
                table.create_index(&[column], index.builder(terms)).train(train).execute().await.map(|()| true)
            })
            .await?;
            if made {
                created.push(IndexCreated {
                    name: format!("{}.{column}", table.name()),
                    seconds: started.elapsed().as_secs_f64(),
                });
            }
        }
        Ok(created)
    }

    /// Folds rows written since the last call into the summaries' id index, so that the
    /// de-duplication of a long import keeps using it instead of scanning. Only that
    /// index: folding the import's text into the full-text index batch after batch cost
    /// more than the import itself; `optimize` folds it once, and until then full-text
    /// search also scans the rows the index does not cover yet (results stay complete).
    pub async fn refresh_summary_indexes(&self) -> Result<()> {
        self.gate.check()?;
        let names: Vec<String> = self
            .summaries
            .list_indices()
            .await?
            .into_iter()
            .filter(|i| i.columns.iter().any(|c| c == "trajectory_id"))
            .map(|i| i.name)
            .collect();
        if names.is_empty() {
            return Ok(());
        }
        optimize_with_retry(&self.summaries, || {
            OptimizeAction::Index(OptimizeOptions::default().index_names(names.clone()))
        })
        .await?;
        Ok(())
    }

    /// Rows of the payloads table that the full-text index does not cover yet (all of
    /// them when there is no such index).
    pub async fn unindexed_text_rows(&self) -> Result<u64> {
        for index in self.payloads.list_indices().await? {
            if index.columns.iter().any(|c| c == schema::SEARCH_TEXT) {
                if let Some(stats) = self.payloads.index_stats(&index.name).await? {
                    return Ok(stats.num_unindexed_rows as u64);
                }
            }
        }
        Ok(self.payloads.count_rows(None).await? as u64)
    }

    /// Creates missing indexes and folds the rows written since into every index,
    /// without compaction or pruning: what an import leaves to be done later.
    pub async fn fold_indexes(&self) -> Result<Vec<IndexCreated>> {
        self.gate.check()?;
        let created = self.ensure_indexes(true).await?;
        for table in [&self.summaries, &self.payloads] {
            optimize_with_retry(table, || OptimizeAction::Index(OptimizeOptions::default())).await?;
        }
        Ok(created)
    }

    /// Compacts small fragments, folds new rows into the indexes, removes payloads that no
    /// summary references, and prunes versions older than `keep_versions_for`.
    pub async fn optimize(&self, keep_versions_for: Duration) -> Result<OptimizeReport> {
        self.gate.check()?;
        // Orphans first: the backfill would derive their text for nothing.
        let orphan_payloads_removed = self.remove_orphan_payloads().await?;
        if !self.search_terms.load(Ordering::Relaxed) {
            self.convert_search_text_to_terms().await?;
        }
        let search_texts_filled = self.fill_missing_search_text().await?;
        let step_facts_filled = self.fill_missing_step_facts().await?;
        let mut report = OptimizeReport {
            step_facts_filled,
            indexes_created: self.ensure_indexes(true).await?,
            search_texts_filled,
            orphan_payloads_removed,
            ..Default::default()
        };
        // Summaries are narrow: merging small fragments is cheap and makes scans faster,
        // but only up to 65,536 rows, because filling embeddings rewrites the embedding
        // column of every fragment it touches: with one fragment of 1M rows, each commit
        // of the fill rewrote 1.5 GB (19 GB of disk for a 1M-row fill). Payloads are
        // bulky and import batches already write large fragments, so only the small ones
        // (single-record writes) are merged; rewriting gigabytes of steps would buy
        // nothing.
        for (table, target_rows) in [(&self.summaries, 1 << 16), (&self.payloads, 1024)] {
            let compact = || OptimizeAction::Compact {
                options: CompactionOptions { target_rows_per_fragment: target_rows, ..Default::default() },
                remap_options: None,
            };
            let stats = optimize_with_retry(table, compact).await?;
            if let Some(c) = stats.compaction {
                report.fragments_removed += c.fragments_removed as u64;
                report.fragments_added += c.fragments_added as u64;
            }
            optimize_with_retry(table, || OptimizeAction::Index(OptimizeOptions::default())).await?;
            let prune = || OptimizeAction::Prune {
                older_than: Some(chrono_duration(keep_versions_for)),
                delete_unverified: Some(false),
                error_if_tagged_old_versions: Some(false),
            };
            let pruned = optimize_with_retry(table, prune).await?;
            if let Some(p) = pruned.prune {
                report.old_versions_removed += p.old_versions;
            }
        }
        Ok(report)
    }

    /// Replaces the raw search text of a store written before terms (and its index) by
    /// an empty column marked as terms, which the caller then fills. Full-text search
    /// finds the older rows again once they are filled. A batch staged before this by
    /// the same process may still land with raw text; its words are then matched as
    /// written, lower-cased words mostly still found.
    async fn convert_search_text_to_terms(&self) -> Result<()> {
        for index in self.payloads.list_indices().await? {
            if index.columns.iter().any(|c| c == schema::SEARCH_TEXT) {
                self.payloads.drop_index(&index.name).await?;
            }
        }
        self.payloads.drop_columns(&[schema::SEARCH_TEXT]).await?;
        add_null_columns(&self.payloads, schema::search_text_schema()).await?;
        mark_search_text_as_terms(&self.payloads).await?;
        self.search_terms.store(true, Ordering::Relaxed);
        self.search_text_complete.store(false, Ordering::Relaxed);
        Ok(())
    }

    /// Payload rows whose (id, write_id) no summary holds: left by an import that died
    /// between its two writes, by the loser of a concurrent import, or by a delete.
    /// Payloads written in the last [`ORPHAN_GRACE`] are kept: they may belong to a batch
    /// whose commit has not happened yet (an import stages a batch's payloads and commits
    /// its summaries seconds later).
    async fn remove_orphan_payloads(&self) -> Result<u64> {
        let recent = ((now_micros() - ORPHAN_GRACE.as_micros() as i64).max(0) as u64) << WRITE_ID_PID_BITS;
        let mut live: HashSet<(String, i64)> = HashSet::new();
        let mut s = self.scan(None, &["trajectory_id", "write_id"]).await?;
        while let Some(b) = s.try_next().await? {
            let c = Columns::new(&b);
            let (ids, wids) = (c.str("trajectory_id")?, c.i64("write_id")?);
            live.extend((0..b.num_rows()).map(|i| (ids.value(i).to_string(), wids.value(i))));
        }
        let mut orphans: HashMap<i64, Vec<String>> = HashMap::new();
        let mut p = self.payloads.query().select(Select::columns(&["trajectory_id", "write_id"])).execute().await?;
        while let Some(b) = p.try_next().await? {
            let c = Columns::new(&b);
            let (ids, wids) = (c.str("trajectory_id")?, c.i64("write_id")?);
            for i in 0..b.num_rows() {
                let key = (ids.value(i).to_string(), wids.value(i));
                if !live.contains(&key) && (key.1 as u64) < recent {
                    orphans.entry(key.1).or_default().push(key.0);
                }
            }
        }
        let mut removed = 0;
        for (write_id, ids) in orphans {
            for chunk in ids.chunks(1000) {
                let pred = format!("write_id = {write_id} AND {}", ids_filter(chunk.iter().map(String::as_str)));
                removed += self.payloads.delete(pred.as_str()).await?.num_deleted_rows;
            }
        }
        Ok(removed)
    }
}

/// Another writer committed first (two imports finishing at once both building an index,
/// compaction beside an import). Maintenance steps are then simply retried.
fn is_commit_conflict(e: &lancedb::Error) -> bool {
    matches!(
        e,
        lancedb::Error::Lance {
            source: lance::Error::RetryableCommitConflict { .. } | lance::Error::CommitConflict { .. }
        }
    )
}

const MAINTENANCE_ATTEMPTS: u32 = 5;

/// Runs a maintenance step, again (with a short back-off) when another writer's commit
/// came first.
pub(crate) async fn retry_on_conflict<T, F, Fut>(mut step: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = lancedb::Result<T>>,
{
    let mut attempt = 0;
    loop {
        match step().await {
            Err(e) if is_commit_conflict(&e) && attempt + 1 < MAINTENANCE_ATTEMPTS => {
                attempt += 1;
                tokio::time::sleep(Duration::from_millis(50 * attempt as u64)).await;
            }
            other => return Ok(other?),
        }
    }
}

pub(crate) async fn optimize_with_retry(
    table: &Table,
    action: impl Fn() -> OptimizeAction,
) -> Result<lancedb::table::OptimizeStats> {
    retry_on_conflict(|| table.optimize(action())).await
}

fn chrono_duration(d: Duration) -> lancedb::table::Duration {
    lancedb::table::Duration::from_std(d).unwrap_or(lancedb::table::Duration::MAX)
}

/// Sizes what Lance uses for compute: its thread pool (page encoding and compression,
/// index builds), the number of full-text index builders, and their memory.
///
/// * Lance holds two cores back for I/O and computes on the rest, at least one: on a
///   2-core machine one thread, so an import compressed its pages on one core while the
///   other idled.
/// * Lance builds a full-text index with one task per builder, fed through a channel, and
///   allows at most as many builders as compute threads. A builder woken by a task on
///   the same runtime thread waits in that thread's next-task slot, which idle threads
///   cannot take (tokio issue 4941): with two builders on two cores the index was built
///   on one core. With one builder more than there are cores, another is always free
///   to run. So small machines get one compute thread
///   more than they have cores (imports are as fast with three as with two), and every
///   index build (also the updates in `optimize`, which take the builder count from
///   `LANCE_FTS_NUM_SHARDS`) uses them all.
/// * The updates in `optimize` do not get the memory limit that creating the index does
///   (see [`full_text_index`]); Lance's default is 2 GB per builder. They get the same
///   limit through `LANCE_FTS_PARTITION_SIZE`.
///
/// Each setting is left alone when its variable is set (threads and builders also when
/// `LANCE_IO_CORE_RESERVATION` is: then Lance's own rules apply).
///
/// # Safety
/// It sets environment variables: call it before any other thread exists.
pub unsafe fn configure_lance() {
    let set = |name: &str| std::env::var_os(name).is_some();
    // SAFETY (all three): the caller guarantees no other thread reads the environment meanwhile.
    if !set("LANCE_CPU_THREADS") && !set("LANCE_IO_CORE_RESERVATION") {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let lance_default = lance_compute_threads();
        let threads = lance_default.max(cores.min(2) + 1);
        if threads != lance_default {
            unsafe { std::env::set_var("LANCE_CPU_THREADS", threads.to_string()) };
        }
        if !set("LANCE_FTS_NUM_SHARDS") {
            unsafe { std::env::set_var("LANCE_FTS_NUM_SHARDS", threads.to_string()) };
        }
    }
    if !set("LANCE_FTS_PARTITION_SIZE") {
        let per_builder = (FULL_TEXT_INDEX_MEMORY_MB / lance_compute_threads() as u64).max(64);
        unsafe { std::env::set_var("LANCE_FTS_PARTITION_SIZE", per_builder.to_string()) };
    }
}

/// Lance's compute threads, by its own rule: `LANCE_CPU_THREADS`, else all cores but the
/// `LANCE_IO_CORE_RESERVATION` (default two) held for I/O, at least one.
fn lance_compute_threads() -> usize {
    let var = |name: &str| std::env::var(name).ok().and_then(|v| v.parse::<usize>().ok());
    var("LANCE_CPU_THREADS").unwrap_or_else(|| {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        cores.saturating_sub(var("LANCE_IO_CORE_RESERVATION").unwrap_or(2)).max(1)
    })
}
