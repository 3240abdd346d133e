//! What every call carries besides its message: the tenant, the deadline, a request id;
//! and the tenant's view of the index.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tonic::metadata::MetadataMap;
use tonic::{Request, Status};

use super::auth::Tenant;
use super::status::bad_request;
use crate::retrieval::{Hit, RetrievalError, RetrievalIndex, Retriever, SearchQuery};

/// Separates tenant and collection in the index's collection key.
const TENANT_SEPARATOR: char = '/';

/// When the call's headers arrived (set by the auth interceptor): its deadline counts from
/// there, not from when a large request body has been read.
#[derive(Debug, Clone, Copy)]
pub struct Arrived(pub Instant);

/// Per-call facts the handlers need; the request id (`x-request-id`, or generated) is in
/// the span.
#[derive(Debug, Clone)]
pub struct CallInfo {
    /// Who the call acts for.
    pub tenant: Tenant,
    /// When the caller stops waiting (a little before its `grpc-timeout`, so the answer
    /// DEADLINE_EXCEEDED reaches it first).
    pub deadline: Option<Instant>,
    /// The call's tracing span (request id, tenant): entered wherever the call's work
    /// runs, so every log line of the call carries them.
    pub span: tracing::Span,
}

impl CallInfo {
    /// Reads the call's metadata; the interceptor has put the tenant in its extensions.
    pub fn of<T>(request: &Request<T>) -> Result<Self, Status> {
        let tenant = request
            .extensions()
            .get::<Tenant>()
            .cloned()
            .ok_or_else(|| Status::unauthenticated("no tenant"))?;
        let request_id = request_id(request.metadata());
        let span = tracing::info_span!("request", request_id = %request_id, tenant = %tenant.0);
        Ok(Self {
            tenant,
            deadline: deadline(
                request.metadata(),
                request
                    .extensions()
                    .get::<Arrived>()
                    .map_or_else(Instant::now, |a| a.0),
            ),
            span,
        })
    }

    /// Whether the deadline has passed.
    pub fn expired(&self) -> bool {
        self.deadline.is_some_and(|d| Instant::now() >= d)
    }
}

fn request_id(metadata: &MetadataMap) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    metadata
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 128)
        .map(str::to_string)
        .unwrap_or_else(|| format!("r{}", NEXT.fetch_add(1, Ordering::Relaxed)))
}

/// The deadline of a `grpc-timeout` header (`50m` = 50 ms; units H M S m u n), less a
/// margin of a tenth (at most 20 ms) so the server's answer arrives before the caller's
/// own timer fires.
fn deadline(metadata: &MetadataMap, arrived: Instant) -> Option<Instant> {
    let value = metadata.get("grpc-timeout")?.to_str().ok()?;
    let (digits, unit) = value.split_at(value.len().checked_sub(1)?);
    let n: u64 = digits.parse().ok()?;
    let timeout = match unit {
        "H" => Duration::from_secs(n.saturating_mul(3600)),
        "M" => Duration::from_secs(n.saturating_mul(60)),
        "S" => Duration::from_secs(n),
        "m" => Duration::from_millis(n),
        "u" => Duration::from_micros(n),
        "n" => Duration::from_nanos(n),
        _ => return None,
    };
    let margin = (timeout / 10).min(Duration::from_millis(20));
    arrived.checked_add(timeout - margin)
}

/// Whether `name` can be a collection: 1 to 128 ASCII letters, digits, `-`, `_`, `.`.
pub fn valid_collection(name: &str) -> bool {
    crate::limits::COLLECTION_CHARS.contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// Checks a request's collection field.
pub fn check_collection(field: &str, name: &str) -> Result<(), Status> {
    if valid_collection(name) {
        Ok(())
    } else {
        Err(bad_request(
            field,
            "must be 1 to 128 letters, digits, `-`, `_` or `.`",
        ))
    }
}

/// The index key of a tenant's collection.
pub fn scoped(tenant: &Tenant, collection: &str) -> String {
    format!("{}{TENANT_SEPARATOR}{collection}", tenant.0)
}

/// The tenant's collection of an index key, when it is the tenant's.
pub fn unscoped<'a>(tenant: &Tenant, key: &'a str) -> Option<&'a str> {
    key.strip_prefix(tenant.0.as_str())?
        .strip_prefix(TENANT_SEPARATOR)
}

/// The index as one tenant sees it: every collection a task names is the tenant's own.
pub struct TenantRetriever<'a> {
    /// The index.
    pub index: &'a RetrievalIndex,
    /// The tenant.
    pub tenant: Tenant,
}

impl Retriever for TenantRetriever<'_> {
    fn retrieve(&self, query: &SearchQuery) -> Result<Vec<Hit>, RetrievalError> {
        if !valid_collection(&query.collection) {
            return Err(RetrievalError::InvalidArgument(format!(
                "collection {:?} must be 1 to 128 letters, digits, `-`, `_` or `.`",
                query.collection
            )));
        }
        let scoped_query = SearchQuery {
            collection: scoped(&self.tenant, &query.collection),
            ..query.clone()
        };
        self.index.search(&scoped_query)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grpc_timeout_units_and_collection_scoping() {
        let mut md = MetadataMap::new();
        md.insert("grpc-timeout", "50m".parse().unwrap());
        let d = deadline(&md, Instant::now()).unwrap();
        let left = d.saturating_duration_since(Instant::now());
        assert!(
            left <= Duration::from_millis(45) && left > Duration::from_millis(30),
            "{left:?}"
        );
        md.insert("grpc-timeout", "2S".parse().unwrap());
        assert!(
            deadline(&md, Instant::now()).unwrap() > Instant::now() + Duration::from_millis(1900)
        );
        md.insert("grpc-timeout", "x".parse().unwrap());
        assert!(deadline(&md, Instant::now()).is_none());
        let a = Tenant("a".into());
        assert_eq!(scoped(&a, "news"), "a/news");
        assert_eq!(unscoped(&a, "a/news"), Some("news"));
        assert_eq!(unscoped(&a, "ab/news"), None);
        assert_eq!(unscoped(&Tenant("ab".into()), "a/news"), None);
        assert!(!valid_collection("a/b") && !valid_collection("") && valid_collection("he.news-1"));
    }
}
