//! Every call is logged and counted exactly once: when its handler finishes, or, when the
//! client goes away first (tonic then drops the handler) or the call is dropped unserved,
//! as CANCELLED — DEADLINE_EXCEEDED once its deadline has passed.

use std::sync::Arc;
use std::time::Instant;

use tonic::Status;

use super::pb;
use super::request::CallInfo;
use super::server::Shared;
use super::status::ApiResult;

/// A call being served.
pub(super) struct Observed {
    shared: Arc<Shared>,
    method: &'static str,
    call: CallInfo,
    started: Instant,
    done: bool,
}

impl Observed {
    /// Starts watching `call` of `method`.
    pub fn start(shared: &Arc<Shared>, method: &'static str, call: &CallInfo) -> Self {
        Self {
            shared: shared.clone(),
            method,
            call: call.clone(),
            started: Instant::now(),
            done: false,
        }
    }

    /// Logs and counts the call's result, with what it cost.
    pub fn finish<R>(mut self, result: &ApiResult<R>, usage: Option<&pb::Usage>) {
        self.done = true;
        self.shared
            .observe_task(self.method, &self.call, self.started, result, usage);
    }
}

impl Drop for Observed {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        let status = if self.call.expired() {
            Status::deadline_exceeded("the deadline passed before the call finished")
        } else {
            Status::cancelled("the client went away before the call finished")
        };
        self.shared
            .observe_task::<()>(self.method, &self.call, self.started, &Err(status), None);
    }
}
