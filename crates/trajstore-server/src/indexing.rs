//! The background step of `serve` that folds the rows written since into the indexes
//! (above all the full-text index), so that an import can return as soon as its rows
//! are stored. Until a row is folded in, search still finds it by scanning.

use std::time::{Duration, Instant};

use tokio::task::JoinHandle;
use trajstore::Trajstore;

use crate::imports::{Imports, TaskStatus};

/// Every `every`, folds the rows that the full-text index does not cover yet into the
/// indexes. A round is skipped while an import of this server runs: it would be folded
/// again a moment later, and both would compete for the same cores.
pub fn spawn_background_indexing(store: Trajstore, imports: Imports, every: Duration) -> JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(every).await;
            let importing = imports.list().iter().any(|t| matches!(t.status, TaskStatus::Queued | TaskStatus::Running));
            if importing {
                continue;
            }
            match store.unindexed_text_rows().await {
                Ok(0) => {}
                Ok(rows) => {
                    let started = Instant::now();
                    match store.fold_indexes().await {
                        Ok(()) => eprintln!(
                            "trajstore: indexed {rows} rows for full-text search in {:.1} s",
                            started.elapsed().as_secs_f64()
                        ),
                        Err(e) => eprintln!("trajstore: indexing failed (search still scans the rows): {e}"),
                    }
                }
                Err(e) => eprintln!("trajstore: could not read the index state: {e}"),
            }
        }
    })
}
