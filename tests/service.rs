//! The gRPC service end to end: a real `sofer serve` on 127.0.0.1, real tonic clients, the
//! real engine on the tiny reference model, a real index in a temp dir.

mod common;
#[path = "service/harness.rs"]
mod harness;
#[path = "service/hostile.rs"]
mod hostile;

use std::time::{Duration, Instant};

use harness::{budget, doc, hebrew_document, http_get, ingest_stream, labels, with_key, Server};
use hostile::{Clients, INJECTION};
use sofer::service::pb;
use tonic::Code;
use tonic_types::StatusExt;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_rpc_works_end_to_end_with_health_reflection_and_metrics() {
    let server = Server::start(None, &[]);
    server.wait_serving().await;

    // Reflection lists every service.
    use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;
    use tonic_reflection::pb::v1::ServerReflectionRequest;
    let mut reflection = ServerReflectionClient::new(server.channel().await);
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut responses = reflection
        .server_reflection_info(tonic::codegen::tokio_stream::iter(vec![request]))
        .await
        .expect("reflection")
        .into_inner();
    let listed = responses
        .message()
        .await
        .expect("reflection reply")
        .expect("one reply");
    let Some(MessageResponse::ListServicesResponse(list)) = listed.message_response else {
        panic!("unexpected reflection reply {listed:?}");
    };
    let names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
    for want in [
        "sofer.v1.DocumentService",
        "sofer.v1.CorpusService",
        "sofer.v1.ModelService",
        "grpc.health.v1.Health",
    ] {
        assert!(names.iter().any(|n| n == want), "{want} not in {names:?}");
    }

    // Corpus: ingest (client streaming), search, list.
    let mut corpus = server.corpus().await;
    let ingested = corpus
        .ingest_documents(ingest_stream(vec![
            (
                "news",
                doc(
                    "dead-sea",
                    "פני ים המלח יורדים במטר בכל שנה בגלל שאיבת המים.",
                ),
            ),
            (
                "news",
                doc("knesset", "הכנסת אישרה בקריאה ראשונה את חוק התקציב."),
            ),
            (
                "tm",
                pb::Document {
                    translation: "The Knesset passed the law".into(),
                    ..doc("tm-1", "הכנסת אישרה את החוק")
                },
            ),
            (
                "examples",
                pb::Document {
                    labels: vec!["פוליטיקה".into()],
                    ..doc("ex-1", "הכנסת אישרה את החוק החדש")
                },
            ),
        ]))
        .await
        .expect("ingest")
        .into_inner();
    assert_eq!((ingested.documents, ingested.passages), (4, 4));
    let hits = corpus
        .search(pb::SearchRequest {
            query: "ים המלח".into(),
            collection: "news".into(),
            ..Default::default()
        })
        .await
        .expect("search")
        .into_inner()
        .hits;
    assert_eq!(hits.first().map(|h| h.doc_id.as_str()), Some("dead-sea"));
    let collections = corpus
        .list_collections(pb::ListCollectionsRequest {})
        .await
        .expect("list")
        .into_inner()
        .collections;
    let names: Vec<&str> = collections.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["examples", "news", "tm"]);

    // Documents: unary and streaming.
    let mut documents = server.documents().await;
    let summary = documents
        .summarize(pb::SummarizeRequest {
            text: "ים המלח הולך ומתייבש. הממשלה דנה בתוכנית להצלתו.".into(),
            collection: "news".into(),
            sampling: budget(12),
            ..Default::default()
        })
        .await
        .expect("summarize")
        .into_inner();
    assert!(!summary.summary.is_empty());
    assert!(
        summary.citations.iter().any(|c| c.doc_id == "dead-sea"),
        "{summary:?}"
    );
    assert_eq!(summary.usage.as_ref().map(|u| u.prefills), Some(1));

    let mut stream = documents
        .stream_summarize(pb::SummarizeRequest {
            text: hebrew_document(2),
            sampling: budget(12),
            ..Default::default()
        })
        .await
        .expect("stream summarize")
        .into_inner();
    let (mut text, mut last) = (String::new(), None);
    while let Some(message) = stream.message().await.expect("stream message") {
        match message.event.expect("event") {
            pb::stream_summarize_response::Event::TextDelta(delta) => text.push_str(&delta),
            pb::stream_summarize_response::Event::Progress(_) => {}
            pb::stream_summarize_response::Event::Response(response) => last = Some(response),
        }
    }
    let last = last.expect("the stream ends with the response");
    assert_eq!(
        last.summary.trim(),
        text.trim(),
        "the deltas add up to the summary"
    );

    let translation = documents
        .translate(pb::TranslateRequest {
            text: "הכנסת אישרה את החוק אתמול".into(),
            collection: "tm".into(),
            sampling: budget(8),
            ..Default::default()
        })
        .await
        .expect("translate")
        .into_inner();
    assert_eq!(translation.target_language, pb::Language::English as i32);
    assert_eq!(translation.memory_examples, 1);
    let mut stream = documents
        .stream_translate(pb::TranslateRequest {
            text: "שלום עולם\n\nמה שלומך".into(),
            sampling: budget(6),
            ..Default::default()
        })
        .await
        .expect("stream translate")
        .into_inner();
    let mut finals = 0;
    while let Some(message) = stream.message().await.expect("stream message") {
        if let Some(pb::stream_translate_response::Event::Response(r)) = message.event {
            assert_eq!(r.translated_paragraphs, 2);
            finals += 1;
        }
    }
    assert_eq!(finals, 1);

    let before = server.counters().await;
    let classified = documents
        .classify(pb::ClassifyRequest {
            text: "הכנסת אישרה את התקציב".into(),
            labels: labels(&["פוליטיקה", "ספורט"]),
            votes: 5,
            collection: "examples".into(),
            sampling: budget(4),
            ..Default::default()
        })
        .await
        .expect("classify")
        .into_inner();
    let after = server.counters().await;
    assert_eq!(after.prefills - before.prefills, 1, "5 votes, one prefill");
    let votes: u32 = classified.tally.iter().map(|l| l.votes).sum();
    assert_eq!(votes + classified.abstentions, 5);
    assert_eq!(classified.examples, 1);
    assert_eq!(classified.method, pb::ClassifyMethod::Vote as i32);

    // Without votes, short labels are scored: one prefill, nothing sampled.
    let before = server.counters().await;
    let scored = documents
        .classify(pb::ClassifyRequest {
            text: "הכנסת אישרה את התקציב".into(),
            labels: labels(&["פוליטיקה", "ספורט"]),
            ..Default::default()
        })
        .await
        .expect("classify by score")
        .into_inner();
    let after = server.counters().await;
    assert_eq!(scored.method, pb::ClassifyMethod::Score as i32);
    assert_eq!(after.prefills - before.prefills, 1);
    assert_eq!(after.generated_tokens, before.generated_tokens);
    let total: f64 = scored.probabilities.iter().map(|p| p.probability).sum();
    assert!((total - 1.0).abs() < 1e-9, "{:?}", scored.probabilities);
    let best = scored
        .probabilities
        .iter()
        .max_by(|a, b| a.probability.total_cmp(&b.probability))
        .expect("two labels");
    assert_eq!(
        (&scored.label, scored.confidence),
        (&best.label, best.probability)
    );
    assert!(scored.coverage > 0.0 && scored.coverage <= 1.0);

    // Model.
    let info = server.counters().await;
    assert_eq!(info.architecture, "llama");
    assert_eq!(info.experts, 8);
    let bits = info.bits_per_weight;
    let want = info.file_bytes as f64 * 8.0 / info.parameters as f64;
    assert!(
        bits > 4.0 && bits <= want,
        "{bits} bits per weight, file {want}"
    );
    assert!(info
        .expert_usage
        .iter()
        .any(|l| l.tokens.iter().sum::<u64>() > 0));
    let tokens = server
        .model()
        .await
        .tokenize(pb::TokenizeRequest {
            text: "שלום עולם".into(),
            add_bos: true,
        })
        .await
        .expect("tokenize")
        .into_inner();
    assert_eq!(tokens.ids.len(), tokens.tokens.len());
    assert_eq!(tokens.ids[0], 1, "BOS first");
    assert_eq!(tokens.words, 2);

    // Delete, then the document is gone.
    let deleted = corpus
        .delete_documents(pb::DeleteDocumentsRequest {
            collection: "news".into(),
            ids: vec!["dead-sea".into(), "nope".into()],
        })
        .await
        .expect("delete")
        .into_inner();
    assert_eq!(
        (deleted.deleted, deleted.not_found),
        (1, vec!["nope".to_string()])
    );
    let hits = corpus
        .search(pb::SearchRequest {
            query: "ים המלח".into(),
            collection: "news".into(),
            ..Default::default()
        })
        .await
        .expect("search")
        .into_inner()
        .hits;
    assert!(hits.iter().all(|h| h.doc_id != "dead-sea"));

    // Metrics count the calls.
    let page = http_get(&server.metrics, "/metrics").await;
    assert!(
        page.contains("sofer_requests_total{method=\"Classify\",code=\"Ok\"} 2"),
        "{page}"
    );
    assert!(
        page.contains("sofer_engine_generated_tokens_total"),
        "{page}"
    );
    assert!(
        page.contains("sofer_engine_expert_tokens_total{layer=\"0\""),
        "{page}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_goes_away_stops_the_engine_within_a_few_tokens() {
    let server = Server::start(None, &[]);
    server.wait_serving().await;
    let mut documents = server.documents().await;
    let mut stream = documents
        .stream_summarize(pb::SummarizeRequest {
            text: "ים המלח הולך ומתייבש.".into(),
            sampling: Some(pb::SamplingOptions {
                max_tokens: Some(3000),
                temperature: Some(1.0),
                seed: Some(3),
            }),
            ..Default::default()
        })
        .await
        .expect("stream")
        .into_inner();
    for _ in 0..5 {
        stream.message().await.expect("message").expect("a delta");
    }
    let at_drop = server.counters().await;
    drop(stream);
    drop(documents);
    let settled = server.settle().await;
    let after_drop = settled.decode_steps - at_drop.decode_steps;
    eprintln!(
        "decode steps when the client left: {}, afterwards: {after_drop}",
        at_drop.decode_steps
    );
    assert!(settled.generated_tokens < 1000, "{settled:?}");
    assert!(
        after_drop <= 8,
        "the engine ran {after_drop} more steps after the client left"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_short_deadline_gives_deadline_exceeded_and_the_server_keeps_serving() {
    let server = Server::start(None, &[]);
    server.wait_serving().await;
    let mut documents = server.documents().await;
    let mut request = tonic::Request::new(pb::SummarizeRequest {
        text: hebrew_document(40),
        sampling: Some(pb::SamplingOptions {
            max_tokens: Some(3000),
            temperature: Some(1.0),
            seed: Some(3),
        }),
        ..Default::default()
    });
    // 200 ms: the server answers 20 ms before the client's own timer fires, a margin a
    // loaded CI machine keeps (at 50 ms the margin was 5 ms, and the client's timer
    // sometimes won with CANCELLED).
    request.set_timeout(Duration::from_millis(200));
    let started = Instant::now();
    let err = documents.summarize(request).await.expect_err("deadline");
    assert_eq!(err.code(), Code::DeadlineExceeded, "{err:?}");
    assert!(started.elapsed() < Duration::from_secs(2));
    let settled = server.settle().await;
    assert!(
        settled.generated_tokens < 3000,
        "the engine stopped: {settled:?}"
    );
    let ok = documents
        .classify(pb::ClassifyRequest {
            text: "שלום".into(),
            labels: labels(&["a", "b"]),
            votes: 1,
            sampling: budget(2),
            ..Default::default()
        })
        .await;
    assert!(ok.is_ok(), "{ok:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_queue_answers_resource_exhausted_and_nothing_hangs() {
    let server = Server::start(None, &[("SOFER_QUEUE_CAPACITY", "2")]);
    server.wait_serving().await;
    let channel = server.channel().await;
    let calls = (0..20).map(|i| {
        let mut client = sofer::service::pb::document_service_client::DocumentServiceClient::new(
            channel.clone(),
        );
        async move {
            client
                .classify(pb::ClassifyRequest {
                    text: format!("הכנסת דנה בחוק מספר {i}"),
                    labels: labels(&["a", "b"]),
                    votes: 3,
                    sampling: budget(48),
                    ..Default::default()
                })
                .await
                .map(|_| ())
                .map_err(|s| s.code())
        }
    });
    let results = tokio::time::timeout(Duration::from_secs(120), futures_join_all(calls.collect()))
        .await
        .expect("no call hangs");
    let ok = results.iter().filter(|r| r.is_ok()).count();
    let exhausted = results
        .iter()
        .filter(|r| **r == Err(Code::ResourceExhausted))
        .count();
    eprintln!("{ok} succeeded, {exhausted} RESOURCE_EXHAUSTED");
    assert_eq!(ok + exhausted, 20, "{results:?}");
    assert!(ok >= 1 && exhausted >= 1, "{results:?}");
}

/// Runs futures concurrently on the runtime and collects their outputs in order.
async fn futures_join_all<F>(futures: Vec<F>) -> Vec<F::Output>
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    let handles: Vec<_> = futures.into_iter().map(tokio::spawn).collect();
    let mut out = Vec::with_capacity(handles.len());
    for handle in handles {
        out.push(handle.await.expect("task"));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_are_required_and_tenants_never_see_each_other() {
    let config = format!(
        "[[auth.keys]]\ntenant = \"alpha\"\nsha256 = \"{}\"\n[[auth.keys]]\ntenant = \"beta\"\nsha256 = \"{}\"\n",
        sofer::service::hash_key("alpha-key"),
        sofer::service::hash_key("beta-key"),
    );
    let server = Server::start(Some(&config), &[]);
    server.wait_serving().await;
    let (a, b) = (Some("alpha-key"), Some("beta-key"));
    let mut corpus = server.corpus().await;
    let mut documents = server.documents().await;
    for key in [None, Some("wrong-key")] {
        let err = corpus
            .list_collections(with_key(pb::ListCollectionsRequest {}, key))
            .await
            .expect_err("needs a key");
        assert_eq!(err.code(), Code::Unauthenticated, "{key:?}: {err:?}");
    }
    let stream = ingest_stream(vec![
        (
            "secret",
            doc("plan", "תוכנית ההצלה של ים המלח תעלה מיליארד שקל."),
        ),
        (
            "secret",
            pb::Document {
                translation: "The Knesset passed the law".into(),
                labels: vec!["פוליטיקה".into()],
                ..doc("tm", "הכנסת אישרה את החוק")
            },
        ),
    ]);
    corpus
        .ingest_documents(with_key(stream, a))
        .await
        .expect("alpha ingests");
    let search = |key| {
        with_key(
            pb::SearchRequest {
                query: "ים המלח".into(),
                collection: "secret".into(),
                ..Default::default()
            },
            key,
        )
    };
    let alpha_hits = corpus
        .search(search(a))
        .await
        .expect("search")
        .into_inner()
        .hits;
    assert_eq!(alpha_hits.len(), 1);
    let beta_hits = corpus
        .search(search(b))
        .await
        .expect("search")
        .into_inner()
        .hits;
    assert!(
        beta_hits.is_empty(),
        "beta sees alpha's document: {beta_hits:?}"
    );
    let beta_collections = corpus
        .list_collections(with_key(pb::ListCollectionsRequest {}, b))
        .await
        .expect("list")
        .into_inner()
        .collections;
    assert!(beta_collections.is_empty(), "{beta_collections:?}");
    let deleted = corpus
        .delete_documents(with_key(
            pb::DeleteDocumentsRequest {
                collection: "secret".into(),
                ids: vec!["plan".into()],
            },
            b,
        ))
        .await
        .expect("delete")
        .into_inner();
    assert_eq!(deleted.deleted, 0, "beta cannot delete alpha's document");

    // Retrieval inside tasks is the caller's tenant's too.
    for (key, want) in [(a, 1), (b, 0)] {
        let summary = documents
            .summarize(with_key(
                pb::SummarizeRequest {
                    text: "ים המלח מתייבש.".into(),
                    collection: "secret".into(),
                    sampling: budget(4),
                    ..Default::default()
                },
                key,
            ))
            .await
            .expect("summarize")
            .into_inner();
        assert_eq!(summary.citations.len(), want, "{key:?}: {summary:?}");
        let translation = documents
            .translate(with_key(
                pb::TranslateRequest {
                    text: "הכנסת אישרה את החוק אתמול".into(),
                    collection: "secret".into(),
                    sampling: budget(4),
                    ..Default::default()
                },
                key,
            ))
            .await
            .expect("translate")
            .into_inner();
        assert_eq!(translation.memory_examples, want as u32, "{key:?}");
        let classified = documents
            .classify(with_key(
                pb::ClassifyRequest {
                    text: "הכנסת אישרה אמש את החוק".into(),
                    labels: labels(&["פוליטיקה", "ספורט"]),
                    votes: 1,
                    collection: "secret".into(),
                    sampling: budget(2),
                    ..Default::default()
                },
                key,
            ))
            .await
            .expect("classify")
            .into_inner();
        assert_eq!(classified.examples, want as u32, "{key:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_during_a_stream_lets_it_finish_and_exits_zero() {
    let mut server = Server::start(None, &[("SOFER_GRACE_PERIOD_SECONDS", "30")]);
    server.wait_serving().await;
    let mut documents = server.documents().await;
    let mut stream = documents
        .stream_summarize(pb::SummarizeRequest {
            text: "ים המלח הולך ומתייבש.".into(),
            sampling: Some(pb::SamplingOptions {
                max_tokens: Some(200),
                temperature: Some(1.0),
                seed: Some(3),
            }),
            ..Default::default()
        })
        .await
        .expect("stream")
        .into_inner();
    stream
        .message()
        .await
        .expect("message")
        .expect("first delta");
    let pid = server.child.id().to_string();
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill");
    assert!(killed.success());
    let mut finished = false;
    while let Some(message) = stream.message().await.expect("the stream keeps going") {
        if let Some(pb::stream_summarize_response::Event::Response(r)) = message.event {
            finished = r.usage.is_some();
        }
    }
    assert!(finished, "the stream ended with its response");
    let status = server.wait_exit(Duration::from_secs(30)).await;
    assert_eq!(status.code(), Some(0), "{}", server.log());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_and_hostile_requests_get_the_right_code_and_field() {
    let server = Server::start(None, &[("SOFER_MAX_MESSAGE_BYTES", "65536")]);
    server.wait_serving().await;
    let mut clients = Clients {
        documents: server.documents().await,
        corpus: server.corpus().await,
        model: server.model().await,
    };
    // Control markers in text never become control ids.
    let ids = clients
        .model
        .tokenize(pb::TokenizeRequest {
            text: INJECTION.into(),
            add_bos: false,
        })
        .await
        .expect("tokenize")
        .into_inner()
        .ids;
    assert!(
        !ids.contains(&1) && !ids.contains(&2),
        "BOS/EOS from text: {ids:?}"
    );
    let cases = hostile::cases();
    assert!(cases.len() >= 30, "{} cases", cases.len());
    let mut failures = Vec::new();
    for case in cases {
        let result = case.call.grpc(&mut clients).await;
        let (code, field) = match &result {
            Ok(()) => (Code::Ok, None),
            Err(status) => (
                status.code(),
                status
                    .get_details_bad_request()
                    .and_then(|b| b.field_violations.first().map(|v| v.field.clone())),
            ),
        };
        if code != case.code || field.as_deref() != case.field {
            failures.push(format!(
                "{}: got {code:?} {field:?} ({:?}), want {:?} {:?}",
                case.name,
                result.as_ref().err().map(|s| s.message()),
                case.code,
                case.field
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_from_cert_and_key_files_serves_and_plaintext_is_refused() {
    use tonic::transport::{Certificate, Channel, ClientTlsConfig};
    let generated =
        rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).expect("certificate");
    let cert_pem = generated.cert.pem();
    let dir = tempfile::tempdir().expect("tempdir");
    let (cert, key) = (dir.path().join("tls.crt"), dir.path().join("tls.key"));
    std::fs::write(&cert, &cert_pem).expect("write cert");
    std::fs::write(&key, generated.signing_key.serialize_pem()).expect("write key");
    let config = format!(
        "[tls]\ncert = {:?}\nkey = {:?}\n",
        cert.display().to_string(),
        key.display().to_string()
    );
    let server = Server::start(Some(&config), &[]);
    let port = server.addr.rsplit(':').next().expect("port");
    let tls = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(&cert_pem))
        .domain_name("localhost");
    let channel = Channel::from_shared(format!("https://localhost:{port}"))
        .expect("uri")
        .tls_config(tls)
        .expect("tls config")
        .connect()
        .await
        .expect("TLS connect");
    let mut model = sofer::service::pb::model_service_client::ModelServiceClient::new(channel);
    let deadline = Instant::now() + Duration::from_secs(30);
    let info = loop {
        match model.get_model_info(pb::GetModelInfoRequest {}).await {
            Ok(info) => break info.into_inner(),
            Err(status) if status.code() == Code::Unavailable => {
                assert!(Instant::now() < deadline, "never ready: {status:?}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(status) => panic!("{status:?}\n{}", server.log()),
        }
    };
    assert_eq!(info.experts, 8);
    let plain = Channel::from_shared(format!("http://{}", server.addr))
        .expect("uri")
        .connect()
        .await;
    let refused = match plain {
        Err(_) => true,
        Ok(channel) => sofer::service::pb::model_service_client::ModelServiceClient::new(channel)
            .get_model_info(pb::GetModelInfoRequest {})
            .await
            .is_err(),
    };
    assert!(refused, "a plaintext call to a TLS server must fail");

    // The HTTP listener serves the same certificate.
    let http_port = server.http.rsplit(':').next().expect("port");
    let https = std::process::Command::new("curl")
        .args(["-sS", "--cacert"])
        .arg(&cert)
        .args(["--resolve", &format!("localhost:{http_port}:127.0.0.1")])
        .arg(format!("https://localhost:{http_port}/v1/model"))
        .output()
        .expect("curl");
    let body: serde_json::Value = serde_json::from_slice(&https.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&https.stderr)));
    assert_eq!(body["experts"], 8, "{body}");
    let alpn = std::process::Command::new("curl")
        .args([
            "-sS",
            "-o",
            "/dev/null",
            "-w",
            "%{http_version}",
            "--cacert",
        ])
        .arg(&cert)
        .args(["--resolve", &format!("localhost:{http_port}:127.0.0.1")])
        .arg(format!("https://localhost:{http_port}/v1/model"))
        .output()
        .expect("curl");
    assert_eq!(String::from_utf8_lossy(&alpn.stdout), "2", "HTTP/2 by ALPN");
    let plain = std::process::Command::new("curl")
        .args(["-sS", &format!("http://127.0.0.1:{http_port}/v1/model")])
        .output()
        .expect("curl");
    assert!(
        !plain.status.success() || !String::from_utf8_lossy(&plain.stdout).contains("experts"),
        "plaintext HTTP to the TLS listener must fail"
    );
}
