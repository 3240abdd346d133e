//! The gRPC service (`proto/sofer/v1`): DocumentService, CorpusService and ModelService on
//! tonic, with health, reflection, API keys and tenancy, a bounded engine queue,
//! deadlines, cancellation, metrics and graceful shutdown; and the same services over
//! HTTP/JSON beside it, with the OpenAI-compatible API and the web page ([`http`]).
//!
//! The server answers health checks at once and reports NOT_SERVING while the model loads
//! and the index opens; the services answer UNAVAILABLE until then.

pub mod auth;
pub mod config;
mod content;
mod convert;
mod corpus;
mod document;
pub mod http;
mod metrics;
mod model;
mod observed;
mod offload;
mod queue;
mod request;
mod server;
pub mod status;

/// The generated messages, servers and clients.
#[allow(missing_docs, clippy::all)]
pub mod pb {
    tonic::include_proto!("sofer.v1");

    /// The encoded descriptors of `proto/sofer/v1`, for reflection.
    pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("sofer_descriptor");
}

pub use auth::{hash_key, Tenant, LOCAL_TENANT};
pub use config::{ConfigError, ServerConfig};
pub use server::{serve, Listeners, ServeError};
