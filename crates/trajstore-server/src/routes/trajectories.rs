//! Trajectories: the filtered list, one record (whole or a slice of its steps), several
//! for comparison, and adding, changing and deleting them.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Deserializer};
use serde_json::value::RawValue;
use trajstore::{ListRequest, Patch, StepRange};

use crate::error::{ApiError, ApiResult};
use crate::query::{json_body, FromParams, Params, Query};
use crate::{reply, AppState};

pub async fn list(State(s): State<AppState>, Query(req): Query<ListRequest>) -> ApiResult<Response> {
    Ok(Json(&*s.store.list(&req).await?).into_response())
}

/// `?steps=FROM:TO`.
pub struct GetQuery {
    steps: Option<StepRange>,
}

impl FromParams for GetQuery {
    fn from_params(p: Params) -> ApiResult<Self> {
        p.only(&["steps"])?;
        Ok(GetQuery { steps: p.get("steps").map(str::parse).transpose()? })
    }
}

pub async fn get_one(
    State(s): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<GetQuery>,
) -> ApiResult<Response> {
    Ok(reply::json_text(s.store.get_json(&id, q.steps).await?))
}

/// Most trajectories one comparison loads (each may be megabytes).
const MAX_COMPARE: usize = 10;

/// `?ids=a,b,c` (the parameter may be repeated).
pub struct CompareQuery {
    ids: Vec<String>,
}

impl FromParams for CompareQuery {
    fn from_params(p: Params) -> ApiResult<Self> {
        let mut ids: Vec<String> = Vec::new();
        for (k, v) in p.iter() {
            match k {
                "ids" => ids.extend(v.split(',').map(str::trim).filter(|s| !s.is_empty()).map(String::from)),
                other => return Err(ApiError::bad_request(other, "unknown parameter; expected ids=ID,ID,...")),
            }
        }
        if ids.is_empty() || ids.len() > MAX_COMPARE {
            return Err(ApiError::bad_request(
                "ids",
                format!("expected 1 to {MAX_COMPARE} comma-separated trajectory ids, got {}", ids.len()),
            ));
        }
        Ok(CompareQuery { ids })
    }
}

#[derive(serde::Serialize)]
struct Comparison {
    data: Vec<Box<RawValue>>,
    missing: Vec<String>,
}

/// The whole records, in the order asked, for the compare page; ids not found are listed
/// under `missing`.
pub async fn compare(State(s): State<AppState>, Query(q): Query<CompareQuery>) -> ApiResult<Response> {
    let mut found = Comparison { data: Vec::with_capacity(q.ids.len()), missing: Vec::new() };
    for id in q.ids {
        match s.store.get_json(&id, None).await {
            Ok(record) => found
                .data
                .push(RawValue::from_string(record).map_err(|e| trajstore::Error::internal("a stored record", e))?),
            Err(trajstore::Error::NotFound { .. }) => found.missing.push(id),
            Err(e) => return Err(e.into()),
        }
    }
    Ok(Json(found).into_response())
}

/// `POST /api/trajectories`: one object or an array; errors name the index and field.
pub async fn add(State(s): State<AppState>, body: Bytes) -> ApiResult<Response> {
    Ok(reply::added(s.store.add_json(body).await?))
}

/// The body of `PATCH /api/trajectories/{id}`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PatchBody {
    is_bookmarked: Option<bool>,
    tags: Option<Vec<String>>,
    /// `null` clears the notes; leaving the field out keeps them.
    #[serde(default, deserialize_with = "present")]
    notes: Option<Option<String>>,
}

/// A field given (even as `null`), told apart from one left out.
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

pub async fn patch(State(s): State<AppState>, Path(id): Path<String>, body: Bytes) -> ApiResult<Response> {
    let body: PatchBody = json_body(&body)?;
    let patch = Patch { is_bookmarked: body.is_bookmarked, tags: body.tags, notes: body.notes };
    if patch == Patch::default() {
        return Err(ApiError::bad_request("body", "nothing to change: give is_bookmarked, tags or notes"));
    }
    Ok(Json(s.store.update(&id, &patch).await?).into_response())
}

pub async fn delete(State(s): State<AppState>, Path(id): Path<String>) -> ApiResult<Response> {
    s.store.delete(&id).await?;
    Ok(reply::no_content())
}
