//! The batch codec against zstd of the same rows as CSV, in one run: bytes
//! per row (ours, zstd -3 and zstd -19 of CSV), encode rows/s (ours against
//! `zstd::bulk::compress(csv, 3)`) and decode rows/s (ours against zstd -3
//! decompression of the CSV), for trades and for order-book snapshots with
//! JSON depth. The previous format (HCS1, from its encoder kept in
//! `codec::hcs1`) is measured beside the current one, so before and after
//! share a run on this shared machine.
//!
//! `cargo run --release -p hotcold-tests --bin bench_codec [--rows 1000000]
//! [--book-rows 200000] [--segment-rows 65536] [--level 3] [--reps 3]`
//! (also a section of `scripts/bench.sh`). Each timing is the best of
//! `--reps`, the contenders taking turns. Every decoded segment is checked
//! against the original, by content hash and row by row.

use anyhow::ensure;
use hotcold_core::codec::{
    column_bytes, decode_segment, encode_segment, hcs1, split_segments, DecodeLimits,
};
use hotcold_core::schema::{TableSchema, DAY_MS};
use hotcold_core::{ContentHash, RowBatch};
use hotcold_tests::data::{batch_of, orderbook_schema, orderbooks, trades, trades_schema};
use std::time::Instant;

/// The rows as CSV, fields in the order `bench` writes them (the JSON
/// objects' key order, which zstd -19 compresses a little better than the
/// schema's), quoted where a field needs it (RFC 4180).
fn csv(rows: &[serde_json::Value]) -> Vec<u8> {
    let mut out = Vec::new();
    for r in rows {
        let Some(o) = r.as_object() else { continue };
        for (i, v) in o.values().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            let field = v.as_str().map_or_else(|| v.to_string(), str::to_string);
            if field.contains([',', '"', '\n']) {
                out.push(b'"');
                out.extend_from_slice(field.replace('"', "\"\"").as_bytes());
                out.push(b'"');
            } else {
                out.extend_from_slice(field.as_bytes());
            }
        }
        out.push(b'\n');
    }
    out
}

/// Bytes and best times of one contender.
#[derive(Default)]
struct Figures {
    bytes: usize,
    /// Bytes of each column's sections (HCS2 only).
    columns: Vec<usize>,
    encode: f64,
    decode: f64,
}

impl Figures {
    fn time(best: &mut f64, secs: f64) {
        if *best == 0.0 || secs < *best {
            *best = secs;
        }
    }
}

type Encoder = fn(&RowBatch, i32) -> Vec<u8>;

fn run_codec(
    schema: &TableSchema,
    batches: &[RowBatch],
    hashes: &[ContentHash],
    encode: Encoder,
    level: i32,
    f: &mut Figures,
) -> anyhow::Result<()> {
    let t = Instant::now();
    let segments: Vec<Vec<u8>> = batches.iter().map(|b| encode(b, level)).collect();
    Figures::time(&mut f.encode, t.elapsed().as_secs_f64());
    f.bytes = segments.iter().map(Vec::len).sum();
    f.columns = vec![0; schema.columns.len()];
    for s in &segments {
        if let Ok(sizes) = column_bytes(&s[4..]) {
            for (c, n) in f.columns.iter_mut().zip(sizes) {
                *c += n;
            }
        }
    }
    let limits = DecodeLimits::default();
    let t = Instant::now();
    let mut decoded = Vec::with_capacity(segments.len());
    for s in &segments {
        for body in split_segments(s, &limits)? {
            decoded.push(decode_segment(schema, body, &limits)?);
        }
    }
    Figures::time(&mut f.decode, t.elapsed().as_secs_f64());
    ensure!(decoded.len() == hashes.len(), "segment count");
    // The hash is over the rows as a set; the order is checked too.
    for ((d, h), b) in decoded.iter().zip(hashes).zip(batches) {
        ensure!(
            ContentHash::of_batch(d) == *h && d == b,
            "a decoded segment differs"
        );
    }
    Ok(())
}

fn measure(
    title: &str,
    schema: &TableSchema,
    rows: &[serde_json::Value],
    segment_rows: usize,
    level: i32,
    reps: usize,
) -> anyhow::Result<()> {
    let n = rows.len();
    let csv = csv(rows);
    let batches: Vec<RowBatch> = rows
        .chunks(segment_rows)
        .map(|p| batch_of(schema, p))
        .collect();
    let hashes: Vec<ContentHash> = batches.iter().map(ContentHash::of_batch).collect();
    let (mut new, mut old, mut z3) = (Figures::default(), Figures::default(), Figures::default());
    for _ in 0..reps {
        run_codec(schema, &batches, &hashes, encode_segment, level, &mut new)?;
        run_codec(
            schema,
            &batches,
            &hashes,
            hcs1::encode_segment,
            level,
            &mut old,
        )?;
        let t = Instant::now();
        let c = zstd::bulk::compress(&csv, 3)?;
        Figures::time(&mut z3.encode, t.elapsed().as_secs_f64());
        z3.bytes = c.len();
        let t = Instant::now();
        let back = zstd::bulk::decompress(&c, csv.len())?;
        Figures::time(&mut z3.decode, t.elapsed().as_secs_f64());
        ensure!(back == csv, "zstd round trip");
    }
    // zstd -19 is slow: on the first 32 MiB of the CSV, per row of that sample.
    let sample = &csv[..csv.len().min(32 << 20)];
    let sample_rows = sample.iter().filter(|b| **b == b'\n').count().max(1);
    let z19 = zstd::bulk::compress(sample, 19)?.len() as f64 / sample_rows as f64;

    let per = |b: usize| b as f64 / n as f64;
    let rate = |secs: f64| n as f64 / secs;
    println!(
        "\n{title}: {n} rows, {} segments of up to {segment_rows} rows, CSV {:.1} B/row raw\n",
        batches.len(),
        per(csv.len())
    );
    println!("| format | bytes/row | / zstd -3 CSV | / zstd -19 CSV | encode rows/s | encode / zstd -3 | decode rows/s | decode / zstd -3 |");
    println!("|---|---|---|---|---|---|---|---|");
    for (name, f) in [
        (format!("HCS2 at zstd -{level} (now)"), &new),
        (format!("HCS1 at zstd -{level} (before)"), &old),
    ] {
        println!(
            "| {name} | {:.2} | {:.3} | {:.3} | {:.0} | {:.2} | {:.0} | {:.2} |",
            per(f.bytes),
            per(f.bytes) / per(z3.bytes),
            per(f.bytes) / z19,
            rate(f.encode),
            z3.encode / f.encode,
            rate(f.decode),
            z3.decode / f.decode,
        );
    }
    println!(
        "| zstd -3 of CSV | {:.2} | 1 | {:.3} | {:.0} | 1 | {:.0} | 1 |",
        per(z3.bytes),
        per(z3.bytes) / z19,
        rate(z3.encode),
        rate(z3.decode)
    );
    println!(
        "| zstd -19 of CSV (first 32 MiB) | {z19:.2} | {:.3} | 1 | | | | |",
        z19 / per(z3.bytes)
    );
    let by_column: Vec<String> = schema
        .columns
        .iter()
        .zip(&new.columns)
        .map(|(c, &b)| format!("{} {:.2}", c.name, per(b)))
        .collect();
    println!("\nHCS2 bytes/row by column: {}.", by_column.join(", "));
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let n = hotcold_tests::arg_usize("--rows", 1_000_000);
    let book_rows = hotcold_tests::arg_usize("--book-rows", 200_000);
    let segment_rows = hotcold_tests::arg_usize("--segment-rows", 65_536).max(1);
    let level = hotcold_tests::arg_usize("--level", 3) as i32;
    let reps = hotcold_tests::arg_usize("--reps", 3).max(1);
    // The same trades as `bench` (seed 11, three days).
    let start = 1_700_006_400_000;
    let rows = trades(start, start + 3 * DAY_MS, n, 11);
    measure("trades", &trades_schema(), &rows, segment_rows, level, reps)?;
    drop(rows);
    let rows = orderbooks(start, start + DAY_MS, book_rows, 12);
    measure(
        "order-book snapshots (depth JSON of 10-20 levels a side)",
        &orderbook_schema(),
        &rows,
        segment_rows,
        level,
        reps,
    )?;
    Ok(())
}
