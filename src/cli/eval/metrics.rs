//! Classification metrics of `sofer eval classify`: accuracy, macro-F1, Brier score and
//! expected calibration error, from each example's gold label, prediction and distribution.

use serde::Serialize;

/// Bins of the expected calibration error.
const ECE_BINS: usize = 10;

/// One classified example.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// Index of the right label.
    pub gold: usize,
    /// Index of the chosen label; `None` when the method abstained.
    pub predicted: Option<usize>,
    /// The probability given to each label (vote: its share of the votes).
    pub probabilities: Vec<f64>,
}

/// What a set of outcomes scores.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Scores {
    /// Correct predictions over examples.
    pub accuracy: f64,
    /// The unweighted mean of each label's F1 (labels that are neither gold nor predicted
    /// anywhere left out).
    pub macro_f1: f64,
    /// Mean over examples of Σ_k (p_k − [k = gold])²: 0 is perfect, 2 the worst.
    pub brier: f64,
    /// Σ over 10 equal-width confidence bins of |accuracy − mean confidence| × the bin's
    /// share of examples (an abstention has confidence 0 and is wrong).
    pub ece: f64,
}

/// Scores `outcomes` over `labels` labels.
pub fn score(outcomes: &[Outcome], labels: usize) -> Scores {
    let n = outcomes.len().max(1) as f64;
    let correct = outcomes
        .iter()
        .filter(|o| o.predicted == Some(o.gold))
        .count();
    let brier = outcomes
        .iter()
        .map(|o| {
            (0..labels)
                .map(|k| {
                    let p = o.probabilities.get(k).copied().unwrap_or(0.0);
                    let y = if k == o.gold { 1.0 } else { 0.0 };
                    (p - y).powi(2)
                })
                .sum::<f64>()
        })
        .sum::<f64>()
        / n;
    Scores {
        accuracy: correct as f64 / n,
        macro_f1: macro_f1(outcomes, labels),
        brier,
        ece: ece(outcomes),
    }
}

fn macro_f1(outcomes: &[Outcome], labels: usize) -> f64 {
    let f1s: Vec<f64> = (0..labels)
        .filter_map(|k| {
            let tp = outcomes
                .iter()
                .filter(|o| o.gold == k && o.predicted == Some(k))
                .count() as f64;
            let predicted = outcomes.iter().filter(|o| o.predicted == Some(k)).count() as f64;
            let gold = outcomes.iter().filter(|o| o.gold == k).count() as f64;
            if predicted + gold == 0.0 {
                None
            } else {
                Some(2.0 * tp / (predicted + gold))
            }
        })
        .collect();
    if f1s.is_empty() {
        0.0
    } else {
        f1s.iter().sum::<f64>() / f1s.len() as f64
    }
}

fn ece(outcomes: &[Outcome]) -> f64 {
    let mut bins = [(0usize, 0.0f64, 0usize); ECE_BINS]; // (count, confidence sum, correct)
    for o in outcomes {
        let confidence = o
            .predicted
            .and_then(|p| o.probabilities.get(p).copied())
            .unwrap_or(0.0)
            .clamp(0.0, 1.0);
        let bin = ((confidence * ECE_BINS as f64) as usize).min(ECE_BINS - 1);
        bins[bin].0 += 1;
        bins[bin].1 += confidence;
        bins[bin].2 += usize::from(o.predicted == Some(o.gold));
    }
    let n = outcomes.len().max(1) as f64;
    bins.iter()
        .filter(|b| b.0 > 0)
        .map(|&(count, confidence, correct)| {
            let c = count as f64;
            (correct as f64 / c - confidence / c).abs() * c / n
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome(gold: usize, predicted: Option<usize>, p: &[f64]) -> Outcome {
        Outcome {
            gold,
            predicted,
            probabilities: p.to_vec(),
        }
    }

    #[test]
    fn perfect_confident_answers_score_perfectly() {
        let all = [
            outcome(0, Some(0), &[1.0, 0.0]),
            outcome(1, Some(1), &[0.0, 1.0]),
        ];
        let s = score(&all, 2);
        assert_eq!(
            (s.accuracy, s.macro_f1, s.brier, s.ece),
            (1.0, 1.0, 0.0, 0.0)
        );
    }

    #[test]
    fn hand_computed_brier_f1_and_ece() {
        let all = [
            outcome(0, Some(0), &[0.8, 0.2]),
            outcome(0, Some(1), &[0.4, 0.6]),
            outcome(1, Some(1), &[0.3, 0.7]),
            outcome(1, None, &[0.0, 0.0]),
        ];
        let s = score(&all, 2);
        assert_eq!(s.accuracy, 0.5);
        // Brier: (0.04+0.04) + (0.36+0.36) + (0.09+0.09) + (0+1) = 1.98, over 4.
        assert!((s.brier - 0.495).abs() < 1e-12, "{}", s.brier);
        // F1: label 0 tp 1, predicted 1, gold 2 → 2/3; label 1 tp 1, predicted 2, gold 2 → 1/2.
        assert!((s.macro_f1 - (2.0 / 3.0 + 0.5) / 2.0).abs() < 1e-12);
        // Bins: 0.8 right; 0.6 wrong; 0.7 right; 0.0 wrong → |1-.8|+|0-.6|+|1-.7|+|0-0|, /4.
        assert!((s.ece - (0.2 + 0.6 + 0.3) / 4.0).abs() < 1e-12, "{}", s.ece);
    }
}
