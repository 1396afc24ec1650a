//! Idempotent ingest: a request sent with `Idempotency-Key` is stored once,
//! however often a collector retries it after a timeout. The key is kept
//! beside the rows, in the hot store, so it is as durable as they are:
//! SQLite writes it in the rows' own transaction (a retry can never find
//! the rows without the key, or the key without the rows); ClickHouse, with
//! no transactions, writes it right after the rows, so a crash between the
//! two can still let one retry store them again (documented).

use serde::Serialize;

/// The longest key accepted, and its alphabet: what UUIDs, ULIDs and the
/// ids HTTP clients generate use, and nothing that needs quoting in SQL.
pub const MAX_KEY_LEN: usize = 128;

/// One stored request: which body it was and what it stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KeyRecord {
    pub key: String,
    pub table: String,
    pub rows: u64,
    /// BLAKE3 of the request as received (table, format, encoding, body):
    /// the same key with another body is a client bug, not a retry.
    pub body_hash: String,
    pub at_ms: i64,
}

/// How an insert under a key ended.
#[derive(Debug)]
pub enum Once {
    Stored(usize),
    /// The key was already there: nothing was stored this time.
    Replayed(KeyRecord),
}

/// Checks a header value as a key; the error names the rule.
pub fn check_key(k: &str) -> Result<(), String> {
    if k.is_empty() || k.len() > MAX_KEY_LEN {
        return Err(format!(
            "Idempotency-Key must be 1 to {MAX_KEY_LEN} characters, not {}",
            k.len()
        ));
    }
    if let Some(c) = k
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':')))
    {
        return Err(format!(
            "Idempotency-Key may hold letters, digits and - _ . : only, not {c:?}"
        ));
    }
    Ok(())
}

/// The body hash of a request, as [`KeyRecord::body_hash`] holds it.
pub fn body_hash(table: &str, format: &str, encoding: &str, body: &[u8]) -> String {
    let mut h = blake3::Hasher::new();
    for part in [table.as_bytes(), format.as_bytes(), encoding.as_bytes()] {
        h.update(part);
        h.update(&[0]);
    }
    h.update(body);
    h.finalize().to_hex()[..32].to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_checked_and_bodies_told_apart() {
        assert!(check_key("7f3c2a9e-1b4d-4c8e-9a2f-0d6e5b4a3c21").is_ok());
        assert!(check_key("batch:2026-11-20:17").is_ok());
        assert!(check_key("").unwrap_err().contains("1 to 128"));
        assert!(check_key(&"a".repeat(129)).is_err());
        assert!(check_key("a'b").unwrap_err().contains("'"));
        assert!(check_key("a b").is_err());
        let a = body_hash("trades", "ndjson", "", b"{}");
        assert_eq!(a, body_hash("trades", "ndjson", "", b"{}"));
        assert_ne!(a, body_hash("trades", "ndjson", "", b"{} "));
        assert_ne!(a, body_hash("trades", "rowbinary", "", b"{}"));
        assert_ne!(a, body_hash("trade", "sndjson", "", b"{}"));
    }
}
