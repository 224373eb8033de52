//! A small cache for query results, keyed by (dataset version, request).
//!
//! The version is Lance's table version, which every committed write (in this process or
//! any other) increments. A reader asks the store for the current version first, so an
//! entry made before a write can never be returned after it: there is nothing to
//! invalidate. Bounded by entries and bytes (least recently used goes first) and by age.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::Serialize;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct CacheStats {
    pub hits: u64,
    pub misses: u64,
    pub entries: u64,
    pub bytes: u64,
}

struct Entry<V> {
    value: V,
    bytes: usize,
    inserted: Instant,
    last_used: u64,
}

struct Inner<V> {
    map: HashMap<(u64, String), Entry<V>>,
    bytes: usize,
    tick: u64,
    newest_version: u64,
}

pub struct VersionedCache<V> {
    inner: Mutex<Inner<V>>,
    max_entries: usize,
    max_bytes: usize,
    ttl: Duration,
    hits: AtomicU64,
    misses: AtomicU64,
}

impl<V: Clone> VersionedCache<V> {
    pub fn new(max_entries: usize, max_bytes: usize, ttl: Duration) -> Self {
        VersionedCache {
            inner: Mutex::new(Inner { map: HashMap::new(), bytes: 0, tick: 0, newest_version: 0 }),
            max_entries,
            max_bytes,
            ttl,
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner<V>> {
        // A panic while holding the lock cannot leave the map inconsistent in a way that
        // matters (worst case: a byte count off), so a poisoned lock is still used.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn get(&self, version: u64, key: &str) -> Option<V> {
        let mut inner = self.lock();
        inner.tick += 1;
        let tick = inner.tick;
        let k = (version, key.to_string());
        let fresh = match inner.map.get_mut(&k) {
            Some(e) if e.inserted.elapsed() <= self.ttl => {
                e.last_used = tick;
                Some(e.value.clone())
            }
            Some(_) => {
                let e = inner.map.remove(&k).expect("present");
                inner.bytes -= e.bytes;
                None
            }
            None => None,
        };
        match &fresh {
            Some(_) => self.hits.fetch_add(1, Ordering::Relaxed),
            None => self.misses.fetch_add(1, Ordering::Relaxed),
        };
        fresh
    }

    pub fn insert(&self, version: u64, key: &str, value: V, bytes: usize) {
        if bytes > self.max_bytes || self.max_entries == 0 {
            return;
        }
        let mut inner = self.lock();
        // Entries of older versions can never be asked for again.
        if version > inner.newest_version {
            inner.newest_version = version;
            let stale: usize = inner.map.iter().filter(|((v, _), _)| *v < version).map(|(_, e)| e.bytes).sum();
            inner.map.retain(|(v, _), _| *v >= version);
            inner.bytes -= stale;
        } else if version < inner.newest_version {
            return;
        }
        inner.tick += 1;
        let tick = inner.tick;
        if let Some(old) = inner
            .map
            .insert((version, key.to_string()), Entry { value, bytes, inserted: Instant::now(), last_used: tick })
        {
            inner.bytes -= old.bytes;
        }
        inner.bytes += bytes;
        while inner.map.len() > self.max_entries || inner.bytes > self.max_bytes {
            let oldest = inner
                .map
                .iter()
                .min_by_key(|(_, e)| e.last_used)
                .map(|(k, _)| k.clone())
                .expect("non-empty while over budget");
            let e = inner.map.remove(&oldest).expect("present");
            inner.bytes -= e.bytes;
        }
    }

    pub fn stats(&self) -> CacheStats {
        let inner = self.lock();
        CacheStats {
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            entries: inner.map.len() as u64,
            bytes: inner.bytes as u64,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_bounds_and_ttl() {
        let c = VersionedCache::new(2, 100, Duration::from_secs(60));
        c.insert(1, "a", 1, 10);
        assert_eq!(c.get(1, "a"), Some(1));
        assert_eq!(c.get(2, "a"), None, "another version is another key");
        c.insert(2, "a", 2, 10);
        assert_eq!(c.get(1, "a"), None, "older versions are dropped");
        c.insert(2, "b", 3, 10);
        c.get(2, "a");
        c.insert(2, "c", 4, 10);
        assert_eq!(c.get(2, "b"), None, "least recently used goes first");
        assert_eq!(c.get(2, "a"), Some(2));
        c.insert(2, "big", 5, 95);
        assert!(c.stats().bytes <= 100);
        c.insert(2, "huge", 6, 101);
        assert_eq!(c.get(2, "huge"), None);
        let s = c.stats();
        assert!(s.hits >= 3 && s.misses >= 3, "{s:?}");

        let short = VersionedCache::new(10, 100, Duration::from_millis(1));
        short.insert(1, "a", 1, 1);
        std::thread::sleep(Duration::from_millis(5));
        assert_eq!(short.get(1, "a"), None);
    }
}
