//! What one commit of the summaries table changed, read from the manifests of the
//! versions on either side of it: lets a reader that holds a copy of the rows (the
//! server's in-memory index) follow other processes' writes (appends, updates, deletes)
//! by reading only the rows they touched.
//!
//! A commit changes fragments in three ways, all told apart by comparing the two
//! manifests' fragment lists: it adds fragments (appends, and the new copies of updated
//! rows), gives an existing fragment a new deletion file (deletes, and the old copies of
//! updated rows), or removes or rewrites a fragment (a delete of every row in it, a
//! column rewrite). Only a new deletion file is read narrowly: the ids of the rows it
//! newly deletes, taken by offset from the version before. The others read the fragments
//! concerned.

use std::collections::HashMap;

use arrow_array::{RecordBatch, StringArray};
use futures::TryStreamExt;
use lance::table::format::Fragment;
use lance::Dataset;

use crate::{Result, Store, StoreError};

/// The rows one commit of the summaries table removed and added. An updated row is in
/// both: its old copy removed, its new one added.
#[derive(Debug, Default)]
pub struct SummaryChanges {
    /// Ids of the rows deleted (or replaced) by the commit.
    pub removed: Vec<String>,
    /// The rows it wrote, with the columns asked for.
    pub added: Vec<RecordBatch>,
}

impl Store {
    /// What the commit making `version` did to the summary rows (`columns` of those it
    /// added). `None` when that cannot be told (the versions are gone, a manifest cannot
    /// be read); the reader then reads every row again.
    pub async fn rows_changed_at(&self, version: u64, columns: &[&str]) -> Result<Option<SummaryChanges>> {
        let Some(dataset) = self.summaries.dataset() else { return Ok(None) };
        if version < 2 {
            return Ok(None);
        }
        let latest = dataset.get().await?;
        let (Ok(before), Ok(after)) =
            (latest.checkout_version(version - 1).await, latest.checkout_version(version).await)
        else {
            return Ok(None);
        };
        drop(latest);
        let lance = |e: lance::Error| StoreError::from(lancedb::Error::from(e));
        let new: HashMap<u64, &Fragment> = after.fragments().iter().map(|f| (f.id, f)).collect();
        let mut changes = SummaryChanges::default();
        let mut read_whole = Vec::new();
        for was in before.fragments().iter() {
            let Some(&now) = new.get(&was.id) else {
                changes.removed.extend(live_ids(&before, was).await.map_err(lance)?);
                continue;
            };
            if now == was {
                continue;
            }
            if same_data(was, now) {
                if let Some(ids) = newly_deleted_ids(&before, &after, was.id).await.map_err(lance)? {
                    changes.removed.extend(ids);
                    continue;
                }
            }
            // Rewritten, or fewer of its rows deleted: its rows out, and its live rows back in.
            changes.removed.extend(live_ids(&before, was).await.map_err(lance)?);
            read_whole.push(now.clone());
        }
        let old: std::collections::HashSet<u64> = before.fragments().iter().map(|f| f.id).collect();
        read_whole.extend(after.fragments().iter().filter(|f| !old.contains(&f.id)).cloned());
        if !read_whole.is_empty() {
            let mut scanner = after.scan();
            scanner.with_fragments(read_whole).project(columns).map_err(lance)?;
            changes.added = scanner.try_into_stream().await.map_err(lance)?.try_collect().await.map_err(lance)?;
        }
        Ok(Some(changes))
    }
}

/// Whether a fragment holds the same rows on both sides (only its deletions may differ).
fn same_data(was: &Fragment, now: &Fragment) -> bool {
    was.files == now.files && was.overlays == now.overlays && was.physical_rows == now.physical_rows
}

/// Ids of the rows of fragment `id` that `after` deletes and `before` does not; `None`
/// when `after` deletes fewer (a restore of an older version), which only a read of the
/// whole fragment can follow.
async fn newly_deleted_ids(before: &Dataset, after: &Dataset, id: u64) -> lance::Result<Option<Vec<String>>> {
    let (Some(was), Some(now)) = (before.get_fragment(id as usize), after.get_fragment(id as usize)) else {
        return Ok(None);
    };
    let mut deleted_before: Vec<u32> = match was.get_deletion_vector().await? {
        Some(dv) => dv.to_sorted_iter().collect(),
        None => Vec::new(),
    };
    deleted_before.sort_unstable();
    let deleted_now = now.get_deletion_vector().await?;
    if deleted_before.iter().any(|&p| !deleted_now.as_ref().is_some_and(|dv| dv.contains(p))) {
        return Ok(None);
    }
    let Some(deleted_now) = deleted_now else { return Ok(Some(Vec::new())) };
    // `FileFragment::take` counts offsets among the rows live in that version.
    let live_offsets: Vec<u32> = deleted_now
        .to_sorted_iter()
        .filter(|p| deleted_before.binary_search(p).is_err())
        .map(|p| p - deleted_before.partition_point(|&d| d < p) as u32)
        .collect();
    if live_offsets.is_empty() {
        return Ok(Some(Vec::new()));
    }
    let batch = was.take(&live_offsets, &before.schema().project(&["trajectory_id"])?).await?;
    ids_of(&batch).map(Some)
}

/// Ids of the rows of a fragment that are live in `dataset`.
async fn live_ids(dataset: &Dataset, fragment: &Fragment) -> lance::Result<Vec<String>> {
    let mut scanner = dataset.scan();
    scanner.with_fragments(vec![fragment.clone()]).project(&["trajectory_id"])?;
    let batches: Vec<RecordBatch> = scanner.try_into_stream().await?.try_collect().await?;
    let mut ids = Vec::new();
    for batch in &batches {
        ids.extend(ids_of(batch)?);
    }
    Ok(ids)
}

fn ids_of(batch: &RecordBatch) -> lance::Result<Vec<String>> {
    let ids = batch
        .column_by_name("trajectory_id")
        .and_then(|a| a.as_any().downcast_ref::<StringArray>())
        .ok_or_else(|| lance::Error::invalid_input("trajectory_id is not a string column"))?;
    Ok(ids.iter().flatten().map(str::to_string).collect())
}
