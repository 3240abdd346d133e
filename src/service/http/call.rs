//! An HTTP call as the services see a gRPC one: the key in `Authorization: Bearer …`
//! names the tenant (with no keys, loopback callers only, as gRPC, and only from a
//! loopback origin), `x-timeout-ms` (or a `grpc-timeout` header) sets the deadline, counted
//! from when the headers arrived, and `x-request-id` names the call in the log. The caller
//! is known from the headers, before any of the body is read.

use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::Request;
use axum::http::{header, request::Parts};
use axum::response::Response;
use tonic::metadata::MetadataValue;
use tonic::Status;

use super::super::auth::{KeyStore, Tenant};
use super::super::request::Arrived;
use super::super::server::Shared;
use super::super::status::bad_request;
use super::error::Shape;
use super::routes::HttpState;
use super::Peer;

/// The header that carries an HTTP call's deadline, in milliseconds.
pub const TIMEOUT_HEADER: &str = "x-timeout-ms";

/// The longest deadline a header may ask for (gRPC's `grpc-timeout` has 8 digits).
const MAX_TIMEOUT_MS: u64 = 99_999_999;

/// How long a client may take to send a request's body.
const BODY_READ_TIMEOUT: Duration = Duration::from_secs(120);

/// Who is calling, when, and for how long they wait.
#[derive(Debug, Clone)]
pub struct Caller {
    tenant: Tenant,
    arrived: Instant,
    timeout: Option<Duration>,
    request_id: Option<String>,
}

/// Authenticates `request` from its headers, then reads its body (413 past the message
/// limit, 408 when it takes longer than two minutes); errors answer in `shape`.
pub async fn read_request(
    state: &HttpState,
    request: Request,
    shape: Shape,
) -> Result<(Caller, Bytes), Response> {
    let (parts, body) = request.into_parts();
    let caller = Caller::of(state, &parts).map_err(|status| shape.error(&status))?;
    match tokio::time::timeout(
        BODY_READ_TIMEOUT,
        axum::body::to_bytes(body, state.max_body),
    )
    .await
    {
        Ok(Ok(bytes)) => Ok((caller, bytes)),
        Ok(Err(e)) if is_too_large(&e) => Err(shape.too_large(state.max_body)),
        Ok(Err(e)) => Err(shape.error(&bad_request("body", format!("could not be read: {e}")))),
        Err(_) => Err(shape.too_slow(BODY_READ_TIMEOUT)),
    }
}

fn is_too_large(error: &axum::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = source {
        if e.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        source = e.source();
    }
    false
}

impl Caller {
    /// Authenticates a call (refusals are logged and counted as gRPC's are) and reads its
    /// deadline and request id.
    pub fn of(state: &HttpState, parts: &Parts) -> Result<Self, Status> {
        let peer = parts
            .extensions
            .get::<Peer>()
            .copied()
            .ok_or_else(|| Status::internal("the connection's address is unknown"))?;
        let headers = &parts.headers;
        if state.keys.is_empty() {
            local_browser_only(&state.shared, parts, peer)?;
        }
        let authorization = headers.get("authorization").and_then(|v| v.to_str().ok());
        let tenant = authenticate(&state.keys, &state.shared, authorization, peer)?;
        let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        let timeout = match (text(TIMEOUT_HEADER), text("grpc-timeout")) {
            (Some(ms), _) => Some(timeout_ms(ms)?),
            (None, Some(grpc)) => Some(grpc_timeout(grpc)?),
            (None, None) => None,
        };
        Ok(Self {
            tenant,
            arrived: peer.arrived,
            timeout,
            request_id: text("x-request-id").map(str::to_string),
        })
    }

    /// `message` as a gRPC request of this caller.
    pub fn request<T>(&self, message: T) -> tonic::Request<T> {
        let mut request = tonic::Request::new(message);
        let metadata = request.metadata_mut();
        let timeout = self.timeout.map(|t| format!("{}m", t.as_millis()));
        for (name, value) in [
            ("grpc-timeout", &timeout),
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

    /// When the caller stops waiting, if it said.
    pub fn deadline(&self) -> Option<Instant> {
        self.arrived.checked_add(self.timeout?)
    }
}

fn authenticate(
    keys: &KeyStore,
    shared: &Shared,
    authorization: Option<&str>,
    peer: Peer,
) -> Result<Tenant, Status> {
    keys.authenticate(authorization, Some(peer.addr))
        .map_err(|e| {
            shared.refused(Some(peer.addr), &e.to_string());
            Status::unauthenticated(e.to_string())
        })
}

/// With no keys, loopback callers are trusted; a browser on this machine is one, so a page
/// from elsewhere (a forged form post, a DNS-rebound name) must not get to speak for it:
/// the `Host` and any `Origin` must name this machine.
fn local_browser_only(shared: &Shared, parts: &Parts, peer: Peer) -> Result<(), Status> {
    let host = parts
        .headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .or_else(|| parts.uri.authority().map(|a| a.to_string()));
    let origin = parts.headers.get(header::ORIGIN).map(|v| {
        let origin = v.to_str().unwrap_or_default();
        origin
            .split_once("://")
            .map_or("", |(_, rest)| rest)
            .to_string()
    });
    let refused = match (host, origin) {
        (Some(host), _) if !is_loopback_name(&host) => Some(format!("the Host `{host}`")),
        (_, Some(origin)) if !is_loopback_name(&origin) => {
            Some("a page from another origin".into())
        }
        _ => None,
    };
    match refused {
        None => Ok(()),
        Some(what) => {
            let why = format!(
                "the server has no API keys, so it answers this machine only, not {what}; configure keys to serve others"
            );
            shared.refused(Some(peer.addr), &why);
            Err(Status::permission_denied(why))
        }
    }
}

/// Whether `authority` (`host[:port]`) names this machine.
fn is_loopback_name(authority: &str) -> bool {
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => authority.rsplit_once(':').map_or(authority, |(h, port)| {
            if port.bytes().all(|b| b.is_ascii_digit()) {
                h
            } else {
                authority
            }
        }),
    };
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    host == "localhost"
        || host.ends_with(".localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// `x-timeout-ms` as a duration.
fn timeout_ms(value: &str) -> Result<Duration, Status> {
    match value.trim().parse::<u64>() {
        Ok(ms) if (1..=MAX_TIMEOUT_MS).contains(&ms) => Ok(Duration::from_millis(ms)),
        _ => Err(bad_request(
            TIMEOUT_HEADER,
            format!("must be whole milliseconds from 1 to {MAX_TIMEOUT_MS}, got {value:?}"),
        )),
    }
}

/// A `grpc-timeout` header (1 to 8 digits and a unit: H, M, S, m, u, n) as a duration,
/// at most [`MAX_TIMEOUT_MS`].
fn grpc_timeout(value: &str) -> Result<Duration, Status> {
    let bad = || {
        bad_request(
            "grpc-timeout",
            format!("must be 1 to 8 digits and a unit (H, M, S, m, u, n), got {value:?}"),
        )
    };
    let split = value.len().checked_sub(1).ok_or_else(bad)?;
    let (digits, unit) = value.split_at(split);
    if digits.is_empty() || digits.len() > 8 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let n: u64 = digits.parse().map_err(|_| bad())?;
    let duration = match unit {
        "H" => Duration::from_secs(n * 3600),
        "M" => Duration::from_secs(n * 60),
        "S" => Duration::from_secs(n),
        "m" => Duration::from_millis(n),
        "u" => Duration::from_micros(n),
        "n" => Duration::from_nanos(n),
        _ => return Err(bad()),
    };
    Ok(duration.clamp(
        Duration::from_millis(1),
        Duration::from_millis(MAX_TIMEOUT_MS),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_names_and_timeouts() {
        for local in [
            "127.0.0.1:8080",
            "localhost",
            "LOCALHOST:1",
            "[::1]:8080",
            "app.localhost",
            "127.1.2.3",
        ] {
            assert!(is_loopback_name(local), "{local}");
        }
        for remote in [
            "evil.example",
            "evil.example:8080",
            "10.0.0.1:80",
            "[2001:db8::1]:80",
            "localhost.evil.example",
        ] {
            assert!(!is_loopback_name(remote), "{remote}");
        }
        assert_eq!(grpc_timeout("5S").ok(), Some(Duration::from_secs(5)));
        assert_eq!(grpc_timeout("250m").ok(), Some(Duration::from_millis(250)));
        for bad in ["", "S", "5", "5x", "123456789S", "-1S"] {
            assert!(grpc_timeout(bad).is_err(), "{bad}");
        }
        assert!(timeout_ms("0").is_err() && timeout_ms("soon").is_err());
    }
}
