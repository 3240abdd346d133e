//! The bounded queue in front of the engine: requests wait here for one of the worker
//! threads that run tasks (the engine computes on its own thread pool; workers only
//! decide how many tasks run at once). A full queue refuses at once, so memory stays
//! bounded and callers learn to back off (RESOURCE_EXHAUSTED).

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};

use crate::tasks::TaskRuntime;

/// A piece of work for the engine.
pub type Work = Box<dyn FnOnce(&TaskRuntime) + Send>;

/// The queue is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the engine queue is full ({capacity} requests waiting); retry later")]
pub struct QueueFull {
    /// The queue's capacity.
    pub capacity: usize,
}

/// Worker threads taking work from a bounded queue.
pub struct EngineQueue {
    sender: Option<SyncSender<Work>>,
    waiting: Arc<AtomicUsize>,
    capacity: usize,
}

impl EngineQueue {
    /// Starts `workers` threads sharing `runtime`, with room for `capacity` waiting
    /// requests.
    pub fn start(runtime: Arc<TaskRuntime>, workers: usize, capacity: usize) -> Self {
        let (sender, receiver) = sync_channel::<Work>(capacity);
        let receiver = Arc::new(Mutex::new(receiver));
        let waiting = Arc::new(AtomicUsize::new(0));
        for n in 0..workers.max(1) {
            let (receiver, runtime, waiting) = (receiver.clone(), runtime.clone(), waiting.clone());
            // Workers end when the queue is dropped and what it held is done.
            let spawned = std::thread::Builder::new()
                .name(format!("sofer-engine-{n}"))
                .spawn(move || work_loop(&receiver, &runtime, &waiting));
            if let Err(e) = spawned {
                tracing::error!(error = %e, "cannot start an engine worker thread");
            }
        }
        Self {
            sender: Some(sender),
            waiting,
            capacity,
        }
    }

    /// Queues `work`, or refuses at once when `capacity` requests already wait.
    pub fn try_submit(&self, work: Work) -> Result<(), QueueFull> {
        let full = QueueFull {
            capacity: self.capacity,
        };
        let sender = self.sender.as_ref().ok_or(full)?;
        self.waiting.fetch_add(1, Ordering::SeqCst);
        match sender.try_send(work) {
            Ok(()) => Ok(()),
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                self.waiting.fetch_sub(1, Ordering::SeqCst);
                Err(full)
            }
        }
    }

    /// Requests waiting for a worker.
    pub fn waiting(&self) -> usize {
        self.waiting.load(Ordering::SeqCst)
    }
}

fn work_loop(receiver: &Mutex<Receiver<Work>>, runtime: &TaskRuntime, waiting: &AtomicUsize) {
    loop {
        let work = {
            let guard = receiver.lock().unwrap_or_else(|p| p.into_inner());
            guard.recv()
        };
        let Ok(work) = work else { return };
        waiting.fetch_sub(1, Ordering::SeqCst);
        if catch_unwind(AssertUnwindSafe(|| work(runtime))).is_err() {
            tracing::error!("a request panicked in the engine worker; the worker goes on");
        }
    }
}
