//! Between the API's messages and the tasks' types: requests become task requests (the
//! tasks validate them, naming the field), results become responses.

use super::content::{self, SourceFile};
use super::pb;
use super::status::{bad_request, ApiResult};
use crate::documents::Format;
use crate::retrieval::{Document, Hit};
use crate::tasks::{
    Classification, ClassifyMethod, ClassifyRequest, GlossaryEntry, LabelSpec, SamplingRequest,
    SummarizeRequest, Summary, TranslateRequest, Translation, Usage,
};
use crate::text;

use crate::limits::{MAX_GLOSSARY_ENTRIES, MAX_LABELS};

/// A language field: unspecified is `None`; an unknown value names the field.
pub fn language(field: &str, value: i32) -> ApiResult<Option<&'static str>> {
    match pb::Language::try_from(value) {
        Ok(pb::Language::Unspecified) => Ok(None),
        Ok(pb::Language::Hebrew) => Ok(Some("he")),
        Ok(pb::Language::English) => Ok(Some("en")),
        Err(_) => Err(bad_request(
            field,
            format!("unknown Language value {value}"),
        )),
    }
}

fn language_of_code(code: &str) -> pb::Language {
    match code {
        "he" => pb::Language::Hebrew,
        "en" => pb::Language::English,
        _ => pb::Language::Unspecified,
    }
}

fn sampling(options: Option<pb::SamplingOptions>) -> SamplingRequest {
    let options = options.unwrap_or_default();
    SamplingRequest {
        temperature: options.temperature,
        seed: options.seed,
        max_tokens: options.max_tokens.map(|n| n as usize),
    }
}

fn non_empty(s: String) -> Option<String> {
    (!s.is_empty()).then_some(s)
}

fn zero_none(n: u32) -> Option<usize> {
    (n > 0).then_some(n as usize)
}

/// The summarize request of `req`.
pub fn summarize_request(req: pb::SummarizeRequest) -> ApiResult<SummarizeRequest> {
    let length = if req.target_words > 0 {
        Some(req.target_words.to_string())
    } else {
        match pb::SummaryLength::try_from(req.length) {
            Ok(pb::SummaryLength::Unspecified) => None,
            Ok(pb::SummaryLength::Short) => Some("short".into()),
            Ok(pb::SummaryLength::Medium) => Some("medium".into()),
            Ok(pb::SummaryLength::Long) => Some("long".into()),
            Err(_) => {
                return Err(bad_request(
                    "length",
                    format!("unknown SummaryLength value {}", req.length),
                ))
            }
        }
    };
    let style = match pb::SummaryStyle::try_from(req.style) {
        Ok(pb::SummaryStyle::Unspecified) => None,
        Ok(pb::SummaryStyle::Paragraph) => Some("paragraph".into()),
        Ok(pb::SummaryStyle::Bullets) => Some("bullets".into()),
        Err(_) => {
            return Err(bad_request(
                "style",
                format!("unknown SummaryStyle value {}", req.style),
            ))
        }
    };
    let content = content::read(req.text, req.content, &req.media_type, "")?;
    Ok(SummarizeRequest {
        text: content.text,
        length,
        style,
        output_language: language("output_language", req.output_language)?.map(String::from),
        focus: non_empty(req.focus),
        sampling: sampling(req.sampling),
        collection: non_empty(req.collection),
        chunk_tokens: zero_none(req.chunk_tokens),
    })
}

/// The translate request of `req`, and the file it carried.
pub fn translate_request(
    req: pb::TranslateRequest,
) -> ApiResult<(TranslateRequest, Option<SourceFile>)> {
    if req.glossary.len() > MAX_GLOSSARY_ENTRIES {
        return Err(bad_request(
            "glossary",
            format!(
                "at most {MAX_GLOSSARY_ENTRIES} entries, got {}",
                req.glossary.len()
            ),
        ));
    }
    let content = content::read(req.text, req.content, &req.media_type, "")?;
    let request = TranslateRequest {
        text: content.text,
        source_language: language("source_language", req.source_language)?
            .or(content.language)
            .map(String::from),
        target_language: language("target_language", req.target_language)?.map(String::from),
        glossary: req
            .glossary
            .into_iter()
            .map(|e| GlossaryEntry {
                source: e.source,
                target: e.target,
            })
            .collect(),
        candidates: zero_none(req.candidates),
        sampling: sampling(req.sampling),
        collection: non_empty(req.collection),
    };
    Ok((request, content.file))
}

/// The classify request of `req`.
pub fn classify_request(req: pb::ClassifyRequest) -> ApiResult<ClassifyRequest> {
    if req.labels.len() > MAX_LABELS {
        return Err(bad_request(
            "labels",
            format!("at most {MAX_LABELS} labels, got {}", req.labels.len()),
        ));
    }
    let content = content::read(req.text, req.content, &req.media_type, "")?;
    Ok(ClassifyRequest {
        text: content.text,
        labels: req
            .labels
            .into_iter()
            .map(|l| LabelSpec {
                name: l.name,
                description: non_empty(l.description),
            })
            .collect(),
        multi_label: req.multi_label,
        method: classify_method(req.method)?,
        votes: zero_none(req.votes),
        threshold: (req.threshold != 0.0).then_some(req.threshold),
        sampling: sampling(req.sampling),
        language: language("instruction_language", req.instruction_language)?.map(String::from),
        collection: non_empty(req.collection),
    })
}

fn classify_method(value: i32) -> ApiResult<Option<ClassifyMethod>> {
    match pb::ClassifyMethod::try_from(value) {
        Ok(pb::ClassifyMethod::Unspecified) => Ok(None),
        Ok(pb::ClassifyMethod::Score) => Ok(Some(ClassifyMethod::Score)),
        Ok(pb::ClassifyMethod::Vote) => Ok(Some(ClassifyMethod::Vote)),
        Err(_) => Err(bad_request("method", format!("unknown method {value}"))),
    }
}

/// The API's usage of a task's.
pub fn usage(u: &Usage) -> pb::Usage {
    pb::Usage {
        prompt_tokens: u.prompt_tokens as u32,
        completion_tokens: u.completion_tokens as u32,
        chunks: u.chunks as u32,
        prefills: u.prefills as u32,
        duration_ms: u.ms,
        cached_prompt_tokens: u.cached_prompt_tokens as u32,
    }
}

/// The response of a summary.
pub fn summarize_response(s: Summary) -> pb::SummarizeResponse {
    pb::SummarizeResponse {
        summary: s.text,
        output_language: language_of_code(s.language.code()) as i32,
        chunks: s.chunks.len() as u32,
        reduce_rounds: s.reduce_rounds as u32,
        citations: s
            .citations
            .into_iter()
            .map(|c| pb::Citation {
                id: c.id,
                doc_id: c.doc_id,
                passage_id: c.passage_id,
                title: c.title,
                cited: c.cited,
            })
            .collect(),
        usage: Some(usage(&s.usage)),
    }
}

/// The response of a translation, with the rebuilt file when there is one.
pub fn translate_response(
    t: Translation,
    file: Option<(Format, Vec<u8>)>,
) -> pb::TranslateResponse {
    let (media_type, content) = match file {
        Some((format, bytes)) => (format.media_type().to_string(), bytes),
        None => (String::new(), Vec::new()),
    };
    pb::TranslateResponse {
        content,
        media_type,
        translation: t.text,
        source_language: language_of_code(t.source_language.code()) as i32,
        target_language: language_of_code(t.target_language.code()) as i32,
        candidates: t.candidates.unwrap_or_default(),
        glossary_violations: t
            .glossary_violations
            .into_iter()
            .map(|v| pb::GlossaryViolation {
                segment: v.segment as u32,
                source: v.source,
                target: v.target,
            })
            .collect(),
        translated_paragraphs: t.segments.iter().filter(|s| s.translated).count() as u32,
        memory_examples: t.segments.iter().map(|s| s.memory as u32).sum(),
        usage: Some(usage(&t.usage)),
    }
}

/// The response of a classification.
pub fn classify_response(c: Classification) -> pb::ClassifyResponse {
    pb::ClassifyResponse {
        label: c.label.unwrap_or_default(),
        labels: c.labels,
        confidence: c.confidence,
        tally: c
            .tally
            .labels
            .into_iter()
            .map(|l| pb::LabelVotes {
                label: l.label,
                votes: l.votes as u32,
                share: l.share,
            })
            .collect(),
        abstentions: c.abstentions as u32,
        answers: c.answers,
        method: match c.method {
            ClassifyMethod::Score => pb::ClassifyMethod::Score,
            ClassifyMethod::Vote => pb::ClassifyMethod::Vote,
        } as i32,
        probabilities: c
            .probabilities
            .into_iter()
            .map(|p| pb::LabelProbability {
                label: p.label,
                probability: p.probability,
                logprob: p.logprob,
            })
            .collect(),
        coverage: c.coverage,
        truncated: c.truncated,
        examples: c.examples as u32,
        usage: Some(usage(&c.usage)),
    }
}

/// The document of an ingest message (`field` prefixes its fields in errors).
pub fn document(doc: pb::Document, field: &str) -> ApiResult<Document> {
    let max = crate::limits::MAX_ID_BYTES;
    if doc.id.is_empty() || doc.id.len() > max {
        return Err(bad_request(
            &format!("{field}.id"),
            format!("must be 1 to {max} bytes"),
        ));
    }
    let language = match language(&format!("{field}.language"), doc.language)? {
        Some(code) => code.parse::<text::Language>().ok(),
        None => None,
    };
    let content = content::read(doc.text, doc.content, &doc.media_type, &format!("{field}."))?;
    let language = language.or_else(|| content.language.and_then(|code| code.parse().ok()));
    let from_file = content.file.is_some();
    let mut out = if from_file || !content.text.is_empty() {
        Document::from_text(doc.id, "", &content.text)
    } else {
        Document {
            id: doc.id,
            paragraphs: doc
                .paragraphs
                .into_iter()
                .filter(|p| !p.trim().is_empty())
                .collect(),
            ..Document::default()
        }
    };
    if out.paragraphs.is_empty() {
        return Err(bad_request(
            &format!("{field}.text"),
            "the document has no text (`text` or `paragraphs`)",
        ));
    }
    out.title = doc.title;
    out.language = language;
    out.source = doc.source;
    out.translation = non_empty(doc.translation);
    out.labels = doc
        .labels
        .into_iter()
        .map(|l| l.trim().to_string())
        .filter(|l| !l.is_empty())
        .collect();
    Ok(out)
}

/// A search hit.
pub fn hit(h: Hit) -> pb::SearchHit {
    pb::SearchHit {
        doc_id: h.doc_id,
        passage_id: h.passage_id,
        paragraph: h.paragraph,
        title: h.title,
        text: h.text,
        char_start: h.char_start,
        char_end: h.char_end,
        score: h.score,
        snippet: h.snippet,
        language: language_of_code(h.language.code()) as i32,
        source: h.source,
    }
}
