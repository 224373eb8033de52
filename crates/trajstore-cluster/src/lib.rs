//! Clustering for failure-mode analysis, as plain functions over vectors and words:
//!
//! * [`kmeans`]: k-means with k-means++ seeding from a given seed (the same input and
//!   seed give the same clusters), over L2-normalised vectors, so that squared Euclidean
//!   distance orders points as cosine distance does. Its assignment step runs on every
//!   core.
//! * [`silhouette`]: the mean silhouette of a clustering over a sample, to choose k.
//! * [`choose_k`]: k-means over a sample for each k of a range, the k of best silhouette.
//! * [`distinctive_terms`]: c-TF-IDF, the words that set each cluster apart.
//! * [`adjusted_rand_index`]: agreement of two labellings, for tests against planted
//!   labels.

mod kmeans;
mod terms;

pub use kmeans::{choose_k, kmeans, silhouette, Clustering};
pub use terms::{adjusted_rand_index, distinctive_terms};

pub use trajstore_model::demo::Rng;

/// Uniform in `0..n` (`n > 0`).
pub(crate) fn below(rng: &mut Rng, n: usize) -> usize {
    rng.range(0, n as u64 - 1) as usize
}

/// `k` distinct indices of `0..n` (all of them when `k >= n`), in increasing order.
pub(crate) fn sample(rng: &mut Rng, n: usize, k: usize) -> Vec<usize> {
    if k >= n {
        return (0..n).collect();
    }
    // Floyd's algorithm: k draws, no n-sized buffer.
    let mut chosen = std::collections::BTreeSet::new();
    for j in n - k..n {
        let t = below(rng, j + 1);
        if !chosen.insert(t) {
            chosen.insert(j);
        }
    }
    chosen.into_iter().collect()
}
