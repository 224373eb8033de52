//! Speed and recall of the static tier against MiniLM on real texts.
//!
//! ```text
//! CARGO_TARGET_DIR=... cargo run --release -p trajstore-embed --example static_recall -- \
//!     TEXTS.jsonl [--queries 200] [--minilm-cache FILE] [--sample 200]
//! ```
//!
//! `TEXTS.jsonl` holds one JSON string a line. MiniLM embeds every text once (slow: the
//! vectors are kept in `--minilm-cache` for the next run); the static tier is distilled from
//! the model in `$TRAJSTORE_MODEL_DIR` (or the default folder) and tried with each weighting.
//! Printed: texts/s of both, recall@10 of the static tier against MiniLM's exact top-10
//! (cosine, brute force, the query itself left out), and recall@10 after MiniLM re-ranks the
//! static tier's top-N candidates.

use std::path::PathBuf;
use std::time::Instant;

use trajstore_embed::{default_model_dir, distill_raw, Embedder, MiniLm, StaticEmbedder, Weighting};

type Res<T> = std::result::Result<T, Box<dyn std::error::Error + Send + Sync>>;

struct Args {
    texts: PathBuf,
    queries: usize,
    sample: usize,
    cache: Option<PathBuf>,
}

fn args() -> Res<Args> {
    let mut it = std::env::args().skip(1);
    let mut a = Args { texts: PathBuf::new(), queries: 200, sample: 200, cache: None };
    while let Some(x) = it.next() {
        match x.as_str() {
            "--queries" => a.queries = it.next().ok_or("--queries N")?.parse()?,
            "--sample" => a.sample = it.next().ok_or("--sample N")?.parse()?,
            "--minilm-cache" => a.cache = Some(it.next().ok_or("--minilm-cache FILE")?.into()),
            _ => a.texts = x.into(),
        }
    }
    if a.texts.as_os_str().is_empty() {
        return Err("usage: static_recall TEXTS.jsonl [--queries N] [--sample N] [--minilm-cache FILE]".into());
    }
    Ok(a)
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Indices of the `k` vectors of `all` closest to `all[q]` (itself left out), best first.
fn top_k(all: &[Vec<f32>], q: usize, k: usize) -> Vec<usize> {
    let mut scored: Vec<(f32, usize)> =
        all.iter().enumerate().filter(|&(i, _)| i != q).map(|(i, v)| (dot(&all[q], v), i)).collect();
    let k = k.min(scored.len());
    scored.select_nth_unstable_by(k.saturating_sub(1), |a, b| b.0.total_cmp(&a.0));
    scored.truncate(k);
    scored.sort_by(|a, b| b.0.total_cmp(&a.0));
    scored.into_iter().map(|(_, i)| i).collect()
}

fn overlap(a: &[usize], b: &[usize]) -> usize {
    a.iter().filter(|x| b.contains(x)).count()
}

/// MiniLM vectors of every text, from the cache file when it matches.
fn minilm_vectors(m: &MiniLm, texts: &[&str], cache: Option<&PathBuf>) -> Res<Vec<Vec<f32>>> {
    let dim = m.dim();
    if let Some(bytes) = cache.and_then(|c| std::fs::read(c).ok()).filter(|b| b.len() == texts.len() * dim * 4) {
        println!("MiniLM vectors of {} texts read from the cache", texts.len());
        let flat: Vec<f32> = bytes.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
        return Ok(flat.chunks_exact(dim).map(<[f32]>::to_vec).collect());
    }
    let t = Instant::now();
    let mut out = Vec::with_capacity(texts.len());
    for chunk in texts.chunks(500) {
        out.extend(m.embed(chunk)?);
        let s = t.elapsed().as_secs_f64();
        eprintln!("  MiniLM: {} / {} texts, {:.1} texts/s", out.len(), texts.len(), out.len() as f64 / s);
    }
    println!(
        "MiniLM (256 tokens), all {} texts: {:.1} texts/s",
        texts.len(),
        texts.len() as f64 / t.elapsed().as_secs_f64()
    );
    if let Some(c) = cache {
        let bytes: Vec<u8> = out.iter().flatten().flat_map(|v| v.to_le_bytes()).collect();
        std::fs::write(c, bytes)?;
    }
    Ok(out)
}

/// Each text cut to its first `max` tokens (special tokens included), by the tokenizer's offsets.
fn cut_to_tokens(texts: &[&str], max: usize) -> Res<Vec<String>> {
    let tok = tokenizers::Tokenizer::from_file(default_model_dir().join("tokenizer.json"))?;
    texts
        .iter()
        .map(|t| {
            let enc = tok.encode(*t, false)?;
            let end = enc.get_offsets().get(max - 2).map_or(t.len(), |o| o.1);
            Ok(t[..end].to_string())
        })
        .collect()
}

fn minilm_speed(m: &MiniLm, sample: &[&str]) -> Res<()> {
    let t = Instant::now();
    m.embed(sample)?;
    println!(
        "MiniLM, {} texts at 256 tokens: {:.1} texts/s",
        sample.len(),
        sample.len() as f64 / t.elapsed().as_secs_f64()
    );
    let short = cut_to_tokens(sample, 128)?;
    let short: Vec<&str> = short.iter().map(String::as_str).collect();
    let t = Instant::now();
    m.embed(&short)?;
    println!(
        "MiniLM, {} texts at 128 tokens: {:.1} texts/s",
        sample.len(),
        sample.len() as f64 / t.elapsed().as_secs_f64()
    );
    Ok(())
}

fn static_speed(s: &StaticEmbedder, texts: &[&str]) -> Res<()> {
    let mb = texts.iter().map(|t| t.len()).sum::<usize>() as f64 / 1e6;
    for round in 1..=3 {
        let t = Instant::now();
        for x in texts {
            s.embed_text(x)?;
        }
        let serial = t.elapsed().as_secs_f64();
        let t = Instant::now();
        s.embed(texts)?;
        let par = t.elapsed().as_secs_f64();
        println!(
            "static, round {round}: one thread {:.0} texts/s ({:.1} MB/s); embed() on all cores {:.0} texts/s",
            texts.len() as f64 / serial,
            mb / serial,
            texts.len() as f64 / par
        );
    }
    Ok(())
}

/// Mean recall@10 of the static tier, and after MiniLM re-ranks its top-N for each N.
fn recall(exact: &[Vec<usize>], minilm: &[Vec<f32>], stat: &[Vec<f32>], depths: &[usize]) -> (f64, Vec<f64>) {
    let (mut plain, mut reranked) = (0usize, vec![0usize; depths.len()]);
    for (q, truth) in exact.iter().enumerate() {
        let cands = top_k(stat, q, *depths.iter().max().unwrap_or(&10));
        plain += overlap(&cands[..10.min(cands.len())], truth);
        for (r, &n) in reranked.iter_mut().zip(depths) {
            let mut c: Vec<(f32, usize)> = cands.iter().take(n).map(|&i| (dot(&minilm[q], &minilm[i]), i)).collect();
            c.sort_by(|a, b| b.0.total_cmp(&a.0));
            let top: Vec<usize> = c.iter().take(10).map(|x| x.1).collect();
            *r += overlap(&top, truth);
        }
    }
    let per = |n: usize| n as f64 / (exact.len() * 10) as f64;
    (per(plain), reranked.into_iter().map(per).collect())
}

fn main() -> Res<()> {
    let a = args()?;
    let lines: Vec<String> =
        std::fs::read_to_string(&a.texts)?.lines().map(serde_json::from_str).collect::<Result<_, _>>()?;
    let texts: Vec<&str> = lines.iter().map(String::as_str).collect();
    let mean_len = texts.iter().map(|t| t.len()).sum::<usize>() / texts.len().max(1);
    println!("{} texts, mean {} bytes", texts.len(), mean_len);
    let dir = default_model_dir();
    let m = MiniLm::load(&dir)?;
    let t = Instant::now();
    let raw = distill_raw(&m)?;
    println!("distillation: {} tokens in {:.1} s", raw.vocab_size(), t.elapsed().as_secs_f64());
    let minilm = minilm_vectors(&m, &texts, a.cache.as_ref())?;
    let sample_end = (a.queries + a.sample).min(texts.len());
    minilm_speed(&m, &texts[a.queries.min(sample_end)..sample_end])?;
    let exact: Vec<Vec<usize>> = (0..a.queries.min(texts.len())).map(|q| top_k(&minilm, q, 10)).collect();
    let depths = [20, 50, 100];
    let weightings =
        [Weighting::Zipf, Weighting::Sif(1e-4), Weighting::Sif(1e-3), Weighting::Sif(1e-5), Weighting::Uniform];
    for (i, w) in weightings.into_iter().enumerate() {
        let s = StaticEmbedder::from_raw(&raw, w);
        if i == 0 {
            static_speed(&s, &texts)?;
        }
        let stat = s.embed(&texts)?;
        let (r, rr) = recall(&exact, &minilm, &stat, &depths);
        let rr: Vec<String> = depths.iter().zip(rr).map(|(n, r)| format!("top-{n} {r:.3}")).collect();
        println!("{w:?}: recall@10 {r:.3}; after MiniLM re-ranks {}", rr.join(", "));
    }
    Ok(())
}
