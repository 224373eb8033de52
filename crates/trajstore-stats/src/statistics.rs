//! The statistics of a set of trajectories as a typed value, serialised to the flat
//! document of the API and the CLI (`count`, `reward_mean`, `pass@4`, `cost_sum`, ...).

use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::{Map, Value};

/// What [`crate::Accumulator::finish`] returns.
#[derive(Debug, Clone, PartialEq)]
pub struct Statistics {
    pub count: u64,
    pub success_count: u64,
    /// `None` when `count` is 0.
    pub success_rate: Option<f64>,
    pub success_rule: SuccessRule,
    /// Distinct tasks (see the crate's definitions).
    pub tasks: u64,
    pub samples_per_task: SamplesPerTask,
    /// One per requested k, in the order asked.
    pub pass: Vec<PassAtK>,
    /// One per statistic column of the column table, in its order.
    pub metrics: Vec<MetricSummary>,
    /// Most frequent first; a trajectory without one counts as `(none)`.
    pub termination_reasons: Vec<(String, u64)>,
    pub reward_histogram: Histogram,
}

/// How many trajectories each success rule decided, and the threshold of the second.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct SuccessRule {
    pub is_success: u64,
    pub reward_threshold: u64,
    pub unlabelled: u64,
    pub threshold: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct SamplesPerTask {
    pub min: Option<u64>,
    pub mean: Option<f64>,
    pub max: Option<u64>,
}

/// pass@k and pass^k averaged over the tasks with at least k samples (`None` when there
/// are none), and how many tasks had fewer.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PassAtK {
    pub k: u64,
    pub pass_at_k: Option<f64>,
    pub pass_hat_k: Option<f64>,
    pub tasks_skipped: u64,
}

/// Aggregates of one numeric column over its non-null values (`None` when it has none).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MetricSummary {
    pub column: &'static str,
    /// `Some` for the columns whose total means something (tokens, cost).
    pub sum: Option<Option<f64>>,
    pub mean: Option<f64>,
    pub median: Option<f64>,
    pub p90: Option<f64>,
    pub min: Option<f64>,
    pub max: Option<f64>,
    pub nulls: u64,
}

/// Ten equal-width bins of the rewards from their minimum to their maximum (empty when
/// there is no reward): the counts and the 11 edges.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Histogram {
    pub counts: Vec<u64>,
    pub edges: Vec<f64>,
}

impl Statistics {
    /// The summary of `column`, if it is a statistic column.
    pub fn metric(&self, column: &str) -> Option<&MetricSummary> {
        self.metrics.iter().find(|m| m.column == column)
    }

    /// The figures for `k`, if it was asked for.
    pub fn pass(&self, k: u64) -> Option<&PassAtK> {
        self.pass.iter().find(|p| p.k == k)
    }

    /// The document's entries, in a stable order, for serialisers that add their own
    /// (a group's key columns, a curve point's shares).
    pub fn entries(&self) -> Vec<(String, Value)> {
        let mut out: Vec<(String, Value)> = vec![
            ("count".into(), self.count.into()),
            ("success_count".into(), self.success_count.into()),
            ("success_rate".into(), self.success_rate.into()),
            ("success_rule".into(), serde_json::to_value(self.success_rule).unwrap_or(Value::Null)),
            ("tasks".into(), self.tasks.into()),
            ("samples_per_task_min".into(), self.samples_per_task.min.into()),
            ("samples_per_task_mean".into(), self.samples_per_task.mean.into()),
            ("samples_per_task_max".into(), self.samples_per_task.max.into()),
        ];
        for p in &self.pass {
            out.push((format!("pass@{}", p.k), p.pass_at_k.into()));
            out.push((format!("pass^{}", p.k), p.pass_hat_k.into()));
            out.push((format!("tasks_skipped@{}", p.k), p.tasks_skipped.into()));
        }
        for m in &self.metrics {
            let name = m.column;
            if let Some(sum) = m.sum {
                out.push((format!("{name}_sum"), sum.into()));
            }
            for (figure, value) in
                [("mean", m.mean), ("median", m.median), ("p90", m.p90), ("min", m.min), ("max", m.max)]
            {
                out.push((format!("{name}_{figure}"), value.into()));
            }
            out.push((format!("{name}_nulls"), m.nulls.into()));
        }
        let reasons: Map<String, Value> =
            self.termination_reasons.iter().map(|(r, n)| (r.clone(), Value::from(*n))).collect();
        out.push(("termination_reasons".into(), Value::Object(reasons)));
        out.push(("reward_histogram".into(), self.reward_histogram.counts.clone().into()));
        out.push(("reward_histogram_edges".into(), self.reward_histogram.edges.clone().into()));
        out
    }

    /// Writes [`Statistics::entries`] into a map being serialised.
    pub fn serialize_entries<M: SerializeMap>(&self, map: &mut M) -> Result<(), M::Error> {
        for (key, value) in self.entries() {
            map.serialize_entry(&key, &value)?;
        }
        Ok(())
    }
}

impl Serialize for Statistics {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        self.serialize_entries(&mut map)?;
        map.end()
    }
}
