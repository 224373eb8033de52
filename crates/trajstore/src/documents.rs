//! Trajectories as the JSON documents HTTP clients send and read: a body of one record or
//! many to add, and one record whole or with a slice of its steps.

use serde::Serialize;
use serde_json::value::RawValue;
use serde_json::{json, Value};
use trajstore_model::step_facts::{step_facts, StepFacts};
use trajstore_stats::align::{align_actions, Alignment};

use crate::{on_blocking_thread, Error, ImportErrorEntry, Result, Trajectory, Trajstore};

/// What adding a body of records did: the good ones are stored (or skipped as already
/// there), the bad ones are listed by index and field.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AddReport {
    pub imported: u64,
    pub skipped: u64,
    pub failed: usize,
    pub errors: Vec<ImportErrorEntry>,
}

impl AddReport {
    /// Every record was refused: nothing was stored.
    pub fn all_failed(&self) -> bool {
        self.failed > 0 && self.imported + self.skipped == 0
    }
}

/// `FROM:TO` (0-based, TO exclusive; either side may be left out): which steps to return.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StepRange {
    pub from: usize,
    pub to: Option<usize>,
}

impl std::str::FromStr for StepRange {
    type Err = Error;

    fn from_str(range: &str) -> Result<Self> {
        let bad = || Error::invalid("steps", format!("expected FROM:TO with integers, got {range:?}"));
        let (from, to) = range.split_once(':').ok_or_else(bad)?;
        let from = if from.is_empty() { 0 } else { from.parse().map_err(|_| bad())? };
        let to = if to.is_empty() { None } else { Some(to.parse().map_err(|_| bad())?) };
        Ok(StepRange { from, to })
    }
}

/// The record `record` (JSON text) with only the steps in `range`, and a `steps_range`
/// saying which ones of how many.
pub fn slice_steps(record: &str, range: StepRange) -> Result<String> {
    // Steps are stored as their text, which may hold a number beyond f64 (1e400).
    let mut value: Value = serde_json::from_str(record).map_err(|e| {
        Error::Unreadable(format!(
            "the record's JSON does not read back as values ({e}), so its steps cannot be sliced; ask without ?steps"
        ))
    })?;
    let total = value["steps"].as_array().map_or(0, Vec::len);
    let to = range.to.unwrap_or(total).min(total);
    let from = range.from.min(to);
    let part: Vec<Value> = value["steps"].as_array().map(|s| s[from..to].to_vec()).unwrap_or_default();
    value["steps"] = Value::Array(part);
    value["steps_range"] = json!({"from": from, "to": to, "total": total});
    Ok(value.to_string())
}

/// Splits a body holding one record or an array of them into the valid trajectories and
/// the errors of the others (named by index and field).
fn parse_body(body: &[u8]) -> Result<(Vec<Trajectory>, Vec<ImportErrorEntry>)> {
    let value: Value =
        serde_json::from_slice(body).map_err(|e| Error::invalid("body", format!("invalid JSON: {e}")))?;
    let items: Vec<Value> = match value {
        Value::Array(items) => items,
        obj @ Value::Object(_) => vec![obj],
        _ => return Err(Error::invalid("body", "expected a trajectory object or an array of them")),
    };
    let mut good = Vec::new();
    let mut errors = Vec::new();
    for (i, item) in items.iter().enumerate() {
        match Trajectory::from_json(item.to_string().as_bytes()) {
            Ok(t) => good.push(t),
            Err(e) => errors.push(ImportErrorEntry {
                file: "body".into(),
                line: None,
                index: Some(i as u64),
                field: e.field,
                message: e.message,
            }),
        }
    }
    Ok((good, errors))
}

impl Trajstore {
    /// Adds the records of a JSON body (one object or an array), validated like imported
    /// records; the invalid ones are reported, the others stored.
    pub async fn add_json(&self, body: impl AsRef<[u8]> + Send + 'static) -> Result<AddReport> {
        let (good, errors) = on_blocking_thread(move || parse_body(body.as_ref())).await??;
        let added = if good.is_empty() { Default::default() } else { self.add(good).await? };
        let (imported, skipped) = (added.inserted, added.skipped);
        Ok(AddReport { imported, skipped, failed: errors.len(), errors })
    }

    /// One whole trajectory as JSON text, or with only the steps in `steps`.
    pub async fn get_json(&self, id: &str, steps: Option<StepRange>) -> Result<String> {
        // Serialising a whole record (megabytes of steps, maybe) is CPU work: off the
        // async workers, like the slicing.
        let record = self.get(id).await?;
        on_blocking_thread(move || {
            let record = record.to_json();
            match steps {
                None => Ok(record),
                Some(range) => slice_steps(&record, range),
            }
        })
        .await?
    }
}

/// The most assistant turns a trajectory may have to be aligned by actions: the
/// alignment's work and memory grow with the product of two trajectories' turns.
pub const MAX_ALIGNED_TURNS: usize = 2_000;

/// The steps of whole records (native JSON, as `get_json` returns them) aligned by their
/// actions (see `trajstore_stats::align`). A record whose steps cannot be read counts as
/// one without steps. CPU-bound: call it off the async workers.
pub fn align_records(records: &[String]) -> Result<Alignment> {
    #[derive(serde::Deserialize)]
    struct Steps<'a> {
        #[serde(borrow)]
        steps: Option<&'a RawValue>,
    }
    let facts: Vec<StepFacts> = records
        .iter()
        .map(|r| match serde_json::from_str::<Steps<'_>>(r) {
            Ok(Steps { steps: Some(steps) }) => step_facts(steps.get()),
            _ => StepFacts::default(),
        })
        .collect();
    if let Some(long) =
        facts.iter().position(|f| f.steps.iter().filter(|s| s.role == "assistant").count() > MAX_ALIGNED_TURNS)
    {
        return Err(Error::invalid(
            "align",
            format!(
                "trajectory {} has more than {MAX_ALIGNED_TURNS} assistant turns: compare it with align=index",
                long + 1
            ),
        ));
    }
    Ok(align_actions(&facts))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_step_range_reads_either_side_left_out() {
        assert_eq!("2:5".parse::<StepRange>().unwrap(), StepRange { from: 2, to: Some(5) });
        assert_eq!(":".parse::<StepRange>().unwrap(), StepRange { from: 0, to: None });
        let e = "2-5".parse::<StepRange>().unwrap_err();
        assert_eq!(e.parameter(), Some("steps"));
    }

    #[test]
    fn slicing_clamps_to_the_steps_there_are() {
        let record = r#"{"trajectory_id":"t","steps":[{"n":0},{"n":1},{"n":2}]}"#;
        let sliced: Value = serde_json::from_str(&slice_steps(record, "1:9".parse().unwrap()).unwrap()).unwrap();
        assert_eq!(sliced["steps"], json!([{"n": 1}, {"n": 2}]));
        assert_eq!(sliced["steps_range"], json!({"from": 1, "to": 3, "total": 3}));
        let sliced: Value = serde_json::from_str(&slice_steps(record, "5:2".parse().unwrap()).unwrap()).unwrap();
        assert_eq!(sliced["steps_range"], json!({"from": 2, "to": 2, "total": 3}));
    }

    #[test]
    fn a_number_beyond_f64_cannot_be_sliced() {
        let record = r#"{"trajectory_id":"t","steps":[{"n":1e400}]}"#;
        assert!(matches!(slice_steps(record, "0:1".parse().unwrap()), Err(Error::Unreadable(_))));
    }

    #[test]
    fn a_body_is_one_record_or_many_and_bad_ones_are_named_by_index() {
        let (good, errors) = parse_body(br#"[{"trajectory_id":"a"},{"reward":1}]"#).unwrap();
        assert_eq!((good.len(), errors.len(), errors[0].index), (1, 1, Some(1)));
        assert_eq!(parse_body(br#"{"trajectory_id":"a"}"#).unwrap().0.len(), 1);
        assert_eq!(parse_body(b"7").unwrap_err().parameter(), Some("body"));
        assert_eq!(parse_body(b"{").unwrap_err().parameter(), Some("body"));
    }
}
