//! Retrieval scores (the paper's and the reference code's): for each query, the rank of its
//! positive among the candidates by similarity; R@k is the percentage ranked within k.

use serde::{Deserialize, Serialize};

/// 1-based rank of candidate `positive` by `similarities`, higher first; a tie goes to the
/// earlier candidate (the zoo order retrieval itself uses).
pub fn rank_of(similarities: &[f32], positive: usize) -> usize {
    let own = similarities[positive];
    1 + similarities
        .iter()
        .enumerate()
        .filter(|&(j, &s)| s > own || (s == own && j < positive))
        .count()
}

/// 1-based rank of the best-ranked candidate among `positives`.
pub fn best_rank_of(similarities: &[f32], positives: &[usize]) -> usize {
    positives
        .iter()
        .map(|&p| rank_of(similarities, p))
        .min()
        .unwrap_or(usize::MAX)
}

/// Scores of a set of queries over one candidate pool.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RetrievalScores {
    pub queries: usize,
    pub candidates: usize,
    /// Percentages.
    pub recall_at_1: f64,
    pub recall_at_5: f64,
    pub recall_at_10: f64,
    pub mean_rank: f64,
    pub median_rank: f64,
}

impl RetrievalScores {
    pub fn from_ranks(ranks: &[usize], candidates: usize) -> Self {
        let n = ranks.len().max(1) as f64;
        let recall = |k: usize| 100.0 * ranks.iter().filter(|&&r| r <= k).count() as f64 / n;
        let mut sorted = ranks.to_vec();
        sorted.sort_unstable();
        let median = match sorted.len() {
            0 => f64::NAN,
            len if len % 2 == 1 => sorted[len / 2] as f64,
            len => (sorted[len / 2 - 1] + sorted[len / 2]) as f64 / 2.0,
        };
        Self {
            queries: ranks.len(),
            candidates,
            recall_at_1: recall(1),
            recall_at_5: recall(5),
            recall_at_10: recall(10),
            mean_rank: ranks.iter().sum::<usize>() as f64 / n,
            median_rank: median,
        }
    }

    /// Better for early stopping: higher R@1, then lower mean rank.
    pub fn better_than(&self, other: &Self) -> bool {
        self.recall_at_1 > other.recall_at_1
            || (self.recall_at_1 == other.recall_at_1 && self.mean_rank < other.mean_rank)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranks_break_ties_by_order_and_scores_count_them() {
        let s = [0.1, 0.9, 0.5, 0.9];
        assert_eq!(rank_of(&s, 1), 1);
        assert_eq!(rank_of(&s, 3), 2, "a tie goes to the earlier candidate");
        assert_eq!(rank_of(&s, 0), 4);
        assert_eq!(best_rank_of(&s, &[0, 2]), 3);
        let scores = RetrievalScores::from_ranks(&[1, 2, 7, 20], 20);
        assert_eq!(scores.recall_at_1, 25.0);
        assert_eq!(scores.recall_at_5, 50.0);
        assert_eq!(scores.recall_at_10, 75.0);
        assert_eq!(scores.mean_rank, 7.5);
        assert_eq!(scores.median_rank, 4.5);
        assert!(RetrievalScores::from_ranks(&[1, 3], 5).better_than(&scores));
    }
}
