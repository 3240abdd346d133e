//! The server's configuration: one TOML file, overridden by `SOFER_…` environment
//! variables, overridden by command-line flags.
//!
//! ```toml
//! listen = "127.0.0.1:50051"
//! metrics_listen = "127.0.0.1:9090"   # optional
//! http_listen = "127.0.0.1:8080"      # optional: the HTTP/JSON API, OpenAI API and web page
//! model = "/models/model.gguf"
//! index = "/data/index"
//! index_read_only = false             # true: search only (one writer elsewhere)
//! prompts = "/etc/sofer/prompts"      # optional
//!
//! [limits]
//! queue_capacity = 16      # requests waiting for the engine; more → RESOURCE_EXHAUSTED
//! workers = 4              # tasks that run at once, their generations in one batch
//! max_sequences = 32       # sequences in the engine's batch; one task takes up to 3/4
//! kv_cache_mib = 4096      # keys and values the running sequences may hold
//! prefix_cache_mib = 256   # keys and values kept for prompt prefixes later prompts share
//! max_message_bytes = 33554432
//! grace_period_seconds = 30
//! stall_timeout_seconds = 10   # a stream whose client reads nothing this long is cancelled
//!
//! [[auth.keys]]
//! tenant = "acme"
//! sha256 = "…"             # hex SHA-256 of the bearer key (`sofer hash-key KEY`)
//!
//! [tls]                    # optional
//! cert = "/etc/sofer/tls.crt"
//! key = "/etc/sofer/tls.key"
//! ```

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// Where the server listens and what it serves.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    /// The gRPC address.
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
    /// The Prometheus metrics address; none for no metrics endpoint.
    #[serde(default)]
    pub metrics_listen: Option<SocketAddr>,
    /// The HTTP address (JSON tasks, the OpenAI-compatible API, the web page); none for
    /// gRPC only.
    #[serde(default)]
    pub http_listen: Option<SocketAddr>,
    /// The GGUF model.
    #[serde(default)]
    pub model: Option<PathBuf>,
    /// A tokenizer.json to use instead of the GGUF's tokenizer.
    #[serde(default)]
    pub tokenizer: Option<PathBuf>,
    /// The retrieval index directory (created when missing, unless read-only).
    #[serde(default)]
    pub index: Option<PathBuf>,
    /// Search the index without writing it (a read-only volume filled by one writer
    /// elsewhere); IngestDocuments and DeleteDocuments answer FAILED_PRECONDITION.
    #[serde(default)]
    pub index_read_only: bool,
    /// A folder of prompt files overriding the built-in ones.
    #[serde(default)]
    pub prompts: Option<PathBuf>,
    /// Limits.
    #[serde(default)]
    pub limits: Limits,
    /// API keys; none configured: unauthenticated calls from loopback only.
    #[serde(default)]
    pub auth: Auth,
    /// TLS; none: plaintext.
    #[serde(default)]
    pub tls: Option<Tls>,
}

/// Bounds on what the server accepts.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Requests that may wait for the engine; past it, RESOURCE_EXHAUSTED at once.
    pub queue_capacity: usize,
    /// Tasks that run at once; their generations share the engine's batch.
    pub workers: usize,
    /// Sequences (samples decoding, prompts in progress) in the engine's batch at once;
    /// one task's calls take at most three quarters of them.
    pub max_sequences: usize,
    /// MiB of keys and values the engine's running sequences may hold; past it, new
    /// generations wait for room (one alone always runs).
    pub kv_cache_mib: usize,
    /// MiB of keys and values kept for prompt prefixes (system prompts, instructions) that
    /// later prompts start with; 0 turns prefix reuse off.
    pub prefix_cache_mib: usize,
    /// Largest request message, in bytes.
    pub max_message_bytes: usize,
    /// How long in-flight requests may take to finish after SIGTERM/SIGINT.
    pub grace_period_seconds: u64,
    /// How long a stream waits for a client that reads nothing (its buffer full) before
    /// the call is cancelled and its engine work stops.
    pub stall_timeout_seconds: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            queue_capacity: 16,
            workers: 4,
            max_sequences: 32,
            kv_cache_mib: 4096,
            prefix_cache_mib: 256,
            max_message_bytes: 32 * 1024 * 1024,
            grace_period_seconds: 30,
            stall_timeout_seconds: crate::limits::DEFAULT_STALL_TIMEOUT.as_secs(),
        }
    }
}

/// API keys.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Auth {
    /// Each key's SHA-256 and the tenant it acts for.
    #[serde(default)]
    pub keys: Vec<ApiKey>,
}

/// One API key, stored hashed.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiKey {
    /// The tenant (letters, digits, `-`, `_`).
    pub tenant: String,
    /// Lowercase hex SHA-256 of the key.
    pub sha256: String,
}

/// Certificate and key files (PEM).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tls {
    /// The certificate chain.
    pub cert: PathBuf,
    /// The private key.
    pub key: PathBuf,
}

fn default_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 50051))
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: default_listen(),
            metrics_listen: None,
            http_listen: None,
            model: None,
            tokenizer: None,
            index: None,
            index_read_only: false,
            prompts: None,
            limits: Limits::default(),
            auth: Auth::default(),
            tls: None,
        }
    }
}

/// A configuration that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The file or a variable is malformed.
    #[error("{origin}: {reason}")]
    Invalid {
        /// The file, or the environment variable.
        origin: String,
        /// What is wrong.
        reason: String,
    },
}

impl ServerConfig {
    /// Reads `path` (or the defaults) and applies the `SOFER_*` variables in `env`.
    pub fn load(
        path: Option<&Path>,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        let mut config = match path {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
                    path: path.to_path_buf(),
                    source,
                })?;
                toml::from_str(&text).map_err(|e| ConfigError::Invalid {
                    origin: path.display().to_string(),
                    reason: e.to_string(),
                })?
            }
            None => Self::default(),
        };
        config.apply_env(env)?;
        config.validate()?;
        Ok(config)
    }

    fn apply_env(&mut self, env: impl Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
        fn parse<T: std::str::FromStr>(name: &str, value: &str) -> Result<T, ConfigError>
        where
            T::Err: std::fmt::Display,
        {
            value.parse().map_err(|e: T::Err| ConfigError::Invalid {
                origin: name.to_string(),
                reason: format!("{value:?}: {e}"),
            })
        }
        let var = |name: &str| env(name).filter(|v| !v.trim().is_empty());
        if let Some(v) = var("SOFER_LISTEN") {
            self.listen = parse("SOFER_LISTEN", &v)?;
        }
        if let Some(v) = var("SOFER_METRICS_LISTEN") {
            self.metrics_listen = Some(parse("SOFER_METRICS_LISTEN", &v)?);
        }
        if let Some(v) = var("SOFER_HTTP_LISTEN") {
            self.http_listen = Some(parse("SOFER_HTTP_LISTEN", &v)?);
        }
        if let Some(v) = var("SOFER_MODEL") {
            self.model = Some(v.into());
        }
        if let Some(v) = var("SOFER_INDEX") {
            self.index = Some(v.into());
        }
        if let Some(v) = var("SOFER_INDEX_READ_ONLY") {
            self.index_read_only = parse("SOFER_INDEX_READ_ONLY", &v)?;
        }
        if let Some(v) = var("SOFER_PROMPTS") {
            self.prompts = Some(v.into());
        }
        if let Some(v) = var("SOFER_QUEUE_CAPACITY") {
            self.limits.queue_capacity = parse("SOFER_QUEUE_CAPACITY", &v)?;
        }
        if let Some(v) = var("SOFER_WORKERS") {
            self.limits.workers = parse("SOFER_WORKERS", &v)?;
        }
        if let Some(v) = var("SOFER_MAX_SEQUENCES") {
            self.limits.max_sequences = parse("SOFER_MAX_SEQUENCES", &v)?;
        }
        if let Some(v) = var("SOFER_KV_CACHE_MIB") {
            self.limits.kv_cache_mib = parse("SOFER_KV_CACHE_MIB", &v)?;
        }
        if let Some(v) = var("SOFER_PREFIX_CACHE_MIB") {
            self.limits.prefix_cache_mib = parse("SOFER_PREFIX_CACHE_MIB", &v)?;
        }
        if let Some(v) = var("SOFER_MAX_MESSAGE_BYTES") {
            self.limits.max_message_bytes = parse("SOFER_MAX_MESSAGE_BYTES", &v)?;
        }
        if let Some(v) = var("SOFER_GRACE_PERIOD_SECONDS") {
            self.limits.grace_period_seconds = parse("SOFER_GRACE_PERIOD_SECONDS", &v)?;
        }
        if let Some(v) = var("SOFER_STALL_TIMEOUT_SECONDS") {
            self.limits.stall_timeout_seconds = parse("SOFER_STALL_TIMEOUT_SECONDS", &v)?;
        }
        Ok(())
    }

    /// Checks values the types cannot.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad = |origin: &str, reason: &str| {
            Err(ConfigError::Invalid {
                origin: origin.into(),
                reason: reason.into(),
            })
        };
        if self.limits.workers == 0 {
            return bad("limits.workers", "must be at least 1");
        }
        if self.limits.max_sequences == 0 {
            return bad("limits.max_sequences", "must be at least 1");
        }
        if self.limits.max_message_bytes < 1024 {
            return bad("limits.max_message_bytes", "must be at least 1024");
        }
        if self.limits.stall_timeout_seconds == 0 {
            return bad("limits.stall_timeout_seconds", "must be at least 1");
        }
        let mut hashes: std::collections::HashMap<String, usize> = Default::default();
        for (i, key) in self.auth.keys.iter().enumerate() {
            if !super::auth::valid_tenant(&key.tenant) {
                return bad(
                    &format!("auth.keys[{i}].tenant"),
                    "must be 1 to 64 letters, digits, `-` or `_`",
                );
            }
            if key.sha256.len() != 64 || !key.sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
                return bad(
                    &format!("auth.keys[{i}].sha256"),
                    "must be 64 hex digits (the SHA-256 of the key)",
                );
            }
            if let Some(j) = hashes.insert(key.sha256.to_ascii_lowercase(), i) {
                let (first, this) = (&self.auth.keys[j].tenant, &key.tenant);
                return bad(
                    &format!("auth.keys[{i}].sha256"),
                    &format!(
                        "is the same key as auth.keys[{j}] (tenants `{first}` and `{this}`): \
                         one key can act for one tenant only"
                    ),
                );
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_then_environment_and_bad_values_name_their_origin() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sofer.toml");
        std::fs::write(
            &path,
            "listen = \"0.0.0.0:6000\"\nmodel = \"/m.gguf\"\n[limits]\nqueue_capacity = 2\n[[auth.keys]]\ntenant = \"acme\"\nsha256 = \"".to_string()
                + &"ab".repeat(32)
                + "\"\n",
        )
        .unwrap();
        let env = |name: &str| (name == "SOFER_LISTEN").then(|| "127.0.0.1:7000".to_string());
        let config = ServerConfig::load(Some(&path), env).unwrap();
        assert_eq!(config.listen.port(), 7000);
        assert_eq!(config.limits.queue_capacity, 2);
        assert_eq!(config.auth.keys[0].tenant, "acme");
        let env = |name: &str| (name == "SOFER_WORKERS").then(|| "many".to_string());
        let err = ServerConfig::load(Some(&path), env)
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("SOFER_WORKERS"), "{err}");
        std::fs::write(&path, "listen = \"x\"\nmodle = 1\n").unwrap();
        let err = ServerConfig::load(Some(&path), |_| None)
            .unwrap_err()
            .to_string();
        assert!(err.contains("sofer.toml"), "{err}");
    }

    #[test]
    fn one_key_for_two_tenants_is_refused_naming_both() {
        let key = |tenant: &str, sha256: String| ApiKey {
            tenant: tenant.into(),
            sha256,
        };
        let mut config = ServerConfig::default();
        config.auth.keys = vec![
            key("acme", "ab".repeat(32)),
            key("other", "cd".repeat(32)),
            key("globex", "AB".repeat(32)),
        ];
        let err = config.validate().unwrap_err().to_string();
        assert!(err.starts_with("auth.keys[2].sha256"), "{err}");
        assert!(
            err.contains("auth.keys[0]") && err.contains("`acme`") && err.contains("`globex`"),
            "{err}"
        );
    }
}
