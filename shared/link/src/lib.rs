//! The QUIC link between `cloud-service` and `nas-gateway`: certificates from
//! the operator's private CA, mutually authenticated endpoints, and a framed
//! stream that reads and writes [`hotcold_core::frame::Frame`]s with a bound
//! on every length read from the network.

pub mod backoff;
pub mod certs;
pub mod endpoint;
pub mod framed;
mod pin;
pub mod process;
pub mod role;
pub mod tls;
pub mod version;

pub use endpoint::{client_endpoint, server_endpoint, LinkTuning};
pub use framed::FramedStream;
pub use role::Role;
pub use tls::{TlsError, TlsFiles};

/// The name the gateway's certificate carries and the cloud checks.
pub const SERVER_NAME: &str = "nas-gateway";

/// The name the cloud's certificate carries, which the gateway checks when
/// it dials the cloud (`link.direction: nas-dials`).
pub const CLOUD_NAME: &str = "cloud-service";
