//! The route table: which URL calls which service method.
//!
//! | route | RPC |
//! |---|---|
//! | `POST /v1/summarize`, `POST /v1/summarize:stream` | Summarize, StreamSummarize |
//! | `POST /v1/translate[?download=true]`, `POST /v1/translate:stream` | Translate, StreamTranslate |
//! | `POST /v1/classify` | Classify |
//! | `POST /v1/documents:ingest`, `POST /v1/documents:delete` | IngestDocuments, DeleteDocuments |
//! | `POST /v1/search`, `GET /v1/collections` | Search, ListCollections |
//! | `GET /v1/model`, `POST /v1/tokenize` | GetModelInfo, Tokenize |
//! | `POST /v1/chat/completions`, `POST /v1/completions`, `GET /v1/models[/{id}]` | OpenAI |
//! | `GET /`, `/app.js`, `/style.css` | the web page |

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Query, Request, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use tonic::Status;

use super::super::auth::KeyStore;
use super::super::corpus::Corpus;
use super::super::document::Documents;
use super::super::model::Model;
use super::super::pb;
use super::super::pb::corpus_service_server::CorpusService;
use super::super::pb::document_service_server::DocumentService;
use super::super::pb::model_service_server::ModelService;
use super::super::server::Shared;
use super::super::status::bad_request;
use super::error::google_error;
use super::tasks::{self, TaskCall};
use super::{openai, page};

/// What the routes share: the same service implementations gRPC calls.
pub struct HttpState {
    pub(in crate::service) shared: Arc<Shared>,
    pub(in crate::service) keys: Arc<KeyStore>,
    pub(in crate::service) documents: Arc<Documents>,
    pub(in crate::service) corpus: Arc<Corpus>,
    pub(in crate::service) model: Arc<Model>,
    /// The largest request body, as gRPC's largest message.
    pub(in crate::service) max_body: usize,
}

type AppState = State<Arc<HttpState>>;

/// The HTTP routes over `state`.
pub fn router(state: Arc<HttpState>) -> Router {
    Router::new()
        .route("/v1/summarize", post(summarize))
        .route("/v1/summarize:stream", post(stream_summarize))
        .route("/v1/translate", post(translate))
        .route("/v1/translate:stream", post(stream_translate))
        .route("/v1/classify", post(classify))
        .route("/v1/documents:ingest", post(ingest))
        .route("/v1/documents:delete", post(delete))
        .route("/v1/search", post(search))
        .route("/v1/collections", get(list_collections))
        .route("/v1/model", get(model_info))
        .route("/v1/tokenize", post(tokenize))
        .route("/v1/chat/completions", post(openai::chat_completions))
        .route("/v1/completions", post(openai::completions))
        .route("/v1/models", get(openai::list_models))
        .route("/v1/models/{id}", get(openai::get_model))
        .route("/", get(page::index))
        .route("/app.js", get(page::script))
        .route("/style.css", get(page::style))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state)
}

macro_rules! unary_route {
    ($name:ident, $service:ident, $method:ident, $rpc:literal) => {
        async fn $name(State(state): AppState, request: Request) -> Response {
            let task = match TaskCall::read(&state, $rpc, request).await {
                Ok(task) => task,
                Err(answer) => return answer,
            };
            let service = state.$service.clone();
            tasks::unary(
                task,
                |_| Ok(()),
                |r| async move { service.$method(r).await },
            )
            .await
        }
    };
}

macro_rules! streaming_route {
    ($name:ident, $method:ident, $rpc:literal) => {
        async fn $name(State(state): AppState, request: Request) -> Response {
            let task = match TaskCall::read(&state, $rpc, request).await {
                Ok(task) => task,
                Err(answer) => return answer,
            };
            let service = state.documents.clone();
            tasks::streaming(task, |r| async move { service.$method(r).await }).await
        }
    };
}

unary_route!(summarize, documents, summarize, "Summarize");
unary_route!(classify, documents, classify, "Classify");
unary_route!(delete, corpus, delete_documents, "DeleteDocuments");
unary_route!(search, corpus, search, "Search");
unary_route!(
    list_collections,
    corpus,
    list_collections,
    "ListCollections"
);
unary_route!(model_info, model, get_model_info, "GetModelInfo");
unary_route!(tokenize, model, tokenize, "Tokenize");
streaming_route!(stream_summarize, stream_summarize, "StreamSummarize");
streaming_route!(stream_translate, stream_translate, "StreamTranslate");

async fn translate(
    State(state): AppState,
    Query(query): Query<HashMap<String, String>>,
    request: Request,
) -> Response {
    let download = match query.get("download").map(String::as_str) {
        None | Some("false") => false,
        Some("true") => true,
        Some(other) => {
            return google_error(&bad_request(
                "download",
                format!("must be true or false, got {other:?}"),
            ))
        }
    };
    let task = match TaskCall::read(&state, "Translate", request).await {
        Ok(task) => task,
        Err(answer) => return answer,
    };
    let service = state.documents.clone();
    if !download {
        return tasks::unary(
            task,
            |_| Ok(()),
            |r| async move { service.translate(r).await },
        )
        .await;
    }
    let mut file = None;
    let answer = tasks::unary(task, rebuildable, |r| async {
        let response = service.translate(r).await?;
        file = Some(tasks::download(response.get_ref()));
        Ok(response)
    })
    .await;
    match file {
        Some(file) => file,
        None => answer,
    }
}

/// Whether a `?download=true` request has a file that can come back translated, checked
/// before any of it is translated.
fn rebuildable(request: &pb::TranslateRequest) -> Result<(), Status> {
    let format = crate::documents::sniff::sniff(&request.content).ok();
    match format {
        Some(format) if !request.content.is_empty() && crate::documents::writable(format) => Ok(()),
        _ => Err(bad_request(
            "download",
            "needs a DOCX or HTML file in `content` to give back translated",
        )),
    }
}

async fn ingest(State(state): AppState, request: Request) -> Response {
    match TaskCall::read(&state, "IngestDocuments", request).await {
        Ok(task) => tasks::ingest(task).await,
        Err(answer) => answer,
    }
}

async fn not_found(request: Request<Body>) -> Response {
    let status = Status::not_found(format!(
        "no route {} {} (see docs/http.md)",
        request.method(),
        request.uri().path()
    ));
    google_error(&status)
}

async fn method_not_allowed(request: Request<Body>) -> Response {
    let status = Status::unimplemented(format!(
        "{} {} is not served: see docs/http.md for each route's method",
        request.method(),
        request.uri().path()
    ));
    let mut answer = google_error(&status);
    *answer.status_mut() = StatusCode::METHOD_NOT_ALLOWED;
    answer
}
