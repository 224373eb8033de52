//! The store against real Lance tables in a temporary directory.

// A test reads top to bottom as one scenario; its length is not split for its own sake.
#![allow(clippy::too_many_lines)]

use trajstore_model::Trajectory;
use trajstore_query::FilterSet;
use trajstore_store::{InsertMode, Patch, Store};

fn traj(json: &str) -> Trajectory {
    Trajectory::from_json(json.as_bytes()).unwrap()
}

fn sample() -> Vec<Trajectory> {
    vec![
        traj(
            r#"{"trajectory_id":"a","data_id":"task-1","training_id":"run-1","epoch_id":0,"task":{"question":"50% of It's"},"reward":1.0,"tags":["x"],"metadata":{"model":"m1","t":0.5},"steps":[{"role":"user","content":"hi"}],"extra_field":[1]}"#,
        ),
        traj(
            r#"{"trajectory_id":"b","data_id":"task_1","training_id":"run-2","epoch_id":1,"task":{"question":"other"},"reward":0.5,"tags":["y","x"],"termination_reason":"timeout"}"#,
        ),
        traj(
            r#"{"trajectory_id":"c","data_id":"task-2","training_id":"run-1","epoch_id":2,"termination_reason":"success"}"#,
        ),
    ]
}

async fn ids(store: &Store, pairs: &[(&str, &str)]) -> Vec<String> {
    let f = FilterSet::parse(pairs.iter().copied()).unwrap();
    let rows = store.list(f.to_sql(), "trajectory_id", false, 0, 100).await.unwrap();
    let n = store.count(f.to_sql()).await.unwrap();
    assert_eq!(n as usize, rows.len(), "count agrees with rows for {pairs:?}");
    rows.into_iter().map(|r| r.trajectory_id).collect()
}

#[tokio::test]
async fn insert_dedupe_get_filter_update_delete() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().to_str().unwrap()).await.unwrap();
    let out = store.insert(sample(), InsertMode::Deduplicate).await.unwrap();
    assert_eq!((out.inserted, out.skipped), (3, 0));
    let again = store.insert(sample(), InsertMode::Deduplicate).await.unwrap();
    assert_eq!((again.inserted, again.skipped), (0, 3));
    assert_eq!(store.count(None).await.unwrap(), 3);

    let a = store.get("a").await.unwrap().unwrap();
    let original = &sample()[0];
    assert_eq!(a.steps_json, original.steps_json);
    assert_eq!(a.extra_json, original.extra_json);
    assert_eq!(a.task_json, original.task_json);
    assert!(store.get("zzz").await.unwrap().is_none());

    assert_eq!(ids(&store, &[("data_id", "task-*")]).await, ["a", "c"]);
    assert_eq!(ids(&store, &[("data_id", "task_1")]).await, ["b"], "_ is literal");
    assert_eq!(ids(&store, &[("question", "50% OF IT'S")]).await, ["a"]);
    assert_eq!(ids(&store, &[("question", "0%_")]).await, Vec::<String>::new());
    assert_eq!(ids(&store, &[("termination_reason", "timeout,success,nope")]).await, ["b", "c"]);
    assert_eq!(ids(&store, &[("tags", "y")]).await, ["b"]);
    assert_eq!(ids(&store, &[("tags", "x")]).await, ["a", "b"]);
    assert_eq!(ids(&store, &[("metadata.model", "m1")]).await, ["a"]);
    assert_eq!(ids(&store, &[("metadata.t", "0.50")]).await, ["a"]);
    assert_eq!(ids(&store, &[("reward_min", "0.6")]).await, ["a"]);
    assert_eq!(ids(&store, &[("epoch_id_min", "1"), ("training_id", "run-*")]).await, ["b", "c"]);

    // Sort nulls last both ways, ties broken by id.
    let desc: Vec<_> =
        store.list(None, "reward", true, 0, 10).await.unwrap().into_iter().map(|r| r.trajectory_id).collect();
    assert_eq!(desc, ["a", "b", "c"]);
    let asc: Vec<_> =
        store.list(None, "reward", false, 0, 10).await.unwrap().into_iter().map(|r| r.trajectory_id).collect();
    assert_eq!(asc, ["b", "a", "c"]);

    let v0 = store.version().await.unwrap();
    let commit = store
        .update(
            "a",
            &Patch { is_bookmarked: Some(true), tags: Some(vec!["it's".into()]), notes: Some(Some("n'1".into())) },
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(commit.version, v0 + 1, "one commit, reported");
    let patched = store.summary("a").await.unwrap().unwrap();
    assert_eq!(patched.updated_at, Some(commit.updated_at));
    assert!(patched.is_bookmarked);
    assert_eq!(patched.tags, ["it's"]);
    assert_eq!(patched.notes.as_deref(), Some("n'1"));
    assert!(store.version().await.unwrap() > v0);
    store.update("a", &Patch { tags: Some(vec![]), notes: Some(None), ..Default::default() }).await.unwrap().unwrap();
    let cleared = store.summary("a").await.unwrap().unwrap();
    assert!(cleared.tags.is_empty() && cleared.notes.is_none() && cleared.is_bookmarked);
    assert!(store.update("nope", &Patch { is_bookmarked: Some(true), ..Default::default() }).await.unwrap().is_none());
    // The steps survive an update untouched.
    assert_eq!(store.get("a").await.unwrap().unwrap().steps_json, original.steps_json);

    assert!(store.delete("b").await.unwrap());
    assert!(!store.delete("b").await.unwrap());
    assert_eq!(store.count(None).await.unwrap(), 2);

    let report = store.optimize(std::time::Duration::from_secs(0)).await.unwrap();
    assert!(!report.indexes_created.is_empty());
    assert_eq!(ids(&store, &[("tags", "it's,x")]).await, Vec::<String>::new(), "a's tags were cleared and b deleted");
    assert_eq!(ids(&store, &[("data_id", "task-*")]).await, ["a", "c"], "indexes give the same answers");

    // A second handle sees writes made through the first at once.
    let other = Store::open(dir.path().to_str().unwrap()).await.unwrap();
    store.insert(vec![traj(r#"{"trajectory_id":"d"}"#)], InsertMode::Deduplicate).await.unwrap();
    assert_eq!(other.count(None).await.unwrap(), 3);
    assert!(other.get("d").await.unwrap().is_some());
}

/// A store written when the search text was a column of `summaries` (and `payloads`
/// had none) opens with the current layout, and `optimize` derives the missing text,
/// after which full-text search finds the old rows.
#[tokio::test]
async fn a_store_with_the_earlier_search_layout_is_migrated_and_backfilled() {
    let dir = tempfile::tempdir().unwrap();
    let uri = dir.path().to_str().unwrap();
    let rows = vec![
        traj(
            r#"{"trajectory_id":"old-1","task":{"question":"Where is the lighthouse?"},"steps":[{"role":"tool","content":"the keeper logged a storm"}]}"#,
        ),
        traj(
            r#"{"trajectory_id":"old-2","task":{"question":"Count the boats"},"steps":[{"role":"assistant","content":"twelve boats"}]}"#,
        ),
    ];
    Store::open(uri).await.unwrap().insert(rows, InsertMode::Deduplicate).await.unwrap();
    // Rewind the layout to the earlier one.
    {
        let conn = lancedb::connect(uri).execute().await.unwrap();
        let payloads = conn.open_table("payloads").execute().await.unwrap();
        payloads.drop_columns(&["search_text"]).await.unwrap();
        let summaries = conn.open_table("summaries").execute().await.unwrap();
        summaries
            .add_columns()
            .transform(lancedb::table::NewColumnTransform::SqlExpressions(vec![(
                "search_text".into(),
                "question".into(),
            )]))
            .execute()
            .await
            .unwrap();
    }
    let store = Store::open(uri).await.unwrap();
    let conn = lancedb::connect(uri).execute().await.unwrap();
    let summaries = conn.open_table("summaries").execute().await.unwrap();
    assert!(summaries.schema().await.unwrap().field_with_name("search_text").is_err(), "dropped from summaries");
    assert!(store.search_text("storm", None, 10, 1.0).await.unwrap().is_empty(), "no text yet");
    let report = store.optimize(std::time::Duration::from_secs(3600)).await.unwrap();
    assert_eq!(report.search_texts_filled, 2);
    let hits = store.search_text("keeper storm", None, 10, 1.0).await.unwrap();
    assert_eq!(hits.iter().map(|h| h.summary.trajectory_id.as_str()).collect::<Vec<_>>(), vec!["old-1"]);
    // The question is part of the derived text, and the rows are otherwise intact.
    assert_eq!(store.search_text("boats", None, 10, 1.0).await.unwrap().len(), 1);
    assert_eq!(store.get("old-2").await.unwrap().unwrap().question.as_deref(), Some("Count the boats"));
    assert_eq!(store.optimize(std::time::Duration::from_secs(3600)).await.unwrap().search_texts_filled, 0);
}

/// An import writes a batch's payloads, then commits its summaries: an `optimize` in
/// between (another process) must not take the payloads for orphans.
#[tokio::test]
async fn optimize_between_a_batch_s_payloads_and_its_commit_keeps_the_payloads() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().to_str().unwrap()).await.unwrap();
    store.insert(vec![traj(r#"{"trajectory_id":"first"}"#)], InsertMode::Deduplicate).await.unwrap();
    let staged = store
        .stage(
            vec![traj(r#"{"trajectory_id":"late","steps":[{"role":"user","content":"still here"}]}"#)],
            InsertMode::Deduplicate,
        )
        .await
        .unwrap();
    let other = Store::open(dir.path().to_str().unwrap()).await.unwrap();
    assert_eq!(other.optimize(std::time::Duration::from_secs(3600)).await.unwrap().orphan_payloads_removed, 0);
    assert_eq!(store.commit(staged).await.unwrap().inserted, 1);
    let late = store.get("late").await.unwrap().expect("committed");
    assert!(late.steps_json.contains("still here"));
}

/// Writers racing to add the same new id, with the id index in place (the state of any
/// store after its first import): each id must be stored once. Lance detects such a race
/// only on its unindexed merge path, so two handles (two processes) must not store it
/// twice either.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_inserts_of_one_id_store_it_once_with_the_id_index_in_place() {
    let dir = tempfile::tempdir().unwrap();
    let uri = dir.path().to_str().unwrap().to_string();
    let first = Store::open(&uri).await.unwrap();
    first.insert(sample(), InsertMode::Deduplicate).await.unwrap();
    first.ensure_indexes(false).await.unwrap();
    let second = Store::open(&uri).await.unwrap();
    for round in 0..3 {
        let id = format!("race-{round}");
        let mut writers = Vec::new();
        for i in 0..12 {
            let store = if i % 2 == 0 { first.clone() } else { second.clone() };
            let record = traj(&format!(r#"{{"trajectory_id":"{id}","steps":[],"notes":"writer {i}"}}"#));
            writers.push(tokio::spawn(async move { store.insert(vec![record], InsertMode::Deduplicate).await }));
        }
        let mut inserted = 0;
        for w in writers {
            inserted += w.await.unwrap().unwrap().inserted;
        }
        assert_eq!(inserted, 1, "{id}: one writer stores it, the others skip it");
        assert_eq!(first.count(Some(format!("trajectory_id = '{id}'"))).await.unwrap(), 1, "{id} is stored once");
    }
}

/// Processes opening a new store at once, each writing as soon as it has opened: one
/// creates the tables (it claimed them with a marker), the others wait for them, and no
/// creation overwrites rows another process committed. Before the claim, Lance retried
/// a losing creation as an overwrite of the winner's table at the next version.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_first_opens_create_the_tables_once_and_lose_no_rows() {
    for round in 0..3 {
        let dir = tempfile::tempdir().unwrap();
        let uri = dir.path().to_str().unwrap().to_string();
        let mut writers = Vec::new();
        for i in 0..8 {
            let uri = uri.clone();
            writers.push(tokio::spawn(async move {
                let store = Store::open(&uri).await?;
                let record = traj(&format!(r#"{{"trajectory_id":"w{i}","steps":[]}}"#));
                store.insert(vec![record], InsertMode::Deduplicate).await
            }));
        }
        for w in writers {
            assert_eq!(w.await.unwrap().unwrap().inserted, 1, "round {round}");
        }
        let store = Store::open(&uri).await.unwrap();
        assert_eq!(store.count(None).await.unwrap(), 8, "round {round}: every writer's row is there");
        assert!(dir.path().join("_trajstore").join("tables-created").exists(), "the creation was claimed");
    }
}

// A store written before the newest columns of the column table opens with them null.
const NEW: [&str; 4] = ["model", "input_tokens", "output_tokens", "cost"];

#[tokio::test]
async fn an_old_store_gains_the_new_columns_as_null() {
    let dir = tempfile::tempdir().unwrap();
    let uri = dir.path().to_str().unwrap();
    {
        let store = Store::open(uri).await.unwrap();
        let old = vec![traj(r#"{"trajectory_id":"old","reward":1,"steps":[{"role":"user","content":"hi"}]}"#)];
        store.insert(old, InsertMode::Deduplicate).await.unwrap();
    }
    // The schema the current main writes: the table without the four columns.
    let conn = lancedb::connect(uri).execute().await.unwrap();
    let summaries = conn.open_table("summaries").execute().await.unwrap();
    summaries.drop_columns(&NEW).await.unwrap();
    assert!(summaries.schema().await.unwrap().field_with_name("cost").is_err());
    drop((summaries, conn));

    let store = Store::open(uri).await.unwrap();
    let rows = store.list(None, "trajectory_id", false, 0, 10).await.unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!((rows[0].model.as_deref(), rows[0].cost, rows[0].input_tokens), (None, None, None));

    let new = traj(r#"{"trajectory_id":"new","model":"m-1","input_tokens":10,"output_tokens":5,"cost":0.25}"#);
    assert_eq!(store.insert(vec![new], InsertMode::Deduplicate).await.unwrap().inserted, 1);
    let filter = FilterSet::parse([("cost_min", "0.1")]).unwrap().to_sql();
    let rows = store.list(filter, "trajectory_id", false, 0, 10).await.unwrap();
    assert_eq!(rows.iter().map(|r| r.trajectory_id.as_str()).collect::<Vec<_>>(), ["new"]);
    assert_eq!((rows[0].model.as_deref(), rows[0].output_tokens, rows[0].cost), (Some("m-1"), Some(5), Some(0.25)));
    let back = store.get("new").await.unwrap().unwrap();
    assert_eq!((back.input_tokens, back.cost), (Some(10), Some(0.25)));
    assert_eq!(store.count(FilterSet::parse([("model", "m-*")]).unwrap().to_sql()).await.unwrap(), 1);
}

/// The ids of the full-text hits for `q`.
async fn text_hits(store: &Store, q: &str) -> Vec<String> {
    let mut ids: Vec<String> =
        store.search_text(q, None, 10, 1.0).await.unwrap().into_iter().map(|h| h.summary.trajectory_id).collect();
    ids.sort();
    ids
}

#[tokio::test]
async fn a_store_without_the_terms_marker_is_converted_by_optimize_and_finds_word_forms() {
    let dir = tempfile::tempdir().unwrap();
    let uri = dir.path().to_str().unwrap();
    let rows = vec![
        traj(r#"{"trajectory_id":"z","steps":[{"role":"user","content":"Zebras were running"}]}"#),
        traj(r#"{"trajectory_id":"g","steps":[{"role":"user","content":"a giraffe walked"}]}"#),
    ];
    let store = Store::open(uri).await.unwrap();
    store.insert(rows, InsertMode::Deduplicate).await.unwrap();
    store.ensure_indexes(false).await.unwrap();
    assert_eq!(text_hits(&store, "zebra RUN").await, ["z"]);
    let conn = lancedb::connect(uri).execute().await.unwrap();
    let payloads = conn.open_table("payloads").execute().await.unwrap();
    let format = |schema: arrow_schema::SchemaRef| {
        schema.field_with_name("search_text").unwrap().metadata().get(trajstore_store::SEARCH_TEXT_FORMAT_KEY).cloned()
    };
    assert_eq!(format(payloads.schema().await.unwrap()).as_deref(), Some(trajstore_store::TERMS_FORMAT), "new: terms");
    // A store from before terms: no marker on its search text.
    let unmark = lancedb::table::FieldMetadataUpdate {
        path: "search_text".into(),
        metadata: [(trajstore_store::SEARCH_TEXT_FORMAT_KEY.to_string(), None)].into(),
        replace: false,
    };
    payloads.update_field_metadata(&[unmark]).await.unwrap();
    let old = Store::open(uri).await.unwrap();
    old.optimize(std::time::Duration::ZERO).await.unwrap();
    assert_eq!(old.unindexed_text_rows().await.unwrap(), 0);
    for (q, want) in
        [("zebra", vec!["z"]), ("the zebras run", vec!["z"]), ("walking giraffes", vec!["g"]), ("the", vec![])]
    {
        assert_eq!(text_hits(&old, q).await, want, "{q}");
    }
    let reopened = Store::open(uri).await.unwrap();
    let schema = conn.open_table("payloads").execute().await.unwrap().schema().await.unwrap();
    assert_eq!(format(schema).as_deref(), Some(trajstore_store::TERMS_FORMAT), "converted: terms");
    assert_eq!(text_hits(&reopened, "ZEBRA").await, ["z"]);
}

/// The search text is compressed as its schema says (zstd at a low level), in a new
/// store and, once reopened, in one created before its table kept that setting: Lance
/// encodes every write with the table's schema, whose defaults cost the import more.
#[tokio::test]
async fn the_search_text_keeps_its_compression_settings() {
    let dir = tempfile::tempdir().unwrap();
    let uri = dir.path().to_str().unwrap();
    let store = Store::open(uri).await.unwrap();
    store.insert(vec![traj(r#"{"trajectory_id":"a","steps":[]}"#)], InsertMode::Deduplicate).await.unwrap();
    let conn = lancedb::connect(uri).execute().await.unwrap();
    let payloads = conn.open_table("payloads").execute().await.unwrap();
    let metadata = |schema: arrow_schema::SchemaRef| schema.field_with_name("search_text").unwrap().metadata().clone();
    let new = metadata(payloads.schema().await.unwrap());
    assert_eq!(new.get("lance-encoding:compression").map(String::as_str), Some("zstd"), "{new:?}");
    assert_eq!(
        new.get(trajstore_store::SEARCH_TEXT_FORMAT_KEY).map(String::as_str),
        Some(trajstore_store::TERMS_FORMAT)
    );
    let strip = lancedb::table::FieldMetadataUpdate {
        path: "search_text".into(),
        metadata: [
            ("lance-encoding:compression".to_string(), None),
            ("lance-encoding:compression-level".to_string(), None),
        ]
        .into(),
        replace: false,
    };
    payloads.update_field_metadata(&[strip]).await.unwrap();
    assert!(!metadata(payloads.schema().await.unwrap()).contains_key("lance-encoding:compression"));
    drop(store);
    Store::open(uri).await.unwrap();
    let payloads = conn.open_table("payloads").execute().await.unwrap();
    let reopened = metadata(payloads.schema().await.unwrap());
    assert_eq!(reopened, new, "the settings are back, the terms marker kept");
}

/// What a commit changed, as a reader of the summaries follows it: a delete names the
/// deleted id and reads no row; a restore of the version before it (the fragment's
/// deletions shrink) brings the row back.
#[tokio::test]
async fn the_rows_a_commit_changed_include_deletes_and_restores() {
    let dir = tempfile::tempdir().unwrap();
    let uri = dir.path().to_str().unwrap();
    let store = Store::open(uri).await.unwrap();
    let rows = (0..5).map(|i| traj(&format!(r#"{{"trajectory_id":"t{i}","steps":[]}}"#))).collect();
    store.insert(rows, InsertMode::Deduplicate).await.unwrap();
    let before_delete = store.version().await.unwrap();
    assert!(store.delete("t2").await.unwrap());
    let deleted = store.version().await.unwrap();
    let changes = store.rows_changed_at(deleted, &["trajectory_id"]).await.unwrap().expect("readable");
    assert_eq!(changes.removed, ["t2"]);
    assert!(changes.added.iter().all(|b| b.num_rows() == 0), "{:?}", changes.added);

    let conn = lancedb::connect(uri).execute().await.unwrap();
    let summaries = conn.open_table("summaries").execute().await.unwrap();
    summaries.checkout(before_delete).await.unwrap();
    summaries.restore().await.unwrap();
    let restored = store.version().await.unwrap();
    assert_eq!(restored, deleted + 1);
    let changes = store.rows_changed_at(restored, &["trajectory_id"]).await.unwrap().expect("readable");
    let mut removed = changes.removed.clone();
    removed.sort();
    let mut added: Vec<String> = changes
        .added
        .iter()
        .flat_map(|b| {
            let ids = b.column(0).as_any().downcast_ref::<arrow_array::StringArray>().unwrap().clone();
            ids.iter().flatten().map(str::to_string).collect::<Vec<_>>()
        })
        .collect();
    added.sort();
    // Every live row of the fragment out and back in, the restored one among them.
    assert_eq!(removed, ["t0", "t1", "t3", "t4"]);
    assert_eq!(added, ["t0", "t1", "t2", "t3", "t4"]);
}
