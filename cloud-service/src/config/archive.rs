//! The archive's sections of `cloud.yaml`: the link to the NAS, the
//! archive itself, its schedule and its alerts.

use hotcold_core::units::{ByteSize, Span};
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct LinkConfig {
    /// Who opens the connection: the cloud (default: the NAS must be
    /// reachable, through WireGuard or a forwarded port) or the NAS (no VPN,
    /// no port open at home: the cloud listens on `listen`).
    pub direction: Direction,
    /// The gateway's QUIC address (its WireGuard address in production);
    /// only with `direction: cloud-dials`.
    pub gateway: SocketAddr,
    /// The UDP address the cloud listens on for its gateway; only with
    /// `direction: nas-dials`.
    pub listen: Option<SocketAddr>,
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
    /// The one gateway certificate accepted (`nas-gateway.pem` from
    /// `certs init`). Default: beside `ca`.
    pub peer_cert: Option<PathBuf>,
    /// The largest chunk (and the only one without `adaptive-chunks`).
    pub chunk_size: ByteSize,
    /// Chunk size per batch from the line's goodput, round trip and loss,
    /// between `chunk-min` and `chunk-size` (see `transfer::adapt`).
    pub adaptive_chunks: bool,
    pub chunk_min: ByteSize,
    /// Share of packets lost (over the last seconds of sending) above
    /// which archive runs stop sending and retry later instead of grinding
    /// through a failing line; 1 (the default) never defers. Off by
    /// default: QUIC counts congestion drops as loss too, and an unpaced
    /// burst into a busy receiver measured 25 % on loopback.
    pub defer_loss: f64,
    /// How much the round trip may swing (its standard deviation over the
    /// last seconds of sending, e.g. `150ms`) before archive runs defer:
    /// there QUIC takes late packets for lost ones and resends them. Off
    /// (absent) by default, like `defer-loss`.
    pub defer_rtt_spread: Option<Span>,
    pub connect_timeout: Span,
    /// How long one request (a batch transfer and commit) may take.
    pub request_timeout: Span,
    pub max_frame: ByteSize,
    /// Bytes per second on the link: `off`, a rate like `4MiB`, or a
    /// timetable like `"08:00,2MiB 23:00,off"` (UTC; see README).
    pub bwlimit: hotcold_core::bwlimit::BwLimit,
    /// The line's expected bandwidth and round trip, to size QUIC windows.
    pub bandwidth: ByteSize,
    pub rtt: Span,
    pub keep_alive: Span,
    /// A connection silent this long is dead (the NAS or the line is down).
    pub idle_timeout: Span,
    /// The longest wait between reconnect attempts.
    pub backoff_max: Span,
    /// How often the backlog (the offline queue) is retried.
    pub retry_interval: Span,
    /// Chunks sent but not yet acknowledged as stored by the gateway: what a
    /// cut can waste. Raise it for a long fat line (window = chunks × size).
    pub max_chunks_in_flight: usize,
    /// What the line carries beyond frame bytes, as a fraction of them:
    /// QUIC, UDP, IP and WireGuard headers (measured: 0.11 through
    /// WireGuard, 0.045 without). The limiter paces frames at
    /// bwlimit / (1 + wire-overhead), so the line stays within bwlimit.
    pub wire_overhead: f64,
}

/// `link.direction`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Direction {
    #[default]
    CloudDials,
    NasDials,
}

impl Default for LinkConfig {
    fn default() -> Self {
        Self {
            direction: Direction::CloudDials,
            listen: None,
            gateway: ([127, 0, 0, 1], 7443).into(),
            ca: "data/certs/ca.pem".into(),
            cert: "data/certs/cloud-service.pem".into(),
            key: "data/certs/cloud-service.key".into(),
            peer_cert: None,
            chunk_size: ByteSize(1 << 20),
            adaptive_chunks: true,
            chunk_min: ByteSize(64 << 10),
            defer_loss: 1.0,
            defer_rtt_spread: None,
            connect_timeout: Span(Duration::from_secs(10)),
            request_timeout: Span(Duration::from_secs(3600)),
            max_frame: ByteSize(32 << 20),
            bwlimit: hotcold_core::bwlimit::BwLimit::unlimited(),
            bandwidth: ByteSize(100 << 20),
            rtt: Span(Duration::from_millis(100)),
            keep_alive: Span(Duration::from_secs(5)),
            idle_timeout: Span(Duration::from_secs(30)),
            backoff_max: Span(Duration::from_secs(60)),
            retry_interval: Span(Duration::from_secs(30)),
            max_chunks_in_flight: 8,
            wire_overhead: 0.12,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct ArchiveConfig {
    pub zstd_level: i32,
    /// Rows per encoded segment: bounds memory while exporting.
    pub segment_rows: usize,
    /// The most disk the spool (the offline queue) may use; past it, export
    /// stops and the rows wait in hot.
    pub spool_budget: ByteSize,
    /// How long a window committed to a cold store that does not fsync its
    /// inserts (ClickHouse 18.x) stays in hot before it is read back once
    /// more and purged: long enough for the NAS's kernel to have written
    /// the rows to disk (Linux writes dirty pages back within ~30 s).
    pub purge_grace: Span,
}

impl Default for ArchiveConfig {
    fn default() -> Self {
        Self {
            zstd_level: 3,
            segment_rows: 65_536,
            spool_budget: ByteSize(10 << 30),
            purge_grace: Span(Duration::from_secs(300)),
        }
    }
}

/// When archive runs start by themselves (they can always be started by
/// hand: `cloud-service archive` or `POST /v1/admin/archive`).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct ScheduleConfig {
    pub enabled: bool,
    /// Five-field cron, UTC: `0 2 * * *` is 02:00 UTC every night.
    pub cron: hotcold_core::cron::Cron,
    /// Continuous mode: a run every this long instead of the cron
    /// (small batches through the day).
    pub every: Option<Span>,
    /// A run taking longer is stopped; it resumes where it stopped next time.
    pub run_timeout: Span,
}

impl Default for ScheduleConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            cron: "0 2 * * *"
                .parse()
                .unwrap_or_else(|_| unreachable!("a valid constant")),
            every: None,
            run_timeout: Span(Duration::from_secs(6 * 3600)),
        }
    }
}

/// Where alerts go and when they fire (see `alerts.rs`).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct AlertsConfig {
    /// A URL that takes a JSON POST; no alerts without it.
    pub webhook: Option<String>,
    /// Alert when the NAS has been unreachable this long.
    pub link_down_after: Span,
    /// Alert when hot holds rows older than the retention plus this.
    pub hot_grace: Span,
    /// The same alert at most this often.
    pub repeat: Span,
    /// How often the conditions are checked.
    pub check_every: Span,
}

impl Default for AlertsConfig {
    fn default() -> Self {
        Self {
            webhook: None,
            link_down_after: Span(Duration::from_secs(3600)),
            hot_grace: Span(Duration::from_secs(2 * 86_400)),
            repeat: Span(Duration::from_secs(6 * 3600)),
            check_every: Span(Duration::from_secs(60)),
        }
    }
}
