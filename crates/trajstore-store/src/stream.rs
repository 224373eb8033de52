//! Whole trajectories as a stream: the summary rows that match, read by Lance's scan,
//! joined with their payloads a chunk at a time, so memory stays bounded by one chunk
//! and the consumer sets the pace (nothing is read ahead of what it pulls).

use arrow_array::RecordBatch;
use futures::{Stream, TryStreamExt};
use lancedb::query::{ExecutableQuery, QueryBase, Select};
use trajstore_model::Trajectory;

use crate::{assemble, Columns, Result, Store, StoreError, SUMMARY_COLUMNS};

impl Store {
    /// Every trajectory that matches `filter`, whole, in storage order: batches of at
    /// most `chunk` records (one payload lookup each).
    pub async fn trajectories(
        &self,
        filter: Option<String>,
        chunk: usize,
    ) -> Result<impl Stream<Item = Result<Vec<Trajectory>>> + Send + 'static> {
        let mut cols: Vec<&str> = SUMMARY_COLUMNS.to_vec();
        cols.push("write_id");
        let mut q = self.summaries.query().select(Select::columns(&cols));
        if let Some(filter) = filter {
            q = q.only_if(filter);
        }
        let chunk = chunk.max(1);
        let parts = q.execute().await?.map_err(StoreError::from).map_ok(move |batch| {
            let parts: Vec<Result<RecordBatch>> = (0..batch.num_rows())
                .step_by(chunk)
                .map(|start| Ok(batch.slice(start, chunk.min(batch.num_rows() - start))))
                .collect();
            futures::stream::iter(parts)
        });
        let store = self.clone();
        Ok(parts.try_flatten().and_then(move |part| {
            let store = store.clone();
            async move { store.whole(&part).await }
        }))
    }

    /// The trajectories of a slice of summary rows (with `write_id`), with their payloads.
    async fn whole(&self, part: &RecordBatch) -> Result<Vec<Trajectory>> {
        let c = Columns::new(part);
        let (ids, wids) = (c.str("trajectory_id")?, c.i64("write_id")?);
        let keys: Vec<(String, i64)> =
            (0..part.num_rows()).map(|i| (ids.value(i).to_string(), wids.value(i))).collect();
        let mut payloads = self.payloads_for(&keys).await?;
        let mut out = Vec::with_capacity(keys.len());
        for (i, key) in keys.iter().enumerate() {
            let payload = payloads
                .remove(key)
                .ok_or_else(|| StoreError::Corrupt(format!("the steps of {} are missing", key.0)))?;
            out.push(assemble(part, i, payload)?);
        }
        Ok(out)
    }
}
