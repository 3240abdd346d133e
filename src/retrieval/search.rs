//! Search: BM25 over the analyzer's fields, filtered by collection and language.
//!
//! The query is built from the analyzer's own tokens of the user's text — never parsed as
//! query syntax — so quotes, colons, `AND` or `*` are just text, and a query with no
//! words (only punctuation) finds nothing instead of failing.

use std::collections::BTreeSet;

use tantivy::collector::TopDocs;
use tantivy::query::{
    Bm25StatisticsProvider, BooleanQuery, BoostQuery, ConstScoreQuery, Occur, Query, TermQuery,
};
use tantivy::schema::{Field, IndexRecordOption, Value};
use tantivy::snippet::{Snippet, SnippetGenerator};
use tantivy::tokenizer::TextAnalyzer;
use tantivy::{Searcher, TantivyDocument, Term};

use super::rerank::QueryWords;
use super::schema::{AnalyzerSettings, HebrewSettings};
use super::{analyzer, RetrievalError, RetrievalIndex};
use crate::text::Language;

/// Opening marker of a highlighted word in [`Hit::snippet`].
pub const HIGHLIGHT_START: &str = "**";
/// Closing marker of a highlighted word in [`Hit::snippet`].
pub const HIGHLIGHT_END: &str = "**";
/// Longest snippet, in bytes of text around the best-matching words.
const SNIPPET_BYTES: usize = 300;
/// Most hits one search may ask for.
pub const MAX_K: usize = 1000;

/// What to search for.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchQuery {
    /// The user's words, taken literally.
    pub text: String,
    /// Only passages of this collection.
    pub collection: String,
    /// Only passages in this language, when given.
    pub language: Option<Language>,
    /// How many hits at most (1 to [`MAX_K`]).
    pub k: usize,
}

/// One passage found.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Hit {
    /// The id of the document it belongs to.
    pub doc_id: String,
    /// The passage's number within the document, from 0.
    pub passage_id: u64,
    /// The document's paragraph the passage comes from, from 0.
    pub paragraph: u64,
    /// The document title.
    pub title: String,
    /// The passage text.
    pub text: String,
    /// Character offset of the passage's start within its paragraph.
    pub char_start: u64,
    /// Character offset of the passage's end (exclusive) within its paragraph.
    pub char_end: u64,
    /// BM25 score (higher is better; comparable within one search only).
    pub score: f32,
    /// The best-matching stretch of the passage, matched words between
    /// [`HIGHLIGHT_START`] and [`HIGHLIGHT_END`] (Markdown bold, direction-neutral).
    pub snippet: String,
    /// The passage's language.
    pub language: Language,
    /// Where the document came from.
    pub source: String,
    /// The document's translation, when it is a translation-memory entry.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub translation: Option<String>,
    /// The document's labels, when it is a labelled example.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub labels: Vec<String>,
}

/// What tasks see of retrieval: passages for a query.
pub trait Retriever: Send + Sync {
    /// The best passages for `query`, best first.
    fn retrieve(&self, query: &SearchQuery) -> Result<Vec<Hit>, RetrievalError>;
}

impl Retriever for RetrievalIndex {
    fn retrieve(&self, query: &SearchQuery) -> Result<Vec<Hit>, RetrievalError> {
        self.search(query)
    }
}

fn filter(field: Field, value: &str) -> Box<dyn Query> {
    let term = TermQuery::new(
        Term::from_field_text(field, value),
        IndexRecordOption::Basic,
    );
    Box::new(ConstScoreQuery::new(Box::new(term), 0.0))
}

fn render_snippet(snippet: &Snippet, text: &str) -> String {
    let fragment = snippet.fragment();
    if fragment.is_empty() {
        let end = text
            .char_indices()
            .nth(SNIPPET_BYTES / 2)
            .map_or(text.len(), |(i, _)| i);
        return text[..end].to_string();
    }
    // Prefix variants share their word's offsets, so ranges repeat and must be merged.
    let mut ranges = snippet.highlighted().to_vec();
    ranges.sort_by_key(|r| (r.start, r.end));
    let mut merged: Vec<std::ops::Range<usize>> = Vec::with_capacity(ranges.len());
    for range in ranges {
        match merged.last_mut() {
            Some(last) if range.start <= last.end => last.end = last.end.max(range.end),
            _ => merged.push(range),
        }
    }
    let mut out = String::with_capacity(fragment.len() + 16);
    let mut at = 0;
    for range in merged {
        let (Some(before), Some(word)) =
            (fragment.get(at..range.start), fragment.get(range.clone()))
        else {
            continue;
        };
        out.push_str(before);
        out.push_str(HIGHLIGHT_START);
        out.push_str(word);
        out.push_str(HIGHLIGHT_END);
        at = range.end;
    }
    out.push_str(&fragment[at..]);
    out
}

/// BM25 statistics with the average passage length scaled (see
/// [`super::HebrewSettings::length_scale`]).
struct ScaledLengths<'a> {
    searcher: &'a Searcher,
    scale: f64,
}

impl Bm25StatisticsProvider for ScaledLengths<'_> {
    fn total_num_tokens(&self, field: Field) -> tantivy::Result<u64> {
        Ok((self.searcher.total_num_tokens(field)? as f64 * self.scale) as u64)
    }

    fn total_num_docs(&self) -> tantivy::Result<u64> {
        self.searcher.total_num_docs()
    }

    fn doc_freq(&self, term: &Term) -> tantivy::Result<u64> {
        Bm25StatisticsProvider::doc_freq(self.searcher, term)
    }
}

/// Byte offsets of the query's stop words, whose tokens (in every field) are skipped.
type StopOffsets = Vec<usize>;

impl RetrievalIndex {
    /// The fields a query searches, with their weights.
    fn query_fields(&self) -> Vec<(Field, f32)> {
        let f = &self.fields;
        match &self.settings {
            AnalyzerSettings::TantivyDefault => vec![(f.text, 1.0)],
            AnalyzerSettings::Hebrew(h) => {
                let mut out = vec![(f.text, h.text_weight)];
                out.extend(f.text_exact.map(|field| (field, h.exact_weight)));
                out.extend(f.text_gram.map(|field| (field, h.gram_weight)));
                out
            }
        }
    }

    fn hebrew(&self) -> Option<&HebrewSettings> {
        match &self.settings {
            AnalyzerSettings::Hebrew(h) => Some(h),
            AnalyzerSettings::TantivyDefault => None,
        }
    }

    fn analyzer(&self, field: Field) -> Result<TextAnalyzer, RetrievalError> {
        self.index
            .tokenizer_for_field(field)
            .map_err(|e| self.err(e))
    }

    /// The query's distinct words (analyzed, stop words left out) with their idf, and
    /// where its stop words are.
    fn query_words(
        &self,
        searcher: &Searcher,
        text: &str,
    ) -> Result<(Vec<(String, f32)>, StopOffsets), RetrievalError> {
        let mut words: Vec<(String, f32)> = Vec::new();
        let mut stops = Vec::new();
        let Some(h) = self.hebrew() else {
            return Ok((words, stops));
        };
        let Some(mut analyzer) = self.index.tokenizers().get(analyzer::WORD) else {
            return Ok((words, stops));
        };
        let total = searcher.num_docs() as f32;
        let mut stream = analyzer.token_stream(text);
        while let Some(token) = stream.next() {
            if h.stop_words && analyzer::is_query_stop_word(&token.text) {
                stops.push(token.offset_from);
                continue;
            }
            if words.iter().any(|(w, _)| *w == token.text) {
                continue;
            }
            let df = searcher
                .doc_freq(&Term::from_field_text(self.fields.text, &token.text))
                .map_err(|e| self.err(e))? as f32;
            let idf = (1.0 + (total - df + 0.5) / (df + 0.5)).ln();
            words.push((token.text.clone(), idf));
        }
        Ok((words, stops))
    }

    /// The scoring part of a query: each distinct token of each field, boosted by the
    /// field's weight; `None` when the text has no tokens.
    fn text_query(
        &self,
        text: &str,
        stops: &StopOffsets,
    ) -> Result<Option<BooleanQuery>, RetrievalError> {
        let mut clauses: Vec<(Occur, Box<dyn Query>)> = Vec::new();
        let mut seen = BTreeSet::new();
        for (field, weight) in self.query_fields() {
            if weight <= 0.0 {
                continue;
            }
            let mut analyzer = self.analyzer(field)?;
            seen.clear();
            let mut stream = analyzer.token_stream(text);
            while let Some(token) = stream.next() {
                if stops.contains(&token.offset_from) || !seen.insert(token.text.clone()) {
                    continue;
                }
                let term = Term::from_field_text(field, &token.text);
                let query = TermQuery::new(term, IndexRecordOption::WithFreqs);
                clauses.push((
                    Occur::Should,
                    Box::new(BoostQuery::new(Box::new(query), weight)),
                ));
            }
        }
        Ok((!clauses.is_empty()).then(|| BooleanQuery::new(clauses)))
    }

    /// Re-scores `candidates` by query-word coverage and proximity (Hebrew
    /// indexes with re-ranking on).
    fn rerank(
        &self,
        words: &[(String, f32)],
        candidates: &mut [(f32, TantivyDocument)],
    ) -> Result<(), RetrievalError> {
        let Some(h) = self.hebrew().filter(|h| h.rerank_depth > 0) else {
            return Ok(());
        };
        let query = QueryWords::new(words, h.prefix, h.ngram);
        if query.is_empty() {
            return Ok(());
        }
        let mut keys = self.analyzer(self.fields.text)?;
        let mut grams = self
            .fields
            .text_gram
            .map(|f| self.analyzer(f))
            .transpose()?;
        for (score, doc) in candidates.iter_mut() {
            let text = doc
                .get_first(self.fields.text)
                .and_then(|v| v.as_str())
                .unwrap_or_default();
            let found = query.measure(text, &mut keys, grams.as_mut(), h.proximity_window);
            *score *= found.coverage.powf(h.coverage_exponent)
                * (1.0 + h.proximity_bonus * found.proximity);
        }
        candidates.sort_by(|a, b| b.0.total_cmp(&a.0));
        Ok(())
    }

    /// The `k` best passages for `query`, best first; empty when the query has no words.
    pub fn search(&self, query: &SearchQuery) -> Result<Vec<Hit>, RetrievalError> {
        if query.k == 0 || query.k > MAX_K {
            return Err(RetrievalError::InvalidArgument(format!(
                "k must be 1 to {MAX_K}, got {}",
                query.k
            )));
        }
        let searcher = self.reader.searcher();
        let (words, stops) = self.query_words(&searcher, &query.text)?;
        let Some(text_query) = self.text_query(&query.text, &stops)? else {
            return Ok(Vec::new());
        };
        let f = &self.fields;
        let mut snippets =
            SnippetGenerator::create(&searcher, &text_query, f.text).map_err(|e| self.err(e))?;
        snippets.set_max_num_chars(SNIPPET_BYTES);
        let mut clauses: Vec<(Occur, Box<dyn Query>)> = vec![
            (Occur::Must, Box::new(text_query)),
            (Occur::Must, filter(f.collection, &query.collection)),
        ];
        if let Some(language) = query.language {
            clauses.push((Occur::Must, filter(f.language, language.code())));
        }
        let depth = self
            .hebrew()
            .map_or(query.k, |h| h.rerank_depth.max(query.k));
        let scale = self.hebrew().map_or(1.0, |h| f64::from(h.length_scale));
        let statistics = ScaledLengths {
            searcher: &searcher,
            scale,
        };
        let top = searcher
            .search_with_statistics_provider(
                &BooleanQuery::new(clauses),
                &TopDocs::with_limit(depth).order_by_score(),
                &statistics,
            )
            .map_err(|e| self.err(e))?;
        let mut candidates = Vec::with_capacity(top.len());
        for (score, address) in top {
            let doc: TantivyDocument = searcher.doc(address).map_err(|e| self.err(e))?;
            candidates.push((score, doc));
        }
        self.rerank(&words, &mut candidates)?;
        candidates.truncate(query.k);
        Ok(candidates
            .into_iter()
            .map(|(score, doc)| self.hit(score, &doc, &snippets))
            .collect())
    }

    fn hit(&self, score: f32, doc: &TantivyDocument, snippets: &SnippetGenerator) -> Hit {
        let f = &self.fields;
        let text_of = |field| {
            doc.get_first(field)
                .and_then(|v| v.as_str())
                .unwrap_or_default()
                .to_string()
        };
        let number_of = |field| {
            doc.get_first(field)
                .and_then(|v| v.as_u64())
                .unwrap_or_default()
        };
        let text = text_of(f.text);
        Hit {
            doc_id: text_of(f.doc_id),
            passage_id: number_of(f.passage_id),
            paragraph: number_of(f.paragraph),
            title: text_of(f.title),
            char_start: number_of(f.char_start),
            char_end: number_of(f.char_end),
            score,
            snippet: render_snippet(&snippets.snippet(&text), &text),
            language: text_of(f.language).parse().unwrap_or(Language::Unknown),
            source: text_of(f.source),
            translation: doc
                .get_first(f.translation)
                .and_then(|v| v.as_str())
                .map(str::to_string),
            labels: doc
                .get_all(f.labels)
                .filter_map(|v| v.as_str())
                .map(str::to_string)
                .collect(),
            text,
        }
    }
}
