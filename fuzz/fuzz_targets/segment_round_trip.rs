//! The segment encoder against its decoder: the input is made into rows (a
//! few books of similar strings, so the grouped and edited paths are
//! taken) that must round trip exactly, floats bit for bit; the encoding is
//! then damaged where the input says and decoded again under small limits,
//! which must give an error or rows, never a panic. Raw bytes: `segment`.
#![no_main]
use hotcold_core::batch::Column;
use hotcold_core::codec::{decode_segment, encode_segment, DecodeLimits};
use hotcold_core::{RowBatch, Value};
use libfuzzer_sys::fuzz_target;

mod common;

fn limits() -> DecodeLimits {
    DecodeLimits {
        max_segment_bytes: 1 << 16,
        max_decoded_bytes: 1 << 20,
        max_rows: 1 << 12,
        max_string_bytes: 1 << 12,
    }
}

/// Rows from the input's bytes, read cyclically.
fn rows_of(data: &[u8]) -> RowBatch {
    let schema = common::every_type();
    let mut b = RowBatch::new(&schema);
    if data.len() < 2 {
        return b;
    }
    let byte = |i: usize| data[i % data.len()];
    let word = |i: usize| u64::from_le_bytes(std::array::from_fn(|k| byte(i + k)));
    let n = usize::from(data[0]);
    let base = String::from_utf8_lossy(&data[1..data.len().min(200)]).into_owned();
    let mut books: Vec<String> = (0..3)
        .map(|k| format!("{{\"k\":{k},\"v\":[{base}]}}"))
        .collect();
    for i in 0..n {
        let w = word(i * 3);
        let book = (w % 3) as usize;
        // Each book's string a little changed since its last row.
        let s = &mut books[book];
        let at = (w >> 8) as usize % (s.len() + 1);
        if s.is_char_boundary(at) {
            s.insert_str(at, &format!(",{}", w % 97));
        }
        if s.len() > 300 {
            *s = format!("{{\"k\":{book}}}");
        }
        let row = vec![
            Value::I64(1_700_000_000_000 + i as i64 * 100 + (w % 7) as i64),
            Value::I64((w >> 16) as i64 % 60_000),
            Value::Str(s.clone()),
            Value::Str(["binance", "okx", "bybit", "日本"][book + (w >> 60) as usize % 2].into()),
            Value::I64(((w >> 3) % 64) as i64 * 10_000_000 * if w & 4 == 0 { 1 } else { -1 }),
            Value::I64((w >> 24) as i8 as i64),
            Value::I64((w >> 20) as i32 as i64),
            Value::I64(if w & 1 == 0 { w as i64 } else { i as i64 }),
            Value::U64((w >> 40) as u8 as u64),
            Value::U64(if w & 2 == 0 { w } else { u64::MAX - i as u64 }),
            Value::F64(f64::from_bits(word(i * 3 + 1))),
            Value::Bool(w & 8 == 0),
        ];
        if b.push_row(row).is_err() {
            break;
        }
    }
    b
}

/// Equal, floats by their bits.
fn same(a: &RowBatch, b: &RowBatch) -> bool {
    a.columns.len() == b.columns.len()
        && a.columns.iter().zip(&b.columns).all(|(x, y)| match (x, y) {
            (Column::F64(x), Column::F64(y)) => {
                x.len() == y.len() && x.iter().zip(y).all(|(p, q)| p.to_bits() == q.to_bits())
            }
            _ => x == y,
        })
}

fuzz_target!(|data: &[u8]| {
    let schema = common::every_type();
    let rows = rows_of(data);
    let framed = encode_segment(&rows, 1);
    let back = decode_segment(&schema, &framed[4..], &DecodeLimits::default())
        .expect("a segment the encoder wrote decodes");
    assert!(same(&back, &rows), "round trip differs");
    let mut body = framed[4..].to_vec();
    for pair in data.chunks(3).take(4) {
        if let [a, b, x] = pair {
            let i = usize::from(u16::from_le_bytes([*a, *b])) % body.len();
            body[i] ^= x | 1;
        }
    }
    let _ = decode_segment(&schema, &body, &limits());
});
