//! The current snapshot of a store handle: built in the background, patched in place by
//! updates made through the handle.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use trajstore_store::{Patch, Store, UpdateCommit};

use super::Snapshot;
use crate::{Result, Summary};

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
