//! CorpusService: every operation is on the calling tenant's collections only.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use tonic::{Request, Response, Status, Streaming};

use super::convert;
use super::observed::Observed;
use super::offload::blocking;
use super::pb;
use super::pb::corpus_service_server::CorpusService;
use super::request::{check_collection, scoped, unscoped, CallInfo};
use super::server::Shared;
use super::status::{bad_request, from_retrieval, ApiResult};
use crate::retrieval::{Document, RetrievalIndex, SearchQuery};
use crate::text;

use crate::limits::{MAX_DELETE_IDS, MAX_ID_BYTES, MAX_INGEST_DOCUMENTS, MAX_SEARCH_K};

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

/// A flag that is set when its owner is dropped; [`DropFlag::watch`] reads it elsewhere.
#[derive(Default)]
struct DropFlag(Arc<AtomicBool>);

impl DropFlag {
    fn watch(&self) -> Watch {
        Watch(self.0.clone())
    }
}

impl Drop for DropFlag {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

/// Reads a [`DropFlag`].
struct Watch(Arc<AtomicBool>);

impl Watch {
    fn is_set(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
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
        let observed = Observed::start(&self.shared, "IngestDocuments", &call);
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
                let field = format!("{field}.document");
                // A file in `content` is parsed here: off the async threads.
                let document = blocking(move || convert::document(document, &field)).await?;
                by_collection
                    .entry(scoped(&call.tenant, &message.collection))
                    .or_default()
                    .push(document);
                n += 1;
            }
            if n == 0 {
                return Err(bad_request("document", "the stream carried no documents"));
            }
            // Set when tonic drops this call (the client cancelled or reset it): the
            // commit, which runs on without us, is then rolled back instead.
            let gone = DropFlag::default();
            let (still_here, deadline_call) = (gone.watch(), call.clone());
            let report = blocking(move || {
                let batches: Vec<(&str, &[Document])> = by_collection
                    .iter()
                    .map(|(c, docs)| (c.as_str(), docs.as_slice()))
                    .collect();
                let wanted = || !still_here.is_set() && !deadline_call.expired();
                index_of(&runtime)?
                    .ingest_all(&batches, &wanted)
                    .map_err(from_retrieval)?
                    .ok_or_else(|| {
                        Status::cancelled("the call ended before its documents were committed")
                    })
            })
            .await?;
            drop(gone);
            Ok(Response::new(pb::IngestDocumentsResponse {
                documents: report.documents as u32,
                passages: report.passages as u32,
            }))
        }
        .await;
        observed.finish(&result, None);
        result
    }

    async fn delete_documents(
        &self,
        request: Request<pb::DeleteDocumentsRequest>,
    ) -> ApiResult<Response<pb::DeleteDocumentsResponse>> {
        let call = CallInfo::of(&request)?;
        let observed = Observed::start(&self.shared, "DeleteDocuments", &call);
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
                .position(|id| id.is_empty() || id.len() > MAX_ID_BYTES)
            {
                return Err(bad_request(
                    &format!("ids[{i}]"),
                    format!("must be 1 to {MAX_ID_BYTES} bytes"),
                ));
            }
            let runtime = self.writable_index()?;
            let collection = scoped(&call.tenant, &req.collection);
            let response = blocking(move || {
                let ids: Vec<&str> = req.ids.iter().map(String::as_str).collect();
                let removed = index_of(&runtime)?
                    .delete_all(&collection, &ids)
                    .map_err(from_retrieval)?;
                let mut out = pb::DeleteDocumentsResponse::default();
                for (id, passages) in req.ids.iter().zip(removed) {
                    if passages > 0 {
                        out.deleted += 1;
                    } else {
                        out.not_found.push(id.clone());
                    }
                }
                Ok(out)
            })
            .await?;
            Ok(Response::new(response))
        }
        .await;
        observed.finish(&result, None);
        result
    }

    async fn search(
        &self,
        request: Request<pb::SearchRequest>,
    ) -> ApiResult<Response<pb::SearchResponse>> {
        let call = CallInfo::of(&request)?;
        let observed = Observed::start(&self.shared, "Search", &call);
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
        observed.finish(&result, None);
        result
    }

    async fn list_collections(
        &self,
        request: Request<pb::ListCollectionsRequest>,
    ) -> ApiResult<Response<pb::ListCollectionsResponse>> {
        let call = CallInfo::of(&request)?;
        let observed = Observed::start(&self.shared, "ListCollections", &call);
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
        observed.finish(&result, None);
        result
    }
}
