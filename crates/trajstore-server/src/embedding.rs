//! The background task of `serve --embed` that fills missing embeddings.

use std::time::Duration;

use trajstore::{EmbedTextSource, Trajstore};

/// Rows embedded per round (one commit): each commit rewrites the embedding column of
/// the fragments it touches and makes the in-memory index re-read the rows, so fewer,
/// larger commits cost less.
const EMBED_COMMIT_ROWS: usize = 16_384;

/// Fills missing embeddings every `every` while the server runs, so that imports never
/// wait for them. Without the model it says so once and stops.
pub fn spawn_background_embedding(store: Trajstore, every: Duration) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        if let Err(e) = store.load_embedder().await {
            eprintln!("trajstore: similarity search is off: {e}");
            return;
        }
        loop {
            match store
                .embed_pending(EmbedTextSource::default(), EMBED_COMMIT_ROWS, Some(EMBED_COMMIT_ROWS as u64), |_| {})
                .await
            {
                Ok(p) if p.embedded > 0 => {
                    eprintln!("trajstore: embedded {} trajectories, {} left", p.embedded, p.remaining)
                }
                Ok(_) => {}
                Err(e) => eprintln!("trajstore: embedding failed: {e}"),
            }
            tokio::time::sleep(every).await;
        }
    })
}
