//! A static ("model2vec"-style) embedder distilled from all-MiniLM-L6-v2: one vector per
//! vocabulary token, looked up and averaged. No transformer runs at embedding time, so it
//! embeds thousands of texts a second on one core, where MiniLM manages a few dozen; it is
//! meant as a fast first tier (every row), with MiniLM re-ranking a query's top candidates.
//!
//! Distillation (done once, then cached beside the model as [`STATIC_FILE`]):
//! 1. every vocabulary token `t` is run through MiniLM as `[CLS] t [SEP]` and the three
//!    output vectors are mean-pooled (as model2vec does);
//! 2. the vectors are centred on the mean over the ordinary tokens (special tokens and
//!    `[unusedN]` are set to zero and never used). model2vec then applies PCA; keeping all
//!    384 components (the store's dimension is fixed) makes PCA a rotation of the centred
//!    vectors, and cosine similarities are unchanged by a rotation, so it is left out;
//! 3. each token vector is scaled by a weight from its vocabulary rank (the token id; the
//!    WordPiece vocabulary is roughly ordered by frequency): see [`Weighting`].
//!
//! A text is tokenized without special tokens, without the 256-token cut of MiniLM (the
//! first [`STATIC_MAX_TOKENS`] tokens count), and its token vectors are summed and
//! L2-normalised. A text without any known token (empty, or only unknown characters) gets
//! the fixed unit vector [`empty_vector`].

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::{normalize, EmbedError, Embedder, MiniLm, Result};

/// The name stored beside the vectors this embedder makes.
pub const STATIC_NAME: &str = "all-MiniLM-L6-v2-static";
/// The cached table's file name, in the model folder.
pub const STATIC_FILE: &str = "static-384.bin";
/// Tokens of a text beyond this many are ignored.
pub const STATIC_MAX_TOKENS: usize = 4096;
/// Bytes of a text beyond this many are not even tokenized (4096 tokens are ~16 KB of text).
const MAX_TEXT_BYTES: usize = 64 * 1024;
/// Sequences per MiniLM forward pass during distillation.
const DISTILL_BATCH: usize = 512;
const MAGIC: &[u8; 8] = b"TSSTATIC";
/// Bumped whenever distillation changes, so that an older cached table is recomputed.
const FORMAT_VERSION: u32 = 1;
/// Magic, version, vocabulary size, dimension, weighting kind and parameter, fingerprint.
const HEADER_LEN: usize = 8 + 5 * 4 + 8;

/// How token vectors are weighted by their vocabulary rank `r` (the token id).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Weighting {
    /// All tokens count the same.
    Uniform,
    /// model2vec's original Zipf weighting: `ln(1 + r)`.
    Zipf,
    /// SIF weighting with Zipf-estimated frequencies (model2vec's current default, with
    /// `a = 1e-4`): `a / (a + p(r))`, `p(r) = (1 / (r + 2)) / sum_k 1 / (k + 2)`.
    Sif(f32),
}

/// The weighting [`StaticEmbedder::distill`] uses, chosen by recall@10 against MiniLM on
/// 10,000 real trajectory texts (`examples/static_recall.rs`): SIF with `a = 1e-5` 0.449
/// (0.756 after MiniLM re-ranks the top 100), `a = 1e-4` 0.445, Zipf 0.433, `a = 1e-3`
/// 0.423, uniform 0.417.
pub const DEFAULT_WEIGHTING: Weighting = Weighting::Sif(1e-5);

impl Weighting {
    fn code(self) -> (u32, f32) {
        match self {
            Weighting::Uniform => (0, 0.0),
            Weighting::Zipf => (1, 0.0),
            Weighting::Sif(a) => (2, a),
        }
    }

    /// The weight of every token id of a vocabulary of `n` tokens.
    fn weights(self, n: usize) -> Vec<f32> {
        match self {
            Weighting::Uniform => vec![1.0; n],
            Weighting::Zipf => (0..n).map(|r| (1.0 + r as f64).ln() as f32).collect(),
            Weighting::Sif(a) => {
                let total: f64 = (0..n).map(|r| 1.0 / (r as f64 + 2.0)).sum();
                let a = f64::from(a);
                (0..n).map(|r| (a / (a + 1.0 / (r as f64 + 2.0) / total)) as f32).collect()
            }
        }
    }
}

/// The raw distilled token vectors (MiniLM's mean-pooled output for `[CLS] t [SEP]`), before
/// centring and weighting: what [`StaticEmbedder::from_raw`] turns into an embedder.
pub struct RawTokenVectors {
    tokenizer: tokenizers::Tokenizer,
    /// `vocab * dim` numbers, row `t` for token id `t`.
    vectors: Vec<f32>,
    /// Token ids that never take part (special tokens, `[unusedN]`).
    excluded: Vec<bool>,
    dim: usize,
    fingerprint: u64,
}

impl RawTokenVectors {
    pub fn vocab_size(&self) -> usize {
        self.excluded.len()
    }
}

/// Token vectors looked up and averaged: see the module documentation.
pub struct StaticEmbedder {
    tokenizer: tokenizers::Tokenizer,
    /// `vocab * dim` numbers, weights folded in.
    table: Vec<f32>,
    dim: usize,
    /// Identifies the model files the table was distilled from (0: unknown).
    fingerprint: u64,
    weighting: Weighting,
}

/// The vector of a text without any known token: the unit vector with equal components
/// (a fixed direction rather than a zero vector, which cosine distance cannot handle).
pub fn empty_vector(dim: usize) -> Vec<f32> {
    vec![1.0 / (dim as f32).sqrt(); dim]
}

/// A copy of the tokenizer with no truncation and no padding.
fn plain_tokenizer(mut tokenizer: tokenizers::Tokenizer) -> Result<tokenizers::Tokenizer> {
    tokenizer.with_truncation(None).map_err(|e| EmbedError::Load(e.to_string()))?;
    tokenizer.with_padding(None);
    Ok(tokenizer)
}

/// 64-bit FNV-1a.
fn fnv(mut h: u64, bytes: &[u8]) -> u64 {
    for &b in bytes {
        h = (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3);
    }
    h
}

/// Identifies the model in `dir`: its tokenizer and config, and the size of its weights.
pub fn model_fingerprint(dir: &Path) -> Result<u64> {
    let load = |e: std::io::Error| EmbedError::Load(format!("{}: {e}", dir.display()));
    let mut h = 0xcbf2_9ce4_8422_2325;
    for f in ["tokenizer.json", "config.json"] {
        h = fnv(h, &std::fs::read(dir.join(f)).map_err(load)?);
    }
    let len = std::fs::metadata(dir.join("model.safetensors")).map_err(load)?.len();
    Ok(fnv(h, &len.to_le_bytes()))
}

/// Token ids that never take part: the tokenizer's special tokens and `[unusedN]`.
fn excluded_ids(tokenizer: &tokenizers::Tokenizer, vocab: usize) -> Vec<bool> {
    let mut out = vec![false; vocab];
    for (id, tok) in tokenizer.get_added_tokens_decoder() {
        if tok.special && (id as usize) < vocab {
            out[id as usize] = true;
        }
    }
    for (id, x) in out.iter_mut().enumerate() {
        if tokenizer.id_to_token(id as u32).is_some_and(|t| t.starts_with("[unused")) {
            *x = true;
        }
    }
    out
}

/// MiniLM's mean-pooled output for `[CLS] t [SEP]`, for each `t` of `ids` (`ids.len() * dim`
/// numbers).
pub(crate) fn token_vectors(minilm: &MiniLm, ids: &[u32]) -> Result<Vec<f32>> {
    use candle_core::Tensor;
    let err = |e: &dyn std::fmt::Display| EmbedError::Compute(e.to_string());
    let special = |t: &str| {
        minilm.tokenizer.token_to_id(t).ok_or_else(|| EmbedError::Load(format!("the tokenizer has no {t} token")))
    };
    let (cls, sep) = (special("[CLS]")?, special("[SEP]")?);
    let mut out = Vec::with_capacity(ids.len() * minilm.dim);
    for chunk in ids.chunks(DISTILL_BATCH) {
        let input: Vec<u32> = chunk.iter().flat_map(|&t| [cls, t, sep]).collect();
        let input = Tensor::from_vec(input, (chunk.len(), 3), &minilm.device).map_err(|e| err(&e))?;
        let types = input.zeros_like().map_err(|e| err(&e))?;
        let mask = input.ones_like().map_err(|e| err(&e))?;
        let hidden = minilm.model.forward(&input, &types, Some(&mask)).map_err(|e| err(&e))?; // [n, 3, dim]
        let pooled = hidden.mean(1).and_then(|p| p.flatten_all()).and_then(|p| p.to_vec1::<f32>());
        out.extend(pooled.map_err(|e| err(&e))?);
    }
    Ok(out)
}

/// Runs MiniLM on every vocabulary token (the expensive part of distillation).
pub fn distill_raw(minilm: &MiniLm) -> Result<RawTokenVectors> {
    let vocab = minilm.tokenizer.get_vocab_size(false);
    let excluded = excluded_ids(&minilm.tokenizer, vocab);
    let ids: Vec<u32> = (0..vocab as u32).collect();
    let vectors = token_vectors(minilm, &ids)?;
    let fingerprint = model_fingerprint(&minilm.dir).unwrap_or(0);
    let tokenizer = plain_tokenizer(minilm.tokenizer.clone())?;
    Ok(RawTokenVectors { tokenizer, vectors, excluded, dim: minilm.dim, fingerprint })
}

impl StaticEmbedder {
    /// Distils the table from MiniLM with [`DEFAULT_WEIGHTING`] (tens of seconds).
    pub fn distill(minilm: &MiniLm) -> Result<Self> {
        Ok(Self::from_raw(&distill_raw(minilm)?, DEFAULT_WEIGHTING))
    }

    /// Centres and weights raw token vectors (cheap: try several weightings on one
    /// [`distill_raw`]).
    pub fn from_raw(raw: &RawTokenVectors, weighting: Weighting) -> Self {
        let (dim, vocab) = (raw.dim, raw.vocab_size());
        let mut mean = vec![0f64; dim];
        let mut n = 0usize;
        for (row, _) in raw.vectors.chunks_exact(dim).zip(&raw.excluded).filter(|(_, &x)| !x) {
            mean.iter_mut().zip(row).for_each(|(m, &v)| *m += f64::from(v));
            n += 1;
        }
        mean.iter_mut().for_each(|m| *m /= n.max(1) as f64);
        let weights = weighting.weights(vocab);
        let mut table = raw.vectors.clone();
        for ((row, &x), &w) in table.chunks_exact_mut(dim).zip(&raw.excluded).zip(&weights) {
            for (v, &m) in row.iter_mut().zip(&mean) {
                *v = if x { 0.0 } else { ((f64::from(*v) - m) * f64::from(w)) as f32 };
            }
        }
        StaticEmbedder { tokenizer: raw.tokenizer.clone(), table, dim, fingerprint: raw.fingerprint, weighting }
    }

    /// Loads the cached table of the model in `dir` ([`STATIC_FILE`]); an error when it is
    /// missing, damaged, or was made from other model files or by another version.
    pub fn load(dir: &Path) -> Result<Self> {
        Self::load_from(dir, &dir.join(STATIC_FILE))
    }

    /// [`StaticEmbedder::load`] of a table kept elsewhere than in the model folder `dir`.
    pub fn load_from(dir: &Path, path: &Path) -> Result<Self> {
        let load = |m: String| EmbedError::Load(format!("{}: {m}", path.display()));
        let bytes = std::fs::read(path).map_err(|e| load(e.to_string()))?;
        if bytes.len() < HEADER_LEN || &bytes[..8] != MAGIC {
            return Err(load("not a static embedding table".into()));
        }
        let word = |i: usize| u32::from_le_bytes(bytes[8 + 4 * i..12 + 4 * i].try_into().expect("4 bytes"));
        let (version, vocab, dim) = (word(0), word(1) as usize, word(2) as usize);
        let fingerprint = u64::from_le_bytes(bytes[28..36].try_into().expect("8 bytes"));
        if version != FORMAT_VERSION {
            return Err(load(format!("format version {version}, expected {FORMAT_VERSION} (stale)")));
        }
        if fingerprint != model_fingerprint(dir)? {
            return Err(load("made from other model files (stale)".into()));
        }
        let weighting = match word(3) {
            0 => Weighting::Uniform,
            1 => Weighting::Zipf,
            _ => Weighting::Sif(f32::from_bits(word(4))),
        };
        let data = &bytes[HEADER_LEN..];
        if data.len() != vocab * dim * 4 {
            return Err(load(format!("{} bytes of data, expected {}", data.len(), vocab * dim * 4)));
        }
        let table = data.chunks_exact(4).map(|b| f32::from_le_bytes(b.try_into().expect("4 bytes"))).collect();
        let tokenizer =
            tokenizers::Tokenizer::from_file(dir.join("tokenizer.json")).map_err(|e| load(e.to_string()))?;
        let tokenizer = plain_tokenizer(tokenizer)?;
        if tokenizer.get_vocab_size(false) != vocab {
            return Err(load(format!("{vocab} tokens, the tokenizer has {}", tokenizer.get_vocab_size(false))));
        }
        Ok(StaticEmbedder { tokenizer, table, dim, fingerprint, weighting })
    }

    /// Writes the table to `path` atomically (a temporary file renamed over it).
    pub fn save(&self, path: &Path) -> Result<()> {
        let io = |e: std::io::Error| EmbedError::Compute(format!("writing {}: {e}", path.display()));
        let (wcode, sif) = self.weighting.code();
        let vocab = (self.table.len() / self.dim) as u32;
        let mut bytes = Vec::with_capacity(HEADER_LEN + self.table.len() * 4);
        bytes.extend_from_slice(MAGIC);
        for w in [FORMAT_VERSION, vocab, self.dim as u32, wcode, sif.to_bits()] {
            bytes.extend_from_slice(&w.to_le_bytes());
        }
        bytes.extend_from_slice(&self.fingerprint.to_le_bytes());
        self.table.iter().for_each(|v| bytes.extend_from_slice(&v.to_le_bytes()));
        let mut tmp = PathBuf::from(path);
        tmp.set_file_name(format!(
            ".{}.tmp{}",
            path.file_name().map_or("static".into(), |n| n.to_string_lossy()),
            std::process::id()
        ));
        let written = std::fs::File::create(&tmp).and_then(|mut f| f.write_all(&bytes).and_then(|()| f.sync_all()));
        if let Err(e) = written.and_then(|()| std::fs::rename(&tmp, path)) {
            let _ = std::fs::remove_file(&tmp);
            return Err(io(e));
        }
        Ok(())
    }

    /// Loads the cached table of the model in `dir`, or distils it (and caches it there, when
    /// the folder is writable: a read-only model folder only costs a distillation per load).
    pub fn load_or_distill(dir: &Path) -> Result<Self> {
        // A table of another weighting than the current default is recomputed too.
        if let Ok(s) = Self::load(dir) {
            if s.weighting == DEFAULT_WEIGHTING {
                return Ok(s);
            }
        }
        let s = Self::distill(&MiniLm::load(dir)?)?;
        let _ = s.save(&dir.join(STATIC_FILE));
        Ok(s)
    }

    pub fn weighting(&self) -> Weighting {
        self.weighting
    }

    /// The vector of one text (on the calling thread).
    pub fn embed_text(&self, text: &str) -> Result<Vec<f32>> {
        let text = &text[..text.floor_char_boundary(MAX_TEXT_BYTES)];
        let enc = self.tokenizer.encode_fast(text, false).map_err(|e| EmbedError::Compute(e.to_string()))?;
        let mut v = vec![0f32; self.dim];
        for &id in enc.get_ids().iter().take(STATIC_MAX_TOKENS) {
            if let Some(row) = self.table.get(id as usize * self.dim..(id as usize + 1) * self.dim) {
                v.iter_mut().zip(row).for_each(|(a, b)| *a += b);
            }
        }
        if v.iter().all(|&x| x == 0.0) {
            return Ok(empty_vector(self.dim));
        }
        normalize(&mut v);
        Ok(v)
    }
}

impl Embedder for StaticEmbedder {
    /// Large batches are split over the available cores.
    fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>> {
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).min(texts.len() / 64).max(1);
        if threads == 1 {
            return texts.iter().map(|t| self.embed_text(t)).collect();
        }
        let per = texts.len().div_ceil(threads);
        std::thread::scope(|s| {
            let parts: Vec<_> = texts
                .chunks(per)
                .map(|part| s.spawn(move || part.iter().map(|t| self.embed_text(t)).collect::<Result<Vec<_>>>()))
                .collect();
            let mut out = Vec::with_capacity(texts.len());
            for p in parts {
                out.extend(p.join().map_err(|_| EmbedError::Compute("an embedding thread panicked".into()))??);
            }
            Ok(out)
        })
    }
    fn dim(&self) -> usize {
        self.dim
    }
    fn name(&self) -> &str {
        STATIC_NAME
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::OnceLock;

    /// The model folder, or `None` (a skip, said on stderr) when the model is not installed.
    fn model_dir() -> Option<PathBuf> {
        let dir = crate::default_model_dir();
        if dir.join("model.safetensors").is_file() {
            return Some(dir);
        }
        assert!(
            std::env::var("CI").map_or(true, |v| v.is_empty() || v == "0" || v == "false"),
            "no model in {} under CI=true",
            dir.display()
        );
        eprintln!("SKIPPED: no model in {} (run scripts/fetch-model.sh)", dir.display());
        None
    }

    /// The full table, distilled once per test binary (or read from the model folder's cache).
    fn embedder() -> Option<&'static StaticEmbedder> {
        static E: OnceLock<StaticEmbedder> = OnceLock::new();
        let dir = model_dir()?;
        Some(E.get_or_init(|| StaticEmbedder::load_or_distill(&dir).expect("distil")))
    }

    fn dot(a: &[f32], b: &[f32]) -> f32 {
        a.iter().zip(b).map(|(x, y)| x * y).sum()
    }

    #[test]
    fn static_weights_follow_the_rank() {
        let z = Weighting::Zipf.weights(100);
        assert_eq!(z[0], 0.0);
        assert!(z.windows(2).all(|w| w[0] < w[1]));
        let s = Weighting::Sif(1e-3).weights(30_000);
        assert!(s.windows(2).all(|w| w[0] <= w[1]) && s[0] > 0.0 && s[29_999] < 1.0);
        assert_eq!(Weighting::Uniform.weights(3), vec![1.0; 3]);
    }

    #[test]
    fn static_distillation_is_deterministic() {
        let Some(dir) = model_dir() else { return };
        let m = MiniLm::load(&dir).unwrap();
        let ids: Vec<u32> = (1000..1000 + DISTILL_BATCH as u32 + 100).collect();
        let a = token_vectors(&m, &ids).unwrap();
        let b = token_vectors(&m, &ids).unwrap();
        assert_eq!(a.len(), ids.len() * 384);
        assert_eq!(a, b);
    }

    #[test]
    fn static_vectors_are_unit_length_and_384_wide() {
        let Some(e) = embedder() else { return };
        assert_eq!((e.dim(), e.name()), (384, STATIC_NAME));
        let texts = ["The agent ran pytest and all 42 tests passed.", "ls -la /tmp", "", "\u{1F600}\u{1F600}"];
        let v = e.embed(&texts).unwrap();
        assert_eq!(v.len(), texts.len());
        for x in &v {
            assert_eq!(x.len(), 384);
            assert!((dot(x, x) - 1.0).abs() < 1e-4, "{}", dot(x, x));
        }
        assert_eq!(v[2], empty_vector(384), "empty text");
        assert_eq!(v[0], e.embed_text(texts[0]).unwrap());
        // Longer than MiniLM's 256 tokens: the tail still counts.
        let long = format!("{} database migration", "word ".repeat(600));
        assert_ne!(e.embed_text(&long).unwrap(), e.embed_text(&"word ".repeat(600)).unwrap());
    }

    #[test]
    fn static_paraphrases_are_closer_than_unrelated_texts() {
        let Some(e) = embedder() else { return };
        let v = e
            .embed(&[
                "The unit tests fail because of a missing import",
                "tests crashed: ImportError module not found",
                "The agent booked a flight to Paris",
            ])
            .unwrap();
        let (near, far) = (dot(&v[0], &v[1]), dot(&v[0], &v[2]));
        assert!(near > far + 0.1, "{near} vs {far}");
    }

    #[test]
    fn static_table_survives_a_save_and_load() {
        let Some(e) = embedder() else { return };
        let dir = model_dir().unwrap();
        let tmp = std::env::temp_dir().join(format!("trajstore-static-{}", std::process::id()));
        std::fs::create_dir_all(&tmp).unwrap();
        let file = tmp.join(STATIC_FILE);
        e.save(&file).unwrap();
        let back = StaticEmbedder::load_from(&dir, &file).unwrap();
        assert_eq!(back.weighting(), e.weighting());
        let texts = ["cargo build failed: linker error", "Booked seat 12A on flight UA 100."];
        assert_eq!(back.embed(&texts).unwrap(), e.embed(&texts).unwrap());
        // Another format version is stale; so is a damaged file.
        let mut bytes = std::fs::read(&file).unwrap();
        bytes[8] ^= 0x7f;
        std::fs::write(&file, &bytes).unwrap();
        let err = StaticEmbedder::load_from(&dir, &file).err().expect("stale").to_string();
        assert!(err.contains("stale"), "{err}");
        std::fs::write(&file, &bytes[..1000]).unwrap();
        assert!(StaticEmbedder::load_from(&dir, &file).is_err());
        std::fs::remove_dir_all(&tmp).unwrap();
    }
}
