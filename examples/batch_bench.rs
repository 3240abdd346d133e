//! Batch throughput on the tiny model: items/s with concurrency 1 and 4, and
//! what durability costs (every record synced to disk vs plain appends).
//!
//! `cargo run --release --example batch_bench -- [ITEMS]` (default 200; the model is
//! `$SOFER_MODEL`, else the synthesized tiny Mixtral, `SynthSpec::tiny(Q8_0)`).

use std::path::PathBuf;
use std::time::Instant;

use sofer::batch::{self, BatchJob, BatchTask, Input, JobIdentity, OutputFile, TaskOptions};
use sofer::engine::synth::{synthesize, SynthQuant, SynthSpec};
use sofer::engine::EngineOptions;
use sofer::tasks::TaskRuntime;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let items: usize = std::env::args()
        .nth(1)
        .map(|n| n.parse())
        .transpose()?
        .unwrap_or(200);
    let scratch = tempfile::tempdir()?;
    let model = match std::env::var_os("SOFER_MODEL") {
        Some(path) => PathBuf::from(path),
        None => {
            let path = scratch.path().join("tiny-q8_0.gguf");
            synthesize(&SynthSpec::tiny(SynthQuant::Q8_0), &path)?;
            path
        }
    };
    let runtime = TaskRuntime::load(
        &EngineOptions {
            model: model.clone(),
            ..Default::default()
        },
        None,
    )?;
    let dir = tempfile::tempdir()?;
    let input_path = dir.path().join("in.jsonl");
    let lines: Vec<String> = (0..items)
        .map(|i| {
            serde_json::json!({"id": format!("doc-{i}"), "text": format!("הכנסת דנה היום בהצעת החוק מספר {i}.")})
                .to_string()
        })
        .collect();
    std::fs::write(&input_path, lines.join("\n") + "\n")?;
    let input = Input::scan(&input_path)?;
    let options = TaskOptions {
        labels: Some(vec!["חדשות".into(), "ספורט".into()]),
        votes: Some(3),
        max_tokens: Some(4),
        seed: Some(1),
        ..Default::default()
    };
    println!(
        "tiny-q8_0, classify (3 votes, 4 tokens), {items} items, {} cores",
        std::thread::available_parallelism()?.get()
    );
    println!("concurrency\tdurable\titems/s\tseconds");
    for (concurrency, durable) in [(1, true), (1, false), (4, true), (4, false)] {
        let out_path = dir
            .path()
            .join(format!("out-{concurrency}-{durable}.jsonl"));
        let identity = JobIdentity::new(
            BatchTask::Classify,
            options.clone(),
            Default::default(),
            input.digest.clone(),
            &model,
        );
        let (mut out, _) = OutputFile::open(&out_path, &identity, true, durable)?;
        let job = BatchJob {
            runtime: &runtime,
            task: BatchTask::Classify,
            options: options.clone(),
            concurrency,
        };
        let pending: Vec<_> = input.items.iter().collect();
        let start = Instant::now();
        let counts = batch::run(&job, &input, &pending, &mut out, &mut |_| {})?;
        let seconds = start.elapsed().as_secs_f64();
        assert_eq!(counts.succeeded, items);
        println!(
            "{concurrency}\t{durable}\t{:.1}\t{seconds:.2}",
            items as f64 / seconds
        );
    }
    Ok(())
}
