//! `sofer text extract|sentences|normalize|chunk`: the documents and text layers, for users
//! debugging documents.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde_json::json;
use sofer::engine::gguf::GgufFile;
use sofer::engine::tokenizer::Tokenizer;
use sofer::text::{self, bidi, CharOffsets, ChunkOptions, EstimatedTokens, TokenCounter};

/// `sofer text …` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum TextCommand {
    /// The paragraphs the tasks see in a document (DOCX, ODT, PDF, HTML or text).
    Extract {
        /// The document; `-` or nothing for stdin.
        input: Option<PathBuf>,
        /// One JSON object a paragraph: kind, text, direction, page (PDF), level
        /// (headings, list items), table/row/column (table cells).
        #[arg(long)]
        json: bool,
    },
    /// Paragraphs and sentences as the text layer sees them.
    Sentences {
        /// The document (DOCX, ODT, PDF, HTML or text); `-` or nothing for stdin.
        input: Option<PathBuf>,
        /// One JSON object a paragraph: its sentences with character offsets.
        #[arg(long)]
        json: bool,
        /// Reorder right-to-left text for a terminal without bidi support.
        #[arg(long, conflicts_with = "json")]
        visual: bool,
    },
    /// The normalized text the search analyzer works on.
    Normalize {
        /// The document (DOCX, ODT, PDF, HTML or text); `-` or nothing for stdin.
        input: Option<PathBuf>,
        /// Also remove niqqud and cantillation marks.
        #[arg(long)]
        strip_niqqud: bool,
    },
    /// Chunks of at most N tokens, cut on paragraph, sentence, then word boundaries.
    Chunk {
        /// The document (DOCX, ODT, PDF, HTML or text); `-` or nothing for stdin.
        input: Option<PathBuf>,
        /// The most tokens a chunk may cost.
        #[arg(long)]
        max_tokens: usize,
        /// Tokens of a chunk's end repeated at the start of the next.
        #[arg(long, default_value_t = 0)]
        overlap: usize,
        /// Count tokens with this GGUF's tokenizer instead of the estimate.
        #[arg(long, env = "SOFER_MODEL")]
        model: Option<PathBuf>,
        /// Count tokens with this tokenizer.json (takes precedence over --model).
        #[arg(long)]
        tokenizer: Option<PathBuf>,
        /// One JSON object a chunk.
        #[arg(long)]
        json: bool,
    },
}

/// Runs a text subcommand.
pub fn run(command: TextCommand) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    match command {
        TextCommand::Extract { input, json } => {
            let document = super::read_input(input.as_deref())?.document;
            for (index, paragraph) in document.paragraphs.iter().enumerate() {
                if json {
                    writeln!(out, "{}", serde_json::to_string(paragraph)?)?;
                } else {
                    if index > 0 {
                        writeln!(out)?;
                    }
                    writeln!(out, "{}", paragraph.text)?;
                }
            }
        }
        TextCommand::Sentences {
            input,
            json,
            visual,
        } => {
            let doc = super::read_document(input.as_deref())?;
            print_sentences(&doc, json, visual, &mut out)?;
        }
        TextCommand::Normalize {
            input,
            strip_niqqud,
        } => {
            let doc = super::read_document(input.as_deref())?;
            let options = text::NormalizeOptions { strip_niqqud };
            out.write_all(text::normalize(&doc, &options).as_bytes())?;
        }
        TextCommand::Chunk {
            input,
            max_tokens,
            overlap,
            model,
            tokenizer,
            json,
        } => {
            let doc = super::read_document(input.as_deref())?;
            let counter = counter(model.as_deref(), tokenizer.as_deref())?;
            let options = ChunkOptions {
                max_tokens,
                overlap_tokens: overlap,
            };
            let chunks = text::chunk(&doc, counter.as_ref(), &options)?;
            for (index, chunk) in chunks.iter().enumerate() {
                let body = &doc[chunk.range.clone()];
                if json {
                    let line = json!({
                        "index": index,
                        "start": chunk.chars.start,
                        "end": chunk.chars.end,
                        "tokens": chunk.tokens,
                        "text": body,
                    });
                    writeln!(out, "{line}")?;
                } else {
                    let (start, end, tokens) = (chunk.chars.start, chunk.chars.end, chunk.tokens);
                    writeln!(
                        out,
                        "--- chunk {index}: {tokens} tokens, characters {start}..{end}"
                    )?;
                    writeln!(out, "{body}")?;
                }
            }
        }
    }
    out.flush()?;
    Ok(())
}

fn print_sentences(
    doc: &str,
    json: bool,
    visual: bool,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    let chars = CharOffsets::new(doc);
    for (index, paragraph) in text::paragraphs(doc).into_iter().enumerate() {
        let body = &doc[paragraph.clone()];
        let sentences = text::sentences(body);
        if json {
            let sentences: Vec<_> = sentences
                .iter()
                .map(|s| {
                    let range = paragraph.start + s.start..paragraph.start + s.end;
                    json!({
                        "start": chars.char_at(range.start),
                        "end": chars.char_at(range.end),
                        "text": &doc[range],
                    })
                })
                .collect();
            let line = json!({
                "paragraph": index,
                "start": chars.char_at(paragraph.start),
                "end": chars.char_at(paragraph.end),
                "language": text::detect_language(body),
                "sentences": sentences,
            });
            writeln!(out, "{line}")?;
        } else {
            if index > 0 {
                writeln!(out)?;
            }
            for sentence in sentences {
                let sentence = &body[sentence];
                if visual {
                    writeln!(out, "{}", bidi::visual(sentence))?;
                } else {
                    writeln!(out, "{sentence}")?;
                }
            }
        }
    }
    Ok(())
}

/// Counts with the engine's tokenizer (document text, no BOS: what a chunk adds to a prompt).
struct TokenizerCounter(Tokenizer);

impl TokenCounter for TokenizerCounter {
    fn count(&self, text: &str) -> usize {
        self.0
            .encode(text, false)
            .map_or(usize::MAX, |ids| ids.len())
    }
}

fn counter(
    model: Option<&Path>,
    tokenizer: Option<&Path>,
) -> anyhow::Result<Box<dyn TokenCounter>> {
    if let Some(path) = tokenizer {
        return Ok(Box::new(TokenizerCounter(Tokenizer::from_tokenizer_json(
            path,
        )?)));
    }
    if let Some(path) = model {
        let gguf = GgufFile::open(path)?;
        return Ok(Box::new(TokenizerCounter(Tokenizer::from_gguf_metadata(
            gguf.metadata(),
        )?)));
    }
    Ok(Box::new(EstimatedTokens))
}
