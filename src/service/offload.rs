//! Work that grows with a request runs off the async threads, so health checks and other
//! connections answer within milliseconds whatever the requests hold.

use tonic::Status;

use super::status::{internal, ApiResult};

/// Runs `work` on tokio's blocking pool and waits for it.
pub async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> ApiResult<T> + Send + 'static,
) -> ApiResult<T> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| internal("blocking work", &e))?
}

/// [`blocking`] with at most as many at once as `permits` holds; the others wait.
pub async fn bounded<T: Send + 'static>(
    permits: &tokio::sync::Semaphore,
    work: impl FnOnce() -> ApiResult<T> + Send + 'static,
) -> ApiResult<T> {
    let _permit = permits
        .acquire()
        .await
        .map_err(|_| Status::unavailable("the server is shutting down"))?;
    blocking(work).await
}

/// Work on less than this many bytes (a small JSON body) costs less than the hand-off to
/// the blocking pool, so [`blocking_if_large`] runs it in place.
const INLINE_WORK_BYTES: usize = 64 * 1024;

/// `work` on `bytes` bytes: in place when small, on the blocking pool otherwise.
pub async fn blocking_if_large<T: Send + 'static>(
    bytes: usize,
    work: impl FnOnce() -> ApiResult<T> + Send + 'static,
) -> ApiResult<T> {
    if bytes < INLINE_WORK_BYTES {
        return work();
    }
    blocking(work).await
}
