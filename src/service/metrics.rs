//! Prometheus metrics on their own HTTP port (`GET /metrics`): requests by method and
//! code, latency histograms, queue depth, engine tokens (rate() gives tokens/s) and
//! expert usage per layer.

use std::sync::Mutex;
use std::time::Duration;

use prometheus_client::encoding::text::encode;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use crate::engine::scheduler::SchedulerStats;
use crate::engine::{Engine, EngineCounters};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CallLabels {
    method: String,
    code: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct MethodLabels {
    method: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ExpertLabels {
    layer: u32,
    expert: u32,
}

fn latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.001, 2.0, 18))
}

/// The server's metrics.
pub struct Metrics {
    registry: Registry,
    requests: Family<CallLabels, Counter>,
    latency: Family<MethodLabels, Histogram, fn() -> Histogram>,
    queue_depth: Gauge,
    stalled_streams: Counter,
    prefills: Counter,
    prompt_tokens: Counter,
    generated_tokens: Counter,
    expert_tokens: Family<ExpertLabels, Counter>,
    running_sequences: Gauge,
    waiting_sequences: Gauge,
    batch_steps: Counter,
    batch_rows: Counter,
    cached_prompt_tokens: Counter,
    prefix_blocks: Gauge,
    prefix_bytes: Gauge,
    kv_bytes: Gauge,
    seen: Mutex<Seen>,
}

/// Engine counts already added to the counters.
#[derive(Default)]
struct Seen {
    counters: Option<EngineCounters>,
    scheduler: SchedulerStats,
    experts: Vec<Vec<u64>>,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("sofer");
        let requests = Family::<CallLabels, Counter>::default();
        registry.register(
            "requests",
            "gRPC requests by method and status code",
            requests.clone(),
        );
        let latency = Family::<MethodLabels, Histogram, fn() -> Histogram>::new_with_constructor(
            latency_histogram,
        );
        registry.register(
            "request_duration_seconds",
            "gRPC request latency by method (streams: until their last message)",
            latency.clone(),
        );
        let queue_depth = Gauge::default();
        registry.register(
            "queue_depth",
            "requests waiting for the engine",
            queue_depth.clone(),
        );
        let stalled_streams = Counter::default();
        registry.register(
            "stalled_streams",
            "streams cancelled because their client read nothing for the stall timeout",
            stalled_streams.clone(),
        );
        let prefills = Counter::default();
        registry.register("engine_prefills", "prompt prefills", prefills.clone());
        let prompt_tokens = Counter::default();
        registry.register(
            "engine_prompt_tokens",
            "prompt tokens processed",
            prompt_tokens.clone(),
        );
        let generated_tokens = Counter::default();
        registry.register(
            "engine_generated_tokens",
            "tokens generated (rate() is tokens/s)",
            generated_tokens.clone(),
        );
        let expert_tokens = Family::<ExpertLabels, Counter>::default();
        registry.register(
            "engine_expert_tokens",
            "tokens routed to each expert of each layer",
            expert_tokens.clone(),
        );
        let running_sequences = Gauge::default();
        registry.register(
            "engine_running_sequences",
            "sequences in the engine's batch (samples decoding, prompts in progress)",
            running_sequences.clone(),
        );
        let waiting_sequences = Gauge::default();
        registry.register(
            "engine_waiting_requests",
            "requests waiting for room in the engine's batch",
            waiting_sequences.clone(),
        );
        let batch_steps = Counter::default();
        registry.register(
            "engine_batch_steps",
            "batched forward passes",
            batch_steps.clone(),
        );
        let batch_rows = Counter::default();
        registry.register(
            "engine_batch_sequences",
            "sequences over all batched passes (÷ engine_batch_steps: the mean batch)",
            batch_rows.clone(),
        );
        let cached_prompt_tokens = Counter::default();
        registry.register(
            "engine_cached_prompt_tokens",
            "prompt tokens whose keys and values came from the prefix cache (of engine_prompt_tokens)",
            cached_prompt_tokens.clone(),
        );
        let prefix_blocks = Gauge::default();
        registry.register(
            "engine_prefix_cache_blocks",
            "prompt-prefix blocks kept for reuse",
            prefix_blocks.clone(),
        );
        let prefix_bytes = Gauge::default();
        registry.register(
            "engine_prefix_cache_bytes",
            "bytes of keys and values in the prefix cache",
            prefix_bytes.clone(),
        );
        let kv_bytes = Gauge::default();
        registry.register(
            "engine_kv_cache_bytes",
            "bytes of keys and values the running sequences hold",
            kv_bytes.clone(),
        );
        Self {
            registry,
            requests,
            latency,
            queue_depth,
            stalled_streams,
            prefills,
            prompt_tokens,
            generated_tokens,
            expert_tokens,
            running_sequences,
            waiting_sequences,
            batch_steps,
            batch_rows,
            cached_prompt_tokens,
            prefix_blocks,
            prefix_bytes,
            kv_bytes,
            seen: Mutex::new(Seen::default()),
        }
    }
}

impl Metrics {
    /// Counts one finished call.
    pub fn call(&self, method: &str, code: tonic::Code, took: Duration) {
        self.requests
            .get_or_create(&CallLabels {
                method: method.into(),
                code: format!("{code:?}"),
            })
            .inc();
        self.latency
            .get_or_create(&MethodLabels {
                method: method.into(),
            })
            .observe(took.as_secs_f64());
    }

    /// Counts a stream cancelled because its client stopped reading.
    pub fn stalled_stream(&self) {
        self.stalled_streams.inc();
    }

    /// The text exposition, with engine numbers brought up to date.
    pub fn render(&self, engine: Option<&Engine>, queue_depth: usize) -> String {
        self.queue_depth.set(queue_depth as i64);
        if let Some(engine) = engine {
            let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
            let now = engine.counters();
            let before = seen.counters.unwrap_or_default();
            self.prefills.inc_by(now.prefills - before.prefills);
            self.prompt_tokens
                .inc_by(now.prompt_tokens - before.prompt_tokens);
            self.cached_prompt_tokens
                .inc_by(now.cached_prompt_tokens - before.cached_prompt_tokens);
            self.generated_tokens
                .inc_by(now.generated_tokens - before.generated_tokens);
            seen.counters = Some(now);
            let batch = engine.scheduler_stats();
            self.running_sequences.set(batch.running as i64);
            self.prefix_blocks.set(batch.prefix_blocks as i64);
            self.prefix_bytes.set(batch.prefix_bytes as i64);
            self.kv_bytes.set(batch.kv_bytes as i64);
            self.waiting_sequences.set(batch.waiting as i64);
            self.batch_steps
                .inc_by(batch.steps.saturating_sub(seen.scheduler.steps));
            self.batch_rows.inc_by(
                batch
                    .batched_rows
                    .saturating_sub(seen.scheduler.batched_rows),
            );
            seen.scheduler = batch;
            let usage = engine.expert_usage().per_layer;
            seen.experts.resize(usage.len(), Vec::new());
            for (layer, (counts, old)) in usage.iter().zip(seen.experts.iter_mut()).enumerate() {
                old.resize(counts.len(), 0);
                for (expert, (&count, was)) in counts.iter().zip(old.iter_mut()).enumerate() {
                    let labels = ExpertLabels {
                        layer: layer as u32,
                        expert: expert as u32,
                    };
                    self.expert_tokens
                        .get_or_create(&labels)
                        .inc_by(count.saturating_sub(*was));
                    *was = count;
                }
            }
        }
        let mut out = String::new();
        if encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}

/// Serves `GET /metrics` on `listener` until the process ends; `render` makes the page.
pub async fn serve_metrics(
    listener: TcpListener,
    render: impl Fn() -> String + Send + Sync + 'static,
) {
    let render = std::sync::Arc::new(render);
    loop {
        let Ok((mut socket, _)) = listener.accept().await else {
            continue;
        };
        let render = render.clone();
        tokio::spawn(async move {
            let mut buf = vec![0u8; 4096];
            let mut len = 0;
            while len < buf.len() {
                match tokio::time::timeout(Duration::from_secs(5), socket.read(&mut buf[len..]))
                    .await
                {
                    Ok(Ok(0)) | Ok(Err(_)) | Err(_) => return,
                    Ok(Ok(n)) => len += n,
                }
                if buf[..len].windows(4).any(|w| w == b"\r\n\r\n") {
                    break;
                }
            }
            let head = String::from_utf8_lossy(&buf[..len]);
            let (status, body) = if head.starts_with("GET /metrics ") || head.starts_with("GET / ")
            {
                ("200 OK", render())
            } else {
                ("404 Not Found", "not found: GET /metrics\n".to_string())
            };
            let response = format!(
                "HTTP/1.1 {status}\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = socket.write_all(response.as_bytes()).await;
            let _ = socket.shutdown().await;
        });
    }
}
