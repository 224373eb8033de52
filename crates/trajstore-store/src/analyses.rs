//! What a failure-mode analysis reads and writes: the last turns of the trajectories it
//! clusters, their labels in the summary column `failure_mode`, and a record of each run
//! (its parameters, its clusters and which trajectory went where) in the table
//! `analyses`, so that a later run that relabels trajectories does not lose the earlier
//! labels: they stay in their run's record.

use std::sync::Arc;

use arrow_array::builder::{LargeStringBuilder, StringBuilder};
use arrow_array::cast::AsArray;
use arrow_array::{Array, Int64Array, RecordBatch, StructArray};
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use datafusion::error::DataFusionError;
use futures::{StreamExt, TryStreamExt};
use lancedb::query::{ExecutableQuery, QueryBase, Select};

use crate::sql::{session, SqlLimits};
use crate::{Result, Store};

pub const ANALYSES: &str = "analyses";

/// The parts of one trajectory's last turns that say what went wrong.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FailureInput {
    pub trajectory_id: String,
    pub termination_reason: Option<String>,
    /// Its label from an earlier run, if any.
    pub failure_mode: Option<String>,
    /// The content of the last assistant step with text, and of the last tool step.
    pub last_assistant: Option<String>,
    pub last_tool: Option<String>,
    /// The contents of the last two steps marked `is_error`.
    pub errors: Vec<String>,
}

/// One run of an analysis.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnalysisRecord {
    pub analysis_id: String,
    pub kind: String,
    /// Microseconds since the epoch.
    pub created_at: i64,
    /// JSON texts: the parameters, the result (clusters), and the assignments (which
    /// trajectory went to which cluster); the last is left empty by listings.
    pub parameters: String,
    pub result: String,
    pub assignments: String,
}

fn analyses_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("analysis_id", DataType::Utf8, false),
        Field::new("kind", DataType::Utf8, false),
        Field::new("created_at", DataType::Int64, false),
        Field::new("parameters", DataType::Utf8, false),
        Field::new("result", DataType::LargeUtf8, false),
        Field::new("assignments", DataType::LargeUtf8, false),
    ]))
}

/// The failure parts of one row of `step_facts`.
fn failure_parts(steps: &StructArray) -> (Option<String>, Option<String>, Vec<String>) {
    let (Some(role), Some(content), Some(is_error)) =
        (steps.column_by_name("role"), steps.column_by_name("content"), steps.column_by_name("is_error"))
    else {
        return (None, None, Vec::new());
    };
    let (role, content, is_error) = (role.as_string::<i32>(), content.as_string::<i64>(), is_error.as_boolean());
    let (mut assistant, mut tool, mut errors) = (None, None, Vec::new());
    for i in (0..steps.len()).rev() {
        let text = content.value(i);
        if assistant.is_none() && role.value(i) == "assistant" && !text.trim().is_empty() {
            assistant = Some(text.to_string());
        }
        if tool.is_none() && role.value(i) == "tool" {
            tool = Some(text.to_string());
        }
        if errors.len() < 2 && is_error.is_valid(i) && is_error.value(i) {
            errors.push(text.to_string());
        }
    }
    (assistant, tool, errors)
}

impl Store {
    /// The failure parts of the trajectories matching `filter` (an escaped SQL predicate
    /// over the summary columns), in no particular order.
    pub async fn failure_inputs(&self, filter: Option<&str>) -> Result<Vec<FailureInput>> {
        let limits = SqlLimits { max_rows: usize::MAX, memory_bytes: 1 << 30 };
        let failed = |e: DataFusionError| crate::sql::sql_error(e, &limits);
        let ctx = session(&limits)?;
        self.register_base_tables(&ctx).await?;
        let query = format!(
            "SELECT s.trajectory_id, s.termination_reason, s.failure_mode, p.step_facts \
             FROM (SELECT trajectory_id, write_id, termination_reason, failure_mode FROM __summaries WHERE {}) s \
             JOIN __payloads p ON s.trajectory_id = p.trajectory_id AND s.write_id = p.write_id",
            filter.unwrap_or("true")
        );
        let mut stream = ctx.sql(&query).await.map_err(failed)?.execute_stream().await.map_err(failed)?;
        let mut inputs = Vec::new();
        while let Some(batch) = stream.next().await {
            let batch = batch.map_err(failed)?;
            let ids = arrow_cast_utf8(batch.column(0))?;
            let reasons = arrow_cast_utf8(batch.column(1))?;
            let modes = arrow_cast_utf8(batch.column(2))?;
            let facts = batch.column(3).as_list::<i32>();
            for i in 0..batch.num_rows() {
                let (last_assistant, last_tool, errors) =
                    if facts.is_null(i) { (None, None, Vec::new()) } else { failure_parts(facts.value(i).as_struct()) };
                inputs.push(FailureInput {
                    trajectory_id: ids[i].clone().unwrap_or_default(),
                    termination_reason: reasons[i].clone(),
                    failure_mode: modes[i].clone(),
                    last_assistant,
                    last_tool,
                    errors,
                });
            }
        }
        Ok(inputs)
    }

    /// Sets `failure_mode` of the given trajectories (ids not stored are left out) in
    /// one commit per 65,536 rows.
    pub async fn set_failure_modes(&self, labels: &[(String, Option<String>)]) -> Result<u64> {
        self.gate.check()?;
        let schema = Arc::new(Schema::new(vec![
            Field::new("trajectory_id", DataType::Utf8, false),
            Field::new("failure_mode", DataType::Utf8, true),
        ]));
        let mut updated = 0;
        for chunk in labels.chunks(1 << 16) {
            let mut ids = StringBuilder::new();
            let mut modes = StringBuilder::new();
            for (id, mode) in chunk {
                ids.append_value(id);
                modes.append_option(mode.as_deref());
            }
            let batch = RecordBatch::try_new(schema.clone(), vec![Arc::new(ids.finish()), Arc::new(modes.finish())])?;
            updated += crate::search::update_columns(&self.summaries, &["trajectory_id"], batch).await?;
        }
        Ok(updated)
    }

    /// Stores the record of an analysis run.
    pub async fn save_analysis(&self, record: &AnalysisRecord) -> Result<()> {
        self.gate.check()?;
        let table = crate::open_or_create(&self.conn, ANALYSES, analyses_schema(), &self.gate).await?;
        let text = |v: &str| {
            let mut b = StringBuilder::new();
            b.append_value(v);
            Arc::new(b.finish()) as Arc<dyn Array>
        };
        let large = |v: &str| {
            let mut b = LargeStringBuilder::new();
            b.append_value(v);
            Arc::new(b.finish()) as Arc<dyn Array>
        };
        let batch = RecordBatch::try_new(
            analyses_schema(),
            vec![
                text(&record.analysis_id),
                text(&record.kind),
                Arc::new(Int64Array::from(vec![record.created_at])),
                text(&record.parameters),
                large(&record.result),
                large(&record.assignments),
            ],
        )?;
        table.add(batch).execute().await?;
        Ok(())
    }

    /// The runs of analyses of `kind`, newest first; `with_assignments` also reads which
    /// trajectory went where (large), else that field is empty.
    pub async fn analyses(&self, kind: &str, id: Option<&str>, with_assignments: bool) -> Result<Vec<AnalysisRecord>> {
        let table = match self.conn.open_table(ANALYSES).execute().await {
            Ok(t) => t,
            Err(lancedb::Error::TableNotFound { .. }) => return Ok(Vec::new()),
            Err(e) => return Err(e.into()),
        };
        let mut columns = vec!["analysis_id", "kind", "created_at", "parameters", "result"];
        if with_assignments {
            columns.push("assignments");
        }
        let mut filter = format!("kind = {}", trajstore_query::sql::string_literal(kind));
        if let Some(id) = id {
            filter.push_str(&format!(" AND analysis_id = {}", trajstore_query::sql::string_literal(id)));
        }
        let batches: Vec<RecordBatch> =
            table.query().only_if(filter).select(Select::columns(&columns)).execute().await?.try_collect().await?;
        let mut out = Vec::new();
        for b in &batches {
            let c = crate::schema::Columns::new(b);
            let (ids, kinds, at, params, result) = (
                c.str("analysis_id")?,
                c.str("kind")?,
                c.i64("created_at")?,
                c.str("parameters")?,
                c.large_str("result")?,
            );
            let assignments = if with_assignments { Some(c.large_str("assignments")?) } else { None };
            for i in 0..b.num_rows() {
                out.push(AnalysisRecord {
                    analysis_id: ids.value(i).to_string(),
                    kind: kinds.value(i).to_string(),
                    created_at: at.value(i),
                    parameters: params.value(i).to_string(),
                    result: result.value(i).to_string(),
                    assignments: assignments.map(|a| a.value(i).to_string()).unwrap_or_default(),
                });
            }
        }
        out.sort_by(|a, b| b.created_at.cmp(&a.created_at).then_with(|| b.analysis_id.cmp(&a.analysis_id)));
        Ok(out)
    }
}

/// A text column (of whichever string layout DataFusion chose) as owned strings.
fn arrow_cast_utf8(column: &Arc<dyn Array>) -> Result<Vec<Option<String>>> {
    let utf8 = datafusion::arrow::compute::cast(column, &DataType::Utf8)?;
    let a = utf8.as_string::<i32>();
    Ok((0..a.len()).map(|i| (!a.is_null(i)).then(|| a.value(i).to_string())).collect())
}
