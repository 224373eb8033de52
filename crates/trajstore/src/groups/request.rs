//! The requests of the training views, parsed from query pairs, and the documents they
//! answer with.

use serde::Serialize;
use serde_json::{Map, Value};
use trajstore_query::{parse_count, FilterSet, Order};
use trajstore_stats::groups::{Advantage, GroupKind, GroupStats, StdKind};

use crate::stats::{group_column, parse_ks, parse_threshold, MAX_GROUP_BY};
use crate::{Error, Result};

/// The grouping keys when `by` is not given: one group per prompt per training step.
pub const DEFAULT_GROUP_BY: [&str; 2] = ["training_id", "iteration_id"];

/// The orders of groups: `spread` is `reward_max - reward_min`.
pub const GROUP_SORTS: &[&str] = &["spread", "reward_mean", "reward_std", "success_rate", "n", "data_id"];

pub const DEFAULT_GROUPS_PAGE_SIZE: u64 = 50;
pub const MAX_GROUPS_PAGE_SIZE: u64 = 1000;

/// `GET /api/groups` and `trajstore groups`.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupsRequest {
    pub filters: FilterSet,
    pub by: Vec<&'static str>,
    pub kind: Option<GroupKind>,
    pub sort: &'static str,
    pub order: Order,
    pub page: u64,
    pub page_size: u64,
    pub std: StdKind,
    pub success_threshold: f64,
}

impl Default for GroupsRequest {
    fn default() -> Self {
        GroupsRequest {
            filters: FilterSet::default(),
            by: DEFAULT_GROUP_BY.to_vec(),
            kind: None,
            sort: "spread",
            order: Order::Desc,
            page: 1,
            page_size: DEFAULT_GROUPS_PAGE_SIZE,
            std: StdKind::Sample,
            success_threshold: 1.0,
        }
    }
}

fn parse_std(value: &str) -> Result<StdKind> {
    StdKind::parse(value).ok_or_else(|| Error::invalid("std", format!("expected sample or population, got {value:?}")))
}

/// `by`: grouping columns from the statistics' fixed list, `data_id` excluded (it is
/// always the last key).
fn parse_by(value: &str) -> Result<Vec<&'static str>> {
    let mut by = Vec::new();
    for name in value.split(',').map(str::trim).filter(|g| !g.is_empty()) {
        let c = group_column(name, "by")?;
        if c == "data_id" {
            return Err(Error::invalid("by", "data_id is always a group key; name the keys above it"));
        }
        if by.contains(&c) {
            return Err(Error::invalid("by", format!("{c} is given twice")));
        }
        by.push(c);
    }
    if by.len() > MAX_GROUP_BY - 1 {
        return Err(Error::invalid("by", format!("at most {} columns", MAX_GROUP_BY - 1)));
    }
    Ok(by)
}

impl GroupsRequest {
    /// Parses `by`, `kind`, `sort`, `order`, `page`, `page_size`, `std`,
    /// `success_threshold` and every trajectory filter from query pairs.
    pub fn parse<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Result<Self> {
        let mut req = GroupsRequest::default();
        let mut filters = Vec::new();
        let mut order = None;
        const SINGLE: [&str; 8] = ["by", "kind", "sort", "order", "page", "page_size", "std", "success_threshold"];
        let mut seen = [false; SINGLE.len()];
        for (name, value) in pairs {
            // A second value would silently win.
            if let Some(i) = SINGLE.iter().position(|s| *s == name) {
                if std::mem::replace(&mut seen[i], true) {
                    return Err(Error::invalid(name, "given more than once"));
                }
            }
            match name {
                "by" => req.by = parse_by(value)?,
                "kind" if value.is_empty() => req.kind = None,
                "kind" => {
                    req.kind = Some(GroupKind::parse(value).ok_or_else(|| {
                        Error::invalid("kind", "expected mixed, all_success, all_fail or zero_variance")
                    })?)
                }
                "sort" => {
                    req.sort = GROUP_SORTS.iter().find(|s| **s == value).copied().ok_or_else(|| {
                        Error::invalid(
                            "sort",
                            format!("cannot sort groups by {value:?}; choose from {}", GROUP_SORTS.join(", ")),
                        )
                    })?
                }
                "order" => order = Some(Order::parse(value)?),
                "page" => req.page = parse_count("page", value, 1, u64::MAX / MAX_GROUPS_PAGE_SIZE)?,
                "page_size" => req.page_size = parse_count("page_size", value, 1, MAX_GROUPS_PAGE_SIZE)?,
                "std" => req.std = parse_std(value)?,
                "success_threshold" => req.success_threshold = parse_threshold(value)?,
                _ => filters.push((name, value)),
            }
        }
        // Text sorts read best ascending, figures descending.
        req.order = order.unwrap_or(if req.sort == "data_id" { Order::Asc } else { Order::Desc });
        req.filters = FilterSet::parse(filters)?;
        Ok(req)
    }

    pub(super) fn cache_key(&self) -> String {
        format!(
            "groups|{:?}|{:?}|{:?}|{}|{:?}|{}|{}|{:?}|{}",
            self.filters.to_sql(),
            self.by,
            self.kind,
            self.sort,
            self.order,
            self.page,
            self.page_size,
            self.std,
            self.success_threshold
        )
    }
}

/// One group of a page.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct GroupRow {
    /// The grouping keys' values, by column name.
    #[schema(value_type = Object)]
    pub keys: Map<String, Value>,
    pub data_id: String,
    #[serde(flatten)]
    pub stats: GroupStats,
}

/// Groups of each kind among the groups the filters keep.
#[derive(Debug, Clone, Default, PartialEq, Serialize, utoipa::ToSchema)]
pub struct KindCounts {
    pub mixed: u64,
    pub all_success: u64,
    pub all_fail: u64,
    pub zero_variance: u64,
    /// Groups whose rewards are all equal, whatever their kind (no GRPO gradient).
    pub no_gradient: u64,
}

/// One page of groups: the document of `trajstore groups --json` and `GET /api/groups`.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct GroupsPage {
    pub data: Vec<GroupRow>,
    /// Groups kept (all pages together), after `kind`.
    pub total: u64,
    pub page: u64,
    pub page_size: u64,
    pub by: Vec<&'static str>,
    /// Over the kept groups, before `kind`.
    pub kinds: KindCounts,
    /// Matching trajectories without a `data_id`, which belong to no group.
    pub ungrouped: u64,
}

/// One member of a group.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct GroupMember {
    pub trajectory_id: String,
    pub sample_id: Option<i64>,
    pub reward: Option<f64>,
    /// By the success rule (`is_success`, else `reward >= success_threshold`).
    pub success: bool,
    pub step_count: i64,
    pub termination_reason: Option<String>,
    #[serde(flatten)]
    pub advantage: Advantage,
}

/// `GET /api/groups/{training_id}/{iteration_id}/{data_id}` and `groups --show`.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct GroupDetail {
    #[schema(value_type = Object)]
    pub keys: Map<String, Value>,
    pub data_id: String,
    #[serde(flatten)]
    pub stats: GroupStats,
    /// Best reward first; members without a reward last.
    pub members: Vec<GroupMember>,
    pub std: &'static str,
    pub eps: f64,
}

/// Which group `group` shows, and how advantages are normalised.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupKeyRequest {
    /// Each grouping key and its value (`None`: the member has no value there).
    pub keys: Vec<(&'static str, Option<Value>)>,
    pub data_id: String,
    pub std: StdKind,
    pub eps: f64,
    pub success_threshold: f64,
}

impl GroupKeyRequest {
    /// `values` are the grouping keys' values in the order of `by`; `~` stands for no
    /// value. `std`, `eps` and `success_threshold` come from `pairs`.
    pub fn parse<'a>(
        by: &[&'static str],
        values: &[&str],
        data_id: &str,
        pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Self> {
        let mut keys = Vec::new();
        for (column, value) in by.iter().zip(values) {
            let value = match *value {
                "~" => None,
                v if crate::stats::is_integer_group(column) => Some(Value::from(v.parse::<i64>().map_err(|_| {
                    Error::invalid(*column, format!("expected an integer or ~ (no value), got {v:?}"))
                })?)),
                v => Some(Value::from(v)),
            };
            keys.push((*column, value));
        }
        let mut req = GroupKeyRequest {
            keys,
            data_id: data_id.to_string(),
            std: StdKind::Sample,
            eps: 1e-6,
            success_threshold: 1.0,
        };
        for (name, value) in pairs {
            match name {
                "std" => req.std = parse_std(value)?,
                "eps" => {
                    req.eps = match value.trim().parse::<f64>() {
                        Ok(v) if v.is_finite() && v >= 0.0 => v,
                        _ => return Err(Error::invalid("eps", format!("expected a number >= 0, got {value:?}"))),
                    }
                }
                "success_threshold" => req.success_threshold = parse_threshold(value)?,
                _ => return Err(Error::invalid(name, "unknown parameter; expected std, eps or success_threshold")),
            }
        }
        Ok(req)
    }
}

/// `GET /api/diff-runs` and `trajstore diff-runs`: two sides, each a set of filters.
#[derive(Debug, Clone, PartialEq)]
pub struct DiffRequest {
    pub a: (String, FilterSet),
    pub b: (String, FilterSet),
    pub solved_threshold: f64,
    pub success_threshold: f64,
    pub ks: Vec<u64>,
    pub seed: u64,
}

/// A side's filters as `NAME=VALUE` joined by `,` (`training_id=run-7,iteration_id=100`),
/// or by `&` as in a query string.
fn parse_side(parameter: &str, value: &str) -> Result<FilterSet> {
    let mut pairs = Vec::new();
    for part in value.split([',', '&']).map(str::trim).filter(|p| !p.is_empty()) {
        let (name, v) = part
            .split_once('=')
            .ok_or_else(|| Error::invalid(parameter, format!("expected NAME=VALUE, got {part:?}")))?;
        pairs.push((name.trim(), v.trim()));
    }
    if pairs.is_empty() {
        return Err(Error::invalid(parameter, "expected one or more NAME=VALUE filters, e.g. training_id=run-7"));
    }
    FilterSet::parse(pairs).map_err(|e| Error::invalid(parameter, format!("{}: {}", e.parameter, e.message)))
}

impl DiffRequest {
    /// Parses `a`, `b`, `solved_threshold`, `success_threshold`, `k` and `seed`.
    pub fn parse<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Result<Self> {
        let (mut a, mut b) = (None, None);
        let mut req = DiffRequest {
            a: (String::new(), FilterSet::default()),
            b: (String::new(), FilterSet::default()),
            solved_threshold: 0.5,
            success_threshold: 1.0,
            ks: vec![1],
            seed: 0,
        };
        for (name, value) in pairs {
            match name {
                "a" => a = Some((value.to_string(), parse_side("a", value)?)),
                "b" => b = Some((value.to_string(), parse_side("b", value)?)),
                "solved_threshold" => {
                    req.solved_threshold = match value.trim().parse::<f64>() {
                        Ok(v) if (0.0..=1.0).contains(&v) => v,
                        _ => return Err(Error::invalid(name, format!("expected a number from 0 to 1, got {value:?}"))),
                    }
                }
                "success_threshold" => req.success_threshold = parse_threshold(value)?,
                "k" => req.ks = parse_ks(value)?,
                "seed" => {
                    req.seed = value
                        .trim()
                        .parse()
                        .map_err(|_| Error::invalid("seed", format!("expected an integer, got {value:?}")))?
                }
                _ => {
                    return Err(Error::invalid(
                        name,
                        "unknown parameter; expected a, b, solved_threshold, success_threshold, k or seed",
                    ))
                }
            }
        }
        req.a = a.ok_or_else(|| Error::invalid("a", "required: the filters of side a"))?;
        req.b = b.ok_or_else(|| Error::invalid("b", "required: the filters of side b"))?;
        if !req.ks.contains(&1) {
            req.ks.insert(0, 1);
        }
        Ok(req)
    }
}
