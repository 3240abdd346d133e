//! A real `sofer serve` process on 127.0.0.1 (port 0) with the tiny reference model and an
//! index in a temp dir, and tonic clients for it.

#![allow(dead_code)] // each test crate uses part of the harness
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use sofer::service::pb;
use sofer::service::pb::corpus_service_client::CorpusServiceClient;
use sofer::service::pb::document_service_client::DocumentServiceClient;
use sofer::service::pb::model_service_client::ModelServiceClient;
use tonic::transport::Channel;
use tonic::Request;

/// A running server; killed when dropped.
pub struct Server {
    pub child: Child,
    pub addr: String,
    pub metrics: String,
    /// The HTTP address (`host:port`).
    pub http: String,
    pub dir: tempfile::TempDir,
}

impl Server {
    /// Starts a server with an optional config file and extra environment.
    pub fn start(config: Option<&str>, env: &[(&str, &str)]) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_sofer"));
        cmd.args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--metrics-listen",
            "127.0.0.1:0",
            "--http-listen",
            "127.0.0.1:0",
        ])
        .arg("--model")
        // A bigger model only for measuring (docs/testing.md); the tests use the tiny one.
        .arg(std::env::var_os("SOFER_TEST_SERVER_MODEL").map_or_else(
            || super::common::tiny_gguf("q8_0"),
            std::path::PathBuf::from,
        ))
        .arg("--index")
        .arg(dir.path().join("index"));
        if let Some(toml) = config {
            let path = dir.path().join("sofer.toml");
            std::fs::write(&path, toml).expect("write config");
            cmd.arg("--config").arg(path);
        }
        for (name, _) in std::env::vars() {
            if name.starts_with("SOFER_") {
                cmd.env_remove(name);
            }
        }
        let log = std::fs::File::create(dir.path().join("server.log")).expect("log file");
        cmd.envs(env.iter().copied())
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log);
        let mut child = cmd.spawn().expect("spawn sofer serve");
        let stdout = child.stdout.take().expect("stdout");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("read the listening line");
        let v: serde_json::Value =
            serde_json::from_str(&line).unwrap_or_else(|e| panic!("listening line {line:?}: {e}"));
        Self {
            child,
            addr: v["listening"].as_str().expect("listening").to_string(),
            metrics: v["metrics"].as_str().unwrap_or_default().to_string(),
            http: v["http"].as_str().expect("http").to_string(),
            dir,
        }
    }

    /// The server's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }

    pub async fn channel(&self) -> Channel {
        Channel::from_shared(format!("http://{}", self.addr))
            .expect("uri")
            .connect()
            .await
            .expect("connect")
    }

    pub async fn documents(&self) -> DocumentServiceClient<Channel> {
        DocumentServiceClient::new(self.channel().await)
    }

    pub async fn corpus(&self) -> CorpusServiceClient<Channel> {
        CorpusServiceClient::new(self.channel().await)
    }

    pub async fn model(&self) -> ModelServiceClient<Channel> {
        ModelServiceClient::new(self.channel().await)
    }

    /// Waits until health says SERVING for the whole server.
    pub async fn wait_serving(&self) {
        use tonic_health::pb::health_client::HealthClient;
        use tonic_health::pb::HealthCheckRequest;
        let mut health = HealthClient::new(self.channel().await);
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let status = health
                .check(HealthCheckRequest {
                    service: String::new(),
                })
                .await
                .map(|r| r.into_inner().status);
            if matches!(status, Ok(1)) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "never SERVING: {status:?}\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// CPU seconds (user + system) the server process has used.
    pub fn cpu_seconds(&self) -> f64 {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.child.id()))
            .expect("/proc/PID/stat");
        // Fields after the parenthesised command: utime and stime are the 12th and 13th.
        let after = &stat[stat.rfind(')').expect("comm") + 2..];
        let fields: Vec<&str> = after.split_whitespace().collect();
        let ticks: f64 = fields[11].parse::<f64>().unwrap() + fields[12].parse::<f64>().unwrap();
        ticks / 100.0
    }

    /// The server's peak resident memory (VmHWM) in MiB.
    pub fn peak_rss_mib(&self) -> f64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .expect("/proc/PID/status");
        let kb: f64 = status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .expect("VmHWM");
        kb / 1024.0
    }

    /// The process's exit status, once it exits within `within`.
    pub async fn wait_exit(&mut self, within: Duration) -> std::process::ExitStatus {
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status;
            }
            assert!(Instant::now() < deadline, "the server did not exit");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The engine counters once they stop moving.
    pub async fn settle(&self) -> pb::GetModelInfoResponse {
        let mut last = self.counters().await;
        loop {
            tokio::time::sleep(Duration::from_millis(200)).await;
            let now = self.counters().await;
            if now.decode_steps == last.decode_steps {
                return now;
            }
            last = now;
        }
    }

    /// Engine counters through the API.
    pub async fn counters(&self) -> pb::GetModelInfoResponse {
        self.model()
            .await
            .get_model_info(pb::GetModelInfoRequest {})
            .await
            .expect("GetModelInfo")
            .into_inner()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `message` with `authorization: Bearer key` when a key is given.
pub fn with_key<T>(message: T, key: Option<&str>) -> Request<T> {
    let mut request = Request::new(message);
    if let Some(key) = key {
        request.metadata_mut().insert(
            "authorization",
            format!("Bearer {key}").parse().expect("header"),
        );
    }
    request
}

/// A Hebrew document of `paragraphs` paragraphs.
pub fn hebrew_document(paragraphs: usize) -> String {
    (0..paragraphs)
        .map(|i| {
            format!(
                "בפסקה {i} דנה הכנסת בהצעת החוק החדשה, והשרים הציגו את עמדותיהם בפני הוועדה. \
                 המבקרים טענו כי ההצעה תפגע בשקיפות, והתומכים השיבו שהיא תחסוך זמן ותקציב."
            )
        })
        .collect::<Vec<_>>()
        .join("\n\n")
}

/// A labels list.
pub fn labels(names: &[&str]) -> Vec<pb::Label> {
    names
        .iter()
        .map(|n| pb::Label {
            name: n.to_string(),
            description: String::new(),
        })
        .collect()
}

/// Sampling with a budget.
pub fn budget(max_tokens: u32) -> Option<pb::SamplingOptions> {
    Some(pb::SamplingOptions {
        max_tokens: Some(max_tokens),
        seed: Some(1),
        ..Default::default()
    })
}

/// An ingest stream of `(collection, document)`.
pub fn ingest_stream(
    docs: Vec<(&str, pb::Document)>,
) -> impl tonic::codegen::tokio_stream::Stream<Item = pb::IngestDocumentsRequest> {
    let messages: Vec<_> = docs
        .into_iter()
        .map(|(collection, document)| pb::IngestDocumentsRequest {
            collection: collection.to_string(),
            document: Some(document),
        })
        .collect();
    tonic::codegen::tokio_stream::iter(messages)
}

/// A document with an id and text.
pub fn doc(id: &str, text: &str) -> pb::Document {
    pb::Document {
        id: id.into(),
        text: text.into(),
        ..Default::default()
    }
}

/// The body and head of `GET path` on `addr` (the metrics port).
pub async fn http_get(addr: &str, path: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut socket = tokio::net::TcpStream::connect(addr).await.expect("connect");
    socket
        .write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())
        .await
        .expect("write");
    let mut out = String::new();
    socket.read_to_string(&mut out).await.expect("read");
    out
}
