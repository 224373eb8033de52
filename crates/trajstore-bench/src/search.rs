//! `trajstore-bench search --n N`: embedding throughput with the real model, index build
//! times, similarity top-10 (beside an exact scan, with the index's recall against it) and
//! full-text p50/p95 (search results are never cached).
//!
//! Embedding every row of a large store with the real model would take hours on a
//! 2-core machine, so the store's vectors are filled by the hashed stand-in embedder
//! (clearly labelled below); throughput is measured on the real model over a sample of
//! the same texts. Query timings do not depend on which model made the vectors.

use std::sync::Arc;
use std::time::Instant;

use trajstore::search::{default_model_dir, Embedder, HashEmbedder, MiniLm, StaticEmbedder};
use trajstore::{EmbedTextSource, FilterSet, Trajstore};

use crate::{data_file, import_child, line, time, work_dir};

pub async fn bench_search(ns: &[u64]) {
    for &n in ns {
        let store = search_store(n).await;
        let sample: Vec<String> = store
            .summaries(&FilterSet::default())
            .await
            .unwrap()
            .into_iter()
            .take(2000)
            .map(|s| s.question.unwrap_or_default())
            .collect();
        embedding_throughput(&sample);
        fill_stand_in_vectors(&store).await;
        similarity_queries(&store, &sample).await;
        full_text_queries(&store).await;
    }
}

/// A store of its own, imported without `optimize`, so that the index builds are timed
/// here. The handle has a cache and the in-memory index, as the server's: search results
/// are never cached, but counts (the filter's share of the rows, rows not embedded yet)
/// are.
async fn search_store(n: u64) -> Trajstore {
    let (file, total, _) = data_file(n);
    let db = work_dir().join(format!("search-{total}"));
    println!("search, {total} trajectories");
    if !db.join(".complete").exists() {
        let _ = std::fs::remove_dir_all(&db);
        let imported = import_child(&file, &db, &[]);
        println!("  import (no optimize): {:.1} s", imported["import_s"].as_f64().unwrap());
        let store = Trajstore::open(db.to_str().unwrap()).await.unwrap();
        let t = Instant::now();
        let report = store.optimize().await.unwrap();
        println!("  optimize: {:.1} s, of which index builds:", t.elapsed().as_secs_f64());
        for i in &report.indexes_created {
            println!("    {:<40} {:>7.1} s", i.name, i.seconds);
        }
        std::fs::write(db.join(".complete"), "").unwrap();
    }
    let store = Trajstore::builder(db.to_str().unwrap()).memory_index(true).open().await.unwrap();
    store.warm_memory_index().await.unwrap();
    store
}

/// The embedders' throughput: over stored (generated) questions, and over real
/// trajectory texts when `TRAJSTORE_BENCH_TEXTS` names a file of them (one JSON string
/// a line; `crates/trajstore-embed/examples/make_real_texts.py` makes one from exports
/// of `../shared/realdata`). The static tier embeds every row; MiniLM, the reference,
/// re-ranks a query's candidates.
fn embedding_throughput(sample: &[String]) {
    let dir = default_model_dir();
    let (minilm, fast) = match (MiniLm::load(&dir), StaticEmbedder::load_or_distill(&dir)) {
        (Ok(m), Ok(s)) => (m, s),
        (Err(e), _) | (_, Err(e)) => return println!("  embedding throughput: not measured ({e})"),
    };
    let real: Vec<String> = std::env::var_os("TRAJSTORE_BENCH_TEXTS")
        .and_then(|f| std::fs::read_to_string(f).ok())
        .map(|t| t.lines().filter_map(|l| serde_json::from_str(l).ok()).collect())
        .unwrap_or_default();
    for (what, texts) in [("generated questions", sample), ("real trajectory texts", real.as_slice())] {
        if texts.is_empty() {
            println!("  embedding throughput on {what}: not measured (set TRAJSTORE_BENCH_TEXTS)");
            continue;
        }
        let all: Vec<&str> = texts.iter().map(String::as_str).collect();
        let rate = |e: &dyn Embedder, texts: &[&str]| {
            let t = Instant::now();
            e.embed(texts).unwrap();
            texts.len() as f64 / t.elapsed().as_secs_f64()
        };
        let fast_rate = rate(&fast, &all);
        let minilm_rate = rate(&minilm, &all[..all.len().min(200)]);
        println!(
            "  embedding throughput on {what}: static tier {fast_rate:.0} texts/s ({} texts), \
             all-MiniLM-L6-v2 (reference) {minilm_rate:.1} texts/s ({} texts) = {:.0}x",
            all.len(),
            all.len().min(200),
            fast_rate / minilm_rate
        );
    }
}

/// Every row's vector from the hashed stand-in, then the indexes brought up to date.
async fn fill_stand_in_vectors(store: &Trajstore) {
    let pending = store.not_embedded(&FilterSet::default()).await.unwrap();
    store.set_embedder(Arc::new(HashEmbedder { dim: 384 }));
    if pending > 0 {
        let t = Instant::now();
        let p = store.embed_pending(EmbedTextSource::default(), 65_536, None, |_| {}).await.unwrap();
        println!("  filled {} vectors with the STAND-IN hashed embedder (not semantic) in {:.1} s, vector index build included", p.embedded, t.elapsed().as_secs_f64());
    }
    let t = Instant::now();
    store.optimize().await.unwrap();
    println!("  optimize (FTS and vector indexes current): {:.1} s", t.elapsed().as_secs_f64());
}

const QUERIES: [&str; 4] = [
    "fix the failing unit test in the parser",
    "write a sql query for the top customers",
    "the tool returned an error",
    "summarise the report",
];

async fn similarity_queries(store: &Trajstore, sample: &[String]) {
    let one = FilterSet::parse([("training_id", "run-2")]).unwrap();
    let mut i = 0;
    // The reference: the same searches comparing the query with every stored vector.
    let exact = time(5, || {
        i += 1;
        let (s, q) = (store.clone(), QUERIES[i % QUERIES.len()]);
        async move {
            std::hint::black_box(s.similar_to_text_exact(q, 10, &FilterSet::default()).await.unwrap());
        }
    })
    .await;
    let r = time(20, || {
        i += 1;
        let (s, q) = (store.clone(), QUERIES[i % QUERIES.len()]);
        async move {
            std::hint::black_box(s.similar_to_text(q, 10, &FilterSet::default()).await.unwrap());
        }
    })
    .await;
    line("similarity top-10 by text, no filter (ref: exact)", r, Some(exact));
    recall(store, sample).await;
    let r = time(20, || {
        i += 1;
        let (s, q, f) = (store.clone(), QUERIES[i % QUERIES.len()], one.clone());
        async move {
            std::hint::black_box(s.similar_to_text(q, 10, &f).await.unwrap());
        }
    })
    .await;
    line("similarity top-10 by text, training_id filter", r, None);
}

async fn full_text_queries(store: &Trajstore) {
    let none = FilterSet::default();
    let one = FilterSet::parse([("training_id", "run-2")]).unwrap();
    let words = ["parser", "error", "test", "database"];
    let mut i = 0;
    let r = time(20, || {
        i += 1;
        let (s, q, f) = (store.clone(), words[i % words.len()], none.clone());
        async move {
            std::hint::black_box(s.search_text(q, &f, 20).await.unwrap());
        }
    })
    .await;
    line("full text, one word, top 20", r, None);
    let r = time(20, || {
        let (s, f) = (store.clone(), one.clone());
        async move {
            std::hint::black_box(s.search_text("failing unit test", &f, 20).await.unwrap());
        }
    })
    .await;
    line("full text, three words + filter, top 20", r, None);
}

/// Recall@10 of the vector index: its top 10 against an exact scan of every vector, for
/// 50 stored questions, slightly reworded. Demo prompts repeat, so many rows lie at the
/// same distance: a hit counts when it is as near as the exact 10th.
async fn recall(store: &Trajstore, questions: &[String]) {
    let probes: Vec<String> = questions.iter().step_by(40).take(50).map(|q| format!("{q} Please.")).collect();
    let (mut found, mut wanted) = (0usize, 0usize);
    for q in &probes {
        let exact = store.similar_to_text_exact(q, 10, &FilterSet::default()).await.unwrap().data;
        let approx = store.similar_to_text(q, 10, &FilterSet::default()).await.unwrap().data;
        let Some(bound) = exact.last().map(|h| h.distance + 1e-5) else { continue };
        wanted += exact.len();
        found += approx.iter().filter(|h| h.distance <= bound).count().min(exact.len());
    }
    println!(
        "  vector index recall@10 against an exact scan: {:.3} ({} queries, {found} of {wanted} hits)",
        found as f64 / wanted.max(1) as f64,
        probes.len()
    );
}
