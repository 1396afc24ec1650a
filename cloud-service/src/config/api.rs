//! The HTTP API's sections of `cloud.yaml`: ingest and query limits, and
//! the tokens per role.

use hotcold_core::units::{ByteSize, Span};
use serde::Deserialize;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct IngestConfig {
    pub max_body: ByteSize,
    /// Ingest requests served at once; more get 503 at once (with
    /// Retry-After) instead of queueing without bound.
    pub max_concurrent: usize,
    /// The longest one ingest request may take, body upload included: a
    /// collector trickling its body cannot hold a permit for ever.
    pub max_time: Span,
    /// How far past the present a row's time may lie: a row years ahead
    /// (a unit mix-up, a bad clock) would stay hot for ever.
    pub future_horizon: Span,
    /// How long an `Idempotency-Key` is remembered: a retry within it is a
    /// no-op; after it the key is forgotten (and the same request would be
    /// stored again).
    pub idempotency_ttl: Span,
}

impl Default for IngestConfig {
    fn default() -> Self {
        Self {
            max_body: ByteSize(64 << 20),
            max_concurrent: 16,
            max_time: Span(Duration::from_secs(120)),
            future_horizon: Span(Duration::from_secs(86_400)),
            idempotency_ttl: Span(Duration::from_secs(86_400)),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct QueryConfig {
    /// The most rows one query may return.
    pub max_rows: u64,
    /// The widest time range one query may ask for.
    pub max_range: Span,
    /// Memory for cached cold answers (cold data does not change).
    pub cold_cache: ByteSize,
    /// How long a cached cold answer is reused: bounds staleness after the
    /// NAS drops expired partitions (cold retention), which the cloud does
    /// not hear about.
    pub cold_cache_ttl: Span,
    /// The most encoded bytes one cold answer may carry over the link.
    pub max_cold_bytes: ByteSize,
    /// The most time buckets one bars or aggregate request may span (per
    /// group): every bucket is folded before the limit cuts the answer.
    pub max_buckets: u64,
    /// How long a streamed answer waits for a client that stopped reading
    /// before it drops the query (and the hot store's read snapshot).
    pub stall_timeout: Span,
    /// Queries, bars and aggregates answered at once (each holds a hot read
    /// and maybe a cold stream until its body is sent); more get 503.
    pub max_concurrent: usize,
    /// The longest one query may take, answer sent included; past it the
    /// query gets 503 or its streamed answer is cut (aborted).
    pub max_time: Span,
    /// Cold prefetch: after each archive run, and when the bandwidth
    /// timetable turns unlimited, the cold parts of this many of the most
    /// asked queries are fetched into the cold cache (within the link's
    /// limit). 0 turns it off.
    pub prefetch: usize,
}

impl Default for QueryConfig {
    fn default() -> Self {
        Self {
            max_rows: 100_000_000,
            max_range: Span(Duration::from_secs(3660 * 86_400)),
            cold_cache: ByteSize(64 << 20),
            cold_cache_ttl: Span(Duration::from_secs(600)),
            max_cold_bytes: ByteSize(4 << 30),
            max_buckets: 1_000_000,
            stall_timeout: Span(Duration::from_secs(30)),
            max_concurrent: 32,
            max_time: Span(Duration::from_secs(600)),
            prefetch: 16,
        }
    }
}

/// Who may use which endpoints: one bearer token per role, each checked
/// in constant time (see `api/auth.rs`). The admin token also opens ingest
/// and query wherever those are protected.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct AdminConfig {
    /// The admin token (archive, status, verify, bwlimit, rehydrate);
    /// prefer `token-file` so it stays out of the config.
    pub token: Option<String>,
    /// A file whose first line is the admin token.
    pub token_file: Option<PathBuf>,
    /// The collectors' token for `POST /v1/ingest`.
    pub ingest_token: Option<String>,
    pub ingest_token_file: Option<PathBuf>,
    /// The analysts' token for queries, bars and aggregates.
    pub read_token: Option<String>,
    pub read_token_file: Option<PathBuf>,
    /// Require the admin token for ingest and query too, where they have no
    /// token of their own.
    pub protect_data: bool,
}

/// The tokens in force, read from their files.
#[derive(Debug, Clone, Default)]
pub struct ResolvedTokens {
    pub admin: Option<String>,
    pub ingest: Option<String>,
    pub read: Option<String>,
    pub protect_data: bool,
}

impl AdminConfig {
    pub fn resolve(&self) -> anyhow::Result<ResolvedTokens> {
        Ok(ResolvedTokens {
            admin: resolve_token("admin.token", &self.token, &self.token_file)?,
            ingest: resolve_token(
                "admin.ingest-token",
                &self.ingest_token,
                &self.ingest_token_file,
            )?,
            read: resolve_token("admin.read-token", &self.read_token, &self.read_token_file)?,
            protect_data: self.protect_data,
        })
    }
}

/// A token given inline or in a file (its first line); at least 16
/// characters, so a short guessable one is refused at start.
fn resolve_token(
    key: &str,
    inline: &Option<String>,
    file: &Option<PathBuf>,
) -> anyhow::Result<Option<String>> {
    let (t, from) = match (file, inline) {
        (Some(f), _) => {
            let t = std::fs::read_to_string(f)
                .map_err(|e| anyhow::anyhow!("{key}-file {}: {e}", f.display()))?;
            (
                t.lines().next().unwrap_or("").trim().to_string(),
                format!("{key}-file {}", f.display()),
            )
        }
        (None, Some(t)) => (t.clone(), key.to_string()),
        (None, None) => return Ok(None),
    };
    anyhow::ensure!(
        t.len() >= 16,
        "{from}: the token must be at least 16 characters"
    );
    Ok(Some(t))
}
