//! The documents statistics and curves answer with, as typed values that serialise to
//! the API's flat objects.

use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::Value;
use trajstore_stats::{Statistics, TaskGroups};

/// `{"overall": {statistics}, "groups": [{<grouping columns>, statistics}, ...]}`
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct StatsReport {
    pub overall: Statistics,
    /// Sorted by the grouping columns (nulls last).
    pub groups: Vec<StatsGroup>,
}

/// One group: the value of each grouping column, and its statistics.
#[derive(Debug, Clone, PartialEq)]
pub struct StatsGroup {
    pub key: Vec<(&'static str, Value)>,
    pub stats: Statistics,
}

impl Serialize for StatsGroup {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        for (column, value) in &self.key {
            map.serialize_entry(column, value)?;
        }
        self.stats.serialize_entries(&mut map)?;
        map.end()
    }
}

/// Points for a training plot: one per (series value, x value), sorted by series then x.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Curve {
    pub x: &'static str,
    pub series: Option<&'static str>,
    pub points: Vec<CurvePoint>,
}

/// One point: its x and series values, the statistics of its trajectories and their
/// prompt groups. Serialised with [`CURVE_FIGURES`], pass@k and pass^k, the share of each
/// termination reason, and the shares of groups with no gradient and with no success.
#[derive(Debug, Clone, PartialEq)]
pub struct CurvePoint {
    pub x: Value,
    /// Null without a series.
    pub series: Value,
    pub stats: Statistics,
    pub tasks: TaskGroups,
}

/// The figures of a statistics object that each curve point carries.
pub const CURVE_FIGURES: [&str; 9] = [
    "count",
    "success_rate",
    "reward_mean",
    "reward_median",
    "step_count_mean",
    "exec_time_mean",
    "input_tokens_mean",
    "output_tokens_mean",
    "cost_mean",
];

impl CurvePoint {
    /// Each termination reason's share of the point's trajectories, most frequent first.
    pub fn termination_reason_shares(&self) -> Vec<(&str, f64)> {
        let count = self.stats.count.max(1) as f64;
        self.stats.termination_reasons.iter().map(|(reason, n)| (reason.as_str(), *n as f64 / count)).collect()
    }

    fn group_share(&self, n: u64) -> Option<f64> {
        (self.tasks.groups > 0).then(|| n as f64 / self.tasks.groups as f64)
    }

    /// The share of prompt groups whose rewards are all equal (no GRPO gradient).
    pub fn no_gradient_share(&self) -> Option<f64> {
        self.group_share(self.tasks.no_gradient)
    }

    /// The share of prompt groups with no successful sample.
    pub fn all_fail_share(&self) -> Option<f64> {
        self.group_share(self.tasks.all_fail)
    }
}

impl Serialize for CurvePoint {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("x", &self.x)?;
        map.serialize_entry("series", &self.series)?;
        for (key, value) in self.stats.entries() {
            if CURVE_FIGURES.contains(&key.as_str()) {
                map.serialize_entry(&key, &value)?;
            }
        }
        let shares: serde_json::Map<String, Value> =
            self.termination_reason_shares().into_iter().map(|(r, s)| (r.to_string(), Value::from(s))).collect();
        map.serialize_entry("termination_reason_shares", &shares)?;
        map.serialize_entry("groups", &self.tasks.groups)?;
        map.serialize_entry("no_gradient_share", &self.no_gradient_share())?;
        map.serialize_entry("all_fail_share", &self.all_fail_share())?;
        for p in &self.stats.pass {
            map.serialize_entry(&format!("pass@{}", p.k), &p.pass_at_k)?;
            map.serialize_entry(&format!("pass^{}", p.k), &p.pass_hat_k)?;
        }
        map.end()
    }
}
