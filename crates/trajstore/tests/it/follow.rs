//! A followed folder: new files and appended lines are imported once each, a half-written
//! line waits for its end, and a restart (even one that lost the end of an import)
//! neither loses nor repeats a record.

use std::io::Write;
use std::path::Path;

use trajstore::{FilterSet, FollowPoll, Follower, ImportOptions, Trajstore};

fn line(id: &str, reward: f64) -> String {
    format!(
        r#"{{"trajectory_id":"{id}","reward":{reward},"steps":[{{"role":"user","content":"q {id}"}},{{"role":"assistant","content":"a"}}]}}"#
    ) + "\n"
}

fn append(path: &Path, text: &str) {
    std::fs::OpenOptions::new().create(true).append(true).open(path).unwrap().write_all(text.as_bytes()).unwrap();
}

fn imported(poll: &FollowPoll) -> u64 {
    poll.batches.iter().map(|b| b.imported).sum()
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
    assert!(follower.poll(&store).await.unwrap().batches.is_empty(), "an empty folder imports nothing");

    // Two lines, and half of a third.
    let step0 = rollouts.join("0.jsonl");
    let third = line("s0-2", 0.0);
    append(&step0, &(line("s0-0", 1.0) + &line("s0-1", 0.5) + &third[..20]));
    let poll = follower.poll(&store).await.unwrap();
    assert_eq!(imported(&poll), 2);
    assert_eq!(poll.batches[0].file, "0.jsonl");
    assert_eq!(poll.batches[0].format, "native");
    assert_eq!(count(&store).await, 2);
    assert!(follower.poll(&store).await.unwrap().batches.is_empty(), "the half line waits, even settled");

    // The rest of the line, a bad line, and a new file in a sub-folder.
    append(&step0, &(third[20..].to_string() + "{\"trajectory_id\": 5}\n"));
    std::fs::create_dir(rollouts.join("eval")).unwrap();
    append(&rollouts.join("eval/1.jsonl"), &line("e1-0", 1.0));
    let poll = follower.poll(&store).await.unwrap();
    assert_eq!(imported(&poll), 2, "{poll:?}");
    let bad = poll.batches.iter().find(|b| b.failed == 1).expect("the bad line is reported");
    assert_eq!(bad.errors[0].file, "0.jsonl");
    assert_eq!(bad.errors[0].line, Some(4), "the file's own line number");
    assert!(poll.batches.iter().any(|b| b.file == "eval/1.jsonl"));
    assert_eq!(count(&store).await, 4);

    // A restart resumes from the state file: nothing is read twice.
    drop(follower);
    let mut follower = Follower::open(&rollouts, state.clone(), ImportOptions::default()).unwrap();
    assert!(follower.poll(&store).await.unwrap().batches.is_empty());
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
    let poll = follower.poll(&store).await.unwrap();
    assert_eq!(poll.batches.len(), 1, "{poll:?}");
    assert!(poll.batches[0].replayed);
    assert_eq!((poll.batches[0].imported, poll.batches[0].skipped), (0, 1));
    assert_eq!(count(&store).await, 6, "no record twice");

    // Another folder's state file is refused.
    let other = tmp.path().join("other");
    std::fs::create_dir(&other).unwrap();
    let e = Follower::open(&other, state, ImportOptions::default()).err().expect("refused");
    assert_eq!(e.parameter(), Some("--state"));
}

#[tokio::test]
async fn a_whole_file_is_imported_once_settled_and_once_only() {
    let tmp = tempfile::tempdir().unwrap();
    let rollouts = tmp.path().join("rollouts");
    std::fs::create_dir(&rollouts).unwrap();
    let store = Trajstore::open(tmp.path().join("db").to_str().unwrap()).await.unwrap();
    let settle = std::time::Duration::from_millis(300);
    let mut follower =
        Follower::open(&rollouts, tmp.path().join("state.json"), ImportOptions::default()).unwrap().settle(settle);
    let doc = format!("[{}, {}]", line("j-0", 1.0).trim(), line("j-1", 0.0).trim());
    std::fs::write(rollouts.join("run.json"), &doc).unwrap();
    assert!(follower.poll(&store).await.unwrap().batches.is_empty(), "just appeared: it may still be written");
    tokio::time::sleep(settle).await;
    assert_eq!(imported(&follower.poll(&store).await.unwrap()), 2);
    assert_eq!(count(&store).await, 2);
    // Changed after its import: reported, not imported again (its records would get new ids).
    let doc = format!("[{}, {}, {}]", line("j-0", 1.0).trim(), line("j-1", 0.0).trim(), line("j-2", 1.0).trim());
    std::fs::write(rollouts.join("run.json"), &doc).unwrap();
    tokio::time::sleep(settle).await;
    let poll = follower.poll(&store).await.unwrap();
    assert!(poll.batches.is_empty());
    assert!(poll.notes[0].contains("run.json changed after it was imported whole"), "{:?}", poll.notes);
    assert_eq!(count(&store).await, 2);
}

#[tokio::test]
async fn a_file_that_vanishes_while_pending_is_noted_and_following_goes_on() {
    let tmp = tempfile::tempdir().unwrap();
    let (rollouts, state) = (tmp.path().join("rollouts"), tmp.path().join("state.json"));
    std::fs::create_dir(&rollouts).unwrap();
    let store = Trajstore::open(tmp.path().join("db").to_str().unwrap()).await.unwrap();
    append(&rollouts.join("a.jsonl"), &line("a-0", 1.0));
    let mut follower = Follower::open(&rollouts, state.clone(), ImportOptions::default()).unwrap();
    assert_eq!(imported(&follower.poll(&store).await.unwrap()), 1);
    drop(follower);
    // A crash left a chunk of b.jsonl pending, and b.jsonl was then deleted.
    let mut saved: serde_json::Value = serde_json::from_slice(&std::fs::read(&state).unwrap()).unwrap();
    saved["pending"] = serde_json::json!({"file": "b.jsonl", "start": 0, "end": 100, "lines": true});
    std::fs::write(&state, serde_json::to_vec(&saved).unwrap()).unwrap();
    append(&rollouts.join("c.jsonl"), &line("c-0", 1.0));
    let mut follower = Follower::open(&rollouts, state.clone(), ImportOptions::default()).unwrap();
    let poll = follower.poll(&store).await.unwrap();
    assert!(poll.notes.iter().any(|n| n.contains("b.jsonl is gone")), "{:?}", poll.notes);
    assert_eq!(imported(&poll), 1, "c.jsonl still imported");
    assert_eq!(count(&store).await, 2);
    assert!(follower.poll(&store).await.unwrap().notes.is_empty(), "the pending chunk is dropped");
}

#[tokio::test]
async fn a_last_line_taken_without_its_newline_keeps_line_numbers_right() {
    let tmp = tempfile::tempdir().unwrap();
    let rollouts = tmp.path().join("rollouts");
    std::fs::create_dir(&rollouts).unwrap();
    let store = Trajstore::open(tmp.path().join("db").to_str().unwrap()).await.unwrap();
    let mut follower = Follower::open(&rollouts, tmp.path().join("s.json"), ImportOptions::default()).unwrap();
    let f = rollouts.join("0.jsonl");
    append(&f, line("n-0", 1.0).trim_end());
    assert!(follower.poll(&store).await.unwrap().batches.is_empty(), "may still grow");
    assert_eq!(imported(&follower.poll(&store).await.unwrap()), 1, "settled and whole: taken");
    append(&f, "\n{\"trajectory_id\": 7}\n");
    let poll = follower.poll(&store).await.unwrap();
    let error = &poll.batches[0].errors[0];
    assert_eq!(error.line, Some(2), "the bad record is the file's second line");
}
