//! Similar trajectories by meaning, and full-text search inside steps.
//!
//! * Full text: BM25 over the text derived at import (question, message contents, tool
//!   calls and tool outputs; `trajstore_model::text`), every term required, with the
//!   query engine's filters applied first. Each hit names the step that matched best
//!   and a snippet around the first match, found after retrieval in the record's steps.
//! * Similarity: one embedding per trajectory, by default of its question plus its last
//!   assistant message ([`EmbedTextSource`]), filled by [`Trajstore::embed_pending`]
//!   (`trajstore embed`, or in the background by `trajstore serve`), never during an
//!   import. Results report how many matching rows are not embedded yet.

use std::sync::Arc;

use serde::Serialize;
use trajstore_model::Summary;
use trajstore_query::FilterSet;

use crate::{on_blocking_thread, Error, Result, Trajstore};

pub use trajstore_embed::{
    default_model_dir, EmbedError, Embedder, HashEmbedder, HttpEmbedder, MiniLm, StaticEmbedder, MODEL_DIR_ENV,
    STATIC_NAME,
};

/// A similar trajectory: its summary row and its cosine distance (0 = same direction).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SimilarHit {
    #[serde(flatten)]
    pub summary: Summary,
    pub distance: f32,
}

/// The document of `trajstore similar --json` and the similarity endpoints.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SimilarResults {
    pub data: Vec<SimilarHit>,
    /// Rows matching the filters that have no embedding yet (and so cannot be found).
    pub not_embedded: u64,
}

/// A full-text hit: summary row, BM25 score, the best-matching step (0-based; `null`
/// when only the question matched) and a snippet around the match.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TextSearchHit {
    #[serde(flatten)]
    pub summary: Summary,
    pub score: f32,
    pub step: Option<u64>,
    pub snippet: String,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TextSearchResults {
    pub data: Vec<TextSearchHit>,
}

/// Which text of a trajectory is embedded.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum EmbedTextSource {
    /// The question, a blank line, then the last assistant message (the default).
    #[default]
    QuestionAndLastAnswer,
    /// The question alone.
    Question,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct EmbedProgress {
    pub embedded: u64,
    /// Distinct texts embedded (rows sharing a text share one embedding call).
    pub distinct_texts: u64,
    /// Rows still without an embedding when this call ended.
    pub remaining: u64,
    /// The model whose vectors were dropped first, because the store held another
    /// model's vectors than the embedder in use makes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replaced_model: Option<String>,
}

/// The most results a search returns.
pub const MAX_RESULTS: usize = 1000;
const SNIPPET_CHARS: usize = 160;

/// The embedders of similarity search: `fast` makes the stored vectors and a query's
/// first round of candidates; `rerank`, when there is one, orders those candidates by
/// its own vectors of their texts. By default `fast` is the static tier distilled from
/// all-MiniLM-L6-v2 (every row embedded in a moment) and `rerank` MiniLM itself (a
/// query's results in MiniLM's order).
#[derive(Clone)]
pub(crate) struct Embedders {
    fast: Arc<dyn Embedder>,
    rerank: Option<Arc<dyn Embedder>>,
}

/// Where the store's embedders come from: set explicitly, or the default model loaded
/// on first use.
#[derive(Default)]
pub(crate) struct EmbedderSlot(std::sync::Mutex<Option<Embedders>>);

/// A query's first round has this many candidates per result asked for (at least
/// [`RERANK_MIN_CANDIDATES`]) when its results are re-ranked.
const RERANK_CANDIDATES_PER_RESULT: usize = 3;
const RERANK_MIN_CANDIDATES: usize = 30;

impl Trajstore {
    /// Uses `embedder` for this store's similarity searches and embedding, without
    /// re-ranking (instead of the default static tier with MiniLM re-ranking, both from
    /// [`default_model_dir`]). Its dimension must be the store's (384).
    pub fn set_embedder(&self, embedder: Arc<dyn Embedder>) {
        self.set_embedders(embedder, None);
    }

    /// Uses `fast` for the stored vectors and a query's candidates, and `rerank` (when
    /// given) to order the candidates.
    pub fn set_embedders(&self, fast: Arc<dyn Embedder>, rerank: Option<Arc<dyn Embedder>>) {
        *self.embedder.0.lock().unwrap_or_else(|e| e.into_inner()) = Some(Embedders { fast, rerank });
    }

    /// The embedder that makes the stored vectors, loading the default model on first
    /// use (and distilling its static tier, once, if that was not done at setup). A
    /// missing model is an error saying how to install it.
    pub fn embedder(&self) -> Result<Arc<dyn Embedder>> {
        Ok(self.embedders()?.fast)
    }

    fn embedders(&self) -> Result<Embedders> {
        let mut slot = self.embedder.0.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(e) = slot.as_ref() {
            return Ok(e.clone());
        }
        let dir = default_model_dir();
        let rerank = MiniLm::load(&dir)?;
        let fast: Arc<dyn Embedder> = Arc::new(StaticEmbedder::load_or_distill(&dir)?);
        check_dim(fast.as_ref())?;
        let e = Embedders { fast, rerank: Some(Arc::new(rerank)) };
        *slot = Some(e.clone());
        Ok(e)
    }

    /// [`Trajstore::embedder`] from async code: loading the model (reading and checking
    /// some 90 MB) runs on the blocking pool, not on an async worker.
    pub async fn load_embedder(&self) -> Result<Arc<dyn Embedder>> {
        Ok(self.load_embedders().await?.fast)
    }

    async fn load_embedders(&self) -> Result<Embedders> {
        let store = self.clone();
        on_blocking_thread(move || store.embedders()).await?
    }

    /// Refuses a search whose query vectors would not be comparable with the stored
    /// ones (made by another model).
    async fn check_embedding_model(&self, e: &dyn Embedder) -> Result<()> {
        match self.store.embedding_model().await? {
            Some(stored) if stored != e.name() => Err(Error::invalid(
                "embedding",
                format!(
                    "the stored vectors were made by {stored}, and similarity search now uses {}: run `trajstore embed` \
                     (or `trajstore serve --embed`) to embed the store again",
                    e.name()
                ),
            )),
            _ => Ok(()),
        }
    }

    /// Full-text search: trajectories containing every term of `q` among those matching
    /// `filters`, best BM25 score first, at most `limit`.
    pub async fn search_text(&self, q: &str, filters: &FilterSet, limit: usize) -> Result<TextSearchResults> {
        let terms = query_terms(q);
        if terms.is_empty() {
            return Err(Error::invalid("q", "the search text has no words"));
        }
        if let Some(hex) = terms.iter().find(|t| trajstore_model::text::is_hex_noise(t)) {
            return Err(Error::invalid("q", format!("{hex:?} looks like a hash or id (8+ hex characters): such words are not in the full-text index; search for the words around it")));
        }
        let limit = check_limit("limit", limit)?;
        // The filter's share of the rows sizes the first round of candidates (counts are
        // cached, or answered by the in-memory index).
        let share = match filters.to_sql() {
            None => 1.0,
            Some(_) => {
                let total = self.count(&FilterSet::default()).await?;
                if total == 0 {
                    0.0
                } else {
                    self.count(filters).await? as f64 / total as f64
                }
            }
        };
        let hits = self.store.search_text(q, filters.to_sql(), limit, share).await?;
        let data = hits
            .into_iter()
            .map(|h| {
                let (step, snippet) = locate(&terms, h.summary.question.as_deref(), &h.steps_json);
                TextSearchHit { summary: h.summary, score: h.score, step, snippet }
            })
            .collect();
        Ok(TextSearchResults { data })
    }

    /// The `k` trajectories nearest in meaning to trajectory `id` (itself excluded)
    /// among those matching `filters`.
    pub async fn similar_to_id(&self, id: &str, k: usize, filters: &FilterSet) -> Result<SimilarResults> {
        let k = check_limit("k", k)?;
        let e = self.load_embedders().await?;
        self.check_embedding_model(e.fast.as_ref()).await?;
        let stored = self.store.embedding_of(id).await?;
        if stored.is_none() {
            return Err(Error::NotFound { what: format!("trajectory {id:?}") });
        }
        let text = match self.store.embed_texts_of(&[id]).await?.remove(id) {
            Some(text) => text,
            None => trajstore_model::text::embed_text(&self.get(id).await?),
        };
        let vector = match stored.flatten() {
            Some(v) => v,
            // Not embedded yet: embed its text now.
            None => embed_with(e.fast.clone(), text.clone()).await?,
        };
        let pool = e.rerank.as_ref().map_or(k, |_| rerank_pool(k)) + 1;
        let mut res = self.nearest(&vector, pool, filters, false).await?;
        res.data.retain(|h| h.summary.trajectory_id != id);
        self.rerank(&e, &text, res, k).await
    }

    /// The `k` trajectories nearest in meaning to `text` among those matching `filters`.
    pub async fn similar_to_text(&self, text: &str, k: usize, filters: &FilterSet) -> Result<SimilarResults> {
        self.nearest_to_text(text, k, filters, false).await
    }

    /// As [`Trajstore::similar_to_text`], but comparing with every stored vector instead
    /// of using the vector index: slower, and the reference for the index's recall.
    pub async fn similar_to_text_exact(&self, text: &str, k: usize, filters: &FilterSet) -> Result<SimilarResults> {
        self.nearest_to_text(text, k, filters, true).await
    }

    async fn nearest_to_text(&self, text: &str, k: usize, filters: &FilterSet, exact: bool) -> Result<SimilarResults> {
        if text.trim().is_empty() {
            return Err(Error::invalid("text", "the text is empty"));
        }
        let k = check_limit("k", k)?;
        let e = self.load_embedders().await?;
        self.check_embedding_model(e.fast.as_ref()).await?;
        let vector = embed_with(e.fast.clone(), text.to_string()).await?;
        let pool = e.rerank.as_ref().map_or(k, |_| rerank_pool(k));
        let res = self.nearest(&vector, pool, filters, exact).await?;
        self.rerank(&e, text, res, k).await
    }

    /// The first `k` of `res`, in the order of the re-ranking embedder's cosine distance
    /// between `query` and each hit's embedded text (which the distances then are), or
    /// as they are without a re-ranking embedder.
    async fn rerank(&self, e: &Embedders, query: &str, mut res: SimilarResults, k: usize) -> Result<SimilarResults> {
        let Some(rerank) = e.rerank.clone() else {
            res.data.truncate(k);
            return Ok(res);
        };
        if res.data.is_empty() {
            return Ok(res);
        }
        let ids: Vec<&str> = res.data.iter().map(|h| h.summary.trajectory_id.as_str()).collect();
        let mut texts = self.store.embed_texts_of(&ids).await?;
        let mut batch = vec![query.to_string()];
        batch.extend(res.data.iter().map(|h| texts.remove(&h.summary.trajectory_id).unwrap_or_default()));
        let vectors = on_blocking_thread(move || {
            let refs: Vec<&str> = batch.iter().map(String::as_str).collect();
            rerank.embed(&refs)
        })
        .await??;
        let (query_vector, hits) =
            vectors.split_first().ok_or_else(|| Error::Internal("the embedder returned nothing".into()))?;
        for (hit, v) in res.data.iter_mut().zip(hits) {
            hit.distance = 1.0 - query_vector.iter().zip(v).map(|(a, b)| a * b).sum::<f32>();
        }
        res.data.sort_by(|a, b| {
            a.distance.total_cmp(&b.distance).then_with(|| a.summary.trajectory_id.cmp(&b.summary.trajectory_id))
        });
        res.data.truncate(k);
        Ok(res)
    }

    async fn nearest(&self, vector: &[f32], k: usize, filters: &FilterSet, exact: bool) -> Result<SimilarResults> {
        let sql = filters.to_sql();
        // The count first (cached by version): when every matching row is embedded, the
        // search needs no `embedding IS NOT NULL` condition, whose evaluation reads the
        // whole vector column and cost more than the indexed search itself.
        let not_embedded = self.not_embedded(filters).await?;
        let hits = self.store.nearest(vector, sql, k, not_embedded > 0, exact).await?;
        Ok(SimilarResults {
            data: hits.into_iter().map(|(summary, distance)| SimilarHit { summary, distance }).collect(),
            not_embedded,
        })
    }

    /// Rows without an embedding, and whether the store needs embedding at all.
    pub async fn not_embedded(&self, filters: &FilterSet) -> Result<u64> {
        let version = self.version().await?;
        let sql = filters.to_sql();
        let key = format!("not_embedded|{}", sql.as_deref().unwrap_or(""));
        if let Some(crate::Cached::Count(n)) = self.cache.get(version, &key) {
            return Ok(n);
        }
        let n = self.store.count_not_embedded(sql).await?;
        self.cache.insert(version, &key, crate::Cached::Count(n), key.len() + 16);
        Ok(n)
    }

    /// Embeds rows that have no embedding yet, `batch` rows per commit, at most `max`
    /// rows in all (`None`: until none is left), calling `progress` after each commit.
    /// Each distinct text of a batch is embedded once. Builds the vector index once
    /// enough rows are embedded ([`trajstore_store::VECTOR_INDEX_MIN_ROWS`]).
    pub async fn embed_pending(
        &self,
        source: EmbedTextSource,
        batch: usize,
        max: Option<u64>,
        mut progress: impl FnMut(&EmbedProgress),
    ) -> Result<EmbedProgress> {
        let embedder = self.load_embedder().await?;
        let mut p = EmbedProgress::default();
        match self.store.embedding_model().await? {
            Some(stored) if stored == embedder.name() => {}
            Some(stored) => {
                self.store.clear_embeddings(embedder.name()).await?;
                p.replaced_model = Some(stored);
            }
            None => self.store.set_embedding_model(embedder.name()).await?,
        }
        let batch = batch.clamp(1, 65_536);
        loop {
            let want = match max {
                Some(m) if p.embedded >= m => break,
                Some(m) => batch.min((m - p.embedded) as usize),
                None => batch,
            };
            let mut rows = self.store.pending_embeddings(want).await?;
            if rows.is_empty() {
                break;
            }
            if source == EmbedTextSource::Question {
                for r in &mut rows {
                    r.embed_text = r.embed_text.split("\n\n").next().unwrap_or("").to_string();
                }
            }
            let (texts, slot) = trajstore_store::Store::distinct_texts(&rows);
            let e = embedder.clone();
            let owned: Vec<String> = texts.iter().map(|t| t.to_string()).collect();
            let vectors = on_blocking_thread(move || {
                let refs: Vec<&str> = owned.iter().map(String::as_str).collect();
                e.embed(&refs)
            })
            .await??;
            p.distinct_texts += vectors.len() as u64;
            let updates: Vec<(String, Vec<f32>)> =
                rows.iter().zip(&slot).map(|(r, &s)| (r.trajectory_id.clone(), vectors[s].clone())).collect();
            self.store.set_embeddings(&updates).await?;
            p.embedded += rows.len() as u64;
            p.remaining = self.store.count_not_embedded(None).await?;
            progress(&p);
            if rows.len() < want {
                break;
            }
        }
        p.remaining = self.store.count_not_embedded(None).await?;
        self.store.ensure_vector_index(trajstore_store::VECTOR_INDEX_MIN_ROWS).await?;
        Ok(p)
    }
}

/// The vector of one text, computed on the blocking pool (a model run is CPU work that
/// would stall every request on the same async worker).
async fn embed_with(e: Arc<dyn Embedder>, text: String) -> Result<Vec<f32>> {
    let mut v = on_blocking_thread(move || e.embed(&[text.as_str()])).await??;
    v.pop().ok_or_else(|| Error::Internal("the embedder returned nothing".into()))
}

/// How many candidates a query of `k` results draws for re-ranking.
fn rerank_pool(k: usize) -> usize {
    (k * RERANK_CANDIDATES_PER_RESULT).clamp(RERANK_MIN_CANDIDATES, MAX_RESULTS)
}

fn check_dim(e: &dyn Embedder) -> Result<()> {
    if e.dim() != trajstore_store::EMBEDDING_DIM as usize {
        return Err(Error::invalid(
            "embedder",
            format!(
                "{} makes vectors of dimension {}; the store holds {}",
                e.name(),
                e.dim(),
                trajstore_store::EMBEDDING_DIM
            ),
        ));
    }
    Ok(())
}

fn check_limit(name: &str, n: usize) -> Result<usize> {
    if n == 0 || n > MAX_RESULTS {
        return Err(Error::invalid(name, format!("must be between 1 and {MAX_RESULTS}")));
    }
    Ok(n)
}

/// The query's words, lower-cased (what the index's simple tokenizer sees).
fn query_terms(q: &str) -> Vec<String> {
    q.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).map(str::to_lowercase).collect()
}

/// The step with the most distinct query terms (the first such), and a snippet around
/// its first match; the question when no step matches.
fn locate(terms: &[String], question: Option<&str>, steps_json: &str) -> (Option<u64>, String) {
    let count = |text: &str| {
        let lower = text.to_lowercase();
        terms.iter().filter(|t| lower.contains(t.as_str())).count()
    };
    let mut best: Option<(usize, usize, String)> = None;
    for (i, text) in trajstore_model::text::step_texts(steps_json).into_iter().enumerate() {
        let n = count(&text);
        if n > 0 && best.as_ref().is_none_or(|b| n > b.1) {
            best = Some((i, n, text));
        }
    }
    match best {
        Some((i, _, text)) => (Some(i as u64), snippet(&text, terms)),
        None => (None, snippet(question.unwrap_or(""), terms)),
    }
}

/// About [`SNIPPET_CHARS`] characters of `text` around the first occurrence of a term
/// (case-insensitive), whitespace collapsed, with `…` where cut.
fn snippet(text: &str, terms: &[String]) -> String {
    let chars: Vec<char> = text.chars().collect();
    let lower: Vec<char> = chars.iter().map(|c| c.to_lowercase().next().unwrap_or(*c)).collect();
    let first = terms
        .iter()
        .filter_map(|t| {
            let t: Vec<char> = t.chars().collect();
            (!t.is_empty() && t.len() <= lower.len())
                .then(|| lower.windows(t.len()).position(|w| w == t.as_slice()))
                .flatten()
        })
        .min()
        .unwrap_or(0);
    let start = first.saturating_sub(SNIPPET_CHARS / 3);
    let end = (start + SNIPPET_CHARS).min(chars.len());
    let body: String = chars[start..end].iter().collect();
    let body = body.split_whitespace().collect::<Vec<_>>().join(" ");
    format!("{}{}{}", if start > 0 { "…" } else { "" }, body, if end < chars.len() { "…" } else { "" })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snippet_centres_on_the_first_match_case_insensitively() {
        let text = format!("{} The Quick brown fox {}", "a ".repeat(200), "b ".repeat(200));
        let s = snippet(&text, &["quick".into()]);
        assert!(s.contains("Quick brown fox") && s.starts_with('…') && s.ends_with('…'), "{s}");
        assert!(s.chars().count() <= SNIPPET_CHARS + 2);
    }

    #[test]
    fn locate_picks_the_step_with_most_terms() {
        let steps = r#"[{"role":"user","content":"disk full"},{"role":"tool","content":"error: the disk is full on /dev/sda1"}]"#;
        let terms = query_terms("Disk full sda1");
        assert_eq!(locate(&terms, None, steps).0, Some(1));
        assert_eq!(locate(&query_terms("nothing"), Some("q"), steps), (None, "q".to_string()));
    }
}
