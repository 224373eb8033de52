//! RL training views: the prompt groups of a step, one group with its members'
//! advantages, and the tasks learned or forgotten between two sides of a run.

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::Json;
use trajstore::{DiffRequest, GroupKeyRequest, GroupsRequest, DEFAULT_GROUP_BY};
use utoipa::openapi::path::{Parameter, ParameterIn};
use utoipa::openapi::schema::ArrayBuilder;
use utoipa::IntoParams;

use crate::error::ApiResult;
use crate::openapi::{comma_list, enumeration, integer, number, orders, query, string, success_threshold, Filters};
use crate::query::{FromParams, Params, Query};
use crate::AppState;

impl FromParams for GroupsRequest {
    fn from_params(p: Params) -> ApiResult<Self> {
        Ok(GroupsRequest::parse(p.iter())?)
    }
}

impl FromParams for DiffRequest {
    fn from_params(p: Params) -> ApiResult<Self> {
        p.only(&["a", "b", "solved_threshold", "success_threshold", "k", "seed"])?;
        Ok(DiffRequest::parse(p.iter())?)
    }
}

fn std_param() -> Parameter {
    query(
        "std",
        false,
        enumeration(["sample", "population"]),
        "the standard deviation of rewards: sample (n - 1, as torch.std; default) or population",
    )
}

/// The parameters of `trajstore::GroupsRequest`.
pub struct GroupsParams;

impl IntoParams for GroupsParams {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        let keys = trajstore::group_columns().iter().map(|(c, _)| *c).filter(|c| *c != "data_id");
        let by = ArrayBuilder::new()
            .items(enumeration(keys))
            .max_items(Some(trajstore::MAX_GROUP_BY - 1))
            .unique_items(true);
        let kinds = trajstore::GroupKind::ALL.map(trajstore::GroupKind::name);
        vec![
            comma_list(
                "by",
                false,
                by,
                "comma-separated keys a group is within, besides data_id (default training_id,iteration_id)",
            ),
            query("kind", false, enumeration(kinds.into_iter().chain([""])), "only groups of this kind"),
            query("sort", false, enumeration(trajstore::GROUP_SORTS.iter().copied()), "group order (default spread)"),
            query("order", false, enumeration(orders()), "default desc (asc for data_id)"),
            query("page", false, integer(1, (u64::MAX / 1000) as i64), "1-based page number (default 1)"),
            query("page_size", false, integer(1, 1000), "groups per page (default 50)"),
            std_param(),
            success_threshold(),
        ]
    }
}

/// The prompt groups of the matching trajectories: one row per (grouping keys, data_id)
/// with reward statistics and kind, sorted over all groups, with the exact total. A group
/// is kept when any member matches the filters; its statistics cover every member.
#[utoipa::path(get, path = "/api/groups", tag = "training", params(GroupsParams, Filters),
    responses((status = 200, description = "one page of groups", body = trajstore::GroupsPage)))]
pub async fn list(State(s): State<AppState>, Query(req): Query<GroupsRequest>) -> ApiResult<Response> {
    Ok(Json(&*s.store.groups(&req).await?).into_response())
}

/// `?std=&eps=&success_threshold=` of one group.
pub struct GroupQuery(Params);

impl FromParams for GroupQuery {
    fn from_params(p: Params) -> ApiResult<Self> {
        p.only(&["std", "eps", "success_threshold"])?;
        Ok(GroupQuery(p))
    }
}

impl IntoParams for GroupQuery {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        let eps = number().minimum(Some(0.0));
        vec![
            std_param(),
            query("eps", false, eps, "added to the std in GRPO's advantage (default 1e-6)"),
            success_threshold(),
        ]
    }
}

/// One group (of the default keys training_id, iteration_id): its statistics and its
/// members, best reward first, each with its GRPO and RLOO advantage and rank. `~` in a
/// key stands for no value.
#[utoipa::path(get, path = "/api/groups/{training_id}/{iteration_id}/{data_id}", tag = "training",
    params(
        ("training_id" = String, Path, description = "the run, or ~ for none"),
        ("iteration_id" = String, Path, pattern = "^(~|[+-]?[0-9]{1,18})$", description = "the step, or ~ for none"),
        ("data_id" = String, Path, description = "the prompt"),
        GroupQuery
    ),
    responses((status = 200, description = "the group", body = trajstore::GroupDetail)))]
pub async fn get_one(
    State(s): State<AppState>,
    Path((training_id, iteration_id, data_id)): Path<(String, String, String)>,
    Query(q): Query<GroupQuery>,
) -> ApiResult<Response> {
    let req = GroupKeyRequest::parse(&DEFAULT_GROUP_BY, &[&training_id, &iteration_id], &data_id, q.0.iter())?;
    Ok(Json(s.store.group(&req).await?).into_response())
}

/// The parameters of `trajstore::DiffRequest`.
pub struct DiffParams;

impl IntoParams for DiffParams {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        // A side's usual filters: the run, task, agent or model by name, the step, epoch or
        // sample by number. Other filters are accepted too (`reward_min=0.5`); a pattern
        // naming every filter's value type would be longer than it helps.
        let item =
            "((training_id|data_id|agent_name|model)=[A-Za-z0-9_.-]+|(epoch_id|iteration_id|sample_id)=[0-9]{1,9})";
        let pattern = format!("^{item}(,{item})*$");
        let side = |name: &str| {
            let pattern = string().pattern(Some(pattern.clone()));
            query(
                name,
                true,
                pattern,
                "the side's filters: NAME=VALUE[,NAME=VALUE...], e.g. training_id=run-7,iteration_id=100",
            )
        };
        let ks = ArrayBuilder::new().items(integer(1, 1024)).min_items(Some(1));
        vec![
            side("a"),
            side("b"),
            query(
                "solved_threshold",
                false,
                number().minimum(Some(0.0)).maximum(Some(1.0)),
                "a task is solved on a side when its success rate there is at least this (default 0.5)",
            ),
            success_threshold(),
            comma_list("k", false, ks, "comma-separated k of pass@k and pass^k per side (1 is always given)"),
            query("seed", false, integer(0, i64::MAX), "seed of the bootstrap interval (default 0)"),
        ]
    }
}

/// Tasks (data_id) learned, forgotten, stayed solved and stayed unsolved between side a
/// and side b, those on one side only, and the change in pass@1 over the shared tasks
/// with a seeded bootstrap 95% interval.
#[utoipa::path(get, path = "/api/diff-runs", tag = "training", params(DiffParams),
    responses((status = 200, description = "the comparison", body = trajstore::RunDiff)))]
pub async fn diff_runs(State(s): State<AppState>, Query(req): Query<DiffRequest>) -> ApiResult<Response> {
    Ok(Json(s.store.diff_runs(&req).await?).into_response())
}
