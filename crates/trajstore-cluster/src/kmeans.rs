//! k-means (Lloyd's iterations from k-means++ seeds), the silhouette, and the choice of k.
//! Points are rows of `dim` numbers in one flat slice.

use crate::{below, sample, Rng};

/// A clustering of `n` points into `k` clusters.
#[derive(Debug, Clone, PartialEq)]
pub struct Clustering {
    pub k: usize,
    /// The cluster of each point.
    pub assignment: Vec<usize>,
    /// `k` rows of `dim` numbers: each cluster's mean.
    pub centroids: Vec<f32>,
    /// The sum of squared distances of the points to their centroids.
    pub inertia: f64,
}

fn distance2(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum()
}

/// The nearest centroid of each point and the squared distance to it, on every core.
fn assign(points: &[f32], dim: usize, centroids: &[f32]) -> Vec<(usize, f32)> {
    let n = points.len() / dim;
    let nearest = |p: &[f32]| {
        centroids
            .chunks_exact(dim)
            .enumerate()
            .map(|(c, centroid)| (c, distance2(p, centroid)))
            .fold((0, f32::INFINITY), |best, d| if d.1 < best.1 { d } else { best })
    };
    let threads = std::thread::available_parallelism().map_or(1, |t| t.get()).min(n.max(1));
    let per_thread = n.div_ceil(threads).max(1);
    let mut out = vec![(0, 0.0); n];
    std::thread::scope(|s| {
        for (chunk, slots) in points.chunks(per_thread * dim).zip(out.chunks_mut(per_thread)) {
            s.spawn(move || {
                for (p, slot) in chunk.chunks_exact(dim).zip(slots) {
                    *slot = nearest(p);
                }
            });
        }
    });
    out
}

/// k-means++ seeds: the first point at random, each next one with a probability
/// proportional to its squared distance to the nearest seed so far.
fn seeds(points: &[f32], dim: usize, k: usize, rng: &mut Rng) -> Vec<f32> {
    let n = points.len() / dim;
    let row = |i: usize| &points[i * dim..(i + 1) * dim];
    let mut centroids = row(below(rng, n)).to_vec();
    let mut d2: Vec<f32> = (0..n).map(|i| distance2(row(i), &centroids[..dim])).collect();
    while centroids.len() < k * dim {
        let total: f64 = d2.iter().map(|&d| d as f64).sum();
        let pick = if total > 0.0 {
            let mut target = rng.f64() * total;
            d2.iter().position(|&d| {
                target -= d as f64;
                target <= 0.0
            })
        } else {
            None
        }
        .unwrap_or_else(|| below(rng, n));
        let seed = row(pick).to_vec();
        for (i, d) in d2.iter_mut().enumerate() {
            *d = d.min(distance2(row(i), &seed));
        }
        centroids.extend(seed);
    }
    centroids
}

/// `k` clusters of the `points` (rows of `dim`), from `seed`, after at most
/// `max_iterations` rounds (fewer once no point changes cluster). `k` is capped at the
/// number of points.
pub fn kmeans(points: &[f32], dim: usize, k: usize, seed: u64, max_iterations: usize) -> Clustering {
    let n = points.len() / dim;
    let k = k.min(n).max(1);
    if n == 0 {
        return Clustering { k: 0, assignment: Vec::new(), centroids: Vec::new(), inertia: 0.0 };
    }
    let mut rng = Rng::new(seed);
    let mut centroids = seeds(points, dim, k, &mut rng);
    let mut assignment = vec![usize::MAX; n];
    let mut inertia = 0.0;
    for _ in 0..max_iterations.max(1) {
        let nearest = assign(points, dim, &centroids);
        inertia = nearest.iter().map(|&(_, d)| d as f64).sum();
        let changed = nearest.iter().zip(&assignment).filter(|((c, _), a)| c != *a).count();
        for (a, (c, _)) in assignment.iter_mut().zip(&nearest) {
            *a = *c;
        }
        let mut sums = vec![0f64; k * dim];
        let mut counts = vec![0usize; k];
        for (i, &c) in assignment.iter().enumerate() {
            counts[c] += 1;
            for (s, &x) in sums[c * dim..(c + 1) * dim].iter_mut().zip(&points[i * dim..(i + 1) * dim]) {
                *s += x as f64;
            }
        }
        for c in 0..k {
            if counts[c] == 0 {
                // An empty cluster takes the point farthest from its own centroid.
                let far = (0..n).max_by(|&a, &b| nearest[a].1.total_cmp(&nearest[b].1)).unwrap_or(0);
                centroids[c * dim..(c + 1) * dim].copy_from_slice(&points[far * dim..(far + 1) * dim]);
                continue;
            }
            for (x, s) in centroids[c * dim..(c + 1) * dim].iter_mut().zip(&sums[c * dim..(c + 1) * dim]) {
                *x = (*s / counts[c] as f64) as f32;
            }
        }
        if changed == 0 {
            break;
        }
    }
    Clustering { k, assignment, centroids, inertia }
}

/// The mean silhouette of `assignment` over the points `sample` (indices), with
/// distances between sampled points only: from -1 (wrong clusters) to 1 (tight and apart).
pub fn silhouette(points: &[f32], dim: usize, assignment: &[usize], k: usize, sample: &[usize]) -> f64 {
    if k < 2 || sample.len() < 2 {
        return 0.0;
    }
    let row = |i: usize| &points[i * dim..(i + 1) * dim];
    let mut total = 0.0;
    for &i in sample {
        let mut sum = vec![0f64; k];
        let mut count = vec![0usize; k];
        for &j in sample {
            if i != j {
                sum[assignment[j]] += (distance2(row(i), row(j)) as f64).sqrt();
                count[assignment[j]] += 1;
            }
        }
        let own = assignment[i];
        if count[own] == 0 {
            continue; // a cluster of one point has silhouette 0
        }
        let a = sum[own] / count[own] as f64;
        let b = (0..k)
            .filter(|&c| c != own && count[c] > 0)
            .map(|c| sum[c] / count[c] as f64)
            .fold(f64::INFINITY, f64::min);
        if b.is_finite() && a.max(b) > 0.0 {
            total += (b - a) / a.max(b);
        }
    }
    total / sample.len() as f64
}

/// How close to the best silhouette the chosen k must come.
pub const NEAR_BEST: f64 = 0.85;

/// The smallest k of `range` whose silhouette reaches [`NEAR_BEST`] of the best one: the
/// coarsest grouping that is nearly as clear as any. Failure texts often hold finer
/// groups (one per wording of one failure) whose silhouette is a little higher; those
/// are for an explicit k. Each k is tried by k-means over at most `fit_sample` points and
/// scored over at most `score_sample` of them. Also returns every score.
pub fn choose_k(
    points: &[f32],
    dim: usize,
    range: std::ops::RangeInclusive<usize>,
    seed: u64,
    fit_sample: usize,
    score_sample: usize,
) -> (usize, Vec<(usize, f64)>) {
    let n = points.len() / dim;
    let mut rng = Rng::new(seed ^ 0x5eed);
    let fit = sample(&mut rng, n, fit_sample);
    let subset: Vec<f32> = fit.iter().flat_map(|&i| points[i * dim..(i + 1) * dim].iter().copied()).collect();
    let score_idx = sample(&mut rng, fit.len(), score_sample);
    let mut scores = Vec::new();
    for k in range.filter(|&k| k >= 2 && k <= fit.len()) {
        let c = kmeans(&subset, dim, k, seed, 50);
        scores.push((k, silhouette(&subset, dim, &c.assignment, c.k, &score_idx)));
    }
    let best = scores.iter().map(|s| s.1).fold(f64::NEG_INFINITY, f64::max);
    let bar = best - (1.0 - NEAR_BEST) * best.abs();
    let k = scores.iter().find(|s| s.1 >= bar).map_or(2, |s| s.0);
    (k, scores)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `per` points around each of `centres` (2-D), jittered.
    fn blobs(centres: &[(f32, f32)], per: usize, seed: u64) -> (Vec<f32>, Vec<usize>) {
        let mut rng = Rng::new(seed);
        let (mut points, mut truth) = (Vec::new(), Vec::new());
        for (c, &(x, y)) in centres.iter().enumerate() {
            for _ in 0..per {
                points.push(x + (rng.f64() as f32 - 0.5) * 0.2);
                points.push(y + (rng.f64() as f32 - 0.5) * 0.2);
                truth.push(c);
            }
        }
        (points, truth)
    }

    #[test]
    fn separated_blobs_are_found_and_the_same_seed_gives_the_same_clusters() {
        let (points, truth) = blobs(&[(0.0, 0.0), (5.0, 5.0), (0.0, 5.0)], 50, 1);
        let c = kmeans(&points, 2, 3, 7, 100);
        assert!(crate::adjusted_rand_index(&c.assignment, &truth) > 0.99);
        assert_eq!(c, kmeans(&points, 2, 3, 7, 100));
        let (k, scores) = choose_k(&points, 2, 2..=6, 7, 1000, 1000);
        assert_eq!(k, 3, "{scores:?}");
        assert!(silhouette(&points, 2, &c.assignment, 3, &(0..150).collect::<Vec<_>>()) > 0.8);
    }

    #[test]
    fn degenerate_inputs_do_not_panic() {
        assert_eq!(kmeans(&[], 3, 4, 1, 10).assignment, Vec::<usize>::new());
        let one = kmeans(&[1.0, 0.0], 2, 4, 1, 10);
        assert_eq!((one.k, one.assignment), (1, vec![0]));
        let same = kmeans(&[1.0, 1.0, 1.0, 1.0, 1.0, 1.0], 2, 2, 1, 10);
        assert_eq!(same.assignment.len(), 3);
        assert_eq!(silhouette(&[1.0, 1.0], 2, &[0], 1, &[0]), 0.0);
    }
}
