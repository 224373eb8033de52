//! trajstore: a store and explorer for LLM-agent trajectories.
//!
//! [`Trajstore`] is the whole API that the CLI and the HTTP server call: open a store,
//! import, list (filtered, sorted, paged), get, update, delete, export, statistics and
//! optimize. The crates under it each own one concern:
//! `trajstore-model` (types, parsing), `trajstore-ingest` (readers),
//! `trajstore-query` (filters, sort, cursors, cache), `trajstore-store` (Lance),
//! `trajstore-stats` (pass@k and aggregates).

mod arrow_stream;
mod builder;
mod documents;
mod error;
mod export;
mod failure_modes;
mod follow;
mod groups;
mod import;
mod list;
mod model_labels;
mod schema_doc;
pub mod search;
mod snapshot;
mod sql;
mod stats;
mod tools;
mod traces;
mod upload;

use std::sync::Arc;
use std::time::Duration;

use trajstore_query::VersionedCache;
use trajstore_store::Store;

pub use arrow_stream::{summaries_ipc, summary_schema, ARROW_STREAM};
pub use builder::TrajstoreBuilder;
pub use documents::{align_records, slice_steps, AddReport, StepRange, MAX_ALIGNED_TURNS};
pub use error::{BoxError, Error, Result};
pub use upload::{check_import_file, check_labels_dir, spool_upload, PathRefused, SpooledUpload};

/// Process settings for a binary that imports or serves (the CLI and the benchmarks):
/// * Where glibc's allocator is used (the benchmarks; the CLI uses jemalloc, see its
///   `main.rs`): glibc gives each thread that allocates its own arena (up to 8 per
///   core), and memory freed in one is not reused by another. Two arenas held an
///   import's memory lower at the same speed, though it still grew with every batch.
/// * Lance's compute pool gets at least three threads where there are two cores, and the
///   full-text index builders as many, with bounded memory (see
///   [`trajstore_store::configure_lance`]).
///
/// # Safety
/// It sets an environment variable and malloc parameters: call it at the start of
/// `main`, before any other thread exists.
pub unsafe fn configure_process() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: the caller runs this before any other thread exists.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
    }
    // SAFETY: as above.
    unsafe { trajstore_store::configure_lance() };
}
pub use export::{ExportChunk, ExportFormat};
pub use failure_modes::{
    failure_text, FailureCluster, FailureModes, FailureModesProgress, FailureModesRequest, KChoice, MAX_K, TEXT_PARTS,
};
pub use follow::{FollowBatch, FollowPoll, Follower};
pub use groups::{
    DiffRequest, GroupDetail, GroupKeyRequest, GroupMember, GroupRow, GroupsPage, GroupsRequest, KindCounts,
    DEFAULT_GROUP_BY, GROUP_SORTS,
};
pub use import::{ImportErrorEntry, ImportOptions, ImportProgress, ImportReport, ImportedFile, MAX_LISTED_ERRORS};
pub use list::Page;
pub use model_labels::{LabelModel, LLM_API_KEY_ENV};
pub use schema_doc::schema_document;
pub use search::{EmbedProgress, EmbedTextSource, SimilarHit, SimilarResults, TextSearchHit, TextSearchResults};
pub use sql::{SqlAnswer, SqlColumn, SqlRequest, SqlResult, SqlSettings};
pub use stats::{
    group_columns, parse_ks, Curve, CurvePoint, CurveRequest, StatsGroup, StatsReport, StatsRequest, CURVE_FIGURES,
    CURVE_X, MAX_GROUP_BY,
};
pub use tools::{ToolReport, ToolStats, ToolsRequest};
pub use traces::{TraceBuffer, TraceFlush, MAX_HELD_SPANS};
pub use trajstore_formats::otlp;
/// The readers, for callers that want records without storing them.
pub use trajstore_ingest as ingest;
pub use trajstore_ingest::{expand_inputs, Format, FormatChoice, Input, ReadOptions};
pub use trajstore_model::{demo, format_timestamp, Column, Statistic, Summary, Trajectory};
pub use trajstore_query::{
    filter_params, CacheStats, FilterParam, FilterSet, FilterValue, ListRequest, Order, SortField, FILTER_NAMES,
    MAX_PAGE_SIZE,
};
pub use trajstore_stats::align::{AlignedRow, Alignment, RowKind, StepSpan};
pub use trajstore_stats::groups::{Advantage, Bucket, DiffSide, GroupKind, GroupStats, RunDiff, StdKind};
/// The numeric columns statistics summarise (`reward_mean`, ...), for documents.
pub use trajstore_stats::METRICS as STAT_METRICS;
pub use trajstore_stats::{Histogram, MetricSummary, PassAtK, SamplesPerTask, Statistics, SuccessRule, TaskGroups};
pub use trajstore_store::{is_object_store, InsertOutcome, LanceCacheSize, OptimizeReport, Patch, StoreError};

/// What the cache holds: pages, totals and statistics, all keyed by dataset version.
#[derive(Clone)]
pub(crate) enum Cached {
    Page(Arc<Page>),
    Count(u64),
    Stats(Arc<stats::StatsReport>),
    Curve(Arc<stats::Curve>),
    Groups(Arc<GroupsPage>),
}

/// An open store with its query cache. Cheap to clone; clones share the cache.
#[derive(Clone)]
pub struct Trajstore {
    store: Store,
    cache: Arc<VersionedCache<Cached>>,
    /// Small writes (`add`, `update`, `delete`) since the start (see `note_small_write`).
    small_writes: Arc<std::sync::atomic::AtomicU64>,
    optimize_every: u64,
    /// The embedder for similarity search (see `search.rs`).
    embedder: Arc<search::EmbedderSlot>,
    /// The in-memory copy of the summary rows, when enabled (see `snapshot.rs`).
    memory_index: Option<Arc<snapshot::SnapshotSlot>>,
    /// Held while statistics are computed (see `stats.rs`).
    stats_turn: Arc<tokio::sync::Mutex<()>>,
    sql_settings: SqlSettings,
    /// Queries that may run at once (each on a thread of its own); others wait.
    sql_turns: Arc<tokio::sync::Semaphore>,
    /// The language model that may label failure modes, when one is configured.
    label_model: Option<LabelModel>,
}

/// How many fragments (data files) each table has (see [`Trajstore::fragments`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct Fragments {
    pub summaries: u64,
    pub payloads: u64,
}

/// What the in-memory index holds (for `GET /api/health`).
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct MemoryIndexInfo {
    /// The dataset version it was read at.
    pub version: u64,
    pub rows: usize,
    pub bytes: usize,
    /// Full reads of the summary rows since the start, updates through this handle
    /// followed in place, and rebuilds that followed commits adding or removing rows
    /// (adds through this handle from their own rows, the rest as `followed_elsewhere`).
    pub builds: u64,
    pub patches: u64,
    pub appends: u64,
    /// Commits followed by reading only the rows they changed: other processes' adds,
    /// updates and deletes (importers, other servers), and deletes through this handle.
    pub followed_elsewhere: u64,
}

/// Runs CPU-bound work (over the in-memory index, say) off the async workers, so that
/// other requests keep being served meanwhile.
pub(crate) async fn on_blocking_thread<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(work).await.map_err(|e| Error::Internal(e.into()))
}

/// Every this many small writes (`add`, `update`, `delete`), the write also optimizes:
/// each is one commit and a small fragment or deletion file, and thousands of those slow
/// every read until they are compacted (a UI toggling bookmarks makes them quickly).
pub const OPTIMIZE_EVERY_ADDS: u64 = 256;

/// Versions older than this are pruned by `optimize`, so that a reader still on one
/// (another process mid-query) does not lose its files.
pub const KEEP_VERSIONS_FOR: Duration = Duration::from_secs(600);

impl Trajstore {
    /// The settings of the store at `uri` (a directory path, or `s3://...` when built
    /// with the `s3` feature), to [`TrajstoreBuilder::open`].
    pub fn builder(uri: &str) -> TrajstoreBuilder {
        TrajstoreBuilder::new(uri)
    }

    /// Opens (or creates) the store at `uri` with the default settings.
    pub async fn open(uri: &str) -> Result<Self> {
        Self::builder(uri).open().await
    }

    /// Brings the in-memory index up to the current version now, waiting for it; `None`
    /// when it is not enabled, or when a write landed while it was being read.
    pub async fn warm_memory_index(&self) -> Result<Option<MemoryIndexInfo>> {
        let Some(slot) = &self.memory_index else { return Ok(None) };
        Ok(slot.build(&self.store).await?.map(|s| slot.info(&s)))
    }

    /// The in-memory index as it is now (possibly of an older version, which reads skip).
    pub fn memory_index(&self) -> Option<MemoryIndexInfo> {
        let slot = self.memory_index.as_ref()?;
        Some(slot.info(&*slot.current()?))
    }

    /// The in-memory index of `version` if it is ready (starting a build if not).
    async fn snapshot(&self, version: u64) -> Option<Arc<snapshot::Snapshot>> {
        self.memory_index.as_ref()?.get(&self.store, version).await
    }

    /// Every summary row matching `filters`, in storage order (no steps are read).
    pub async fn summaries(&self, filters: &FilterSet) -> Result<Vec<Summary>> {
        use futures::TryStreamExt;
        let mut stream = self.store.scan(filters.to_sql(), trajstore_store::SUMMARY_COLUMNS).await?;
        let mut rows = Vec::new();
        while let Some(batch) = stream.try_next().await? {
            rows.extend(trajstore_store::summaries_from_batch(&batch)?);
        }
        Ok(rows)
    }

    pub fn uri(&self) -> &str {
        self.store.uri()
    }

    /// The dataset version reads are answered at: every committed write changes it. While
    /// adds through this handle are committing, the version before them.
    pub async fn version(&self) -> Result<u64> {
        let latest = self.store.version().await?;
        Ok(match &self.memory_index {
            Some(slot) => slot.visible_version(latest),
            None => latest,
        })
    }

    /// Fragments of the summaries and payloads tables: many means `optimize` is due.
    pub async fn fragments(&self) -> Result<Fragments> {
        let (summaries, payloads) = self.store.fragments().await?;
        Ok(Fragments { summaries, payloads })
    }

    pub fn cache_stats(&self) -> CacheStats {
        self.cache.stats()
    }

    /// One whole trajectory.
    pub async fn get(&self, id: &str) -> Result<Trajectory> {
        if self.memory_index.is_some() {
            // With the current in-memory index, the summary row is at hand: read only the
            // payload (one indexed lookup instead of two).
            if let Some(s) = self.snapshot(self.version().await?).await {
                let Some(row) = s.row_of(id) else {
                    return Err(Error::NotFound { what: format!("trajectory {id:?}") });
                };
                let summary = s.summary_batch(&[row as u32])?;
                if let Some(t) = self.store.get_given_summary(&summary).await? {
                    return Ok(t);
                }
            }
        }
        self.store.get(id).await?.ok_or_else(|| Error::NotFound { what: format!("trajectory {id:?}") })
    }

    /// Adds trajectories given as values (the HTTP `POST` and the library API): each is
    /// validated like an imported record; de-duplicated like every import.
    pub async fn add(&self, trajectories: Vec<Trajectory>) -> Result<InsertOutcome> {
        // With the in-memory index, returns once it holds the rows, so that every read
        // after it sees them; readers meanwhile see the version before (see `version`).
        let in_flight = self.memory_index.as_ref().map(|slot| slot.add_started());
        let (out, appended) =
            self.store.insert_returning(trajectories, trajstore_store::InsertMode::Deduplicate).await?;
        if let (Some(slot), true) = (&self.memory_index, out.inserted > 0) {
            let version = match &appended {
                Some(a) => a.version,
                None => self.store.version().await?,
            };
            // A failed follow is not the add's failure (it is committed): readers then
            // find the version unfollowed and go to Lance until a full read catches up.
            let _ = slot.follow_add(&self.store, version, appended).await;
        }
        drop(in_flight);
        self.note_small_write(true).await?;
        Ok(out)
    }

    /// Counts one small commit; every `optimize_every` of them, optimizes. The
    /// first add of a handle also makes sure the indexes exist.
    async fn note_small_write(&self, is_add: bool) -> Result<()> {
        let calls = self.small_writes.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
        if calls.is_multiple_of(self.optimize_every) {
            self.optimize().await?;
        } else if calls == 1 && is_add {
            self.store.ensure_indexes(false).await?;
        }
        Ok(())
    }

    /// Changes bookmark, tags or notes; returns the new summary row.
    pub async fn update(&self, id: &str, patch: &Patch) -> Result<Summary> {
        if let Some(tags) = &patch.tags {
            if let Some((i, problem)) =
                tags.iter().enumerate().find_map(|(i, tag)| trajstore_model::tag_problem(tag).map(|p| (i, p)))
            {
                return Err(Error::invalid(format!("tags[{i}]"), problem));
            }
        }
        // Readers that see this commit before the in-memory index follows it wait for that
        // (milliseconds) instead of each querying Lance or starting a full re-read.
        let _pending = self.memory_index.as_ref().map(|slot| slot.update_pending());
        let commit = self
            .store
            .update(id, patch)
            .await?
            .ok_or_else(|| Error::NotFound { what: format!("trajectory {id:?}") })?;
        let mut row = None;
        if let Some(slot) = &self.memory_index {
            // Bring the in-memory index along (cheaper than reading every row again).
            let (slot, id, patch) = (slot.clone(), id.to_string(), patch.clone());
            row = on_blocking_thread(move || slot.apply_update(&id, &patch, commit)).await?;
        }
        drop(_pending);
        let row = match row {
            Some(row) => row,
            None => {
                self.store.summary(id).await?.ok_or_else(|| Error::NotFound { what: format!("trajectory {id:?}") })?
            }
        };
        self.note_small_write(false).await?;
        Ok(row)
    }

    pub async fn delete(&self, id: &str) -> Result<()> {
        if self.store.delete(id).await? {
            self.note_small_write(false).await
        } else {
            Err(Error::NotFound { what: format!("trajectory {id:?}") })
        }
    }

    /// Rows the full-text index does not cover yet: imports leave them to
    /// [`Trajstore::fold_indexes`] (or `optimize`), and search scans them until then.
    pub async fn unindexed_text_rows(&self) -> Result<u64> {
        Ok(self.store.unindexed_text_rows().await?)
    }

    /// Folds the rows written since the last fold into every index (building the
    /// missing ones): the part of `optimize` that search speed waits for.
    pub async fn fold_indexes(&self) -> Result<()> {
        self.store.fold_indexes().await?;
        Ok(())
    }

    /// Compacts, indexes, removes unreachable payloads and prunes old versions.
    pub async fn optimize(&self) -> Result<OptimizeReport> {
        let report = self.store.optimize(KEEP_VERSIONS_FOR).await?;
        // A store that grew past the size for a vector index gets one here (embedding
        // creates it too, but the rows may have been embedded while the store was small).
        self.store.ensure_vector_index(trajstore_store::VECTOR_INDEX_MIN_ROWS).await?;
        Ok(report)
    }
}
