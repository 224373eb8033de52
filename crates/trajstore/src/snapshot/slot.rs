//! The current snapshot of a store handle: built in the background, patched in place by
//! updates made through the handle, extended by its adds, carried over commits that
//! change no row (compaction, index builds), and brought past any other commit (another
//! process's add, update or delete) by reading only the rows it changed.
//!
//! Versions a reader may be shown: the current one, or (while adds through this handle
//! are committing) the snapshot from before them, as long as the versions in between are
//! no more than those adds. An add returns only once the snapshot holds it, so a reader
//! always sees every add acknowledged before it asked. Any other commit in between (a
//! delete, another process's write) sends readers to Lance until the snapshot has
//! followed it (a full read only when a commit's changes cannot be read).

use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use arrow_array::RecordBatch;
use trajstore_store::{Appended, Patch, Store, UpdateCommit};

use super::Snapshot;
use crate::{Result, Summary};

/// How long a reader waits for a catch-up before it reads from Lance instead.
const CATCH_UP_WAIT: std::time::Duration = std::time::Duration::from_millis(50);

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
    /// Adds through this handle from before their commit until the snapshot holds them.
    adds_in_flight: AtomicU64,
    /// Rows committed by adds through this handle that the snapshot does not hold yet,
    /// by the version that added them.
    appended: Mutex<BTreeMap<u64, RecordBatch>>,
    /// One catch-up at a time: the others find their version followed when they get it.
    catching_up: tokio::sync::Mutex<()>,
    pub appends: AtomicU64,
    /// Commits followed by reading only the rows they changed (other processes' writes,
    /// deletes through this handle).
    pub followed_elsewhere: AtomicU64,
}

/// The rows several consecutive commits removed and added, in effect: a row added by one
/// and removed by a later one is neither.
#[derive(Default)]
struct Changes {
    removed: HashSet<String>,
    added: Vec<RecordBatch>,
}

impl Changes {
    fn add(&mut self, rows: Vec<RecordBatch>) {
        self.added.extend(rows.into_iter().filter(|b| b.num_rows() > 0));
    }

    fn remove(&mut self, ids: Vec<String>) -> Result<()> {
        let ids: HashSet<String> = ids.into_iter().collect();
        for batch in &mut self.added {
            *batch = super::without_ids(batch, &ids)?;
        }
        self.removed.extend(ids);
        Ok(())
    }

    fn is_empty(&self) -> bool {
        self.removed.is_empty() && self.added.is_empty()
    }
}

/// The columns the snapshot holds.
fn keyed_columns() -> Vec<&'static str> {
    static COLUMNS: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
    COLUMNS
        .get_or_init(|| trajstore_store::keyed_summary_schema().fields().iter().map(|f| f.name().clone()).collect())
        .iter()
        .map(String::as_str)
        .collect()
}

/// Marks an add in flight until dropped (see [`SnapshotSlot::add_started`]).
pub(crate) struct AddInFlight(Arc<SnapshotSlot>);

impl Drop for AddInFlight {
    fn drop(&mut self) {
        self.0.adds_in_flight.fetch_sub(1, Ordering::AcqRel);
    }
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
    /// The snapshot if it is of `version` or later (a reader that asked just before a
    /// commit may be shown it: it is committed).
    fn current_at(&self, version: u64) -> Option<Arc<Snapshot>> {
        self.current.read().expect("not poisoned").as_ref().filter(|s| s.version >= version).cloned()
    }

    /// The version reads are answered at, given the store's latest: the snapshot's while
    /// the versions after it may all be adds through this handle still committing (they
    /// are not acknowledged yet, so no reader can expect them), else the latest.
    pub fn visible_version(&self, latest: u64) -> u64 {
        match self.current() {
            Some(s) if s.version < latest && latest - s.version <= self.adds_in_flight.load(Ordering::Acquire) => {
                s.version
            }
            _ => latest,
        }
    }

    /// The snapshot of `version` if it is ready. Otherwise it starts a catch-up in the
    /// background (when none is running) and waits for it briefly, as following commits
    /// that changed no row takes milliseconds; `None` if it is not done by then (a full
    /// read), and later reads find it. While an update through this handle is being
    /// followed, waits for that instead.
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
                let _ = slot.catch_up(&store, version).await;
                slot.building.store(false, Ordering::Release);
            });
        }
        let deadline = tokio::time::Instant::now() + CATCH_UP_WAIT;
        loop {
            let followed = self.followed.notified();
            tokio::pin!(followed);
            followed.as_mut().enable();
            if let Some(s) = self.current_at(version) {
                return Some(s);
            }
            if tokio::time::timeout_at(deadline, followed).await.is_err() {
                return None;
            }
        }
    }

    /// Builds now (waiting for it) unless the current one is of the store's version.
    pub async fn build(&self, store: &Store) -> Result<Option<Arc<Snapshot>>> {
        let version = store.version().await?;
        self.catch_up(store, version).await?;
        Ok(self.current())
    }

    /// Call before an add's commit: readers may be shown the version before it until
    /// [`SnapshotSlot::follow_add`] returns and the guard is dropped.
    pub fn add_started(self: &Arc<Self>) -> AddInFlight {
        self.adds_in_flight.fetch_add(1, Ordering::AcqRel);
        AddInFlight(self.clone())
    }

    /// Brings the snapshot to the version an add through this handle committed. With
    /// `appended` (the add committed every row it was given), from those rows; otherwise
    /// by reading the store. Nothing to do while there is no snapshot yet.
    pub async fn follow_add(&self, store: &Store, version: u64, appended: Option<Appended>) -> Result<()> {
        if let Some(a) = appended {
            self.appended.lock().expect("not poisoned").insert(a.version, a.rows);
        }
        if self.current().is_none() {
            self.appended.lock().expect("not poisoned").clear();
            return Ok(());
        }
        self.catch_up(store, version).await
    }

    /// Makes the snapshot at least of `version`: extended by the rows of adds through this
    /// handle and carried over commits that changed no row, as far as the versions after
    /// it are those; by reading every row when one is not.
    async fn catch_up(&self, store: &Store, version: u64) -> Result<()> {
        let _one_at_a_time = self.catching_up.lock().await;
        loop {
            let base = self.current();
            if base.as_ref().is_some_and(|b| b.version >= version) {
                return Ok(());
            }
            let next = match &base {
                Some(base) => self.extend(store, base, version).await?,
                None => None,
            };
            let (next, full_read) = match next {
                Some(next) => (next, false),
                None => {
                    let loaded = Snapshot::load(store).await?;
                    self.builds.fetch_add(1, Ordering::Relaxed);
                    (loaded, true)
                }
            };
            let next = Arc::new(next);
            // A full read is of the latest version: if that is still before `version`
            // (a caller's number from elsewhere), reading again would not help.
            let done = full_read && next.version < version;
            self.appended.lock().expect("not poisoned").retain(|&v, _| v > next.version);
            let mut current = self.current.write().expect("not poisoned");
            if current.as_ref().is_none_or(|c| c.version < next.version) {
                *current = Some(next);
            }
            drop(current);
            self.followed.notify_waiters();
            if done {
                return Ok(());
            }
        }
    }

    /// `base` carried forward over the versions after it, up to `version`: adds through
    /// this handle from their own rows, commits that changed no row by relabelling, and
    /// any other commit (another process's add, update or delete; a delete through this
    /// handle) by reading only the rows it changed. `None` when the first version after
    /// it cannot be followed so (only a full read can).
    async fn extend(&self, store: &Store, base: &Arc<Snapshot>, version: u64) -> Result<Option<Snapshot>> {
        let mut changes = Changes::default();
        let mut reached = base.version;
        while reached < version {
            let next = reached + 1;
            let rows = self.appended.lock().expect("not poisoned").get(&next).cloned();
            match rows {
                Some(rows) => changes.add(vec![rows]),
                // A transaction that cannot be read counts as a change, read below.
                None if store.summaries_unchanged_at(next).await.unwrap_or(false) => {}
                None => match store.rows_changed_at(next, &keyed_columns()).await {
                    Ok(Some(changed)) => {
                        self.followed_elsewhere.fetch_add(1, Ordering::Relaxed);
                        changes.remove(changed.removed)?;
                        changes.add(changed.added);
                    }
                    Ok(None) | Err(_) => break,
                },
            }
            reached = next;
        }
        if reached == base.version {
            return Ok(None);
        }
        if changes.is_empty() {
            return Ok(Some(base.relabelled(reached)));
        }
        self.appends.fetch_add(1, Ordering::Relaxed);
        let base_rows = base.rows();
        let added_rows: usize = changes.added.iter().map(RecordBatch::num_rows).sum();
        // Rebuilding the orderings walks every row: off the async workers when it is big.
        let next = if base_rows + added_rows > 4096 {
            let base = base.clone();
            crate::on_blocking_thread(move || base.changed(reached, &changes.removed, &changes.added)).await??
        } else {
            base.changed(reached, &changes.removed, &changes.added)?
        };
        Ok(Some(next))
    }

    pub fn info(&self, s: &Snapshot) -> crate::MemoryIndexInfo {
        crate::MemoryIndexInfo {
            version: s.version,
            rows: s.rows(),
            bytes: s.memory_bytes(),
            builds: self.builds.load(Ordering::Relaxed),
            patches: self.patches.load(Ordering::Relaxed),
            appends: self.appends.load(Ordering::Relaxed),
            followed_elsewhere: self.followed_elsewhere.load(Ordering::Relaxed),
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
