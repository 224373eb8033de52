//! RL training views over the store: the prompt groups of a training step, one group's
//! members with their advantages, and the tasks learned or forgotten between two sides.
//! The arithmetic is in `trajstore_stats::groups`; this module reads the rows (from the
//! in-memory index when it serves the version, else from Lance) and pages the result.
//!
//! Which groups a filter keeps: a group is kept when any of its members matches every
//! filter, and its statistics are over all its members. Filters on the grouping keys and
//! `data_id` are the same for every member, so they restrict the rows read; the others
//! only decide which groups are kept.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow_array::{Array, Int64Array, RecordBatch, StringArray};
use futures::TryStreamExt;
use serde_json::Value;
use trajstore_query::{Filter, FilterSet, Order};
use trajstore_stats::groups::{
    advantages, diff_runs, Advantage, DiffConfig, GroupAcc, GroupKind, RunDiff, StdKind, TaskTally,
};
use trajstore_stats::FastMap;
use trajstore_store::Columns;

use crate::stats::{Interner, MAX_GROUP_BY};
use crate::{Cached, Error, Result, Trajstore};

mod request;
/// A group key: the interned value of each grouping column, then data_id's.
type Key = [u32; MAX_GROUP_BY];

pub use request::{
    DiffRequest, GroupDetail, GroupKeyRequest, GroupMember, GroupRow, GroupsPage, GroupsRequest, KindCounts,
    DEFAULT_GROUP_BY, GROUP_SORTS,
};

/// Reads rows into groups; the same code for the in-memory index and a Lance scan.
struct GroupPass<'b> {
    by: &'b [&'static str],
    interners: Vec<Interner>,
    data_ids: Interner,
    index: FastMap<Key, usize>,
    keys: Vec<Key>,
    accs: Vec<GroupAcc>,
    /// Per group: does some member match every filter.
    matched: Vec<bool>,
    ungrouped: u64,
    threshold: f64,
}

enum KeyColumn<'a> {
    Str(&'a StringArray),
    Int(&'a Int64Array),
}

impl<'b> GroupPass<'b> {
    fn new(by: &'b [&'static str], threshold: f64) -> Self {
        GroupPass {
            by,
            interners: by.iter().map(|_| Interner::default()).collect(),
            data_ids: Interner::default(),
            index: FastMap::default(),
            keys: Vec::new(),
            accs: Vec::new(),
            matched: Vec::new(),
            ungrouped: 0,
            threshold,
        }
    }

    fn key_columns<'a>(&self, c: &Columns<'a>) -> Result<Vec<KeyColumn<'a>>> {
        self.by
            .iter()
            .map(|g| {
                Ok(if crate::stats::is_integer_group(g) {
                    KeyColumn::Int(c.i64(g)?)
                } else {
                    KeyColumn::Str(c.str(g)?)
                })
            })
            .collect()
    }

    /// The key of row `i`; `None` without a data_id.
    fn key(&mut self, cols: &[KeyColumn], data_id: &StringArray, i: usize) -> Option<Key> {
        if !data_id.is_valid(i) {
            return None;
        }
        let mut key = [u32::MAX; MAX_GROUP_BY];
        for (j, col) in cols.iter().enumerate() {
            key[j] = match col {
                KeyColumn::Str(a) => self.interners[j].str(a.is_valid(i).then(|| a.value(i))),
                KeyColumn::Int(a) => self.interners[j].int(a.is_valid(i).then(|| a.value(i))),
            };
        }
        key[MAX_GROUP_BY - 1] = self.data_ids.str(Some(data_id.value(i)));
        Some(key)
    }

    /// Adds `rows` of `batch` as members; `all_match` when they match every filter too.
    fn add(&mut self, batch: &RecordBatch, rows: impl Iterator<Item = usize>, all_match: bool) -> Result<()> {
        let c = Columns::new(batch);
        let cols = self.key_columns(&c)?;
        let (data_id, success, reward, steps) =
            (c.str("data_id")?, c.bool("is_success")?, c.f64("reward")?, c.i64("step_count")?);
        let (input, output) = (c.i64("input_tokens")?, c.i64("output_tokens")?);
        for i in rows {
            let Some(key) = self.key(&cols, data_id, i) else {
                self.ungrouped += u64::from(all_match);
                continue;
            };
            let g = match self.index.get(&key) {
                Some(&g) => g,
                None => {
                    self.index.insert(key, self.keys.len());
                    self.keys.push(key);
                    self.accs.push(GroupAcc::default());
                    self.matched.push(false);
                    self.keys.len() - 1
                }
            };
            let r = reward.is_valid(i).then(|| reward.value(i));
            let s = trajstore_stats::succeeded(success.is_valid(i).then(|| success.value(i)), r, self.threshold);
            self.accs[g].push(s, r, steps.is_valid(i).then(|| steps.value(i)), tokens(input, output, i));
            self.matched[g] |= all_match;
        }
        Ok(())
    }

    /// Marks the groups of `rows` (which match every filter) as kept.
    fn mark(&mut self, batch: &RecordBatch, rows: impl Iterator<Item = usize>) -> Result<()> {
        let c = Columns::new(batch);
        let cols = self.key_columns(&c)?;
        let data_id = c.str("data_id")?;
        for i in rows {
            match self.key(&cols, data_id, i) {
                None => self.ungrouped += 1,
                Some(key) => {
                    if let Some(&g) = self.index.get(&key) {
                        self.matched[g] = true;
                    }
                }
            }
        }
        Ok(())
    }

    /// The kept groups: their keys' values, data_id and statistics.
    fn finish(self, std: StdKind) -> (Vec<GroupRow>, u64) {
        let rows = self
            .keys
            .iter()
            .zip(&self.accs)
            .zip(&self.matched)
            .filter(|(_, m)| **m)
            .map(|((key, acc), _)| GroupRow {
                keys: self
                    .by
                    .iter()
                    .enumerate()
                    .map(|(j, c)| (c.to_string(), self.interners[j].value(key[j])))
                    .collect(),
                data_id: self.data_ids.value(key[MAX_GROUP_BY - 1]).as_str().unwrap_or_default().to_string(),
                stats: acc.finish(std),
            })
            .collect();
        (rows, self.ungrouped)
    }
}

const GROUP_READ_COLUMNS: &[&str] =
    &["trajectory_id", "data_id", "is_success", "reward", "step_count", "input_tokens", "output_tokens"];

/// The columns a group read needs and `extra`, each once (Lance refuses a projection that
/// names a column twice; `by=step_count` would).
fn read_columns(extra: &[&'static str]) -> Vec<&'static str> {
    let mut columns = GROUP_READ_COLUMNS.to_vec();
    for c in extra {
        if !columns.contains(c) {
            columns.push(c);
        }
    }
    columns
}

/// `input_tokens + output_tokens` of row `i`, where either is known.
fn tokens(input: &Int64Array, output: &Int64Array, i: usize) -> Option<i64> {
    let value = |a: &Int64Array| a.is_valid(i).then(|| a.value(i));
    match (value(input), value(output)) {
        (None, None) => None,
        (a, b) => Some(a.unwrap_or(0).saturating_add(b.unwrap_or(0))),
    }
}

impl Trajstore {
    /// Every group the filters keep, unsorted, and the matching rows without a data_id.
    /// With `any_member`, a group is kept whole when one member matches (see the module
    /// header); without, a group is the matching rows of its key.
    pub(crate) async fn matching_groups(
        &self,
        version: u64,
        filters: &FilterSet,
        by: &[&'static str],
        std: StdKind,
        threshold: f64,
        any_member: bool,
    ) -> Result<(Vec<GroupRow>, u64)> {
        let constant: Vec<&str> = by.iter().copied().chain(["data_id"]).collect();
        let (on_keys, on_members) =
            if any_member { filters.split_by_columns(&constant) } else { (filters.clone(), FilterSet::default()) };
        let by_owned = by.to_vec();
        if let Some(snapshot) = self.snapshot(version).await {
            let (filters, on_keys) = (filters.clone(), on_keys.clone());
            let member_filters = !on_members.is_empty();
            let from_memory = crate::on_blocking_thread(move || -> Option<Result<(Vec<GroupRow>, u64)>> {
                let rows = snapshot.select(&on_keys)?;
                let matching = if member_filters { Some(snapshot.select(&filters)?) } else { None };
                let mut pass = GroupPass::new(&by_owned, threshold);
                let added =
                    pass.add(snapshot.batch(), rows.iter().map(|&r| r as usize), !member_filters).and_then(|()| {
                        match &matching {
                            Some(m) => pass.mark(snapshot.batch(), m.iter().map(|&r| r as usize)),
                            None => Ok(()),
                        }
                    });
                Some(added.map(|()| pass.finish(std)))
            })
            .await?;
            if let Some(groups) = from_memory {
                return groups;
            }
        }
        let columns = read_columns(by);
        let mut pass = GroupPass::new(by, threshold);
        let mut stream = self.store.scan(on_keys.to_sql(), &columns).await?;
        while let Some(batch) = stream.try_next().await? {
            pass.add(&batch, 0..batch.num_rows(), on_members.is_empty())?;
        }
        if !on_members.is_empty() {
            let mut stream = self.store.scan(filters.to_sql(), &columns).await?;
            while let Some(batch) = stream.try_next().await? {
                pass.mark(&batch, 0..batch.num_rows())?;
            }
        }
        Ok(pass.finish(std))
    }

    /// One page of groups, sorted over every kept group, with the exact total.
    pub async fn groups(&self, req: &GroupsRequest) -> Result<Arc<GroupsPage>> {
        let version = self.version().await?;
        let key = req.cache_key();
        if let Some(Cached::Groups(page)) = self.cache.get(version, &key) {
            return Ok(page);
        }
        let (mut rows, ungrouped) =
            self.matching_groups(version, &req.filters, &req.by, req.std, req.success_threshold, true).await?;
        let mut kinds = KindCounts::default();
        for r in &rows {
            *match r.stats.kind {
                GroupKind::Mixed => &mut kinds.mixed,
                GroupKind::AllSuccess => &mut kinds.all_success,
                GroupKind::AllFail => &mut kinds.all_fail,
                GroupKind::ZeroVariance => &mut kinds.zero_variance,
            } += 1;
            kinds.no_gradient += u64::from(r.stats.zero_variance);
        }
        if let Some(kind) = req.kind {
            rows.retain(|r| r.stats.kind == kind);
        }
        sort_groups(&mut rows, req.sort, req.order);
        let total = rows.len() as u64;
        let start = ((req.page - 1) * req.page_size).min(total) as usize;
        let data: Vec<GroupRow> = rows.into_iter().skip(start).take(req.page_size as usize).collect();
        let page = Arc::new(GroupsPage {
            data,
            total,
            page: req.page,
            page_size: req.page_size,
            by: req.by.clone(),
            kinds,
            ungrouped,
        });
        self.cache.insert(version, &key, Cached::Groups(page.clone()), 512 * (1 + page.data.len()));
        Ok(page)
    }

    /// One group's members, best reward first, with their advantages and ranks.
    pub async fn group(&self, req: &GroupKeyRequest) -> Result<GroupDetail> {
        // data_id narrows the read; every key is then compared exactly (a `*` in data_id
        // would be a pattern to the filter).
        let filters = FilterSet { filters: vec![Filter::parse("data_id", &req.data_id)?] };
        let extra: Vec<&'static str> =
            ["sample_id", "termination_reason"].into_iter().chain(req.keys.iter().map(|(c, _)| *c)).collect();
        let columns = read_columns(&extra);
        let mut members: Vec<GroupMember> = Vec::new();
        let mut acc = GroupAcc::default();
        let mut stream = self.store.scan(filters.to_sql(), &columns).await?;
        while let Some(batch) = stream.try_next().await? {
            let c = Columns::new(&batch);
            let (ids, data_id, success, reward) =
                (c.str("trajectory_id")?, c.str("data_id")?, c.bool("is_success")?, c.f64("reward")?);
            let (steps, sample, reason) = (c.i64("step_count")?, c.i64("sample_id")?, c.str("termination_reason")?);
            let (input, output) = (c.i64("input_tokens")?, c.i64("output_tokens")?);
            'rows: for i in 0..batch.num_rows() {
                if !data_id.is_valid(i) || data_id.value(i) != req.data_id {
                    continue;
                }
                for (column, want) in &req.keys {
                    let have = if crate::stats::is_integer_group(column) {
                        let a = c.i64(column)?;
                        a.is_valid(i).then(|| Value::from(a.value(i)))
                    } else {
                        let a = c.str(column)?;
                        a.is_valid(i).then(|| Value::from(a.value(i)))
                    };
                    if &have != want {
                        continue 'rows;
                    }
                }
                let r = reward.is_valid(i).then(|| reward.value(i));
                let s =
                    trajstore_stats::succeeded(success.is_valid(i).then(|| success.value(i)), r, req.success_threshold);
                acc.push(s, r, Some(steps.value(i)), tokens(input, output, i));
                members.push(GroupMember {
                    trajectory_id: ids.value(i).to_string(),
                    sample_id: sample.is_valid(i).then(|| sample.value(i)),
                    reward: r,
                    success: s,
                    step_count: steps.value(i),
                    termination_reason: reason.is_valid(i).then(|| reason.value(i).to_string()),
                    advantage: Advantage { advantage_grpo: None, advantage_rloo: None, rank: None },
                });
            }
        }
        if members.is_empty() {
            return Err(Error::NotFound {
                what: format!("group of data_id {:?} with {}", req.data_id, describe_keys(&req.keys)),
            });
        }
        let rewards: Vec<Option<f64>> = members.iter().map(|m| m.reward).collect();
        for (m, a) in members.iter_mut().zip(advantages(&rewards, req.std, req.eps)) {
            m.advantage = a;
        }
        members.sort_by(|x, y| {
            let rank = |m: &GroupMember| m.advantage.rank.unwrap_or(u32::MAX);
            rank(x).cmp(&rank(y)).then(x.sample_id.cmp(&y.sample_id)).then(x.trajectory_id.cmp(&y.trajectory_id))
        });
        Ok(GroupDetail {
            keys: req.keys.iter().map(|(c, v)| (c.to_string(), v.clone().unwrap_or(Value::Null))).collect(),
            data_id: req.data_id.clone(),
            stats: acc.finish(req.std),
            members,
            std: match req.std {
                StdKind::Sample => "sample",
                StdKind::Population => "population",
            },
            eps: req.eps,
        })
    }

    /// The tasks learned and forgotten between the sides `a` and `b` of `req`.
    pub async fn diff_runs(&self, req: &DiffRequest) -> Result<RunDiff> {
        let a = self.task_tallies(&req.a.1, req.success_threshold).await?;
        let b = self.task_tallies(&req.b.1, req.success_threshold).await?;
        let cfg =
            DiffConfig { solved_threshold: req.solved_threshold, ks: req.ks.clone(), resamples: 1000, seed: req.seed };
        let (name_a, name_b) = (req.a.0.clone(), req.b.0.clone());
        // The bootstrap is 1,000 passes over the shared tasks: CPU work, off the async workers.
        crate::on_blocking_thread(move || diff_runs((name_a, &a), (name_b, &b), &cfg)).await
    }

    /// Samples and successes per data_id over the rows matching `filters` (on a side of
    /// a diff, a filter decides which samples count, not only which tasks).
    async fn task_tallies(&self, filters: &FilterSet, threshold: f64) -> Result<BTreeMap<String, TaskTally>> {
        let version = self.version().await?;
        let (rows, _) = self.matching_groups(version, filters, &[], StdKind::Sample, threshold, false).await?;
        Ok(rows.into_iter().map(|r| (r.data_id, TaskTally { n: r.stats.n, success: r.stats.success_count })).collect())
    }
}

fn describe_keys(keys: &[(&'static str, Option<Value>)]) -> String {
    keys.iter()
        .map(|(c, v)| format!("{c}={}", v.as_ref().map_or("~".to_string(), Value::to_string)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Sorts by `sort` in `order`, nulls last either way, then by keys and data_id.
fn sort_groups(rows: &mut [GroupRow], sort: &str, order: Order) {
    use std::cmp::Ordering;
    let figure = |r: &GroupRow| -> Option<f64> {
        match sort {
            "spread" => r.stats.reward_spread,
            "reward_mean" => r.stats.reward_mean,
            "reward_std" => r.stats.reward_std,
            "success_rate" => Some(r.stats.success_rate),
            "n" => Some(r.stats.n as f64),
            _ => None,
        }
    };
    let tie = |a: &GroupRow, b: &GroupRow| {
        let ka: Vec<Value> = a.keys.values().cloned().collect();
        let kb: Vec<Value> = b.keys.values().cloned().collect();
        crate::stats::compare_keys(&ka, &kb).then_with(|| a.data_id.cmp(&b.data_id))
    };
    rows.sort_by(|a, b| {
        let primary = if sort == "data_id" {
            let o = a.data_id.cmp(&b.data_id);
            if order == Order::Desc {
                o.reverse()
            } else {
                o
            }
        } else {
            match (figure(a), figure(b)) {
                (None, None) => Ordering::Equal,
                (None, _) => Ordering::Greater,
                (_, None) => Ordering::Less,
                (Some(x), Some(y)) => {
                    let o = x.total_cmp(&y);
                    if order == Order::Desc {
                        o.reverse()
                    } else {
                        o
                    }
                }
            }
        };
        primary.then_with(|| tie(a, b))
    });
}
