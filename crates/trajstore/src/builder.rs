//! Opening a store: [`Trajstore::builder`] with the settings a process wants, then
//! [`TrajstoreBuilder::open`].

use std::sync::Arc;
use std::time::Duration;

use trajstore_query::VersionedCache;
use trajstore_store::{LanceCacheSize, OpenOptions, Store};

use crate::{Result, Trajstore, OPTIMIZE_EVERY_ADDS};

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

    /// Opens (or creates) the store.
    pub async fn open(self) -> Result<Trajstore> {
        let store = Store::open_with(&self.uri, &OpenOptions { lance_cache: self.lance_cache }).await?;
        Ok(Trajstore {
            store,
            cache: Arc::new(VersionedCache::new(self.cache_entries, self.cache_bytes, Duration::from_secs(300))),
            small_writes: Default::default(),
            optimize_every: self.optimize_every,
            embedder: Default::default(),
            memory_index: self.memory_index.then(Default::default),
            stats_turn: Default::default(),
        })
    }
}
