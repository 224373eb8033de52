//! Tool-call analytics: per tool, its calls, the trajectories that use it, its errors,
//! and how many successful and failed trajectories use it, over a filtered set. One
//! DataFusion query over the summaries and the payloads' call facts (`facts.rs`).

use arrow_array::cast::AsArray;
use arrow_array::types::Int64Type;
use arrow_array::{Array, RecordBatch};
use datafusion::error::DataFusionError;

use crate::sql::{session, SqlLimits};
use crate::{Result, Store};

/// One tool's use in the filtered set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolUsageRow {
    /// `None` for calls that name no tool.
    pub tool_name: Option<String>,
    pub calls: u64,
    /// Trajectories with at least one call of the tool.
    pub trajectories: u64,
    /// Calls whose result says it is an error, and calls whose result says either way.
    pub errors: u64,
    pub calls_with_error_flag: u64,
    /// Successful and failed trajectories with at least one call of the tool.
    pub in_successful: u64,
    pub in_failed: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ToolUsage {
    /// Trajectories in the filtered set, and how many of them succeeded.
    pub trajectories: u64,
    pub successful: u64,
    /// Most called first.
    pub tools: Vec<ToolUsageRow>,
}

/// The filtered trajectories, each with whether it succeeded: `is_success`, else reward
/// at least the threshold (the statistics' rule).
fn query(filter: Option<&str>, success_threshold: f64) -> String {
    let filter = filter.unwrap_or("true");
    format!(
        "WITH t AS (SELECT trajectory_id, write_id, \
           coalesce(is_success, reward >= {success_threshold:?}, false) AS ok FROM __summaries WHERE {filter}), \
         c AS (SELECT t.trajectory_id, t.ok, unnest(p.call_facts) AS f FROM __payloads p \
           JOIN t ON p.trajectory_id = t.trajectory_id AND p.write_id = t.write_id) \
         SELECT 0 AS part, CAST(NULL AS VARCHAR) AS tool, count(*) AS calls, \
           sum(CASE WHEN ok THEN 1 ELSE 0 END) AS trajectories, 0 AS errors, 0 AS flagged, 0 AS ok_n, 0 AS failed_n \
         FROM t \
         UNION ALL \
         SELECT 1, f['tool_name'], count(*), count(DISTINCT trajectory_id), \
           sum(CASE WHEN f['result_is_error'] THEN 1 ELSE 0 END), count(f['result_is_error']), \
           count(DISTINCT CASE WHEN ok THEN trajectory_id END), count(DISTINCT CASE WHEN NOT ok THEN trajectory_id END) \
         FROM c GROUP BY f['tool_name']"
    )
}

fn u64_at(batch: &RecordBatch, column: usize, row: usize) -> u64 {
    let c = batch.column(column);
    if c.is_null(row) {
        return 0;
    }
    c.as_primitive_opt::<Int64Type>().map_or(0, |a| a.value(row).max(0) as u64)
}

impl Store {
    /// The tool usage of the trajectories matching `filter` (an escaped SQL predicate
    /// over the summary columns).
    pub async fn tool_usage(&self, filter: Option<&str>, success_threshold: f64) -> Result<ToolUsage> {
        let limits = SqlLimits { max_rows: usize::MAX, memory_bytes: 1 << 30 };
        let failed = |e: DataFusionError| crate::sql::sql_error(e, &limits);
        let ctx = session(&limits)?;
        self.register_base_tables(&ctx).await?;
        let cast = |df: datafusion::dataframe::DataFrame| {
            let exprs = (0..df.schema().fields().len())
                .map(|i| {
                    let (q, f) = df.schema().qualified_field(i);
                    let column = datafusion::prelude::Expr::Column((q, f).into());
                    if i == 1 {
                        datafusion::prelude::cast(column, arrow_schema::DataType::Utf8).alias(f.name())
                    } else if i >= 2 {
                        datafusion::prelude::cast(column, arrow_schema::DataType::Int64).alias(f.name())
                    } else {
                        column
                    }
                })
                .collect::<Vec<_>>();
            df.select(exprs)
        };
        let frame = ctx.sql(&query(filter, success_threshold)).await.and_then(cast).map_err(failed)?;
        let batches = frame.collect().await.map_err(failed)?;
        let mut usage = ToolUsage::default();
        for b in &batches {
            let names = b.column(1).as_string::<i32>();
            for i in 0..b.num_rows() {
                if u64_at(b, 0, i) == 0 {
                    (usage.trajectories, usage.successful) = (u64_at(b, 2, i), u64_at(b, 3, i));
                    continue;
                }
                usage.tools.push(ToolUsageRow {
                    tool_name: (!names.is_null(i)).then(|| names.value(i).to_string()),
                    calls: u64_at(b, 2, i),
                    trajectories: u64_at(b, 3, i),
                    errors: u64_at(b, 4, i),
                    calls_with_error_flag: u64_at(b, 5, i),
                    in_successful: u64_at(b, 6, i),
                    in_failed: u64_at(b, 7, i),
                });
            }
        }
        usage.tools.sort_by(|a, b| b.calls.cmp(&a.calls).then_with(|| a.tool_name.cmp(&b.tool_name)));
        Ok(usage)
    }
}
