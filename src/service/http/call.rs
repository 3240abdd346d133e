//! An HTTP call as the services see a gRPC one: the key in `Authorization: Bearer …`
//! names the tenant (with no keys, loopback callers only, as gRPC), `x-timeout-ms` (or a
//! `grpc-timeout` header) sets the deadline, counted from when the headers arrived, and
//! `x-request-id` names the call in the log.

use std::time::Instant;

use axum::http::HeaderMap;
use tonic::metadata::MetadataValue;
use tonic::Status;

use super::super::auth::{KeyStore, Tenant};
use super::super::request::Arrived;
use super::super::server::Shared;
use super::super::status::bad_request;
use super::Peer;

/// The header that carries an HTTP call's deadline, in milliseconds.
pub const TIMEOUT_HEADER: &str = "x-timeout-ms";

/// The longest deadline a header may ask for (gRPC's `grpc-timeout` has 8 digits).
const MAX_TIMEOUT_MS: u64 = 99_999_999;

/// Who is calling, when, and for how long they wait.
#[derive(Debug, Clone)]
pub struct Caller {
    tenant: Tenant,
    arrived: Instant,
    grpc_timeout: Option<String>,
    request_id: Option<String>,
}

impl Caller {
    /// Authenticates a call (refusals are logged and counted as gRPC's are) and reads its
    /// deadline and request id.
    pub fn of(
        keys: &KeyStore,
        shared: &Shared,
        headers: &HeaderMap,
        peer: Peer,
    ) -> Result<Self, Status> {
        let arrived = Instant::now();
        let authorization = headers.get("authorization").and_then(|v| v.to_str().ok());
        let tenant = keys
            .authenticate(authorization, Some(peer.0))
            .map_err(|e| {
                shared.refused(Some(peer.0), &e.to_string());
                Status::unauthenticated(e.to_string())
            })?;
        let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        let grpc_timeout = match (text(TIMEOUT_HEADER), text("grpc-timeout")) {
            (Some(ms), _) => Some(timeout_ms(ms)?),
            (None, Some(grpc)) => Some(grpc.to_string()),
            (None, None) => None,
        };
        Ok(Self {
            tenant,
            arrived,
            grpc_timeout,
            request_id: text("x-request-id").map(str::to_string),
        })
    }

    /// `message` as a gRPC request of this caller.
    pub fn request<T>(&self, message: T) -> tonic::Request<T> {
        let mut request = tonic::Request::new(message);
        let metadata = request.metadata_mut();
        for (name, value) in [
            ("grpc-timeout", &self.grpc_timeout),
            ("x-request-id", &self.request_id),
        ] {
            if let Some(value) = value
                .as_deref()
                .and_then(|v| MetadataValue::try_from(v).ok())
            {
                metadata.insert(name, value);
            }
        }
        request.extensions_mut().insert(self.tenant.clone());
        request.extensions_mut().insert(Arrived(self.arrived));
        request
    }
}

/// `x-timeout-ms` as a `grpc-timeout` value.
fn timeout_ms(value: &str) -> Result<String, Status> {
    match value.trim().parse::<u64>() {
        Ok(ms) if (1..=MAX_TIMEOUT_MS).contains(&ms) => Ok(format!("{ms}m")),
        _ => Err(bad_request(
            TIMEOUT_HEADER,
            format!("must be whole milliseconds from 1 to {MAX_TIMEOUT_MS}, got {value:?}"),
        )),
    }
}
