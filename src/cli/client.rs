//! `sofer client …`: a gRPC client of a running `sofer serve`, for scripts and the quick
//! start (the same calls as grpcurl or a generated client would make).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context;
use sofer::documents::{self, Format};
use sofer::retrieval::read_documents_with;
use sofer::service::pb;
use sofer::service::pb::corpus_service_client::CorpusServiceClient;
use sofer::service::pb::document_service_client::DocumentServiceClient;
use tonic::transport::Channel;
use tonic::Request;

/// Where the server is and who calls it.
#[derive(Debug, clap::Args)]
pub struct Connection {
    /// The server's address.
    #[arg(long, env = "SOFER_SERVER", default_value = "http://127.0.0.1:50051")]
    server: String,
    /// The API key (sent as `authorization: Bearer KEY`).
    #[arg(long, env = "SOFER_API_KEY", hide_env_values = true)]
    key: Option<String>,
}

/// A client call.
#[derive(Debug, clap::Subcommand)]
pub enum ClientCommand {
    /// Wait until the server's health says SERVING.
    Wait {
        #[command(flatten)]
        connection: Connection,
        /// Give up after this many seconds.
        #[arg(long, default_value_t = 300)]
        timeout: u64,
    },
    /// Add documents (JSONL, .txt/.md files or folders) to a collection.
    Ingest {
        #[command(flatten)]
        connection: Connection,
        /// Files or folders.
        paths: Vec<PathBuf>,
        /// The collection.
        #[arg(long, default_value = "default")]
        collection: String,
    },
    /// Summarize a document (streamed).
    Summarize {
        #[command(flatten)]
        task: TaskFlags,
    },
    /// Translate a document: a DOCX, ODT, PDF or HTML file is sent as it is.
    Translate {
        #[command(flatten)]
        task: TaskFlags,
        /// Write the translation to FILE: the rebuilt DOCX or HTML file the server returns
        /// when FILE has the input's extension, the translated text otherwise.
        #[arg(long, short, value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// Classify a document.
    Classify {
        #[command(flatten)]
        task: TaskFlags,
        /// The labels, comma-separated.
        #[arg(long, value_delimiter = ',', required = true)]
        labels: Vec<String>,
        /// score or vote [default: vote when --votes is given, else the server's choice].
        #[arg(long)]
        method: Option<sofer::tasks::ClassifyMethod>,
        /// Samples to vote.
        #[arg(long)]
        votes: Option<u32>,
    },
}

/// What the task calls share.
#[derive(Debug, clap::Args)]
pub struct TaskFlags {
    #[command(flatten)]
    connection: Connection,
    /// The document; `-` or nothing for stdin.
    input: Option<PathBuf>,
    /// A collection for context, translation memory or examples.
    #[arg(long)]
    collection: Option<String>,
    /// he or en.
    #[arg(long = "target-lang")]
    target_lang: Option<String>,
    /// Output budget of each generation call.
    #[arg(long)]
    max_tokens: Option<u32>,
    /// The sampler seed.
    #[arg(long)]
    seed: Option<u64>,
}

impl Connection {
    async fn channel(&self) -> anyhow::Result<Channel> {
        Channel::from_shared(self.server.clone())
            .with_context(|| format!("server address {}", self.server))?
            .connect()
            .await
            .with_context(|| format!("connecting to {}", self.server))
    }

    fn request<T>(&self, message: T) -> anyhow::Result<Request<T>> {
        let mut request = Request::new(message);
        if let Some(key) = &self.key {
            request
                .metadata_mut()
                .insert("authorization", format!("Bearer {key}").parse()?);
        }
        Ok(request)
    }
}

impl TaskFlags {
    fn sampling(&self) -> Option<pb::SamplingOptions> {
        Some(pb::SamplingOptions {
            max_tokens: self.max_tokens,
            seed: self.seed,
            temperature: None,
        })
    }

    fn target(&self) -> anyhow::Result<i32> {
        Ok(match self.target_lang.as_deref() {
            None => pb::Language::Unspecified,
            Some("he") => pb::Language::Hebrew,
            Some("en") => pb::Language::English,
            Some(other) => anyhow::bail!("--target-lang must be he or en, got {other}"),
        } as i32)
    }
}

/// Runs a client command.
pub fn run(command: ClientCommand) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(call(command))
}

fn status(e: tonic::Status) -> anyhow::Error {
    anyhow::anyhow!("{:?}: {}", e.code(), e.message())
}

async fn call(command: ClientCommand) -> anyhow::Result<()> {
    match command {
        ClientCommand::Wait {
            connection,
            timeout,
        } => wait(&connection, Duration::from_secs(timeout)).await,
        ClientCommand::Ingest {
            connection,
            paths,
            collection,
        } => {
            let mut messages = Vec::new();
            for path in &paths {
                for doc in read_documents_with(path, Some(super::index_paragraphs)) {
                    let doc = doc?;
                    messages.push(pb::IngestDocumentsRequest {
                        collection: collection.clone(),
                        document: Some(pb::Document {
                            id: doc.id,
                            title: doc.title,
                            paragraphs: doc.paragraphs,
                            source: doc.source,
                            translation: doc.translation.unwrap_or_default(),
                            labels: doc.labels,
                            ..Default::default()
                        }),
                    });
                }
            }
            let mut client = CorpusServiceClient::new(connection.channel().await?);
            let stream = tonic::codegen::tokio_stream::iter(messages);
            let report = client
                .ingest_documents(connection.request(stream)?)
                .await
                .map_err(status)?
                .into_inner();
            println!(
                "ingested {} documents ({} passages) into `{collection}`",
                report.documents, report.passages
            );
            Ok(())
        }
        ClientCommand::Summarize { task } => {
            let request = pb::SummarizeRequest {
                text: super::read_document(task.input.as_deref())?,
                output_language: task.target()?,
                collection: task.collection.clone().unwrap_or_default(),
                sampling: task.sampling(),
                ..Default::default()
            };
            let mut client = DocumentServiceClient::new(task.connection.channel().await?);
            let mut stream = client
                .stream_summarize(task.connection.request(request)?)
                .await
                .map_err(status)?
                .into_inner();
            while let Some(message) = stream.message().await.map_err(status)? {
                match message.event {
                    Some(pb::stream_summarize_response::Event::TextDelta(text)) => {
                        print!("{text}");
                        use std::io::Write;
                        std::io::stdout().flush()?;
                    }
                    Some(pb::stream_summarize_response::Event::Response(r)) => {
                        println!();
                        for c in r.citations.iter().filter(|c| c.cited) {
                            println!("  [{}] {}", c.id, c.title);
                        }
                    }
                    _ => {}
                }
            }
            Ok(())
        }
        ClientCommand::Translate { task, output } => {
            let input = super::read_input(task.input.as_deref())?;
            let format = input.document.format;
            let (text, content, media_type) = if format == Format::Text {
                (input.text, Vec::new(), String::new())
            } else {
                (String::new(), input.bytes, format.media_type().to_string())
            };
            let request = pb::TranslateRequest {
                text,
                content,
                media_type,
                target_language: task.target()?,
                collection: task.collection.clone().unwrap_or_default(),
                sampling: task.sampling(),
                ..Default::default()
            };
            let mut client = DocumentServiceClient::new(task.connection.channel().await?);
            let response = client
                .translate(task.connection.request(request)?)
                .await
                .map_err(status)?
                .into_inner();
            match output {
                Some(path) => {
                    let wanted = documents::from_extension(&path.display().to_string());
                    let rebuilt = !response.content.is_empty() && wanted == Some(format);
                    if wanted.is_some_and(|w| w != Format::Text) && !rebuilt {
                        anyhow::bail!(
                            "--output {}: the server rebuilds DOCX and HTML inputs in their own format; give a .txt output",
                            path.display()
                        );
                    }
                    let bytes = if rebuilt {
                        response.content
                    } else {
                        response.translation.into_bytes()
                    };
                    super::output::write_whole(&path, &bytes)?;
                }
                None => println!("{}", response.translation),
            }
            Ok(())
        }
        ClientCommand::Classify {
            task,
            labels,
            method,
            votes,
        } => {
            let method = match method {
                None => pb::ClassifyMethod::Unspecified,
                Some(sofer::tasks::ClassifyMethod::Score) => pb::ClassifyMethod::Score,
                Some(sofer::tasks::ClassifyMethod::Vote) => pb::ClassifyMethod::Vote,
            };
            let request = pb::ClassifyRequest {
                text: super::read_document(task.input.as_deref())?,
                labels: labels
                    .into_iter()
                    .map(|name| pb::Label {
                        name,
                        description: String::new(),
                    })
                    .collect(),
                votes: votes.unwrap_or(0),
                method: method as i32,
                collection: task.collection.clone().unwrap_or_default(),
                sampling: task.sampling(),
                ..Default::default()
            };
            let mut client = DocumentServiceClient::new(task.connection.channel().await?);
            let r = client
                .classify(task.connection.request(request)?)
                .await
                .map_err(status)?
                .into_inner();
            let label = if r.label.is_empty() {
                "(none)"
            } else {
                &r.label
            };
            if r.method == pb::ClassifyMethod::Score as i32 {
                let all: Vec<String> = r
                    .probabilities
                    .iter()
                    .map(|p| format!("{} {:.3}", p.label, p.probability))
                    .collect();
                println!(
                    "{label}\t{:.2}\t({}; coverage {:.3})",
                    r.confidence,
                    all.join(", "),
                    r.coverage
                );
            } else {
                let tally: Vec<String> = r
                    .tally
                    .iter()
                    .map(|l| format!("{} {}", l.label, l.votes))
                    .collect();
                println!(
                    "{label}\t{:.2}\t({}; {} abstentions)",
                    r.confidence,
                    tally.join(", "),
                    r.abstentions
                );
            }
            Ok(())
        }
    }
}

async fn wait(connection: &Connection, timeout: Duration) -> anyhow::Result<()> {
    use tonic_health::pb::health_client::HealthClient;
    use tonic_health::pb::HealthCheckRequest;
    let started = Instant::now();
    loop {
        if let Ok(channel) = connection.channel().await {
            let status = HealthClient::new(channel)
                .check(HealthCheckRequest {
                    service: String::new(),
                })
                .await
                .map(|r| r.into_inner().status);
            if matches!(status, Ok(1)) {
                return Ok(());
            }
        }
        anyhow::ensure!(
            started.elapsed() < timeout,
            "{} did not become SERVING within {} s",
            connection.server,
            timeout.as_secs()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
