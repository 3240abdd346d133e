//! `sofer index add|stats|delete` and `sofer search`.

use std::io::{BufRead, Write};
use std::path::PathBuf;

use anyhow::Context;
use serde_json::json;
use sofer::retrieval::{
    read_documents_with, Document, RetrievalIndex, SearchQuery, DEFAULT_COLLECTION,
};
use sofer::text::Language;

/// Where the index lives.
#[derive(Debug, Clone, clap::Args)]
pub struct IndexDir {
    /// The index directory [default: $SOFER_DATA_DIR/index, else
    /// $XDG_DATA_HOME/sofer/index, else ~/.local/share/sofer/index].
    #[arg(long = "index", env = "SOFER_INDEX", value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

impl IndexDir {
    /// The directory from the flag, the environment, or the default data directory.
    pub fn resolve(&self) -> anyhow::Result<PathBuf> {
        if let Some(dir) = &self.dir {
            return Ok(dir.clone());
        }
        let env = |name| {
            std::env::var_os(name)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        };
        if let Some(data) = env("SOFER_DATA_DIR") {
            return Ok(data.join("index"));
        }
        if let Some(xdg) = env("XDG_DATA_HOME") {
            return Ok(xdg.join("sofer/index"));
        }
        match env("HOME") {
            Some(home) => Ok(home.join(".local/share/sofer/index")),
            None => anyhow::bail!("no index directory: set --index, SOFER_INDEX or HOME"),
        }
    }
}

/// `sofer index …` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum IndexCommand {
    /// Add documents: JSONL files (`id`, `title`, `text` or `paragraphs`) and folders of
    /// .txt/.md files (id = path relative to the folder). A document whose id is already in
    /// the collection replaces it.
    ///
    /// Documents are committed every --commit-every documents and at the end of each PATH.
    /// After each commit one JSON line goes to stdout, `{"committed": N, "passages": P,
    /// "ids": [...]}`: those documents are durable and survive a crash. Unreadable files
    /// and bad lines are reported on stderr (naming the file and line) and skipped; the
    /// exit code is then non-zero, after the good documents are committed.
    Add {
        /// JSONL files, text/Markdown files or folders.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// The collection to add to.
        #[arg(long, default_value = DEFAULT_COLLECTION)]
        collection: String,
        /// Commit (and acknowledge) after this many documents.
        #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..))]
        commit_every: u64,
        #[command(flatten)]
        index: IndexDir,
    },
    /// Documents and passages per collection.
    Stats {
        /// One JSON object instead of a table.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        index: IndexDir,
    },
    /// Remove a document (all its passages).
    Delete {
        /// The document id.
        #[arg(long)]
        id: String,
        /// The collection it is in.
        #[arg(long, default_value = DEFAULT_COLLECTION)]
        collection: String,
        #[command(flatten)]
        index: IndexDir,
    },
}

/// Flags of `sofer search`.
#[derive(Debug, clap::Args)]
pub struct SearchArgs {
    /// The query, taken literally (quotes, colons and AND are just text). With `-`, one
    /// query per stdin line and one JSON line per query on stdout:
    /// `{"query", "hits": [{"doc_id", "passage_id", "score", "text"}]}`.
    pub query: String,
    /// How many passages to return.
    #[arg(long, default_value_t = 10)]
    pub k: usize,
    /// The collection to search.
    #[arg(long, default_value = DEFAULT_COLLECTION)]
    pub collection: String,
    /// Only passages in this language (he, en, mixed, unknown).
    #[arg(long)]
    pub language: Option<Language>,
    /// JSON output: `{"query", "hits": [...]}` with every hit field; highlights in the
    /// snippet are marked `**like this**`.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub index: IndexDir,
}

/// Runs an index subcommand.
pub fn run(command: IndexCommand) -> anyhow::Result<()> {
    match command {
        IndexCommand::Add {
            paths,
            collection,
            commit_every,
            index,
        } => add(&paths, &collection, commit_every as usize, &index),
        IndexCommand::Stats { json, index } => stats(json, &index),
        IndexCommand::Delete {
            id,
            collection,
            index,
        } => {
            let index = open(&index)?;
            let removed = index.delete(&collection, &id)?;
            println!("deleted {id} from {collection}: {removed} passages");
            Ok(())
        }
    }
}

fn open(dir: &IndexDir) -> anyhow::Result<RetrievalIndex> {
    let dir = dir.resolve()?;
    Ok(RetrievalIndex::open_or_create(&dir)?)
}

/// Commits `batch` and acknowledges it on stdout.
fn commit(
    index: &RetrievalIndex,
    collection: &str,
    batch: &mut Vec<Document>,
) -> anyhow::Result<()> {
    if batch.is_empty() {
        return Ok(());
    }
    let report = index.ingest(collection, batch)?;
    let ids: Vec<&str> = batch.iter().map(|d| d.id.as_str()).collect();
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "{}",
        json!({"committed": report.documents, "passages": report.passages, "ids": ids})
    )?;
    out.flush()?;
    batch.clear();
    Ok(())
}

fn add(
    paths: &[PathBuf],
    collection: &str,
    commit_every: usize,
    dir: &IndexDir,
) -> anyhow::Result<()> {
    let index = open(dir)?;
    let mut failures = 0usize;
    let mut batch = Vec::new();
    for path in paths {
        if !path.exists() {
            eprintln!("error: {}: no such file or directory", path.display());
            failures += 1;
            continue;
        }
        for item in read_documents_with(path, Some(super::index_paragraphs)) {
            match item {
                Ok(doc) => {
                    if doc.paragraphs.is_empty() {
                        eprintln!("warning: {}: document {} has no text", doc.source, doc.id);
                    }
                    batch.push(doc);
                    if batch.len() >= commit_every {
                        commit(&index, collection, &mut batch)?;
                    }
                }
                Err(err) => {
                    eprintln!("error: {err}");
                    failures += 1;
                }
            }
        }
        commit(&index, collection, &mut batch)?;
    }
    if failures > 0 {
        anyhow::bail!(
            "{failures} file(s) or line(s) could not be read; the other documents were committed"
        );
    }
    Ok(())
}

fn stats(json: bool, dir: &IndexDir) -> anyhow::Result<()> {
    let stats = open(dir)?.stats()?;
    let mut out = std::io::stdout().lock();
    if json {
        writeln!(out, "{}", serde_json::to_string(&stats)?)?;
        return Ok(());
    }
    writeln!(
        out,
        "index {} (analyzer: {})",
        stats.path.display(),
        stats.analyzer.name()
    )?;
    writeln!(
        out,
        "{:<24} {:>10} {:>10}",
        "collection", "documents", "passages"
    )?;
    for c in &stats.collections {
        writeln!(
            out,
            "{:<24} {:>10} {:>10}",
            c.collection, c.documents, c.passages
        )?;
    }
    Ok(())
}

/// Runs `sofer search`.
pub fn search(args: SearchArgs) -> anyhow::Result<()> {
    let dir = args.index.resolve()?;
    let index =
        RetrievalIndex::open(&dir).with_context(|| format!("opening index {}", dir.display()))?;
    let mut query = SearchQuery {
        text: String::new(),
        collection: args.collection.clone(),
        language: args.language,
        k: args.k,
    };
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    if args.query != "-" {
        query.text = args.query.clone();
        let hits = index.search(&query)?;
        if args.json {
            writeln!(out, "{}", json!({"query": query.text, "hits": hits}))?;
        } else {
            for (rank, hit) in hits.iter().enumerate() {
                let title = if hit.title.is_empty() {
                    String::new()
                } else {
                    format!("  {}", hit.title)
                };
                writeln!(
                    out,
                    "{}. {:.3}  {}#{}{title}",
                    rank + 1,
                    hit.score,
                    hit.doc_id,
                    hit.passage_id
                )?;
                writeln!(out, "   {}", hit.snippet.replace('\n', " "))?;
            }
            if hits.is_empty() {
                writeln!(out, "no passages found")?;
            }
        }
        return Ok(out.flush()?);
    }
    for line in std::io::stdin().lock().lines() {
        query.text = line.context("reading queries from stdin")?;
        let hits: Vec<_> = index
            .search(&query)?
            .into_iter()
            .map(|h| json!({"doc_id": h.doc_id, "passage_id": h.passage_id, "score": h.score, "text": h.text}))
            .collect();
        writeln!(out, "{}", json!({"query": query.text, "hits": hits}))?;
        out.flush()?;
    }
    Ok(())
}
