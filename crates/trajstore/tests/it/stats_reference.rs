//! Statistics against an independent computation over the same records: exact binomial
//! coefficients instead of running products, sorting instead of accumulators, and the
//! success rule written out again.

use std::collections::{BTreeMap, HashMap};

use serde_json::{json, Value};
use trajstore::demo::DemoConfig;
use trajstore::{CurveRequest, StatsRequest, Trajectory, Trajstore};

fn choose(n: u64, k: u64) -> f64 {
    if k > n {
        return 0.0;
    }
    let mut r: u128 = 1;
    for i in 0..k {
        r = r * (n - i) as u128 / (i + 1) as u128;
    }
    r as f64
}

/// Hand-made records for the edge cases: n < k, c = 0, c = n, k = n, a task with no
/// data_id (grouped by question), null rewards, no is_success (threshold rule), a run of its own.
fn edge_records() -> Vec<String> {
    let mut out = Vec::new();
    let mut add = |id: &str, extra: Value| {
        let mut v = json!({"trajectory_id": id, "training_id": "edge", "epoch_id": 0});
        v.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        out.push(v.to_string());
    };
    for i in 0..3 {
        add(&format!("few-{i}"), json!({"data_id": "few", "is_success": i == 0, "reward": i as f64}));
    }
    for i in 0..8 {
        add(&format!("none-{i}"), json!({"data_id": "none", "is_success": false, "reward": null}));
        add(&format!("all-{i}"), json!({"data_id": "all", "reward": 1.0 + i as f64 / 10.0}));
    }
    for i in 0..4 {
        add(
            &format!("q-{i}"),
            json!({"task": {"question": "no data id"}, "reward": if i % 2 == 0 { 1.0 } else { 0.0 }, "termination_reason": "timeout"}),
        );
    }
    add("lonely", json!({"training_id": "solo", "reward": 0.25}));
    out
}

fn success(t: &Trajectory, threshold: f64) -> bool {
    match t.is_success {
        Some(b) => b,
        None => t.reward.is_some_and(|r| r >= threshold),
    }
}

fn task_key(t: &Trajectory) -> String {
    t.data_id
        .clone()
        .map(|d| format!("d:{d}"))
        .or_else(|| t.question.clone().map(|q| format!("q:{q}")))
        .unwrap_or_else(|| format!("t:{}", t.trajectory_id))
}

fn expected_stats(rows: &[&Trajectory], ks: &[u64], threshold: f64) -> HashMap<String, Value> {
    let mut m = HashMap::new();
    let n = rows.len() as u64;
    let s = rows.iter().filter(|t| success(t, threshold)).count() as u64;
    m.insert("count".into(), json!(n));
    m.insert("success_count".into(), json!(s));
    m.insert("success_rate".into(), json!(s as f64 / n as f64));
    let mut tasks: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    for t in rows {
        let e = tasks.entry(task_key(t)).or_default();
        e.0 += 1;
        e.1 += success(t, threshold) as u64;
    }
    m.insert("tasks".into(), json!(tasks.len()));
    for &k in ks {
        let eligible: Vec<&(u64, u64)> = tasks.values().filter(|(n, _)| *n >= k).collect();
        let at: Vec<f64> = eligible.iter().map(|(n, c)| 1.0 - choose(n - c, k) / choose(*n, k)).collect();
        let hat: Vec<f64> = eligible.iter().map(|(n, c)| choose(*c, k) / choose(*n, k)).collect();
        let mean = |v: &[f64]| if v.is_empty() { Value::Null } else { json!(v.iter().sum::<f64>() / v.len() as f64) };
        m.insert(format!("pass@{k}"), mean(&at));
        m.insert(format!("pass^{k}"), mean(&hat));
        m.insert(format!("tasks_skipped@{k}"), json!(tasks.len() - eligible.len()));
    }
    type Metric = Box<dyn Fn(&Trajectory) -> Option<f64>>;
    let metrics: [(&str, Metric); 5] = [
        ("reward", Box::new(|t| t.reward)),
        ("toolcall_reward", Box::new(|t| t.toolcall_reward)),
        ("res_reward", Box::new(|t| t.res_reward)),
        ("exec_time", Box::new(|t| t.exec_time)),
        ("step_count", Box::new(|t| Some(t.step_count as f64))),
    ];
    for (name, get) in metrics {
        let mut v: Vec<f64> = rows.iter().filter_map(|t| get(t)).collect();
        v.sort_by(f64::total_cmp);
        m.insert(format!("{name}_nulls"), json!(rows.len() - v.len()));
        if v.is_empty() {
            for s in ["mean", "median", "p90", "min", "max"] {
                m.insert(format!("{name}_{s}"), Value::Null);
            }
            continue;
        }
        let len = v.len();
        m.insert(format!("{name}_mean"), json!(v.iter().sum::<f64>() / len as f64));
        m.insert(
            format!("{name}_median"),
            json!(if len % 2 == 1 { v[len / 2] } else { (v[len / 2 - 1] + v[len / 2]) / 2.0 }),
        );
        // Nearest rank: the smallest value with at least 90% of the values at or below it.
        let p90 = *v.iter().find(|&&x| v.iter().filter(|&&y| y <= x).count() as f64 >= 0.9 * len as f64).unwrap();
        m.insert(format!("{name}_p90"), json!(p90));
        m.insert(format!("{name}_min"), json!(v[0]));
        m.insert(format!("{name}_max"), json!(v[len - 1]));
    }
    let mut reasons: BTreeMap<String, u64> = BTreeMap::new();
    for t in rows {
        *reasons.entry(t.termination_reason.clone().unwrap_or_else(|| "(none)".into())).or_default() += 1;
    }
    m.insert("termination_reasons".into(), json!(reasons));
    m
}

fn assert_close(got: &Value, want: &Value, what: &str) {
    match (got, want) {
        (Value::Number(a), Value::Number(b)) => {
            let (a, b) = (a.as_f64().unwrap(), b.as_f64().unwrap());
            assert!((a - b).abs() <= 1e-9 * b.abs().max(1.0), "{what}: got {a}, want {b}");
        }
        (Value::Array(a), Value::Array(b)) => {
            assert_eq!(a.len(), b.len(), "{what}: {got} vs {want}");
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                assert_close(x, y, &format!("{what}[{i}]"));
            }
        }
        (Value::Object(a), Value::Object(b)) => {
            assert_eq!(a.len(), b.len(), "{what}: {got} vs {want}");
            for (k, v) in b {
                assert_close(&a[k], v, &format!("{what}.{k}"));
            }
        }
        _ => assert_eq!(got, want, "{what}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn statistics_equal_an_independent_computation() {
    let dir = tempfile::tempdir().unwrap();
    let store = Trajstore::open(dir.path().to_str().unwrap()).await.unwrap();
    let cfg = DemoConfig { prompts: 6, runs: 2, epochs: 3, large_observation_rate: 0.0, ..Default::default() };
    let lines: Vec<String> = cfg.lines().chain(edge_records()).collect();
    let records: Vec<Trajectory> = lines.iter().map(|l| Trajectory::from_json(l.as_bytes()).unwrap()).collect();
    store.add(records.clone()).await.unwrap();
    let ks = [1u64, 2, 4, 8];
    // A second handle answering from its in-memory index must agree with Lance everywhere.
    let memory = Trajstore::builder(dir.path().to_str().unwrap()).cache(0, 0).memory_index(true).open().await.unwrap();
    let info = memory.warm_memory_index().await.unwrap().expect("built");
    assert_eq!((info.rows, info.version), (records.len(), store.version().await.unwrap()));
    let same_in_memory = |doc: &Value, from_memory: &Value, what: &str| {
        assert_eq!(memory.memory_index().unwrap().version, info.version, "the index stayed current");
        assert_close(from_memory, doc, &format!("in-memory index vs Lance: {what}"));
    };

    for threshold in [1.0, 0.5] {
        let req = StatsRequest::parse([
            ("group_by", "training_id,epoch_id"),
            ("k", "1,2,4,8"),
            ("success_threshold", &threshold.to_string()),
        ])
        .unwrap();
        let doc = to_doc(&*store.statistics(&req).await.unwrap());
        same_in_memory(&doc, &to_doc(&*memory.statistics(&req).await.unwrap()), "grouped");
        let all: Vec<&Trajectory> = records.iter().collect();
        for (k, want) in expected_stats(&all, &ks, threshold) {
            assert_close(&doc["overall"][&k], &want, &format!("overall.{k} @ {threshold}"));
        }
        let mut groups: BTreeMap<(String, i64), Vec<&Trajectory>> = BTreeMap::new();
        for t in &records {
            groups.entry((t.training_id.clone().unwrap(), t.epoch_id.unwrap_or(-1))).or_default().push(t);
        }
        let got = doc["groups"].as_array().unwrap();
        assert_eq!(got.len(), groups.len());
        for g in got {
            let key = (g["training_id"].as_str().unwrap().to_string(), g["epoch_id"].as_i64().unwrap_or(-1));
            for (k, want) in expected_stats(&groups[&key], &ks, threshold) {
                assert_close(&g[&k], &want, &format!("{key:?}.{k}"));
            }
            assert_eq!(
                g["reward_histogram"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap()).sum::<u64>(),
                groups[&key].iter().filter(|t| t.reward.is_some()).count() as u64
            );
        }
    }

    // The edge run on its own: n < k is skipped and said so; c = 0, c = n and k = n.
    let req = StatsRequest::parse([("training_id", "edge"), ("k", "3,8")]).unwrap();
    let edge_doc = to_doc(&*store.statistics(&req).await.unwrap());
    same_in_memory(&edge_doc, &to_doc(&*memory.statistics(&req).await.unwrap()), "edge run");
    let edge = &edge_doc["overall"];
    assert_eq!(edge["tasks"], 4, "few, none, all and the question-only task");
    assert_eq!(edge["tasks_skipped@8"], 2, "few (3) and the question task (4) have fewer than 8");
    assert_eq!(edge["pass@8"], 0.5, "none: 0, all: 1");
    assert_eq!(edge["tasks_skipped@3"], 0);

    // Curves: one point per (run, epoch), in order, with the group's numbers.
    let curve_req = CurveRequest::parse([("x", "epoch_id"), ("series", "training_id"), ("k", "4")]).unwrap();
    let typed = store.curve(&curve_req).await.unwrap();
    let curve = to_doc(&*typed);
    same_in_memory(&curve, &to_doc(&*memory.curve(&curve_req).await.unwrap()), "curve");
    let points = curve["points"].as_array().unwrap();
    assert_eq!(points.len(), typed.points.len());
    for p in points {
        for figure in trajstore::CURVE_FIGURES {
            assert!(p.get(figure).is_some(), "a curve point carries {figure}: {p}");
        }
    }
    let run1: Vec<&Value> = points.iter().filter(|p| p["series"] == "run-1").collect();
    assert_eq!(run1.iter().map(|p| p["x"].as_i64().unwrap()).collect::<Vec<_>>(), [0, 1, 2]);
    let e0: Vec<&Trajectory> =
        records.iter().filter(|t| t.training_id.as_deref() == Some("run-1") && t.epoch_id == Some(0)).collect();
    let want = expected_stats(&e0, &[4], 1.0);
    assert_close(&run1[0]["pass@4"], &want["pass@4"], "curve pass@4");
    assert_close(&run1[0]["success_rate"], &want["success_rate"], "curve success_rate");

    // A write is reflected on the next call, cache or not.
    let before = store.statistics(&StatsRequest::parse([("k", "1")]).unwrap()).await.unwrap().overall.count;
    store.add(vec![Trajectory::from_json(br#"{"trajectory_id":"late","reward":1}"#).unwrap()]).await.unwrap();
    let after = store.statistics(&StatsRequest::parse([("k", "1")]).unwrap()).await.unwrap().overall.count;
    assert_eq!(after, before + 1);
    // The in-memory handle, now a version behind, answers from Lance: never the old count.
    let from_memory = memory.statistics(&StatsRequest::parse([("k", "1")]).unwrap()).await.unwrap().overall.count;
    assert_eq!(from_memory, before + 1);
    assert!(store.cache_stats().hits + store.cache_stats().misses > 0);

    for (pairs, parameter) in [
        (vec![("group_by", "steps")], "group_by"),
        (vec![("k", "0")], "k"),
        (vec![("success_threshold", "x")], "success_threshold"),
        (vec![("nope", "1")], "nope"),
    ] {
        assert_eq!(StatsRequest::parse(pairs).unwrap_err().parameter(), Some(parameter));
    }
}

/// A training loop adding one record at a time: the store stays compact and correct.
#[tokio::test(flavor = "multi_thread")]
async fn many_small_writes_are_compacted() {
    let dir = tempfile::tempdir().unwrap();
    // A shorter interval than the default keeps the test quick; the mechanism is the same.
    let store = Trajstore::builder(dir.path().to_str().unwrap()).optimize_every(32).open().await.unwrap();
    let n = 32 + 10;
    for i in 0..n {
        let t = Trajectory::from_json(format!(r#"{{"trajectory_id":"s{i:04}","reward":1}}"#).as_bytes()).unwrap();
        store.add(vec![t]).await.unwrap();
    }
    let trajstore::Fragments { summaries, payloads } = store.fragments().await.unwrap();
    assert!(
        summaries <= 12 && payloads <= 12,
        "{summaries} and {payloads} fragments after {n} single-record writes: compaction ran"
    );
    let page = store
        .list(
            &trajstore::ListRequest::parse([("sort", "trajectory_id"), ("order", "asc"), ("page_size", "1000")])
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(page.total, n);
    assert_eq!(page.data[0].trajectory_id, "s0000");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_small_updates_are_compacted() {
    // Bookmark toggles from a UI are small commits too, and get compacted the same way.
    let dir = tempfile::tempdir().unwrap();
    let every = 16;
    let store = Trajstore::builder(dir.path().to_str().unwrap()).optimize_every(every).open().await.unwrap();
    let rows: Vec<Trajectory> = (0..20)
        .map(|i| Trajectory::from_json(format!(r#"{{"trajectory_id":"u{i:02}","reward":1}}"#).as_bytes()).unwrap())
        .collect();
    store.add(rows).await.unwrap();
    let n = 2 * every + 5;
    for i in 0..n {
        let patch = trajstore::Patch { is_bookmarked: Some(i % 2 == 0), ..Default::default() };
        store.update(&format!("u{:02}", i % 20), &patch).await.unwrap();
    }
    let summaries = store.fragments().await.unwrap().summaries;
    assert!(summaries <= 8, "{summaries} summary fragments after {n} updates: compaction ran");
    let bookmarked = store.count(&trajstore::FilterSet::parse([("is_bookmarked", "true")]).unwrap()).await.unwrap();
    let expected = (0..20u64).filter(|r| (0..n).rfind(|i| i % 20 == *r).is_some_and(|i| i % 2 == 0)).count() as u64;
    assert_eq!(bookmarked, expected, "each row keeps its last toggle");
}

/// The document a typed statistics result serialises to.
fn to_doc<T: serde::Serialize>(value: &T) -> Value {
    serde_json::to_value(value).unwrap()
}
