//! Which model made the stored vectors. Vectors of two models cannot be compared, so
//! the name is recorded in the `embedding` column's field metadata (where other
//! readers of the dataset see it too), and a store is re-embedded as a whole when the
//! model changes.

use std::collections::HashMap;

use arrow_schema::Schema;
use lancedb::query::{ExecutableQuery, QueryBase, Select};
use lancedb::table::FieldMetadataUpdate;

use crate::maintenance::add_null_columns;
use crate::schema::{embedding_field, EMBEDDING};
use crate::{Result, Store};

/// The field metadata key naming the model whose vectors `embedding` holds.
pub const EMBEDDING_MODEL_KEY: &str = "trajstore:embedding_model";

/// The model of stores embedded before the name was recorded.
pub const LEGACY_EMBEDDING_MODEL: &str = "all-MiniLM-L6-v2";

impl Store {
    /// The model whose vectors the store holds; `None` while no row is embedded.
    pub async fn embedding_model(&self) -> Result<Option<String>> {
        let schema = self.summaries.schema().await?;
        if let Some(name) = schema.field_with_name(EMBEDDING)?.metadata().get(EMBEDDING_MODEL_KEY) {
            return Ok(Some(name.clone()));
        }
        let any = self
            .summaries
            .query()
            .only_if(format!("{EMBEDDING} IS NOT NULL"))
            .select(Select::columns(&["trajectory_id"]))
            .limit(1)
            .execute()
            .await?;
        let batches: Vec<arrow_array::RecordBatch> = futures::TryStreamExt::try_collect(any).await?;
        Ok(batches.iter().any(|b| b.num_rows() > 0).then(|| LEGACY_EMBEDDING_MODEL.to_string()))
    }

    /// Records `model` as the maker of the stored vectors.
    pub async fn set_embedding_model(&self, model: &str) -> Result<()> {
        self.gate.check()?;
        let update = FieldMetadataUpdate {
            path: EMBEDDING.to_string(),
            metadata: HashMap::from([(EMBEDDING_MODEL_KEY.to_string(), Some(model.to_string()))]),
            replace: false,
        };
        self.summaries.update_field_metadata(&[update]).await?;
        Ok(())
    }

    /// Removes every stored vector and the vector index, and records `model` as the
    /// maker of the vectors to come. Dropping and re-adding the column are metadata
    /// commits; should the process die between them, opening the store adds the
    /// column back (see `migrate`).
    pub async fn clear_embeddings(&self, model: &str) -> Result<()> {
        self.gate.check()?;
        for index in self.summaries.list_indices().await? {
            if index.columns.iter().any(|c| c == EMBEDDING) {
                self.summaries.drop_index(&index.name).await?;
            }
        }
        self.summaries.drop_columns(&[EMBEDDING]).await?;
        let embedding_only = Schema::new(vec![embedding_field()]);
        add_null_columns(&self.summaries, std::sync::Arc::new(embedding_only)).await?;
        self.set_embedding_model(model).await
    }
}
