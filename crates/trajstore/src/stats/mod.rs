//! Statistics over a filtered set: overall, per group, and curves over training.
//! Reads only narrow summary columns; cached under the dataset version.

use std::sync::Arc;

use arrow_array::{Array, BooleanArray, Float64Array, Int64Array, RecordBatch, StringArray};
use futures::TryStreamExt;
use serde_json::Value;
use trajstore_model::ColumnType;
use trajstore_query::FilterSet;
use trajstore_stats::{Accumulator, FastMap, Sample, Statistics, StatsConfig, TaskGroups, METRICS};
use trajstore_store::Columns;

use crate::{Cached, Error, Result, Trajstore};

mod report;
pub use report::{Curve, CurvePoint, StatsGroup, StatsReport, CURVE_FIGURES};

/// Columns statistics can be grouped by (a fixed list: no user text reaches a query).
const GROUP_COLUMNS: &[(&str, bool)] = &[
    // (column, is_integer)
    ("training_id", false),
    ("agent_name", false),
    ("data_id", false),
    ("termination_reason", false),
    ("failure_mode", false),
    ("source", false),
    ("epoch_id", true),
    ("iteration_id", true),
    ("sample_id", true),
    // Grouping by step count gives the step-count distribution the UI charts.
    ("step_count", true),
];
const MAX_GROUP_COLUMNS: usize = 4;

/// The columns statistics can be grouped by (`group_by`, `series`) and whether each holds
/// integers (else text), for documents.
pub fn group_columns() -> &'static [(&'static str, bool)] {
    GROUP_COLUMNS
}

/// Whether a grouping column holds integers (else text).
pub(crate) fn is_integer_group(column: &str) -> bool {
    GROUP_COLUMNS.iter().any(|(c, int)| *c == column && *int)
}

/// The most columns one `group_by` may name.
pub const MAX_GROUP_BY: usize = MAX_GROUP_COLUMNS;

/// The x axes of curves.
pub const CURVE_X: &[&str] = &["epoch_id", "iteration_id"];

#[derive(Debug, Clone, PartialEq)]
pub struct StatsRequest {
    pub filters: FilterSet,
    pub group_by: Vec<&'static str>,
    pub ks: Vec<u64>,
    pub success_threshold: f64,
}

/// Points for a training plot: one per (series value, x value).
#[derive(Debug, Clone, PartialEq)]
pub struct CurveRequest {
    pub filters: FilterSet,
    pub x: &'static str,
    pub series: Option<&'static str>,
    pub ks: Vec<u64>,
    pub success_threshold: f64,
}

pub(crate) fn group_column(name: &str, parameter: &str) -> Result<&'static str> {
    GROUP_COLUMNS.iter().map(|(c, _)| *c).find(|c| *c == name).ok_or_else(|| {
        Error::invalid(
            parameter,
            format!(
                "cannot group by {name:?}; choose from {}",
                GROUP_COLUMNS.iter().map(|(c, _)| *c).collect::<Vec<_>>().join(", ")
            ),
        )
    })
}

pub fn parse_ks(value: &str) -> Result<Vec<u64>> {
    let mut ks = Vec::new();
    for part in value.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        match part.parse::<u64>() {
            Ok(k) if (1..=1024).contains(&k) => {
                if !ks.contains(&k) {
                    ks.push(k)
                }
            }
            _ => return Err(Error::invalid("k", format!("expected integers from 1 to 1024, got {part:?}"))),
        }
    }
    if ks.is_empty() {
        return Err(Error::invalid("k", "expected one or more integers, e.g. 1,4,8"));
    }
    Ok(ks)
}

pub(crate) fn parse_threshold(value: &str) -> Result<f64> {
    match value.trim().parse::<f64>() {
        Ok(v) if v.is_finite() => Ok(v),
        _ => Err(Error::invalid("success_threshold", format!("expected a number, got {value:?}"))),
    }
}

impl StatsRequest {
    /// Parses `group_by`, `k`, `success_threshold` and every filter from query pairs.
    pub fn parse<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Result<Self> {
        let mut req =
            StatsRequest { filters: FilterSet::default(), group_by: Vec::new(), ks: vec![1], success_threshold: 1.0 };
        let mut filters = Vec::new();
        for (name, value) in pairs {
            match name {
                "group_by" => {
                    for g in value.split(',').map(str::trim).filter(|g| !g.is_empty()) {
                        let c = group_column(g, "group_by")?;
                        if req.group_by.contains(&c) {
                            return Err(Error::invalid("group_by", format!("{c} is given twice")));
                        }
                        req.group_by.push(c);
                    }
                    if req.group_by.len() > MAX_GROUP_COLUMNS {
                        return Err(Error::invalid("group_by", format!("at most {MAX_GROUP_COLUMNS} columns")));
                    }
                }
                "k" => req.ks = parse_ks(value)?,
                "success_threshold" => req.success_threshold = parse_threshold(value)?,
                _ => filters.push((name, value)),
            }
        }
        req.filters = FilterSet::parse(filters)?;
        Ok(req)
    }
}

impl CurveRequest {
    /// Parses `x` (epoch_id or iteration_id), `series`, `k`, `success_threshold`, filters.
    pub fn parse<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Result<Self> {
        let mut req = CurveRequest {
            filters: FilterSet::default(),
            x: "epoch_id",
            series: Some("training_id"),
            ks: vec![1],
            success_threshold: 1.0,
        };
        let mut filters = Vec::new();
        for (name, value) in pairs {
            match name {
                "x" | "curve" => {
                    req.x = match CURVE_X.iter().find(|x| **x == value) {
                        Some(x) => x,
                        None => {
                            return Err(Error::invalid(
                                name,
                                format!("expected epoch_id or iteration_id, got {value:?}"),
                            ))
                        }
                    }
                }
                "series" if value.is_empty() || value == "none" => req.series = None,
                "series" => req.series = Some(group_column(value, "series")?),
                "k" => req.ks = parse_ks(value)?,
                "success_threshold" => req.success_threshold = parse_threshold(value)?,
                _ => filters.push((name, value)),
            }
        }
        req.filters = FilterSet::parse(filters)?;
        Ok(req)
    }
}

/// Assigns small ids to distinct values, so rows group by integers, not strings.
#[derive(Default)]
pub(crate) struct Interner {
    strings: FastMap<Box<str>, u32>,
    ints: FastMap<i64, u32>,
    values: Vec<Value>,
}

impl Interner {
    pub(crate) fn str(&mut self, s: Option<&str>) -> u32 {
        let Some(s) = s else { return u32::MAX };
        if let Some(&id) = self.strings.get(s) {
            return id;
        }
        let id = self.values.len() as u32;
        self.values.push(Value::from(s));
        self.strings.insert(s.into(), id);
        id
    }
    pub(crate) fn int(&mut self, v: Option<i64>) -> u32 {
        let Some(v) = v else { return u32::MAX };
        *self.ints.entry(v).or_insert_with(|| {
            self.values.push(Value::from(v));
            (self.values.len() - 1) as u32
        })
    }
    pub(crate) fn value(&self, id: u32) -> Value {
        if id == u32::MAX {
            Value::Null
        } else {
            self.values[id as usize].clone()
        }
    }
}

/// Task ids: by `data_id`, else by question, else one task per trajectory. Three maps
/// (not one map of prefixed strings) so that a lookup never allocates.
#[derive(Default)]
struct TaskIds {
    maps: [FastMap<Box<str>, u32>; 3],
    next: u32,
}

impl TaskIds {
    fn id(&mut self, data_id: Option<&str>, question: Option<&str>, trajectory_id: &str) -> u32 {
        let (map, key) = match (data_id, question) {
            (Some(d), _) => (&mut self.maps[0], d),
            (None, Some(q)) => (&mut self.maps[1], q),
            (None, None) => (&mut self.maps[2], trajectory_id),
        };
        if let Some(&id) = map.get(key) {
            return id;
        }
        let id = self.next;
        self.next += 1;
        map.insert(key.into(), id);
        id
    }
}

type GroupKey = [u32; MAX_GROUP_COLUMNS];

struct Grouped {
    overall: Statistics,
    groups: Vec<GroupResult>,
}

/// One group of a pass: its key values (one per grouping column), its statistics, and
/// its tasks seen as prompt groups.
struct GroupResult {
    key: Vec<Value>,
    stats: Statistics,
    tasks: TaskGroups,
}

fn opt_f64(a: &Float64Array, i: usize) -> Option<f64> {
    a.is_valid(i).then(|| a.value(i))
}
fn opt_str(a: &StringArray, i: usize) -> Option<&str> {
    a.is_valid(i).then(|| a.value(i))
}

/// A numeric column statistics aggregate, as its Arrow array.
enum Metric<'a> {
    Int(&'a Int64Array),
    Float(&'a Float64Array),
}

impl Metric<'_> {
    fn value(&self, i: usize) -> Option<f64> {
        match self {
            Metric::Int(a) => a.is_valid(i).then(|| a.value(i) as f64),
            Metric::Float(a) => opt_f64(a, i),
        }
    }
}

/// One pass of statistics over rows, overall and per group.
struct StatsPass<'g> {
    group_by: &'g [&'static str],
    tasks: TaskIds,
    interners: Vec<Interner>,
    overall: Accumulator,
    groups: FastMap<GroupKey, Accumulator>,
    threshold: f64,
}

impl<'g> StatsPass<'g> {
    fn new(group_by: &'g [&'static str], threshold: f64) -> Self {
        StatsPass {
            group_by,
            tasks: TaskIds::default(),
            interners: group_by.iter().map(|_| Interner::default()).collect(),
            overall: Accumulator::default(),
            groups: FastMap::default(),
            threshold,
        }
    }

    /// Adds `rows` of `batch`. `task_of` gives each row's task id when the caller has
    /// them already (the in-memory index); otherwise they come from data_id / question.
    fn add(&mut self, batch: &RecordBatch, rows: impl Iterator<Item = usize>, task_of: Option<&[u32]>) -> Result<()> {
        let c = Columns::new(batch);
        let id = c.str("trajectory_id")?;
        let (data_id, question) = match task_of {
            Some(_) => (None, None),
            None => (Some(c.str("data_id")?), Some(c.str("question")?)),
        };
        let success: &BooleanArray = c.bool("is_success")?;
        let reward = c.f64("reward")?;
        let metrics: Vec<Metric> = METRICS
            .iter()
            .map(|m| match m.ty {
                ColumnType::Int => c.i64(m.name).map(Metric::Int),
                _ => c.f64(m.name).map(Metric::Float),
            })
            .collect::<Result<_, _>>()?;
        let reason = c.str("termination_reason")?;
        enum GroupCol<'a> {
            Str(&'a StringArray),
            Int(&'a Int64Array),
        }
        let group_cols: Vec<GroupCol> = self
            .group_by
            .iter()
            .map(|g| {
                if GROUP_COLUMNS.iter().any(|(c, int)| c == g && *int) {
                    c.i64(g).map(GroupCol::Int)
                } else {
                    c.str(g).map(GroupCol::Str)
                }
            })
            .collect::<Result<_, _>>()?;
        for i in rows {
            let task = match (task_of, data_id, question) {
                (Some(t), _, _) => t[i],
                (None, Some(d), Some(q)) => self.tasks.id(opt_str(d, i), opt_str(q, i), id.value(i)),
                _ => unreachable!("task ids or the columns to make them"),
            };
            let sample = Sample {
                task,
                is_success: success.is_valid(i).then(|| success.value(i)),
                reward: opt_f64(reward, i),
                metrics: std::array::from_fn(|m| metrics[m].value(i)),
                termination_reason: opt_str(reason, i),
            };
            self.overall.push(&sample, self.threshold);
            if !self.group_by.is_empty() {
                let mut key = [u32::MAX; MAX_GROUP_COLUMNS];
                for (j, col) in group_cols.iter().enumerate() {
                    key[j] = match col {
                        GroupCol::Str(a) => self.interners[j].str(opt_str(a, i)),
                        GroupCol::Int(a) => self.interners[j].int(a.is_valid(i).then(|| a.value(i))),
                    };
                }
                self.groups.entry(key).or_default().push(&sample, self.threshold);
            }
        }
        Ok(())
    }

    fn finish(self, cfg: &StatsConfig) -> Grouped {
        let interners = self.interners;
        let mut out: Vec<GroupResult> = self
            .groups
            .into_iter()
            .map(|(key, acc)| {
                let tasks = acc.task_groups();
                let key = (0..self.group_by.len()).map(|j| interners[j].value(key[j])).collect();
                GroupResult { key, stats: acc.finish(cfg), tasks }
            })
            .collect();
        out.sort_by(|a, b| compare_keys(&a.key, &b.key));
        Grouped { overall: self.overall.finish(cfg), groups: out }
    }
}

impl Trajstore {
    async fn grouped_stats(
        &self,
        version: u64,
        filters: &FilterSet,
        group_by: &[&'static str],
        cfg: &StatsConfig,
    ) -> Result<Grouped> {
        if let Some(snapshot) = self.snapshot(version).await {
            let (filters, group_by, cfg) = (filters.clone(), group_by.to_vec(), cfg.clone());
            let from_memory = crate::on_blocking_thread(move || -> Option<Result<Grouped>> {
                let rows = snapshot.select(&filters)?;
                let mut pass = StatsPass::new(&group_by, cfg.success_threshold);
                Some(
                    pass.add(snapshot.batch(), rows.iter().map(|&r| r as usize), Some(snapshot.tasks()))
                        .map(|_| pass.finish(&cfg)),
                )
            })
            .await?;
            if let Some(grouped) = from_memory {
                return grouped;
            }
        }
        let mut columns: Vec<&str> =
            vec!["trajectory_id", "data_id", "question", "is_success", "reward", "termination_reason"];
        for g in METRICS.iter().map(|m| &m.name).chain(group_by) {
            if !columns.contains(g) {
                columns.push(g);
            }
        }
        let mut stream = self.store.scan(filters.to_sql(), &columns).await?;
        let mut pass = StatsPass::new(group_by, cfg.success_threshold);
        while let Some(batch) = stream.try_next().await? {
            pass.add(&batch, 0..batch.num_rows(), None)?;
        }
        Ok(pass.finish(cfg))
    }

    /// Overall statistics and those of each group of `group_by` (see [`StatsReport`]).
    pub async fn statistics(&self, req: &StatsRequest) -> Result<Arc<StatsReport>> {
        let version = self.version().await?;
        let key = format!("stats|{:?}|{:?}|{:?}|{}", req.filters.to_sql(), req.group_by, req.ks, req.success_threshold);
        if let Some(Cached::Stats(v)) = self.cache.get(version, &key) {
            return Ok(v);
        }
        // One computation at a time: after a write, the clients asking for the same
        // statistics wait for the first to fill the cache instead of all computing it.
        let _turn = self.stats_turn.lock().await;
        if let Some(Cached::Stats(v)) = self.cache.get(version, &key) {
            return Ok(v);
        }
        let cfg = StatsConfig { ks: req.ks.clone(), success_threshold: req.success_threshold };
        let grouped = self.grouped_stats(version, &req.filters, &req.group_by, &cfg).await?;
        let groups: Vec<StatsGroup> = grouped
            .groups
            .into_iter()
            .map(|g| StatsGroup { key: req.group_by.iter().copied().zip(g.key).collect(), stats: g.stats })
            .collect();
        let report = Arc::new(StatsReport { overall: grouped.overall, groups });
        self.cache.insert(version, &key, Cached::Stats(report.clone()), 2048 * (1 + report.groups.len()));
        Ok(report)
    }

    /// Points for a training plot (see [`Curve`]), sorted by series then x; rows whose x
    /// is null are left out.
    pub async fn curve(&self, req: &CurveRequest) -> Result<Arc<Curve>> {
        let version = self.version().await?;
        let key = format!(
            "curve|{:?}|{}|{:?}|{:?}|{}",
            req.filters.to_sql(),
            req.x,
            req.series,
            req.ks,
            req.success_threshold
        );
        if let Some(Cached::Curve(v)) = self.cache.get(version, &key) {
            return Ok(v);
        }
        // As for statistics: one computation at a time.
        let _turn = self.stats_turn.lock().await;
        if let Some(Cached::Curve(v)) = self.cache.get(version, &key) {
            return Ok(v);
        }
        let cfg = StatsConfig { ks: req.ks.clone(), success_threshold: req.success_threshold };
        let group_by: Vec<&'static str> = req.series.into_iter().chain([req.x]).collect();
        let grouped = self.grouped_stats(version, &req.filters, &group_by, &cfg).await?;
        let points: Vec<CurvePoint> = grouped
            .groups
            .into_iter()
            .filter(|g| !g.key.last().is_some_and(Value::is_null))
            .map(|g| CurvePoint {
                x: g.key.last().cloned().unwrap_or(Value::Null),
                series: if req.series.is_some() { g.key[0].clone() } else { Value::Null },
                stats: g.stats,
                tasks: g.tasks,
            })
            .collect();
        let curve = Arc::new(Curve { x: req.x, series: req.series, points });
        self.cache.insert(version, &key, Cached::Curve(curve.clone()), 1024 * (1 + curve.points.len()));
        Ok(curve)
    }
}

/// Group order: by each key in turn, nulls last, numbers before strings.
pub(crate) fn compare_keys(a: &[Value], b: &[Value]) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    for (x, y) in a.iter().zip(b) {
        let o = match (x, y) {
            (Value::Null, Value::Null) => Ordering::Equal,
            (Value::Null, _) => Ordering::Greater,
            (_, Value::Null) => Ordering::Less,
            (Value::Number(p), Value::Number(q)) => p.as_f64().unwrap_or(0.0).total_cmp(&q.as_f64().unwrap_or(0.0)),
            (Value::String(p), Value::String(q)) => p.cmp(q),
            (Value::Number(_), _) => Ordering::Less,
            _ => Ordering::Greater,
        };
        if o != Ordering::Equal {
            return o;
        }
    }
    Ordering::Equal
}
