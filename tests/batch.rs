//! `sofer batch` from the outside: the real binary on the tiny reference model, killed with
//! SIGKILL at random moments and resumed; sharded; fed bad input.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const ITEMS: usize = 200;

fn model() -> String {
    common::tiny_gguf("q8_0").display().to_string()
}

fn write_items(dir: &Path, n: usize) -> PathBuf {
    let path = dir.join("in.jsonl");
    let lines: Vec<String> = (0..n)
        .map(|i| {
            serde_json::json!({
                "id": format!("doc-{i:03}"),
                "text": format!("הכנסת דנה היום בהצעת החוק מספר {i}, והשרים הגיבו בחריפות."),
            })
            .to_string()
        })
        .collect();
    std::fs::write(&path, lines.join("\n") + "\n").expect("write input");
    path
}

fn batch_command(input: &Path, output: &Path, extra: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_sofer"));
    cmd.args(["batch", "--task", "classify", "--labels", "חדשות,ספורט"])
        .args(["--votes", "3", "--max-tokens", "4", "--seed", "11"])
        .arg("--input")
        .arg(input)
        .arg("--output")
        .arg(output)
        .args(["--model", &model()])
        .args(extra)
        .env_remove("SOFER_MODEL")
        .stdin(Stdio::null());
    cmd
}

fn run_ok(cmd: &mut Command) -> Output {
    let out = cmd.output().expect("run sofer batch");
    assert!(
        out.status.success(),
        "status {:?}: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// The output's records by id; every line must be a whole JSON record, each id once.
fn records(path: &Path) -> BTreeMap<String, serde_json::Value> {
    let text = std::fs::read_to_string(path).expect("read output");
    assert!(text.is_empty() || text.ends_with('\n'), "torn last line");
    let mut out = BTreeMap::new();
    for (n, line) in text.lines().enumerate() {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("line {}: {e}: {line}", n + 1));
        let id = v["id"].as_str().expect("id").to_string();
        assert!(out.insert(id.clone(), v).is_none(), "{id} written twice");
    }
    out
}

/// A small xorshift generator; the seed is printed so a failure can be replayed.
struct Random(u64);

impl Random {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

#[test]
fn killed_five_times_the_job_resumes_to_the_same_results_with_each_id_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = write_items(dir.path(), ITEMS);
    let reference = dir.path().join("reference.jsonl");
    run_ok(&mut batch_command(&input, &reference, &[]));
    let want = records(&reference);
    assert_eq!(want.len(), ITEMS);

    let seed = std::env::var("SOFER_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(1, |d| d.as_nanos() as u64)
                | 1
        });
    eprintln!("crash schedule seed {seed} (replay with SOFER_CRASH_SEED={seed})");
    let mut random = Random(seed);
    let output = dir.path().join("out.jsonl");
    let mut partial_kills = 0;
    for kill in 0..5 {
        let mut child = batch_command(&input, &output, &["--concurrency", "2"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn");
        std::thread::sleep(Duration::from_millis(200 + random.below(2500)));
        child.kill().expect("SIGKILL");
        child.wait().expect("reap");
        let got = if output.exists() {
            // Reading also checks the file between crashes: only whole, unique records.
            records_allowing_torn_tail(&output)
        } else {
            0
        };
        eprintln!("kill {kill}: {got} records on disk");
        if got > 0 && got < ITEMS {
            partial_kills += 1;
        }
    }
    assert!(
        partial_kills > 0,
        "no kill landed mid-job; the test proved nothing"
    );
    run_ok(&mut batch_command(&input, &output, &["--concurrency", "2"]));
    let got = records(&output);
    assert_eq!(
        got.keys().collect::<Vec<_>>(),
        want.keys().collect::<Vec<_>>()
    );
    for (id, record) in &got {
        assert_eq!(record["error"], serde_json::Value::Null, "{id}: {record}");
        assert_eq!(
            record["result"], want[id]["result"],
            "{id}: a resumed result differs from the uninterrupted run's"
        );
    }
}

/// Whole records in a file a killed run may have torn; asserts the whole lines are valid.
fn records_allowing_torn_tail(path: &Path) -> usize {
    let text = String::from_utf8_lossy(&std::fs::read(path).expect("read")).into_owned();
    let whole = match text.rfind('\n') {
        Some(end) => &text[..=end],
        None => "",
    };
    let mut ids = BTreeSet::new();
    for line in whole.lines() {
        let v: serde_json::Value = serde_json::from_str(line).expect("whole lines are JSON");
        assert!(
            ids.insert(v["id"].as_str().expect("id").to_string()),
            "duplicate"
        );
    }
    ids.len()
}

#[test]
fn three_shards_are_disjoint_and_cover_the_input_with_the_unsharded_results() {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = write_items(dir.path(), 60);
    let whole = dir.path().join("whole.jsonl");
    run_ok(&mut batch_command(&input, &whole, &[]));
    let want = records(&whole);
    let mut union = BTreeMap::new();
    for i in 0..3 {
        let out = dir.path().join(format!("shard-{i}.jsonl"));
        let shard = format!("{i}/3");
        run_ok(&mut batch_command(&input, &out, &["--shard", &shard]));
        let got = records(&out);
        assert!(!got.is_empty(), "shard {shard} is empty");
        for (id, record) in got {
            assert_eq!(record["result"], want[&id]["result"], "{id}");
            assert!(
                union.insert(id.clone(), record).is_none(),
                "{id} in two shards"
            );
        }
    }
    assert_eq!(
        union.keys().collect::<Vec<_>>(),
        want.keys().collect::<Vec<_>>()
    );
}

#[test]
fn bad_input_is_reported_and_the_rest_processed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = dir.path().join("in.jsonl");
    let mut bytes = b"{\"id\": \"a\", \"text\": \"\xd7\xa9\xd7\x9c\xd7\x95\xd7\x9d\"}\n{not json\n{\"text\": \"no id\"}\n{\"id\": \"b\"}\n{\"id\": \"c\", \"text\": \"\xff\"}\n".to_vec();
    bytes.extend_from_slice(b"{\"id\": \"d\", \"text\": \"ok\", \"options\": {\"votes\": 99}}\n");
    std::fs::write(&input, bytes).expect("write");
    let output = dir.path().join("out.jsonl");
    let out = batch_command(&input, &output, &[]).output().expect("run");
    assert_eq!(out.status.code(), Some(3), "items failed → exit 3");
    let stderr = String::from_utf8_lossy(&out.stderr);
    for line in [2, 3, 5] {
        assert!(
            stderr.contains(&format!("in.jsonl:{line}: skipped")),
            "{stderr}"
        );
    }
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).expect("summary");
    assert_eq!(summary["bad_lines"], 3);
    let got = records(&output);
    assert_eq!(got.keys().collect::<Vec<_>>(), ["a", "b", "d"]);
    assert_eq!(got["a"]["error"], serde_json::Value::Null);
    assert_eq!(got["b"]["error"]["code"], "invalid_input");
    assert_eq!(got["d"]["error"]["field"], "votes");

    let dup = dir.path().join("dup.jsonl");
    std::fs::write(
        &dup,
        "{\"id\": \"x\", \"text\": \"1\"}\n{\"id\": \"x\", \"text\": \"2\"}\n",
    )
    .expect("write");
    let dup_out = dir.path().join("dup-out.jsonl");
    let out = batch_command(&dup, &dup_out, &[]).output().expect("run");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("duplicate id \"x\" (line 1 and line 2)"),
        "{stderr}"
    );
    assert!(!dup_out.exists(), "no work before the input is checked");

    let folder = dir.path().join("docs");
    std::fs::create_dir_all(&folder).expect("mkdir");
    std::fs::write(folder.join("good.txt"), "טקסט תקין").expect("write");
    std::fs::write(folder.join("latin1.txt"), b"caf\xe9").expect("write");
    let folder_out = dir.path().join("folder.jsonl");
    let out = batch_command(&folder, &folder_out, &[])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(3));
    let got = records(&folder_out);
    assert_eq!(got["good.txt"]["error"], serde_json::Value::Null);
    let message = got["latin1.txt"]["error"]["message"]
        .as_str()
        .expect("message");
    assert!(
        message.contains("not valid UTF-8 (first bad byte at offset 3)"),
        "{message}"
    );

    let created = dir.path().join("new/folder/out.jsonl");
    let out = batch_command(&folder, &created, &[]).output().expect("run");
    assert_eq!(out.status.code(), Some(3), "runs (one item fails)");
    assert!(created.is_file(), "the output's folder is created");
    // A directory, and a path under a regular file: neither can be the output.
    for unwritable in [dir.path().to_path_buf(), input.join("out.jsonl")] {
        let out = batch_command(&folder, &unwritable, &[])
            .output()
            .expect("run");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        assert!(stderr.contains("cannot write output"), "{stderr}");
    }
}

#[test]
fn a_changed_job_is_refused_until_restarted() {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = write_items(dir.path(), 3);
    let output = dir.path().join("out.jsonl");
    run_ok(&mut batch_command(&input, &output, &[]));
    let changed = batch_command(&input, &output, &["--temperature", "1.0"])
        .output()
        .expect("run");
    let stderr = String::from_utf8_lossy(&changed.stderr);
    assert_eq!(changed.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("different job") && stderr.contains("--restart"),
        "{stderr}"
    );
    run_ok(&mut batch_command(
        &input,
        &output,
        &["--temperature", "1.0", "--restart"],
    ));
    assert_eq!(records(&output).len(), 3);
}
