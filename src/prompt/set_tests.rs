use super::*;
use crate::prompt::Role;
use serde_json::json;

fn temp_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("sofer-prompt-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn builtin_prompts_load_and_render_in_hebrew() {
    let set = PromptSet::load(None).unwrap();
    assert_eq!(set.versions().count(), 3);
    let vars = json!({
        "document": "ים המלח הוא אגם מלוח.",
        "output_language": "he",
        "style": "bullets",
        "focus": "מה גובהו?",
        "context": [{"id": "w1", "text": "פני ים המלח נמוכים."}],
    });
    let msgs = set
        .render(PromptKind::SummarizeMap, Language::He, &vars)
        .unwrap();
    assert_eq!(msgs.len(), 2);
    assert_eq!(msgs[0].role, Role::System);
    let user = &msgs[1].content;
    assert!(user.contains("ים המלח הוא אגם מלוח."), "{user}");
    assert!(user.contains("בעברית"), "{user}");
    assert!(user.contains("[w1] פני ים המלח נמוכים."), "{user}");
    assert!(user.contains("התמקד בשאלה הזו: מה גובהו?"), "{user}");
    assert!(!user.contains("{{") && !user.contains("{%"), "{user}");
}

#[test]
fn every_prompt_renders_in_both_languages() {
    let set = PromptSet::load(None).unwrap();
    let vars = |kind: PromptKind| match kind {
        PromptKind::SummarizeMap => json!({"document": "D", "target_words": 50}),
        PromptKind::SummarizeReduce => json!({"summaries": ["S1", "S2"], "length": "short"}),
        PromptKind::Translate => {
            json!({"text": "שלום", "source_language": "he", "target_language": "en",
            "glossary": [{"source": "כנסת", "target": "Knesset"}],
            "examples": [{"source": "בוקר טוב", "target": "Good morning"}]})
        }
        PromptKind::Classify => {
            json!({"document": "D", "labels": [{"name": "ספורט", "description": "משחקים"}, {"name": "כלכלה"}],
            "examples": [{"text": "הבורסה עלתה", "labels": ["כלכלה"]}]})
        }
    };
    for kind in PromptKind::ALL {
        for lang in Language::ALL {
            let msgs = set.render(kind, lang, &vars(kind)).unwrap();
            let user_at = msgs.iter().position(|m| m.role == Role::User).unwrap();
            let user = &msgs[user_at].content;
            let answer = &msgs[user_at + 1..];
            if kind == PromptKind::Classify {
                let prefix = ["Label:", "תווית:"][(lang == Language::He) as usize];
                assert_eq!(
                    answer,
                    [Message::assistant(prefix)],
                    "classify answers after a prefix"
                );
            } else {
                assert!(answer.is_empty(), "{answer:?}");
            }
            match kind {
                PromptKind::SummarizeReduce => {
                    assert!(user.contains("S1") && user.contains("S2"), "{user}")
                }
                PromptKind::Translate => {
                    assert!(user.contains("- כנסת → Knesset"), "{user}");
                    assert!(user.contains("Good morning"), "{user}");
                }
                PromptKind::Classify => {
                    assert!(user.contains("- ספורט: משחקים\n- כלכלה\n"), "{user:?}");
                }
                PromptKind::SummarizeMap => assert!(user.contains("50"), "{user}"),
            }
        }
    }
}

#[test]
fn undeclared_variable_is_an_error() {
    let set = PromptSet::load(None).unwrap();
    let err = set
        .render(PromptKind::Translate, Language::En, &json!({"txt": "x"}))
        .unwrap_err();
    assert!(
        matches!(err, PromptError::UnknownVariable { ref name, .. } if name == "txt"),
        "{err}"
    );
}

#[test]
fn override_with_unknown_placeholder_names_file_and_field() {
    let dir = temp_dir("placeholder");
    let text = include_str!("../../prompts/translate.toml").replace("{{ text }}", "{{ texte }}");
    std::fs::write(dir.join("translate.toml"), text).unwrap();
    match PromptSet::load(Some(&dir)) {
        Err(PromptError::UnknownPlaceholder {
            file, field, name, ..
        }) => {
            assert!(file.ends_with("translate.toml"), "{file}");
            assert_eq!(
                (field.as_str(), name.as_str()),
                ("translate.he.user", "texte")
            );
        }
        other => panic!("expected UnknownPlaceholder, got {other:?}"),
    }
}

#[test]
fn override_missing_a_language_is_an_error() {
    let dir = temp_dir("missing");
    let text = "task = \"classify\"\nversion = 2\n[classify.en]\nuser = \"{{ document }}\"\n";
    std::fs::write(dir.join("classify.toml"), text).unwrap();
    match PromptSet::load(Some(&dir)) {
        Err(PromptError::MissingTemplate { file, field }) => {
            assert!(file.ends_with("classify.toml"), "{file}");
            assert_eq!(field, "classify.he");
        }
        other => panic!("expected MissingTemplate, got {other:?}"),
    }
}

#[test]
fn override_replaces_one_file_and_bad_files_are_named() {
    let dir = temp_dir("override");
    let text = "task = \"classify\"\nversion = 7\n[classify.en]\nuser = \"EN {{ document }}\"\n[classify.he]\nuser = \"עב {{ document }}\"\n";
    std::fs::write(dir.join("classify.toml"), text).unwrap();
    let set = PromptSet::load(Some(&dir)).unwrap();
    let msgs = set
        .render(
            PromptKind::Classify,
            Language::He,
            &json!({"document": "מסמך"}),
        )
        .unwrap();
    assert_eq!(msgs, vec![Message::user("עב מסמך")]);
    assert!(set.versions().any(|(t, v, _)| t == "classify" && v == 7));

    std::fs::write(dir.join("clasify.toml"), text).unwrap();
    let err = PromptSet::load(Some(&dir)).unwrap_err();
    assert!(err.to_string().contains("clasify.toml"), "{err}");
    std::fs::remove_file(dir.join("clasify.toml")).unwrap();

    std::fs::write(
        dir.join("classify.toml"),
        text.replace(
            "{{ document }}\"\n[classify.he]",
            "{% if %}\"\n[classify.he]",
        ),
    )
    .unwrap();
    let err = PromptSet::load(Some(&dir)).unwrap_err();
    assert!(
        matches!(err, PromptError::BadTemplateFile { ref field, .. } if field == "classify.en.user"),
        "{err}"
    );

    std::fs::write(
        dir.join("classify.toml"),
        text.replace("version = 7", "version = \"x\""),
    )
    .unwrap();
    let err = PromptSet::load(Some(&dir)).unwrap_err();
    assert!(err.to_string().contains("version"), "{err}");
}

#[test]
fn prompt_kind_names() {
    assert_eq!(
        PromptKind::parse("summarize"),
        Some(PromptKind::SummarizeMap)
    );
    assert_eq!(
        PromptKind::parse("summarize.reduce"),
        Some(PromptKind::SummarizeReduce)
    );
    assert_eq!(PromptKind::parse("classify"), Some(PromptKind::Classify));
    assert_eq!(PromptKind::parse("sumarize"), None);
}
