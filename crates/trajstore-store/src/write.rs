//! Writes: inserts (staged payloads, then one commit of summary rows), updates of the
//! mutable fields, deletes.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};

use arrow_array::{RecordBatch, RecordBatchIterator};
use trajstore_model::step_facts::{step_facts, StepFacts};
use trajstore_model::Trajectory;
use trajstore_query::sql::string_literal;

use crate::schema::{payloads_batch, summaries_batch};
use crate::{id_filter, now_micros, Result, Store, StoreError};

/// How an insert treats ids that may already be stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InsertMode {
    /// Skip ids already stored (or stored concurrently by another writer). Stored ids are
    /// looked up before the batch's payloads are written, so none is written for them.
    Deduplicate,
    /// Skip ids already stored, found by the commit alone: payloads of stored ids are
    /// written and left unreferenced (`optimize` removes them). Saves a lookup per batch
    /// where duplicates are not expected (an import into a store that was empty).
    DeduplicateOnCommit,
    /// Append without looking: only safe when the caller knows every id is new and no
    /// other writer runs (a fresh store filled by one import). A repeated id is then
    /// stored twice.
    AppendUnchecked,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct InsertOutcome {
    pub inserted: u64,
    /// Ids already stored, or repeated inside the batch.
    pub skipped: u64,
}

/// The summary rows one commit added, and the version it made.
pub struct Appended {
    pub version: u64,
    /// Rows of the summaries table (every column it has).
    pub rows: RecordBatch,
}

/// A batch whose payloads are written and whose summary rows wait for [`Store::commit`].
pub struct StagedBatch {
    given: u64,
    summaries: Option<RecordBatch>,
    mode: InsertMode,
}

/// A change to the mutable fields of one trajectory.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Patch {
    pub is_bookmarked: Option<bool>,
    pub tags: Option<Vec<String>>,
    /// `Some(None)` clears the notes.
    pub notes: Option<Option<String>>,
}

/// What an update committed: the version it made and the `updated_at` it wrote.
#[derive(Debug, Clone, Copy)]
pub struct UpdateCommit {
    pub version: u64,
    pub updated_at: i64,
}

impl Store {
    /// Stores a batch of trajectories as one commit.
    pub async fn insert(&self, rows: Vec<Trajectory>, mode: InsertMode) -> Result<InsertOutcome> {
        let staged = self.stage(rows, mode).await?;
        self.commit(staged).await
    }

    /// [`Store::insert`], and the summary rows it added with the version that added them
    /// when that commit added every row it was given (an in-memory copy of the summaries
    /// can then follow it without reading the table again).
    pub async fn insert_returning(
        &self,
        rows: Vec<Trajectory>,
        mode: InsertMode,
    ) -> Result<(InsertOutcome, Option<Appended>)> {
        let staged = self.stage(rows, mode).await?;
        self.commit_returning(staged).await
    }

    /// The first half of [`Store::insert`]: drops ids already stored, writes the batch's
    /// payloads (not yet referenced by anything, so invisible) and builds its summary
    /// rows. An import stages batch N+1 while batch N commits.
    pub async fn stage(&self, mut rows: Vec<Trajectory>, mode: InsertMode) -> Result<StagedBatch> {
        self.gate.check()?;
        let given = rows.len() as u64;
        let mut seen = HashSet::with_capacity(rows.len());
        rows.retain(|r| seen.insert(r.trajectory_id.clone()));
        if mode == InsertMode::Deduplicate && self.summaries.count_rows(None).await? > 0 {
            // Not needed for correctness (merge_insert de-duplicates), but it keeps
            // payloads of records that are already stored from being written at all.
            let ids: Vec<&str> = rows.iter().map(|r| r.trajectory_id.as_str()).collect();
            let existing = self.existing_ids(&ids).await?;
            rows.retain(|r| !existing.contains(&r.trajectory_id));
        }
        if rows.is_empty() {
            return Ok(StagedBatch { given, summaries: None, mode });
        }
        let write_id = next_write_id();
        let now = now_micros();
        // Records parsed from JSON carry their texts (derived while their steps were
        // checked); any other is derived here, off the async workers, as it walks every step.
        let terms = self.search_terms.load(std::sync::atomic::Ordering::Relaxed);
        let (rows, search_texts, embed_texts, facts) = tokio::task::spawn_blocking(move || {
            let mut rows = rows;
            let (mut search, mut embed, mut facts) = (Vec::new(), Vec::new(), Vec::<StepFacts>::new());
            for row in &mut rows {
                let t = row.take_texts();
                search.push(if terms { crate::terms::to_terms(&t.search) } else { t.search });
                embed.push(t.embed);
                facts.push(t.facts.unwrap_or_else(|| step_facts(&row.steps_json)));
            }
            (rows, search, embed, facts)
        })
        .await
        .map_err(|e| StoreError::Corrupt(format!("deriving search text failed: {e}")))?;
        // Both batches are built first, and the records and texts dropped, so that only
        // the Arrow copies are held while Lance encodes the payloads.
        let payloads = payloads_batch(&rows, &search_texts, &facts, write_id)?;
        let summaries = summaries_batch(&rows, &embed_texts, write_id, now)?;
        drop((rows, search_texts, embed_texts, facts));
        self.payloads.add(payloads).execute().await?;
        Ok(StagedBatch { given, summaries: Some(summaries), mode })
    }

    /// The second half of [`Store::insert`]: commits the summary rows, the moment the
    /// records exist. Ids stored meanwhile (by another import, or an earlier batch still
    /// committing when this one was staged) are skipped here; their payloads stay
    /// unreferenced until `optimize` removes them.
    pub async fn commit(&self, staged: StagedBatch) -> Result<InsertOutcome> {
        Ok(self.commit_returning(staged).await?.0)
    }

    async fn commit_returning(&self, staged: StagedBatch) -> Result<(InsertOutcome, Option<Appended>)> {
        self.gate.check()?;
        let Some(summaries) = staged.summaries else {
            return Ok((InsertOutcome { inserted: 0, skipped: staged.given }, None));
        };
        let given_rows = summaries.num_rows() as u64;
        let (inserted, version) = match staged.mode {
            InsertMode::AppendUnchecked => {
                let version = self.summaries.add(summaries.clone()).execute().await?.version;
                (given_rows, version)
            }
            InsertMode::Deduplicate | InsertMode::DeduplicateOnCommit => {
                let _one_at_a_time = self.commit_lock.lock().await;
                let schema = summaries.schema();
                let reader = RecordBatchIterator::new(vec![Ok(summaries.clone())], schema);
                let mut merge = self.summaries.merge_insert(&["trajectory_id"]);
                // Not through the id index: Lance's indexed merge path records no keys in
                // its commit, so two writers racing to add one id both committed it (the
                // conflict check compares the inserted keys of concurrent commits).
                merge.when_not_matched_insert_all().use_index(false);
                let merged = merge.execute(Box::new(reader)).await?;
                (merged.num_inserted_rows, merged.version)
            }
        };
        let outcome = InsertOutcome { inserted, skipped: staged.given - inserted };
        // Version 0 is what a server that does not report versions returns.
        let appended = (inserted == given_rows && version > 0).then_some(Appended { version, rows: summaries });
        Ok((outcome, appended))
    }

    /// Changes bookmark, tags or notes of one trajectory in one commit, rewriting only
    /// its summary row. Returns the commit, or `None` when the id is not stored.
    pub async fn update(&self, id: &str, patch: &Patch) -> Result<Option<UpdateCommit>> {
        self.gate.check()?;
        let updated_at = now_micros();
        let mut update = self.summaries.update().only_if(id_filter(id)).column("updated_at", updated_at.to_string());
        if let Some(b) = patch.is_bookmarked {
            update = update.column("is_bookmarked", b.to_string());
        }
        if let Some(tags) = &patch.tags {
            let items: Vec<String> = tags.iter().map(|t| string_literal(t)).collect();
            // An empty make_array() has no element type, hence the cast.
            update = update.column("tags", format!("arrow_cast(make_array({}), 'List(Utf8)')", items.join(",")));
        }
        if let Some(notes) = &patch.notes {
            update = update
                .column("notes", notes.as_deref().map_or_else(|| "CAST(NULL AS string)".to_string(), string_literal));
        }
        let result = update.execute().await?;
        if result.rows_updated == 0 {
            return Ok(None);
        }
        Ok(Some(UpdateCommit { version: result.version, updated_at }))
    }

    /// Deletes one trajectory. The summary delete is the commit point; its payload is
    /// removed right after (or by `optimize`, if this process dies in between).
    pub async fn delete(&self, id: &str) -> Result<bool> {
        self.gate.check()?;
        let deleted = self.summaries.delete(id_filter(id).as_str()).await?.num_deleted_rows;
        if deleted > 0 {
            self.payloads.delete(id_filter(id).as_str()).await?;
        }
        Ok(deleted > 0)
    }
}

/// A new write id: the time in microseconds above 10 bits of the process id, so that
/// ids differ between writers and tell when their payloads were written; increasing
/// within a process (one sequence, whatever handles it has open).
fn next_write_id() -> i64 {
    static LAST: AtomicU64 = AtomicU64::new(0);
    let step = 1 << WRITE_ID_PID_BITS;
    let fresh = ((now_micros() as u64) << WRITE_ID_PID_BITS) | (std::process::id() as u64 & (step - 1));
    let next = |last: u64| fresh.max(last + step);
    let previous = LAST.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |last| Some(next(last))).unwrap_or(0);
    (next(previous) & i64::MAX as u64) as i64
}

/// Low bits of a write id that hold (part of) the writer's process id.
pub(crate) const WRITE_ID_PID_BITS: u32 = 10;
