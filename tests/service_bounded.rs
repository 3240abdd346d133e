//! A request's cost stops when its caller stops: deadlines and cancellation inside the
//! prompt, stalled stream readers, health while big requests run, tiny temperatures,
//! cancelled ingest streams, and every call logged and counted. A real `sofer serve` on
//! 127.0.0.1 and real tonic clients, the tiny model.

mod common;
#[path = "service/harness.rs"]
mod harness;

use std::time::{Duration, Instant};

use harness::{budget, doc, hebrew_document, http_get, labels, Server};
use sofer::service::pb;
use tonic::Code;

/// Waits until the server's CPU time stops growing (less than 0.1 CPU-s per 0.5 s), at
/// most two minutes, and returns the CPU seconds used after `from`.
async fn cpu_after(server: &Server, from: f64) -> f64 {
    let mut last = server.cpu_seconds();
    for _ in 0..240 {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let now = server.cpu_seconds();
        if now - last < 0.1 {
            return now - from;
        }
        last = now;
    }
    last - from
}

/// How long a Classify of two labels takes, start to answer.
async fn classify_latency(server: &Server) -> Duration {
    let mut documents = server.documents().await;
    let started = Instant::now();
    documents
        .classify(pb::ClassifyRequest {
            text: "הכנסת אישרה את התקציב".into(),
            labels: labels(&["politics", "sport"]),
            votes: 1,
            sampling: budget(4),
            ..Default::default()
        })
        .await
        .expect("classify");
    started.elapsed()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deadline_or_a_cancel_inside_the_prompt_stops_the_engine_at_once() {
    let server = Server::start(None, &[]);
    server.wait_serving().await;
    let alone = classify_latency(&server).await;
    let mut documents = server.documents().await;

    // A deadline that passes while a long map prompt is being processed.
    let mut request = tonic::Request::new(pb::SummarizeRequest {
        text: hebrew_document(400),
        sampling: budget(64),
        ..Default::default()
    });
    request.set_timeout(Duration::from_millis(1500));
    let err = documents.summarize(request).await.expect_err("deadline");
    assert_eq!(err.code(), Code::DeadlineExceeded, "{err:?}");
    let at_reply = server.cpu_seconds();
    let after = cpu_after(&server, at_reply).await;
    let next = classify_latency(&server).await;
    eprintln!(
        "deadline: {after:.2} CPU-s after the reply; next classify {next:?} (alone {alone:?})"
    );
    assert!(after <= 1.0, "{after:.2} CPU-s after DEADLINE_EXCEEDED");

    // A client that cancels (drops the call) while its prompt is processed.
    let mut stream = documents
        .stream_summarize(pb::SummarizeRequest {
            text: hebrew_document(400),
            sampling: budget(64),
            ..Default::default()
        })
        .await
        .expect("stream")
        .into_inner();
    let first = stream.message().await.expect("message").expect("progress");
    assert!(matches!(
        first.event,
        Some(pb::stream_summarize_response::Event::Progress(_))
    ));
    tokio::time::sleep(Duration::from_millis(300)).await;
    drop(stream);
    drop(documents);
    let at_cancel = server.cpu_seconds();
    let after = cpu_after(&server, at_cancel).await;
    eprintln!("cancel: {after:.2} CPU-s after the client left");
    assert!(after <= 1.0, "{after:.2} CPU-s after the client cancelled");
    let log = server.log();
    assert!(
        log.lines()
            .any(|l| l.contains("StreamSummarize") && l.contains("Cancelled")),
        "the cancelled stream is logged:\n{log}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_stream_reader_is_cancelled_and_does_not_hold_the_engine() {
    // One task at a time, so the classify below gets the engine only once the stalled
    // stream has let go of it.
    let server = Server::start(
        None,
        &[("SOFER_STALL_TIMEOUT_SECONDS", "2"), ("SOFER_WORKERS", "1")],
    );
    server.wait_serving().await;
    // A client that stops reading: small HTTP/2 windows, so its buffers fill quickly.
    let channel = tonic::transport::Channel::from_shared(format!("http://{}", server.addr))
        .unwrap()
        .initial_stream_window_size(1024)
        .initial_connection_window_size(1024)
        .connect()
        .await
        .expect("connect");
    let mut slow = pb::document_service_client::DocumentServiceClient::new(channel);
    let mut stream = slow
        .stream_translate(pb::TranslateRequest {
            text: "The committee met on Monday.\n\nIt discussed the new budget.".into(),
            sampling: Some(pb::SamplingOptions {
                max_tokens: Some(3000),
                temperature: Some(1.0),
                seed: Some(5),
            }),
            ..Default::default()
        })
        .await
        .expect("stream")
        .into_inner();
    stream.message().await.expect("message").expect("first");
    // The reader now reads nothing; a Classify from another client must still be served.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let waited = tokio::time::timeout(Duration::from_secs(60), classify_latency(&server))
        .await
        .expect("a classify behind a stalled stream is served within a minute");
    eprintln!("classify behind a stalled stream: {waited:?}");
    assert!(
        waited < Duration::from_secs(30),
        "the classify waited {waited:?}"
    );
    // The stalled stream was cancelled (its buffered messages, then CANCELLED), counted.
    let end = loop {
        match stream.message().await {
            Ok(Some(_)) => continue,
            Ok(None) => panic!("the stalled stream ended as if it had finished"),
            Err(status) => break status,
        }
    };
    assert_eq!(end.code(), Code::Cancelled, "{end:?}");
    assert!(end.message().contains("read nothing"), "{end:?}");
    let page = http_get(&server.metrics, "/metrics").await;
    assert!(page.contains("sofer_stalled_streams_total 1"), "{page}");
    assert!(
        page.contains("sofer_requests_total{method=\"StreamTranslate\",code=\"Cancelled\"} 1"),
        "{page}"
    );
}

/// Health checks while `busy` runs: their latencies, sorted.
async fn health_during<F: std::future::Future>(server: &Server, busy: F) -> (F::Output, Vec<f64>) {
    use tonic_health::pb::health_client::HealthClient;
    use tonic_health::pb::HealthCheckRequest;
    let mut health = HealthClient::new(server.channel().await);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let watcher = {
        let stop = stop.clone();
        tokio::spawn(async move {
            let mut ms = Vec::new();
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                let t0 = Instant::now();
                health
                    .check(HealthCheckRequest {
                        service: String::new(),
                    })
                    .await
                    .expect("health");
                ms.push(t0.elapsed().as_secs_f64() * 1000.0);
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            ms
        })
    };
    let out = busy.await;
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let mut ms = watcher.await.expect("watcher");
    ms.sort_by(f64::total_cmp);
    (out, ms)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_answers_at_once_during_huge_glossaries_and_concurrent_tokenize() {
    let server = Server::start(None, &[]);
    server.wait_serving().await;

    // A 3.5 MB glossary: refused by the term limit, computed off the async threads.
    let glossary: Vec<pb::GlossaryEntry> = (0..500)
        .map(|i| pb::GlossaryEntry {
            source: format!("מונח {i} ").repeat(600),
            target: format!("term {i} ").repeat(600),
        })
        .collect();
    let mut documents = server.documents().await;
    let (result, ms) = health_during(&server, async {
        documents
            .translate(pb::TranslateRequest {
                text: "הכנסת אישרה את החוק.".into(),
                glossary: glossary.clone(),
                ..Default::default()
            })
            .await
    })
    .await;
    eprintln!(
        "3.5 MB glossary: health max {:.1} ms over {} checks; {:?}",
        ms.last().unwrap(),
        ms.len(),
        result.as_ref().map(|_| ()).map_err(|e| e.code())
    );
    let err = result.expect_err("term too long");
    assert_eq!(err.code(), Code::InvalidArgument, "{err:?}");
    assert!(err.message().contains("glossary[0].source"), "{err:?}");

    // 500 distinct long-but-allowed terms validate in linear time and translate.
    let glossary: Vec<pb::GlossaryEntry> = (0..500)
        .map(|i| pb::GlossaryEntry {
            source: format!("{i} {}", "מונח ".repeat(35)),
            target: format!("{i} {}", "term ".repeat(35)),
        })
        .collect();
    let started = Instant::now();
    documents
        .translate(pb::TranslateRequest {
            text: "הכנסת אישרה את החוק.".into(),
            glossary,
            sampling: budget(8),
            ..Default::default()
        })
        .await
        .expect("a 500-entry glossary of 200-character terms");
    eprintln!(
        "500 long glossary terms: translate in {:?}",
        started.elapsed()
    );

    // Eight Tokenize calls at the 4 MiB limit at once: a bounded pool, health meanwhile.
    let text = "הכנסת אישרה את החוק החדש בקריאה שלישית. ".repeat(58_000);
    assert!(text.len() <= 4 << 20);
    let channel = server.channel().await;
    let calls = (0..8).map(|_| {
        let text = text.clone();
        let channel = channel.clone();
        async move {
            let mut model = pb::model_service_client::ModelServiceClient::new(channel)
                .max_decoding_message_size(256 << 20);
            model
                .tokenize(pb::TokenizeRequest {
                    text,
                    add_bos: false,
                })
                .await
                .map(|r| r.into_inner().ids.len())
        }
    });
    let (results, ms) = health_during(&server, async {
        let handles: Vec<_> = calls.map(tokio::spawn).collect();
        let mut out = Vec::new();
        for h in handles {
            out.push(h.await.expect("join"));
        }
        out
    })
    .await;
    let median = ms[ms.len() / 2];
    eprintln!(
        "8 × 4 MiB Tokenize: health median {median:.1} ms, max {:.1} ms over {} checks; server peak RSS {:.0} MiB",
        ms.last().unwrap(),
        ms.len(),
        server.peak_rss_mib()
    );
    for r in &results {
        assert!(*r.as_ref().expect("tokenize") > 100_000, "{r:?}");
    }
    assert!(median < 100.0, "health median {median:.1} ms: {ms:?}");
    assert!(*ms.last().unwrap() < 1000.0, "health max: {ms:?}");
    let over = "א".repeat((4 << 20) / 2 + 1);
    let err = server
        .model()
        .await
        .tokenize(pb::TokenizeRequest {
            text: over,
            add_bos: false,
        })
        .await
        .expect_err("over the limit");
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(err.message().contains("text"), "{err:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_temperature_of_1e_minus_40_gives_the_greedy_text() {
    let server = Server::start(None, &[]);
    server.wait_serving().await;
    let mut documents = server.documents().await;
    let summary = |temperature: f32, seed: u64| pb::SummarizeRequest {
        text: "הכנסת אישרה את התקציב לשנה הבאה אחרי דיון ארוך.".into(),
        sampling: Some(pb::SamplingOptions {
            max_tokens: Some(24),
            temperature: Some(temperature),
            seed: Some(seed),
        }),
        ..Default::default()
    };
    let text = |r: pb::SummarizeResponse| r.summary;
    let greedy = text(
        documents
            .summarize(summary(0.0, 1))
            .await
            .unwrap()
            .into_inner(),
    );
    for seed in [1, 2, 3] {
        let tiny = text(
            documents
                .summarize(summary(1e-40, seed))
                .await
                .unwrap()
                .into_inner(),
        );
        assert_eq!(tiny, greedy, "seed {seed}");
    }
    assert!(!greedy.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_ingest_stream_commits_nothing() {
    let server = Server::start(None, &[]);
    server.wait_serving().await;
    let (tx, rx) = tokio::sync::mpsc::channel::<pb::IngestDocumentsRequest>(8);
    let mut corpus = server.corpus().await;
    let call = tokio::spawn(async move {
        corpus
            .ingest_documents(tonic::codegen::tokio_stream::wrappers::ReceiverStream::new(
                rx,
            ))
            .await
    });
    for i in 0..3 {
        tx.send(pb::IngestDocumentsRequest {
            collection: "news".into(),
            document: Some(doc(&format!("d{i}"), "הכנסת אישרה את חוק הנמלים")),
        })
        .await
        .expect("send");
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    call.abort(); // the client cancels before closing its stream
    let _ = call.await;
    drop(tx);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut corpus = server.corpus().await;
    let hits = corpus
        .search(pb::SearchRequest {
            query: "הנמלים".into(),
            collection: "news".into(),
            ..Default::default()
        })
        .await
        .expect("search")
        .into_inner()
        .hits;
    assert!(hits.is_empty(), "a cancelled ingest left {hits:?}");
    let collections = corpus
        .list_collections(pb::ListCollectionsRequest {})
        .await
        .expect("list")
        .into_inner()
        .collections;
    assert!(collections.is_empty(), "{collections:?}");
    let page = http_get(&server.metrics, "/metrics").await;
    assert!(
        page.contains("sofer_requests_total{method=\"IngestDocuments\",code=\"Cancelled\"} 1"),
        "the cancelled ingest is counted: {page}"
    );

    // Deleting many ids is one call that answers for each.
    let docs: Vec<_> = (0..50)
        .map(|i| ("news", doc(&format!("n{i}"), "חדשות הערב")))
        .collect();
    corpus
        .ingest_documents(harness::ingest_stream(docs))
        .await
        .expect("ingest");
    let mut ids: Vec<String> = (0..50).map(|i| format!("n{i}")).collect();
    ids.push("missing".into());
    let deleted = corpus
        .delete_documents(pb::DeleteDocumentsRequest {
            collection: "news".into(),
            ids,
        })
        .await
        .expect("delete")
        .into_inner();
    assert_eq!(deleted.deleted, 50);
    assert_eq!(deleted.not_found, vec!["missing".to_string()]);
}

#[test]
fn one_key_hash_for_two_tenants_refuses_to_start() {
    let dir = tempfile::tempdir().unwrap();
    let hash = sofer::service::hash_key("shared-key");
    let config = dir.path().join("sofer.toml");
    std::fs::write(
        &config,
        format!(
            "[[auth.keys]]\ntenant = \"acme\"\nsha256 = \"{hash}\"\n\
             [[auth.keys]]\ntenant = \"globex\"\nsha256 = \"{hash}\"\n"
        ),
    )
    .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_sofer"))
        .args(["serve", "--listen", "127.0.0.1:0", "--config"])
        .arg(&config)
        .arg("--model")
        .arg(common::tiny_gguf("q8_0"))
        .output()
        .expect("run sofer serve");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "started with a shared key: {stderr}");
    assert!(
        stderr.contains("auth.keys[1].sha256")
            && stderr.contains("acme")
            && stderr.contains("globex"),
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth_schemes_ignore_case_long_headers_reach_auth_and_refusals_are_counted() {
    let hash = sofer::service::hash_key("key-1");
    let server = Server::start(
        Some(&format!(
            "[[auth.keys]]\ntenant = \"acme\"\nsha256 = \"{hash}\"\n"
        )),
        &[],
    );
    server.wait_serving().await;
    let mut model = server.model().await;
    let call = |authorization: String| {
        let mut request = tonic::Request::new(pb::GetModelInfoRequest {});
        request
            .metadata_mut()
            .insert("authorization", authorization.parse().expect("header"));
        request
    };
    for scheme in ["Bearer", "bearer", "BEARER"] {
        let ok = model.get_model_info(call(format!("{scheme} key-1"))).await;
        assert!(ok.is_ok(), "{scheme}: {ok:?}");
    }
    let long = format!("Bearer {}", "k".repeat(16 << 10));
    let err = model
        .get_model_info(call(long))
        .await
        .expect_err("wrong key");
    assert_eq!(err.code(), Code::Unauthenticated, "{err:?}");
    let page = http_get(&server.metrics, "/metrics").await;
    assert!(
        page.contains(
            "sofer_requests_total{method=\"(refused by auth)\",code=\"Unauthenticated\"} 1"
        ),
        "{page}"
    );
}
