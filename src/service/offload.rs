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
