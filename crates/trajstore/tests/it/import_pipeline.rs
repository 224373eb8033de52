//! The import pipeline stages batch N+1 (its payloads) while batch N commits: ids
//! repeated across batches must still be stored once, as their first occurrence, with
//! their own steps, and the counts must add up.

use std::io::Write;
use std::sync::Arc;

use trajstore::{FilterSet, ImportOptions, Input, Trajstore};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ids_repeated_across_batches_are_stored_once_as_first_seen() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("rollouts.jsonl");
    let mut out = std::fs::File::create(&file).unwrap();
    // 40 distinct ids; then 10 of them again (with other rewards and steps), then 3 once more.
    let line = |id: usize, copy: usize| {
        format!(
            r#"{{"trajectory_id":"r{id:02}","reward":{copy},"steps":[{{"role":"user","content":"copy {copy} of {id}"}}]}}"#
        )
    };
    for id in 0..40 {
        writeln!(out, "{}", line(id, 0)).unwrap();
    }
    for id in 20..30 {
        writeln!(out, "{}", line(id, 1)).unwrap();
    }
    for id in [3, 21, 39] {
        writeln!(out, "{}", line(id, 2)).unwrap();
    }
    drop(out);

    let store = Trajstore::open(dir.path().join("db").to_str().unwrap()).await.unwrap();
    // Batches of 7 records: every repeat lands in a later batch than its first copy, some
    // in the very next one (staged while the first copy's batch commits).
    let opts = ImportOptions { batch_rows: 7, ..Default::default() };
    let report = store.import(vec![Input::File(file.clone())], opts, Arc::new(Default::default())).await.unwrap();
    assert_eq!((report.imported, report.skipped, report.failed), (40, 13, 0));

    let rows = store.summaries(&FilterSet::default()).await.unwrap();
    let mut ids: Vec<&str> = rows.iter().map(|r| r.trajectory_id.as_str()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!((rows.len(), ids.len()), (40, 40), "each id once");
    for id in [3, 20, 21, 25, 29, 39] {
        let t = store.get(&format!("r{id:02}")).await.unwrap();
        assert_eq!(t.reward, Some(0.0), "r{id:02} is its first occurrence");
        assert!(t.steps_json.contains(&format!("copy 0 of {id}")), "with its own steps: {}", t.steps_json);
    }

    // Importing the file again stores nothing and counts every line as skipped.
    let again = store
        .import(
            vec![Input::File(file)],
            ImportOptions { batch_rows: 7, ..Default::default() },
            Arc::new(Default::default()),
        )
        .await
        .unwrap();
    assert_eq!((again.imported, again.skipped), (0, 53));
}
