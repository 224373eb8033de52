//! trajstore's storage: two Lance tables behind a small async API.
//!
//! This is the only crate that uses `lancedb`. It takes filters as SQL predicates already
//! rendered (and escaped) by `trajstore-query`, and sort columns from its fixed list.
//!
//! Guarantees:
//! * De-duplication by `trajectory_id` is done by Lance itself (`merge_insert` keyed on the
//!   id, insert-if-absent): two imports running at once cannot store a record twice.
//! * A write is one Lance commit of the `summaries` table; payloads are written before
//!   and only become reachable through that commit. After a crash the store opens at its
//!   last committed version with whole records only.
//! * Updates of bookmark, tags and notes rewrite only the narrow summary row, never steps.
//! * Every read re-checks the latest version (`read_consistency_interval(0)`), so writes
//!   by other processes are seen at once, unless the store is opened with a longer
//!   interval (servers on object storage, where each check is a request).
//! * On `s3://`, nothing is written until the store has shown that it refuses a second
//!   conditional put of one key (see `object_storage.rs`).

mod analyses;
mod changes;
mod embedding_model;
mod facts;
mod maintenance;
mod object_storage;
mod schema;
mod search;
mod sql;
mod stream;
mod terms;
mod tool_usage;
mod write;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use arrow_array::RecordBatch;
use futures::TryStreamExt;
use lancedb::query::{ColumnOrdering, ExecutableQuery, QueryBase, Select};
use lancedb::{Connection, Table};
use trajstore_model::{Summary, Trajectory};
use trajstore_query::sql::{int_condition, string_literal};

pub use analyses::{AnalysisRecord, FailureInput};
pub use changes::SummaryChanges;
pub use embedding_model::{EMBEDDING_MODEL_KEY, LEGACY_EMBEDDING_MODEL};
pub use maintenance::{configure_lance, IndexCreated, OptimizeReport};
use maintenance::{migrate, retry_on_conflict};
pub use schema::{
    arrow_type, column_array, keyed_summary_schema, summaries_from_batch, Columns, EMBEDDING_DIM, SUMMARY_COLUMNS,
    WRITE_ID,
};
use schema::{summaries_schema, PAYLOADS, SUMMARIES};
pub use search::{PendingRow, TextHit, VECTOR_INDEX_MIN_ROWS};
pub use sql::{SqlError, SqlLimits, SqlOutput};
pub use terms::{SEARCH_TEXT_FORMAT_KEY, TERMS_FORMAT};
pub use tool_usage::{ToolUsage, ToolUsageRow};
use write::WRITE_ID_PID_BITS;
pub use write::{Appended, InsertMode, InsertOutcome, Patch, StagedBatch, UpdateCommit};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("storage error: {0}")]
    Lance(#[from] lancedb::Error),
    #[error("arrow error: {0}")]
    Arrow(#[from] arrow_schema::ArrowError),
    #[error("the store holds data it cannot read: {0}")]
    Corrupt(String),
    #[error("the store location {0}")]
    Location(String),
    /// This process may not write to the store (see `object_storage.rs`).
    #[error("writes refused: {0}")]
    WritesRefused(String),
    /// A SQL query that may not or cannot run (see `sql.rs`).
    #[error(transparent)]
    Sql(#[from] SqlError),
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Whether `uri` names a store on object storage (`s3://`, ...) rather than a directory.
pub fn is_object_store(uri: &str) -> bool {
    object_storage::kind(uri) != object_storage::Kind::Local
}

/// Settings of [`Store::open_with`].
#[derive(Debug, Clone, Default)]
pub struct OpenOptions {
    /// The budgets of Lance's caches; `None` keeps Lance's defaults (6 GiB of index
    /// pages, 1 GiB of file metadata), which suit a long-lived reader.
    pub lance_cache: Option<LanceCacheSize>,
    /// Options of the object store (`aws_endpoint`, `aws_region`, ...), on top of the
    /// standard environment variables (`AWS_ENDPOINT_URL`, `AWS_REGION`, ...).
    pub storage_options: Vec<(String, String)>,
    /// How old a read's view of the latest version may be: `None` looks at every read,
    /// which costs a request per read on object storage. Only for handles that mostly
    /// read (a server): a write on a stale view conflicts with the commits it has not
    /// seen and is retried.
    pub read_consistency: Option<Duration>,
    /// Skip the check that an `s3://` store honours conditional writes: only when no
    /// other process writes to the store.
    pub single_writer: bool,
}

/// Whether this process may write to the store: a refusal found at open is returned by
/// every write instead of committing.
#[derive(Clone, Default)]
pub(crate) struct WriteGate {
    refused: Option<Arc<str>>,
}

impl WriteGate {
    pub(crate) fn check(&self) -> Result<()> {
        match &self.refused {
            Some(why) => Err(StoreError::WritesRefused(why.to_string())),
            None => Ok(()),
        }
    }
}

/// The budgets of Lance's caches of one opened store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LanceCacheSize {
    pub index_bytes: usize,
    pub metadata_bytes: usize,
}

impl LanceCacheSize {
    /// For a process that writes and reads little back, such as an import: every commit
    /// and every refresh of the id index caches the metadata and index pages of a new
    /// version, which the defaults keep until they reach gigabytes.
    pub const WRITER: LanceCacheSize = LanceCacheSize { index_bytes: 64 << 20, metadata_bytes: 64 << 20 };
}

/// Where a store lives: a local directory or an object-store URI (`s3://bucket/path`).
#[derive(Clone)]
pub struct Store {
    uri: String,
    conn: Connection,
    summaries: Table,
    payloads: Table,
    /// Set once `optimize` found no payload lacking its search text.
    search_text_complete: Arc<AtomicBool>,
    step_facts_complete: Arc<AtomicBool>,
    /// The search text is stored as terms (`terms.rs`); unset for stores written before,
    /// until `optimize` converts them.
    search_terms: Arc<AtomicBool>,
    /// Commits of summary rows through this handle (and its clones) go one at a time.
    /// Lance would also detect a race on one id and retry the loser, but a retry waits
    /// and re-runs the merge: 20 parallel single-record adds took seconds.
    commit_lock: Arc<tokio::sync::Mutex<()>>,
    gate: WriteGate,
}

/// How long a process waits for the tables that another one claimed to create, before
/// it creates what is missing itself (the claimant may have died).
const TABLE_CREATION_WAIT: Duration = Duration::from_secs(30);

/// Both tables, created when missing by one process only (see
/// `object_storage::claim_table_creation`); the others wait for them.
async fn open_tables(
    conn: &Connection,
    uri: &str,
    options: &HashMap<String, String>,
    gate: &WriteGate,
) -> Result<(Table, Table)> {
    let open_both = || async {
        match (conn.open_table(SUMMARIES).execute().await, conn.open_table(PAYLOADS).execute().await) {
            (Ok(s), Ok(p)) => Some((s, p)),
            _ => None,
        }
    };
    if let Some(tables) = open_both().await {
        return Ok(tables);
    }
    gate.check()?;
    if !object_storage::claim_table_creation(uri, options).await {
        let deadline = tokio::time::Instant::now() + TABLE_CREATION_WAIT;
        while tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(100)).await;
            if let Some(tables) = open_both().await {
                return Ok(tables);
            }
        }
    }
    let summaries = open_or_create(conn, SUMMARIES, summaries_schema(), gate).await?;
    let payloads = open_or_create(conn, PAYLOADS, schema::new_payloads_table_schema(), gate).await?;
    Ok((summaries, payloads))
}

pub(crate) async fn open_or_create(
    conn: &Connection,
    name: &str,
    schema: arrow_schema::SchemaRef,
    gate: &WriteGate,
) -> Result<Table> {
    match conn.open_table(name).execute().await {
        Ok(t) => Ok(t),
        Err(lancedb::Error::TableNotFound { .. }) => match gate.check() {
            Err(e) => Err(e),
            Ok(()) => match conn.create_empty_table(name, schema).execute().await {
                Ok(t) => Ok(t),
                // Another process created it between our two calls (on object storage the
                // loser's commit fails as a conflict instead).
                Err(lancedb::Error::TableAlreadyExists { .. }) => Ok(conn.open_table(name).execute().await?),
                Err(e) => conn.open_table(name).execute().await.map_err(|_| e.into()),
            },
        },
        Err(e) => Err(e.into()),
    }
}

fn id_filter(id: &str) -> String {
    format!("trajectory_id = {}", string_literal(id))
}

fn ids_filter<'a>(ids: impl Iterator<Item = &'a str>) -> String {
    format!("trajectory_id IN ({})", ids.map(string_literal).collect::<Vec<_>>().join(","))
}

/// A local path made absolute, a URI (`s3://...`) as it is: lancedb reads any location
/// that starts with "db" as a LanceDB Cloud address, so `--db db` failed.
fn connection_uri(uri: &str) -> Result<String> {
    if uri.contains("://") {
        return Ok(uri.to_string());
    }
    let path = std::path::absolute(uri).map_err(|e| StoreError::Location(format!("{uri:?}: {e}")))?;
    path.to_str().map(str::to_string).ok_or_else(|| StoreError::Location(format!("{uri:?} is not valid UTF-8")))
}

fn now_micros() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_micros() as i64).unwrap_or(0)
}

impl Store {
    /// Opens the store at `uri`, creating its tables if they do not exist yet.
    pub async fn open(uri: &str) -> Result<Self> {
        Self::open_with(uri, &OpenOptions::default()).await
    }

    /// [`Store::open`] with settings other than the defaults.
    pub async fn open_with(uri: &str, options: &OpenOptions) -> Result<Self> {
        let storage_options = object_storage::storage_options(&options.storage_options);
        let kind = object_storage::kind(uri);
        let consistency = options.read_consistency.unwrap_or(Duration::ZERO);
        let mut connect = lancedb::connect(&connection_uri(uri)?)
            .read_consistency_interval(consistency)
            .storage_options(storage_options.clone());
        if let Some(cache) = options.lance_cache {
            connect = connect.session(Arc::new(lance::session::Session::new(
                cache.index_bytes,
                cache.metadata_bytes,
                Arc::default(),
            )));
        }
        let gate = match kind {
            object_storage::Kind::S3 if !options.single_writer => {
                WriteGate { refused: object_storage::write_refusal(uri, &storage_options).await.map(Arc::from) }
            }
            _ => WriteGate::default(),
        };
        let conn = connect.execute().await?;
        let (summaries, payloads) = open_tables(&conn, &connection_uri(uri)?, &storage_options, &gate).await?;
        migrate(&summaries, &payloads, &gate).await?;
        let search_terms = maintenance::search_text_is_terms(&payloads).await?;
        Ok(Store {
            uri: uri.to_string(),
            conn,
            summaries,
            payloads,
            search_text_complete: Arc::new(AtomicBool::new(false)),
            step_facts_complete: Arc::new(AtomicBool::new(false)),
            search_terms: Arc::new(AtomicBool::new(search_terms)),
            commit_lock: Arc::default(),
            gate,
        })
    }

    pub fn uri(&self) -> &str {
        &self.uri
    }

    /// The dataset version: it changes with every committed write, from any process.
    pub async fn version(&self) -> Result<u64> {
        Ok(self.summaries.version().await?)
    }

    /// Whether the commit that made `version` of the summaries table left every row as it
    /// was (compaction, index builds): a copy of the rows at `version - 1` is then one of
    /// `version` too. `false` when it changed rows or when that cannot be told.
    pub async fn summaries_unchanged_at(&self, version: u64) -> Result<bool> {
        use lance::dataset::transaction::Operation;
        let Some(dataset) = self.summaries.dataset() else { return Ok(false) };
        let dataset = dataset.get().await?;
        let Ok(Some(transaction)) = dataset.read_transaction_by_version(version).await else { return Ok(false) };
        Ok(matches!(
            transaction.operation,
            Operation::Rewrite { .. }
                | Operation::CreateIndex { .. }
                | Operation::ReserveFragments { .. }
                | Operation::UpdateConfig { .. }
        ))
    }

    /// Fragments (data files) of the summaries and payloads tables in the current version.
    pub async fn fragments(&self) -> Result<(u64, u64)> {
        let s = self.summaries.stats().await?;
        let p = self.payloads.stats().await?;
        Ok((s.fragment_stats.num_fragments as u64, p.fragment_stats.num_fragments as u64))
    }

    /// Which of `ids` are stored.
    pub async fn existing_ids(&self, ids: &[&str]) -> Result<HashSet<String>> {
        let mut found = HashSet::new();
        for chunk in ids.chunks(4096) {
            let batches: Vec<RecordBatch> = self
                .summaries
                .query()
                .only_if(ids_filter(chunk.iter().copied()))
                .select(Select::columns(&["trajectory_id"]))
                .execute()
                .await?
                .try_collect()
                .await?;
            for b in &batches {
                let col = Columns::new(b).str("trajectory_id")?;
                found.extend((0..b.num_rows()).map(|i| col.value(i).to_string()));
            }
        }
        Ok(found)
    }

    /// One full trajectory, or `None`.
    pub async fn get(&self, id: &str) -> Result<Option<Trajectory>> {
        let mut cols: Vec<&str> = SUMMARY_COLUMNS.to_vec();
        cols.push("write_id");
        // The summary row and every payload stored under the id, read at the same time
        // (rather than the payload after learning its write_id: one round trip, not two).
        let summary = async {
            let batches: Vec<RecordBatch> = self
                .summaries
                .query()
                .only_if(id_filter(id))
                .select(Select::columns(&cols))
                .limit(1)
                .execute()
                .await?
                .try_collect()
                .await?;
            Ok::<_, StoreError>(batches)
        };
        let just_this = [id];
        let (batches, mut payloads) = futures::try_join!(summary, self.payload_rows(&just_this, |_| true))?;
        let Some(batch) = batches.into_iter().find(|b| b.num_rows() > 0) else { return Ok(None) };
        let write_id = Columns::new(&batch).i64("write_id")?.value(0);
        let payload = payloads
            .remove(&(id.to_string(), write_id))
            .ok_or_else(|| StoreError::Corrupt(format!("the steps of {id} are missing")))?;
        Ok(Some(assemble(&batch, 0, payload)?))
    }

    /// The whole trajectory of a summary row the caller already has (one row holding
    /// [`SUMMARY_COLUMNS`] and `write_id`, e.g. from an in-memory copy of the current
    /// version): only its payload is read. `None` when that payload is gone (the row was
    /// replaced or deleted since).
    pub async fn get_given_summary(&self, summary: &RecordBatch) -> Result<Option<Trajectory>> {
        let c = Columns::new(summary);
        let key = (c.str("trajectory_id")?.value(0).to_string(), c.i64("write_id")?.value(0));
        let mut payloads = self.payload_rows(&[key.0.as_str()], |k| *k == key).await?;
        match payloads.remove(&key) {
            Some(payload) => Ok(Some(assemble(summary, 0, payload)?)),
            None => Ok(None),
        }
    }

    /// Payloads (task, steps, extra) by (trajectory_id, write_id).
    async fn payloads_for(&self, keys: &[(String, i64)]) -> Result<HashMap<(String, i64), Payload>> {
        if keys.is_empty() {
            return Ok(HashMap::new());
        }
        let wanted: HashSet<&(String, i64)> = keys.iter().collect();
        let ids: Vec<&str> = keys.iter().map(|(id, _)| id.as_str()).collect();
        self.payload_rows(&ids, |key| wanted.contains(key)).await
    }

    /// The payloads stored under `ids` whose (id, write_id) passes `keep`.
    async fn payload_rows(
        &self,
        ids: &[&str],
        keep: impl Fn(&(String, i64)) -> bool,
    ) -> Result<HashMap<(String, i64), Payload>> {
        let mut out = HashMap::with_capacity(ids.len());
        let filter = ids_filter(ids.iter().copied());
        let cols = ["trajectory_id", "write_id", "task", "steps", "extra"];
        let mut stream = self.payloads.query().only_if(filter).select(Select::columns(&cols)).execute().await?;
        while let Some(b) = stream.try_next().await? {
            let c = Columns::new(&b);
            let (id, wid, task, steps, extra) = (
                c.str("trajectory_id")?,
                c.i64("write_id")?,
                c.large_str("task")?,
                c.large_str("steps")?,
                c.large_str("extra")?,
            );
            for i in 0..b.num_rows() {
                let key = (id.value(i).to_string(), wid.value(i));
                if keep(&key) {
                    let payload = Payload {
                        task: arrow_array::Array::is_valid(task, i).then(|| task.value(i).to_string()),
                        steps: steps.value(i).to_string(),
                        extra: arrow_array::Array::is_valid(extra, i).then(|| extra.value(i).to_string()),
                    };
                    out.insert(key, payload);
                }
            }
        }
        Ok(out)
    }

    /// One page of summary rows in a total order: `sort` (nulls last), then id ascending.
    pub async fn list(
        &self,
        filter: Option<String>,
        sort: &str,
        descending: bool,
        offset: u64,
        limit: u64,
    ) -> Result<Vec<Summary>> {
        // Two steps, because Lance sorts whole rows: ordering the full projection of a
        // large table would decode every column of every matching row. First the page's
        // ids, sorting only the sort column and the id; then those rows, by the id index.
        // Without a filter every row matches, so narrow first to the rows at or before
        // the page's last sort value, found by sorting that one column (an index range
        // then holds the page whatever the ties).
        let filter = match filter {
            Some(f) => Some(f),
            None => self.page_boundary(sort, descending, offset + limit).await?,
        };
        let sort_col = sort.to_string();
        let mut ordering = vec![if descending {
            ColumnOrdering::desc_nulls_last(sort_col)
        } else {
            ColumnOrdering::asc_nulls_last(sort_col)
        }];
        let mut columns = vec![sort];
        if sort != "trajectory_id" {
            ordering.push(ColumnOrdering::asc_nulls_last("trajectory_id".to_string()));
            columns.push("trajectory_id");
        }
        let mut q =
            self.summaries.query().select(Select::columns(&columns)).order_by(Some(ordering)).limit(limit as usize);
        if offset > 0 {
            q = q.offset(offset as usize);
        }
        if let Some(f) = filter {
            q = q.only_if(f);
        }
        let batches: Vec<RecordBatch> = q.execute().await?.try_collect().await?;
        let mut ids: Vec<String> = Vec::with_capacity(limit as usize);
        for b in &batches {
            let c = Columns::new(b);
            let col = c.str("trajectory_id")?;
            ids.extend((0..b.num_rows()).map(|i| col.value(i).to_string()));
        }
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let in_list = ids.iter().map(|id| string_literal(id)).collect::<Vec<_>>().join(", ");
        let batches: Vec<RecordBatch> = self
            .summaries
            .query()
            .select(Select::columns(SUMMARY_COLUMNS))
            .only_if(format!("trajectory_id IN ({in_list})"))
            .execute()
            .await?
            .try_collect()
            .await?;
        let mut by_id: HashMap<String, Summary> = HashMap::with_capacity(ids.len());
        for b in &batches {
            for row in summaries_from_batch(b)? {
                by_id.insert(row.trajectory_id.clone(), row);
            }
        }
        // A row deleted between the two steps is left out rather than shown stale.
        Ok(ids.iter().filter_map(|id| by_id.remove(id)).collect())
    }

    /// `sort >= V` (`<= V` ascending), V being the sort value of row number `window` of
    /// the whole table in sort order; `None` when there is no such row or V is null.
    async fn page_boundary(&self, sort: &str, descending: bool, window: u64) -> Result<Option<String>> {
        const MAX_WINDOW: u64 = 100_000;
        if window == 0 || window > MAX_WINDOW || sort == "trajectory_id" {
            return Ok(None);
        }
        let first = if descending {
            ColumnOrdering::desc_nulls_last(sort.to_string())
        } else {
            ColumnOrdering::asc_nulls_last(sort.to_string())
        };
        let q =
            self.summaries.query().select(Select::columns(&[sort])).order_by(Some(vec![first])).limit(window as usize);
        let batches: Vec<RecordBatch> = q.execute().await?.try_collect().await?;
        let rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
        let Some(last) = batches.iter().rev().find(|b| b.num_rows() > 0) else { return Ok(None) };
        if (rows as u64) < window {
            return Ok(None);
        }
        Ok(bound_condition(
            &format!("`{sort}`"),
            if descending { ">=" } else { "<=" },
            last.column(0).as_ref(),
            last.num_rows() - 1,
        ))
    }

    /// The exact number of rows that match.
    pub async fn count(&self, filter: Option<String>) -> Result<u64> {
        Ok(self.summaries.count_rows(filter).await? as u64)
    }

    /// The named summary columns of every matching row, streamed in batches (for
    /// statistics and exports; never reads steps).
    pub async fn scan(
        &self,
        filter: Option<String>,
        columns: &[&str],
    ) -> Result<impl futures::Stream<Item = Result<RecordBatch>>> {
        let mut q = self.summaries.query().select(Select::columns(columns));
        if let Some(f) = filter {
            q = q.only_if(f);
        }
        Ok(q.execute().await?.map_err(StoreError::from))
    }

    /// The summary row of one trajectory.
    pub async fn summary(&self, id: &str) -> Result<Option<Summary>> {
        Ok(self.list(Some(id_filter(id)), "trajectory_id", false, 0, 1).await?.into_iter().next())
    }
}

/// How old an unreferenced payload must be before `optimize` removes it.
pub const ORPHAN_GRACE: Duration = Duration::from_secs(600);

struct Payload {
    task: Option<String>,
    steps: String,
    extra: Option<String>,
}

/// A whole trajectory from row `i` of a summary batch and its payload.
fn assemble(batch: &RecordBatch, i: usize, payload: Payload) -> Result<Trajectory> {
    let mut t = Trajectory {
        task_json: payload.task,
        steps_json: payload.steps,
        extra_json: payload.extra,
        ..Default::default()
    };
    schema::set_summary_fields(&mut t, batch, i)?;
    Ok(t)
}

/// The condition `name op value`, value being row `i` of `column` as a SQL literal
/// (strings escaped); `None` for a null, a non-finite float or a type that never appears
/// among the sort columns.
fn bound_condition(name: &str, op: &str, column: &dyn arrow_array::Array, i: usize) -> Option<String> {
    use arrow_array::cast::AsArray;
    use arrow_array::types::{Float64Type, Int64Type};
    use arrow_schema::DataType;
    if column.is_null(i) {
        return None;
    }
    match column.data_type() {
        DataType::Int64 => return Some(int_condition(name, op, column.as_primitive::<Int64Type>().value(i))),
        // Rust prints the shortest text that parses back to the same f64.
        DataType::Float64 => {
            Some(column.as_primitive::<Float64Type>().value(i)).filter(|v| v.is_finite()).map(|v| format!("{v:?}"))
        }
        DataType::Boolean => Some(column.as_boolean().value(i).to_string()),
        DataType::Utf8 => Some(string_literal(column.as_string::<i32>().value(i))),
        DataType::LargeUtf8 => Some(string_literal(column.as_string::<i64>().value(i))),
        _ => None,
    }
    .map(|v| format!("{name} {op} {v}"))
}
