//! `sofer prompt render`.

use std::path::PathBuf;

use anyhow::{bail, Context};
use clap::Subcommand;
use serde_json::json;

use sofer::engine::gguf::GgufFile;
use sofer::engine::tokenizer::Tokenizer;
use sofer::prompt::{
    parse_conversation, ChatFormat, EncodeOptions, Language, Message, PromptKind, PromptSet,
};

/// `sofer prompt …` subcommands.
#[derive(Debug, Subcommand)]
pub enum PromptCommand {
    /// Render a conversation, or a task prompt, to the ids the engine would see.
    Render(RenderArgs),
}

/// What `sofer prompt render` renders, and for which model.
#[derive(Debug, clap::Args)]
pub struct RenderArgs {
    /// The GGUF model file (its tokenizer and chat format are used).
    #[arg(long, env = "SOFER_MODEL")]
    model: PathBuf,
    /// A tokenizer.json to use instead of the tokenizer embedded in the GGUF.
    #[arg(long)]
    tokenizer: Option<PathBuf>,
    /// A conversation: `[{"role": "system"|"user"|"assistant", "content": "…"}]`.
    #[arg(long, conflicts_with = "task", required_unless_present = "task")]
    chat: Option<PathBuf>,
    /// A task prompt: summarize (its map step), summarize.reduce, translate or classify.
    #[arg(long, requires = "lang")]
    task: Option<String>,
    /// The language of the task prompt's instructions: he or en.
    #[arg(long)]
    lang: Option<String>,
    /// A task variable, `key=value`; a value that parses as JSON (a number, a list) is
    /// passed as that, anything else as a string. Repeatable.
    #[arg(long = "var", value_name = "KEY=VALUE")]
    vars: Vec<String>,
    /// A folder of prompt files overriding the built-in ones.
    #[arg(long)]
    prompts: Option<PathBuf>,
    /// The last (assistant) message is to be continued: no end-of-turn after it (always so
    /// for a task prompt that ends in the template's `answer`).
    #[arg(long)]
    continue_final: bool,
    /// Print one JSON object: `ids`, `text`, `format`, `spans`.
    #[arg(long)]
    json: bool,
}

/// Runs a prompt subcommand.
pub fn run(command: PromptCommand) -> anyhow::Result<()> {
    match command {
        PromptCommand::Render(args) => render(&args),
    }
}

fn render(args: &RenderArgs) -> anyhow::Result<()> {
    let gguf = GgufFile::open(&args.model)?;
    let tokenizer = match &args.tokenizer {
        Some(path) => Tokenizer::from_tokenizer_json(path)?,
        None => Tokenizer::from_gguf_metadata(gguf.metadata())?,
    };
    let format = ChatFormat::from_gguf_metadata(gguf.metadata())
        .with_context(|| format!("{}", args.model.display()))?;
    let messages = match (&args.chat, &args.task) {
        (Some(path), _) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            parse_conversation(&text, &path.display().to_string())?
        }
        (None, Some(task)) => task_messages(args, task)?,
        (None, None) => bail!("give --chat FILE or --task NAME"),
    };
    let options = EncodeOptions {
        continue_final_message: args.continue_final
            || (args.chat.is_none() && EncodeOptions::for_task(&messages).continue_final_message),
    };
    let rendered = format.encode(&tokenizer, &messages, options)?;
    if args.json {
        let out = json!({
            "ids": rendered.ids,
            "text": rendered.text,
            "format": format.name(),
            "spans": rendered.spans,
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        println!("{}", rendered.text);
        println!("---");
        println!(
            "{} ids ({}): {:?}",
            rendered.ids.len(),
            format.name(),
            rendered.ids
        );
    }
    Ok(())
}

fn task_messages(args: &RenderArgs, task: &str) -> anyhow::Result<Vec<Message>> {
    let Some(kind) = PromptKind::parse(task) else {
        bail!("unknown task `{task}` (summarize, summarize.reduce, translate, classify)");
    };
    let code = args.lang.as_deref().unwrap_or_default();
    let Some(lang) = Language::parse(code) else {
        bail!("unknown --lang `{code}` (he, en)");
    };
    let mut vars = serde_json::Map::new();
    for var in &args.vars {
        let Some((key, value)) = var.split_once('=') else {
            bail!("--var `{var}`: expected KEY=VALUE");
        };
        let value = serde_json::from_str(value)
            .unwrap_or_else(|_| serde_json::Value::String(value.to_string()));
        vars.insert(key.to_string(), value);
    }
    let set = PromptSet::load(args.prompts.as_deref())?;
    Ok(set.render(kind, lang, &vars)?)
}
