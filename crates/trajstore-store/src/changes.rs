//! What one commit of the summaries table changed, read from the manifests of the
//! versions on either side of it: lets a reader that holds a copy of the rows (the
//! server's in-memory index) follow other processes' appends by reading only the rows
//! they added.

use arrow_array::RecordBatch;
use futures::TryStreamExt;

use crate::{Result, Store};

impl Store {
    /// The summary rows (`columns` of them) that the commit making `version` added, when
    /// it only added rows: every fragment of the version before is still there,
    /// unchanged (no row deleted or rewritten). `None` when it changed anything else, or
    /// when that cannot be told; the reader then reads every row again.
    pub async fn rows_added_at(&self, version: u64, columns: &[&str]) -> Result<Option<Vec<RecordBatch>>> {
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
        let old: std::collections::HashMap<u64, _> = before.fragments().iter().map(|f| (f.id, f)).collect();
        let mut kept = 0;
        let mut added = Vec::new();
        for fragment in after.fragments().iter() {
            match old.get(&fragment.id) {
                Some(&was) if was == fragment => kept += 1,
                Some(_) => return Ok(None),
                None => added.push(fragment.clone()),
            }
        }
        if kept != old.len() {
            return Ok(None);
        }
        if added.is_empty() {
            return Ok(Some(Vec::new()));
        }
        let mut scanner = after.scan();
        scanner.with_fragments(added).project(columns).map_err(lancedb::Error::from)?;
        let stream = scanner.try_into_stream().await.map_err(lancedb::Error::from)?;
        let batches: Vec<RecordBatch> = stream.try_collect().await.map_err(lancedb::Error::from)?;
        Ok(Some(batches))
    }
}
