//! Search: `GET /api/search?q=`, `GET /api/similar?text=` and
//! `GET /api/trajectories/{id}/similar`, each with every query-engine filter.

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::Json;
use trajstore::FilterSet;

use crate::error::{ApiError, ApiResult};
use crate::query::{FromParams, Params, Query};
use crate::AppState;

/// `?q=WORDS&limit=N&<filters>`.
pub struct SearchQuery {
    q: String,
    limit: usize,
    filters: FilterSet,
}

impl FromParams for SearchQuery {
    fn from_params(p: Params) -> ApiResult<Self> {
        let (p, filters) = p.split_filters(&["q", "limit"])?;
        let q = p.get("q").ok_or_else(|| ApiError::bad_request("q", "the search text is required"))?.to_string();
        Ok(SearchQuery { q, limit: p.count("limit", 20)?, filters })
    }
}

/// `?text=TEXT&k=N&<filters>`.
pub struct SimilarTextQuery {
    text: String,
    k: usize,
    filters: FilterSet,
}

impl FromParams for SimilarTextQuery {
    fn from_params(p: Params) -> ApiResult<Self> {
        let (p, filters) = p.split_filters(&["text", "k"])?;
        let text = p.get("text").ok_or_else(|| ApiError::bad_request("text", "the text is required"))?.to_string();
        Ok(SimilarTextQuery { text, k: p.count("k", 10)?, filters })
    }
}

/// `?k=N&<filters>`.
pub struct SimilarIdQuery {
    k: usize,
    filters: FilterSet,
}

impl FromParams for SimilarIdQuery {
    fn from_params(p: Params) -> ApiResult<Self> {
        let (p, filters) = p.split_filters(&["k"])?;
        Ok(SimilarIdQuery { k: p.count("k", 10)?, filters })
    }
}

pub async fn search_text(State(s): State<AppState>, Query(q): Query<SearchQuery>) -> ApiResult<Response> {
    Ok(Json(s.store.search_text(&q.q, &q.filters, q.limit).await?).into_response())
}

pub async fn similar_to_text(State(s): State<AppState>, Query(q): Query<SimilarTextQuery>) -> ApiResult<Response> {
    // The library embeds the text on the blocking pool.
    Ok(Json(s.store.similar_to_text(&q.text, q.k, &q.filters).await?).into_response())
}

pub async fn similar_to_id(
    State(s): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<SimilarIdQuery>,
) -> ApiResult<Response> {
    Ok(Json(s.store.similar_to_id(&id, q.k, &q.filters).await?).into_response())
}
