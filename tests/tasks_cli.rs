//! `sofer summarize|translate|classify` from the outside: real binary, tiny model.

mod common;

use std::process::Output;

fn sofer(args: &[&str], stdin: &str) -> Output {
    common::run_sofer(args, stdin)
}

fn model() -> String {
    common::tiny_gguf("q8_0").display().to_string()
}

#[test]
fn classify_json_reports_a_tally_of_five_from_one_prefill() {
    let m = model();
    let out = sofer(
        &[
            "classify",
            "--model",
            &m,
            "--labels",
            "ספורט,כלכלה",
            "--votes",
            "5",
            "--seed",
            "2",
            "--json",
        ],
        "הקבוצה ניצחה במשחק אתמול.",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let votes: u64 = v["tally"]["labels"]
        .as_array()
        .expect("labels")
        .iter()
        .map(|l| l["votes"].as_u64().expect("votes"))
        .sum();
    assert_eq!(votes + v["abstentions"].as_u64().expect("abstentions"), 5);
    assert_eq!(v["usage"]["prefills"], 1);
    assert_eq!(v["answers"].as_array().expect("answers").len(), 5);
}

#[test]
fn bad_options_fail_naming_the_field() {
    let m = model();
    let cases: [(&[&str], &str, &str); 7] = [
        (
            &["classify", "--labels", "a,b", "--votes", "0"],
            "text",
            "`votes`",
        ),
        (&["classify", "--labels", "a,A"], "text", "`labels[1].name`"),
        (
            &["classify", "--labels", "a,b", "--temperature", "2.5"],
            "text",
            "`temperature`",
        ),
        (&["summarize", "--length", "3"], "text", "`length`"),
        (
            &["translate", "--source-lang", "he", "--target-lang", "he"],
            "שלום",
            "`target_language`",
        ),
        (&["translate", "--candidates", "33"], "שלום", "`candidates`"),
        (&["summarize"], "  \n\t ", "`text`"),
    ];
    for (args, input, field) in cases {
        let mut all = args.to_vec();
        all.extend(["--model", &m]);
        let out = sofer(&all, input);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} succeeded");
        assert!(err.contains(field), "{args:?}: {err}");
    }
}

#[test]
fn an_empty_glossary_term_names_the_entry() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("glossary.tsv");
    std::fs::write(&path, "כנסת\tKnesset\nבית משפט\t \n").expect("write");
    let m = model();
    let p = path.display().to_string();
    let out = sofer(&["translate", "--model", &m, "--glossary", &p], "שלום");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("`glossary[1].target`"), "{err}");
}

#[test]
fn translate_streams_text_that_keeps_the_paragraph_structure() {
    let m = model();
    let out = sofer(
        &[
            "translate",
            "--model",
            &m,
            "--max-tokens",
            "6",
            "--seed",
            "1",
        ],
        "שלום עולם.\n\n3.14\n\nלהתראות.",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).expect("utf-8");
    let parts: Vec<&str> = text.trim_end().split("\n\n").collect();
    assert!(parts.len() >= 3, "{text:?}");
    assert!(parts.contains(&"3.14"), "{text:?}");
}
