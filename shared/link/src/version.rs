//! The link protocol's version, agreed in the TLS handshake (ALPN). Each
//! side offers the version it speaks and the older ones it knows by name;
//! the handshake settles on one both offer. A connection on anything but
//! this build's version is closed at once with a reason naming both
//! versions, before a frame is read or written: an older peer cannot read
//! this build's segments (HCS2), and a batch half understood is worse than
//! none. A newer peer that still speaks this version works on it.
//!
//! - `hotcold/1`: HCS1 segments, no cloud identity, the cloud always dials.
//! - `hotcold/2`: HCS2 segments, the manifest's cloud identity, the NAS may
//!   dial (connection roles).

/// What this build speaks.
pub const PROTOCOL: &str = "hotcold/2";

/// Older versions, offered only so a peer speaking one gets a clear refusal
/// instead of a bare TLS alert.
pub const OLDER: &[&str] = &["hotcold/1"];

/// The application close code of a refused version.
pub const VERSION_REFUSED: u32 = 0x76;

/// What the handshake offers: this version first, then the older ones.
pub fn offered() -> Vec<&'static str> {
    std::iter::once(PROTOCOL)
        .chain(OLDER.iter().copied())
        .collect()
}

/// The version a connection settled on, if any.
pub fn negotiated(conn: &quinn::Connection) -> Option<String> {
    conn.handshake_data()?
        .downcast::<quinn::crypto::rustls::HandshakeData>()
        .ok()?
        .protocol
        .map(|p| String::from_utf8_lossy(&p).into_owned())
}

/// The refusal of a connection on `theirs` (None: no protocol agreed),
/// naming both versions; `peer` is what the other end is ("gateway").
pub fn refusal(peer: &str, theirs: Option<&str>) -> String {
    format!(
        "the {peer} speaks link protocol {} and this side {PROTOCOL}: upgrade the older of the two (cloud-service and nas-gateway of one release speak the same)",
        theirs.unwrap_or("(none agreed)")
    )
}

/// Checks that `conn` speaks this build's version; otherwise closes it with
/// the refusal as its reason (which the peer sees) and returns it.
pub fn check(conn: &quinn::Connection, peer: &str) -> Result<(), String> {
    let theirs = negotiated(conn);
    if theirs.as_deref() == Some(PROTOCOL) {
        return Ok(());
    }
    let why = refusal(peer, theirs.as_deref());
    conn.close(VERSION_REFUSED.into(), why.as_bytes());
    Err(why)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_version_is_offered_first_and_refusals_name_both() {
        assert_eq!(offered()[0], PROTOCOL);
        assert!(offered().contains(&"hotcold/1"));
        let r = refusal("gateway", Some("hotcold/1"));
        assert!(r.contains("hotcold/1") && r.contains(PROTOCOL), "{r}");
    }
}
