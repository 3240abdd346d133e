//! `sofer prompt render` from the outside: a conversation file gives mistral-common's ids,
//! a task prompt renders with `--var`s, and bad input is one `error:` line naming what is
//! wrong.

mod common;

use std::process::{Command, Output};

use serde_json::Value;
use tempfile::TempDir;

fn sofer(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sofer"))
        .args(args)
        .env_remove("RUST_LOG")
        .env_remove("SOFER_MODEL")
        .output()
        .expect("run the sofer binary")
}

fn json_ok(args: &[&str]) -> Value {
    let out = sofer(args);
    assert!(
        out.status.success(),
        "sofer {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON on stdout")
}

fn error_of(args: &[&str]) -> String {
    let out = sofer(args);
    assert!(!out.status.success(), "sofer {args:?} should fail");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn chat_file_renders_to_mistral_common_ids() {
    let fx: Value = serde_json::from_str(include_str!("fixtures/prompt/mistral_v1_chats.json"))
        .expect("fixture");
    let case = fx["conversations"]
        .as_array()
        .expect("conversations")
        .iter()
        .find(|c| c["name"] == "he_system_three_turns")
        .expect("case");
    let dir = TempDir::new().expect("tempdir");
    let chat = dir.path().join("chat.json");
    std::fs::write(&chat, case["messages"].to_string()).expect("write");
    let model = common::tiny_gguf("q8_0");
    let got = json_ok(&[
        "prompt",
        "render",
        "--model",
        model.to_str().expect("path"),
        "--chat",
        chat.to_str().expect("path"),
        "--json",
    ]);
    assert_eq!(got["ids"], case["ids"]);
    assert_eq!(got["format"], "mistral-v1");
    assert!(got["text"]
        .as_str()
        .expect("text")
        .starts_with("<s> [INST] ענה במשפט אחד."));
}

#[test]
fn task_prompt_renders_with_vars() {
    let model = common::tiny_gguf("q8_0");
    let got = json_ok(&[
        "prompt",
        "render",
        "--model",
        model.to_str().expect("path"),
        "--task",
        "classify",
        "--lang",
        "he",
        "--var",
        "document=הבורסה בתל אביב עלתה היום.",
        "--var",
        r#"labels=[{"name": "כלכלה"}, {"name": "ספורט", "description": "משחקים ותחרויות"}]"#,
        "--json",
    ]);
    let text = got["text"].as_str().expect("text");
    assert!(
        text.contains("- כלכלה\n- ספורט: משחקים ותחרויות\n"),
        "{text}"
    );
    assert!(text.contains("הבורסה בתל אביב עלתה היום."), "{text}");
    assert!(
        text.ends_with("[/INST] תווית:"),
        "the model continues the answer prefix: {text}"
    );
}

#[test]
fn bad_input_names_the_problem() {
    let model = common::tiny_gguf("q8_0");
    let model = model.to_str().expect("path");
    let dir = TempDir::new().expect("tempdir");
    let chat = dir.path().join("chat.json");
    std::fs::write(&chat, r#"[{"role": "narrator", "content": "x"}]"#).expect("write");
    let err = error_of(&[
        "prompt",
        "render",
        "--model",
        model,
        "--chat",
        chat.to_str().expect("path"),
    ]);
    assert!(err.contains("message 0: unknown role `narrator`"), "{err}");

    std::fs::write(&chat, "[]").expect("write");
    let err = error_of(&[
        "prompt",
        "render",
        "--model",
        model,
        "--chat",
        chat.to_str().expect("path"),
    ]);
    assert!(err.contains("no messages"), "{err}");

    let prompts = dir.path().join("prompts");
    std::fs::create_dir(&prompts).expect("mkdir");
    std::fs::write(
        prompts.join("translate.toml"),
        "task = \"translate\"\nversion = 1\n[translate.en]\nuser = \"{{ text }}\"\n",
    )
    .expect("write");
    let err = error_of(&[
        "prompt",
        "render",
        "--model",
        model,
        "--task",
        "translate",
        "--lang",
        "en",
        "--prompts",
        prompts.to_str().expect("path"),
    ]);
    assert!(
        err.contains("translate.toml") && err.contains("translate.he"),
        "{err}"
    );

    let err = error_of(&[
        "prompt",
        "render",
        "--model",
        model,
        "--task",
        "summarize",
        "--lang",
        "fr",
    ]);
    assert!(err.contains("fr"), "{err}");
}
