//! Metrics: multi-label precision, recall and F1 (micro and macro), subset accuracy, single-label
//! accuracy with a confusion matrix, and latency percentiles.

use serde::Serialize;

/// Counts and scores of one label.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LabelScore {
    pub label: String,
    pub support: usize,
    pub true_positives: usize,
    pub false_positives: usize,
    pub false_negatives: usize,
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
}

/// Scores of a multi-label classifier on a test set.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MultiLabelScores {
    pub n: usize,
    pub micro_f1: f64,
    /// Mean F1 over the labels present in the gold labels or the predictions.
    pub macro_f1: f64,
    /// Share of messages whose predicted set equals the gold set exactly.
    pub subset_accuracy: f64,
    pub per_label: Vec<LabelScore>,
}

fn ratio(a: usize, b: usize) -> f64 {
    if b == 0 { 0.0 } else { a as f64 / b as f64 }
}

fn f1(p: f64, r: f64) -> f64 {
    if p + r == 0.0 { 0.0 } else { 2.0 * p * r / (p + r) }
}

/// Scores predicted label sets against gold ones (indices into `labels`).
pub fn multi_label(
    labels: &[String],
    gold: &[Vec<usize>],
    predicted: &[Vec<usize>],
) -> MultiLabelScores {
    let mut tp = vec![0usize; labels.len()];
    let mut fp = vec![0usize; labels.len()];
    let mut fn_ = vec![0usize; labels.len()];
    let mut exact = 0;
    for (g, p) in gold.iter().zip(predicted) {
        for &l in p {
            if g.contains(&l) { tp[l] += 1 } else { fp[l] += 1 }
        }
        for &l in g {
            if !p.contains(&l) {
                fn_[l] += 1;
            }
        }
        let (mut gs, mut ps) = (g.clone(), p.clone());
        gs.sort_unstable();
        gs.dedup();
        ps.sort_unstable();
        ps.dedup();
        if gs == ps {
            exact += 1;
        }
    }
    let per_label: Vec<LabelScore> = labels
        .iter()
        .enumerate()
        .map(|(l, label)| {
            let precision = ratio(tp[l], tp[l] + fp[l]);
            let recall = ratio(tp[l], tp[l] + fn_[l]);
            LabelScore {
                label: label.clone(),
                support: tp[l] + fn_[l],
                true_positives: tp[l],
                false_positives: fp[l],
                false_negatives: fn_[l],
                precision,
                recall,
                f1: f1(precision, recall),
            }
        })
        .collect();
    let (stp, sfp, sfn) = (tp.iter().sum(), fp.iter().sum::<usize>(), fn_.iter().sum::<usize>());
    let micro = f1(ratio(stp, stp + sfp), ratio(stp, stp + sfn));
    let present: Vec<&LabelScore> =
        per_label.iter().filter(|s| s.support + s.false_positives > 0).collect();
    let macro_f1 = if present.is_empty() {
        0.0
    } else {
        present.iter().map(|s| s.f1).sum::<f64>() / present.len() as f64
    };
    MultiLabelScores {
        n: gold.len(),
        micro_f1: micro,
        macro_f1,
        subset_accuracy: ratio(exact, gold.len()),
        per_label,
    }
}

/// Scores of a single-label classifier.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SingleLabelScores {
    pub n: usize,
    pub accuracy: f64,
    pub macro_f1: f64,
    pub per_label: Vec<LabelScore>,
    /// `confusion[gold][predicted]`.
    pub confusion: Vec<Vec<usize>>,
}

/// Scores single predicted labels against gold ones.
pub fn single_label(labels: &[String], gold: &[usize], predicted: &[usize]) -> SingleLabelScores {
    let mut confusion = vec![vec![0usize; labels.len()]; labels.len()];
    for (&g, &p) in gold.iter().zip(predicted) {
        confusion[g][p] += 1;
    }
    let as_sets = |v: &[usize]| v.iter().map(|&l| vec![l]).collect::<Vec<_>>();
    let multi = multi_label(labels, &as_sets(gold), &as_sets(predicted));
    SingleLabelScores {
        n: gold.len(),
        accuracy: multi.subset_accuracy,
        macro_f1: multi.macro_f1,
        per_label: multi.per_label,
        confusion,
    }
}

/// The `q`-quantile (0..=1) of `samples` by the nearest-rank method; 0 for none.
pub fn percentile(samples: &[f64], q: f64) -> f64 {
    if samples.is_empty() {
        return 0.0;
    }
    let mut sorted = samples.to_vec();
    sorted.sort_by(f64::total_cmp);
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multi_label_scores_match_a_hand_count() {
        let labels: Vec<String> = ["a", "b", "c"].iter().map(|s| s.to_string()).collect();
        let gold = vec![vec![0, 1], vec![1], vec![2], vec![]];
        let pred = vec![vec![0], vec![1, 2], vec![2], vec![]];
        let s = multi_label(&labels, &gold, &pred);
        // a: tp1; b: tp1 fn1; c: tp1 fp1.
        assert_eq!(s.per_label[1].false_negatives, 1);
        assert_eq!(s.per_label[2].false_positives, 1);
        assert!((s.micro_f1 - 0.75).abs() < 1e-9, "{}", s.micro_f1);
        let macro_f1 = (1.0 + 2.0 / 3.0 + 2.0 / 3.0) / 3.0;
        assert!((s.macro_f1 - macro_f1).abs() < 1e-9);
        assert!((s.subset_accuracy - 0.5).abs() < 1e-9);
    }

    #[test]
    fn single_label_accuracy_and_confusion() {
        let labels: Vec<String> = ["x", "y"].iter().map(|s| s.to_string()).collect();
        let s = single_label(&labels, &[0, 0, 1, 1], &[0, 1, 1, 1]);
        assert!((s.accuracy - 0.75).abs() < 1e-9);
        assert_eq!(s.confusion, vec![vec![1, 1], vec![0, 2]]);
    }

    #[test]
    fn percentiles_by_nearest_rank() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&v, 0.5), 50.0);
        assert_eq!(percentile(&v, 0.95), 95.0);
        assert_eq!(percentile(&[], 0.5), 0.0);
    }
}
