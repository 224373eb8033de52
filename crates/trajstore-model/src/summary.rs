//! The summary row: every field of a trajectory except its steps and task object.
//! Lists, queries and exports of "rows" return this shape.

use serde::Serialize;

use crate::time::format_timestamp;
use crate::Trajectory;

/// The fields of a summary row, in output order.
pub const SUMMARY_FIELDS: &[&str] = &[
    "trajectory_id",
    "data_id",
    "agent_name",
    "training_id",
    "epoch_id",
    "iteration_id",
    "sample_id",
    "question",
    "termination_reason",
    "reward",
    "toolcall_reward",
    "res_reward",
    "is_success",
    "step_count",
    "exec_time",
    "is_bookmarked",
    "tags",
    "notes",
    "metadata",
    "source",
    "created_at",
    "updated_at",
];

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Summary {
    pub trajectory_id: String,
    pub data_id: Option<String>,
    pub agent_name: Option<String>,
    pub training_id: Option<String>,
    pub epoch_id: Option<i64>,
    pub iteration_id: Option<i64>,
    pub sample_id: Option<i64>,
    pub question: Option<String>,
    pub termination_reason: Option<String>,
    pub reward: Option<f64>,
    pub toolcall_reward: Option<f64>,
    pub res_reward: Option<f64>,
    pub is_success: Option<bool>,
    pub step_count: i64,
    pub exec_time: Option<f64>,
    pub is_bookmarked: bool,
    pub tags: Vec<String>,
    pub notes: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<serde_json::Value>,
    pub source: Option<String>,
    /// Microseconds since the epoch; written as RFC 3339.
    #[serde(serialize_with = "ser_time")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub created_at: Option<i64>,
    #[serde(serialize_with = "ser_time")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub updated_at: Option<i64>,
}

fn ser_time<S: serde::Serializer>(v: &Option<i64>, s: S) -> Result<S::Ok, S::Error> {
    match v {
        Some(micros) => s.serialize_str(&format_timestamp(*micros)),
        None => s.serialize_none(),
    }
}

impl From<&Trajectory> for Summary {
    fn from(t: &Trajectory) -> Self {
        Summary {
            trajectory_id: t.trajectory_id.clone(),
            data_id: t.data_id.clone(),
            agent_name: t.agent_name.clone(),
            training_id: t.training_id.clone(),
            epoch_id: t.epoch_id,
            iteration_id: t.iteration_id,
            sample_id: t.sample_id,
            question: t.question.clone(),
            termination_reason: t.termination_reason.clone(),
            reward: t.reward,
            toolcall_reward: t.toolcall_reward,
            res_reward: t.res_reward,
            is_success: t.is_success,
            step_count: t.step_count,
            exec_time: t.exec_time,
            is_bookmarked: t.is_bookmarked,
            tags: t.tags.clone(),
            notes: t.notes.clone(),
            metadata: t.metadata_json.as_deref().and_then(|m| serde_json::from_str(m).ok()),
            source: t.source.clone(),
            created_at: t.created_at,
            updated_at: t.updated_at,
        }
    }
}
