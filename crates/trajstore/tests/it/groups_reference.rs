//! Prompt groups, advantages and learned/forgotten tasks against an independent
//! computation over generated records with planted structure: zero-variance groups,
//! single-sample groups, null rewards, no is_success (threshold rule), ties, filters on
//! members, a task on one side only. Every answer is read through Lance and through the
//! in-memory index, which must agree.

use std::collections::BTreeMap;

use serde_json::{json, Value};
use trajstore::demo::Rng;
use trajstore::{DiffRequest, GroupKeyRequest, GroupsRequest, Trajectory, Trajstore};

/// Two runs x 4 steps x 12 prompts with 1 to 6 samples; planted: prompt 0 always fails
/// with reward 0 (zero variance, all_fail), prompt 1 always succeeds with reward 1,
/// prompt 2 has equal rewards but mixed success, prompt 3 has one sample, prompt 4 has
/// null rewards, prompt 5 has no is_success, prompt 6 exists at step 3 only, prompt 7
/// is learned (fails before step 2, succeeds from it), prompt 8 forgotten; the rest random.
fn records() -> Vec<Value> {
    let mut rng = Rng::new(7);
    let mut out = Vec::new();
    for run in ["r1", "r2"] {
        for step in 0..4i64 {
            for prompt in 0..12u32 {
                if prompt == 6 && step != 3 {
                    continue;
                }
                let n = match prompt {
                    3 => 1,
                    _ => 2 + rng.range(0, 4),
                };
                for sample in 0..n {
                    let (success, reward): (Option<bool>, Option<f64>) = match prompt {
                        0 => (Some(false), Some(0.0)),
                        1 => (Some(true), Some(1.0)),
                        2 => (Some(sample % 2 == 0), Some(0.5)),
                        4 => (Some(sample == 0), None),
                        5 => (None, Some(if sample == 0 { 1.0 } else { 0.25 })),
                        7 => (Some(step >= 2), Some(if step >= 2 { 1.0 } else { 0.0 })),
                        8 => (Some(step < 2), Some(if step < 2 { 1.0 } else { 0.0 })),
                        // Rewards from a few values, so ties happen.
                        _ => {
                            let r = [0.0, 0.5, 0.5, 1.0][rng.range(0, 3) as usize];
                            (Some(r >= 1.0), Some(r))
                        }
                    };
                    let mut v = json!({
                        "trajectory_id": format!("{run}-{step}-{prompt}-{sample}"),
                        "training_id": run, "iteration_id": step, "epoch_id": step / 2,
                        "data_id": format!("task-{prompt}"), "sample_id": sample,
                        "termination_reason": if sample % 3 == 0 { "timeout" } else { "done" },
                        "steps": (0..=sample).map(|i| json!({"role": "assistant", "content": format!("s{i}")})).collect::<Vec<_>>(),
                    });
                    let o = v.as_object_mut().unwrap();
                    if let Some(s) = success {
                        o.insert("is_success".into(), json!(s));
                    }
                    if let Some(r) = reward {
                        o.insert("reward".into(), json!(r));
                    }
                    out.push(v);
                }
            }
        }
    }
    out.push(json!({"trajectory_id": "no-task", "training_id": "r1", "iteration_id": 0, "reward": 1.0}));
    out
}

fn succeeded(r: &Value, threshold: f64) -> bool {
    r["is_success"].as_bool().unwrap_or_else(|| r["reward"].as_f64().is_some_and(|x| x >= threshold))
}

/// The expected group rows, keyed by (training_id, iteration_id, data_id), written out
/// again with two-pass formulas.
fn expected_groups(rows: &[&Value], threshold: f64) -> BTreeMap<(String, i64, String), Value> {
    let mut members: BTreeMap<(String, i64, String), Vec<&Value>> = BTreeMap::new();
    for r in rows.iter().filter(|r| r["data_id"].is_string()) {
        let key = (
            r["training_id"].as_str().unwrap().to_string(),
            r["iteration_id"].as_i64().unwrap(),
            r["data_id"].as_str().unwrap().to_string(),
        );
        members.entry(key).or_default().push(r);
    }
    members
        .into_iter()
        .map(|(key, m)| {
            let rewards: Vec<f64> = m.iter().filter_map(|r| r["reward"].as_f64()).collect();
            let n = rewards.len() as f64;
            let mean = rewards.iter().sum::<f64>() / n;
            let ss: f64 = rewards.iter().map(|r| (r - mean).powi(2)).sum();
            let successes = m.iter().filter(|r| succeeded(r, threshold)).count();
            let equal = !rewards.is_empty() && rewards.iter().all(|r| *r == rewards[0]);
            let kind = if successes == m.len() {
                "all_success"
            } else if successes == 0 {
                "all_fail"
            } else if equal {
                "zero_variance"
            } else {
                "mixed"
            };
            let steps: f64 =
                m.iter().map(|r| r["steps"].as_array().unwrap().len() as f64).sum::<f64>() / m.len() as f64;
            let nz = |v: f64| if rewards.is_empty() { Value::Null } else { json!(v) };
            let doc = json!({
                "n": m.len(), "rewarded": rewards.len(),
                "reward_mean": nz(mean),
                "reward_std": if rewards.len() >= 2 { json!((ss / (n - 1.0)).sqrt()) } else { Value::Null },
                "reward_min": nz(rewards.iter().copied().fold(f64::INFINITY, f64::min)),
                "reward_max": nz(rewards.iter().copied().fold(f64::NEG_INFINITY, f64::max)),
                "success_count": successes, "success_rate": successes as f64 / m.len() as f64,
                "step_count_mean": steps, "kind": kind, "zero_variance": equal,
            });
            (key, doc)
        })
        .collect()
}

fn close(a: &Value, b: &Value, what: &str) {
    match (a.as_f64(), b.as_f64()) {
        (Some(x), Some(y)) => assert!((x - y).abs() < 1e-9, "{what}: {x} != {y}"),
        _ => assert_eq!(a, b, "{what}"),
    }
}

fn key_of(g: &Value) -> (String, i64, String) {
    (
        g["keys"]["training_id"].as_str().unwrap().to_string(),
        g["keys"]["iteration_id"].as_i64().unwrap(),
        g["data_id"].as_str().unwrap().to_string(),
    )
}

async fn all_pages(store: &Trajstore, pairs: &[(&str, &str)]) -> (Vec<Value>, Value) {
    let mut out = Vec::new();
    let mut page = 1;
    loop {
        let p = page.to_string();
        let mut q: Vec<(&str, &str)> = pairs.to_vec();
        q.extend([("page", p.as_str()), ("page_size", "7")]);
        let doc = serde_json::to_value(&*store.groups(&GroupsRequest::parse(q).unwrap()).await.unwrap()).unwrap();
        let data = doc["data"].as_array().unwrap().clone();
        let total = doc["total"].as_u64().unwrap() as usize;
        out.extend(data);
        if out.len() >= total || page > 1000 {
            assert_eq!(out.len(), total, "pages add up to the total");
            return (out, doc);
        }
        page += 1;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn groups_advantages_and_diffs_equal_an_independent_computation() {
    let dir = tempfile::tempdir().unwrap();
    let uri = dir.path().to_str().unwrap();
    let store = Trajstore::open(uri).await.unwrap();
    let rows = records();
    let trajectories: Vec<Trajectory> =
        rows.iter().map(|r| Trajectory::from_json(r.to_string().as_bytes()).unwrap()).collect();
    store.add(trajectories).await.unwrap();
    let memory = Trajstore::builder(uri).cache(0, 0).memory_index(true).open().await.unwrap();
    memory.warm_memory_index().await.unwrap().expect("built");

    for handle in [&store, &memory] {
        // Every group of the run r1, in spread order, against the reference.
        let r1: Vec<&Value> = rows.iter().filter(|r| r["training_id"] == "r1").collect();
        let want = expected_groups(&r1, 1.0);
        let (got, doc) = all_pages(handle, &[("training_id", "r1")]).await;
        assert_eq!(got.len(), want.len());
        assert_eq!(doc["ungrouped"], 1, "the record without data_id is counted, not grouped");
        let kinds = &doc["kinds"];
        for kind in ["mixed", "all_success", "all_fail", "zero_variance"] {
            let n = want.values().filter(|w| w["kind"] == kind).count();
            assert_eq!(kinds[kind], n, "kinds.{kind}");
        }
        assert_eq!(kinds["no_gradient"], want.values().filter(|w| w["zero_variance"] == true).count());
        for g in &got {
            let w = &want[&key_of(g)];
            for (field, value) in w.as_object().unwrap() {
                close(&g[field], value, &format!("{:?}.{field}", key_of(g)));
            }
        }
        let spreads: Vec<Option<f64>> = got.iter().map(|g| g["reward_spread"].as_f64()).collect();
        let mut sorted = spreads.clone();
        sorted.sort_by(|a, b| match (a, b) {
            (None, None) => std::cmp::Ordering::Equal,
            (None, _) => std::cmp::Ordering::Greater,
            (_, None) => std::cmp::Ordering::Less,
            (Some(x), Some(y)) => y.total_cmp(x),
        });
        assert_eq!(spreads, sorted, "spread descending, nulls last");
        // Planted kinds.
        let planted = |prompt: u32, step: i64| &want[&("r1".to_string(), step, format!("task-{prompt}"))];
        assert_eq!(
            (planted(0, 1)["kind"].as_str(), planted(0, 1)["zero_variance"].as_bool()),
            (Some("all_fail"), Some(true))
        );
        assert_eq!(planted(1, 1)["kind"], "all_success");
        assert_eq!(planted(2, 1)["kind"], "zero_variance");
        assert_eq!(planted(3, 1)["n"], 1);

        // A key that is also a read column (step_count), and a curve whose series is
        // data_id, read each column once (Lance refuses a repeated column).
        let by_steps = handle.groups(&GroupsRequest::parse([("by", "step_count")]).unwrap()).await.unwrap();
        assert_eq!(by_steps.by, ["step_count"]);
        assert!(by_steps.total > 0);
        let series = trajstore::CurveRequest::parse([("x", "iteration_id"), ("series", "data_id")]).unwrap();
        assert!(!handle.curve(&series).await.unwrap().points.is_empty());
        let show = GroupKeyRequest::parse(&["sample_id"], &["0"], "task-9", []).unwrap();
        assert!(handle.group(&show).await.unwrap().members.iter().all(|m| m.sample_id == Some(0)));

        // kind= keeps one kind; the total is exact.
        let (zero, _) = all_pages(handle, &[("training_id", "r1"), ("kind", "zero_variance")]).await;
        assert_eq!(zero.len(), want.values().filter(|w| w["kind"] == "zero_variance").count());

        // A member filter keeps the groups with a matching member, whole.
        let (timeouts, _) = all_pages(handle, &[("training_id", "r1"), ("sample_id_min", "3")]).await;
        let with_big_sample: Vec<_> = want
            .iter()
            .filter(|(k, _)| {
                r1.iter().any(|r| r["iteration_id"] == k.1 && r["data_id"] == k.2 && r["sample_id"].as_i64() >= Some(3))
            })
            .collect();
        assert_eq!(timeouts.len(), with_big_sample.len());
        for g in &timeouts {
            assert_eq!(g["n"], want[&key_of(g)]["n"], "a kept group keeps all its members");
        }

        // One group's members and advantages, both std kinds.
        for (std, eps) in [("sample", 1e-6), ("population", 0.01)] {
            let eps_s = eps.to_string();
            let req = GroupKeyRequest::parse(
                &["training_id", "iteration_id"],
                &["r1", "2"],
                "task-9",
                [("std", std), ("eps", eps_s.as_str())],
            )
            .unwrap();
            let detail = serde_json::to_value(handle.group(&req).await.unwrap()).unwrap();
            let members: Vec<&Value> =
                r1.iter().copied().filter(|r| r["iteration_id"] == 2 && r["data_id"] == "task-9").collect();
            let rewards: Vec<f64> = members.iter().map(|r| r["reward"].as_f64().unwrap()).collect();
            let n = rewards.len() as f64;
            let mean = rewards.iter().sum::<f64>() / n;
            let ss: f64 = rewards.iter().map(|r| (r - mean).powi(2)).sum();
            let sd = if std == "sample" { (ss / (n - 1.0)).sqrt() } else { (ss / n).sqrt() };
            let got = detail["members"].as_array().unwrap();
            assert_eq!(got.len(), members.len());
            let mut last = f64::INFINITY;
            for m in got {
                let r = members.iter().find(|x| x["trajectory_id"] == m["trajectory_id"]).unwrap()["reward"]
                    .as_f64()
                    .unwrap();
                assert!(r <= last, "best reward first");
                last = r;
                close(&m["advantage_grpo"], &json!((r - mean) / (sd + eps)), "grpo");
                close(&m["advantage_rloo"], &json!(r - (mean * n - r) / (n - 1.0)), "rloo");
                let rank = 1 + rewards.iter().filter(|x| **x > r).count();
                assert_eq!(m["rank"], rank, "ties share the best rank");
            }
        }
        // Null rewards: no advantage, no rank.
        let req = GroupKeyRequest::parse(&["training_id", "iteration_id"], &["r1", "0"], "task-4", []).unwrap();
        let detail = serde_json::to_value(handle.group(&req).await.unwrap()).unwrap();
        assert!(detail["members"]
            .as_array()
            .unwrap()
            .iter()
            .all(|m| m["advantage_grpo"].is_null() && m["rank"].is_null()));
        assert_eq!(detail["kind"], "mixed", "success mixed, no rewards to compare");
        let missing = GroupKeyRequest::parse(&["training_id", "iteration_id"], &["r1", "0"], "task-6", []).unwrap();
        assert!(matches!(handle.group(&missing).await, Err(trajstore::Error::NotFound { .. })));

        // Learned and forgotten between step 0 and step 3 of r1.
        let req = DiffRequest::parse([
            ("a", "training_id=r1,iteration_id=0"),
            ("b", "training_id=r1,iteration_id=3"),
            ("k", "1,2"),
        ])
        .unwrap();
        let d = serde_json::to_value(handle.diff_runs(&req).await.unwrap()).unwrap();
        let tally = |step: i64| {
            let mut t: BTreeMap<String, (u64, u64)> = BTreeMap::new();
            for r in r1.iter().filter(|r| r["iteration_id"] == step && r["data_id"].is_string()) {
                let e = t.entry(r["data_id"].as_str().unwrap().to_string()).or_default();
                e.0 += 1;
                e.1 += u64::from(succeeded(r, 1.0));
            }
            t
        };
        let (a, b) = (tally(0), tally(3));
        let solved = |(n, c): (u64, u64)| c as f64 / n as f64 >= 0.5;
        let mut buckets: BTreeMap<&str, Vec<String>> = BTreeMap::new();
        let mut deltas = Vec::new();
        for (task, ta) in &a {
            let bucket = match b.get(task) {
                None => "only_a",
                Some(tb) => {
                    deltas.push(tb.1 as f64 / tb.0 as f64 - ta.1 as f64 / ta.0 as f64);
                    match (solved(*ta), solved(*tb)) {
                        (false, true) => "learned",
                        (true, false) => "forgotten",
                        (true, true) => "stayed_solved",
                        (false, false) => "stayed_unsolved",
                    }
                }
            };
            buckets.entry(bucket).or_default().push(task.clone());
        }
        for task in b.keys().filter(|t| !a.contains_key(*t)) {
            buckets.entry("only_b").or_default().push(task.clone());
        }
        for bucket in ["learned", "forgotten", "stayed_solved", "stayed_unsolved", "only_a", "only_b"] {
            let want = buckets.get(bucket).cloned().unwrap_or_default();
            assert_eq!(d[bucket]["count"], want.len(), "{bucket}");
            assert_eq!(d[bucket]["tasks"], json!(want), "{bucket}");
        }
        assert!(d["learned"]["tasks"].as_array().unwrap().contains(&json!("task-7")));
        assert!(d["forgotten"]["tasks"].as_array().unwrap().contains(&json!("task-8")));
        assert_eq!(d["only_b"]["tasks"], json!(["task-6"]), "a task on one side is reported, not dropped");
        close(&d["delta_pass@1"], &json!(deltas.iter().sum::<f64>() / deltas.len() as f64), "delta");
        let ci = d["delta_ci95"].as_array().unwrap();
        assert!(ci[0].as_f64() <= d["delta_pass@1"].as_f64() && d["delta_pass@1"].as_f64() <= ci[1].as_f64());
        let pass1 = a.values().map(|(n, c)| *c as f64 / *n as f64).sum::<f64>() / a.len() as f64;
        close(&d["a"]["pass@1"], &json!(pass1), "a.pass@1");
        assert_eq!(d["a"]["tasks"], a.len());
    }

    // The curve's per-step shares of prompt groups.
    let curve = trajstore::CurveRequest::parse([("x", "iteration_id"), ("training_id", "r2")]).unwrap();
    let doc = serde_json::to_value(&*memory.curve(&curve).await.unwrap()).unwrap();
    let r2: Vec<&Value> = rows.iter().filter(|r| r["training_id"] == "r2").collect();
    let want = expected_groups(&r2, 1.0);
    for p in doc["points"].as_array().unwrap() {
        let step = p["x"].as_i64().unwrap();
        let at: Vec<&Value> = want.iter().filter(|(k, _)| k.1 == step).map(|(_, v)| v).collect();
        assert_eq!(p["groups"], at.len());
        let share = |f: &dyn Fn(&Value) -> bool| at.iter().filter(|v| f(v)).count() as f64 / at.len() as f64;
        close(&p["no_gradient_share"], &json!(share(&|v| v["zero_variance"] == true)), "no_gradient_share");
        close(&p["all_fail_share"], &json!(share(&|v| v["kind"] == "all_fail")), "all_fail_share");
        let n = r2.iter().filter(|r| r["iteration_id"] == step).count() as f64;
        let timeouts =
            r2.iter().filter(|r| r["iteration_id"] == step && r["termination_reason"] == "timeout").count() as f64;
        close(&p["termination_reason_shares"]["timeout"], &json!(timeouts / n), "timeout share");
    }
}

#[test]
fn bad_parameters_name_themselves() {
    let param = |e: trajstore::Error| match e {
        trajstore::Error::InvalidParameter { parameter, .. } => parameter,
        other => panic!("{other}"),
    };
    assert_eq!(param(GroupsRequest::parse([("sort", "reward; DROP")]).unwrap_err()), "sort");
    assert_eq!(param(GroupsRequest::parse([("by", "data_id")]).unwrap_err()), "by");
    assert_eq!(param(GroupsRequest::parse([("kind", "weird")]).unwrap_err()), "kind");
    assert_eq!(param(GroupsRequest::parse([("std", "x")]).unwrap_err()), "std");
    assert_eq!(param(GroupsRequest::parse([("page_size", "0")]).unwrap_err()), "page_size");
    assert_eq!(param(GroupsRequest::parse([("sort", "n"), ("sort", "spread")]).unwrap_err()), "sort");
    assert_eq!(param(DiffRequest::parse([("a", "training_id=x")]).unwrap_err()), "b");
    assert_eq!(param(DiffRequest::parse([("a", "iteration_id=abc"), ("b", "training_id=x")]).unwrap_err()), "a");
    assert_eq!(
        param(GroupKeyRequest::parse(&["training_id", "iteration_id"], &["r", "x"], "d", []).unwrap_err()),
        "iteration_id"
    );
}
