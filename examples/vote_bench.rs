//! Classification by vote on a real model: accuracy of 40 obvious English sentences
//! (positive/negative) with one greedy sample, one sample at 0.7 and 5 votes at 0.7, and
//! the wall time of each (target: 5 votes ≤ 1.5× one sample).
//!
//! `cargo run --release --example vote_bench -- MODEL.gguf` (or `SOFER_MODEL`).

use std::time::Instant;

use sofer::engine::gguf::GgufFile;
use sofer::engine::{Engine, EngineOptions};
use sofer::prompt::{ChatFormat, PromptSet};
use sofer::tasks::{classify, ClassifyRequest, LabelSpec, SamplingRequest, TaskContext};

const POSITIVE: [&str; 20] = [
    "I absolutely loved this movie, it was wonderful.",
    "The food was delicious and the staff were friendly.",
    "What a fantastic day, everything went perfectly.",
    "This is the best book I have ever read.",
    "I am so happy with my new phone, it works great.",
    "The concert was amazing and the crowd was joyful.",
    "Our vacation was beautiful and relaxing.",
    "She gave a brilliant, inspiring speech.",
    "The hotel room was clean, spacious and lovely.",
    "I highly recommend this restaurant to everyone.",
    "The team played superbly and won the championship.",
    "This gift made me smile all day.",
    "The customer service was excellent and quick.",
    "I enjoyed every minute of the show.",
    "The garden looks gorgeous in the spring sunshine.",
    "My coworkers are kind, helpful and fun.",
    "The new update made the app faster and better.",
    "We had a wonderful time at the party.",
    "The teacher was patient and the lessons were great.",
    "This coffee is perfect, rich and smooth.",
];

const NEGATIVE: [&str; 20] = [
    "I hated this movie, it was terrible.",
    "The food was cold and the waiter was rude.",
    "What an awful day, everything went wrong.",
    "This is the worst book I have ever read.",
    "My new phone broke after one day, very disappointing.",
    "The concert was boring and the sound was horrible.",
    "Our vacation was ruined by rain and delays.",
    "She gave a dull, confusing speech.",
    "The hotel room was dirty, tiny and smelly.",
    "I would never recommend this restaurant to anyone.",
    "The team played poorly and lost every game.",
    "This gift was useless and ugly.",
    "The customer service was slow and unhelpful.",
    "I regretted every minute of the show.",
    "The garden is dead and full of trash.",
    "My coworkers are rude, lazy and mean.",
    "The new update made the app slower and buggy.",
    "We had a miserable time at the party.",
    "The teacher was impatient and the lessons were awful.",
    "This coffee is bitter, burnt and disgusting.",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let model = std::env::args()
        .nth(1)
        .or_else(|| std::env::var("SOFER_MODEL").ok())
        .ok_or("usage: vote_bench MODEL.gguf (or set SOFER_MODEL)")?;
    let options = EngineOptions {
        model: model.into(),
        ..Default::default()
    };
    let engine = Engine::load(&options)?;
    let gguf = GgufFile::open(&options.model)?;
    let format = ChatFormat::from_gguf_metadata(gguf.metadata())?;
    let prompts = PromptSet::load(None)?;
    let ctx = TaskContext {
        generator: &engine,
        tokenizer: engine.tokenizer(),
        format: &format,
        prompts: &prompts,
        context_length: engine.info().config.context_length,
        retriever: None,
    };
    let labels: Vec<LabelSpec> = ["positive", "negative"]
        .iter()
        .map(|n| LabelSpec {
            name: n.to_string(),
            description: None,
        })
        .collect();
    let cases: Vec<(&str, &str)> = POSITIVE
        .iter()
        .map(|s| (*s, "positive"))
        .chain(NEGATIVE.iter().map(|s| (*s, "negative")))
        .collect();
    println!("config\tcorrect\tabstained\tprefills\tcompletion_tokens\twall_s");
    let mut walls = Vec::new();
    for (name, votes, temperature) in [
        ("votes 1, greedy", 1, 0.0),
        ("votes 1, t=0.7", 1, 0.7),
        ("votes 5, t=0.7", 5, 0.7),
    ] {
        let (mut correct, mut abstained, mut prefills, mut tokens) = (0, 0, 0, 0);
        let start = Instant::now();
        for (text, gold) in &cases {
            let req = ClassifyRequest {
                text: text.to_string(),
                labels: labels.clone(),
                votes: Some(votes),
                sampling: SamplingRequest {
                    temperature: Some(temperature),
                    seed: Some(1),
                    max_tokens: None,
                },
                ..Default::default()
            }
            .validate()?;
            let got = classify(&ctx, &req, &mut |_| true)?;
            correct += usize::from(got.label.as_deref() == Some(gold));
            abstained += usize::from(got.label.is_none());
            prefills += got.usage.prefills;
            tokens += got.usage.completion_tokens;
        }
        let wall = start.elapsed().as_secs_f64();
        walls.push(wall);
        println!(
            "{name}\t{correct}/{}\t{abstained}\t{prefills}\t{tokens}\t{wall:.2}",
            cases.len()
        );
    }
    println!(
        "wall time, 5 votes / 1 vote (t=0.7): {:.2}x",
        walls[2] / walls[1]
    );
    Ok(())
}
