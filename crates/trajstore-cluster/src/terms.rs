//! c-TF-IDF terms of clusters, and the adjusted Rand index.

use std::collections::HashMap;

/// The `top` terms that best set each cluster apart, by c-TF-IDF: a term's weight in a
/// cluster is how many of the cluster's documents hold it, times
/// `ln(1 + A / f)`, where `A` is the mean number of terms per cluster and `f` the term's
/// count over all clusters. Documents count a term once. Ties go to the term first in
/// alphabetical order, so the result does not depend on hashing.
pub fn distinctive_terms(docs: &[Vec<String>], assignment: &[usize], k: usize, top: usize) -> Vec<Vec<(String, f64)>> {
    let mut per_cluster: Vec<HashMap<&str, u64>> = vec![HashMap::new(); k];
    let mut overall: HashMap<&str, u64> = HashMap::new();
    for (doc, &c) in docs.iter().zip(assignment) {
        let mut seen: Vec<&str> = doc.iter().map(String::as_str).collect();
        seen.sort_unstable();
        seen.dedup();
        for t in seen {
            *per_cluster[c].entry(t).or_default() += 1;
            *overall.entry(t).or_default() += 1;
        }
    }
    let words: u64 = per_cluster.iter().map(|m| m.values().sum::<u64>()).sum();
    let mean = words as f64 / k.max(1) as f64;
    per_cluster
        .iter()
        .map(|counts| {
            let mut weighted: Vec<(String, f64)> = counts
                .iter()
                .map(|(t, &n)| (t.to_string(), n as f64 * (1.0 + mean / overall[t] as f64).ln()))
                .collect();
            weighted.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
            weighted.truncate(top);
            weighted
        })
        .collect()
}

fn pairs(n: u64) -> f64 {
    (n * n.saturating_sub(1)) as f64 / 2.0
}

/// The adjusted Rand index of two labellings of the same items: 1 when they group the
/// items alike, about 0 for labellings as alike as chance makes them.
pub fn adjusted_rand_index(a: &[usize], b: &[usize]) -> f64 {
    assert_eq!(a.len(), b.len(), "two labellings of the same items");
    let mut table: HashMap<(usize, usize), u64> = HashMap::new();
    let (mut rows, mut cols): (HashMap<usize, u64>, HashMap<usize, u64>) = Default::default();
    for (&x, &y) in a.iter().zip(b) {
        *table.entry((x, y)).or_default() += 1;
        *rows.entry(x).or_default() += 1;
        *cols.entry(y).or_default() += 1;
    }
    let index: f64 = table.values().map(|&n| pairs(n)).sum();
    let row_pairs: f64 = rows.values().map(|&n| pairs(n)).sum();
    let col_pairs: f64 = cols.values().map(|&n| pairs(n)).sum();
    let expected = row_pairs * col_pairs / pairs(a.len() as u64).max(1.0);
    let max = (row_pairs + col_pairs) / 2.0;
    if max == expected {
        return 1.0;
    }
    (index - expected) / (max - expected)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(text: &str) -> Vec<String> {
        text.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn the_terms_of_a_cluster_are_those_the_others_lack() {
        let docs = [doc("timeout waiting for server"), doc("timeout waiting again"), doc("permission denied for file")];
        let terms = distinctive_terms(&docs, &[0, 0, 1], 2, 2);
        assert_eq!(terms[0][0].0, "timeout");
        assert_eq!(terms[0][1].0, "waiting");
        assert!(terms[1].iter().all(|(t, _)| t != "for"), "a word of both clusters ranks last: {:?}", terms[1]);
    }

    #[test]
    fn ari_is_one_for_the_same_grouping_and_near_zero_for_unrelated_ones() {
        assert_eq!(adjusted_rand_index(&[0, 0, 1, 1, 2], &[5, 5, 3, 3, 9]), 1.0);
        let a: Vec<usize> = (0..1000).map(|i| i % 4).collect();
        let b: Vec<usize> = (0..1000).map(|i| (i / 7) % 3).collect();
        assert!(adjusted_rand_index(&a, &b).abs() < 0.05);
        // A known value: sklearn's adjusted_rand_score([0,0,1,1], [0,0,1,2]) = 0.5714...
        assert!((adjusted_rand_index(&[0, 0, 1, 1], &[0, 0, 1, 2]) - 0.571_428_571).abs() < 1e-6);
    }
}
