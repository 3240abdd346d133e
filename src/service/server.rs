//! Starting, serving and stopping: health reports NOT_SERVING until the model is loaded
//! and the index opened; on shutdown the server stops accepting, reports NOT_SERVING,
//! and lets calls in flight finish within the grace period.

use std::future::Future;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use tokio::net::TcpListener;
use tonic::codegen::{http, InterceptedService};
use tonic::transport::server::TcpIncoming;
use tonic::transport::{Identity, Server, ServerTlsConfig};
use tonic::{Request, Status};
use tonic_health::ServingStatus;
use tower::util::MapResponseLayer;

use super::auth::KeyStore;
use super::config::ServerConfig;
use super::corpus::Corpus;
use super::document::Documents;
use super::http::{router as http_router, serve_http, tls_acceptor, HttpState};
use super::metrics::{serve_metrics, Metrics};
use super::model::Model;
use super::pb;
use super::pb::corpus_service_server::CorpusServiceServer;
use super::pb::document_service_server::DocumentServiceServer;
use super::pb::model_service_server::ModelServiceServer;
use super::queue::EngineQueue;
use super::request::{Arrived, CallInfo};
use super::status::ApiResult;
use crate::engine::scheduler::SchedulerOptions;
use crate::engine::EngineOptions;
use crate::retrieval::{RetrievalError, RetrievalIndex};
use crate::tasks::{TaskError, TaskRuntime};

/// Why the server could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// No model configured.
    #[error("no model configured (--model, SOFER_MODEL or `model` in the config file)")]
    NoModel,
    /// The model or prompts failed to load.
    #[error("loading the model: {0}")]
    Load(#[from] TaskError),
    /// The index failed to open.
    #[error("opening the index: {0}")]
    Index(#[from] RetrievalError),
    /// A file (TLS, …) could not be read, or an address bound.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The cause.
        source: std::io::Error,
    },
    /// tonic failed.
    #[error(transparent)]
    Transport(#[from] tonic::transport::Error),
}

/// The `method` label of calls refused before they reach a service.
const REFUSED_BY_AUTH: &str = "(refused by auth)";

/// What the services share.
pub(super) struct Shared {
    ready: OnceLock<Ready>,
    metrics: Metrics,
}

/// The loaded model and its queue.
pub(super) struct Ready {
    pub runtime: Arc<TaskRuntime>,
    pub queue: EngineQueue,
}

impl Shared {
    /// The loaded model, or UNAVAILABLE while it loads.
    pub fn ready(&self) -> ApiResult<&Ready> {
        self.ready
            .get()
            .ok_or_else(|| Status::unavailable("the model is still loading; retry shortly"))
    }

    /// Logs and counts a finished task call with what it cost.
    pub fn observe_task<R>(
        &self,
        method: &str,
        call: &CallInfo,
        started: Instant,
        result: &ApiResult<R>,
        usage: Option<&pb::Usage>,
    ) {
        let took = started.elapsed();
        let code = result.as_ref().err().map_or(tonic::Code::Ok, |s| s.code());
        self.metrics.call(method, code, took);
        let usage = usage.copied().unwrap_or_default();
        let _entered = call.span.enter();
        tracing::info!(
            method,
            code = ?code,
            prompt_tokens = usage.prompt_tokens,
            completion_tokens = usage.completion_tokens,
            ms = took.as_secs_f64() * 1000.0,
            "call"
        );
    }

    /// Logs and counts a call the auth interceptor refused.
    pub fn refused(&self, peer: Option<std::net::SocketAddr>, why: &str) {
        self.metrics.call(
            REFUSED_BY_AUTH,
            tonic::Code::Unauthenticated,
            Duration::ZERO,
        );
        tracing::info!(
            method = REFUSED_BY_AUTH,
            code = ?tonic::Code::Unauthenticated,
            peer = ?peer,
            why,
            "call"
        );
    }

    /// Counts a stream cancelled because its client stopped reading.
    pub fn stalled_stream(&self) {
        self.metrics.stalled_stream();
    }

    fn render_metrics(&self) -> String {
        let ready = self.ready.get();
        self.metrics.render(
            ready.map(|r| r.runtime.engine()),
            ready.map_or(0, |r| r.queue.waiting()),
        )
    }
}

fn load(config: &ServerConfig) -> Result<TaskRuntime, ServeError> {
    let model = config.model.clone().ok_or(ServeError::NoModel)?;
    let started = Instant::now();
    let runtime = TaskRuntime::load(
        &EngineOptions {
            model: model.clone(),
            tokenizer_json: config.tokenizer.clone(),
            scheduler: SchedulerOptions {
                prefix_cache_bytes: config.limits.prefix_cache_mib.saturating_mul(1 << 20),
                kv_cache_bytes: config.limits.kv_cache_mib.saturating_mul(1 << 20),
                ..SchedulerOptions::for_sequences(config.limits.max_sequences)
            },
            ..Default::default()
        },
        config.prompts.as_deref(),
    )?;
    tracing::info!(model = %model.display(), seconds = started.elapsed().as_secs_f64(), "model loaded");
    if let Some(advice) = runtime.engine().info().low_precision_advice() {
        tracing::warn!("{advice}");
    }
    let Some(dir) = &config.index else {
        tracing::warn!("no index configured: corpus calls answer FAILED_PRECONDITION");
        return Ok(runtime);
    };
    let index = if config.index_read_only {
        RetrievalIndex::open_read_only(dir)?
    } else {
        RetrievalIndex::open_or_create(dir)?
    };
    tracing::info!(index = %dir.display(), read_only = config.index_read_only, "index open");
    Ok(runtime.with_index(index))
}

/// Where the server listens.
pub struct Listeners {
    /// gRPC.
    pub grpc: TcpListener,
    /// Prometheus metrics, if wanted.
    pub metrics: Option<TcpListener>,
    /// HTTP (JSON tasks, the OpenAI-compatible API, the web page), if wanted.
    pub http: Option<TcpListener>,
}

/// Serves `config` on `listeners` until `shutdown` resolves, then drains for at most the
/// grace period. Health answers at once; the services once the model is loaded.
pub async fn serve(
    config: ServerConfig,
    listeners: Listeners,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), ServeError> {
    let shared = Arc::new(Shared {
        ready: OnceLock::new(),
        metrics: Metrics::default(),
    });
    let keys = Arc::new(KeyStore::new(&config.auth.keys));
    let authenticate_keys = keys.clone();
    if keys.is_empty() {
        tracing::warn!(
            "no API keys configured: accepting unauthenticated calls from loopback only, as tenant `local`"
        );
    }
    let (health, health_service) = tonic_health::server::health_reporter();
    set_health(&health, ServingStatus::NotServing).await;
    let reflection_error = |e: tonic_reflection::server::Error| ServeError::Io {
        what: "building reflection".into(),
        source: std::io::Error::other(e),
    };
    let reflection_v1 = reflection().build_v1().map_err(reflection_error)?;
    let reflection_v1alpha = reflection().build_v1alpha().map_err(reflection_error)?;
    let auth_shared = shared.clone();
    let authenticate = move |mut request: Request<()>| -> Result<Request<()>, Status> {
        let authorization = request
            .metadata()
            .get("authorization")
            .and_then(|v| v.to_str().ok());
        let peer = request.remote_addr();
        let tenant = authenticate_keys
            .authenticate(authorization, peer)
            .map_err(|e| {
                // The interceptor does not see the method: refusals are counted under one name.
                auth_shared.refused(peer, &e.to_string());
                Status::unauthenticated(e.to_string())
            })?;
        request.extensions_mut().insert(tenant);
        request.extensions_mut().insert(Arrived(Instant::now()));
        Ok(request)
    };
    let max = config.limits.max_message_bytes;
    let documents = Arc::new(Documents {
        shared: shared.clone(),
        stall_timeout: Duration::from_secs(config.limits.stall_timeout_seconds),
    });
    let corpus = Arc::new(Corpus {
        shared: shared.clone(),
    });
    let model = Arc::new(Model {
        shared: shared.clone(),
        tokenize_permits: tokio::sync::Semaphore::new(crate::limits::TOKENIZE_CONCURRENCY),
    });
    let http_state = Arc::new(HttpState {
        shared: shared.clone(),
        keys: keys.clone(),
        documents: documents.clone(),
        corpus: corpus.clone(),
        model: model.clone(),
        max_body: max,
    });

    let mut builder = Server::builder()
        .http2_max_header_list_size(crate::limits::MAX_HEADER_LIST_BYTES)
        .layer(MapResponseLayer::new(too_large_is_resource_exhausted));
    let mut http_tls = None;
    if let Some(tls) = &config.tls {
        let read = |path: &std::path::Path| {
            std::fs::read(path).map_err(|source| ServeError::Io {
                what: format!("reading {}", path.display()),
                source,
            })
        };
        let (cert, key) = (read(&tls.cert)?, read(&tls.key)?);
        if listeners.http.is_some() {
            let acceptor = tls_acceptor(&cert, &key).map_err(|e| ServeError::Io {
                what: format!(
                    "TLS for HTTP ({} and {})",
                    tls.cert.display(),
                    tls.key.display()
                ),
                source: std::io::Error::other(e),
            })?;
            http_tls = Some(acceptor);
        }
        let identity = Identity::from_pem(cert, key);
        builder = builder.tls_config(ServerTlsConfig::new().identity(identity))?;
    }
    if let Some(metrics_listener) = listeners.metrics {
        let shared = shared.clone();
        tokio::spawn(serve_metrics(metrics_listener, move || {
            shared.render_metrics()
        }));
    }
    let grace = Duration::from_secs(config.limits.grace_period_seconds);
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let http_server = listeners.http.map(|listener| {
        tokio::spawn(serve_http(
            listener,
            http_tls,
            http_router(http_state),
            stopped.clone(),
            grace,
        ))
    });
    let incoming = TcpIncoming::from(listeners.grpc).with_nodelay(Some(true));
    let router = builder
        .add_service(health_service)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha)
        .add_service(InterceptedService::new(
            DocumentServiceServer::from_arc(documents).max_decoding_message_size(max),
            authenticate.clone(),
        ))
        .add_service(InterceptedService::new(
            CorpusServiceServer::from_arc(corpus).max_decoding_message_size(max),
            authenticate.clone(),
        ))
        .add_service(InterceptedService::new(
            ModelServiceServer::from_arc(model).max_decoding_message_size(max),
            authenticate,
        ));
    let mut grpc_stopped = stopped;
    let server = tokio::spawn(router.serve_with_incoming_shutdown(incoming, async move {
        let _ = grpc_stopped.wait_for(|stopped| *stopped).await;
    }));

    let loading = {
        let config = config.clone();
        tokio::task::spawn_blocking(move || load(&config))
    };
    tokio::pin!(shutdown);
    let loaded = tokio::select! {
        loaded = loading => Some(loaded.map_err(|e| ServeError::Io {
            what: "loading".into(),
            source: std::io::Error::other(e),
        })??),
        () = &mut shutdown => None,
    };
    if let Some(runtime) = loaded {
        let runtime = Arc::new(runtime);
        let queue = EngineQueue::start(
            runtime.clone(),
            config.limits.workers,
            config.limits.queue_capacity,
        );
        let _ = shared.ready.set(Ready { runtime, queue });
        set_health(&health, ServingStatus::Serving).await;
        tracing::info!("serving");
        shutdown.await;
    }
    tracing::info!(
        grace_seconds = config.limits.grace_period_seconds,
        "shutting down: no new calls, finishing the ones in flight"
    );
    set_health(&health, ServingStatus::NotServing).await;
    let _ = stop.send(true);
    let http_drained = async {
        if let Some(http_server) = http_server {
            if let Err(e) = http_server.await {
                tracing::error!(error = %e, "the HTTP server task failed");
            }
        }
    };
    let (grpc_drained, ()) = tokio::join!(tokio::time::timeout(grace, server), http_drained);
    match grpc_drained {
        Ok(Ok(result)) => result?,
        Ok(Err(e)) => tracing::error!(error = %e, "the server task failed"),
        Err(_) => tracing::warn!("grace period over; calls still in flight are dropped"),
    }
    tracing::info!("stopped");
    Ok(())
}

/// Reflection over our services, health, and the `google.rpc` error details (so grpcurl
/// decodes a BadRequest).
fn reflection() -> tonic_reflection::server::Builder<'static> {
    tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(pb::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_types::pb::FILE_DESCRIPTOR_SET)
}

/// A request over the message size limit is RESOURCE_EXHAUSTED, as the gRPC status code
/// guide has it; tonic's decoder answers OUT_OF_RANGE.
fn too_large_is_resource_exhausted<B>(mut response: http::Response<B>) -> http::Response<B> {
    let headers = response.headers_mut();
    let out_of_range = headers
        .get("grpc-status")
        .is_some_and(|v| v.as_bytes() == b"11");
    let too_large = headers
        .get("grpc-message")
        .and_then(|m| m.to_str().ok())
        .is_some_and(|m| m.contains("message%20length%20too%20large"));
    if out_of_range && too_large {
        headers.insert("grpc-status", http::HeaderValue::from_static("8"));
    }
    response
}

/// Reports `status` for the whole server ("") and each service.
async fn set_health(health: &tonic_health::server::HealthReporter, status: ServingStatus) {
    health.set_service_status("", status).await;
    for name in SERVICES {
        health.set_service_status(name, status).await;
    }
}

/// The services health reports on, besides the whole server ("").
const SERVICES: [&str; 3] = [
    "sofer.v1.DocumentService",
    "sofer.v1.CorpusService",
    "sofer.v1.ModelService",
];
