//! Search endpoints: `GET /api/search?q=`, `GET /api/similar?text=` and
//! `GET /api/trajectories/{id}/similar`, each with every query-engine filter; and the
//! background task of `serve` that fills missing embeddings.

use std::time::Duration;

use axum::extract::{Path, RawQuery, State};
use axum::response::{IntoResponse, Response};
use axum::Json;
use trajstore::{EmbedTextSource, FilterSet, Trajstore};

use crate::error::{ApiError, ApiResult};
use crate::{only_known, pairs, AppState};

/// Takes the non-filter parameters named in `own` out of the query; the rest are filters.
fn split(q: &Option<String>, own: &[&str]) -> ApiResult<(Vec<(String, String)>, FilterSet)> {
    let (mine, rest): (Vec<_>, Vec<_>) = pairs(q)?.into_iter().partition(|(k, _)| own.contains(&k.as_str()));
    only_known(&mine, own)?;
    let filters =
        FilterSet::parse(rest.iter().map(|(k, v)| (k.as_str(), v.as_str()))).map_err(trajstore::Error::from)?;
    Ok((mine, filters))
}

fn get<'a>(p: &'a [(String, String)], name: &str) -> Option<&'a str> {
    p.iter().rev().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

fn number(p: &[(String, String)], name: &str, default: usize) -> ApiResult<usize> {
    match get(p, name) {
        None => Ok(default),
        Some(v) => {
            v.parse().map_err(|_| ApiError::bad_request(name, format!("expected a positive integer, got {v:?}")))
        }
    }
}

pub(crate) async fn search_text(State(s): State<AppState>, RawQuery(q): RawQuery) -> ApiResult<Response> {
    let (p, filters) = split(&q, &["q", "limit"])?;
    let text = get(&p, "q").ok_or_else(|| ApiError::bad_request("q", "the search text is required"))?;
    let res = s.store.search_text(text, &filters, number(&p, "limit", 20)?).await?;
    Ok(Json(res).into_response())
}

pub(crate) async fn similar_to_text(State(s): State<AppState>, RawQuery(q): RawQuery) -> ApiResult<Response> {
    let (p, filters) = split(&q, &["text", "k"])?;
    let text = get(&p, "text").ok_or_else(|| ApiError::bad_request("text", "the text is required"))?.to_string();
    let k = number(&p, "k", 10)?;
    // Embedding the query text is CPU work: keep it off the async workers.
    let store = s.store.clone();
    let res = tokio::task::spawn(async move { store.similar_to_text(&text, k, &filters).await })
        .await
        .map_err(|e| ApiError::from(trajstore::Error::Internal(e.to_string())))??;
    Ok(Json(res).into_response())
}

pub(crate) async fn similar_to_id(
    State(s): State<AppState>,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> ApiResult<Response> {
    let (p, filters) = split(&q, &["k"])?;
    let res = s.store.similar_to_id(&id, number(&p, "k", 10)?, &filters).await?;
    Ok(Json(res).into_response())
}

/// Rows embedded per round (one commit): each commit rewrites the embedding column of
/// the fragments it touches and makes the in-memory index re-read the rows, so fewer,
/// larger commits cost less.
const EMBED_COMMIT_ROWS: usize = 16_384;

/// Fills missing embeddings every `every` while the server runs, so that imports never
/// wait for them. Without the model it says so once and stops.
pub fn spawn_background_embedding(store: Trajstore, every: Duration) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        if let Err(e) = store.embedder() {
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
