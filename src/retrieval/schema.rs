//! The index schema and the analyzer settings it is built from, recorded beside the index
//! (`sofer-index.json`) so that queries are analyzed as the documents were.

use std::path::Path;

use serde::{Deserialize, Serialize};
use tantivy::schema::{
    Field, IndexRecordOption, Schema, TextFieldIndexing, TextOptions, STORED, STRING,
};

use super::analyzer::{self, PrefixRule};
use super::RetrievalError;

/// The file, inside the index directory, that records the [`AnalyzerSettings`].
pub const SETTINGS_FILE: &str = "sofer-index.json";

/// How passage text is analyzed; chosen when an index is created, fixed afterwards.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum AnalyzerSettings {
    /// Sofer's Hebrew analyzer (the product's choice).
    Hebrew(HebrewSettings),
    /// tantivy's `default` tokenizer (split on non-alphanumerics, lowercase): the baseline.
    TantivyDefault,
}

impl Default for AnalyzerSettings {
    fn default() -> Self {
        Self::Hebrew(HebrewSettings::default())
    }
}

/// The Hebrew analyzer's fields and how much each counts in a query.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct HebrewSettings {
    /// Prefix variants in the `text` field; `None` indexes exact words there.
    pub prefix: Option<PrefixRule>,
    /// Character n-gram size of the `text_gram` field; `None` leaves the field out.
    pub ngram: Option<usize>,
    /// Query weight of `text` (words and prefix variants).
    pub text_weight: f32,
    /// Query weight of `text_exact` (unstripped words); 0 leaves the field out.
    pub exact_weight: f32,
    /// Query weight of `text_gram`.
    pub gram_weight: f32,
    /// Drop question and function words ([`analyzer::QUERY_STOP_WORDS`]) from queries.
    pub stop_words: bool,
    /// BM25's average passage length is taken this many times longer than it is; above 1
    /// it softens the bias towards short passages (1 is plain BM25).
    pub length_scale: f32,
    /// How many BM25 candidates are re-ranked by query-word coverage; 0 for none.
    pub rerank_depth: usize,
    /// Re-ranked score = BM25 × coverage^this, where coverage is the idf-weighted share
    /// of query words a passage contains (a prefix variant counts fully, half the
    /// word's n-grams count half).
    pub coverage_exponent: f32,
    /// Re-ranked score × (1 + this × the idf-weighted share of neighbouring query word
    /// pairs that stand at most [`Self::proximity_window`] words apart); 0 for none.
    pub proximity_bonus: f32,
    /// How many words apart, at most, the two words of a close pair stand (1: adjacent).
    pub proximity_window: usize,
}

impl Default for HebrewSettings {
    /// The settings that measured best on HeQ (see `sofer eval retrieval`).
    fn default() -> Self {
        Self {
            prefix: Some(PrefixRule::Grammar),
            ngram: Some(3),
            text_weight: 1.0,
            exact_weight: 0.0,
            gram_weight: 0.3,
            stop_words: true,
            length_scale: 4.0,
            rerank_depth: 50,
            coverage_exponent: 3.0,
            proximity_bonus: 0.2,
            proximity_window: 3,
        }
    }
}

impl AnalyzerSettings {
    /// A short name for reports: `hebrew` or `tantivy-default`.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Hebrew(_) => "hebrew",
            Self::TantivyDefault => "tantivy-default",
        }
    }

    /// Reads the settings recorded in index directory `dir`.
    pub fn load(dir: &Path) -> Result<Self, RetrievalError> {
        let path = dir.join(SETTINGS_FILE);
        let bytes = std::fs::read(&path).map_err(|source| RetrievalError::Io { path, source })?;
        serde_json::from_slice(&bytes).map_err(|err| RetrievalError::NotSoferIndex {
            path: dir.to_path_buf(),
            reason: format!("{SETTINGS_FILE}: {err}"),
        })
    }

    /// Records the settings in `dir` atomically (a temporary file renamed over the old).
    pub fn save(&self, dir: &Path) -> Result<(), RetrievalError> {
        let path = dir.join(SETTINGS_FILE);
        let tmp = dir.join(format!("{SETTINGS_FILE}.tmp"));
        let json = serde_json::to_vec_pretty(self)
            .map_err(|err| RetrievalError::InvalidArgument(format!("analyzer settings: {err}")))?;
        let io = |source| RetrievalError::Io {
            path: path.clone(),
            source,
        };
        std::fs::write(&tmp, json).map_err(io)?;
        std::fs::rename(&tmp, &path).map_err(io)
    }

    fn validate(&self) -> Result<(), RetrievalError> {
        if let Self::Hebrew(h) = self {
            if let Some(n) = h.ngram {
                analyzer::WordNgrams::new(n)?;
            }
            let weights = [
                h.text_weight,
                h.exact_weight,
                h.gram_weight,
                h.length_scale,
                h.coverage_exponent,
                h.proximity_bonus,
            ];
            if weights.iter().any(|w| !w.is_finite() || *w < 0.0) || h.length_scale <= 0.0 {
                return Err(RetrievalError::InvalidArgument(
                    "weights, length scale, coverage exponent and proximity bonus must be finite and non-negative"
                        .into(),
                ));
            }
        }
        Ok(())
    }
}

/// Handles of the schema's fields.
#[derive(Debug, Clone)]
pub struct Fields {
    /// The collection (tenant/collection key): filters every query.
    pub collection: Field,
    /// `collection` + U+001F + document id: deletes and replaces a document.
    pub doc_key: Field,
    /// The collection, on a document's first passage only: counts documents.
    pub doc_head: Field,
    /// The document id, as given.
    pub doc_id: Field,
    /// The passage's number within its document, from 0.
    pub passage_id: Field,
    /// The paragraph of the document the passage comes from, from 0.
    pub paragraph: Field,
    /// Character offsets of the passage in its paragraph.
    pub char_start: Field,
    /// End (exclusive) of the passage in its paragraph, in characters.
    pub char_end: Field,
    /// The document title (stored for display, not searched).
    pub title: Field,
    /// The passage text: stored, searched with the main analyzer, highlighted.
    pub text: Field,
    /// Exact (unstripped) words, when the settings weigh them.
    pub text_exact: Option<Field>,
    /// Character n-grams, when the settings have them.
    pub text_gram: Option<Field>,
    /// The passage language code (`he`, `en`, `mixed`, `unknown`): a filter.
    pub language: Field,
    /// Where the document came from (a file path, a URL): for citations.
    pub source: Field,
    /// The document's translation (translation-memory entries).
    pub translation: Field,
    /// The document's labels (labelled examples), one value each; also a filter.
    pub labels: Field,
}

/// Separates collection and document id inside `doc_key`.
pub const KEY_SEPARATOR: char = '\u{1F}';

/// The `doc_key` of a document.
pub fn doc_key(collection: &str, doc_id: &str) -> String {
    format!("{collection}{KEY_SEPARATOR}{doc_id}")
}

fn analyzed(tokenizer: &str, stored: bool) -> TextOptions {
    let indexing = TextFieldIndexing::default()
        .set_tokenizer(tokenizer)
        .set_index_option(IndexRecordOption::WithFreqs);
    let options = TextOptions::default().set_indexing_options(indexing);
    if stored {
        options.set_stored()
    } else {
        options
    }
}

/// Builds the schema for `settings`.
pub fn build_schema(settings: &AnalyzerSettings) -> Result<(Schema, Fields), RetrievalError> {
    settings.validate()?;
    let mut builder = Schema::builder();
    let collection = builder.add_text_field("collection", STRING | STORED);
    let doc_key = builder.add_text_field("doc_key", STRING);
    let doc_head = builder.add_text_field("doc_head", STRING);
    let doc_id = builder.add_text_field("doc_id", STORED);
    let passage_id = builder.add_u64_field("passage_id", STORED);
    let paragraph = builder.add_u64_field("paragraph", STORED);
    let char_start = builder.add_u64_field("char_start", STORED);
    let char_end = builder.add_u64_field("char_end", STORED);
    let title = builder.add_text_field("title", STORED);
    let (text, text_exact, text_gram) = match settings {
        AnalyzerSettings::TantivyDefault => (
            builder.add_text_field("text", analyzed("default", true)),
            None,
            None,
        ),
        AnalyzerSettings::Hebrew(h) => {
            let main = h
                .prefix
                .map_or(analyzer::WORD, analyzer::prefix_analyzer_name);
            let text = builder.add_text_field("text", analyzed(main, true));
            let exact = (h.exact_weight > 0.0 && h.prefix.is_some())
                .then(|| builder.add_text_field("text_exact", analyzed(analyzer::WORD, false)));
            let gram = h.ngram.map(|n| {
                builder.add_text_field(
                    "text_gram",
                    analyzed(&analyzer::ngram_analyzer_name(n), false),
                )
            });
            (text, exact, gram)
        }
    };
    let language = builder.add_text_field("language", STRING | STORED);
    let source = builder.add_text_field("source", STORED);
    let translation = builder.add_text_field("translation", STORED);
    let labels = builder.add_text_field("labels", STRING | STORED);
    let fields = Fields {
        collection,
        doc_key,
        doc_head,
        doc_id,
        passage_id,
        paragraph,
        char_start,
        char_end,
        title,
        text,
        text_exact,
        text_gram,
        language,
        source,
        translation,
        labels,
    };
    Ok((builder.build(), fields))
}
