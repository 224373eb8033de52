//! The models trajstore runs or calls: text embedders for similarity search, behind one
//! trait, and a chat client for cluster labels written by a language model.
//!
//! * [`MiniLm`]: the default, all-MiniLM-L6-v2 run offline on the CPU with candle (BERT,
//!   mean pooling over the attention mask, L2 normalisation), loaded from a local folder
//!   holding `model.safetensors`, `tokenizer.json` and `config.json`
//!   (`scripts/fetch-model.sh` installs them). Nothing is downloaded at run time.
//! * [`HttpEmbedder`]: an OpenAI-compatible `/v1/embeddings` endpoint.
//! * [`StaticEmbedder`]: token vectors distilled from MiniLM, averaged: a fast first tier.
//!
//! Every embedder returns unit-length vectors, so cosine distance is `1 - dot`.
//!
//! [`ChatClient`] calls an OpenAI-compatible `/v1/chat/completions` endpoint; nothing
//! calls it unless a user names an endpoint.

use std::path::{Path, PathBuf};

mod chat;
mod static_model;
pub use chat::{ChatClient, ChatError};
pub use static_model::{
    distill_raw, empty_vector, model_fingerprint, RawTokenVectors, StaticEmbedder, Weighting, DEFAULT_WEIGHTING,
    STATIC_FILE, STATIC_MAX_TOKENS, STATIC_NAME,
};

/// Environment variable naming the model folder.
pub const MODEL_DIR_ENV: &str = "TRAJSTORE_MODEL_DIR";
/// The dimension of all-MiniLM-L6-v2's vectors.
pub const MINILM_DIM: usize = 384;

#[derive(Debug, thiserror::Error)]
pub enum EmbedError {
    #[error(
        "the embedding model is not installed: {missing} is missing in {dir}. Install it with `bash scripts/fetch-model.sh` \
         (or set {MODEL_DIR_ENV} to a folder holding model.safetensors, tokenizer.json and config.json of all-MiniLM-L6-v2)"
    )]
    ModelMissing { dir: String, missing: String },
    #[error("the embedding model could not be loaded: {0}")]
    Load(String),
    #[error("embedding failed: {0}")]
    Compute(String),
    #[error("the embeddings endpoint failed: {0}")]
    Http(String),
}

pub type Result<T, E = EmbedError> = std::result::Result<T, E>;

/// Turns texts into unit-length vectors of `dim()` numbers.
pub trait Embedder: Send + Sync {
    /// One vector per text, in order; each of length `dim()` and L2-normalised.
    fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>>;
    fn dim(&self) -> usize;
    /// A name saying which model made the vectors (stored beside them).
    fn name(&self) -> &str;
}

/// Mean of the token vectors where the mask is 1. `hidden` is `[tokens][dim]` for one text.
pub fn mean_pool(hidden: &[Vec<f32>], mask: &[u32]) -> Vec<f32> {
    let dim = hidden.first().map_or(0, Vec::len);
    let mut out = vec![0f32; dim];
    let mut n = 0f32;
    for (row, &m) in hidden.iter().zip(mask) {
        if m != 0 {
            n += 1.0;
            for (o, v) in out.iter_mut().zip(row) {
                *o += v;
            }
        }
    }
    if n > 0.0 {
        out.iter_mut().for_each(|o| *o /= n);
    }
    out
}

/// Scales `v` to unit length (a zero vector stays zero).
pub fn normalize(v: &mut [f32]) {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 1e-12 {
        v.iter_mut().for_each(|x| *x /= norm);
    }
}

/// The model folder: `$TRAJSTORE_MODEL_DIR`, else `$HOME/.cache/trajstore/models/all-MiniLM-L6-v2`.
pub fn default_model_dir() -> PathBuf {
    if let Some(d) = std::env::var_os(MODEL_DIR_ENV).filter(|d| !d.is_empty()) {
        return PathBuf::from(d);
    }
    let home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("."));
    home.join(".cache/trajstore/models/all-MiniLM-L6-v2")
}

/// all-MiniLM-L6-v2 on the CPU.
pub struct MiniLm {
    model: candle_transformers::models::bert::BertModel,
    tokenizer: tokenizers::Tokenizer,
    device: candle_core::Device,
    dim: usize,
    /// The folder it was loaded from.
    dir: PathBuf,
}

/// Texts are cut to this many tokens (the model was trained on 256 or fewer).
pub const MAX_TOKENS: usize = 256;

impl MiniLm {
    /// Loads from [`default_model_dir`].
    pub fn load_default() -> Result<Self> {
        Self::load(&default_model_dir())
    }

    pub fn load(dir: &Path) -> Result<Self> {
        use candle_transformers::models::bert::{BertModel, Config, DTYPE};
        for f in ["model.safetensors", "tokenizer.json", "config.json"] {
            if !dir.join(f).is_file() {
                return Err(EmbedError::ModelMissing { dir: dir.display().to_string(), missing: f.to_string() });
            }
        }
        let load = |e: &dyn std::fmt::Display| EmbedError::Load(e.to_string());
        let config: Config =
            serde_json::from_str(&std::fs::read_to_string(dir.join("config.json")).map_err(|e| load(&e))?)
                .map_err(|e| load(&e))?;
        let mut tokenizer = tokenizers::Tokenizer::from_file(dir.join("tokenizer.json")).map_err(|e| load(&e))?;
        tokenizer
            .with_truncation(Some(tokenizers::TruncationParams { max_length: MAX_TOKENS, ..Default::default() }))
            .map_err(|e| load(&e))?;
        tokenizer.with_padding(Some(tokenizers::PaddingParams {
            strategy: tokenizers::PaddingStrategy::BatchLongest,
            ..Default::default()
        }));
        let device = candle_core::Device::Cpu;
        // SAFETY: the file is memory-mapped read-only; it must not change while loaded.
        let vb =
            unsafe { candle_nn::VarBuilder::from_mmaped_safetensors(&[dir.join("model.safetensors")], DTYPE, &device) }
                .map_err(|e| load(&e))?;
        let model = BertModel::load(vb, &config).map_err(|e| load(&e))?;
        Ok(MiniLm { model, tokenizer, device, dim: config.hidden_size, dir: dir.to_path_buf() })
    }

    fn embed_batch(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>> {
        use candle_core::{DType, Tensor};
        let err = |e: &dyn std::fmt::Display| EmbedError::Compute(e.to_string());
        let enc = self.tokenizer.encode_batch(texts.to_vec(), true).map_err(|e| err(&e))?;
        let len = enc.first().map_or(0, |e| e.get_ids().len());
        let (n, ids, mask): (usize, Vec<u32>, Vec<u32>) = (
            enc.len(),
            enc.iter().flat_map(|e| e.get_ids().iter().copied()).collect(),
            enc.iter().flat_map(|e| e.get_attention_mask().iter().copied()).collect(),
        );
        let ids = Tensor::from_vec(ids, (n, len), &self.device).map_err(|e| err(&e))?;
        let mask_t = Tensor::from_vec(mask, (n, len), &self.device).map_err(|e| err(&e))?;
        let types = ids.zeros_like().map_err(|e| err(&e))?;
        let hidden = self.model.forward(&ids, &types, Some(&mask_t)).map_err(|e| err(&e))?; // [n, len, dim]
                                                                                            // Mean pooling over the attention mask, then L2 normalisation.
        let m = mask_t.to_dtype(DType::F32).and_then(|m| m.unsqueeze(2)).map_err(|e| err(&e))?; // [n, len, 1]
        let summed = hidden.broadcast_mul(&m).and_then(|h| h.sum(1)).map_err(|e| err(&e))?; // [n, dim]
        let counts = m.sum(1).and_then(|c| c.clamp(1e-9f32, f32::MAX)).map_err(|e| err(&e))?; // [n, 1]
        let pooled = summed.broadcast_div(&counts).map_err(|e| err(&e))?;
        let mut rows: Vec<Vec<f32>> = pooled.to_vec2().map_err(|e| err(&e))?;
        rows.iter_mut().for_each(|r| normalize(r));
        Ok(rows)
    }
}

impl Embedder for MiniLm {
    fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>> {
        // Sorting by length keeps padding (wasted work) small inside each chunk.
        let mut order: Vec<usize> = (0..texts.len()).collect();
        order.sort_by_key(|&i| texts[i].len());
        let mut out = vec![Vec::new(); texts.len()];
        for chunk in order.chunks(32) {
            let batch: Vec<&str> = chunk.iter().map(|&i| texts[i]).collect();
            for (&i, v) in chunk.iter().zip(self.embed_batch(&batch)?) {
                out[i] = v;
            }
        }
        Ok(out)
    }
    fn dim(&self) -> usize {
        self.dim
    }
    fn name(&self) -> &str {
        "all-MiniLM-L6-v2"
    }
}

/// An OpenAI-compatible embeddings endpoint: `POST {base_url}/v1/embeddings` with
/// `{"model", "input": [texts]}`, over HTTP or HTTPS.
pub struct HttpEmbedder {
    url: String,
    model: String,
    api_key: Option<String>,
    dim: usize,
    agent: ureq::Agent,
}

impl HttpEmbedder {
    pub fn new(base_url: &str, model: &str, dim: usize, api_key: Option<String>) -> Self {
        let url = format!("{}/v1/embeddings", base_url.trim_end_matches('/').trim_end_matches("/v1"));
        HttpEmbedder { url, model: model.to_string(), api_key, dim, agent: ureq::Agent::new_with_defaults() }
    }
}

impl Embedder for HttpEmbedder {
    fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>> {
        #[derive(serde::Deserialize)]
        struct Item {
            index: usize,
            embedding: Vec<f32>,
        }
        #[derive(serde::Deserialize)]
        struct Reply {
            data: Vec<Item>,
        }
        let body = serde_json::json!({"model": self.model, "input": texts});
        let mut req = self.agent.post(&self.url);
        if let Some(k) = &self.api_key {
            req = req.header("Authorization", &format!("Bearer {k}"));
        }
        let reply: Reply = req
            .send_json(&body)
            .map_err(|e| EmbedError::Http(e.to_string()))?
            .body_mut()
            .read_json()
            .map_err(|e| EmbedError::Http(e.to_string()))?;
        let mut out = vec![Vec::new(); texts.len()];
        for mut item in reply.data {
            if item.index >= out.len() || item.embedding.len() != self.dim {
                return Err(EmbedError::Http(format!(
                    "unexpected item {} of dimension {} (expected {})",
                    item.index,
                    item.embedding.len(),
                    self.dim
                )));
            }
            normalize(&mut item.embedding);
            out[item.index] = item.embedding;
        }
        if out.iter().any(Vec::is_empty) {
            return Err(EmbedError::Http("the reply lacks some embeddings".into()));
        }
        Ok(out)
    }
    fn dim(&self) -> usize {
        self.dim
    }
    fn name(&self) -> &str {
        &self.model
    }
}

/// A cheap deterministic embedder (hashed character trigrams): for tests and for filling
/// large benchmark stores where the real model would take hours. Not semantic.
pub struct HashEmbedder {
    pub dim: usize,
}

impl Embedder for HashEmbedder {
    fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>> {
        Ok(texts
            .iter()
            .map(|t| {
                let mut v = vec![0f32; self.dim];
                let b = t.to_lowercase().into_bytes();
                for w in b.windows(3.min(b.len().max(1))) {
                    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
                    for &c in w {
                        h = (h ^ c as u64).wrapping_mul(0x100_0000_01b3);
                    }
                    v[(h % self.dim as u64) as usize] += if h >> 63 == 0 { 1.0 } else { -1.0 };
                }
                normalize(&mut v);
                v
            })
            .collect())
    }
    fn dim(&self) -> usize {
        self.dim
    }
    fn name(&self) -> &str {
        "hash-trigram"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pooling_uses_only_unmasked_tokens() {
        let hidden = vec![vec![1.0, 2.0], vec![3.0, 4.0], vec![100.0, 100.0]];
        assert_eq!(mean_pool(&hidden, &[1, 1, 0]), vec![2.0, 3.0]);
        assert_eq!(mean_pool(&hidden, &[0, 0, 0]), vec![0.0, 0.0]);
    }

    #[test]
    fn normalisation_gives_unit_length() {
        let mut v = vec![3.0, 4.0];
        normalize(&mut v);
        assert!((v[0] - 0.6).abs() < 1e-6 && (v[1] - 0.8).abs() < 1e-6);
        let mut z = vec![0.0, 0.0];
        normalize(&mut z);
        assert_eq!(z, vec![0.0, 0.0]);
    }

    #[test]
    fn hash_embedder_is_deterministic_and_unit_length() {
        let e = HashEmbedder { dim: 64 };
        let a = e.embed(&["hello world", "hello world", "other"]).unwrap();
        assert_eq!(a[0], a[1]);
        assert_ne!(a[0], a[2]);
        let n: f32 = a[0].iter().map(|x| x * x).sum();
        assert!((n - 1.0).abs() < 1e-5);
    }

    #[test]
    fn a_missing_model_is_a_clear_error() {
        let dir = std::env::temp_dir().join("trajstore-no-model-here");
        let e = MiniLm::load(&dir).err().expect("no model there");
        let msg = e.to_string();
        assert!(msg.contains("fetch-model.sh") && msg.contains("model.safetensors"), "{msg}");
    }

    /// Needs the real model (skipped with a message when it is not installed).
    #[test]
    fn minilm_embeds_paraphrases_close() {
        let dir = default_model_dir();
        if !dir.join("model.safetensors").is_file() {
            // The setup installs the model, so under CI its absence is a failure, not a skip.
            assert!(
                std::env::var("CI").map_or(true, |v| v.is_empty() || v == "0" || v == "false"),
                "no model in {} under CI=true",
                dir.display()
            );
            eprintln!("SKIPPED: no model in {} (run scripts/fetch-model.sh)", dir.display());
            return;
        }
        let m = MiniLm::load(&dir).unwrap();
        assert_eq!(m.dim(), MINILM_DIM);
        let v = m
            .embed(&[
                "How do I fix a failing unit test?",
                "The unit test fails; how can I repair it?",
                "Bake a chocolate cake for twelve people.",
            ])
            .unwrap();
        let dot = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f32>();
        let n: f32 = dot(&v[0], &v[0]);
        assert!((n - 1.0).abs() < 1e-4);
        assert!(dot(&v[0], &v[1]) > dot(&v[0], &v[2]) + 0.3, "{} vs {}", dot(&v[0], &v[1]), dot(&v[0], &v[2]));
        // The batch path (padding) gives the same vector as a text alone.
        let alone = m.embed(&["How do I fix a failing unit test?"]).unwrap();
        assert!(dot(&alone[0], &v[0]) > 0.999);
    }
}
