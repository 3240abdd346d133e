//! Task prompt templates: `prompts/*.toml`, compiled in and overridable with `--prompts DIR`.
//!
//! One TOML file per task (`summarize.toml`, `translate.toml`, `classify.toml`) with a
//! `task` name, a `version`, and one table per step and instruction language holding
//! minijinja templates: `[map.he] system = "…" user = "…"`, and optionally `answer = "…"`,
//! the start of the model's reply (for example `Label:`), which the model continues.
//! Loading checks everything a
//! request could otherwise trip over: every template parses, uses only the placeholders
//! its [`PromptKind`] declares, and every step exists in Hebrew and English.

use std::collections::BTreeMap;
use std::path::Path;

use minijinja::value::Serde;
use minijinja::{Environment, Value};
use serde::Serialize;

use super::chat_template::hf_environment;
use super::{Language, Message, PromptError};

/// The compiled-in defaults, `(file name, text)`.
const BUILTIN: [(&str, &str); 3] = [
    (
        "summarize.toml",
        include_str!("../../prompts/summarize.toml"),
    ),
    (
        "translate.toml",
        include_str!("../../prompts/translate.toml"),
    ),
    ("classify.toml", include_str!("../../prompts/classify.toml")),
];

const SUMMARY_VARS: [&str; 6] = [
    "length",
    "target_words",
    "style",
    "output_language",
    "focus",
    "context",
];

/// One prompt a task renders: a task and, for map-reduce tasks, its step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PromptKind {
    /// Summarize one chunk of a document.
    SummarizeMap,
    /// Merge chunk summaries into one summary.
    SummarizeReduce,
    /// Translate a text between Hebrew and English.
    Translate,
    /// Pick the label(s) of a document.
    Classify,
}

impl PromptKind {
    /// Every prompt, in file order.
    pub const ALL: [PromptKind; 4] = [
        PromptKind::SummarizeMap,
        PromptKind::SummarizeReduce,
        PromptKind::Translate,
        PromptKind::Classify,
    ];

    /// The task, which is also the file name's stem: "summarize", "translate", "classify".
    pub fn task(self) -> &'static str {
        match self {
            PromptKind::SummarizeMap | PromptKind::SummarizeReduce => "summarize",
            PromptKind::Translate => "translate",
            PromptKind::Classify => "classify",
        }
    }

    /// The step's table name inside the task's file.
    pub fn step(self) -> &'static str {
        match self {
            PromptKind::SummarizeMap => "map",
            PromptKind::SummarizeReduce => "reduce",
            PromptKind::Translate => "translate",
            PromptKind::Classify => "classify",
        }
    }

    /// The variables the task passes, and the only ones its templates may use.
    /// Summaries: `length` (short/medium/long), `target_words`, `style` (paragraph/bullets),
    /// `output_language` (he/en), `focus` (a question), `context` ([{id, text}]), plus
    /// `document` (map) or `summaries` (reduce, a list of strings). Translate: `text`,
    /// `source_language`, `target_language`, `glossary` and `examples` ([{source,
    /// target}]). Classify: `document`, `labels` ([{name, description}]), `multi_label`,
    /// `examples` ([{text, labels}]). Unset variables are `none` in templates.
    pub fn placeholders(self) -> Vec<&'static str> {
        match self {
            PromptKind::SummarizeMap => [&SUMMARY_VARS[..], &["document"]].concat(),
            PromptKind::SummarizeReduce => [&SUMMARY_VARS[..], &["summaries"]].concat(),
            PromptKind::Translate => vec![
                "text",
                "source_language",
                "target_language",
                "glossary",
                "examples",
            ],
            PromptKind::Classify => vec!["document", "labels", "multi_label", "examples"],
        }
    }

    /// Parses "summarize" (the map step), "summarize.map", "summarize.reduce",
    /// "translate" or "classify".
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|k| name == format!("{}.{}", k.task(), k.step()) || name == k.task())
    }
}

/// Loaded, validated task templates.
#[derive(Debug)]
pub struct PromptSet {
    env: Environment<'static>,
    /// `task → (version, where it came from)`.
    files: BTreeMap<&'static str, (i64, String)>,
}

impl PromptSet {
    /// The compiled-in templates, overridden file by file by `dir/<task>.toml` where such
    /// a file exists. Any other `.toml` in `dir` is an error (a misspelt task name would
    /// otherwise be silently ignored).
    pub fn load(dir: Option<&Path>) -> Result<Self, PromptError> {
        let mut set = Self {
            env: hf_environment()?,
            files: BTreeMap::new(),
        };
        let overrides = match dir {
            Some(dir) => read_dir(dir)?,
            None => BTreeMap::new(),
        };
        for (name, builtin) in BUILTIN {
            let (origin, text) = match overrides.get(name) {
                Some((path, text)) => (path.clone(), text.as_str()),
                None => (format!("built-in prompts/{name}"), builtin),
            };
            set.add_file(name.trim_end_matches(".toml"), &origin, text)?;
        }
        Ok(set)
    }

    /// The `version` of each task's file and where it was read from.
    pub fn versions(&self) -> impl Iterator<Item = (&str, i64, &str)> {
        self.files
            .iter()
            .map(|(task, (v, origin))| (*task, *v, origin.as_str()))
    }

    fn add_file(&mut self, task: &str, origin: &str, text: &str) -> Result<(), PromptError> {
        let err = |field: &str, detail: String| PromptError::BadTemplateFile {
            file: origin.to_string(),
            field: field.to_string(),
            detail,
        };
        let table: toml::Table = toml::from_str(text).map_err(|e| err("", e.to_string()))?;
        match table.get("task").and_then(toml::Value::as_str) {
            Some(t) if t == task => {}
            other => return Err(err("task", format!("must be \"{task}\", found {other:?}"))),
        }
        let version = table
            .get("version")
            .and_then(toml::Value::as_integer)
            .filter(|v| *v > 0)
            .ok_or_else(|| err("version", "must be a positive integer".into()))?;
        let kinds: Vec<PromptKind> = PromptKind::ALL
            .into_iter()
            .filter(|k| k.task() == task)
            .collect();
        for key in table.keys() {
            let known = ["task", "version", "description"].contains(&key.as_str())
                || kinds.iter().any(|k| k.step() == key);
            if !known {
                return Err(err(
                    key,
                    format!("unknown table or key (steps of {task}: {})", steps(&kinds)),
                ));
            }
        }
        for kind in kinds {
            let step = table.get(kind.step()).and_then(toml::Value::as_table);
            for lang in Language::ALL {
                let field = format!("{}.{}", kind.step(), lang.code());
                let langs = step
                    .and_then(|s| s.get(lang.code()))
                    .and_then(toml::Value::as_table);
                let Some(langs) = langs else {
                    return Err(PromptError::MissingTemplate {
                        file: origin.to_string(),
                        field,
                    });
                };
                if let Some(extra) =
                    step.and_then(|s| s.keys().find(|k| Language::parse(k).is_none()))
                {
                    return Err(err(
                        &format!("{}.{extra}", kind.step()),
                        "unknown language (he, en)".into(),
                    ));
                }
                for (key, value) in langs {
                    if !["system", "user", "answer"].contains(&key.as_str()) {
                        return Err(err(
                            &format!("{field}.{key}"),
                            "unknown key (system, user, answer)".into(),
                        ));
                    }
                    let source = value
                        .as_str()
                        .ok_or_else(|| err(&format!("{field}.{key}"), "must be a string".into()))?;
                    self.add_template(kind, origin, &format!("{field}.{key}"), source)?;
                }
                if !langs.contains_key("user") {
                    return Err(PromptError::MissingTemplate {
                        file: origin.to_string(),
                        field: format!("{field}.user"),
                    });
                }
            }
        }
        self.files
            .insert(task_name(task), (version, origin.to_string()));
        Ok(())
    }

    fn add_template(
        &mut self,
        kind: PromptKind,
        origin: &str,
        field: &str,
        source: &str,
    ) -> Result<(), PromptError> {
        let name = format!("{}.{field}", kind.task());
        self.env
            .add_template_owned(name.clone(), source.to_string())
            .map_err(|e| PromptError::BadTemplateFile {
                file: origin.to_string(),
                field: field.to_string(),
                detail: e.to_string(),
            })?;
        let declared = kind.placeholders();
        let template = self
            .env
            .get_template(&name)
            .map_err(|e| PromptError::BadTemplateFile {
                file: origin.to_string(),
                field: field.to_string(),
                detail: e.to_string(),
            })?;
        let mut used: Vec<String> = template.undeclared_variables(false).into_iter().collect();
        used.sort();
        if let Some(unknown) = used
            .into_iter()
            .find(|v| !declared.contains(&v.as_str()) && !is_builtin(v))
        {
            return Err(PromptError::UnknownPlaceholder {
                file: origin.to_string(),
                field: field.to_string(),
                name: unknown,
                declared: declared.join(", "),
            });
        }
        Ok(())
    }

    /// Renders one prompt to messages (a system message when the template has one, the
    /// user message, and an assistant message to continue when the template has an
    /// `answer`), each trimmed of surrounding whitespace. `vars` serializes to a map whose keys are among
    /// [`PromptKind::placeholders`]; values may be strings, numbers, lists, maps.
    pub fn render<V: Serialize>(
        &self,
        kind: PromptKind,
        lang: Language,
        vars: &V,
    ) -> Result<Vec<Message>, PromptError> {
        let declared = kind.placeholders();
        let json =
            serde_json::to_value(vars).map_err(|e| PromptError::BadVariables(e.to_string()))?;
        let given = match json {
            serde_json::Value::Object(map) => map,
            serde_json::Value::Null => serde_json::Map::new(),
            other => {
                return Err(PromptError::BadVariables(format!(
                    "expected a map, got {other}"
                )))
            }
        };
        let mut ctx: BTreeMap<String, Value> = declared
            .iter()
            .map(|k| (k.to_string(), Value::from(())))
            .collect();
        for (key, value) in given {
            if !declared.contains(&key.as_str()) {
                return Err(PromptError::UnknownVariable {
                    prompt: format!("{}.{}", kind.task(), kind.step()),
                    name: key,
                    declared: declared.join(", "),
                });
            }
            ctx.insert(key, Value::from(Serde(&value)));
        }
        let mut out = Vec::new();
        for (part, make) in [
            ("system", Message::system as fn(String) -> Message),
            ("user", Message::user),
            ("answer", Message::assistant),
        ] {
            let name = format!("{}.{}.{}.{part}", kind.task(), kind.step(), lang.code());
            let Ok(template) = self.env.get_template(&name) else {
                continue;
            };
            let text = template.render(&ctx).map_err(|e| PromptError::Render {
                template: name.clone(),
                detail: e.to_string(),
            })?;
            let text = text.trim();
            if !text.is_empty() {
                out.push(make(text.to_string()));
            }
        }
        Ok(out)
    }
}

fn steps(kinds: &[PromptKind]) -> String {
    kinds
        .iter()
        .map(|k| k.step())
        .collect::<Vec<_>>()
        .join(", ")
}

fn task_name(task: &str) -> &'static str {
    PromptKind::ALL
        .into_iter()
        .map(PromptKind::task)
        .find(|t| *t == task)
        .unwrap_or("unknown")
}

/// Names minijinja resolves itself (functions and tests used as variables).
fn is_builtin(name: &str) -> bool {
    ["range", "dict", "namespace", "loop", "raise_exception"].contains(&name)
}

/// `<task>.toml` files of `dir`: `name → (path, text)`.
fn read_dir(dir: &Path) -> Result<BTreeMap<String, (String, String)>, PromptError> {
    let io = |path: &Path, source| PromptError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut out = BTreeMap::new();
    for entry in std::fs::read_dir(dir).map_err(|e| io(dir, e))? {
        let path = entry.map_err(|e| io(dir, e))?.path();
        if path.extension().and_then(|e| e.to_str()) != Some("toml") {
            continue;
        }
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_string();
        if !BUILTIN.iter().any(|(b, _)| *b == name) {
            return Err(PromptError::BadTemplateFile {
                file: path.display().to_string(),
                field: String::new(),
                detail: "not a task prompt file (summarize.toml, translate.toml, classify.toml)"
                    .into(),
            });
        }
        let text = std::fs::read_to_string(&path).map_err(|e| io(&path, e))?;
        out.insert(name, (path.display().to_string(), text));
    }
    Ok(out)
}

#[cfg(test)]
#[path = "set_tests.rs"]
mod tests;
