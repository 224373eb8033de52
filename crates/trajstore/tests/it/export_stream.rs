//! Exports through the store's stream of trajectories: complete over many chunks, in
//! every format, and the record stream itself.

use std::collections::BTreeSet;

use futures::TryStreamExt;
use trajstore::demo::DemoConfig;
use trajstore::{ExportFormat, FilterSet, Trajectory, Trajstore};

/// A store of `n` demo records (many export chunks) and their ids.
async fn demo_store(dir: &std::path::Path, n: u64) -> (Trajstore, BTreeSet<String>) {
    let store = Trajstore::open(dir.join("db").to_str().unwrap()).await.unwrap();
    let cfg = DemoConfig { large_observation_rate: 0.0, ..DemoConfig::with_total(n, 11) };
    let rows: Vec<Trajectory> = cfg.lines().map(|l| Trajectory::from_json(l.as_bytes()).unwrap()).collect();
    let ids = rows.iter().map(|t| t.trajectory_id.clone()).collect();
    for chunk in rows.chunks(1000) {
        store.add(chunk.to_vec()).await.unwrap();
    }
    (store, ids)
}

fn parquet_ids(path: &std::path::Path) -> Vec<String> {
    use arrow_array::cast::AsArray;
    let file = std::fs::File::open(path).unwrap();
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file).unwrap().build().unwrap();
    let mut ids = Vec::new();
    for batch in reader {
        let batch = batch.unwrap();
        let col = batch.column_by_name("trajectory_id").unwrap().as_string::<i32>();
        ids.extend(col.iter().map(|v| v.unwrap().to_string()));
    }
    ids
}

/// The ids of an Arrow IPC stream, and its columns.
fn arrow_ids(path: &std::path::Path) -> (Vec<String>, Vec<String>) {
    use arrow_array::cast::AsArray;
    let reader = arrow_ipc::reader::StreamReader::try_new(std::fs::File::open(path).unwrap(), None).unwrap();
    let columns = reader.schema().fields().iter().map(|f| f.name().clone()).collect();
    let mut ids = Vec::new();
    for batch in reader {
        let batch = batch.unwrap();
        let col = batch.column_by_name("trajectory_id").unwrap().as_string::<i32>();
        ids.extend(col.iter().map(|v| v.unwrap().to_string()));
    }
    (ids, columns)
}

#[tokio::test]
async fn an_export_of_many_chunks_is_complete_in_every_format() {
    let dir = tempfile::tempdir().unwrap();
    let (store, ids) = demo_store(dir.path(), 2400).await;
    assert_eq!(ids.len(), 2400);

    let streamed: Vec<Trajectory> = store.trajectories(&FilterSet::default()).try_collect().await.unwrap();
    assert_eq!(streamed.iter().map(|t| t.trajectory_id.clone()).collect::<BTreeSet<_>>(), ids);
    assert_eq!(streamed.len(), ids.len(), "no record twice");

    let mut out = Vec::new();
    let n = store.export_to_writer(&FilterSet::default(), ExportFormat::Jsonl, &mut out).await.unwrap();
    let lines: Vec<Trajectory> =
        String::from_utf8(out).unwrap().lines().map(|l| Trajectory::from_json(l.as_bytes()).unwrap()).collect();
    assert_eq!((n, lines.len()), (2400, 2400));
    assert_eq!(lines.iter().map(|t| t.trajectory_id.clone()).collect::<BTreeSet<_>>(), ids);

    let pq = dir.path().join("all.parquet");
    assert_eq!(store.export_to_path(&FilterSet::default(), ExportFormat::Parquet, &pq).await.unwrap(), 2400);
    let got = parquet_ids(&pq);
    assert_eq!((got.len(), got.into_iter().collect::<BTreeSet<_>>()), (2400, ids.clone()));

    let arrows = dir.path().join("all.arrows");
    assert_eq!(ExportFormat::from_path(&arrows), ExportFormat::Arrow);
    assert_eq!(store.export_to_path(&FilterSet::default(), ExportFormat::Arrow, &arrows).await.unwrap(), 2400);
    let (got, columns) = arrow_ids(&arrows);
    assert_eq!((got.len(), got.into_iter().collect::<BTreeSet<_>>()), (2400, ids.clone()));
    for column in ["trajectory_id", "reward", "steps", "task", "extra"] {
        assert!(columns.iter().any(|c| c == column), "{column} in {columns:?}");
    }

    // The summary rows alone: every id once, the list's columns, no steps.
    let summaries = dir.path().join("summaries.arrows");
    assert_eq!(
        store.export_to_path(&FilterSet::default(), ExportFormat::ArrowSummary, &summaries).await.unwrap(),
        2400
    );
    let (got, columns) = arrow_ids(&summaries);
    assert_eq!(got.len(), 2400);
    assert_eq!(got.into_iter().collect::<BTreeSet<_>>(), ids);
    assert_eq!(columns, trajstore_model::COLUMNS.iter().map(|c| c.name.to_string()).collect::<Vec<_>>());
}

#[tokio::test]
async fn filtered_and_empty_exports_are_valid_files() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = demo_store(dir.path(), 240).await;
    let epoch1 = FilterSet::parse([("epoch_id", "1")]).unwrap();
    let expected = store.count(&epoch1).await.unwrap();
    assert!(expected > 0 && expected < 240);
    let pq = dir.path().join("epoch1.parquet");
    assert_eq!(store.export_to_path(&epoch1, ExportFormat::Parquet, &pq).await.unwrap(), expected);
    assert_eq!(parquet_ids(&pq).len() as u64, expected);

    let none = FilterSet::parse([("training_id", "no-such-run")]).unwrap();
    let empty = dir.path().join("empty.parquet");
    assert_eq!(store.export_to_path(&none, ExportFormat::Parquet, &empty).await.unwrap(), 0);
    assert!(parquet_ids(&empty).is_empty());
    let mut out = Vec::new();
    assert_eq!(store.export_to_writer(&none, ExportFormat::Atif, &mut out).await.unwrap(), 0);
    assert!(out.is_empty());
    let empty = dir.path().join("empty.arrows");
    assert_eq!(store.export_to_path(&none, ExportFormat::Arrow, &empty).await.unwrap(), 0);
    let (ids, columns) = arrow_ids(&empty);
    assert!(ids.is_empty() && columns.iter().any(|c| c == "steps"), "an empty stream still has its schema");
    let empty = dir.path().join("empty-summaries.arrows");
    assert_eq!(store.export_to_path(&none, ExportFormat::ArrowSummary, &empty).await.unwrap(), 0);
    let (ids, columns) = arrow_ids(&empty);
    assert!(ids.is_empty() && columns.iter().any(|c| c == "reward"));
    let epoch1_summaries = dir.path().join("epoch1.arrows");
    assert_eq!(store.export_to_path(&epoch1, ExportFormat::ArrowSummary, &epoch1_summaries).await.unwrap(), expected);
}
