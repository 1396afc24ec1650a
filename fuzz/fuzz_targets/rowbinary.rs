//! RowBinary answers from a ClickHouse server, fed in arbitrary pieces.
#![no_main]
use libfuzzer_sys::fuzz_target;

mod common;

fuzz_target!(|data: &[u8]| {
    let mut dec = hotcold_clickhouse::rowbinary::Decoder::new(common::every_type(), 1 << 12);
    let cut = data.first().map_or(0, |b| *b as usize).min(data.len());
    for part in [&data[..cut], &data[cut..]] {
        if dec.feed(part).is_err() {
            return;
        }
        let _ = dec.take();
    }
    let _ = dec.finish();
});
