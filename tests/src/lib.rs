//! Test harness: runs `cloud-service` and `nas-gateway` as real processes on
//! loopback with their own data dirs and certificates, generates market
//! data, and reads ClickHouse over its own HTTP interface (independently of
//! the gateway's code) to check what the cold store holds.

pub mod clickhouse;
pub mod data;
pub mod netns;
pub mod procs;
pub mod proxy;

pub use procs::{Cloud, Gateway, Stack};
