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

/// A small seeded generator (SplitMix64): the same seed gives the same clusters on every
/// machine, with no dependency.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed ^ 0x9E37_79B9_7F4A_7C15)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)`.
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in `0..n` (`n > 0`).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_f64() * n as f64) as usize % n
    }

    /// `k` distinct indices of `0..n` (all of them when `k >= n`), in increasing order.
    pub fn sample(&mut self, n: usize, k: usize) -> Vec<usize> {
        if k >= n {
            return (0..n).collect();
        }
        // Floyd's algorithm: k draws, no n-sized buffer.
        let mut chosen = std::collections::BTreeSet::new();
        for j in n - k..n {
            let t = self.below(j + 1);
            if !chosen.insert(t) {
                chosen.insert(j);
            }
        }
        chosen.into_iter().collect()
    }
}
