//! Full-text and similarity search over thousands of generated trajectories.
//!
//! The similarity ranking test needs the real model (scripts/fetch-model.sh); it is
//! skipped with a message when the model folder is absent. The others use the cheap
//! hashed embedder or no embedder at all.

use std::sync::Arc;

use serde_json::json;
use trajstore::search::{default_model_dir, Embedder, HashEmbedder};
use trajstore::{EmbedTextSource, FilterSet, Trajectory, Trajstore};

const ACTIONS: &[&str] = &[
    "Summarise",
    "Translate into French",
    "Count the words of",
    "Find the spelling mistakes in",
    "Rewrite politely",
    "Extract the dates from",
    "Classify the tone of",
    "List the people named in",
];
const OBJECTS: &[&str] = &[
    "the quarterly sales report",
    "a customer complaint email",
    "the wedding speech draft",
    "the football match commentary",
    "a medieval poem",
    "the hospital discharge letter",
    "the rental contract",
    "a cooking blog post",
    "the weather forecast bulletin",
    "a job application letter",
    "the museum visitor guide",
    "the software release notes",
];
const PLACES: &[&str] = &[
    "from Berlin",
    "about Tokyo",
    "for the Lisbon office",
    "about the Andes expedition",
    "from the Nairobi branch",
    "for the Oslo team",
    "about Montreal",
    "from the Cairo archive",
    "for the Sydney clinic",
    "about the Sahara trip",
    "from Reykjavik",
    "for the Mumbai startup",
];

/// The originals that paraphrases must find, each unlike the generated ones.
const ORIGINALS: &[(&str, &str)] = &[
    ("How do I replace the chain on a mountain bike?", "What are the steps to change a bicycle chain on an MTB?"),
    (
        "Write a SQL query that returns the ten customers who spent the most last year.",
        "Give me SQL to list the top 10 clients by total spending in the previous year.",
    ),
    (
        "Why does my sourdough bread come out flat and dense?",
        "My sourdough loaf never rises and ends up heavy and compact; what is wrong?",
    ),
    ("Explain how vaccines train the immune system.", "In what way do vaccinations teach the body's immune defences?"),
    (
        "Plan a three-day hiking itinerary in the Scottish Highlands.",
        "Suggest a 3 day walking trip through the highlands of Scotland.",
    ),
];

fn record(id: &str, training: &str, question: &str, tool_output: &str, answer: &str) -> Trajectory {
    let v = json!({
        "trajectory_id": id,
        "training_id": training,
        "task": {"question": question},
        "steps": [
            {"role": "system", "content": "You are a helpful agent."},
            {"role": "user", "content": question},
            {"role": "assistant", "content": "Let me look.", "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "read_file", "arguments": "{\"path\": \"input.txt\"}"}}]},
            {"role": "tool", "tool_call_id": "c1", "name": "read_file", "content": tool_output},
            {"role": "assistant", "content": answer}
        ],
        "reward": 1.0
    });
    Trajectory::from_json(v.to_string().as_bytes()).unwrap()
}

/// Distinct generated questions, then the originals; every other row in run-b.
fn corpus() -> Vec<Trajectory> {
    let mut rows = Vec::new();
    let mut n = 0;
    for a in ACTIONS {
        for o in OBJECTS {
            for p in PLACES {
                let q = format!("{a} {o} {p}.");
                let training = if n % 2 == 0 { "run-a" } else { "run-b" };
                rows.push(record(
                    &format!("gen-{n:05}"),
                    training,
                    &q,
                    &format!("The file has {} lines of text {p}.", n % 97 + 3),
                    "Done.",
                ));
                n += 1;
            }
        }
    }
    for (i, (q, _)) in ORIGINALS.iter().enumerate() {
        rows.push(record(&format!("orig-{i}"), "run-a", q, "The file is empty.", "Done."));
    }
    rows
}

async fn store_with(rows: Vec<Trajectory>) -> (tempfile::TempDir, Trajstore) {
    let dir = tempfile::tempdir().unwrap();
    let store = Trajstore::open(dir.path().to_str().unwrap()).await.unwrap();
    for chunk in rows.chunks(2000) {
        store.add(chunk.to_vec()).await.unwrap();
    }
    store.optimize().await.unwrap();
    (dir, store)
}

fn filters(pairs: &[(&str, &str)]) -> FilterSet {
    FilterSet::parse(pairs.iter().copied()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_text_finds_a_phrase_in_one_tool_output_with_its_step_and_filters_apply() {
    let mut rows = corpus();
    assert!(rows.len() > 1000);
    let needle = "The reactor coolant valve reported quasar overflow";
    rows[777] = record(
        "needle",
        "run-b",
        "Summarise the incident log.",
        &format!("line 1\n{needle} at 03:12\nline 3"),
        "Done.",
    );
    let (_dir, store) = store_with(rows).await;

    let res = store.search_text("quasar overflow coolant", &FilterSet::default(), 10).await.unwrap();
    assert_eq!(res.data.len(), 1, "{:?}", res.data.iter().map(|h| &h.summary.trajectory_id).collect::<Vec<_>>());
    let hit = &res.data[0];
    assert_eq!(hit.summary.trajectory_id, "needle");
    assert_eq!(hit.step, Some(3), "the tool output is step 3");
    assert!(hit.snippet.to_lowercase().contains("quasar overflow"), "{}", hit.snippet);
    assert!(hit.score > 0.0);

    // Case does not matter; filters apply before ranking.
    let res = store.search_text("QUASAR", &filters(&[("training_id", "run-b")]), 10).await.unwrap();
    assert_eq!(res.data.len(), 1);
    let res = store.search_text("quasar", &filters(&[("training_id", "run-a")]), 10).await.unwrap();
    assert!(res.data.is_empty());

    // A common word ranks many; filters still hold for every hit.
    let res = store.search_text("Berlin", &filters(&[("training_id", "run-a")]), 50).await.unwrap();
    assert_eq!(res.data.len(), 50);
    assert!(res.data.iter().all(|h| h.summary.training_id.as_deref() == Some("run-a")));
    assert!(res.data.windows(2).all(|w| w[0].score >= w[1].score));

    // Rows added after the index was built are found too (searched unindexed until optimize).
    store.add(vec![record("late", "run-a", "A later question", "zeppelin hangar inventory", "Done.")]).await.unwrap();
    let res = store.search_text("zeppelin hangar", &FilterSet::default(), 10).await.unwrap();
    assert_eq!(res.data.iter().map(|h| h.summary.trajectory_id.as_str()).collect::<Vec<_>>(), vec!["late"]);

    assert!(store.search_text("  ", &FilterSet::default(), 10).await.is_err());
}

/// Full-text hits are drawn best first from the payloads and then checked against the
/// summaries: a filter whose rows rank below hundreds of others must still get them, and
/// deleted or replaced trajectories (whose old payloads remain until `optimize`) must not
/// come back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_text_filters_reach_past_better_ranked_rows_and_skip_deleted_and_replaced_ones() {
    let mut rows = Vec::new();
    // run-a: 600 rows that say "lighthouse" many times (high BM25 scores).
    for i in 0..600 {
        rows.push(record(
            &format!("a-{i:03}"),
            "run-a",
            "Check the beacon.",
            &"lighthouse lamp lighthouse keeper lighthouse ".repeat(5),
            "Done.",
        ));
    }
    // run-b: 300 rows, a third of the store, of which only 4 mention it once in a long text.
    for i in 0..300 {
        let output = if i < 4 {
            format!("{} the lighthouse {}", "harbour wall survey ".repeat(40), "tide table ".repeat(40))
        } else {
            "harbour wall survey".to_string()
        };
        rows.push(record(&format!("b-{i:03}"), "run-b", "Survey the harbour.", &output, "Done."));
    }
    let (_dir, store) = store_with(rows).await;
    let ids = |res: &trajstore::TextSearchResults| {
        let mut v: Vec<String> = res.data.iter().map(|h| h.summary.trajectory_id.clone()).collect();
        v.sort();
        v
    };
    let run_b = filters(&[("training_id", "run-b")]);
    let res = store.search_text("lighthouse", &run_b, 10).await.unwrap();
    assert_eq!(ids(&res), vec!["b-000", "b-001", "b-002", "b-003"]);
    let all = store.search_text("lighthouse", &FilterSet::default(), 1000).await.unwrap();
    assert_eq!(all.data.len(), 604);
    assert!(all.data[..600].iter().all(|h| h.summary.training_id.as_deref() == Some("run-a")), "run-a ranks first");

    // Deleted, and replaced by a record that no longer mentions it: neither is a hit,
    // though their old payloads (and search text) are still stored.
    store.delete("b-000").await.unwrap();
    store.delete("b-001").await.unwrap();
    store
        .add(vec![record("b-001", "run-b", "Survey the harbour.", "harbour wall survey, redone", "Done.")])
        .await
        .unwrap();
    let res = store.search_text("lighthouse", &run_b, 10).await.unwrap();
    assert_eq!(ids(&res), vec!["b-002", "b-003"]);
    assert_eq!(store.search_text("lighthouse", &FilterSet::default(), 1000).await.unwrap().data.len(), 602);
    let redone = store.search_text("redone", &run_b, 10).await.unwrap();
    assert_eq!(ids(&redone), vec!["b-001"]);
    // After optimize removes the old payloads, the same answers.
    store.optimize().await.unwrap();
    assert_eq!(ids(&store.search_text("lighthouse", &run_b, 10).await.unwrap()), vec!["b-002", "b-003"]);

    // Hashes are not indexed: asking for one is an error naming the parameter.
    let err = store.search_text("lighthouse 775b19bf", &FilterSet::default(), 10).await.unwrap_err();
    assert!(matches!(&err, trajstore::Error::InvalidParameter { parameter, .. } if parameter == "q"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_not_yet_embedded_answers_and_says_so_and_filters_apply_to_similarity() {
    let rows = corpus();
    let total = rows.len() as u64;
    let (_dir, store) = store_with(rows).await;
    store.set_embedder(Arc::new(HashEmbedder { dim: 384 }));

    let res =
        store.similar_to_text("Summarise the rental contract about Tokyo.", 5, &FilterSet::default()).await.unwrap();
    assert!(res.data.is_empty());
    assert_eq!(res.not_embedded, total);

    let p = store.embed_pending(EmbedTextSource::default(), 300, Some(600), |_| {}).await.unwrap();
    assert_eq!(p.embedded, 600);
    assert_eq!(p.remaining, total - 600);
    let res =
        store.similar_to_text("Summarise the rental contract about Tokyo.", 5, &FilterSet::default()).await.unwrap();
    assert_eq!(res.data.len(), 5);
    assert_eq!(res.not_embedded, total - 600);

    let p = store.embed_pending(EmbedTextSource::default(), 1000, None, |_| {}).await.unwrap();
    assert_eq!(p.remaining, 0);
    let res = store
        .similar_to_text("Summarise the rental contract about Tokyo.", 10, &filters(&[("training_id", "run-b")]))
        .await
        .unwrap();
    assert_eq!(res.data.len(), 10);
    assert_eq!(res.not_embedded, 0);
    assert!(res.data.iter().all(|h| h.summary.training_id.as_deref() == Some("run-b")));
    assert!(res.data.windows(2).all(|w| w[0].distance <= w[1].distance));
    // The exact scan (the index's reference) agrees, filter included.
    let exact = store
        .similar_to_text_exact("Summarise the rental contract about Tokyo.", 10, &filters(&[("training_id", "run-b")]))
        .await
        .unwrap();
    let distances = |r: &trajstore::SimilarResults| r.data.iter().map(|h| h.distance).collect::<Vec<f32>>();
    assert_eq!(distances(&exact), distances(&res));
    assert!(exact.data.iter().all(|h| h.summary.training_id.as_deref() == Some("run-b")));
    assert!(store.similar_to_text_exact(" ", 10, &FilterSet::default()).await.is_err());

    // By id: itself excluded, its nearest neighbours (same text template) first.
    let res = store.similar_to_id("gen-00000", 3, &FilterSet::default()).await.unwrap();
    assert_eq!(res.data.len(), 3);
    assert!(res.data.iter().all(|h| h.summary.trajectory_id != "gen-00000"));
    assert!(store.similar_to_id("no-such-id", 3, &FilterSet::default()).await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paraphrased_questions_find_their_original_first_with_the_real_model() {
    let dir = default_model_dir();
    if !dir.join("model.safetensors").is_file() {
        // The setup installs the model, so under CI its absence is a failure, not a skip.
        assert!(
            std::env::var("CI").map_or(true, |v| v.is_empty() || v == "0" || v == "false"),
            "no model in {} under CI=true",
            dir.display()
        );
        eprintln!("SKIPPED: the embedding model is not in {} (run scripts/fetch-model.sh)", dir.display());
        return;
    }
    let rows = corpus();
    let n = rows.len();
    assert!(n >= 1000);
    let (_dir, store) = store_with(rows).await;
    // The default embedders: the static tier for every row, MiniLM re-ranking a query's
    // candidates.
    let p = store.embed_pending(EmbedTextSource::default(), 512, None, |_| {}).await.unwrap();
    assert_eq!(p.embedded, n as u64);
    assert_eq!(store.embedder().unwrap().name(), trajstore::search::STATIC_NAME);
    for (i, (_, paraphrase)) in ORIGINALS.iter().enumerate() {
        let res = store.similar_to_text(paraphrase, 5, &FilterSet::default()).await.unwrap();
        assert_eq!(
            res.data[0].summary.trajectory_id,
            format!("orig-{i}"),
            "{paraphrase}: {:?}",
            res.data.iter().map(|h| (&h.summary.question, h.distance)).collect::<Vec<_>>()
        );
        // With a filter that excludes it, it is not returned at all.
        let res = store.similar_to_text(paraphrase, 5, &filters(&[("training_id", "run-b")])).await.unwrap();
        assert!(res.data.iter().all(|h| h.summary.training_id.as_deref() == Some("run-b")));
    }
    // A generated question's paraphrase finds it among its 1,151 near-neighbours.
    let res = store
        .similar_to_text("Please give a summary of the wedding speech draft about Montreal", 3, &FilterSet::default())
        .await
        .unwrap();
    assert_eq!(res.data[0].summary.question.as_deref(), Some("Summarise the wedding speech draft about Montreal."));
}

/// The hashing embedder under another name: vectors of "another model".
struct Renamed(HashEmbedder);

impl Embedder for Renamed {
    fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, trajstore::search::EmbedError> {
        self.0.embed(texts)
    }
    fn dim(&self) -> usize {
        self.0.dim()
    }
    fn name(&self) -> &str {
        "renamed-hash"
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vectors_of_another_model_are_refused_for_search_and_replaced_by_the_next_embedding() {
    let rows = corpus();
    let total = rows.len() as u64;
    let (_dir, store) = store_with(rows).await;
    store.set_embedder(Arc::new(HashEmbedder { dim: 384 }));
    let p = store.embed_pending(EmbedTextSource::default(), 1000, None, |_| {}).await.unwrap();
    assert_eq!((p.embedded, p.replaced_model), (total, None));

    store.set_embedder(Arc::new(Renamed(HashEmbedder { dim: 384 })));
    let err = store.similar_to_text("the rental contract", 5, &FilterSet::default()).await.unwrap_err();
    assert!(matches!(&err, trajstore::Error::InvalidParameter { parameter, .. } if parameter == "embedding"), "{err}");
    assert!(err.to_string().contains("trajstore embed"), "{err}");
    let hash_name = HashEmbedder { dim: 384 }.name().to_string();
    let p = store.embed_pending(EmbedTextSource::default(), 1000, None, |_| {}).await.unwrap();
    assert_eq!((p.embedded, p.remaining, p.replaced_model), (total, 0, Some(hash_name)));
    let res = store.similar_to_text("the rental contract", 5, &FilterSet::default()).await.unwrap();
    assert_eq!((res.data.len(), res.not_embedded), (5, 0));
    // Rows added afterwards are still written and embedded under the new model.
    let again = store.embed_pending(EmbedTextSource::default(), 1000, None, |_| {}).await.unwrap();
    assert_eq!((again.embedded, again.replaced_model), (0, None));
}
