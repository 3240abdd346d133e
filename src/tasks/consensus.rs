//! Consensus of k free-text candidates by minimum Bayes risk: the candidate with the
//! highest mean chrF to the others.

use serde::Serialize;

use super::chrf::{CharNgrams, ChrfStats};

/// Which candidate won, and every candidate's mean chrF to the others.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Consensus {
    /// Index of the chosen candidate (ties go to the earliest).
    pub chosen: usize,
    /// Per candidate, its mean chrF (0–100) as hypothesis against each other candidate as
    /// reference; 100 for a lone candidate.
    pub mean_chrf: Vec<f64>,
}

/// Picks the consensus of `candidates` (empty → candidate 0 with no scores).
///
/// ```
/// use sofer::tasks::consensus::mbr;
/// let picked = mbr(&["the cat sat", "the cat sat down", "a dog ran"]);
/// assert_eq!(picked.chosen, 1);
/// ```
pub fn mbr<S: AsRef<str>>(candidates: &[S]) -> Consensus {
    let grams: Vec<CharNgrams> = candidates
        .iter()
        .map(|c| CharNgrams::new(c.as_ref()))
        .collect();
    let k = grams.len();
    let mean_chrf: Vec<f64> = (0..k)
        .map(|i| {
            if k == 1 {
                return 100.0;
            }
            let total: f64 = (0..k)
                .filter(|&j| j != i)
                .map(|j| ChrfStats::between(&grams[i], &grams[j]).score())
                .sum();
            total / (k - 1) as f64
        })
        .collect();
    let chosen = mean_chrf.iter().enumerate().fold(
        0,
        |best, (i, &s)| if s > mean_chrf[best] { i } else { best },
    );
    Consensus { chosen, mean_chrf }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tasks::chrf::sentence_chrf;

    #[test]
    fn the_outlier_loses_and_the_central_candidate_wins() {
        let c = [
            "הכלב רץ בפארק היום",
            "הכלב רץ בפארק",
            "הכלב רץ בגן היום",
            "מחר ירד גשם כבד",
        ];
        let got = mbr(&c);
        assert_eq!(got.chosen, 0);
        let expected: f64 = (1..4).map(|j| sentence_chrf(c[0], c[j])).sum::<f64>() / 3.0;
        assert!((got.mean_chrf[0] - expected).abs() < 1e-9);
        let worst =
            got.mean_chrf
                .iter()
                .enumerate()
                .fold(0, |w, (i, &s)| if s < got.mean_chrf[w] { i } else { w });
        assert_eq!(worst, 3);
    }

    #[test]
    fn one_candidate_and_identical_candidates() {
        assert_eq!(mbr(&["only"]).chosen, 0);
        let same = mbr(&["a b c", "a b c", "a b c"]);
        assert_eq!(same.chosen, 0);
        assert!(same.mean_chrf.iter().all(|&s| s == 100.0));
        assert_eq!(mbr::<&str>(&[]).mean_chrf.len(), 0);
    }
}
