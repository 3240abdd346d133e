//! HTTP beside gRPC, end to end: a real `sofer serve` with `--http-listen` on 127.0.0.1,
//! `curl` for the task routes (their answers equal gRPC's for the same request and seed),
//! the official `openai` Python SDK for the OpenAI API (its outputs equal the CLI's render
//! and generate), the web page in headless Chromium, the hostile-request table, deadlines,
//! cancellation by hanging up and the drain on SIGTERM.

#[path = "http/client.rs"]
mod client;
mod common;
#[path = "service/harness.rs"]
mod harness;
#[path = "service/hostile.rs"]
mod hostile;

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use client::{call, get, post, Events};
use harness::{budget, labels, Server};
use hostile::Clients;
use serde_json::{json, Value};
use sofer::service::http::transcode::to_json;
use sofer::service::pb;
use tonic::Code;

const HEBREW: &str = "ים המלח הולך ומתייבש. הממשלה אישרה תוכנית להצלתו, והכנסת תדון בה בשבוע הבא.";

fn url(server: &Server, path: &str) -> String {
    format!("http://{}{path}", server.http)
}

/// `value` without what differs between two equal calls: the wall times (`durationMs`)
/// and the prompt tokens the later one found in the prefix cache (`cachedPromptTokens`).
fn timeless(mut value: Value) -> Value {
    fn strip(v: &mut Value) {
        match v {
            Value::Object(map) => {
                map.remove("durationMs");
                // The second of two equal calls reuses the first one's prompt prefix.
                map.remove("cachedPromptTokens");
                map.values_mut().for_each(strip);
            }
            Value::Array(items) => items.iter_mut().for_each(strip),
            _ => {}
        }
    }
    strip(&mut value);
    value
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn task_routes_over_curl_answer_what_grpc_answers() {
    let server = Server::start(None, &[]);
    server.wait_serving().await;
    let mut documents = server.documents().await;
    let mut corpus = server.corpus().await;
    let mut model = server.model().await;
    let sampling = Some(pb::SamplingOptions {
        temperature: Some(0.8),
        max_tokens: Some(24),
        seed: Some(3),
    });

    // Summarize, unary and streamed.
    let body = json!({
        "text": HEBREW, "length": "SUMMARY_LENGTH_SHORT",
        "sampling": {"temperature": 0.8, "maxTokens": 24, "seed": "3"},
    })
    .to_string();
    let grpc = documents
        .summarize(pb::SummarizeRequest {
            text: HEBREW.into(),
            length: pb::SummaryLength::Short as i32,
            sampling,
            ..Default::default()
        })
        .await
        .expect("gRPC summarize")
        .into_inner();
    let http = post(&url(&server, "/v1/summarize"), &body);
    assert_eq!(http.status, 200, "{}", String::from_utf8_lossy(&http.body));
    assert!(!grpc.summary.is_empty());
    assert_eq!(http.json()["summary"], grpc.summary);
    assert_eq!(timeless(http.json()), timeless(to_json(&grpc)));
    // The same prompt a second time: its whole 32-token blocks came from the prefix cache.
    let cached = http.json()["usage"]["cachedPromptTokens"]
        .as_u64()
        .unwrap_or(0);
    let prompt = http.json()["usage"]["promptTokens"].as_u64().unwrap_or(0);
    assert!(
        cached > 0 && cached.is_multiple_of(32) && cached < prompt,
        "cached {cached} of {prompt} prompt tokens"
    );
    let events = client::stream(&url(&server, "/v1/summarize:stream"), &body);
    let deltas: String = events
        .iter()
        .filter_map(|(_, d)| {
            serde_json::from_str::<Value>(d).ok()?["textDelta"]
                .as_str()
                .map(str::to_string)
        })
        .collect();
    assert_eq!(deltas, grpc.summary, "{events:?}");
    let last: Value = serde_json::from_str(&events.last().expect("events").1).expect("JSON");
    assert_eq!(timeless(last["response"].clone()), timeless(to_json(&grpc)));
    assert!(
        events.iter().any(|(_, d)| d.contains("\"progress\"")),
        "{events:?}"
    );

    // Translate text, and a DOCX rebuilt and downloaded.
    let docx =
        std::fs::read(common::documents::dir().join("he_wiki.libreoffice.docx")).expect("fixture");
    let grpc = documents
        .translate(pb::TranslateRequest {
            content: docx.clone(),
            target_language: pb::Language::English as i32,
            sampling: budget(6),
            ..Default::default()
        })
        .await
        .expect("gRPC translate")
        .into_inner();
    use base64::Engine as _;
    let body = json!({
        "content": base64::engine::general_purpose::STANDARD.encode(&docx),
        "targetLanguage": "LANGUAGE_ENGLISH",
        "sampling": {"maxTokens": 6, "seed": "1"},
    })
    .to_string();
    let http = post(&url(&server, "/v1/translate"), &body);
    assert_eq!(http.status, 200, "{}", String::from_utf8_lossy(&http.body));
    assert_eq!(timeless(http.json()), timeless(to_json(&grpc)));
    let file = post(&url(&server, "/v1/translate?download=true"), &body);
    assert_eq!(file.status, 200);
    assert_eq!(file.header("content-type"), Some(grpc.media_type.as_str()));
    assert!(file
        .header("content-disposition")
        .is_some_and(|d| d.contains("attachment")));
    assert_eq!(
        file.body, grpc.content,
        "the downloaded DOCX is the one gRPC returns"
    );
    let text_only = post(
        &url(&server, "/v1/translate?download=true"),
        &json!({"text": HEBREW, "sampling": {"maxTokens": 2}}).to_string(),
    );
    assert_eq!(
        (
            text_only.status,
            text_only.json()["error"]["details"][0]["fieldViolations"][0]["field"].clone()
        ),
        (400, json!("download"))
    );

    // Classify, by votes and by score.
    for method in [pb::ClassifyMethod::Vote, pb::ClassifyMethod::Score] {
        let grpc = documents
            .classify(pb::ClassifyRequest {
                text: HEBREW.into(),
                labels: labels(&["סביבה", "ספורט"]),
                votes: if method == pb::ClassifyMethod::Vote {
                    3
                } else {
                    0
                },
                method: method as i32,
                sampling: budget(8),
                ..Default::default()
            })
            .await
            .expect("gRPC classify")
            .into_inner();
        let body = json!({
            "text": HEBREW, "labels": [{"name": "סביבה"}, {"name": "ספורט"}],
            "votes": if method == pb::ClassifyMethod::Vote { 3 } else { 0 },
            "method": method.as_str_name(), "sampling": {"maxTokens": 8, "seed": "1"},
        });
        let http = post(&url(&server, "/v1/classify"), &body.to_string());
        assert_eq!(http.status, 200, "{}", String::from_utf8_lossy(&http.body));
        assert_same(
            &timeless(http.json()),
            &timeless(to_json(&grpc)),
            &format!("{method:?}"),
        );
    }

    // Tokenize and GetModelInfo.
    let grpc = model
        .tokenize(pb::TokenizeRequest {
            text: HEBREW.into(),
            add_bos: true,
        })
        .await
        .expect("gRPC tokenize")
        .into_inner();
    let http = post(
        &url(&server, "/v1/tokenize"),
        &json!({"text": HEBREW, "addBos": true}).to_string(),
    );
    assert_eq!(http.json(), to_json(&grpc));
    let info = get(&url(&server, "/v1/model")).json();
    assert_eq!(info["contextLength"], 4096);
    assert_eq!(info["experts"], 8);
    assert!(info["fileName"]
        .as_str()
        .is_some_and(|n| n.ends_with(".gguf")));

    // The corpus: ingest an array, search, list, delete; gRPC sees the same index.
    let ingest = json!([
        {"collection": "news", "document": {"id": "sea", "text": HEBREW}},
        {"collection": "news", "document": {"id": "law", "text": "הכנסת אישרה את החוק בקריאה שלישית."}},
    ]);
    let http = post(&url(&server, "/v1/documents:ingest"), &ingest.to_string());
    assert_eq!(http.status, 200, "{}", String::from_utf8_lossy(&http.body));
    assert_eq!(http.json()["documents"], 2);
    let search = json!({"query": "ים המלח", "collection": "news", "k": 5});
    let sea_search = pb::SearchRequest {
        query: "ים המלח".into(),
        collection: "news".into(),
        k: 5,
        ..Default::default()
    };
    let http = post(&url(&server, "/v1/search"), &search.to_string()).json();
    let grpc = corpus
        .search(sea_search.clone())
        .await
        .expect("gRPC search")
        .into_inner();
    assert_eq!(timeless(http.clone()), timeless(to_json(&grpc)));
    assert_eq!(http["hits"][0]["docId"], "sea", "{http}");
    let listed = get(&url(&server, "/v1/collections")).json();
    assert_eq!(listed["collections"][0]["name"], "news", "{listed}");
    let deleted = post(
        &url(&server, "/v1/documents:delete"),
        &json!({"collection": "news", "ids": ["sea"]}).to_string(),
    );
    assert_eq!(
        deleted.status,
        200,
        "{}",
        String::from_utf8_lossy(&deleted.body)
    );
    let after = corpus
        .search(sea_search.clone())
        .await
        .expect("gRPC search")
        .into_inner();
    assert!(after.hits.iter().all(|h| h.doc_id != "sea"), "{after:?}");

    // What is not a route, and what is not JSON, say so.
    // With no keys, only this machine's pages may call: not another origin, not a
    // rebound host name.
    let model_url = url(&server, "/v1/model");
    for (header, value) in [("origin", "https://evil.example"), ("host", "evil.example")] {
        let refused = call("GET", &model_url, None, &[(header, value)]);
        assert_eq!(
            (refused.status, refused.json()["error"]["status"].clone()),
            (403, json!("PERMISSION_DENIED")),
            "{header}: {value}"
        );
    }
    let own = format!("http://{}", server.http);
    assert_eq!(
        call("GET", &model_url, None, &[("origin", &own)]).status,
        200
    );
    // Cleartext HTTP/2 (prior knowledge) is served too.
    let h2 = Command::new("curl")
        .args([
            "-sS",
            "--http2-prior-knowledge",
            "-o",
            "/dev/null",
            "-w",
            "%{http_version} %{http_code}",
        ])
        .arg(&model_url)
        .output()
        .expect("curl");
    assert_eq!(String::from_utf8_lossy(&h2.stdout), "2 200");
    let wrong_method = get(&url(&server, "/v1/summarize"));
    assert_eq!(
        (
            wrong_method.status,
            wrong_method.json()["error"]["status"].clone()
        ),
        (405, json!("UNIMPLEMENTED"))
    );
    let missing = post(&url(&server, "/v1/frobnicate"), "{}");
    assert_eq!(
        (missing.status, missing.json()["error"]["status"].clone()),
        (404, json!("NOT_FOUND"))
    );
    for (body, why) in [
        ("{", "not JSON"),
        (r#"{"txt": "x"}"#, "unknown field"),
        ("[1]", "not an object"),
    ] {
        let bad = post(&url(&server, "/v1/summarize"), body);
        assert_eq!(
            bad.status,
            400,
            "{why}: {}",
            String::from_utf8_lossy(&bad.body)
        );
        assert_eq!(
            bad.json()["error"]["details"][0]["fieldViolations"][0]["field"],
            "body",
            "{why}"
        );
    }
}

/// `a` and `b` equal, their floats within a few ulps: two calls of one request may sum a
/// label's log-probability in another order.
fn assert_same(a: &Value, b: &Value, what: &str) {
    fn same(a: &Value, b: &Value) -> bool {
        match (a, b) {
            (Value::Number(x), Value::Number(y)) => match (x.as_f64(), y.as_f64()) {
                (Some(x), Some(y)) => x == y || (x - y).abs() <= 1e-12 * x.abs().max(y.abs()),
                _ => x == y,
            },
            (Value::Array(x), Value::Array(y)) => {
                x.len() == y.len() && x.iter().zip(y).all(|(x, y)| same(x, y))
            }
            (Value::Object(x), Value::Object(y)) => {
                x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same(v, w)))
            }
            _ => a == b,
        }
    }
    assert!(same(a, b), "{what}:\n{a}\n!=\n{b}");
}

/// The HTTP status gRPC's HTTP mapping gives `code`, as Google's APIs answer it.
fn http_status(code: Code) -> u16 {
    match code {
        Code::Ok => 200,
        Code::InvalidArgument | Code::FailedPrecondition | Code::OutOfRange => 400,
        Code::Unauthenticated => 401,
        Code::NotFound => 404,
        Code::ResourceExhausted => 429,
        Code::DeadlineExceeded => 504,
        Code::Unavailable => 503,
        other => panic!("no case expects {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_requests_over_http_get_the_status_and_the_field_grpc_gets() {
    const LIMIT: usize = 65536;
    let server = Server::start(None, &[("SOFER_MAX_MESSAGE_BYTES", "65536")]);
    server.wait_serving().await;
    let cases = hostile::cases();
    assert!(cases.len() >= 30, "{} cases", cases.len());
    let mut failures = Vec::new();
    for case in cases {
        let (route, body) = case.call.http();
        let reply = post(&url(&server, route), &body);
        // A body past the message limit is refused before it is read: 413, as HTTP has it.
        let want = if body.len() > LIMIT {
            413
        } else {
            http_status(case.code)
        };
        let (status_name, field) = if reply.status == 200 {
            ("OK".to_string(), None)
        } else {
            let error = &reply.json()["error"];
            (
                error["status"].as_str().unwrap_or_default().to_string(),
                error["details"][0]["fieldViolations"][0]["field"]
                    .as_str()
                    .map(str::to_string),
            )
        };
        let want_name = format!("{:?}", case.code);
        let same_code = status_name
            .replace('_', "")
            .eq_ignore_ascii_case(&want_name);
        if reply.status != want || !same_code || field.as_deref() != case.field {
            failures.push(format!(
                "{}: got {} {status_name} {field:?} ({}), want {want} {want_name} {:?}",
                case.name,
                reply.status,
                String::from_utf8_lossy(&reply.body)
                    .chars()
                    .take(200)
                    .collect::<String>(),
                case.field
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));

    // Too large is 413 in either shape, with nothing that invites a retry.
    let chat = json!({"model": model_id(&server), "messages": [{"role": "user", "content": "א".repeat(40_000)}]});
    let big = post(&url(&server, "/v1/chat/completions"), &chat.to_string());
    assert_eq!(
        (big.status, big.json()["error"]["code"].clone()),
        (413, json!("request_too_large"))
    );
    assert_eq!(big.header("retry-after"), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deadlines_keys_and_tenants_hold_over_http() {
    let config = format!(
        "[[auth.keys]]\ntenant = \"alpha\"\nsha256 = \"{}\"\n[[auth.keys]]\ntenant = \"beta\"\nsha256 = \"{}\"\n",
        sofer::service::hash_key("alpha-key"),
        sofer::service::hash_key("beta-key"),
    );
    let server = Server::start(Some(&config), &[]);
    let alpha = [("authorization", "Bearer alpha-key")];
    let beta = [("authorization", "Bearer beta-key")];
    let models = url(&server, "/v1/models");
    let deadline = Instant::now() + Duration::from_secs(30);
    while call("GET", &models, None, &alpha).status == 503 {
        assert!(Instant::now() < deadline, "never ready");
        std::thread::sleep(Duration::from_millis(20));
    }
    for headers in [&[][..], &[("authorization", "Bearer wrong")][..]] {
        let refused = call("GET", &url(&server, "/v1/collections"), None, headers);
        assert_eq!(
            (refused.status, refused.json()["error"]["status"].clone()),
            (401, json!("UNAUTHENTICATED"))
        );
        let refused = call("GET", &models, None, headers);
        assert_eq!(refused.status, 401);
        assert_eq!(
            refused.json()["error"]["type"],
            "authentication_error",
            "OpenAI's shape"
        );
    }
    let ingest = json!({"collection": "secret", "document": {"id": "plan", "text": "תוכנית ההצלה של ים המלח."}});
    let done = call(
        "POST",
        &url(&server, "/v1/documents:ingest"),
        Some(ingest.to_string().as_bytes()),
        &alpha,
    );
    assert_eq!(done.status, 200, "{}", String::from_utf8_lossy(&done.body));
    let search = json!({"query": "ים המלח", "collection": "secret"}).to_string();
    let hits = |headers: &[(&str, &str)]| {
        call(
            "POST",
            &url(&server, "/v1/search"),
            Some(search.as_bytes()),
            headers,
        )
        .json()["hits"]
            .as_array()
            .map_or(0, Vec::len)
    };
    assert_eq!(
        (hits(&alpha), hits(&beta)),
        (1, 0),
        "tenants never see each other"
    );

    // A deadline in `x-timeout-ms` stops the task: 504, and the server keeps serving.
    let long = json!({
        "text": harness::hebrew_document(40),
        "sampling": {"maxTokens": 3000, "temperature": 1.0, "seed": "3"},
    })
    .to_string();
    let started = Instant::now();
    let late = call(
        "POST",
        &url(&server, "/v1/summarize"),
        Some(long.as_bytes()),
        &[alpha[0], ("x-timeout-ms", "50")],
    );
    assert_eq!(
        (late.status, late.json()["error"]["status"].clone()),
        (504, json!("DEADLINE_EXCEEDED"))
    );
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    let chat = json!({"model": model_id(&server), "messages": [{"role": "user", "content": "שלום"}], "max_tokens": 3000});
    let late = call(
        "POST",
        &url(&server, "/v1/chat/completions"),
        Some(chat.to_string().as_bytes()),
        &[alpha[0], ("x-timeout-ms", "50")],
    );
    assert_eq!(
        (late.status, late.json()["error"]["code"].clone()),
        (504, json!("timeout"))
    );
    // A stream still running at its deadline ends with the deadline's error event.
    let started = Instant::now();
    let mut late = Events::start(
        &url(&server, "/v1/summarize:stream"),
        &long,
        &[alpha[0], ("x-timeout-ms", "300")],
    );
    let events = late.rest();
    let (name, data) = events.last().expect("events").clone();
    assert_eq!(name, "error", "{events:?}");
    assert!(data.contains("DEADLINE_EXCEEDED"), "{data}");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    let bad = call(
        "POST",
        &url(&server, "/v1/summarize"),
        Some(long.as_bytes()),
        &[alpha[0], ("x-timeout-ms", "soon")],
    );
    assert_eq!(
        bad.json()["error"]["details"][0]["fieldViolations"][0]["field"],
        "x-timeout-ms"
    );
    let fine = call("GET", &url(&server, "/v1/model"), None, &alpha);
    assert_eq!(fine.status, 200);
}

/// The model id `GET /v1/models` lists: the file name without `.gguf`.
fn model_id(server: &Server) -> String {
    let _ = server;
    common::tiny_gguf("q8_0")
        .file_stem()
        .expect("stem")
        .to_string_lossy()
        .into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hanging_up_stops_decoding_within_a_token() {
    let server = Server::start(None, &[]);
    server.wait_serving().await;
    let chat = |stream: bool| {
        json!({"model": model_id(&server), "messages": [{"role": "user", "content": "ספר סיפור ארוך"}],
               "max_tokens": 3000, "stream": stream, "seed": 3})
    };
    let summary =
        json!({"text": HEBREW, "sampling": {"maxTokens": 3000, "temperature": 1.0, "seed": "3"}});
    for (route, body, streamed) in [
        ("/v1/chat/completions", chat(true), true),
        ("/v1/summarize:stream", summary.clone(), true),
        ("/v1/chat/completions", chat(false), false),
        ("/v1/summarize", summary, false),
    ] {
        let before = server.counters().await;
        let mut events = Events::start(&url(&server, route), &body.to_string(), &[]);
        if streamed {
            for _ in 0..5 {
                events.next().expect("an event");
            }
        } else {
            // A unary call answers at the end: hang up once it is decoding.
            let deadline = Instant::now() + Duration::from_secs(30);
            while server.counters().await.decode_steps < before.decode_steps + 5 {
                assert!(Instant::now() < deadline, "{route} never started decoding");
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
        let at_hang_up = server.counters().await;
        events.hang_up();
        let settled = server.settle().await;
        let after = settled.decode_steps - at_hang_up.decode_steps;
        eprintln!(
            "{route} (streamed: {streamed}): {} steps before hanging up, {after} after",
            at_hang_up.decode_steps - before.decode_steps
        );
        assert!(
            after <= 8,
            "{route}: the engine ran {after} more steps after the client left"
        );
        assert!(
            settled.generated_tokens - before.generated_tokens < 1000,
            "{settled:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_lets_sse_streams_finish_and_exits_zero() {
    let mut server = Server::start(None, &[("SOFER_GRACE_PERIOD_SECONDS", "30")]);
    server.wait_serving().await;
    let summary =
        json!({"text": HEBREW, "sampling": {"maxTokens": 200, "temperature": 1.0, "seed": "3"}});
    let chat = json!({"model": model_id(&server), "messages": [{"role": "user", "content": "שלום"}],
                      "max_tokens": 200, "stream": true, "seed": 3, "temperature": 1.0});
    let mut summarizing = Events::start(
        &url(&server, "/v1/summarize:stream"),
        &summary.to_string(),
        &[],
    );
    let mut chatting = Events::start(
        &url(&server, "/v1/chat/completions"),
        &chat.to_string(),
        &[],
    );
    summarizing.next().expect("a first event");
    chatting.next().expect("a first chunk");
    let killed = Command::new("kill")
        .args(["-TERM", &server.child.id().to_string()])
        .status()
        .expect("kill");
    assert!(killed.success());
    let rest = summarizing.rest();
    let last: Value = serde_json::from_str(&rest.last().expect("more events").1).expect("JSON");
    assert!(
        last["response"]["usage"].is_object(),
        "the stream ended with its response: {rest:?}"
    );
    let rest = chatting.rest();
    assert_eq!(
        rest.last().map(|(_, d)| d.as_str()),
        Some("[DONE]"),
        "{rest:?}"
    );
    let status = server.wait_exit(Duration::from_secs(30)).await;
    assert_eq!(status.code(), Some(0), "{}", server.log());
}

/// The Python with the pinned `openai` and `playwright` packages that
/// `scripts/setup_http_clients.sh` installs.
fn clients_python() -> PathBuf {
    let python = std::env::var_os("SOFER_HTTP_CLIENTS_PYTHON").map_or_else(
        || {
            PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
                .parent()
                .expect("target dir")
                .join("http-clients/bin/python")
        },
        PathBuf::from,
    );
    assert!(
        python.exists(),
        "{} is missing: run scripts/setup_http_clients.sh (scripts/test.sh does)",
        python.display()
    );
    python
}

fn run_python(script: &str, args: &[&str]) -> Value {
    let out = Command::new(clients_python())
        .arg(
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("tests/http")
                .join(script),
        )
        .args(args)
        .output()
        .expect("run python");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{script} failed:\n{stderr}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(stdout.trim())
        .unwrap_or_else(|e| panic!("{script} printed {stdout:?}: {e}\n{stderr}"))
}

/// `sofer model generate` on `ids`, the CLI's answer for the same request.
fn cli_generate(model: &std::path::Path, ids: &[u64], args: &[&str]) -> Value {
    let ids: Vec<String> = ids.iter().map(u64::to_string).collect();
    let out = Command::new(env!("CARGO_BIN_EXE_sofer"))
        .args(["model", "generate", "--json", "--model"])
        .arg(model)
        .args(["--ids", &ids.join(",")])
        .args(args)
        .output()
        .expect("sofer model generate");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON")
}

/// The ids `sofer prompt render` gives a conversation.
fn cli_render(model: &std::path::Path, chat: &Value) -> Vec<u64> {
    let file = tempfile::NamedTempFile::new().expect("temp file");
    std::fs::write(file.path(), chat.to_string()).expect("write the chat");
    let out = Command::new(env!("CARGO_BIN_EXE_sofer"))
        .args(["prompt", "render", "--json", "--model"])
        .arg(model)
        .arg("--chat")
        .arg(file.path())
        .output()
        .expect("sofer prompt render");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    v["ids"]
        .as_array()
        .expect("ids")
        .iter()
        .filter_map(Value::as_u64)
        .collect()
}

fn texts(generated: &Value) -> Vec<String> {
    generated["samples"]
        .as_array()
        .expect("samples")
        .iter()
        .map(|s| s["text"].as_str().expect("text").to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openai_python_sdk_gets_what_the_cli_generates() {
    let config = format!(
        "[limits]\nqueue_capacity = 1\n[[auth.keys]]\ntenant = \"sdk\"\nsha256 = \"{}\"\n",
        sofer::service::hash_key("sdk-key")
    );
    let server = Server::start(Some(&config), &[]);
    server.wait_serving().await;
    let model = common::tiny_gguf("q8_0");
    let id = model_id(&server);
    let seen = run_python("openai_client.py", &[&url(&server, ""), "sdk-key", &id]);
    eprintln!("{seen:#}");

    let chat = json!([{"role": "system", "content": "ענה בקצרה."}, {"role": "user", "content": "מה בירת ישראל?"}]);
    let ids = cli_render(&model, &chat);
    assert_eq!(
        seen["chat"]["usage"]["prompt_tokens"],
        ids.len(),
        "the chat template is the model's"
    );
    let greedy = cli_generate(&model, &ids, &["--max-tokens", "12", "--temperature", "0"]);
    assert_eq!(seen["chat"]["text"], texts(&greedy)[0]);
    let sampled = cli_generate(
        &model,
        &ids,
        &["--max-tokens", "16", "--temperature", "1", "--seed", "11"],
    );
    assert_eq!(seen["seeded"][0], texts(&sampled)[0], "seed 11");
    assert_eq!(
        seen["streamed"]["text"],
        texts(&sampled)[0],
        "streamed, seed 11"
    );
    let three = cli_generate(
        &model,
        &ids,
        &[
            "--max-tokens",
            "10",
            "--temperature",
            "1",
            "--seed",
            "21",
            "--n",
            "3",
        ],
    );
    assert_eq!(
        seen["n3"]["texts"],
        json!(texts(&three)),
        "n = 3 from one prefill"
    );
    let stopped = cli_generate(
        &model,
        &ids,
        &[
            "--max-tokens",
            "12",
            "--temperature",
            "0",
            "--stop",
            seen["stop"]["at"].as_str().expect("stop"),
        ],
    );
    assert_eq!(seen["stop"]["text"], texts(&stopped)[0]);
    let prompt = sofer::engine::tokenizer::Tokenizer::from_gguf_metadata(
        sofer::engine::gguf::GgufFile::open(&model)
            .expect("gguf")
            .metadata(),
    )
    .expect("tokenizer");
    let prompt_ids: Vec<u64> = prompt
        .encode("שלום עולם", prompt.add_bos_default())
        .expect("encode")
        .into_iter()
        .map(u64::from)
        .collect();
    let text = cli_generate(
        &model,
        &prompt_ids,
        &["--max-tokens", "8", "--temperature", "0"],
    );
    assert_eq!(seen["completion"]["text"], texts(&text)[0]);
    assert_eq!(seen["completion"]["prompt_tokens"], prompt_ids.len());
    assert!(
        seen["rate_limited"].as_u64().is_some_and(|n| n >= 1),
        "{seen}"
    );
}

/// What the page sends with its default sampling options and seed 7.
fn greedy_seed_7() -> Option<pb::SamplingOptions> {
    Some(pb::SamplingOptions {
        temperature: Some(0.0),
        seed: Some(7),
        max_tokens: None,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_in_headless_chromium_translates_and_classifies() {
    let server = Server::start(None, &[]);
    server.wait_serving().await;
    let shots = std::env::var_os("SOFER_PAGE_SCREENSHOTS").map_or_else(
        || PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("page-screenshots"),
        PathBuf::from,
    );
    std::fs::create_dir_all(&shots).expect("screenshot dir");
    let english =
        "The football match ended with a late goal, and the fans celebrated in the streets.";
    let shots_arg = shots.display().to_string();
    let docx = common::documents::dir().join("he_wiki.libreoffice.docx");
    let docx_arg = docx.display().to_string();
    let seen = run_python(
        "page_check.py",
        &[&url(&server, ""), &shots_arg, HEBREW, english, &docx_arg],
    );
    eprintln!("{seen:#}\nscreenshots in {}", shots.display());

    // What the page showed is what gRPC answers for the same request.
    let mut documents = server.documents().await;
    let translated = documents
        .translate(pb::TranslateRequest {
            text: HEBREW.into(),
            target_language: pb::Language::English as i32,
            sampling: greedy_seed_7(),
            ..Default::default()
        })
        .await
        .expect("gRPC translate")
        .into_inner();
    let lines = |text: &str| -> Vec<String> {
        text.lines()
            .filter(|l| !l.trim().is_empty())
            .map(str::to_string)
            .collect()
    };
    assert_eq!(
        lines(seen["translation"].as_str().expect("translation")),
        lines(&translated.translation)
    );
    let checked = documents
        .translate(pb::TranslateRequest {
            text: HEBREW.into(),
            target_language: pb::Language::English as i32,
            glossary: vec![pb::GlossaryEntry {
                source: "ים המלח".into(),
                target: "the Dead Sea".into(),
            }],
            sampling: Some(pb::SamplingOptions {
                max_tokens: Some(8),
                ..greedy_seed_7().expect("options")
            }),
            ..Default::default()
        })
        .await
        .expect("gRPC translate with a glossary")
        .into_inner();
    let listed = seen["violations"].as_array().expect("violations").len();
    assert_eq!(listed, checked.glossary_violations.len());
    assert!(listed >= 1, "the tiny model never writes `the Dead Sea`");
    let classified = documents
        .classify(pb::ClassifyRequest {
            text: english.into(),
            labels: labels(&["sport", "politics", "weather"]),
            votes: 5,
            method: pb::ClassifyMethod::Vote as i32,
            sampling: greedy_seed_7(),
            ..Default::default()
        })
        .await
        .expect("gRPC classify")
        .into_inner();
    let shown: Vec<String> = seen["tally"]
        .as_array()
        .expect("tally")
        .iter()
        .map(|b| b["value"].as_str().unwrap_or_default().to_string())
        .collect();
    let want: Vec<String> = classified
        .tally
        .iter()
        .map(|t| format!("{} votes", t.votes))
        .collect();
    assert_eq!(shown, want);
    let scored = seen["scores"].as_array().expect("scores");
    let total: f64 = scored
        .iter()
        .filter_map(|b| {
            b["width"]
                .as_str()?
                .trim_end_matches('%')
                .parse::<f64>()
                .ok()
        })
        .sum();
    assert!(
        (total - 100.0).abs() < 0.5,
        "probability bars add up to {total}%"
    );
    let rebuilt = documents
        .translate(pb::TranslateRequest {
            content: std::fs::read(&docx).expect("fixture"),
            target_language: pb::Language::English as i32,
            sampling: Some(pb::SamplingOptions {
                max_tokens: Some(4),
                ..greedy_seed_7().expect("options")
            }),
            ..Default::default()
        })
        .await
        .expect("gRPC translate of the DOCX")
        .into_inner();
    let downloaded =
        std::fs::read(seen["download"]["path"].as_str().expect("path")).expect("the download");
    assert_eq!(
        downloaded, rebuilt.content,
        "the page's download is gRPC's DOCX"
    );
    for shot in [
        "page-hebrew-translate.png",
        "page-english-classify.png",
        "page-phone.png",
    ] {
        assert!(
            shots.join(shot).metadata().is_ok_and(|m| m.len() > 10_000),
            "{shot}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_and_http_share_one_queue_and_one_set_of_metrics() {
    let server = Server::start(None, &[]);
    server.wait_serving().await;
    let body = json!({"model": model_id(&server), "messages": [{"role": "user", "content": "שלום"}], "max_tokens": 4}).to_string();
    assert_eq!(
        post(&url(&server, "/v1/chat/completions"), &body).status,
        200
    );
    assert_eq!(post(&url(&server, "/v1/classify"), &json!({"text": HEBREW, "labels": [{"name": "a"}, {"name": "b"}], "votes": 1, "sampling": {"maxTokens": 2}}).to_string()).status, 200);
    let mut clients = Clients {
        documents: server.documents().await,
        corpus: server.corpus().await,
        model: server.model().await,
    };
    let grpc = clients
        .documents
        .classify(pb::ClassifyRequest {
            text: HEBREW.into(),
            labels: labels(&["a", "b"]),
            votes: 1,
            sampling: budget(2),
            ..Default::default()
        })
        .await;
    assert!(grpc.is_ok());
    let metrics = harness::http_get(&server.metrics, "/metrics").await;
    for counted in [
        "sofer_requests_total{method=\"ChatCompletions\",code=\"Ok\"} 1",
        "sofer_requests_total{method=\"Classify\",code=\"Ok\"} 2",
    ] {
        assert!(metrics.contains(counted), "{counted} not in\n{metrics}");
    }
}

#[test]
fn while_the_model_loads_every_route_answers_503_in_its_shape() {
    use std::io::BufRead;
    // A FIFO as the model: loading blocks on it until the test opens it for writing.
    let dir = tempfile::tempdir().expect("tempdir");
    let model = dir.path().join("loading.gguf");
    assert!(Command::new("mkfifo")
        .arg(&model)
        .status()
        .expect("mkfifo")
        .success());
    let mut child = Command::new(env!("CARGO_BIN_EXE_sofer"))
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--http-listen",
            "127.0.0.1:0",
            "--model",
        ])
        .arg(&model)
        .arg("--index")
        .arg(dir.path().join("index"))
        .env_remove("SOFER_CONFIG")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("sofer serve");
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("the listening line");
    let http = serde_json::from_str::<Value>(&line).expect("JSON")["http"]
        .as_str()
        .expect("http")
        .to_string();
    let task = get(&format!("http://{http}/v1/model"));
    assert_eq!(
        (task.status, task.json()["error"]["status"].clone()),
        (503, json!("UNAVAILABLE"))
    );
    assert_eq!(task.header("retry-after"), Some("1"));
    let chat = json!({"model": "m", "messages": [{"role": "user", "content": "שלום"}]}).to_string();
    let openai = post(&format!("http://{http}/v1/chat/completions"), &chat);
    assert_eq!(
        (openai.status, openai.json()["error"]["type"].clone()),
        (503, json!("server_error"))
    );
    let page = get(&format!("http://{http}/"));
    assert_eq!(page.status, 200, "the page loads while the model does");
    drop(
        std::fs::OpenOptions::new()
            .write(true)
            .open(&model)
            .expect("open the FIFO"),
    );
    let status = child.wait().expect("wait");
    assert!(!status.success(), "an empty model file fails to load");
}
