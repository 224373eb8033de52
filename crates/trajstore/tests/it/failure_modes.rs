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

/// A stand-in for an OpenAI-compatible chat endpoint on loopback: it answers each
/// request with `reply(body)` and keeps the requests (headers and body).
struct FakeChat {
    url: String,
    requests: Arc<std::sync::Mutex<Vec<(String, serde_json::Value)>>>,
}

impl FakeChat {
    fn start(reply: fn(&serde_json::Value) -> (u16, serde_json::Value)) -> FakeChat {
        use std::io::{BufRead, BufReader, Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let requests = Arc::new(std::sync::Mutex::new(Vec::new()));
        let seen = requests.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { return };
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let (mut head, mut length) = (String::new(), 0);
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                        break;
                    }
                    if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                        length = v.trim().parse().unwrap();
                    }
                    head.push_str(&line);
                }
                let mut body = vec![0; length];
                reader.read_exact(&mut body).unwrap();
                let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
                let (status, answer) = reply(&body);
                seen.lock().unwrap().push((head, body));
                let answer = answer.to_string();
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{answer}",
                    answer.len()
                );
            }
        });
        FakeChat { url, requests }
    }

    fn requests(&self) -> Vec<(String, serde_json::Value)> {
        self.requests.lock().unwrap().clone()
    }
}

/// The cluster's first distinctive word, as the prompt gives it.
fn first_word(body: &serde_json::Value) -> String {
    let user = body["messages"][1]["content"].as_str().unwrap();
    let words = user.split("Distinctive words: ").nth(1).unwrap();
    words.split([',', '\n']).next().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_language_model_labels_each_cluster_from_its_central_failures() {
    let chat = FakeChat::start(|body| {
        let content = format!("**Label:** \"{} failures\".\nSome reasoning the label leaves out.", first_word(body));
        (200, json!({"choices": [{"message": {"role": "assistant", "content": content}}]}))
    });
    let dir = tempfile::tempdir().unwrap();
    let model = trajstore::LabelModel::new(&chat.url, "fake-model", Some("k3y".into())).unwrap();
    let store =
        Trajstore::builder(dir.path().join("db").to_str().unwrap()).label_model(Some(model)).open().await.unwrap();
    let (rows, _) = planted(30, 3);
    store.add(rows).await.unwrap();

    // Without llm_labels the model is not asked.
    let words_only = FailureModesRequest::parse([("training_id", "planted")]).unwrap();
    let by_words = store.failure_modes(&words_only, Arc::new(FailureModesProgress::default())).await.unwrap();
    assert!(chat.requests().is_empty());
    assert_eq!(by_words.parameters["labels"], "terms");

    let request = FailureModesRequest::parse([("training_id", "planted"), ("llm_labels", "true")]).unwrap();
    let run = store.failure_modes(&request, Arc::new(FailureModesProgress::default())).await.unwrap();
    let requests = chat.requests();
    assert_eq!(requests.len(), run.clusters.len(), "one request per cluster");
    assert_eq!(run.parameters["labels"]["model"], "fake-model");
    for c in &run.clusters {
        assert!(c.label.starts_with(&format!("{} failures", c.terms[0])), "{:?} from {:?}", c.label, c.terms);
        let (head, body) = requests.iter().find(|(_, b)| first_word(b) == c.terms[0]).expect("its request");
        assert!(head.to_ascii_lowercase().contains("authorization: bearer k3y"), "{head}");
        assert_eq!(body["model"], "fake-model");
        let user = body["messages"][1]["content"].as_str().unwrap();
        assert_eq!(user.matches("\nExample ").count() as u64, c.count.min(5), "{user}");
        // The labels are the stored column, as with word labels.
        let f = FilterSet::parse([("failure_mode", c.label.as_str())]).unwrap();
        assert_eq!(store.summaries(&f).await.unwrap().len() as u64, c.count);
    }
    // The same clusters as the run labelled by words.
    let counts = |r: &trajstore::FailureModes| r.clusters.iter().map(|c| c.count).collect::<Vec<_>>();
    assert_eq!(counts(&run), counts(&by_words));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failing_model_fails_the_run_and_stores_nothing() {
    let chat = FakeChat::start(|_| (503, json!({"error": {"message": "the model is overloaded"}})));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let model = trajstore::LabelModel::new(&chat.url, "fake-model", None).unwrap();
    let store = Trajstore::builder(path.to_str().unwrap()).label_model(Some(model)).open().await.unwrap();
    let (rows, _) = planted(10, 5);
    store.add(rows).await.unwrap();
    let request = FailureModesRequest::parse([("llm_labels", "true")]).unwrap();
    let err = store.failure_modes(&request, Arc::new(FailureModesProgress::default())).await.unwrap_err();
    let message = err.to_string();
    assert_eq!(err.code(), "model_unavailable");
    assert!(message.contains(&chat.url) && message.contains("503") && message.contains("overloaded"), "{message}");
    assert!(!chat.requests()[0].0.to_ascii_lowercase().contains("authorization"), "no key, no header");
    assert!(store.failure_mode_runs(None).await.unwrap().is_empty());
    let all = store.summaries(&FilterSet::default()).await.unwrap();
    assert!(all.iter().all(|s| s.failure_mode.is_none()), "no label is stored");

    // A handle without a model refuses the request before any work.
    let plain = Trajstore::open(path.to_str().unwrap()).await.unwrap();
    let err = plain.failure_modes(&request, Arc::new(FailureModesProgress::default())).await.unwrap_err();
    assert_eq!((err.code(), err.parameter()), ("invalid_parameter", Some("llm_labels")));
}
