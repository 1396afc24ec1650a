//! Wall-clock time in epoch milliseconds, the unit of every timestamp,
//! window and journal entry. One place, so a test clock has one seam.

pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
