//! Verifier reports as `metadata.verifier_tests`: a list of `{name, status, message?}`,
//! shared by the formats whose runs end with a test suite (Harbor, mini-swe-agent), and
//! `metadata.patch` from a submission that is a diff (mini-swe-agent, SWE-agent).
//!
//! * CTRF (`verifier/ctrf.json`, pytest-json-ctrf and friends): `{results: {tool, summary,
//!   tests: [{name, status, message, trace, duration, ...}]}}`. Each test keeps its
//!   status as CTRF spells it (`passed`, `failed`, `skipped`, `pending`, `other`), its
//!   `message`, and its `trace` and `duration` when present.
//! * SWE-bench `report.json`: `{resolved, tests_status: {FAIL_TO_PASS: {success: [...],
//!   failure: [...]}, PASS_TO_PASS: {...}, FAIL_TO_FAIL, PASS_TO_FAIL}}` (or the same keyed
//!   by the instance id). `success` is `passed`, `failure` is `failed`; the group it came
//!   from is kept as `group`, so the report can be rebuilt from the list.

use serde_json::{json, Map, Value};

/// `results.tests[]` of a CTRF report; entries without a name are skipped (CTRF requires
/// one, and a test with no name cannot be told apart from the others).
pub(crate) fn ctrf_tests(report: &Value) -> Option<Vec<Value>> {
    let tests = report.pointer("/results/tests")?.as_array()?;
    Some(
        tests
            .iter()
            .filter_map(|t| {
                let name = t.get("name").and_then(Value::as_str)?;
                let mut out = Map::new();
                out.insert("name".into(), json!(name));
                out.insert(
                    "status".into(),
                    t.get("status").filter(|s| s.is_string()).cloned().unwrap_or(json!("other")),
                );
                for key in ["message", "trace", "duration"] {
                    if let Some(v) = t.get(key).filter(|v| !v.is_null()) {
                        out.insert(key.into(), v.clone());
                    }
                }
                Some(Value::Object(out))
            })
            .collect(),
    )
}

/// `tests_status` of a SWE-bench report, group by group in the report's order.
pub(crate) fn swebench_tests(report: &Value) -> Option<Vec<Value>> {
    let groups = report.get("tests_status")?.as_object()?;
    let mut out = Vec::new();
    for (group, outcome) in groups {
        for (key, status) in [("success", "passed"), ("failure", "failed")] {
            for name in outcome.get(key).and_then(Value::as_array).into_iter().flatten() {
                let name = match name {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                out.push(json!({"name": name, "status": status, "group": group}));
            }
        }
    }
    Some(out)
}

/// A submission as `metadata.patch`: a non-empty string that reads as a unified diff
/// (SWE-agent also submits CTF flags and answers there, which are no patch).
pub(crate) fn patch(submission: &Value) -> Option<Value> {
    let s = submission.as_str()?;
    let is_diff = s.contains("diff --git") || (s.contains("--- ") && s.contains("\n+++ ") && s.contains("\n@@"));
    (!s.trim().is_empty() && is_diff).then(|| Value::String(s.to_string()))
}
