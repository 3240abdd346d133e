//! Majority voting over k sampled answers.

use std::collections::BTreeSet;

use serde::Serialize;

/// Votes one label received.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LabelVotes {
    /// The label, as the request named it.
    pub label: String,
    /// Samples that chose it.
    pub votes: usize,
    /// `votes` over all samples (abstentions included).
    pub share: f64,
}

/// The count of every label over k samples, and the samples that named none.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VoteTally {
    /// One entry per label, in the request's label order (zero-vote labels included).
    pub labels: Vec<LabelVotes>,
    /// Samples whose answer named no label (or, single-label, several).
    pub abstentions: usize,
    /// Samples counted: votes of single-label answers plus abstentions equal it.
    pub samples: usize,
}

impl VoteTally {
    /// Tallies single-label answers: `choices[i]` is sample i's label index, if any.
    pub fn single<S: AsRef<str>>(labels: &[S], choices: &[Option<usize>]) -> Self {
        let sets: Vec<BTreeSet<usize>> = choices
            .iter()
            .map(|c| c.iter().copied().collect())
            .collect();
        Self::multi(labels, &sets)
    }

    /// Tallies multi-label answers: `choices[i]` is the set sample i named (empty = abstain).
    pub fn multi<S: AsRef<str>>(labels: &[S], choices: &[BTreeSet<usize>]) -> Self {
        let samples = choices.len();
        let mut votes = vec![0usize; labels.len()];
        let mut abstentions = 0;
        for set in choices {
            if set.is_empty() {
                abstentions += 1;
            }
            for &i in set {
                if let Some(v) = votes.get_mut(i) {
                    *v += 1;
                }
            }
        }
        let labels = labels
            .iter()
            .zip(votes)
            .map(|(label, votes)| LabelVotes {
                label: label.as_ref().to_string(),
                votes,
                share: share(votes, samples),
            })
            .collect();
        Self {
            labels,
            abstentions,
            samples,
        }
    }

    /// The single-label winner: most votes, ties going to the label listed first; `None`
    /// when every sample abstained.
    pub fn winner(&self) -> Option<&LabelVotes> {
        self.labels
            .iter()
            .filter(|l| l.votes > 0)
            .fold(None, |best: Option<&LabelVotes>, l| match best {
                Some(b) if b.votes >= l.votes => Some(b),
                _ => Some(l),
            })
    }

    /// The multi-label result: every label named by more than half of the samples.
    pub fn majority(&self) -> Vec<&LabelVotes> {
        self.labels
            .iter()
            .filter(|l| 2 * l.votes > self.samples)
            .collect()
    }
}

fn share(votes: usize, samples: usize) -> f64 {
    if samples == 0 {
        0.0
    } else {
        votes as f64 / samples as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tally_sums_to_samples_and_winner_has_vote_share() {
        let labels = ["a", "b", "c"];
        let t = VoteTally::single(&labels, &[Some(1), None, Some(1), Some(0), Some(1)]);
        let votes: usize = t.labels.iter().map(|l| l.votes).sum();
        assert_eq!(votes + t.abstentions, 5);
        let w = t.winner().unwrap();
        assert_eq!((w.label.as_str(), w.votes, w.share), ("b", 3, 0.6));
    }

    #[test]
    fn ties_go_to_the_first_label_and_all_abstain_has_no_winner() {
        let labels = ["a", "b"];
        let t = VoteTally::single(&labels, &[Some(1), Some(0)]);
        assert_eq!(t.winner().unwrap().label, "a");
        let none = VoteTally::single(&labels, &[None, None]);
        assert!(none.winner().is_none());
        assert_eq!(none.abstentions, 2);
    }

    #[test]
    fn multi_label_majority_needs_more_than_half() {
        let labels = ["x", "y", "z"];
        let sets = [
            BTreeSet::from([0, 1]),
            BTreeSet::from([0]),
            BTreeSet::from([1, 2]),
            BTreeSet::new(),
        ];
        let t = VoteTally::multi(&labels, &sets);
        let chosen: Vec<&str> = t.majority().iter().map(|l| l.label.as_str()).collect();
        assert!(chosen.is_empty(), "2 of 4 is not a majority: {chosen:?}");
        let t = VoteTally::multi(&labels, &sets[..3]);
        let chosen: Vec<&str> = t.majority().iter().map(|l| l.label.as_str()).collect();
        assert_eq!(chosen, ["x", "y"]);
        assert_eq!(t.abstentions, 0);
    }
}
