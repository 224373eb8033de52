//! Trajectories: the filtered list, one record (whole or a slice of its steps), several
//! for comparison, and adding, changing and deleting them.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, HeaderName, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::value::RawValue;
use trajstore::{FilterSet, ListRequest, Patch, StepRange};

use utoipa::openapi::path::{Parameter, ParameterIn};
use utoipa::openapi::schema::ArrayBuilder;
use utoipa::IntoParams;

use crate::error::{ApiError, ApiResult};
use crate::openapi::{comma_list, enumeration, query, string, Filters, ListParams, Trajectory};
use crate::query::{json_body, FromParams, Params, Query};
use crate::{reply, AppState};

/// A list request and the form of its answer: `?format=json` (the default) or `arrow`.
pub struct ListQuery {
    arrow: bool,
    req: ListRequest,
}

impl FromParams for ListQuery {
    fn from_params(p: Params) -> ApiResult<Self> {
        let (format, rest): (Vec<_>, Vec<_>) = p.iter().partition(|(k, _)| *k == "format");
        let arrow = match format.as_slice() {
            [] | [(_, "json")] => false,
            [(_, "arrow")] => true,
            [(_, other)] => {
                return Err(ApiError::bad_request("format", format!("expected json or arrow, got {other:?}")))
            }
            _ => return Err(ApiError::bad_request("format", "given more than once")),
        };
        Ok(ListQuery { arrow, req: ListRequest::parse(rest).map_err(trajstore::Error::from)? })
    }
}

/// `?format=`.
struct ListFormat;

impl IntoParams for ListFormat {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        let formats = crate::openapi::enumeration(["json", "arrow"]);
        vec![query(
            "format",
            false,
            formats,
            "json (default) or arrow: the page's rows as an Arrow IPC stream, with the total and the next cursor in the X-Total-Count and X-Next-Cursor headers",
        )]
    }
}

/// A filtered, sorted page of summary rows, with the exact total.
#[utoipa::path(get, path = "/api/trajectories", tag = "trajectories", params(ListParams, ListFormat, Filters),
    responses((status = 200, description = "one page of summary rows", content(
        (trajstore::Page = "application/json"), (Vec<u8> = "application/vnd.apache.arrow.stream")))))]
pub async fn list(State(s): State<AppState>, Query(q): Query<ListQuery>) -> ApiResult<Response> {
    let page = s.store.list(&q.req).await?;
    if !q.arrow {
        return Ok(Json(&*page).into_response());
    }
    let body = trajstore::summaries_ipc(&page.data)?;
    let mut headers = vec![
        (header::CONTENT_TYPE, HeaderValue::from_static(trajstore::ARROW_STREAM)),
        (HeaderName::from_static("x-total-count"), HeaderValue::from(page.total)),
    ];
    if let Some(cursor) = &page.next_cursor {
        // A cursor is URL-safe base64: always a valid header value.
        if let Ok(v) = HeaderValue::from_str(cursor) {
            headers.push((HeaderName::from_static("x-next-cursor"), v));
        }
    }
    let mut r = body.into_response();
    for (name, value) in headers {
        r.headers_mut().insert(name, value);
    }
    Ok(r)
}

/// Only filters.
pub struct CountQuery(FilterSet);

impl FromParams for CountQuery {
    fn from_params(p: Params) -> ApiResult<Self> {
        Ok(CountQuery(p.split_filters(&[])?.1))
    }
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct Count {
    /// Trajectories matching the filters.
    total: u64,
    /// The store's version when they were counted: any write by any process changes it.
    dataset_version: u64,
}

/// The number of trajectories matching the filters and the store's version: a cheap
/// poll for new data (counts are cached per version and, in `serve`, come from the
/// in-memory index).
#[utoipa::path(get, path = "/api/count", tag = "trajectories", params(Filters),
    responses((status = 200, description = "the count", body = Count)))]
pub async fn count(State(s): State<AppState>, Query(CountQuery(filters)): Query<CountQuery>) -> ApiResult<Response> {
    let dataset_version = s.store.version().await?;
    let total = s.store.count(&filters).await?;
    Ok(Json(Count { total, dataset_version }).into_response())
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

impl IntoParams for GetQuery {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        // Either side may be left out; at most 18 digits (a usize).
        let range = string().pattern(Some("^[0-9]{0,18}:[0-9]{0,18}$"));
        vec![query("steps", false, range, "FROM:TO (0-based, TO excluded): only these steps, with steps_range")]
    }
}

/// One whole trajectory, or a slice of its steps.
#[utoipa::path(get, path = "/api/trajectories/{id}", tag = "trajectories",
    params(("id" = String, Path, description = "the trajectory_id"), GetQuery),
    responses((status = 200, description = "the trajectory", body = Trajectory)))]
pub async fn get_one(
    State(s): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<GetQuery>,
) -> ApiResult<Response> {
    Ok(reply::json_text(s.store.get_json(&id, q.steps).await?))
}

/// Most trajectories one comparison loads (each may be megabytes).
const MAX_COMPARE: usize = 10;

/// `?ids=a,b,c` (the parameter may be repeated) and `align=index|actions`.
pub struct CompareQuery {
    ids: Vec<String>,
    by_actions: bool,
}

impl FromParams for CompareQuery {
    fn from_params(p: Params) -> ApiResult<Self> {
        let mut ids: Vec<String> = Vec::new();
        let mut by_actions = false;
        for (k, v) in p.iter() {
            match k {
                "ids" => ids.extend(v.split(',').map(str::trim).filter(|s| !s.is_empty()).map(String::from)),
                "align" => {
                    by_actions = match v {
                        "index" => false,
                        "actions" => true,
                        other => {
                            return Err(ApiError::bad_request(
                                "align",
                                format!("expected index or actions, got {other:?}"),
                            ))
                        }
                    }
                }
                other => {
                    return Err(ApiError::bad_request(other, "unknown parameter; expected ids=ID,ID,... and align"))
                }
            }
        }
        if ids.is_empty() || ids.len() > MAX_COMPARE {
            return Err(ApiError::bad_request(
                "ids",
                format!("expected 1 to {MAX_COMPARE} comma-separated trajectory ids, got {}", ids.len()),
            ));
        }
        Ok(CompareQuery { ids, by_actions })
    }
}

impl IntoParams for CompareQuery {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        // An id holds no comma and is not only spaces (those are dropped as empty).
        let id = string().pattern(Some(r"^[^,]*[^\s,][^,]*$"));
        let ids = ArrayBuilder::new().items(id).min_items(Some(1)).max_items(Some(MAX_COMPARE));
        vec![
            comma_list("ids", true, ids, "1 to 10 comma-separated trajectory ids"),
            query(
                "align",
                false,
                enumeration(["index", "actions"]),
                "actions: also align the steps by their actions (tool calls and arguments) and give the alignment",
            ),
        ]
    }
}

#[derive(serde::Serialize, utoipa::ToSchema)]
struct Comparison {
    /// The trajectories found, in the order asked.
    #[schema(value_type = Vec<Trajectory>)]
    data: Vec<Box<RawValue>>,
    /// The ids not found.
    missing: Vec<String>,
    /// With `align=actions`: the rows of the found trajectories' steps aligned by their
    /// actions, and the first row where they part.
    #[serde(skip_serializing_if = "Option::is_none")]
    alignment: Option<trajstore::Alignment>,
}

/// The whole records, in the order asked, for the compare page; ids not found are listed
/// under `missing`.
/// Whole records of up to 10 trajectories, for side-by-side comparison.
#[utoipa::path(get, path = "/api/compare", tag = "trajectories", params(CompareQuery),
    responses((status = 200, description = "the trajectories found and the ids not found", body = Comparison)))]
pub async fn compare(State(s): State<AppState>, Query(q): Query<CompareQuery>) -> ApiResult<Response> {
    let mut found = Comparison { data: Vec::with_capacity(q.ids.len()), missing: Vec::new(), alignment: None };
    for id in q.ids {
        match s.store.get_json(&id, None).await {
            Ok(record) => found
                .data
                .push(RawValue::from_string(record).map_err(|e| trajstore::Error::internal("a stored record", e))?),
            Err(trajstore::Error::NotFound { .. }) => found.missing.push(id),
            Err(e) => return Err(e.into()),
        }
    }
    if q.by_actions {
        let records: Vec<String> = found.data.iter().map(|r| r.get().to_string()).collect();
        let aligned = tokio::task::spawn_blocking(move || trajstore::align_records(&records))
            .await
            .map_err(|e| trajstore::Error::internal("aligning steps", e))?;
        found.alignment = Some(aligned?);
    }
    Ok(Json(found).into_response())
}

/// Adds one trajectory or an array of them (de-duplicated by trajectory_id); the records
/// refused are listed by index and field.
#[utoipa::path(post, path = "/api/trajectories", tag = "trajectories",
    request_body(content = crate::openapi::NewTrajectories, content_type = "application/json"),
    responses(
        (status = 200, description = "every record stored or already there", body = trajstore::AddReport),
        (status = 207, description = "an array with records refused (listed in errors)", body = trajstore::AddReport),
        (status = 400, description = "the one record refused", body = trajstore::AddReport)))]
pub async fn add(State(s): State<AppState>, body: Bytes) -> ApiResult<Response> {
    let array = body.trim_ascii_start().first() == Some(&b'[');
    Ok(reply::added(s.store.add_json(body).await?, array))
}

/// The body of `PATCH /api/trajectories/{id}`: at least one field.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(min_properties = 1)]
pub struct PatchBody {
    /// Not null: leave it out to keep it.
    #[serde(default, deserialize_with = "not_null")]
    #[schema(nullable = false)]
    is_bookmarked: Option<bool>,
    /// Not null: leave it out to keep them.
    #[serde(default, deserialize_with = "not_null")]
    #[schema(nullable = false, value_type = Option<Vec<crate::openapi::Tag>>)]
    tags: Option<Vec<String>>,
    /// `null` clears the notes; leaving the field out keeps them.
    #[serde(default, deserialize_with = "present")]
    notes: Option<Option<String>>,
}

/// A field that, when given, is not `null`.
fn not_null<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}

/// A field given (even as `null`), told apart from one left out.
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

/// Changes is_bookmarked, tags or notes; answers the summary row.
#[utoipa::path(patch, path = "/api/trajectories/{id}", tag = "trajectories",
    params(("id" = String, Path, description = "the trajectory_id")), request_body = PatchBody,
    responses((status = 200, description = "the changed summary row", body = trajstore::Summary)))]
pub async fn patch(State(s): State<AppState>, Path(id): Path<String>, body: Bytes) -> ApiResult<Response> {
    let body: PatchBody = json_body(&body)?;
    let patch = Patch { is_bookmarked: body.is_bookmarked, tags: body.tags, notes: body.notes };
    if patch == Patch::default() {
        return Err(ApiError::bad_request("body", "nothing to change: give is_bookmarked, tags or notes"));
    }
    Ok(Json(s.store.update(&id, &patch).await?).into_response())
}

/// Deletes one trajectory.
#[utoipa::path(delete, path = "/api/trajectories/{id}", tag = "trajectories",
    params(("id" = String, Path, description = "the trajectory_id")),
    responses((status = 204, description = "deleted")))]
pub async fn delete(State(s): State<AppState>, Path(id): Path<String>) -> ApiResult<Response> {
    s.store.delete(&id).await?;
    Ok(reply::no_content())
}
