//! Independent generations of one task run side by side (the chunks of a summary, the
//! paragraphs of a translation), while the task still sees them, and streams them, in
//! order: call `i`'s text reaches the caller only after every call before it is done.

use super::context::{Event, Output, TaskContext, Usage};
use super::error::{Result, TaskError};
use crate::engine::generate::{CallStep, Step};
use crate::engine::{Completion, EngineError, GenerationCall};

/// What [`TaskContext::generate_in_order`] tells the task, in call order.
#[derive(Debug)]
pub enum InOrder {
    /// Call `i` is next: what comes before its text goes out now.
    Start(usize),
    /// Call `i` is done, with its samples.
    Done(usize, Vec<Completion>),
}

/// The ordered view of calls that finish in any order.
struct Order {
    /// The first call not yet reported done.
    head: usize,
    /// Finished calls after the head.
    finished: Vec<Option<Vec<Completion>>>,
    /// Streamed text of calls after the head, held back until they are the head.
    held: Vec<String>,
}

impl TaskContext<'_> {
    /// Runs `calls` through [`crate::engine::Generator::generate_many`] (side by side
    /// where the generator batches), adding their cost to `usage`. `visit` sees each call
    /// start and end in call order, and may send text to `output` then. With `stream`,
    /// each call's sample 0 streams as [`Event::Text`] between its start and its end;
    /// otherwise tokens are reported as [`Event::Token`] so the caller can still cancel.
    pub fn generate_in_order(
        &self,
        calls: &[GenerationCall],
        stream: bool,
        output: &mut Output<'_>,
        usage: &mut Usage,
        visit: &mut dyn FnMut(InOrder, &mut Output<'_>) -> Result<()>,
    ) -> Result<()> {
        if calls.is_empty() {
            return Ok(());
        }
        visit(InOrder::Start(0), output)?;
        let mut order = Order {
            head: 0,
            finished: vec![None; calls.len()],
            held: vec![String::new(); calls.len()],
        };
        let mut failed: Option<TaskError> = None;
        let mut sink = |step: CallStep<'_>| {
            let reported = match step {
                CallStep::Step {
                    step: Step::Prompt { done, total },
                    ..
                } => Ok(output(Event::Prompt { done, total })),
                CallStep::Step {
                    step: Step::Token(_),
                    ..
                } if !stream => Ok(output(Event::Token)),
                CallStep::Step {
                    call,
                    step: Step::Token(delta),
                } => {
                    if delta.sample != 0 || delta.text.is_empty() {
                        Ok(true)
                    } else if call == order.head {
                        Ok(output(Event::Text(delta.text)))
                    } else {
                        order.held[call].push_str(delta.text);
                        Ok(true)
                    }
                }
                CallStep::Done {
                    call,
                    completions,
                    cached_prompt_tokens,
                } => {
                    usage.prefills += 1;
                    usage.prompt_tokens += calls[call].prompt.len();
                    usage.cached_prompt_tokens += cached_prompt_tokens;
                    usage.completion_tokens +=
                        completions.iter().map(|c| c.ids.len()).sum::<usize>();
                    order.finished[call] = Some(completions);
                    order.advance(output, visit)
                }
            };
            match reported {
                Ok(go_on) => go_on,
                Err(e) => {
                    failed = Some(e);
                    false
                }
            }
        };
        let ran = self.generator.generate_many(calls, &mut sink);
        match (failed, ran) {
            (Some(e), _) => Err(e),
            (None, Err(e)) => Err(e.into()),
            (None, Ok(())) if order.head == calls.len() => Ok(()),
            (None, Ok(())) => Err(EngineError::Batch(format!(
                "the generator answered {} of {} calls",
                order.head,
                calls.len()
            ))
            .into()),
        }
    }
}

impl Order {
    /// Reports the finished calls at the head, and starts the next one with the text it
    /// has streamed so far; `false` when the caller cancelled.
    fn advance(
        &mut self,
        output: &mut Output<'_>,
        visit: &mut dyn FnMut(InOrder, &mut Output<'_>) -> Result<()>,
    ) -> Result<bool> {
        while let Some(done) = self.finished.get_mut(self.head).and_then(Option::take) {
            visit(InOrder::Done(self.head, done), output)?;
            self.head += 1;
            if self.head == self.finished.len() {
                break;
            }
            visit(InOrder::Start(self.head), output)?;
            let held = std::mem::take(&mut self.held[self.head]);
            if !held.is_empty() && !output(Event::Text(&held)) {
                return Ok(false);
            }
        }
        Ok(true)
    }
}
