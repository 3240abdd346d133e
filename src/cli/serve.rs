//! `sofer serve`: the gRPC service (and HTTP beside it); `sofer hash-key`: what the config stores for a key.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use sofer::service::{hash_key, serve, Listeners, ServerConfig};

use super::index::IndexDir;

/// Flags of `sofer serve` (over the config file and `SOFER_*` variables).
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// The TOML configuration file.
    #[arg(long, env = "SOFER_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,
    /// The gRPC address [default: 127.0.0.1:50051]; port 0 picks a free port.
    #[arg(long)]
    listen: Option<SocketAddr>,
    /// The Prometheus metrics address (GET /metrics) [default: none].
    #[arg(long)]
    metrics_listen: Option<SocketAddr>,
    /// The HTTP address: JSON tasks, the OpenAI-compatible API and the web page
    /// [default: none].
    #[arg(long)]
    http_listen: Option<SocketAddr>,
    /// The GGUF model.
    #[arg(long)]
    model: Option<PathBuf>,
    /// A tokenizer.json to use instead of the GGUF's tokenizer.
    #[arg(long)]
    tokenizer: Option<PathBuf>,
    /// A folder of prompt files overriding the built-in ones.
    #[arg(long, value_name = "DIR")]
    prompts: Option<PathBuf>,
    /// Search the index without writing it (IngestDocuments/DeleteDocuments refused).
    #[arg(long)]
    index_read_only: bool,
    #[command(flatten)]
    index: IndexDir,
}

/// Flags of `sofer hash-key`.
#[derive(Debug, clap::Args)]
pub struct HashKeyArgs {
    /// The API key; `-` or nothing reads one line from stdin.
    key: Option<String>,
}

/// Runs `sofer serve` until SIGTERM or SIGINT.
pub fn run(args: ServeArgs) -> anyhow::Result<()> {
    let mut config = ServerConfig::load(args.config.as_deref(), |name| std::env::var(name).ok())?;
    if let Some(listen) = args.listen {
        config.listen = listen;
    }
    if args.metrics_listen.is_some() {
        config.metrics_listen = args.metrics_listen;
    }
    if args.http_listen.is_some() {
        config.http_listen = args.http_listen;
    }
    if args.model.is_some() {
        config.model = args.model;
    }
    if args.tokenizer.is_some() {
        config.tokenizer = args.tokenizer;
    }
    if args.prompts.is_some() {
        config.prompts = args.prompts;
    }
    config.index_read_only |= args.index_read_only;
    if args.index.dir.is_some() || config.index.is_none() {
        config.index = Some(args.index.resolve()?);
    }
    config.validate()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async move {
        let bind = |at: SocketAddr, what: &'static str| async move {
            tokio::net::TcpListener::bind(at)
                .await
                .with_context(|| format!("binding the {what} address {at}"))
        };
        let grpc = bind(config.listen, "gRPC").await?;
        let metrics = match config.metrics_listen {
            Some(at) => Some(bind(at, "metrics").await?),
            None => None,
        };
        let http = match config.http_listen {
            Some(at) => Some(bind(at, "HTTP").await?),
            None => None,
        };
        let addr = grpc.local_addr()?;
        let local = |l: &Option<tokio::net::TcpListener>| {
            l.as_ref()
                .and_then(|l| l.local_addr().ok())
                .map(|a| a.to_string())
        };
        let (metrics_addr, http_addr) = (local(&metrics), local(&http));
        println!(
            "{}",
            serde_json::json!({ "listening": addr.to_string(), "metrics": metrics_addr, "http": http_addr })
        );
        std::io::stdout().flush()?;
        tracing::info!(%addr, metrics = ?metrics_addr, http = ?http_addr, "listening");
        let listeners = Listeners { grpc, metrics, http };
        serve(config, listeners, shutdown_signal()).await?;
        anyhow::Ok(())
    })
}

/// Resolves on SIGTERM or SIGINT.
async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut terminate) => {
                tokio::select! {
                    _ = interrupt => {}
                    _ = terminate.recv() => {}
                }
            }
            Err(_) => {
                let _ = interrupt.await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = interrupt.await;
    }
}

/// Prints the SHA-256 of an API key, as `[[auth.keys]] sha256` wants it.
pub fn hash(args: HashKeyArgs) -> anyhow::Result<()> {
    let key = match args.key.filter(|k| k != "-") {
        Some(key) => key,
        None => {
            let mut line = String::new();
            std::io::stdin().read_line(&mut line)?;
            line.trim_end_matches(['\r', '\n']).to_string()
        }
    };
    anyhow::ensure!(!key.is_empty(), "the key is empty");
    println!("{}", hash_key(&key));
    Ok(())
}
