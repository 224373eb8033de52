//! A followed folder: new files and appended lines are imported once each, a half-written
//! line waits for its end, and a restart (even one that lost the end of an import)
//! neither loses nor repeats a record.

use std::io::Write;
use std::path::Path;

use trajstore::{FilterSet, FollowBatch, Follower, ImportOptions, Trajstore};

fn line(id: &str, reward: f64) -> String {
    format!(
        r#"{{"trajectory_id":"{id}","reward":{reward},"steps":[{{"role":"user","content":"q {id}"}},{{"role":"assistant","content":"a"}}]}}"#
    ) + "\n"
}

fn append(path: &Path, text: &str) {
    std::fs::OpenOptions::new().create(true).append(true).open(path).unwrap().write_all(text.as_bytes()).unwrap();
}

fn imported(batches: &[FollowBatch]) -> u64 {
    batches.iter().map(|b| b.imported).sum()
}

async fn count(store: &Trajstore) -> u64 {
    store.count(&FilterSet::default()).await.unwrap()
}

#[tokio::test]
async fn a_followed_folder_is_imported_as_it_grows_and_resumes_after_a_restart() {
    let tmp = tempfile::tempdir().unwrap();
    let (rollouts, state) = (tmp.path().join("rollouts"), tmp.path().join("state.json"));
    std::fs::create_dir(&rollouts).unwrap();
    let store = Trajstore::open(tmp.path().join("db").to_str().unwrap()).await.unwrap();
    let mut follower = Follower::open(&rollouts, state.clone(), ImportOptions::default()).unwrap();
    assert!(follower.poll(&store).await.unwrap().is_empty(), "an empty folder imports nothing");

    // Two lines, and half of a third.
    let step0 = rollouts.join("0.jsonl");
    let third = line("s0-2", 0.0);
    append(&step0, &(line("s0-0", 1.0) + &line("s0-1", 0.5) + &third[..20]));
    let batches = follower.poll(&store).await.unwrap();
    assert_eq!(imported(&batches), 2);
    assert_eq!(batches[0].file, "0.jsonl");
    assert_eq!(batches[0].format, "native");
    assert_eq!(count(&store).await, 2);
    assert!(follower.poll(&store).await.unwrap().is_empty(), "the half line waits, even settled");

    // The rest of the line, a bad line, and a new file in a sub-folder.
    append(&step0, &(third[20..].to_string() + "{\"trajectory_id\": 5}\n"));
    std::fs::create_dir(rollouts.join("eval")).unwrap();
    append(&rollouts.join("eval/1.jsonl"), &line("e1-0", 1.0));
    let batches = follower.poll(&store).await.unwrap();
    assert_eq!(imported(&batches), 2, "{batches:?}");
    let bad = batches.iter().find(|b| b.failed == 1).expect("the bad line is reported");
    assert_eq!(bad.errors[0].file, "0.jsonl");
    assert_eq!(bad.errors[0].line, Some(4), "the file's own line number");
    assert!(batches.iter().any(|b| b.file == "eval/1.jsonl"));
    assert_eq!(count(&store).await, 4);

    // A restart resumes from the state file: nothing is read twice.
    drop(follower);
    let mut follower = Follower::open(&rollouts, state.clone(), ImportOptions::default()).unwrap();
    assert!(follower.poll(&store).await.unwrap().is_empty());
    append(&step0, &line("s0-3", 1.0));
    assert_eq!(imported(&follower.poll(&store).await.unwrap()), 1);
    assert_eq!(count(&store).await, 5);

    // A run killed after its import committed but before the state moved on: the state
    // still names the chunk as pending. The restart imports exactly that chunk again and
    // finds its records stored.
    let saved: serde_json::Value = serde_json::from_slice(&std::fs::read(&state).unwrap()).unwrap();
    let offset = saved["files"]["0.jsonl"]["offset"].as_u64().unwrap();
    append(&step0, &line("s0-4", 1.0));
    let end = std::fs::metadata(&step0).unwrap().len();
    let mut crashed = saved.clone();
    crashed["pending"] = serde_json::json!({"file": "0.jsonl", "start": offset, "end": end, "lines": true});
    drop(follower);
    let mut follower = Follower::open(&rollouts, state.clone(), ImportOptions::default()).unwrap();
    assert_eq!(imported(&follower.poll(&store).await.unwrap()), 1);
    std::fs::write(&state, serde_json::to_vec(&crashed).unwrap()).unwrap();
    let mut follower = Follower::open(&rollouts, state.clone(), ImportOptions::default()).unwrap();
    let batches = follower.poll(&store).await.unwrap();
    assert_eq!(batches.len(), 1, "{batches:?}");
    assert!(batches[0].replayed);
    assert_eq!((batches[0].imported, batches[0].skipped), (0, 1));
    assert_eq!(count(&store).await, 6, "no record twice");

    // Another folder's state file is refused.
    let other = tmp.path().join("other");
    std::fs::create_dir(&other).unwrap();
    let e = Follower::open(&other, state, ImportOptions::default()).err().expect("refused");
    assert_eq!(e.parameter(), Some("--state"));
}

#[tokio::test]
async fn a_whole_json_file_is_imported_once_it_stops_growing() {
    let tmp = tempfile::tempdir().unwrap();
    let rollouts = tmp.path().join("rollouts");
    std::fs::create_dir(&rollouts).unwrap();
    let store = Trajstore::open(tmp.path().join("db").to_str().unwrap()).await.unwrap();
    let mut follower = Follower::open(&rollouts, tmp.path().join("state.json"), ImportOptions::default()).unwrap();
    let doc = format!("[{}, {}]", line("j-0", 1.0).trim(), line("j-1", 0.0).trim());
    std::fs::write(rollouts.join("run.json"), &doc).unwrap();
    assert!(follower.poll(&store).await.unwrap().is_empty(), "just appeared: it may still be written");
    assert_eq!(imported(&follower.poll(&store).await.unwrap()), 2);
    assert!(follower.poll(&store).await.unwrap().is_empty(), "imported once");
    assert_eq!(count(&store).await, 2);
}
