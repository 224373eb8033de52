//! Failure modes (`trajstore failure-modes`, `POST /api/failure-modes`): the failed
//! trajectories of a filtered set clustered by what went wrong, offline.
//!
//! 1. Each trajectory's failure text: its termination reason, the head of its last
//!    assistant message, the tail of its last tool output (where errors are printed) and
//!    its last error texts (steps marked `is_error`), each cut to `max_chars`.
//! 2. The texts are embedded with the store's embedder (the fast static tier).
//! 3. k-means from a fixed seed; with `k=auto`, the k of best silhouette over 2..=12
//!    (tried on a sample).
//! 4. Each cluster is labelled by its most distinctive words (c-TF-IDF against the other
//!    clusters), or with `llm_labels` by a language model (see `model_labels.rs`), and
//!    shown by the two trajectories nearest its centre.
//! 5. The labels go to the summary column `failure_mode` (filterable, groupable), and the
//!    run (its id, parameters, clusters and assignments) to the table `analyses`.
//!    Trajectories outside the run keep their labels; those it relabels are counted in
//!    `replaced`, and their earlier labels stay in the earlier run's record.

use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;

use trajstore_cluster::{choose_k, distinctive_terms, kmeans};
use trajstore_query::FilterSet;
use trajstore_store::{AnalysisRecord, FailureInput};

use crate::model_labels::{write_labels, ClusterSample, EXAMPLES_PER_CLUSTER};
use crate::stats::parse_threshold;
use crate::{on_blocking_thread, Error, LabelModel, Result, Trajstore};

/// The parts of the failure text, in the order they are joined.
pub const TEXT_PARTS: &[&str] = &["termination", "last_assistant", "last_tool", "errors"];

/// `k` clusters, or the best of 2..=[`MAX_AUTO_K`] by silhouette.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum KChoice {
    Auto,
    Fixed(usize),
}

pub const MAX_AUTO_K: usize = 12;
pub const MAX_K: usize = 50;

#[derive(Debug, Clone, PartialEq)]
pub struct FailureModesRequest {
    pub filters: FilterSet,
    /// Also cluster the trajectories that succeeded (by default only the failed ones:
    /// `is_success` false, or without it, reward below `success_threshold`).
    pub include_successful: bool,
    pub success_threshold: f64,
    pub k: KChoice,
    pub seed: u64,
    pub text: Vec<&'static str>,
    pub max_chars: usize,
    /// Labels written by the handle's language model (see [`crate::LabelModel`]) instead
    /// of the distinctive words.
    pub llm_labels: bool,
}

impl Default for FailureModesRequest {
    fn default() -> Self {
        FailureModesRequest {
            filters: FilterSet::default(),
            include_successful: false,
            success_threshold: 1.0,
            k: KChoice::Auto,
            seed: 42,
            text: TEXT_PARTS.to_vec(),
            max_chars: 400,
            llm_labels: false,
        }
    }
}

impl FailureModesRequest {
    /// Parses `k` (auto or 2..=50), `seed`, `text` (comma-separated parts),
    /// `max_chars`, `include_successful`, `llm_labels`, `success_threshold` and every
    /// filter.
    pub fn parse<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Result<Self> {
        let mut req = FailureModesRequest::default();
        let mut filters = Vec::new();
        for (name, value) in pairs {
            let number = |max: u64| match value.trim().parse::<u64>() {
                Ok(n) if n <= max => Ok(n),
                _ => Err(Error::invalid(name, format!("expected an integer from 0 to {max}, got {value:?}"))),
            };
            match name {
                "k" if value.trim() == "auto" => req.k = KChoice::Auto,
                "k" => match number(MAX_K as u64)? {
                    n if n >= 2 => req.k = KChoice::Fixed(n as usize),
                    _ => return Err(Error::invalid("k", format!("expected auto or 2 to {MAX_K}, got {value:?}"))),
                },
                "seed" => req.seed = number(i64::MAX as u64)?,
                "max_chars" => req.max_chars = number(10_000)?.max(20) as usize,
                "include_successful" | "llm_labels" => {
                    let flag = match value {
                        "true" => true,
                        "false" => false,
                        _ => return Err(Error::invalid(name, format!("expected true or false, got {value:?}"))),
                    };
                    if name == "llm_labels" {
                        req.llm_labels = flag;
                    } else {
                        req.include_successful = flag;
                    }
                }
                "success_threshold" => req.success_threshold = parse_threshold(value)?,
                "text" => {
                    req.text = Vec::new();
                    for part in value.split(',').map(str::trim).filter(|p| !p.is_empty()) {
                        let known = TEXT_PARTS.iter().find(|p| **p == part).ok_or_else(|| {
                            Error::invalid(
                                "text",
                                format!("unknown part {part:?}; choose from {}", TEXT_PARTS.join(", ")),
                            )
                        })?;
                        req.text.push(known);
                    }
                    if req.text.is_empty() {
                        return Err(Error::invalid("text", "name at least one part"));
                    }
                }
                _ => filters.push((name, value)),
            }
        }
        req.filters = FilterSet::parse(filters)?;
        Ok(req)
    }

    /// The filter of the trajectories to cluster, as SQL.
    fn sql(&self) -> Option<String> {
        let failed = format!("NOT coalesce(`is_success`, `reward` >= {:?}, false)", self.success_threshold);
        self.filters.sql_with((!self.include_successful).then_some(failed.as_str()))
    }
}

/// One cluster of a run.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct FailureCluster {
    /// 0 for the largest cluster, then by size.
    pub id: usize,
    /// The words that set it apart, joined; unique within the run.
    pub label: String,
    pub count: u64,
    pub terms: Vec<String>,
    /// The trajectories nearest the cluster's centre.
    pub representatives: Vec<String>,
}

/// A run of the analysis.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct FailureModes {
    pub analysis_id: String,
    /// RFC 3339.
    pub created_at: String,
    pub clusters: Vec<FailureCluster>,
    /// Trajectories left out: nothing in their failure text.
    pub unclustered: u64,
    /// Trajectories this run relabelled that had a label from an earlier run.
    pub replaced: u64,
    #[schema(value_type = Object)]
    pub parameters: serde_json::Value,
}

/// Where a run stands, for a task's progress.
#[derive(Debug, Default)]
pub struct FailureModesProgress {
    stage: AtomicU8,
    pub done: AtomicU64,
    pub total: AtomicU64,
}

const STAGES: &[&str] = &["queued", "reading", "embedding", "clustering", "labelling", "storing", "done"];

impl FailureModesProgress {
    pub fn stage(&self) -> &'static str {
        STAGES[(self.stage.load(Ordering::Relaxed) as usize).min(STAGES.len() - 1)]
    }

    fn enter(&self, stage: &str, total: u64) {
        let i = STAGES.iter().position(|s| *s == stage).unwrap_or(0);
        self.stage.store(i as u8, Ordering::Relaxed);
        self.done.store(0, Ordering::Relaxed);
        self.total.store(total, Ordering::Relaxed);
    }
}

fn head(text: &str, n: usize) -> &str {
    text.char_indices().nth(n).map_or(text, |(end, _)| &text[..end])
}

fn tail(text: &str, n: usize) -> &str {
    let count = text.chars().count();
    if count <= n {
        return text;
    }
    text.char_indices().nth(count - n).map_or(text, |(start, _)| &text[start..])
}

/// The failure text of one trajectory from the parts asked for; empty when it has none.
pub fn failure_text(input: &FailureInput, parts: &[&str], max_chars: usize) -> String {
    let mut out = Vec::new();
    for part in parts {
        match *part {
            "termination" => out.extend(input.termination_reason.as_deref().map(|r| format!("termination: {r}"))),
            "last_assistant" => {
                out.extend(input.last_assistant.as_deref().map(|t| head(t.trim(), max_chars).to_string()))
            }
            "last_tool" => out.extend(input.last_tool.as_deref().map(|t| tail(t.trim(), max_chars).to_string())),
            "errors" => out.extend(input.errors.iter().map(|e| tail(e.trim(), max_chars).to_string())),
            _ => {}
        }
    }
    out.retain(|t| !t.trim().is_empty());
    out.join("\n")
}

/// Words that carry no failure: function words and the labels of the text's own parts.
const STOPWORDS: &[&str] = &[
    "the",
    "and",
    "for",
    "that",
    "this",
    "with",
    "from",
    "was",
    "were",
    "are",
    "has",
    "have",
    "had",
    "not",
    "but",
    "you",
    "your",
    "can",
    "will",
    "would",
    "should",
    "could",
    "into",
    "then",
    "than",
    "there",
    "their",
    "its",
    "been",
    "being",
    "all",
    "any",
    "our",
    "out",
    "use",
    "used",
    "let",
    "now",
    "also",
    "which",
    "what",
    "when",
    "where",
    "who",
    "how",
    "here",
    "just",
    "some",
    "more",
    "most",
    "other",
    "such",
    "only",
    "own",
    "same",
    "too",
    "very",
    "did",
    "does",
    "doing",
    "these",
    "those",
    "they",
    "them",
    "she",
    "his",
    "her",
    "him",
    "about",
    "after",
    "before",
    "again",
    "because",
    "while",
    "over",
    "under",
    "termination",
];

/// The words of a text for its cluster's terms.
fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !(c.is_alphanumeric() || c == '_'))
        .filter(|w| w.chars().count() >= 3 && !w.chars().all(|c| c.is_ascii_digit()))
        .map(str::to_lowercase)
        .filter(|w| !STOPWORDS.contains(&w.as_str()) && !trajstore_model::text::is_hex_noise(w))
        .collect()
}

/// Labels from each cluster's top terms.
fn term_labels(drafts: &[ClusterDraft]) -> Vec<String> {
    drafts
        .iter()
        .map(|d| {
            if d.terms.is_empty() {
                "(no words)".to_string()
            } else {
                d.terms.iter().take(3).cloned().collect::<Vec<_>>().join(" · ")
            }
        })
        .collect()
}

/// The labels, made unique by a cluster number where two agree.
fn unique(mut out: Vec<String>) -> Vec<String> {
    for i in 0..out.len() {
        if out[..i].contains(&out[i]) || out[i + 1..].contains(&out[i]) {
            out[i] = format!("{} #{i}", out[i]);
        }
    }
    out
}

/// The clusters of `points` (the embeddings of `texts`), and how k was chosen.
fn cluster(
    points: &[f32],
    dim: usize,
    texts: &[String],
    req: &FailureModesRequest,
) -> (Vec<ClusterDraft>, serde_json::Value) {
    let n = texts.len();
    let docs: Vec<Vec<String>> = texts.iter().map(|t| words(t)).collect();
    let (k, scores) = match req.k {
        KChoice::Fixed(k) => (k.min(n), Vec::new()),
        KChoice::Auto => choose_k(points, dim, 2..=MAX_AUTO_K.min(n.saturating_sub(1)).max(2), req.seed, 8_000, 1_500),
    };
    let c = kmeans(points, dim, k, req.seed, 100);
    let terms: Vec<Vec<String>> = distinctive_terms(&docs, &c.assignment, c.k, 8)
        .into_iter()
        .map(|t| t.into_iter().map(|(w, _)| w).collect())
        .collect();
    let mut drafts: Vec<ClusterDraft> =
        (0..c.k).map(|i| ClusterDraft { members: Vec::new(), terms: terms[i].clone(), nearest: Vec::new() }).collect();
    for (p, &a) in c.assignment.iter().enumerate() {
        let centre = &c.centroids[a * dim..(a + 1) * dim];
        let d: f32 = points[p * dim..(p + 1) * dim].iter().zip(centre).map(|(x, y)| (x - y) * (x - y)).sum();
        drafts[a].members.push(p);
        drafts[a].nearest.push((d, p));
    }
    let scores: Vec<serde_json::Value> =
        scores.iter().map(|(k, s)| serde_json::json!({"k": k, "silhouette": s})).collect();
    (drafts, serde_json::json!({"k": c.k, "silhouette_by_k": scores}))
}

/// A trajectory's id and its label.
type Label = (String, Option<String>);

struct ClusterDraft {
    members: Vec<usize>,
    terms: Vec<String>,
    nearest: Vec<(f32, usize)>,
}

/// The trajectories in a run's scope.
struct Texts {
    /// The ids and failure texts of those to cluster, in id order (so that a run over the
    /// same rows gives the same clusters).
    ids: Vec<String>,
    texts: Vec<String>,
    /// How many of them had a label from an earlier run.
    labelled_before: u64,
    /// Those without a failure text.
    unclustered: Vec<String>,
}

async fn texts_of(inputs: Vec<FailureInput>, req: &FailureModesRequest) -> Result<Texts> {
    let (parts, max_chars) = (req.text.clone(), req.max_chars);
    on_blocking_thread(move || {
        let mut all: Vec<(String, String, bool)> = inputs
            .into_iter()
            .map(|i| {
                let text = failure_text(&i, &parts, max_chars);
                (i.trajectory_id, text, i.failure_mode.is_some())
            })
            .collect();
        all.sort();
        let mut t = Texts { ids: Vec::new(), texts: Vec::new(), labelled_before: 0, unclustered: Vec::new() };
        for (id, text, labelled) in all {
            if text.is_empty() {
                t.unclustered.push(id);
                continue;
            }
            t.labelled_before += u64::from(labelled);
            t.ids.push(id);
            t.texts.push(text);
        }
        t
    })
    .await
}

/// The embeddings of `texts`, one row of `dim` after the other.
async fn embed_all(
    embedder: Arc<dyn trajstore_embed::Embedder>,
    texts: Vec<String>,
    progress: Arc<FailureModesProgress>,
) -> Result<(Vec<f32>, Vec<String>)> {
    on_blocking_thread(move || -> Result<(Vec<f32>, Vec<String>)> {
        let mut points = Vec::with_capacity(texts.len() * embedder.dim());
        for chunk in texts.chunks(512) {
            let refs: Vec<&str> = chunk.iter().map(String::as_str).collect();
            for v in embedder.embed(&refs)? {
                points.extend(v);
            }
            progress.done.fetch_add(chunk.len() as u64, Ordering::Relaxed);
        }
        Ok((points, texts))
    })
    .await?
}

/// The clusters that have members, largest first, each with its members ordered by their
/// distance to the centre.
fn ordered(mut drafts: Vec<ClusterDraft>) -> Vec<ClusterDraft> {
    // k-means can leave a cluster empty when points repeat (failure texts often do).
    drafts.retain(|d| !d.members.is_empty());
    drafts.sort_by(|a, b| b.members.len().cmp(&a.members.len()).then_with(|| a.terms.cmp(&b.terms)));
    for d in &mut drafts {
        d.nearest.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    }
    drafts
}

/// What a language model is shown of each cluster.
fn samples(drafts: &[ClusterDraft], texts: &[String]) -> Vec<ClusterSample> {
    drafts
        .iter()
        .map(|d| ClusterSample {
            terms: d.terms.clone(),
            count: d.members.len(),
            examples: d.nearest.iter().take(EXAMPLES_PER_CLUSTER).map(|&(_, p)| texts[p].clone()).collect(),
        })
        .collect()
}

/// The clusters with their labels and representatives; and each trajectory's label.
fn finish(
    drafts: &[ClusterDraft],
    names: Vec<String>,
    ids: &[String],
) -> (Vec<FailureCluster>, Vec<Label>, serde_json::Value) {
    let mut clusters = Vec::with_capacity(drafts.len());
    let mut labelled = Vec::with_capacity(ids.len());
    let mut assignments = Vec::with_capacity(ids.len());
    for (id, (d, label)) in drafts.iter().zip(unique(names)).enumerate() {
        for &p in &d.members {
            labelled.push((ids[p].clone(), Some(label.clone())));
            assignments.push(serde_json::json!([ids[p], id]));
        }
        clusters.push(FailureCluster {
            id,
            label,
            count: d.members.len() as u64,
            terms: d.terms.clone(),
            representatives: d.nearest.iter().take(2).map(|&(_, p)| ids[p].clone()).collect(),
        });
    }
    (clusters, labelled, serde_json::Value::Array(assignments))
}

impl Trajstore {
    /// Refuses a request this handle cannot run: labels by a language model when it has
    /// none. A server checks this before it starts the task.
    pub fn check_failure_modes(&self, req: &FailureModesRequest) -> Result<()> {
        if req.llm_labels && self.label_model.is_none() {
            return Err(Error::invalid(
                "llm_labels",
                "no language model is configured: start with --llm-endpoint URL --llm-model NAME",
            ));
        }
        Ok(())
    }

    /// The language model that labels clusters when a request asks for it.
    pub fn label_model(&self) -> Option<&LabelModel> {
        self.label_model.as_ref()
    }

    /// The cluster labels: the distinctive words, or a language model's lines.
    async fn cluster_labels(
        &self,
        req: &FailureModesRequest,
        samples: Vec<ClusterSample>,
        words: Vec<String>,
        progress: Arc<FailureModesProgress>,
    ) -> Result<(Vec<String>, serde_json::Value)> {
        match (&self.label_model, req.llm_labels) {
            (Some(model), true) => {
                let by = serde_json::json!({"model": model.model(), "endpoint": model.url()});
                let model = model.clone();
                let labels = on_blocking_thread(move || write_labels(&model, &samples, &progress)).await??;
                Ok((labels, by))
            }
            _ => Ok((words, serde_json::json!("terms"))),
        }
    }

    /// Runs a failure-mode analysis and stores its labels and its record.
    pub async fn failure_modes(
        &self,
        req: &FailureModesRequest,
        progress: Arc<FailureModesProgress>,
    ) -> Result<FailureModes> {
        self.check_failure_modes(req)?;
        progress.enter("reading", 0);
        let filter = req.sql();
        let inputs = self.store.failure_inputs(filter.as_deref()).await?;
        let Texts { ids, texts, labelled_before, unclustered } = texts_of(inputs, req).await?;
        if ids.len() < 2 {
            let found = ids.len();
            return Err(Error::invalid(
                "filter",
                format!("{found} trajectories with a failure text match: at least 2 are needed"),
            ));
        }
        let embedder = self.load_embedder().await?;
        progress.enter("embedding", ids.len() as u64);
        let dim = embedder.dim();
        let (points, texts) = embed_all(embedder.clone(), texts, progress.clone()).await?;
        progress.enter("clustering", ids.len() as u64);
        let request = req.clone();
        let (drafts, fit, texts) = on_blocking_thread(move || {
            let (drafts, fit) = cluster(&points, dim, &texts, &request);
            (ordered(drafts), fit, texts)
        })
        .await?;
        progress.enter("labelling", drafts.len() as u64);
        let (names, labelled_by) =
            self.cluster_labels(req, samples(&drafts, &texts), term_labels(&drafts), progress.clone()).await?;
        let (clusters, mut labelled, assignments) = finish(&drafts, names, &ids);
        // Those in scope without a failure text lose a label an earlier run gave them.
        labelled.extend(unclustered.iter().map(|id| (id.clone(), None)));
        progress.enter("storing", labelled.len() as u64);
        let created_at = now_micros();
        let parameters = serde_json::json!({
            "filters": req.filters.to_sql(),
            "include_successful": req.include_successful,
            "success_threshold": req.success_threshold,
            "k": req.k,
            "fit": fit,
            "seed": req.seed,
            "text": req.text,
            "max_chars": req.max_chars,
            "embedder": embedder.name(),
            "labels": labelled_by,
        });
        let result = FailureModes {
            analysis_id: format!("fm-{created_at}"),
            created_at: crate::format_timestamp(created_at),
            clusters,
            unclustered: unclustered.len() as u64,
            replaced: labelled_before,
            parameters,
        };
        self.store.set_failure_modes(&labelled).await?;
        let record = AnalysisRecord {
            analysis_id: result.analysis_id.clone(),
            kind: "failure_modes".into(),
            created_at,
            parameters: result.parameters.to_string(),
            result: serde_json::to_string(&result).map_err(|e| Error::internal("writing the analysis", e))?,
            assignments: assignments.to_string(),
        };
        self.store.save_analysis(&record).await?;
        progress.enter("done", 0);
        Ok(result)
    }

    /// The stored runs of the failure-mode analysis, newest first (or the one `id`).
    pub async fn failure_mode_runs(&self, id: Option<&str>) -> Result<Vec<FailureModes>> {
        let records = self.store.analyses("failure_modes", id, false).await?;
        records
            .iter()
            .map(|r| serde_json::from_str(&r.result).map_err(|e| Error::internal("reading a stored analysis", e)))
            .collect()
    }
}

fn now_micros() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_micros() as i64)
}
