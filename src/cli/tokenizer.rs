//! `sofer tokenizer stats`: what a model's tokenizer costs on Hebrew and English text —
//! tokens per word and per character, the share of byte-fallback tokens — and how much of
//! the context a 20-page Hebrew document takes.

use std::path::PathBuf;

use anyhow::Context;
use serde::Serialize;
use sofer::engine::config::ModelConfig;
use sofer::engine::gguf::GgufFile;
use sofer::engine::tokenizer::Tokenizer;
use sofer::text::{detect_language, Language};

use super::ModelArgs;

/// Words on a page of a typical document (for the 20-page estimate).
const WORDS_PER_PAGE: usize = 500;
/// Pages of the document the estimate is for.
const PAGES: usize = 20;

/// Tokenizer commands.
#[derive(Debug, clap::Subcommand)]
pub enum TokenizerCommand {
    /// Tokens per word and per character, byte-fallback share, the context a 20-page
    /// Hebrew document takes.
    Stats(StatsArgs),
}

/// Flags of `sofer tokenizer stats`.
#[derive(Debug, clap::Args)]
pub struct StatsArgs {
    #[command(flatten)]
    model: ModelArgs,
    /// A text file (`-`: stdin) to measure instead of the repository's eval corpora
    /// (UD Hebrew documents and the English side of NTREX).
    input: Option<PathBuf>,
    /// The folder the corpora are read from [default: the repository's data/eval].
    #[arg(long, value_name = "DIR", env = "SOFER_DATA")]
    data: Option<PathBuf>,
    /// One JSON object per text instead of a table.
    #[arg(long)]
    json: bool,
}

/// What one text costs.
#[derive(Debug, Serialize)]
struct TextStats {
    text: String,
    language: Language,
    words: usize,
    characters: usize,
    tokens: usize,
    tokens_per_word: f64,
    tokens_per_character: f64,
    /// Tokens that stand for part of a character (SentencePiece `<0xNN>` pieces,
    /// byte-level pieces of an incomplete character), over all tokens.
    byte_token_share: f64,
    /// Tokens of a 20-page document (500 words a page) in this text's language.
    twenty_pages_tokens: usize,
    /// The model's context length, when the file is a GGUF model.
    context_length: Option<usize>,
}

/// Runs `sofer tokenizer …`.
pub fn run(command: TokenizerCommand) -> anyhow::Result<()> {
    let TokenizerCommand::Stats(args) = command;
    let gguf = GgufFile::open(&args.model.model)?;
    let tokenizer = match &args.model.tokenizer {
        Some(path) => Tokenizer::from_tokenizer_json(path)?,
        None => Tokenizer::from_gguf_metadata(gguf.metadata())?,
    };
    let context = ModelConfig::from_gguf(&gguf).ok().map(|c| c.context_length);
    let texts: Vec<(String, String)> = match &args.input {
        Some(path) => vec![(
            path.display().to_string(),
            super::read_document(Some(path.as_path()))?,
        )],
        None => corpora(args.data.clone())?,
    };
    let byte_tokens = byte_token_ids(&tokenizer);
    let mut all = Vec::new();
    for (name, text) in texts {
        let stats = measure(&tokenizer, &byte_tokens, name, &text, context)?;
        if args.json {
            println!("{}", serde_json::to_string(&stats)?);
        }
        all.push(stats);
    }
    if !args.json {
        println!("text\tlanguage\twords\ttokens\ttokens/word\ttokens/char\tbyte tokens\t20 pages");
        for s in &all {
            let pages = match s.context_length {
                Some(c) => format!(
                    "{} tokens ({:.1}x the {c}-token context)",
                    s.twenty_pages_tokens,
                    s.twenty_pages_tokens as f64 / c as f64
                ),
                None => format!("{} tokens", s.twenty_pages_tokens),
            };
            println!(
                "{}\t{}\t{}\t{}\t{:.2}\t{:.3}\t{:.1}%\t{pages}",
                s.text,
                s.language,
                s.words,
                s.tokens,
                s.tokens_per_word,
                s.tokens_per_character,
                s.byte_token_share * 100.0
            );
        }
    }
    Ok(())
}

fn measure(
    tokenizer: &Tokenizer,
    byte_tokens: &[bool],
    name: String,
    text: &str,
    context_length: Option<usize>,
) -> anyhow::Result<TextStats> {
    let mut tokens = 0;
    let mut bytes = 0;
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let ids = tokenizer.encode(line, false)?;
        tokens += ids.len();
        bytes += ids
            .iter()
            .filter(|&&id| byte_tokens.get(id as usize).copied().unwrap_or(false))
            .count();
    }
    let words = text.split_whitespace().count();
    let characters = text.chars().filter(|c| !c.is_whitespace()).count();
    anyhow::ensure!(words > 0, "{name}: no words to measure");
    let per_word = tokens as f64 / words as f64;
    Ok(TextStats {
        text: name,
        language: detect_language(text),
        words,
        characters,
        tokens,
        tokens_per_word: per_word,
        tokens_per_character: tokens as f64 / characters as f64,
        byte_token_share: bytes as f64 / tokens.max(1) as f64,
        twenty_pages_tokens: (per_word * (PAGES * WORDS_PER_PAGE) as f64).round() as usize,
        context_length,
    })
}

/// `true` for the ids whose text alone is not whole characters.
fn byte_token_ids(tokenizer: &Tokenizer) -> Vec<bool> {
    (0..tokenizer.vocab_size())
        .map(|id| {
            let id = id as u32;
            !tokenizer.is_control(id) && tokenizer.decode(&[id]).contains('\u{FFFD}')
        })
        .collect()
}

/// The Hebrew documents and the English news sentences of the repository's eval data.
fn corpora(dir: Option<PathBuf>) -> anyhow::Result<Vec<(String, String)>> {
    let dir = super::eval::data_dir(dir)?;
    let mut hebrew = String::new();
    for doc in jsonl(&dir.join("hebrew/he_ud_docs.jsonl"))? {
        for p in doc["paragraphs"].as_array().into_iter().flatten() {
            hebrew.push_str(p.as_str().unwrap_or_default());
            hebrew.push('\n');
        }
    }
    let mut english = String::new();
    for pair in jsonl(&dir.join("parallel/ntrex128_eng_heb.jsonl"))? {
        english.push_str(pair["eng"].as_str().unwrap_or_default());
        english.push('\n');
    }
    Ok(vec![
        ("he_ud_docs".to_string(), hebrew),
        ("ntrex_eng".to_string(), english),
    ])
}

/// Every line of a JSONL file, parsed; errors name the file and line.
fn jsonl(path: &std::path::Path) -> anyhow::Result<Vec<serde_json::Value>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(n, l)| {
            serde_json::from_str(l).with_context(|| format!("{}:{}", path.display(), n + 1))
        })
        .collect()
}
