//! Test harness: runs `cloud-service` and `nas-gateway` as real processes on
//! loopback with their own data dirs and certificates, generates market
//! data, and reads ClickHouse over its own HTTP interface (independently of
//! the gateway's code) to check what the cold store holds.

pub mod chdb;
pub mod clickhouse;
pub mod cluster;
pub mod cluster_checks;
pub mod data;
pub mod disk;
pub mod hot_cluster;
pub mod hot_cluster_checks;
pub mod ingest_bench;
pub mod nas_dials;
pub mod natns;
pub mod netns;
pub mod procs;
pub mod proxy;
pub mod python;
pub mod rawhttp;
pub mod rawlink;
pub mod stack;
pub mod standalone;
pub mod tcp_proxy;

pub use procs::{Cloud, Gateway};
pub use stack::Stack;

/// The value after `--name` on the command line (the bench binaries' flags).
pub fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .cloned()
}

/// `--name N`, or `default`.
pub fn arg_usize(name: &str, default: usize) -> usize {
    arg(name).and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// The seed of a randomized test: `HOTCOLD_SEED` to replay one, else fresh.
/// Printed, so a failure can be replayed.
pub fn seed(test: &str) -> u64 {
    let seed = std::env::var("HOTCOLD_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random);
    eprintln!("{test}: seed {seed} (replay with HOTCOLD_SEED={seed})");
    seed
}
