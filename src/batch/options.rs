//! What a batch job does to each item: the task, and its options from the command line,
//! overridden field by field by an item's own `options`.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::tasks::{
    ClassifyMethod, ClassifyRequest, GlossaryEntry, LabelSpec, SamplingRequest, SummarizeRequest,
    TaskError, TranslateRequest,
};

/// The task a job runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BatchTask {
    /// `summarize`
    Summarize,
    /// `translate`
    Translate,
    /// `classify`
    Classify,
}

impl BatchTask {
    /// The name used on the command line and in output records.
    pub fn name(self) -> &'static str {
        match self {
            Self::Summarize => "summarize",
            Self::Translate => "translate",
            Self::Classify => "classify",
        }
    }
}

impl std::str::FromStr for BatchTask {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "summarize" => Ok(Self::Summarize),
            "translate" => Ok(Self::Translate),
            "classify" => Ok(Self::Classify),
            other => Err(format!(
                "unknown task {other:?} (summarize, translate, classify)"
            )),
        }
    }
}

/// Task options, named as the one-shot commands' flags. Every field is optional; what a
/// task does not use is ignored.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaskOptions {
    /// classify: the labels.
    #[serde(
        default,
        deserialize_with = "labels",
        skip_serializing_if = "Option::is_none"
    )]
    pub labels: Option<Vec<String>>,
    /// classify: several labels may be chosen.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub multi_label: Option<bool>,
    /// classify: `score` or `vote`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub method: Option<ClassifyMethod>,
    /// classify: samples to vote.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub votes: Option<usize>,
    /// classify, multi-label score: the least probability of a chosen label.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub threshold: Option<f64>,
    /// translate: candidates per paragraph.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub candidates: Option<usize>,
    /// Sampling temperature.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f32>,
    /// The sampler seed. On the command line it seeds every item differently (mixed with
    /// the item's id); in an item's options it is used as given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    /// Output budget of each generation call.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<usize>,
    /// translate: the source language.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_lang: Option<String>,
    /// translate, summarize: the output language.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_lang: Option<String>,
    /// summarize: short, medium, long or a number of words.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub length: Option<String>,
    /// summarize: paragraph or bullets.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub style: Option<String>,
    /// summarize: a question the summary should answer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub focus: Option<String>,
    /// summarize: the largest map chunk in tokens.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chunk_tokens: Option<usize>,
    /// translate: terms that must be used.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub glossary: Option<Vec<GlossaryEntry>>,
    /// The index collection for context, translation memory or examples.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub collection: Option<String>,
}

/// `labels` as a list or one comma-separated string.
fn labels<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Vec<String>>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Labels {
        Joined(String),
        List(Vec<String>),
    }
    Ok(Option::<Labels>::deserialize(d)?.map(|l| match l {
        Labels::Joined(s) => s.split(',').map(str::to_string).collect(),
        Labels::List(v) => v,
    }))
}

impl TaskOptions {
    /// These options with every field `item` sets taken from it instead; the seed is
    /// `item`'s when it sets one, else this seed mixed with `id`.
    pub fn for_item(&self, item: &TaskOptions, id: &str) -> TaskOptions {
        macro_rules! pick {
            ($($f:ident),*) => { TaskOptions { $($f: item.$f.clone().or_else(|| self.$f.clone()),)* seed: Some(item.seed.unwrap_or_else(|| item_seed(self.seed.unwrap_or(0), id))) } };
        }
        pick!(
            labels,
            multi_label,
            method,
            votes,
            threshold,
            candidates,
            temperature,
            max_tokens,
            source_lang,
            target_lang,
            length,
            style,
            focus,
            chunk_tokens,
            glossary,
            collection
        )
    }

    fn sampling(&self) -> SamplingRequest {
        SamplingRequest {
            temperature: self.temperature,
            seed: self.seed,
            max_tokens: self.max_tokens,
        }
    }

    /// The summarize request for `text`.
    pub fn summarize(&self, text: String) -> SummarizeRequest {
        SummarizeRequest {
            text,
            length: self.length.clone(),
            style: self.style.clone(),
            output_language: self.target_lang.clone(),
            focus: self.focus.clone(),
            sampling: self.sampling(),
            collection: self.collection.clone(),
            chunk_tokens: self.chunk_tokens,
        }
    }

    /// The translate request for `text`.
    pub fn translate(&self, text: String) -> TranslateRequest {
        TranslateRequest {
            text,
            source_language: self.source_lang.clone(),
            target_language: self.target_lang.clone(),
            glossary: self.glossary.clone().unwrap_or_default(),
            candidates: self.candidates,
            sampling: self.sampling(),
            collection: self.collection.clone(),
        }
    }

    /// The classify request for `text`; without labels, an `INVALID_ARGUMENT` on `labels`.
    pub fn classify(&self, text: String) -> Result<ClassifyRequest, TaskError> {
        let labels = self
            .labels
            .as_ref()
            .filter(|l| !l.is_empty())
            .ok_or_else(|| {
                TaskError::invalid("labels", "classify needs --labels or item options.labels")
            })?;
        Ok(ClassifyRequest {
            text,
            labels: labels
                .iter()
                .map(|name| LabelSpec {
                    name: name.trim().to_string(),
                    description: None,
                })
                .collect(),
            multi_label: self.multi_label.unwrap_or(false),
            method: self.method,
            votes: self.votes,
            threshold: self.threshold,
            sampling: self.sampling(),
            language: None,
            collection: self.collection.clone(),
        })
    }
}

/// The seed of item `id` in a job seeded with `seed`: the same whatever order, shard or
/// concurrency the item is processed in.
pub fn item_seed(seed: u64, id: &str) -> u64 {
    let mut hash = Sha256::new();
    hash.update(seed.to_le_bytes());
    hash.update(id.as_bytes());
    let digest = hash.finalize();
    u64::from_le_bytes(digest[..8].try_into().unwrap_or([0; 8]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn item_options_override_field_by_field_and_seeds_follow_the_id() {
        let job = TaskOptions {
            labels: Some(vec!["a".into(), "b".into()]),
            votes: Some(5),
            seed: Some(7),
            ..Default::default()
        };
        let item: TaskOptions = serde_json::from_str(r#"{"votes": 3, "labels": "x,y"}"#).unwrap();
        let merged = job.for_item(&item, "doc-1");
        assert_eq!(merged.votes, Some(3));
        assert_eq!(merged.labels, Some(vec!["x".to_string(), "y".to_string()]));
        assert_eq!(merged.seed, Some(item_seed(7, "doc-1")));
        assert_ne!(item_seed(7, "doc-1"), item_seed(7, "doc-2"));
        let own_seed: TaskOptions = serde_json::from_str(r#"{"seed": 42}"#).unwrap();
        assert_eq!(job.for_item(&own_seed, "doc-1").seed, Some(42));
        assert!(serde_json::from_str::<TaskOptions>(r#"{"vote": 3}"#).is_err());
        let scored: TaskOptions =
            serde_json::from_str(r#"{"method": "score", "threshold": 0.4}"#).unwrap();
        let merged = job.for_item(&scored, "doc-1");
        assert_eq!(
            (merged.method, merged.threshold, merged.votes),
            (Some(ClassifyMethod::Score), Some(0.4), Some(5))
        );
        assert!(serde_json::from_str::<TaskOptions>(r#"{"method": "ballot"}"#).is_err());
    }
}
