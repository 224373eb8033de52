//! Every file under the shared real-data folder (`TRAJSTORE_REALDATA`, default
//! `../shared/realdata` beside the repository) is detected and converted, and the results
//! are checked against values computed here from the source files with serde_json alone.
//! Where the folder is absent the tests print why and pass (fail under `CI=true`).

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;

use serde_json::Value;
use trajstore_formats::{convert, Format, SourceFile};

use crate::common::{convert_file, files, files_under, json, meta, realdata};

#[test]
fn tau_bench_runs_rewards_and_steps() {
    let Some(root) = realdata() else { return };
    for path in files_under(&root, "tau-bench") {
        let source = json(&path);
        let runs = source.as_array().unwrap();
        let out = convert_file(&path);
        assert_eq!(out.format, Some(Format::TauBench));
        assert!(out.errors.is_empty(), "{:?}", out.errors);
        assert_eq!(out.records.len(), runs.len());
        let expected_success = runs.iter().filter(|r| r["reward"].as_f64() == Some(1.0)).count();
        assert_eq!(out.records.iter().filter(|t| t.is_success == Some(true)).count(), expected_success);
        for (run, t) in runs.iter().zip(&out.records) {
            assert_eq!(t.step_count as usize, run["traj"].as_array().unwrap().len());
            assert_eq!(t.data_id.as_deref(), Some(run["task_id"].to_string().as_str()));
            assert_eq!(t.sample_id, run["trial"].as_i64());
            assert_eq!(t.question.as_deref(), run["info"]["task"]["instruction"].as_str());
            assert!(t.trajectory_id.ends_with(&format!(":{}:{}", run["task_id"], run["trial"])), "{}", t.trajectory_id);
        }
        println!("tau-bench {}: {} runs, {} with reward 1", path.display(), runs.len(), expected_success);
    }
}

#[test]
fn tau2_simulations_join_their_tasks() {
    let Some(root) = realdata() else { return };
    for path in files_under(&root, "tau2-bench") {
        let source = json(&path);
        let sims = source["simulations"].as_array().unwrap();
        let out = convert_file(&path);
        assert_eq!(out.format, Some(Format::Tau2));
        assert!(out.errors.is_empty(), "{:?}", out.errors);
        assert_eq!(out.records.len(), sims.len());
        let expected_success = sims.iter().filter(|s| s["reward_info"]["reward"].as_f64() == Some(1.0)).count();
        assert_eq!(out.records.iter().filter(|t| t.is_success == Some(true)).count(), expected_success);
        for (s, t) in sims.iter().zip(&out.records) {
            assert_eq!(t.step_count as usize, s["messages"].as_array().unwrap().len());
            assert_eq!(t.termination_reason.as_deref(), s["termination_reason"].as_str());
            assert_eq!(t.exec_time, s["duration"].as_f64());
            assert!(t.question.as_deref().is_some_and(|q| !q.is_empty()));
        }
    }
}

#[test]
fn intercode_runs_and_turns() {
    let Some(root) = realdata() else { return };
    let mut total = 0;
    for path in files_under(&root, "intercode") {
        let source = json(&path);
        let runs = source.get("logs").unwrap_or(&source).as_object().unwrap();
        let out = convert_file(&path);
        assert_eq!(out.format, Some(Format::Intercode), "{}", path.display());
        assert!(out.errors.is_empty(), "{:?}", out.errors);
        assert_eq!(out.records.len(), runs.len(), "{}", path.display());
        let expected: HashMap<String, (usize, Option<f64>)> = runs
            .iter()
            .map(|(k, r)| {
                let steps = match r.get("turn_history") {
                    Some(h) => {
                        let actions = h["actions"].as_array().map_or(0, Vec::len);
                        let observations = h["observations"].as_array().map_or(0, Vec::len);
                        1 + actions + observations.min(actions)
                    }
                    None => 1 + 2 * r["trajectory"].as_array().unwrap().len(),
                };
                let reward = r.pointer("/summary/max_reward").or_else(|| r.get("reward")).and_then(Value::as_f64);
                (k.clone(), (steps, reward))
            })
            .collect();
        for t in &out.records {
            let key = t.trajectory_id.rsplit(':').next().unwrap();
            assert_eq!((t.step_count as usize, t.reward), expected[key], "{}", t.trajectory_id);
        }
        total += runs.len();
    }
    println!("intercode: {total} runs");
}

#[test]
fn responses_rollouts_and_placeholder_rows() {
    let Some(root) = realdata() else { return };
    let (mut good, mut bad, mut unrecognised) = (0, 0, 0);
    for path in files_under(&root, "nemo-gym") {
        let text = std::fs::read_to_string(&path).unwrap();
        let rows: Vec<Option<Value>> =
            text.lines().filter(|l| !l.trim().is_empty()).map(|l| serde_json::from_str::<Value>(l).ok()).collect();
        let is_rollout =
            |r: &Value| r.get("responses_create_params").is_some() || r.get("response").is_some_and(Value::is_object);
        let expected_good: Vec<&Value> = rows.iter().flatten().filter(|r| is_rollout(r)).collect();
        let out = convert_file(&path);
        if expected_good.is_empty() {
            // Nothing in the file is a rollout: auto-detection refuses the file, and
            // reading it as `responses` anyway gives one error per row.
            assert_eq!(out.format, None, "{}", path.display());
            let bytes = std::fs::read(&path).unwrap();
            let label = path.display().to_string();
            let forced = convert(
                Format::Responses,
                &SourceFile { label: &label, path: Some(&path), bytes: &bytes, labels_dir: None },
            )
            .unwrap();
            assert_eq!(forced.len(), rows.len());
            assert!(forced.iter().all(|c| c.record.is_err() && c.position.line.is_some()));
            unrecognised += 1;
            bad += forced.len();
            continue;
        }
        assert_eq!(out.format, Some(Format::Responses), "{}", path.display());
        assert_eq!(out.records.len(), expected_good.len(), "{}: {:?}", path.display(), out.errors);
        assert_eq!(out.errors.len(), rows.len() - expected_good.len(), "{}", path.display());
        for (r, t) in expected_good.iter().zip(&out.records) {
            assert_eq!(t.reward, r["reward"].as_f64());
            let input = r.pointer("/responses_create_params/input");
            let output = r.pointer("/response/output").and_then(Value::as_array);
            let flat = |v: &Value| v.as_array().is_some_and(|a| a.iter().all(Value::is_object));
            if let (Some(input @ Value::Array(items)), Some(out_items)) = (input, output) {
                if flat(input)
                    && out_items.iter().all(Value::is_object)
                    && r.pointer("/responses_create_params/instructions").is_none_or(|i| !i.is_string())
                {
                    assert_eq!(t.step_count as usize, items.len() + out_items.len(), "{}", t.trajectory_id);
                }
            }
        }
        good += out.records.len();
        bad += out.errors.len();
    }
    println!("responses: {good} rollouts, {bad} bad rows, {unrecognised} files with no rollout");
    assert!(good > 0 && bad > 0);
}

#[test]
fn mini_swe_agent_labels_from_reports() {
    let Some(root) = realdata() else { return };
    let mut n = 0;
    for path in files_under(&root, "mini-swe-agent/trajs") {
        let source = json(&path);
        let id = source["instance_id"].as_str().unwrap();
        let report = json(&root.join("mini-swe-agent/logs").join(id).join("report.json"));
        let resolved = report.get(id).unwrap_or(&report)["resolved"].as_bool();
        let out = convert_file(&path);
        assert_eq!(out.format, Some(Format::MiniSweAgent));
        assert!(out.errors.is_empty(), "{:?}", out.errors);
        let t = &out.records[0];
        assert_eq!(t.is_success, resolved, "{id}");
        assert_eq!(t.reward, resolved.map(|r| if r { 1.0 } else { 0.0 }));
        assert_eq!(t.step_count as usize, source["messages"].as_array().unwrap().len());
        assert_eq!(t.data_id.as_deref(), Some(id));
        assert_eq!(t.termination_reason.as_deref(), source["info"]["exit_status"].as_str());
        // Every test of the report's tests_status, each once, as passed or failed.
        let status = &report.get(id).unwrap_or(&report)["tests_status"];
        let count = |key: &str| -> usize {
            status.as_object().unwrap().values().map(|g| g[key].as_array().map_or(0, Vec::len)).sum()
        };
        let tests = meta(t)["verifier_tests"].as_array().cloned().unwrap_or_default();
        assert_eq!(tests.iter().filter(|x| x["status"] == "passed").count(), count("success"), "{id}");
        assert_eq!(tests.iter().filter(|x| x["status"] == "failed").count(), count("failure"), "{id}");
        let submission = source["info"]["submission"].as_str().filter(|s| s.contains("diff --git"));
        assert_eq!(meta(t)["patch"].as_str(), submission, "{id}");
        n += 1;
    }
    println!("mini-swe-agent: {n} trajectories");
}

#[test]
fn swe_agent_histories() {
    let Some(root) = realdata() else { return };
    let mut patches = 0;
    for path in files_under(&root, "swe-agent") {
        let source = json(&path);
        let out = convert_file(&path);
        assert_eq!(out.format, Some(Format::SweAgent), "{}", path.display());
        assert!(out.errors.is_empty(), "{:?}", out.errors);
        let t = &out.records[0];
        assert_eq!(t.step_count as usize, source["history"].as_array().unwrap().len());
        assert_eq!(t.termination_reason.as_deref(), source.pointer("/info/exit_status").and_then(Value::as_str));
        // A diff submitted is the patch; a flag or an answer is not.
        let submission = source.pointer("/info/submission").and_then(Value::as_str);
        let diff = submission.filter(|s| s.contains("diff --git"));
        assert_eq!(meta(t)["patch"].as_str(), diff, "{}", path.display());
        if diff.is_none() {
            assert_eq!(meta(t)["submission"].as_str(), submission, "{}", path.display());
        }
        patches += usize::from(diff.is_some());
    }
    println!("swe-agent: {patches} patches");
    assert!(patches > 0);
}

/// The letter grades of a `.json` eval log's samples, by the log's first scorer.
fn letters(log: &Value) -> Vec<Option<String>> {
    let scorer = log.pointer("/results/scores/0/name").and_then(Value::as_str);
    log["samples"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|s| {
            let scores = s["scores"].as_object()?;
            let v = scorer.and_then(|n| scores.get(n)).or_else(|| scores.values().next())?;
            v["value"].as_str().map(str::to_string)
        })
        .collect()
}

#[test]
fn inspect_samples_and_letter_scores() {
    let Some(root) = realdata() else { return };
    let mut n = 0;
    for path in files_under(&root, "inspect") {
        let bytes = std::fs::read(&path).unwrap();
        let out = convert_file(&path);
        assert_eq!(out.format, Some(Format::Inspect), "{}", path.display());
        assert!(out.errors.is_empty(), "{:?}", out.errors);
        if path.extension().is_some_and(|e| e == "json") {
            let log = json(&path);
            let samples = log["samples"].as_array().map_or(0, Vec::len);
            assert_eq!(out.records.len(), samples);
            let grades = letters(&log);
            let c = grades.iter().filter(|g| g.as_deref() == Some("C")).count();
            assert_eq!(out.records.iter().filter(|t| t.is_success == Some(true)).count(), c, "{}", path.display());
            for (g, t) in grades.iter().zip(&out.records) {
                if g.as_deref() == Some("I") {
                    assert_eq!((t.reward, t.is_success), (Some(0.0), Some(false)));
                }
            }
            for (s, t) in log["samples"].as_array().into_iter().flatten().zip(&out.records) {
                assert_eq!(t.step_count as usize, s["messages"].as_array().unwrap().len());
            }
        } else {
            // Each sample member's name is in a local header and in the directory.
            let members = bytes.windows(8).filter(|w| w == b"samples/").count() / 2;
            assert_eq!(out.records.len(), members, "{}", path.display());
        }
        n += out.records.len();
    }
    println!("inspect: {n} samples");
}

#[test]
fn openhands_runs_and_labels() {
    let Some(root) = realdata() else { return };
    let mut n = 0;
    for path in files_under(&root, "openhands") {
        let out = convert_file(&path);
        assert_eq!(out.format, Some(Format::Openhands), "{}", path.display());
        assert!(out.errors.is_empty(), "{:?}", out.errors);
        if path.extension().is_some_and(|e| e == "jsonl") {
            let rows: Vec<Value> = std::fs::read_to_string(&path)
                .unwrap()
                .lines()
                .filter(|l| !l.trim().is_empty())
                .map(|l| serde_json::from_str(l).unwrap())
                .collect();
            assert_eq!(out.records.len(), rows.len());
            let label = |r: &Value| {
                r.pointer("/test_result/result")
                    .and_then(Value::as_bool)
                    .or_else(|| r["correct"].as_bool())
                    .or_else(|| r["success"].as_bool())
            };
            let expected: BTreeMap<bool, usize> = rows.iter().filter_map(label).fold(BTreeMap::new(), |mut m, l| {
                *m.entry(l).or_default() += 1;
                m
            });
            let got: BTreeMap<bool, usize> =
                out.records.iter().filter_map(|t| t.is_success).fold(BTreeMap::new(), |mut m, l| {
                    *m.entry(l).or_default() += 1;
                    m
                });
            assert_eq!(got, expected, "{}", path.display());
        } else {
            assert_eq!(out.records.len(), 1);
        }
        n += out.records.len();
    }
    println!("openhands: {n} runs");
}

#[test]
fn every_real_file_is_read_and_ids_are_unique_across_files() {
    let Some(root) = realdata() else { return };
    let mut all = Vec::new();
    files(&root, &mut all);
    let mut ids: HashMap<String, PathBuf> = HashMap::new();
    let mut per_format: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    for path in all {
        let name = path.to_string_lossy();
        // As a directory walk does: companion files are read with the file they belong to
        // (a Harbor job's files stand for its trials, whose ids they share).
        if name.ends_with("README.md") || name.ends_with("report.json") || trajstore_formats::is_companion_file(&path) {
            continue;
        }
        let out = convert_file(&path);
        let entry = per_format.entry(out.format.map_or("unrecognised", Format::name)).or_default();
        entry.0 += out.records.len();
        entry.1 += out.errors.len();
        let bytes = std::fs::read(&path).unwrap();
        for t in out.records {
            if let Some(other) = ids.insert(t.trajectory_id.clone(), path.clone()) {
                // Only byte-identical files (copies) may share ids.
                assert_eq!(
                    std::fs::read(&other).unwrap(),
                    bytes,
                    "{} in {} and {}",
                    t.trajectory_id,
                    other.display(),
                    path.display()
                );
            }
            assert!(meta(&t)["source_format"].is_string());
        }
    }
    println!("{per_format:#?}");
}
