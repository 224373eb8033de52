//! Opening a store: [`Trajstore::builder`] with the settings a process wants, then
//! [`TrajstoreBuilder::open`].

use std::sync::Arc;
use std::time::Duration;

use trajstore_query::VersionedCache;
use trajstore_store::{LanceCacheSize, OpenOptions, Store};

use crate::{LabelModel, Result, SqlSettings, Trajstore, OPTIMIZE_EVERY_ADDS};

/// The settings of a store about to be opened (see [`Trajstore::builder`]).
#[derive(Debug, Clone)]
#[must_use = "a builder does nothing until `open` is called"]
pub struct TrajstoreBuilder {
    uri: String,
    cache_entries: usize,
    cache_bytes: usize,
    memory_index: bool,
    optimize_every: u64,
    lance_cache: Option<LanceCacheSize>,
    storage_options: Vec<(String, String)>,
    read_consistency: Option<Duration>,
    single_writer: bool,
    sql: SqlSettings,
    label_model: Option<LabelModel>,
}

impl TrajstoreBuilder {
    pub(crate) fn new(uri: &str) -> Self {
        TrajstoreBuilder {
            uri: uri.to_string(),
            cache_entries: 4096,
            cache_bytes: 256 << 20,
            memory_index: false,
            optimize_every: OPTIMIZE_EVERY_ADDS,
            lance_cache: None,
            storage_options: Vec::new(),
            read_consistency: None,
            single_writer: false,
            sql: SqlSettings::default(),
            label_model: None,
        }
    }

    /// A cache of at most `entries` results and `bytes` bytes (default 4096 and 256 MiB;
    /// 0 disables it, which the benchmarks use to time uncached queries).
    pub fn cache(mut self, entries: usize, bytes: usize) -> Self {
        (self.cache_entries, self.cache_bytes) = (entries, bytes);
        self
    }

    /// Keeps an in-memory copy of the summary rows that answers lists, totals and
    /// statistics in milliseconds, for long-lived processes such as the server (default
    /// off). Updates through the handle patch it in place; after any other write (by any
    /// process) it is read again in the background, and until then reads go to the
    /// store, so none ever sees an old version. Costs about the size of the summary
    /// columns in memory (each distinct question once).
    pub fn memory_index(mut self, enabled: bool) -> Self {
        self.memory_index = enabled;
        self
    }

    /// Optimizes after every `n` small writes (`add`, `update`, `delete`) instead of
    /// [`OPTIMIZE_EVERY_ADDS`].
    pub fn optimize_every(mut self, n: u64) -> Self {
        self.optimize_every = n.max(1);
        self
    }

    /// Budgets for Lance's own caches of file metadata and index pages, instead of its
    /// defaults (gigabytes, suited to a server): [`LanceCacheSize::WRITER`] for a process
    /// that mostly writes, such as an import.
    pub fn lance_cache(mut self, size: LanceCacheSize) -> Self {
        self.lance_cache = Some(size);
        self
    }

    /// Options of the object store (`aws_endpoint`, `aws_region`, ...), on top of the
    /// standard environment variables.
    pub fn storage_options(mut self, options: Vec<(String, String)>) -> Self {
        self.storage_options = options;
        self
    }

    /// Lets reads use a view of the store up to `interval` old instead of checking for
    /// a newer version at every read (a request each on object storage). Writes through
    /// this handle are seen at once either way.
    pub fn read_consistency(mut self, interval: Duration) -> Self {
        self.read_consistency = Some(interval);
        self
    }

    /// The limits of SQL queries (see [`Trajstore::sql`]).
    pub fn sql_settings(mut self, settings: SqlSettings) -> Self {
        self.sql = settings;
        self
    }

    /// The language model that labels failure modes when a request asks for it (see
    /// [`crate::FailureModesRequest::llm_labels`]).
    pub fn label_model(mut self, model: Option<LabelModel>) -> Self {
        self.label_model = model;
        self
    }

    /// Skips the check that an `s3://` store honours conditional writes: only for a
    /// store no other process writes to.
    pub fn single_writer(mut self, single: bool) -> Self {
        self.single_writer = single;
        self
    }

    /// Opens (or creates) the store.
    pub async fn open(self) -> Result<Trajstore> {
        let options = OpenOptions {
            lance_cache: self.lance_cache,
            storage_options: self.storage_options,
            read_consistency: self.read_consistency,
            single_writer: self.single_writer,
        };
        let store = Store::open_with(&self.uri, &options).await?;
        Ok(Trajstore {
            store,
            cache: Arc::new(VersionedCache::new(self.cache_entries, self.cache_bytes, Duration::from_secs(300))),
            small_writes: Default::default(),
            optimize_every: self.optimize_every,
            embedder: Default::default(),
            memory_index: self.memory_index.then(Default::default),
            stats_turn: Default::default(),
            sql_settings: self.sql,
            sql_turns: Arc::new(tokio::sync::Semaphore::new(2)),
            label_model: self.label_model,
        })
    }
}
