//! Failure modes on generated data with planted kinds of failure, each worded several
//! ways and mixed with noise: the clusters must recover the kinds, the same run must give
//! the same clusters, and the labels must work as filters and statistics groups.

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::json;
use trajstore::demo::planted_failures;
use trajstore::{FailureModesProgress, FailureModesRequest, FilterSet, StatsRequest, Trajectory, Trajstore};

fn planted(n_per_kind: usize, seed: u64) -> (Vec<Trajectory>, HashMap<String, usize>) {
    let (mut rows, mut truth) = (Vec::new(), HashMap::new());
    for (line, kind) in planted_failures(n_per_kind, seed) {
        let t = Trajectory::from_json(line.as_bytes()).unwrap();
        truth.insert(t.trajectory_id.clone(), kind);
        rows.push(t);
    }
    // Successful trajectories are left out by default.
    for i in 0..20 {
        let ok = json!({"trajectory_id": format!("ok-{i}"), "training_id": "planted", "is_success": true,
            "steps": [{"role": "tool", "content": "all 42 tests passed"}]});
        rows.push(Trajectory::from_json(ok.to_string().as_bytes()).unwrap());
    }
    (rows, truth)
}

#[tokio::test(flavor = "multi_thread")]
async fn planted_failure_kinds_are_recovered_and_their_labels_filter_and_group() {
    let dir = tempfile::tempdir().unwrap();
    let store = Trajstore::open(dir.path().join("db").to_str().unwrap()).await.unwrap();
    let (rows, truth) = planted(60, 7);
    store.add(rows).await.unwrap();

    let request = FailureModesRequest::parse([("training_id", "planted")]).unwrap();
    let run = store.failure_modes(&request, Arc::new(FailureModesProgress::default())).await.unwrap();
    let total: u64 = run.clusters.iter().map(|c| c.count).sum();
    assert_eq!(total, truth.len() as u64, "every failed trajectory, and no successful one, is clustered");
    assert_eq!(run.unclustered, 0);
    assert_eq!(run.replaced, 0);

    // Agreement with the planted kinds, through the stored labels.
    let mut labels = Vec::new();
    let mut planted_kinds = Vec::new();
    for (i, c) in run.clusters.iter().enumerate() {
        assert_eq!(c.representatives.len(), 2);
        assert!(!c.terms.is_empty());
        let f = FilterSet::parse([("failure_mode", c.label.as_str())]).unwrap();
        let members = store.summaries(&f).await.unwrap();
        assert_eq!(members.len() as u64, c.count, "the label {:?} filters its cluster", c.label);
        for m in members {
            labels.push(i);
            planted_kinds.push(truth[&m.trajectory_id]);
        }
    }
    let ari = trajstore_cluster::adjusted_rand_index(&labels, &planted_kinds);
    assert!(ari >= 0.8, "adjusted Rand index {ari:.3} with {} clusters: {:#?}", run.clusters.len(), run.clusters);

    // Statistics group by the label.
    let stats = StatsRequest::parse([("group_by", "failure_mode"), ("training_id", "planted")]).unwrap();
    let report = serde_json::to_value(&*store.statistics(&stats).await.unwrap()).unwrap();
    let groups = report["groups"].as_array().unwrap();
    for c in &run.clusters {
        let g = groups.iter().find(|g| g["failure_mode"] == c.label.as_str()).expect("a group per label");
        assert_eq!(g["count"], c.count);
    }

    // The same run again gives the same clusters, and says it replaced the labels; both
    // runs are kept.
    let again = store.failure_modes(&request, Arc::new(FailureModesProgress::default())).await.unwrap();
    assert_eq!(again.clusters, run.clusters);
    assert_eq!(again.replaced, truth.len() as u64);
    let runs = store.failure_mode_runs(None).await.unwrap();
    assert_eq!(runs.iter().map(|r| r.analysis_id.as_str()).collect::<Vec<_>>(), [&again.analysis_id, &run.analysis_id]);
    let stored = store.failure_mode_runs(Some(&run.analysis_id)).await.unwrap().remove(0);
    assert_eq!((stored.clusters, stored.parameters["k"].clone()), (run.clusters, serde_json::json!("auto")));
}

/// Failure texts often repeat: more clusters asked for than there are distinct texts must
/// give no empty cluster, and a trajectory without a failure text loses an old label.
#[tokio::test(flavor = "multi_thread")]
async fn repeated_texts_give_no_empty_clusters() {
    let dir = tempfile::tempdir().unwrap();
    let store = Trajstore::open(dir.path().join("db").to_str().unwrap()).await.unwrap();
    let mut rows = Vec::new();
    for i in 0..20 {
        let reason = if i % 2 == 0 { "timeout" } else { "error" };
        let r = json!({"trajectory_id": format!("r{i:02}"), "is_success": false, "termination_reason": reason});
        rows.push(Trajectory::from_json(r.to_string().as_bytes()).unwrap());
    }
    let silent = json!({"trajectory_id": "silent", "is_success": false, "failure_mode": "from before"});
    rows.push(Trajectory::from_json(silent.to_string().as_bytes()).unwrap());
    store.add(rows).await.unwrap();
    let request = FailureModesRequest::parse([("k", "6")]).unwrap();
    let run = store.failure_modes(&request, Arc::new(FailureModesProgress::default())).await.unwrap();
    let counts: Vec<u64> = run.clusters.iter().map(|c| c.count).collect();
    assert_eq!(counts, [10, 10]);
    assert_eq!((run.unclustered, run.replaced), (1, 0));
    let f = FilterSet::parse([("failure_mode", "from before")]).unwrap();
    assert!(store.summaries(&f).await.unwrap().is_empty(), "the old label of a trajectory in scope is cleared");
}
