//! The payload columns behind the SQL tables `steps` and `tool_calls`: each trajectory's
//! step facts and call facts (see `trajstore_model::step_facts`) as lists of structs,
//! written with the payload at import. Stores written before them get the columns empty
//! (`migrate`), and `optimize` derives the facts from the stored steps.

use std::sync::Arc;

use arrow_array::builder::{BooleanBuilder, Float64Builder, Int64Builder, LargeStringBuilder, StringBuilder};
use arrow_array::{ArrayRef, ListArray, RecordBatch, StructArray};
use arrow_buffer::{OffsetBuffer, ScalarBuffer};
use arrow_schema::{DataType, Field, Fields, Schema, SchemaRef};
use trajstore_model::step_facts::{step_facts, StepFacts};

use crate::schema::Columns;
use crate::{Result, Store};

pub const STEP_FACTS: &str = "step_facts";
pub const CALL_FACTS: &str = "call_facts";

/// Texts compressed as the other bulky payload texts are.
fn text_field(name: &str) -> Field {
    let zstd = [
        ("lance-encoding:compression".to_string(), "zstd".to_string()),
        ("lance-encoding:compression-level".to_string(), "1".to_string()),
    ];
    Field::new(name, DataType::LargeUtf8, true).with_metadata(zstd.into_iter().collect())
}

fn step_fields() -> Fields {
    Fields::from(vec![
        Field::new("step", DataType::Int64, false),
        Field::new("role", DataType::Utf8, false),
        Field::new("tool_name", DataType::Utf8, true),
        text_field("content"),
        Field::new("content_length", DataType::Int64, false),
        Field::new("is_error", DataType::Boolean, true),
        Field::new("reward", DataType::Float64, true),
        Field::new("timestamp", DataType::Int64, true),
    ])
}

fn call_fields() -> Fields {
    Fields::from(vec![
        Field::new("step", DataType::Int64, false),
        Field::new("call_index", DataType::Int64, false),
        Field::new("tool_name", DataType::Utf8, true),
        Field::new("call_id", DataType::Utf8, true),
        text_field("arguments"),
        Field::new("result_length", DataType::Int64, true),
        Field::new("result_is_error", DataType::Boolean, true),
    ])
}

fn list_of(name: &str, fields: Fields) -> Field {
    Field::new_list(name, Field::new("item", DataType::Struct(fields), true), true)
}

/// The two payload columns, in the order the payload schema has them.
pub fn facts_fields() -> [Field; 2] {
    [list_of(STEP_FACTS, step_fields()), list_of(CALL_FACTS, call_fields())]
}

/// The two columns alone, all null: added to stores written before them.
pub fn facts_schema() -> SchemaRef {
    Arc::new(Schema::new(facts_fields().to_vec()))
}

fn list_array(field: &Field, offsets: Vec<i32>, children: Vec<ArrayRef>) -> Result<ArrayRef> {
    let DataType::List(item) = field.data_type() else { unreachable!("the facts columns are lists") };
    let DataType::Struct(fields) = item.data_type() else { unreachable!("of structs") };
    let structs = StructArray::try_new(fields.clone(), children, None)?;
    let offsets = OffsetBuffer::new(ScalarBuffer::from(offsets));
    Ok(Arc::new(ListArray::try_new(item.clone(), offsets, Arc::new(structs), None)?))
}

/// The `step_facts` and `call_facts` arrays of a batch of trajectories' facts.
pub fn facts_arrays(all: &[StepFacts]) -> Result<[ArrayRef; 2]> {
    let [steps_field, calls_field] = facts_fields();
    let (mut step, mut role, mut tool) = (Int64Builder::new(), StringBuilder::new(), StringBuilder::new());
    let (mut content, mut length) = (LargeStringBuilder::new(), Int64Builder::new());
    let (mut is_error, mut reward, mut timestamp) = (BooleanBuilder::new(), Float64Builder::new(), Int64Builder::new());
    let mut step_offsets = vec![0i32];
    let (mut call_step, mut call_index, mut call_tool) =
        (Int64Builder::new(), Int64Builder::new(), StringBuilder::new());
    let (mut call_id, mut arguments) = (StringBuilder::new(), LargeStringBuilder::new());
    let (mut result_length, mut result_is_error) = (Int64Builder::new(), BooleanBuilder::new());
    let mut call_offsets = vec![0i32];
    for facts in all {
        for (i, s) in facts.steps.iter().enumerate() {
            step.append_value(i as i64);
            role.append_value(&s.role);
            tool.append_option(s.tool_name.as_deref());
            content.append_value(&s.content);
            length.append_value(s.content_length);
            is_error.append_option(s.is_error);
            reward.append_option(s.reward);
            timestamp.append_option(s.timestamp);
        }
        step_offsets.push(step_offsets[step_offsets.len() - 1] + facts.steps.len() as i32);
        for (i, c) in facts.calls.iter().enumerate() {
            call_step.append_value(c.step);
            call_index.append_value(i as i64);
            call_tool.append_option(c.tool_name.as_deref());
            call_id.append_option(c.call_id.as_deref());
            arguments.append_option(c.arguments.as_deref());
            result_length.append_option(c.result_length);
            result_is_error.append_option(c.result_is_error);
        }
        call_offsets.push(call_offsets[call_offsets.len() - 1] + facts.calls.len() as i32);
    }
    let steps: Vec<ArrayRef> = vec![
        Arc::new(step.finish()),
        Arc::new(role.finish()),
        Arc::new(tool.finish()),
        Arc::new(content.finish()),
        Arc::new(length.finish()),
        Arc::new(is_error.finish()),
        Arc::new(reward.finish()),
        Arc::new(timestamp.finish()),
    ];
    let calls: Vec<ArrayRef> = vec![
        Arc::new(call_step.finish()),
        Arc::new(call_index.finish()),
        Arc::new(call_tool.finish()),
        Arc::new(call_id.finish()),
        Arc::new(arguments.finish()),
        Arc::new(result_length.finish()),
        Arc::new(result_is_error.finish()),
    ];
    Ok([list_array(&steps_field, step_offsets, steps)?, list_array(&calls_field, call_offsets, calls)?])
}

impl Store {
    /// Derives the step and call facts of payload rows written before they existed;
    /// returns how many rows it filled. Once a pass finds none missing, later passes
    /// through this handle are skipped (finding them reads the whole column).
    pub async fn fill_missing_step_facts(&self) -> Result<u64> {
        self.gate.check()?;
        self.backfill_payload_column(STEP_FACTS, 4096, &self.step_facts_complete, |batches| async move {
            tokio::task::spawn_blocking(move || facts_update_batch(&batches))
                .await
                .map_err(|e| crate::StoreError::Corrupt(format!("deriving step facts failed: {e}")))?
        })
        .await
    }
}

/// The keys of payload rows (`trajectory_id`, `write_id`, `steps`) and their facts.
fn facts_update_batch(batches: &[RecordBatch]) -> Result<RecordBatch> {
    let mut ids = StringBuilder::new();
    let mut write_ids = Int64Builder::new();
    let mut facts = Vec::new();
    for b in batches {
        let c = Columns::new(b);
        let (id, write_id, steps) = (c.str("trajectory_id")?, c.i64("write_id")?, c.large_str("steps")?);
        for i in 0..b.num_rows() {
            ids.append_value(id.value(i));
            write_ids.append_value(write_id.value(i));
            facts.push(step_facts(steps.value(i)));
        }
    }
    let [steps, calls] = facts_arrays(&facts)?;
    let [steps_field, calls_field] = facts_fields();
    let schema = Schema::new(vec![
        Field::new("trajectory_id", DataType::Utf8, false),
        Field::new("write_id", DataType::Int64, false),
        steps_field,
        calls_field,
    ]);
    Ok(RecordBatch::try_new(
        Arc::new(schema),
        vec![Arc::new(ids.finish()), Arc::new(write_ids.finish()), steps, calls],
    )?)
}
