//! CorpusService: every operation is on the calling tenant's collections only.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use tonic::{Request, Response, Status, Streaming};

use super::convert;
use super::pb;
use super::pb::corpus_service_server::CorpusService;
use super::request::{check_collection, scoped, unscoped, CallInfo};
use super::server::Shared;
use super::status::{bad_request, from_retrieval, internal, ApiResult};
use crate::retrieval::{Document, RetrievalIndex, SearchQuery};
use crate::text;

/// Most documents one IngestDocuments call may carry.
pub const MAX_INGEST_DOCUMENTS: usize = 10_000;
/// Most ids one DeleteDocuments call may carry.
pub const MAX_DELETE_IDS: usize = 1000;
/// Most hits one Search may ask for.
pub const MAX_SEARCH_K: u32 = 100;

/// The CorpusService implementation.
pub struct Corpus {
    pub(super) shared: Arc<Shared>,
}

impl Corpus {
    fn index(&self) -> ApiResult<Arc<crate::tasks::TaskRuntime>> {
        let ready = self.shared.ready()?;
        if ready.runtime.index().is_none() {
            return Err(Status::failed_precondition("this server has no index"));
        }
        Ok(ready.runtime.clone())
    }

    /// The index, for a call that writes it.
    fn writable_index(&self) -> ApiResult<Arc<crate::tasks::TaskRuntime>> {
        let runtime = self.index()?;
        if runtime.index().is_some_and(RetrievalIndex::is_read_only) {
            return Err(Status::failed_precondition(
                "this server's index is read-only; documents are added and deleted by its single writer",
            ));
        }
        Ok(runtime)
    }
}

/// Runs blocking index work off the async threads.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> ApiResult<T> + Send + 'static,
) -> ApiResult<T> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| internal("the index call", &e))?
}

fn index_of(runtime: &crate::tasks::TaskRuntime) -> ApiResult<&RetrievalIndex> {
    runtime
        .index()
        .ok_or_else(|| Status::failed_precondition("this server has no index"))
}

#[tonic::async_trait]
impl CorpusService for Corpus {
    async fn ingest_documents(
        &self,
        request: Request<Streaming<pb::IngestDocumentsRequest>>,
    ) -> ApiResult<Response<pb::IngestDocumentsResponse>> {
        let call = CallInfo::of(&request)?;
        let started = Instant::now();
        let result = async {
            let runtime = self.writable_index()?;
            let mut stream = request.into_inner();
            let mut by_collection: BTreeMap<String, Vec<Document>> = BTreeMap::new();
            let mut n = 0;
            while let Some(message) = stream.message().await? {
                if n == MAX_INGEST_DOCUMENTS {
                    return Err(bad_request(
                        "document",
                        format!("at most {MAX_INGEST_DOCUMENTS} documents per call"),
                    ));
                }
                let field = format!("messages[{n}]");
                check_collection(&format!("{field}.collection"), &message.collection)?;
                let document = message
                    .document
                    .ok_or_else(|| bad_request(&format!("{field}.document"), "is required"))?;
                let document = convert::document(document, &format!("{field}.document"))?;
                by_collection
                    .entry(scoped(&call.tenant, &message.collection))
                    .or_default()
                    .push(document);
                n += 1;
            }
            if n == 0 {
                return Err(bad_request("document", "the stream carried no documents"));
            }
            let report = blocking(move || {
                let index = index_of(&runtime)?;
                let mut total = pb::IngestDocumentsResponse::default();
                for (collection, docs) in by_collection {
                    let report = index.ingest(&collection, &docs).map_err(from_retrieval)?;
                    total.documents += report.documents as u32;
                    total.passages += report.passages as u32;
                }
                Ok(total)
            })
            .await?;
            Ok(Response::new(report))
        }
        .await;
        self.shared
            .observe("IngestDocuments", &call, started, &result);
        result
    }

    async fn delete_documents(
        &self,
        request: Request<pb::DeleteDocumentsRequest>,
    ) -> ApiResult<Response<pb::DeleteDocumentsResponse>> {
        let call = CallInfo::of(&request)?;
        let started = Instant::now();
        let result = async {
            let req = request.into_inner();
            check_collection("collection", &req.collection)?;
            if req.ids.is_empty() || req.ids.len() > MAX_DELETE_IDS {
                return Err(bad_request(
                    "ids",
                    format!("must hold 1 to {MAX_DELETE_IDS} ids"),
                ));
            }
            if let Some(i) = req
                .ids
                .iter()
                .position(|id| id.is_empty() || id.len() > 256)
            {
                return Err(bad_request(&format!("ids[{i}]"), "must be 1 to 256 bytes"));
            }
            let runtime = self.writable_index()?;
            let collection = scoped(&call.tenant, &req.collection);
            let response = blocking(move || {
                let index = index_of(&runtime)?;
                let mut out = pb::DeleteDocumentsResponse::default();
                for id in req.ids {
                    if index.delete(&collection, &id).map_err(from_retrieval)? > 0 {
                        out.deleted += 1;
                    } else {
                        out.not_found.push(id);
                    }
                }
                Ok(out)
            })
            .await?;
            Ok(Response::new(response))
        }
        .await;
        self.shared
            .observe("DeleteDocuments", &call, started, &result);
        result
    }

    async fn search(
        &self,
        request: Request<pb::SearchRequest>,
    ) -> ApiResult<Response<pb::SearchResponse>> {
        let call = CallInfo::of(&request)?;
        let started = Instant::now();
        let result = async {
            let req = request.into_inner();
            if req.query.trim().is_empty() {
                return Err(bad_request("query", "must not be empty"));
            }
            check_collection("collection", &req.collection)?;
            if req.k > MAX_SEARCH_K {
                return Err(bad_request("k", format!("must be 0 to {MAX_SEARCH_K}")));
            }
            let language = convert::language("language", req.language)?
                .and_then(|code| code.parse::<text::Language>().ok());
            let query = SearchQuery {
                text: req.query,
                collection: scoped(&call.tenant, &req.collection),
                language,
                k: if req.k == 0 { 10 } else { req.k as usize },
            };
            let runtime = self.index()?;
            let hits = blocking(move || index_of(&runtime)?.search(&query).map_err(from_retrieval))
                .await?;
            Ok(Response::new(pb::SearchResponse {
                hits: hits.into_iter().map(convert::hit).collect(),
            }))
        }
        .await;
        self.shared.observe("Search", &call, started, &result);
        result
    }

    async fn list_collections(
        &self,
        request: Request<pb::ListCollectionsRequest>,
    ) -> ApiResult<Response<pb::ListCollectionsResponse>> {
        let call = CallInfo::of(&request)?;
        let started = Instant::now();
        let result = async {
            let runtime = self.index()?;
            let stats =
                blocking(move || index_of(&runtime)?.stats().map_err(from_retrieval)).await?;
            let collections = stats
                .collections
                .into_iter()
                .filter_map(|c| {
                    Some(pb::Collection {
                        name: unscoped(&call.tenant, &c.collection)?.to_string(),
                        documents: c.documents,
                        passages: c.passages,
                    })
                })
                .collect();
            Ok(Response::new(pb::ListCollectionsResponse { collections }))
        }
        .await;
        self.shared
            .observe("ListCollections", &call, started, &result);
        result
    }
}
