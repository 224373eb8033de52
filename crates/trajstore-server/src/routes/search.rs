//! Search: `GET /api/search?q=`, `GET /api/similar?text=` and
//! `GET /api/trajectories/{id}/similar`, each with every query-engine filter.

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::Json;
use trajstore::FilterSet;

use trajstore::{SimilarResults, TextSearchResults};
use utoipa::openapi::path::{Parameter, ParameterIn};
use utoipa::IntoParams;

use crate::error::{ApiError, ApiResult};
use crate::openapi::{integer, query, string, Filters};
use crate::query::{FromParams, Params, Query, MAX_COUNT};
use crate::AppState;

fn how_many(name: &str, default: usize) -> Parameter {
    query(name, false, integer(1, MAX_COUNT as i64), &format!("how many results (default {default})"))
}

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

impl IntoParams for SearchQuery {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        let q =
            query("q", true, string().pattern(Some(r"[^\W_]")), "words (with at least one letter or digit) that must all occur (question, messages, tool arguments and outputs)");
        vec![q, how_many("limit", 20)]
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

impl IntoParams for SimilarTextQuery {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        vec![
            query(
                "text",
                true,
                string().pattern(Some(r"\S")),
                "the text to find trajectories similar to (not only white space)",
            ),
            how_many("k", 10),
        ]
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

impl IntoParams for SimilarIdQuery {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        vec![how_many("k", 10)]
    }
}

/// Full-text search (BM25): summary rows with a score, the best step and a snippet.
#[utoipa::path(get, path = "/api/search", tag = "search", params(SearchQuery, Filters),
    responses((status = 200, description = "the hits, best first", body = TextSearchResults)))]
pub async fn search_text(State(s): State<AppState>, Query(q): Query<SearchQuery>) -> ApiResult<Response> {
    Ok(Json(s.store.search_text(&q.q, &q.filters, q.limit).await?).into_response())
}

/// Trajectories similar in meaning to a text (needs the embedding model).
#[utoipa::path(get, path = "/api/similar", tag = "search", params(SimilarTextQuery, Filters),
    responses((status = 200, description = "the nearest trajectories", body = SimilarResults)))]
pub async fn similar_to_text(State(s): State<AppState>, Query(q): Query<SimilarTextQuery>) -> ApiResult<Response> {
    // The library embeds the text on the blocking pool.
    Ok(Json(s.store.similar_to_text(&q.text, q.k, &q.filters).await?).into_response())
}

/// Trajectories similar in meaning to this one, itself excluded.
#[utoipa::path(get, path = "/api/trajectories/{id}/similar", tag = "search",
    params(("id" = String, Path, description = "the trajectory_id"), SimilarIdQuery, Filters),
    responses((status = 200, description = "the nearest trajectories", body = SimilarResults)))]
pub async fn similar_to_id(
    State(s): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<SimilarIdQuery>,
) -> ApiResult<Response> {
    Ok(Json(s.store.similar_to_id(&id, q.k, &q.filters).await?).into_response())
}
