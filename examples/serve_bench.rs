//! Load on the server, in-process, with the tiny model: N clients send one RPC back to
//! back for S seconds, over gRPC or over HTTP/JSON; throughput, latency percentiles,
//! rejections and the process's peak memory.
//!
//! `cargo run --release --example serve_bench -- [--clients N] [--seconds S]
//! [--rpc classify|summarize|translate|tokenize] [--queue-capacity Q] [--workers W] [--http]` (defaults
//! 4, 30, classify, 64, gRPC; the model is `$SOFER_MODEL`, else the synthesized tiny Mixtral). Clients retry
//! RESOURCE_EXHAUSTED at once unless `--backoff-ms MS` makes them wait first. With
//! `SERVE_BENCH_CALLS=FILE`, every call's start, latency and code go to FILE (TSV).
//! With `--behind FILE`, one StreamSummarize of FILE's text starts first and the clients
//! start once its first message arrives: their latencies behind a long document (head-of-
//! line blocking), beside the same run without it.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use sofer::engine::synth::{synthesize, SynthQuant, SynthSpec};
use sofer::service::config::{Limits, ServerConfig};
use sofer::service::pb;
use sofer::service::pb::document_service_client::DocumentServiceClient;
use sofer::service::pb::model_service_client::ModelServiceClient;
use tonic::transport::Channel;
use tonic::Code;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::HealthCheckRequest;

type Error = Box<dyn std::error::Error + Send + Sync>;

/// How long one call may take before the client gives up on it (and counts a hang).
const CALL_TIMEOUT: Duration = Duration::from_secs(120);
/// How long the model may take to load.
const READY_TIMEOUT: Duration = Duration::from_secs(300);
/// How long the server may take to stop once told.
const STOP_TIMEOUT: Duration = Duration::from_secs(60);

const SENTENCE: &str = "הכנסת אישרה הלילה בקריאה שלישית את תקציב המדינה לשנה הבאה.";
const SHORT: &str = "מחר בבוקר ייפתח בירושלים כנס בינלאומי על מים ואנרגיה.";
const PARAGRAPH: &str = "ועדת הכספים של הכנסת דנה היום בהצעה להגדיל את התקציב המיועד \
לתחבורה הציבורית בערים הגדולות. לפי ההצעה, יוקצו מאות מיליוני שקלים לקווי אוטובוס \
חדשים, לנתיבים מהירים ולהרחבת הרכבת הקלה בתל אביב, בירושלים ובחיפה. נציגי משרד האוצר \
הזהירו כי ההוצאה הנוספת תגדיל את הגירעון, ודרשו למצוא מקורות מימון חלופיים לפני \
ההצבעה. ראשי הערים תמכו בהצעה ואמרו שהעומס בכבישים פוגע בכלכלה ובאיכות החיים של \
התושבים. ארגוני סביבה הוסיפו שהשקעה בתחבורה ציבורית תפחית את זיהום האוויר ואת פליטת \
גזי החממה. יושב ראש הוועדה הודיע שההצבעה תתקיים בשבוע הבא, לאחר שמשרד התחבורה יציג \
תוכנית מפורטת ולוח זמנים לביצוע העבודות בכל אחת מהערים.";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Rpc {
    Classify,
    Summarize,
    Translate,
    Tokenize,
}

impl Rpc {
    fn parse(name: &str) -> Result<Self, Error> {
        Ok(match name {
            "classify" => Self::Classify,
            "summarize" => Self::Summarize,
            "translate" => Self::Translate,
            "tokenize" => Self::Tokenize,
            other => return Err(format!("unknown --rpc {other:?}").into()),
        })
    }

    fn name(self) -> &'static str {
        match self {
            Self::Classify => "classify",
            Self::Summarize => "summarize",
            Self::Translate => "translate",
            Self::Tokenize => "tokenize",
        }
    }
}

struct Args {
    clients: usize,
    seconds: u64,
    rpc: Rpc,
    queue_capacity: usize,
    /// Tasks the server runs at once (their generations share the engine's batch).
    workers: usize,
    backoff: Duration,
    /// Call the HTTP/JSON routes instead of gRPC.
    http: bool,
    /// A document summarized (streamed) while the clients run.
    behind: Option<PathBuf>,
}

fn parse_args() -> Result<Args, Error> {
    let mut args = Args {
        clients: 4,
        seconds: 30,
        rpc: Rpc::Classify,
        queue_capacity: 64,
        workers: 1,
        backoff: Duration::ZERO,
        http: false,
        behind: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--clients" => args.clients = value()?.parse()?,
            "--seconds" => args.seconds = value()?.parse()?,
            "--rpc" => args.rpc = Rpc::parse(&value()?)?,
            "--queue-capacity" => args.queue_capacity = value()?.parse()?,
            "--workers" => args.workers = value()?.parse()?,
            "--backoff-ms" => args.backoff = Duration::from_millis(value()?.parse()?),
            "--http" => args.http = true,
            "--behind" => args.behind = Some(PathBuf::from(value()?)),
            "-h" | "--help" => {
                println!(
                    "serve_bench [--clients N] [--seconds S] \
                     [--rpc classify|summarize|translate|tokenize] [--queue-capacity Q] \
                     [--workers W] [--backoff-ms MS] [--http] [--behind FILE]"
                );
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument {other:?}").into()),
        }
    }
    if args.clients == 0 {
        return Err("--clients must be at least 1".into());
    }
    Ok(args)
}

/// One client's calls: latencies of the successful ones, and every status code seen.
#[derive(Default)]
struct Tally {
    /// With `SERVE_BENCH_CALLS` only: every call's start (since the benchmark's), latency
    /// and code (none: the client gave up).
    calls: Vec<(Duration, Duration, Option<Code>)>,
    ok: Vec<Duration>,
    rejected: Vec<Duration>,
    errors: BTreeMap<String, (usize, String)>,
}

impl Tally {
    fn merge(&mut self, other: Tally) {
        self.calls.extend(other.calls);
        self.ok.extend(other.ok);
        self.rejected.extend(other.rejected);
        for (code, (n, message)) in other.errors {
            let entry = self.errors.entry(code).or_insert((0, message));
            entry.0 += n;
        }
    }

    /// Counts one call's outcome, waiting `backoff` after a rejection.
    async fn count(
        &mut self,
        result: Result<Result<(), tonic::Status>, tokio::time::error::Elapsed>,
        took: Duration,
        backoff: Duration,
    ) {
        match result {
            Ok(Ok(())) => self.ok.push(took),
            Ok(Err(status)) if status.code() == Code::ResourceExhausted => {
                self.rejected.push(took);
                if !backoff.is_zero() {
                    tokio::time::sleep(backoff).await;
                }
            }
            Ok(Err(status)) => {
                self.error(format!("{:?}", status.code()), status.message().to_string())
            }
            Err(_) => self.error(
                "client timeout".into(),
                format!("no answer in {CALL_TIMEOUT:?}"),
            ),
        }
    }

    fn error(&mut self, code: String, message: String) {
        self.errors.entry(code).or_insert((0, message)).0 += 1;
    }
}

/// Sends one request of `rpc`.
async fn call(
    rpc: Rpc,
    documents: &mut DocumentServiceClient<Channel>,
    model: &mut ModelServiceClient<Channel>,
) -> Result<(), tonic::Status> {
    let sampling = |max_tokens| {
        Some(pb::SamplingOptions {
            max_tokens: Some(max_tokens),
            ..Default::default()
        })
    };
    match rpc {
        Rpc::Classify => {
            let labels = ["חדשות", "ספורט"]
                .into_iter()
                .map(|name| pb::Label {
                    name: name.into(),
                    description: String::new(),
                })
                .collect();
            documents
                .classify(pb::ClassifyRequest {
                    text: SENTENCE.into(),
                    labels,
                    votes: 3,
                    sampling: sampling(4),
                    ..Default::default()
                })
                .await?;
        }
        Rpc::Summarize => {
            documents
                .summarize(pb::SummarizeRequest {
                    text: PARAGRAPH.into(),
                    sampling: sampling(16),
                    ..Default::default()
                })
                .await?;
        }
        Rpc::Translate => {
            documents
                .translate(pb::TranslateRequest {
                    text: SHORT.into(),
                    sampling: sampling(16),
                    ..Default::default()
                })
                .await?;
        }
        Rpc::Tokenize => {
            model
                .tokenize(pb::TokenizeRequest {
                    text: PARAGRAPH.into(),
                    add_bos: false,
                })
                .await?;
        }
    }
    Ok(())
}

/// The HTTP route and JSON body of the same request [`call`] sends.
fn http_request(rpc: Rpc) -> (&'static str, String) {
    let sampling = |max_tokens: u32| serde_json::json!({ "maxTokens": max_tokens });
    let (route, body) = match rpc {
        Rpc::Classify => (
            "/v1/classify",
            serde_json::json!({"text": SENTENCE, "labels": [{"name": "חדשות"}, {"name": "ספורט"}],
                               "votes": 3, "sampling": sampling(4)}),
        ),
        Rpc::Summarize => (
            "/v1/summarize",
            serde_json::json!({"text": PARAGRAPH, "sampling": sampling(16)}),
        ),
        Rpc::Translate => (
            "/v1/translate",
            serde_json::json!({"text": SHORT, "sampling": sampling(16)}),
        ),
        Rpc::Tokenize => ("/v1/tokenize", serde_json::json!({ "text": PARAGRAPH })),
    };
    (route, body.to_string())
}

/// Sends one request of `rpc` over HTTP/1.1 (keep-alive); 429 is RESOURCE_EXHAUSTED.
async fn http_call(
    rpc: Rpc,
    sender: &mut hyper::client::conn::http1::SendRequest<http_body_util::Full<hyper::body::Bytes>>,
    authority: &str,
) -> Result<(), tonic::Status> {
    use http_body_util::BodyExt;
    let (route, body) = http_request(rpc);
    let request = hyper::Request::post(route)
        .header("host", authority)
        .header("content-type", "application/json")
        .body(http_body_util::Full::new(hyper::body::Bytes::from(body)))
        .map_err(|e| tonic::Status::internal(e.to_string()))?;
    sender
        .ready()
        .await
        .map_err(|e| tonic::Status::unavailable(e.to_string()))?;
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| tonic::Status::unavailable(e.to_string()))?;
    let status = response.status();
    let body = response
        .into_body()
        .collect()
        .await
        .map_err(|e| tonic::Status::unavailable(e.to_string()))?
        .to_bytes();
    match status.as_u16() {
        200 => Ok(()),
        429 => Err(tonic::Status::resource_exhausted("HTTP 429")),
        other => Err(tonic::Status::unknown(format!(
            "HTTP {other}: {}",
            String::from_utf8_lossy(&body)
        ))),
    }
}

/// One HTTP client on its own connection, calling until `until`.
async fn http_client(
    addr: std::net::SocketAddr,
    rpc: Rpc,
    backoff: Duration,
    until: Instant,
) -> Result<Tally, Error> {
    let stream = tokio::net::TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await?;
    tokio::spawn(connection);
    let authority = addr.to_string();
    let mut tally = Tally::default();
    while Instant::now() < until {
        let started = Instant::now();
        let result =
            tokio::time::timeout(CALL_TIMEOUT, http_call(rpc, &mut sender, &authority)).await;
        tally.count(result, started.elapsed(), backoff).await;
    }
    Ok(tally)
}

/// One client on its own connection, calling until `until`.
async fn client(
    url: String,
    rpc: Rpc,
    backoff: Duration,
    record: bool,
    start: Instant,
    until: Instant,
) -> Result<Tally, Error> {
    let channel = Channel::from_shared(url)?.connect().await?;
    let mut documents = DocumentServiceClient::new(channel.clone());
    let mut model = ModelServiceClient::new(channel);
    let mut tally = Tally::default();
    while Instant::now() < until {
        let started = Instant::now();
        let result =
            tokio::time::timeout(CALL_TIMEOUT, call(rpc, &mut documents, &mut model)).await;
        let took = started.elapsed();
        if record {
            let code = match &result {
                Ok(Ok(())) => Some(Code::Ok),
                Ok(Err(status)) => Some(status.code()),
                Err(_) => None,
            };
            tally.calls.push((started - start, took, code));
        }
        tally.count(result, took, backoff).await;
    }
    Ok(tally)
}

/// Starts one StreamSummarize of `text` and returns once its first message arrived; the
/// task it leaves answers the stream's wall time (from the start) and prompt tokens.
async fn summarize_behind(
    url: &str,
    text: String,
) -> Result<tokio::task::JoinHandle<Result<(Duration, u64), Error>>, Error> {
    let started = Instant::now();
    let channel = Channel::from_shared(url.to_string())?.connect().await?;
    let mut documents = DocumentServiceClient::new(channel);
    let mut stream = documents
        .stream_summarize(pb::SummarizeRequest {
            text,
            sampling: Some(pb::SamplingOptions {
                max_tokens: Some(128),
                ..Default::default()
            }),
            ..Default::default()
        })
        .await?
        .into_inner();
    stream
        .message()
        .await?
        .ok_or("the long summarize ended at once")?;
    Ok(tokio::spawn(async move {
        let mut prompt_tokens = 0;
        while let Some(message) = stream.message().await? {
            if let Some(pb::stream_summarize_response::Event::Response(r)) = message.event {
                prompt_tokens = r.usage.map_or(0, |u| u64::from(u.prompt_tokens));
            }
        }
        Ok((started.elapsed(), prompt_tokens))
    }))
}

/// Waits until the whole server ("") reports SERVING.
async fn wait_serving(url: &str) -> Result<(), Error> {
    let deadline = Instant::now() + READY_TIMEOUT;
    let mut health = loop {
        match Channel::from_shared(url.to_string())?.connect().await {
            Ok(channel) => break HealthClient::new(channel),
            Err(e) if Instant::now() < deadline => {
                eprintln!("connecting: {e}; retrying");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => return Err(e.into()),
        }
    };
    loop {
        let status = health
            .check(HealthCheckRequest {
                service: String::new(),
            })
            .await
            .map(|r| r.into_inner().status);
        if matches!(status, Ok(s) if s == ServingStatus::Serving as i32) {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(format!("not SERVING after {READY_TIMEOUT:?}: {status:?}").into());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The nearest-rank `p` percentile of sorted `values`, in milliseconds.
fn percentile_ms(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1].as_secs_f64() * 1000.0
}

/// A `Vm…:` line of /proc/self/status, in MiB.
fn vm_mib(field: &str) -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

#[tokio::main(flavor = "multi_thread")]
async fn main() -> Result<(), Error> {
    let args = parse_args()?;
    if std::env::var_os("RUST_LOG").is_some() {
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_writer(std::io::stderr)
            .init();
    }
    let scratch = tempfile::tempdir()?;
    let model = match std::env::var_os("SOFER_MODEL") {
        Some(path) => PathBuf::from(path),
        None => {
            let path = scratch.path().join("tiny-q8_0.gguf");
            synthesize(&SynthSpec::tiny(SynthQuant::Q8_0), &path)?;
            path
        }
    };
    if !model.is_file() {
        return Err(format!("no model at {}", model.display()).into());
    }
    let model_name = model
        .file_name()
        .unwrap_or_default()
        .to_string_lossy()
        .into_owned();
    let index = tempfile::tempdir()?;
    let config = ServerConfig {
        model: Some(model),
        index: Some(index.path().to_path_buf()),
        limits: Limits {
            queue_capacity: args.queue_capacity,
            workers: args.workers,
            ..Default::default()
        },
        ..Default::default()
    };
    let workers = config.limits.workers;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let http_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let http_addr = http_listener.local_addr()?;
    let url = format!("http://{addr}");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let started = Instant::now();
    let server = tokio::spawn(sofer::service::serve(
        config,
        sofer::service::Listeners {
            grpc: listener,
            metrics: None,
            http: Some(http_listener),
        },
        async {
            let _ = stopped.await;
        },
    ));
    wait_serving(&url).await?;
    let ready_after = started.elapsed();

    let long = match &args.behind {
        Some(path) => Some(summarize_behind(&url, std::fs::read_to_string(path)?).await?),
        None => None,
    };
    let calls_file = std::env::var_os("SERVE_BENCH_CALLS");
    let bench_start = Instant::now();
    let until = bench_start + Duration::from_secs(args.seconds);
    let clients: Vec<_> = (0..args.clients)
        .map(|_| {
            if args.http {
                return tokio::spawn(http_client(http_addr, args.rpc, args.backoff, until));
            }
            tokio::spawn(client(
                url.clone(),
                args.rpc,
                args.backoff,
                calls_file.is_some(),
                bench_start,
                until,
            ))
        })
        .collect();
    let mut tally = Tally::default();
    for handle in clients {
        tally.merge(handle.await??);
    }
    let wall = bench_start.elapsed().as_secs_f64();
    let behind = match long {
        Some(long) => {
            let clients_done = bench_start.elapsed();
            let (took, prompt_tokens) = long.await??;
            Some(format!(
                "a StreamSummarize of {prompt_tokens} prompt tokens, {:.1} s in all; \
                 the clients ran {}",
                took.as_secs_f64(),
                if took > clients_done {
                    "wholly inside it"
                } else {
                    "partly after it ended (shorten --seconds)"
                }
            ))
        }
        None => None,
    };

    let stop_start = Instant::now();
    let _ = stop.send(());
    let exit = match tokio::time::timeout(STOP_TIMEOUT, server).await {
        Ok(Ok(Ok(()))) => format!("cleanly in {} ms", stop_start.elapsed().as_millis()),
        Ok(Ok(Err(e))) => format!("with an error: {e}"),
        Ok(Err(e)) => format!("by panicking: {e}"),
        Err(_) => format!("not within {STOP_TIMEOUT:?} (hang)"),
    };

    if let Some(path) = calls_file {
        tally.calls.sort_by_key(|c| c.0);
        let lines: String = tally
            .calls
            .iter()
            .map(|(at, took, code)| {
                format!(
                    "{:.3}\t{:.3}\t{}\n",
                    at.as_secs_f64() * 1000.0,
                    took.as_secs_f64() * 1000.0,
                    code.map_or("client timeout".into(), |c| format!("{c:?}"))
                )
            })
            .collect();
        std::fs::write(&path, "start_ms\tms\tcode\n".to_string() + &lines)?;
    }
    tally.ok.sort();
    tally.rejected.sort();
    let other: usize = tally.errors.values().map(|(n, _)| n).sum();
    let ok = tally.ok.len();
    // The engine's compute threads (candle's pool: CANDLE_NUM_THREADS, RAYON_NUM_THREADS,
    // else the physical cores, which ignores the affinity mask).
    let engine_threads = std::env::var("CANDLE_NUM_THREADS")
        .ok()
        .and_then(|n| n.parse::<usize>().ok())
        .filter(|&n| n > 0)
        .unwrap_or_else(candle_core::utils::get_num_threads);
    println!(
        "{}, {} cores available, {engine_threads} engine threads, {workers} engine \
         worker(s), queue capacity {}, ready after {:.2} s",
        model_name,
        std::thread::available_parallelism()?.get(),
        args.queue_capacity,
        ready_after.as_secs_f64()
    );
    println!(
        "rpc\t\t{} over {}",
        args.rpc.name(),
        if args.http { "HTTP/1.1 JSON" } else { "gRPC" }
    );
    println!("clients\t\t{}", args.clients);
    if let Some(behind) = behind {
        println!("behind\t\t{behind}");
    }
    println!("seconds\t\t{} (wall {wall:.2})", args.seconds);
    println!("requests OK\t{ok}");
    println!("throughput\t{:.2} OK/s", ok as f64 / wall);
    println!(
        "latency ms\tp50 {:.1}  p90 {:.1}  p99 {:.1}  max {:.1}",
        percentile_ms(&tally.ok, 50.0),
        percentile_ms(&tally.ok, 90.0),
        percentile_ms(&tally.ok, 99.0),
        percentile_ms(&tally.ok, 100.0)
    );
    if tally.rejected.is_empty() {
        println!("rejected\t0 (RESOURCE_EXHAUSTED)");
    } else {
        println!(
            "rejected\t{} (RESOURCE_EXHAUSTED; {:.1}/s, p50 {:.2} ms, max {:.2} ms)",
            tally.rejected.len(),
            tally.rejected.len() as f64 / wall,
            percentile_ms(&tally.rejected, 50.0),
            percentile_ms(&tally.rejected, 100.0)
        );
    }
    println!("errors\t\t{other}");
    for (code, (n, message)) in &tally.errors {
        println!("  {code}\t{n}\t(first: {message})");
    }
    match (vm_mib("VmHWM:"), vm_mib("VmRSS:")) {
        (Some(peak), Some(now)) => println!("peak RSS\t{peak:.1} MiB (now {now:.1} MiB)"),
        _ => println!("peak RSS\tunknown (no /proc/self/status)"),
    }
    println!("server exited\t{exit}");
    Ok(())
}
