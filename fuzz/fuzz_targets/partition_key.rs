//! Partition keys and partition values as a ClickHouse server prints them.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else { return };
    let (key, value) = s.split_once('\n').unwrap_or((s, s));
    let k = hotcold_clickhouse::partition::PartitionKey::parse(key, "ts", "Int64", "UTC");
    let _ = k.span(value);
    let _ = hotcold_clickhouse::partition::split_tuple(value);
});
