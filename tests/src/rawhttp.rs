//! HTTP spoken by hand over TCP, for tests that need what a client library
//! hides: a half-sent request, a reader that stops, the exact bytes until
//! the server closes.

use std::time::{Duration, Instant};
use tokio::io::AsyncReadExt;

/// `host:port` of a base URL such as `http://127.0.0.1:8080`.
pub fn addr(url: &str) -> String {
    url.split("://").nth(1).unwrap_or(url).to_string()
}

/// Reads until the server closes or `within` passes; the bytes, and
/// whether it closed.
pub async fn read_to_close(c: &mut tokio::net::TcpStream, within: Duration) -> (Vec<u8>, bool) {
    let end = Instant::now() + within;
    let mut all = Vec::new();
    let mut buf = vec![0u8; 64 << 10];
    loop {
        let left = end.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, c.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return (all, true),
            Ok(Ok(n)) => all.extend_from_slice(&buf[..n]),
            Err(_) => return (all, false),
        }
    }
}
