//! Bearer API keys, stored as SHA-256 hashes, each bound to a tenant. With no keys
//! configured, only calls from loopback are accepted, as tenant [`LOCAL_TENANT`].

use std::net::SocketAddr;

use sha2::{Digest, Sha256};

use super::config::ApiKey;

/// The tenant of unauthenticated loopback calls when no keys are configured.
pub const LOCAL_TENANT: &str = "local";

/// Who a request acts for; every corpus operation and retrieval is scoped to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tenant(pub String);

/// Why a call is not authenticated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// No `authorization: Bearer …` metadata.
    #[error("missing `authorization: Bearer <key>` metadata")]
    Missing,
    /// The key is not configured.
    #[error("invalid API key")]
    Invalid,
    /// No keys are configured and the caller is not on loopback.
    #[error("this server has no API keys configured and accepts only loopback callers")]
    NotLoopback,
}

/// Whether `name` can be a tenant: 1 to 64 ASCII letters, digits, `-` or `_`.
pub fn valid_tenant(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Lowercase hex SHA-256 of `key`: what the configuration stores.
pub fn hash_key(key: &str) -> String {
    format!("{:x}", Sha256::digest(key.as_bytes()))
}

/// The configured keys.
#[derive(Debug, Clone, Default)]
pub struct KeyStore {
    keys: Vec<([u8; 32], String)>,
}

impl KeyStore {
    /// The store for validated configuration keys.
    pub fn new(keys: &[ApiKey]) -> Self {
        let keys = keys
            .iter()
            .filter_map(|k| {
                let bytes: Vec<u8> = (0..k.sha256.len())
                    .step_by(2)
                    .filter_map(|i| u8::from_str_radix(k.sha256.get(i..i + 2)?, 16).ok())
                    .collect();
                Some((bytes.try_into().ok()?, k.tenant.clone()))
            })
            .collect();
        Self { keys }
    }

    /// Whether any key is configured.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The tenant of a call with `authorization` metadata from `peer`.
    pub fn authenticate(
        &self,
        authorization: Option<&str>,
        peer: Option<SocketAddr>,
    ) -> Result<Tenant, AuthError> {
        if self.keys.is_empty() {
            return match peer {
                Some(addr) if addr.ip().is_loopback() => Ok(Tenant(LOCAL_TENANT.into())),
                _ => Err(AuthError::NotLoopback),
            };
        }
        let key = authorization
            .and_then(|v| v.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, key)| key.trim())
            .filter(|k| !k.is_empty())
            .ok_or(AuthError::Missing)?;
        let digest: [u8; 32] = Sha256::digest(key.as_bytes()).into();
        // Compare against every key without stopping early, so timing says nothing.
        let mut found = None;
        for (hash, tenant) in &self.keys {
            let diff = hash
                .iter()
                .zip(digest.iter())
                .fold(0u8, |acc, (a, b)| acc | (a ^ b));
            if diff == 0 {
                found = Some(tenant);
            }
        }
        found.map(|t| Tenant(t.clone())).ok_or(AuthError::Invalid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_map_to_tenants_and_without_keys_only_loopback_passes() {
        let store = KeyStore::new(&[
            ApiKey {
                tenant: "a".into(),
                sha256: hash_key("key-a"),
            },
            ApiKey {
                tenant: "b".into(),
                sha256: hash_key("key-b"),
            },
        ]);
        let remote: SocketAddr = "10.0.0.1:1234".parse().unwrap();
        assert_eq!(
            store.authenticate(Some("Bearer key-b"), Some(remote)),
            Ok(Tenant("b".into()))
        );
        assert_eq!(
            store.authenticate(Some("Bearer nope"), Some(remote)),
            Err(AuthError::Invalid)
        );
        assert_eq!(
            store.authenticate(None, Some(remote)),
            Err(AuthError::Missing)
        );
        assert_eq!(
            store.authenticate(Some("key-a"), Some(remote)),
            Err(AuthError::Missing)
        );
        for scheme in ["Bearer", "bearer", "BEARER", "bEaReR"] {
            assert_eq!(
                store.authenticate(Some(&format!("{scheme} key-a")), Some(remote)),
                Ok(Tenant("a".into())),
                "{scheme}"
            );
        }
        assert_eq!(
            store.authenticate(Some("Basic key-a"), Some(remote)),
            Err(AuthError::Missing)
        );
        let open = KeyStore::default();
        let local: SocketAddr = "127.0.0.1:9".parse().unwrap();
        assert_eq!(
            open.authenticate(None, Some(local)),
            Ok(Tenant(LOCAL_TENANT.into()))
        );
        assert_eq!(
            open.authenticate(Some("Bearer x"), Some(remote)),
            Err(AuthError::NotLoopback)
        );
        assert!(valid_tenant("acme-1_x") && !valid_tenant("a/b") && !valid_tenant(""));
    }
}
