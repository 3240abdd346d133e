//! `sofer summarize|translate|classify` from the outside: real binary, tiny model.

mod common;

use std::process::Output;

fn sofer(args: &[&str], stdin: &str) -> Output {
    common::run_sofer(args, stdin)
}

fn model() -> String {
    common::tiny_gguf("q8_0").display().to_string()
}

/// Runs `sofer args` and parses its stdout, one JSON value a line; a failure panics with
/// its stderr.
fn json_lines(args: &[&str], stdin: &str) -> Vec<serde_json::Value> {
    let out = sofer(args, stdin);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "sofer {args:?}: {stderr}");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
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

#[test]
fn eval_classify_reports_score_and_each_vote_count_with_one_prefill_per_document() {
    let m = model();
    let data = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/classify/sentiment_en.jsonl"
    );
    let out = sofer(
        &[
            "eval", "classify", "--data", data, "--model", &m, "--votes", "1,5", "--limit", "3",
            "--json",
        ],
        "",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let runs: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("json line"))
        .collect();
    assert_eq!(runs.len(), 3);
    for (run, (method, votes)) in runs.iter().zip([("score", 0), ("vote", 1), ("vote", 5)]) {
        assert_eq!(
            (run["method"].as_str(), run["votes"].as_u64()),
            (Some(method), Some(votes))
        );
        assert_eq!(run["examples"], 3);
        assert_eq!(run["prefills"], 3, "one prefill per document: {run}");
        let correct = run["correct"].as_f64().expect("correct");
        assert_eq!(run["accuracy"].as_f64(), Some(correct / 3.0));
        let brier = run["brier"].as_f64().expect("brier");
        let ece = run["ece"].as_f64().expect("ece");
        let f1 = run["macro_f1"].as_f64().expect("macro_f1");
        assert!(
            (0.0..=2.0).contains(&brier) && (0.0..=1.0).contains(&ece),
            "{run}"
        );
        assert!((0.0..=1.0).contains(&f1), "{run}");
    }
    assert_eq!(runs[0]["completion_tokens"], 0, "score samples nothing");
    assert_eq!(runs[0]["unlabelled"], 0, "score always names a label");
}

#[test]
fn eval_classify_runs_the_hebrew_sentiment_set_and_names_bad_data() {
    let m = model();
    let run = json_lines(
        &[
            "eval",
            "classify",
            "--data",
            "hebrew-sentiment",
            "--model",
            &m,
            "--method",
            "score",
            "--limit",
            "2",
            "--json",
        ],
        "",
    )
    .remove(0);
    assert_eq!(
        (run["method"].as_str(), run["examples"].as_u64()),
        (Some("score"), Some(2))
    );

    let dir = tempfile::tempdir().expect("tempdir");
    let empty = dir.path().join("empty.jsonl");
    std::fs::write(&empty, "\n").unwrap();
    for (data, says) in [
        (empty.to_str().unwrap(), "no examples"),
        ("no-such-set", "not a data set name"),
    ] {
        let out = sofer(&["eval", "classify", "--data", data, "--model", &m], "");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success() && stderr.contains(says),
            "{data}: {stderr}"
        );
    }
}

/// Translation memory and few-shot examples come from stored fields of documents added
/// with `sofer index add`: `translation` and `labels`.
#[test]
fn translate_and_classify_use_memory_and_examples_from_a_real_index() {
    let m = model();
    let dir = tempfile::tempdir().expect("tempdir");
    let index = dir.path().join("index");
    let index = index.to_str().expect("utf-8 path");
    let docs = dir.path().join("examples.jsonl");
    std::fs::write(
        &docs,
        concat!(
            "{\"id\": \"tm-1\", \"text\": \"הכנסת אישרה את החוק\", \"translation\": \"The Knesset passed the law\"}\n",
            "{\"id\": \"ex-1\", \"text\": \"הכנסת אישרה את החוק החדש\", \"labels\": [\"פוליטיקה\"]}\n",
            "{\"id\": \"ex-2\", \"text\": \"הקבוצה ניצחה במשחק\", \"labels\": \"ספורט\"}\n",
        ),
    )
    .expect("write examples");
    let docs = docs.to_str().expect("utf-8 path");
    let added = sofer(
        &["index", "add", docs, "--index", index, "--collection", "ex"],
        "",
    );
    assert!(
        added.status.success(),
        "{}",
        String::from_utf8_lossy(&added.stderr)
    );
    let base = [
        "--model",
        &m,
        "--index",
        index,
        "--collection",
        "ex",
        "--json",
    ];
    let translated = sofer(
        &[&["translate", "--max-tokens", "4"], &base[..]].concat(),
        "הכנסת אישרה את החוק אתמול",
    );
    assert!(
        translated.status.success(),
        "{}",
        String::from_utf8_lossy(&translated.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&translated.stdout).expect("json");
    assert_eq!(v["segments"][0]["memory"], 1, "{v}");
    let classified = sofer(
        &[
            &["classify", "--labels", "פוליטיקה,ספורט", "--votes", "1"],
            &base[..],
        ]
        .concat(),
        "הכנסת אישרה את התקציב",
    );
    assert!(
        classified.status.success(),
        "{}",
        String::from_utf8_lossy(&classified.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&classified.stdout).expect("json");
    // ex-1 shares words with the document; tm-1 does too but has no labels; ex-2 shares none.
    assert_eq!(v["examples"], 1, "{v}");
}

#[test]
fn eval_translate_scores_ntrex_documents_with_each_candidate_count() {
    let m = model();
    let dir = tempfile::tempdir().expect("tempdir");
    let save = dir.path().to_str().expect("utf-8 path");
    let runs = json_lines(
        &[
            "eval",
            "translate",
            "--data",
            "ntrex",
            "--model",
            &m,
            "--limit",
            "3",
            "--max-tokens",
            "6",
            "--candidates",
            "1,2",
            "--save",
            save,
            "--json",
        ],
        "",
    );
    assert_eq!(runs.len(), 2);
    let refs = std::fs::read_to_string(dir.path().join("ref.txt")).expect("ref.txt");
    assert_eq!(refs.lines().count(), 3);
    for (run, k) in runs.iter().zip([1, 2]) {
        assert_eq!(
            (run["candidates"].as_u64(), run["sentences"].as_u64()),
            (Some(k), Some(3))
        );
        let chrf = run["chrf"].as_f64().expect("chrf");
        assert!((0.0..=100.0).contains(&chrf), "{run}");
        // The corpus score is recomputed from the saved lines by the chrF the repo pins
        // to sacrebleu (tests/chrf_parity.rs).
        let hyps = std::fs::read_to_string(dir.path().join(format!("hyp-{k}.txt"))).unwrap();
        let pairs: Vec<(&str, &str)> = hyps.lines().zip(refs.lines()).collect();
        assert_eq!(pairs.len(), 3);
        let again = sofer::tasks::chrf::corpus_chrf(pairs.iter().copied());
        assert!((again - chrf).abs() < 1e-9, "{again} vs {chrf}");
        assert_eq!(
            run["per_document"].as_object().map(|d| d.len()),
            Some(1),
            "{run}"
        );
        assert!(
            run["glossary_terms"].as_u64() > Some(0),
            "NTREX's first sentences name MWPs"
        );
        assert!(run["completion_tokens"].as_u64() > Some(0));
    }
    let bad = sofer(&["eval", "translate", "--data", "wmt99", "--model", &m], "");
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert!(
        !bad.status.success() && stderr.contains("not a data set name"),
        "{stderr}"
    );
}

#[test]
fn eval_summarize_scores_against_references_or_reports_the_proxy_without() {
    let m = model();
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("docs.jsonl");
    std::fs::write(
        &data,
        concat!(
            r#"{"text": "The council approved the new budget on Monday after a long debate.", "summary": "The council approved the budget."}"#,
            "\n",
            r#"{"text": "הממשלה אישרה את התקציב החדש ביום שני לאחר דיון ארוך."}"#,
            "\n"
        ),
    )
    .unwrap();
    let r = json_lines(
        &[
            "eval",
            "summarize",
            "--data",
            data.to_str().unwrap(),
            "--model",
            &m,
            "--length",
            "10",
            "--json",
        ],
        "",
    )
    .remove(0);
    assert_eq!(
        (r["documents"].as_u64(), r["with_reference"].as_u64()),
        (Some(2), Some(1))
    );
    let chrf = r["chrf"].as_f64().expect("chrF with a reference");
    let rouge = r["rouge_l"].as_f64().expect("ROUGE-L with a reference");
    assert!(
        (0.0..=100.0).contains(&chrf) && (0.0..=1.0).contains(&rouge),
        "{r}"
    );
    assert_eq!(r["length_words"], serde_json::json!([5, 15]));
    for key in ["length_compliance", "supported_sentences"] {
        let v = r[key].as_f64().expect(key);
        assert!((0.0..=1.0).contains(&v), "{key}: {r}");
    }

    let r = json_lines(
        &[
            "eval",
            "summarize",
            "--data",
            "he-ud",
            "--model",
            &m,
            "--length",
            "10",
            "--limit",
            "1",
            "--json",
        ],
        "",
    )
    .remove(0);
    assert_eq!(
        (r["documents"].as_u64(), r["chrf"].as_f64()),
        (Some(1), None)
    );
}

#[test]
fn a_file_below_q5_warns_once_for_summaries_but_not_for_classify() {
    let q4 = common::tiny_gguf("q4_k_m").display().to_string();
    let inspect = sofer(&["model", "inspect", &q4], "");
    let text = String::from_utf8_lossy(&inspect.stdout);
    assert!(text.contains("Q4_K_M, 5.35 bits per weight"), "{text}");
    let args = |task: &str, model: &str| -> Vec<String> {
        let mut a: Vec<String> = [task, "--model", model, "--max-tokens", "2"]
            .map(String::from)
            .to_vec();
        if task == "classify" {
            a.extend(["--labels", "a,b"].map(String::from));
        }
        a
    };
    let run = |task: &str, model: &str| {
        let a = args(task, model);
        let a: Vec<&str> = a.iter().map(String::as_str).collect();
        let out = sofer(&a, "The council approved the budget.");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stderr)
            .matches("Q5 is the minimum")
            .count()
    };
    assert_eq!(run("summarize", &q4), 1);
    assert_eq!(run("classify", &q4), 0);
    assert_eq!(run("summarize", &model()), 0, "Q8_0 is fine");
}

#[test]
fn eval_compare_runs_one_evaluation_per_file_in_its_own_process() {
    let q8 = model();
    let q4 = common::tiny_gguf("q4_k_m").display().to_string();
    let data = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/classify/sentiment_en.jsonl"
    );
    let models = format!("{q8},{q4}");
    let runs = json_lines(
        &[
            "eval", "compare", "--models", &models, "--task", "classify", "--json", "--", "--data",
            data, "--limit", "2", "--votes", "1",
        ],
        "",
    );
    let seen: Vec<(String, String)> = runs
        .iter()
        .map(|r| {
            (
                r["model"].as_str().unwrap().to_string(),
                r["method"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let want: Vec<(String, String)> = [&q8, &q4]
        .iter()
        .flat_map(|m| ["score", "vote"].map(|method| (m.to_string(), method.to_string())))
        .collect();
    assert_eq!(seen, want);
    assert!(runs[0]["bits_per_weight"].as_f64() > runs[2]["bits_per_weight"].as_f64());
    assert!(runs.iter().all(|r| r["peak_rss_bytes"].as_u64() > Some(0)));

    let bad = sofer(
        &[
            "eval",
            "compare",
            "--models",
            "/no/such.gguf",
            "--task",
            "classify",
        ],
        "",
    );
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert!(
        !bad.status.success() && stderr.contains("/no/such.gguf"),
        "{stderr}"
    );
}

#[test]
fn tokenizer_stats_measure_hebrew_and_english_and_a_given_text() {
    let m = model();
    let out = sofer(&["tokenizer", "stats", "--model", &m, "--json"], "");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let rows: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("json line"))
        .collect();
    assert_eq!(rows.len(), 2);
    let (he, en) = (&rows[0], &rows[1]);
    assert_eq!(
        (he["language"].as_str(), en["language"].as_str()),
        (Some("he"), Some("en"))
    );
    // The Mistral v1 vocabulary: Hebrew letters are single pieces, words cost ~5.7 tokens.
    let he_per_word = he["tokens_per_word"].as_f64().unwrap();
    let en_per_word = en["tokens_per_word"].as_f64().unwrap();
    assert!(
        (5.0..6.5).contains(&he_per_word) && (1.1..1.7).contains(&en_per_word),
        "{rows:?}"
    );
    let pages = he["twenty_pages_tokens"].as_f64().unwrap();
    assert!((pages - he_per_word * 10_000.0).abs() <= 1.0);
    assert_eq!(he["context_length"], 4096);

    // A given text, from stdin; Hebrew in a byte-level vocabulary (SmolLM2) is mostly
    // partial-character tokens.
    let out = sofer(
        &[
            "tokenizer",
            "stats",
            "--model",
            &common::smollm2_gguf().display().to_string(),
            "-",
            "--json",
        ],
        "שלום עולם, מה שלומכם היום?\n",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let row: serde_json::Value =
        serde_json::from_str(String::from_utf8_lossy(&out.stdout).trim()).unwrap();
    assert_eq!(
        (row["words"].as_u64(), row["language"].as_str()),
        (Some(5), Some("he"))
    );
    assert!(row["byte_token_share"].as_f64() > Some(0.3), "{row}");
}
