//! RL statistics as plain functions: no storage, no Arrow.
//!
//! Definitions (also in the README, with a worked example):
//! * A trajectory succeeds when `is_success` is true; where `is_success` is absent, when
//!   `reward >= success_threshold`; with neither, it counts as not successful. Each
//!   statistics object says how many trajectories each rule decided (`success_rule`).
//! * Samples are grouped by task (the caller passes a task key: `data_id`, else the
//!   question, else the trajectory itself).
//! * pass@k of a task with n samples and c successes is `1 - C(n-c, k) / C(n, k)`
//!   (Chen et al. 2021), pass^k is `C(c, k) / C(n, k)`; both are averaged over the tasks
//!   with n >= k, and `tasks_skipped@k` counts the others. pass@1 is the mean per-task
//!   success rate.
//! * median: the mean of the two middle values for an even count; p90: the nearest-rank
//!   value (the smallest value with at least 90% of values at or below it).

use std::collections::HashMap;
use std::hash::BuildHasherDefault;

/// A hash map with FxHash: statistics hash a task id or a short string for every row,
/// and SipHash (the std default, built to resist flooding) was a tenth of their time.
/// The keys come from the store, not from a network peer choosing collisions.
pub type FastMap<K, V> = HashMap<K, V, BuildHasherDefault<rustc_hash::FxHasher>>;

use trajstore_model::{Column, Statistic, STATISTIC_COLUMNS};

pub mod align;
pub mod groups;
mod statistics;

pub use statistics::{Histogram, MetricSummary, PassAtK, SamplesPerTask, Statistics, SuccessRule};

/// The success rule of the header: `is_success` when present, else `reward >= threshold`,
/// else not successful.
pub fn succeeded(is_success: Option<bool>, reward: Option<f64>, threshold: f64) -> bool {
    match (is_success, reward) {
        (Some(b), _) => b,
        (None, Some(r)) => r >= threshold,
        (None, None) => false,
    }
}

/// pass@k for one task: `1 - C(n-c, k) / C(n, k)`, as the running product
/// `1 - prod_{i=n-c+1..=n} (1 - k/i)`, which never forms a binomial coefficient.
/// `None` when the task has fewer than k samples.
pub fn pass_at_k(n: u64, c: u64, k: u64) -> Option<f64> {
    if k == 0 || n < k || c > n {
        return None;
    }
    if n - c < k {
        return Some(1.0);
    }
    let mut prod = 1.0f64;
    for i in (n - c + 1)..=n {
        prod *= 1.0 - k as f64 / i as f64;
    }
    Some(1.0 - prod)
}

/// pass^k for one task (all of k samples succeed): `C(c, k) / C(n, k)`, as the running
/// product `prod_{i=0..k} (c-i)/(n-i)`. `None` when the task has fewer than k samples.
pub fn pass_hat_k(n: u64, c: u64, k: u64) -> Option<f64> {
    if k == 0 || n < k || c > n {
        return None;
    }
    if c < k {
        return Some(0.0);
    }
    let mut prod = 1.0f64;
    for i in 0..k {
        prod *= (c - i) as f64 / (n - i) as f64;
    }
    Some(prod)
}

#[derive(Debug, Clone)]
pub struct StatsConfig {
    pub ks: Vec<u64>,
    pub success_threshold: f64,
}

impl Default for StatsConfig {
    fn default() -> Self {
        StatsConfig { ks: vec![1], success_threshold: 1.0 }
    }
}

/// One trajectory as statistics see it. `task` is an id the caller assigns per task key.
#[derive(Debug, Clone, Copy, Default)]
pub struct Sample<'a> {
    pub task: u32,
    pub is_success: Option<bool>,
    /// `reward`, for the success rule.
    pub reward: Option<f64>,
    /// The value of each of [`METRICS`], in its order.
    pub metrics: [Option<f64>; METRIC_COUNT],
    pub termination_reason: Option<&'a str>,
}

/// The numeric columns summarised, in output order: the statistic columns of the column
/// table.
pub const METRICS: &[&Column] = STATISTIC_COLUMNS;
pub const METRIC_COUNT: usize = STATISTIC_COLUMNS.len();

/// Collects samples of one group; [`Accumulator::finish`] computes its statistics.
#[derive(Debug, Clone, Default)]
pub struct Accumulator {
    count: u64,
    success: u64,
    by_is_success: u64,
    by_threshold: u64,
    unlabelled: u64,
    /// task -> (samples, successes)
    tasks: FastMap<u32, TaskTally>,
    values: [Vec<f64>; METRIC_COUNT],
    nulls: [u64; METRIC_COUNT],
    reasons: FastMap<String, u64>,
}

/// One task's samples within an accumulator: their count, successes and reward range.
#[derive(Debug, Clone, Copy, Default)]
struct TaskTally {
    n: u64,
    success: u64,
    rewarded: bool,
    min: f64,
    max: f64,
}

/// The tasks of an accumulator seen as prompt groups (see `groups`): how many, how many
/// have every reward equal (no GRPO gradient), and how many never succeeded.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TaskGroups {
    pub groups: u64,
    pub no_gradient: u64,
    pub all_fail: u64,
}

impl Accumulator {
    /// Its tasks as prompt groups; read before [`Accumulator::finish`].
    pub fn task_groups(&self) -> TaskGroups {
        let mut out = TaskGroups { groups: self.tasks.len() as u64, ..Default::default() };
        for t in self.tasks.values() {
            out.no_gradient += u64::from(t.rewarded && t.min == t.max);
            out.all_fail += u64::from(t.success == 0);
        }
        out
    }

    pub fn push(&mut self, s: &Sample, threshold: f64) {
        self.count += 1;
        let success = match (s.is_success, s.reward) {
            (Some(b), _) => {
                self.by_is_success += 1;
                b
            }
            (None, Some(r)) => {
                self.by_threshold += 1;
                r >= threshold
            }
            (None, None) => {
                self.unlabelled += 1;
                false
            }
        };
        self.success += success as u64;
        let t = self.tasks.entry(s.task).or_default();
        t.n += 1;
        t.success += success as u64;
        if let Some(r) = s.reward.filter(|r| r.is_finite()) {
            if t.rewarded {
                t.min = t.min.min(r);
                t.max = t.max.max(r);
            } else {
                (t.rewarded, t.min, t.max) = (true, r, r);
            }
        }
        for (i, v) in s.metrics.into_iter().enumerate() {
            match v {
                Some(v) if v.is_finite() => self.values[i].push(v),
                _ => self.nulls[i] += 1,
            }
        }
        let reason = s.termination_reason.unwrap_or("(none)");
        match self.reasons.get_mut(reason) {
            Some(n) => *n += 1,
            None => {
                self.reasons.insert(reason.to_string(), 1);
            }
        }
    }

    /// The statistics of every sample pushed.
    pub fn finish(mut self, cfg: &StatsConfig) -> Statistics {
        let ratio = |a: u64, b: u64| (b > 0).then(|| a as f64 / b as f64);
        let sizes: Vec<u64> = self.tasks.values().map(|t| t.n).collect();
        let pass = cfg
            .ks
            .iter()
            .map(|&k| {
                let (mut at, mut hat, mut used) = (0.0, 0.0, 0u64);
                for &TaskTally { n, success: c, .. } in self.tasks.values() {
                    if let (Some(a), Some(h)) = (pass_at_k(n, c, k), pass_hat_k(n, c, k)) {
                        at += a;
                        hat += h;
                        used += 1;
                    }
                }
                let mean = |sum: f64| (used > 0).then(|| sum / used as f64);
                PassAtK { k, pass_at_k: mean(at), pass_hat_k: mean(hat), tasks_skipped: self.tasks.len() as u64 - used }
            })
            .collect();
        let mut reward_histogram = Histogram::default();
        let mut metrics = Vec::with_capacity(METRICS.len());
        for (i, (summary, histogram)) in summarize_columns(&mut self.values).into_iter().enumerate() {
            metrics.push(MetricSummary { nulls: self.nulls[i], ..summary });
            if let Some(h) = histogram {
                reward_histogram = h;
            }
        }
        let mut termination_reasons: Vec<(String, u64)> = self.reasons.into_iter().collect();
        termination_reasons.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        Statistics {
            count: self.count,
            success_count: self.success,
            success_rate: ratio(self.success, self.count),
            success_rule: SuccessRule {
                is_success: self.by_is_success,
                reward_threshold: self.by_threshold,
                unlabelled: self.unlabelled,
                threshold: cfg.success_threshold,
            },
            tasks: self.tasks.len() as u64,
            samples_per_task: SamplesPerTask {
                min: sizes.iter().min().copied(),
                mean: ratio(sizes.iter().sum(), sizes.len() as u64),
                max: sizes.iter().max().copied(),
            },
            pass,
            metrics,
            termination_reasons,
            reward_histogram,
        }
    }
}

/// Values per column above which the columns are summarised on two threads: the
/// selections for median and p90 are most of the time of large statistics.
const PARALLEL_VALUES: usize = 16_384;

/// The summary of each metric column (`nulls` left 0) and the reward histogram.
fn summarize_columns(values: &mut [Vec<f64>]) -> Vec<(MetricSummary, Option<Histogram>)> {
    let total: usize = values.iter().map(Vec::len).sum();
    if total < PARALLEL_VALUES || values.len() < 2 {
        return METRICS.iter().copied().zip(values.iter_mut()).map(|(c, v)| summarize(c, v)).collect();
    }
    // Two halves of about equal numbers of values.
    let mut split = 0;
    let mut seen = 0;
    while split < values.len() && seen * 2 < total {
        seen += values[split].len();
        split += 1;
    }
    let (first, second) = values.split_at_mut(split);
    let (first_columns, second_columns) = METRICS.split_at(split);
    std::thread::scope(|scope| {
        let other = scope.spawn(move || {
            second_columns.iter().copied().zip(second.iter_mut()).map(|(c, v)| summarize(c, v)).collect::<Vec<_>>()
        });
        let mut out: Vec<_> =
            first_columns.iter().copied().zip(first.iter_mut()).map(|(c, v)| summarize(c, v)).collect();
        match other.join() {
            Ok(rest) => out.extend(rest),
            Err(panic) => std::panic::resume_unwind(panic),
        }
        out
    })
}

fn summarize(column: &Column, values: &mut [f64]) -> (MetricSummary, Option<Histogram>) {
    let sum = (column.statistic == Statistic::SummaryAndSum).then(|| (!values.is_empty()).then(|| values.iter().sum()));
    let summary = Summary::of(values);
    let histogram = match (column.name, summary.min, summary.max) {
        ("reward", Some(lo), Some(hi)) => {
            let (counts, edges) = histogram10(values, lo, hi);
            Some(Histogram { counts, edges })
        }
        _ => None,
    };
    let metric = MetricSummary {
        column: column.name,
        sum,
        mean: summary.mean,
        median: summary.median,
        p90: summary.p90,
        min: summary.min,
        max: summary.max,
        nulls: 0,
    };
    (metric, histogram)
}

struct Summary {
    mean: Option<f64>,
    median: Option<f64>,
    p90: Option<f64>,
    min: Option<f64>,
    max: Option<f64>,
}

impl Summary {
    /// Reorders `values` (selection, not a full sort: O(n) for the median and p90).
    fn of(values: &mut [f64]) -> Self {
        let n = values.len();
        if n == 0 {
            return Summary { mean: None, median: None, p90: None, min: None, max: None };
        }
        let (mut min, mut max, mut sum) = (f64::INFINITY, f64::NEG_INFINITY, 0.0);
        for &v in values.iter() {
            min = min.min(v);
            max = max.max(v);
            sum += v;
        }
        let mid = n / 2;
        let (lower, &mut upper_mid, upper) = values.select_nth_unstable_by(mid, f64::total_cmp);
        let median = if n % 2 == 1 {
            upper_mid
        } else {
            midpoint(lower.iter().copied().fold(f64::NEG_INFINITY, f64::max), upper_mid)
        };
        // Nearest rank: the ceil(0.9 n)-th smallest, which lies at or above the middle.
        let rank = ((0.9 * n as f64).ceil() as usize).clamp(1, n) - 1;
        let p90 = if rank == mid { upper_mid } else { *upper.select_nth_unstable_by(rank - mid - 1, f64::total_cmp).1 };
        // A sum of values near f64's limits can overflow where their mean does not.
        let mean = if sum.is_finite() { sum / n as f64 } else { values.iter().map(|v| v / n as f64).sum() };
        Summary { mean: Some(mean), median: Some(median), p90: Some(p90), min: Some(min), max: Some(max) }
    }
}

/// The midpoint of a and b, also when a + b overflows.
fn midpoint(a: f64, b: f64) -> f64 {
    let m = (a + b) / 2.0;
    if m.is_finite() {
        m
    } else {
        a / 2.0 + b / 2.0
    }
}

/// Ten equal-width bins from the minimum to the maximum (the last bin includes the
/// maximum); returns the counts and the 11 edges.
fn histogram10(values: &[f64], lo: f64, hi: f64) -> (Vec<u64>, Vec<f64>) {
    let mut counts = vec![0u64; 10];
    // A range wider than f64 can hold (-1e308 to 1e308) is measured at half scale.
    let scale = if (hi - lo).is_finite() { 1.0 } else { 0.5 };
    let width = (hi * scale - lo * scale) / 10.0;
    for &v in values {
        let bin = if width > 0.0 { (((v * scale - lo * scale) / width) as usize).min(9) } else { 0 };
        counts[bin] += 1;
    }
    let edges = (0..=10).map(|i| if i == 10 { hi } else { (lo * scale + width * i as f64) / scale }).collect();
    (counts, edges)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_near_f64_limits_give_finite_figures() {
        let mut v = vec![1e308, 1e308, -1e308];
        let s = Summary::of(&mut v);
        assert!((s.mean.unwrap() - 1e308 / 3.0).abs() < 1e293, "{:?}", s.mean);
        let (counts, edges) = histogram10(&[1e308, 1e308, -1e308], -1e308, 1e308);
        assert_eq!((counts[0], counts[9], counts.iter().sum::<u64>()), (1, 2, 3));
        assert!(edges.iter().all(|e| e.is_finite()) && edges.windows(2).all(|w| w[0] < w[1]), "{edges:?}");
        assert_eq!(Summary::of(&mut [1.7e308, 1.7e308]).median, Some(1.7e308));
        // Ordinary values are computed as before.
        assert_eq!(histogram10(&[0.0, 1.0], 0.0, 1.0).1[3], 0.30000000000000004);
        assert_eq!(Summary::of(&mut [1.0, 2.0]).median, Some(1.5));
    }

    /// Binomial coefficients as exact integers, to check the running products.
    fn choose(n: u64, k: u64) -> f64 {
        if k > n {
            return 0.0;
        }
        let mut r: u128 = 1;
        for i in 0..k {
            r = r * (n - i) as u128 / (i + 1) as u128;
        }
        r as f64
    }

    #[test]
    fn estimators_match_the_binomial_definitions() {
        for n in 1..=20u64 {
            for c in 0..=n {
                for k in 1..=n {
                    let at = 1.0 - choose(n - c, k) / choose(n, k);
                    let hat = choose(c, k) / choose(n, k);
                    assert!((pass_at_k(n, c, k).unwrap() - at).abs() < 1e-12, "pass@{k} n={n} c={c}");
                    assert!((pass_hat_k(n, c, k).unwrap() - hat).abs() < 1e-12, "pass^{k} n={n} c={c}");
                }
                assert_eq!(pass_at_k(n, c, n + 1), None);
            }
        }
        // Large n stays finite and in range where factorials would overflow.
        let p = pass_at_k(10_000, 37, 100).unwrap();
        assert!(p > 0.0 && p < 1.0 && p.is_finite());
    }

    #[test]
    fn hand_written_table() {
        // Task A: 4 samples, 1 success. Task B: 4 samples, 4 successes. Task C: 2 samples, 0.
        // pass@1 = mean(1/4, 1, 0) = 0.41666…
        // pass@2: A = 1 - C(3,2)/C(4,2) = 1 - 3/6 = 0.5; B = 1; C = 1 - C(2,2)/C(2,2) = 0 -> mean 0.5
        // pass^2: A = C(1,2)/C(4,2) = 0; B = 1; C = 0 -> mean 1/3
        // pass@4: A = 1, B = 1; C skipped (2 < 4) -> 1.0, tasks_skipped@4 = 1
        // pass^4: A = 0, B = 1 -> 0.5
        let mut acc = Accumulator::default();
        let rows = [(0, [true, false, false, false].as_slice()), (1, &[true; 4]), (2, &[false, false])];
        for (task, outcomes) in rows {
            for &ok in outcomes {
                acc.push(&Sample { task, is_success: Some(ok), ..Default::default() }, 1.0);
            }
        }
        let s = serde_json::to_value(acc.finish(&StatsConfig { ks: vec![1, 2, 4], success_threshold: 1.0 })).unwrap();
        let f = |k: &str| s[k].as_f64().unwrap();
        assert!((f("pass@1") - 5.0 / 12.0).abs() < 1e-12);
        assert!((f("pass@2") - 0.5).abs() < 1e-12);
        assert!((f("pass^2") - 1.0 / 3.0).abs() < 1e-12);
        assert_eq!((f("pass@4"), f("pass^4")), (1.0, 0.5));
        assert_eq!(s["tasks_skipped@4"], 1);
        assert_eq!(s["tasks_skipped@2"], 0);
        assert_eq!(
            (s["count"].as_u64(), s["success_count"].as_u64(), s["tasks"].as_u64()),
            (Some(10), Some(5), Some(3))
        );
        assert_eq!(s["samples_per_task_min"], 2);
    }

    /// Large accumulators are summarised on two threads, with the same figures as one.
    #[test]
    fn two_threads_summarise_as_one() {
        let columns: Vec<Vec<f64>> = (0..METRIC_COUNT)
            .map(|c| (0..(3_000 + 700 * c)).map(|i| ((i * 7919 + c * 31) % 1009) as f64 / 7.0).collect())
            .collect();
        assert!(columns.iter().map(Vec::len).sum::<usize>() >= PARALLEL_VALUES);
        let mut parallel = columns.clone();
        let together = summarize_columns(&mut parallel);
        let mut serial = columns;
        let alone: Vec<_> = METRICS.iter().zip(serial.iter_mut()).map(|(c, v)| summarize(c, v)).collect();
        assert_eq!(together, alone);
        assert!(together.iter().any(|(_, h)| h.is_some()), "the reward histogram");
    }

    /// Metrics with `reward` and `step_count` set.
    fn metrics(reward: Option<f64>, steps: f64) -> [Option<f64>; METRIC_COUNT] {
        let mut m = [None; METRIC_COUNT];
        for (i, c) in METRICS.iter().enumerate() {
            match c.name {
                "reward" => m[i] = reward,
                "step_count" => m[i] = Some(steps),
                _ => {}
            }
        }
        m
    }

    #[test]
    fn success_rules_percentiles_and_histogram() {
        let mut acc = Accumulator::default();
        for (i, reward) in [Some(1.0), Some(0.5), None, Some(0.0), Some(1.0)].into_iter().enumerate() {
            let is_success = if i == 4 { Some(false) } else { None };
            acc.push(
                &Sample {
                    task: i as u32,
                    is_success,
                    reward,
                    termination_reason: Some("x"),
                    metrics: metrics(reward, i as f64),
                },
                0.5,
            );
        }
        let typed = acc.finish(&StatsConfig::default());
        assert_eq!(typed.metric("reward").unwrap().median, Some(0.75));
        assert_eq!(typed.termination_reasons, vec![("x".to_string(), 5)]);
        let s = serde_json::to_value(&typed).unwrap();
        assert_eq!(s["success_rule"]["is_success"], 1);
        assert_eq!(s["success_rule"]["reward_threshold"], 3);
        assert_eq!(s["success_rule"]["unlabelled"], 1);
        assert_eq!(s["success_count"], 2, "1.0 and 0.5 reach 0.5; the labelled false does not");
        assert_eq!(s["reward_nulls"], 1);
        assert_eq!(s["reward_median"], 0.75);
        assert_eq!(s["step_count_p90"], 4.0);
        assert_eq!(s["reward_histogram"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap()).sum::<u64>(), 4);
        assert_eq!(s["reward_histogram"][9], 2);
        assert_eq!(s["termination_reasons"]["x"], 5);
    }
}
