//! Tool-call analytics (`GET /api/tools`, `trajstore tools`, the statistics page's tool
//! panel): per tool over the filtered trajectories, its calls, the share of
//! trajectories that use it, its error rate, and how much more often successful or
//! failed trajectories use it. Read from the calls' facts that the import derived.

use trajstore_query::FilterSet;

use crate::stats::parse_threshold;
use crate::{Result, Trajstore};

/// The filtered set and the success rule (`is_success`, else reward at least
/// `success_threshold`, as in the statistics).
#[derive(Debug, Clone, PartialEq)]
pub struct ToolsRequest {
    pub filters: FilterSet,
    pub success_threshold: f64,
}

impl ToolsRequest {
    /// Parses `success_threshold` and every filter from query pairs.
    pub fn parse<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Result<Self> {
        let mut success_threshold = 1.0;
        let mut filters = Vec::new();
        for (name, value) in pairs {
            match name {
                "success_threshold" => success_threshold = parse_threshold(value)?,
                _ => filters.push((name, value)),
            }
        }
        Ok(ToolsRequest { filters: FilterSet::parse(filters)?, success_threshold })
    }
}

/// Tool use over the filtered set.
#[derive(Debug, Clone, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct ToolReport {
    /// Trajectories in the filtered set, and how many succeeded or failed.
    pub trajectories: u64,
    pub successful: u64,
    pub failed: u64,
    /// One entry per tool, the most called first.
    pub tools: Vec<ToolStats>,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct ToolStats {
    /// Null for calls that name no tool.
    pub tool_name: Option<String>,
    pub calls: u64,
    /// Trajectories with at least one call, and their share of the filtered set.
    pub trajectories: u64,
    pub trajectory_share: f64,
    /// Calls whose result is marked an error; the error rate is over the calls whose
    /// result says either way (null when none does: the format does not say).
    pub errors: u64,
    pub calls_with_error_flag: u64,
    pub error_rate: Option<f64>,
    /// The share of successful trajectories that use the tool, and of failed ones
    /// (null when there are none of that kind).
    pub share_in_successful: Option<f64>,
    pub share_in_failed: Option<f64>,
}

fn share(part: u64, whole: u64) -> Option<f64> {
    (whole > 0).then(|| part as f64 / whole as f64)
}

impl Trajstore {
    pub async fn tool_usage(&self, request: &ToolsRequest) -> Result<ToolReport> {
        let filter = request.filters.to_sql();
        let usage = self.store.tool_usage(filter.as_deref(), request.success_threshold).await?;
        let failed = usage.trajectories - usage.successful;
        let tools = usage
            .tools
            .into_iter()
            .map(|t| ToolStats {
                trajectory_share: share(t.trajectories, usage.trajectories).unwrap_or(0.0),
                error_rate: share(t.errors, t.calls_with_error_flag),
                share_in_successful: share(t.in_successful, usage.successful),
                share_in_failed: share(t.in_failed, failed),
                tool_name: t.tool_name,
                calls: t.calls,
                trajectories: t.trajectories,
                errors: t.errors,
                calls_with_error_flag: t.calls_with_error_flag,
            })
            .collect();
        Ok(ToolReport { trajectories: usage.trajectories, successful: usage.successful, failed, tools })
    }
}
