//! Strings in HCS2, in the first of these that fits:
//!
//! - a dictionary when a column has few distinct values (exchange, symbol):
//!   ids as integers, so three exchanges cost under two bits a row once the
//!   id plane is packed;
//! - edits of the previous string of the same group (`edits.rs`) when they
//!   insert at most an eighth of the bytes: order-book depth JSON;
//! - lengths as integers and the bytes as one stream; with groups (see
//!   `segment.rs`) the bytes are stored group by group, so each string
//!   follows its group's previous one, where zstd finds it.
//!
//! `[u8 mode: 0 plain | 1 dictionary | 2 plain, bytes grouped | 3 edits]`,
//! then plain: `[lengths as integers][bytes stream]`; dictionary: `[varint
//! entries][entry lengths as integers][entry bytes stream][ids as
//! integers]`; edits: see `edits.rs`.

use super::edits;
use super::ints::{self, Groups};
use super::limits::Budget;
use super::stream::{Packer, Unpacker};
use super::varint::{put_u64, Reader};
use super::{DecodeError, DecodeLimits};
use std::collections::HashMap;

/// A string's heap size beyond its bytes, charged per decoded string.
const STRING_OVERHEAD: usize = std::mem::size_of::<String>();
/// Dictionaries this small are searched linearly: cheaper than hashing.
const LINEAR: usize = 16;

/// Bytes both start with, 32 then 8 at a time.
pub(super) fn common_prefix(a: &[u8], b: &[u8]) -> usize {
    let n = a.len().min(b.len());
    let word = |s: &[u8], i: usize| u64::from_le_bytes(s[i..i + 8].try_into().unwrap_or([0; 8]));
    let mut i = 0;
    while i + 32 <= n {
        let d = (word(a, i) ^ word(b, i))
            | (word(a, i + 8) ^ word(b, i + 8))
            | (word(a, i + 16) ^ word(b, i + 16))
            | (word(a, i + 24) ^ word(b, i + 24));
        if d != 0 {
            break;
        }
        i += 32;
    }
    while i + 8 <= n {
        let d = word(a, i) ^ word(b, i);
        if d != 0 {
            return i + (d.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    while i < n && a[i] == b[i] {
        i += 1;
    }
    i
}

/// A string of at most 16 bytes as two words and its length (its first and
/// last 8 bytes, or all of it): equal keys, equal strings, compared
/// without a call to memcmp. Longer strings have none.
type ShortKey = Option<(u64, u64, usize)>;

fn short_key(s: &str) -> ShortKey {
    let s = s.as_bytes();
    let n = s.len();
    let word = |b: &[u8]| u64::from_le_bytes(b.try_into().unwrap_or([0; 8]));
    match n {
        0..=7 => Some((
            s.iter()
                .enumerate()
                .fold(0, |w, (i, &b)| w | u64::from(b) << (8 * i)),
            0,
            n,
        )),
        8..=16 => Some((word(&s[..8]), word(&s[n - 8..]), n)),
        _ => None,
    }
}

fn same(a: (&str, ShortKey), b: (&str, ShortKey)) -> bool {
    match (a.1, b.1) {
        (Some(x), Some(y)) => x == y,
        (None, None) => a.0 == b.0,
        _ => false,
    }
}

/// A column's distinct values in order of first appearance, and each row's.
pub(super) struct Dict<'a> {
    pub(super) entries: Vec<&'a str>,
    pub(super) ids: Vec<u64>,
}

/// The column's dictionary if it has at most a quarter as many distinct
/// values as rows (the rule HCS1 used); given up as soon as it cannot.
pub(super) fn dictionary(v: &[String]) -> Option<Dict<'_>> {
    let max = v.len() / 4 + 1;
    let mut entries: Vec<(&str, ShortKey)> = Vec::new();
    let mut index: HashMap<&str, u64> = HashMap::new();
    let mut ids = Vec::with_capacity(v.len());
    let mut last: Option<((&str, ShortKey), u64)> = None;
    let mut held = 0usize;
    for s in v {
        let s = (s.as_str(), short_key(s));
        let id = match last {
            Some((l, id)) if same(l, s) => id,
            _ => {
                let found = if entries.len() <= LINEAR {
                    entries.iter().position(|e| same(*e, s)).map(|i| i as u64)
                } else {
                    index.get(s.0).copied()
                };
                match found {
                    Some(id) => id,
                    None => {
                        // Mostly distinct so far, past a thousand entries
                        // or 16 KiB of them (long strings: depth JSON): a
                        // dictionary will not pay.
                        held += s.0.len();
                        if entries.len() >= max
                            || ((entries.len() > 1024 || held > 16 << 10)
                                && entries.len() * 2 > ids.len())
                        {
                            return None;
                        }
                        let id = entries.len() as u64;
                        entries.push(s);
                        if entries.len() == LINEAR + 1 {
                            index.extend(entries.iter().enumerate().map(|(i, e)| (e.0, i as u64)));
                        } else if entries.len() > LINEAR + 1 {
                            index.insert(s.0, id);
                        }
                        id
                    }
                }
            }
        };
        last = Some((s, id));
        ids.push(id);
    }
    Some(Dict {
        entries: entries.into_iter().map(|e| e.0).collect(),
        ids,
    })
}

/// Rows sorted by group, stably: the order grouped bytes are stored in.
pub(super) fn grouped_order(g: &Groups) -> Vec<u32> {
    let mut start = vec![0u32; g.count + 1];
    for &k in &g.key {
        start[k as usize + 1] += 1;
    }
    for i in 1..start.len() {
        start[i] += start[i - 1];
    }
    let mut order = vec![0u32; g.key.len()];
    for (row, &k) in g.key.iter().enumerate() {
        let slot = &mut start[k as usize];
        order[*slot as usize] = row as u32;
        *slot += 1;
    }
    order
}

/// Encodes a string column. `ids_groups` is what the dictionary ids may be
/// delta coded against: none for the key columns the groups come from.
pub(super) fn encode(
    v: &[String],
    dict: Option<&Dict<'_>>,
    groups: Option<&Groups>,
    ids_groups: Option<&Groups>,
    p: &mut Packer,
    out: &mut Vec<u8>,
) {
    if let Some(d) = dict {
        out.push(1);
        put_u64(out, d.entries.len() as u64);
        let lens: Vec<u64> = d.entries.iter().map(|e| e.len() as u64).collect();
        ints::encode(&lens, None, p, out);
        let bytes: Vec<u8> = d.entries.iter().flat_map(|e| e.bytes()).collect();
        p.put(out, &bytes, true);
        ints::encode(&d.ids, ids_groups, p, out);
        return;
    }
    let mark = out.len();
    out.push(3);
    if edits::encode(v, groups, p, out) {
        return;
    }
    out.truncate(mark);
    let lens: Vec<u64> = v.iter().map(|s| s.len() as u64).collect();
    let mut bytes = Vec::with_capacity(lens.iter().sum::<u64>() as usize);
    match groups {
        Some(g) if g.count > 1 => {
            out.push(2);
            for i in grouped_order(g) {
                bytes.extend_from_slice(v[i as usize].as_bytes());
            }
        }
        _ => {
            out.push(0);
            for s in v {
                bytes.extend_from_slice(s.as_bytes());
            }
        }
    }
    ints::encode(&lens, groups, p, out);
    p.put(out, &bytes, true);
}

/// A decoded string column, with its dictionary ids and size if it had one.
pub(super) struct Decoded {
    pub(super) values: Vec<String>,
    pub(super) dict: Option<(Vec<u64>, usize)>,
}

/// Lengths as integers, each within the string limit, and their sum.
fn lengths(
    r: &mut Reader<'_>,
    n: usize,
    groups: Option<&Groups>,
    un: &mut Unpacker,
    budget: &mut Budget,
    limits: &DecodeLimits,
) -> Result<(Vec<u64>, usize), DecodeError> {
    let lens = ints::decode(r, n, groups, un, budget)?;
    let mut total = 0usize;
    for &l in &lens {
        if l > limits.max_string_bytes as u64 {
            return Err(DecodeError::TooLarge {
                what: "string length",
                value: l,
                max: limits.max_string_bytes as u64,
            });
        }
        total = total
            .checked_add(l as usize)
            .ok_or(DecodeError::Corrupt("string lengths overflow"))?;
    }
    Ok((lens, total))
}

fn utf8(bytes: &[u8]) -> Result<&str, DecodeError> {
    std::str::from_utf8(bytes).map_err(|_| DecodeError::Corrupt("string is not UTF-8"))
}

fn slice(s: &str, from: usize, len: u64) -> Result<&str, DecodeError> {
    s.get(from..from + len as usize)
        .ok_or(DecodeError::Corrupt("string splits a UTF-8 character"))
}

pub(super) fn decode(
    r: &mut Reader<'_>,
    rows: usize,
    groups: Option<&Groups>,
    ids_groups: Option<&Groups>,
    un: &mut Unpacker,
    budget: &mut Budget,
    limits: &DecodeLimits,
) -> Result<Decoded, DecodeError> {
    let mode = r.u8()?;
    let mut values = Vec::new();
    match mode {
        1 => {
            let n = r.len(rows, "dictionary size")?;
            let (lens, total) = lengths(r, n, None, un, budget, limits)?;
            let bytes = un.get(r, total, budget)?;
            let text = utf8(&bytes)?;
            let mut entries = Vec::with_capacity(n);
            let mut at = 0usize;
            for &l in &lens {
                entries.push(slice(text, at, l)?);
                at += l as usize;
            }
            let ids = ints::decode(r, rows, ids_groups, un, budget)?;
            budget.take_each(rows, STRING_OVERHEAD)?;
            values.reserve(rows);
            for &id in &ids {
                let s = entries
                    .get(id as usize)
                    .ok_or(DecodeError::Corrupt("dictionary index out of range"))?;
                budget.take(s.len())?;
                values.push((*s).to_string());
            }
            Ok(Decoded {
                values,
                dict: Some((ids, n)),
            })
        }
        0 | 2 => {
            let (lens, total) = lengths(r, rows, groups, un, budget, limits)?;
            budget.take(total)?;
            budget.take_each(rows, STRING_OVERHEAD)?;
            let bytes = un.get(r, total, budget)?;
            let text = utf8(&bytes)?;
            values.reserve(rows);
            if mode == 0 {
                let mut at = 0usize;
                for &l in &lens {
                    values.push(slice(text, at, l)?.to_string());
                    at += l as usize;
                }
            } else {
                let g =
                    groups.ok_or(DecodeError::Corrupt("grouped strings without key columns"))?;
                if g.key.len() != rows {
                    return Err(DecodeError::Corrupt("group keys differ from rows"));
                }
                let mut from = vec![0usize; rows];
                let mut at = 0usize;
                for i in grouped_order(g) {
                    from[i as usize] = at;
                    at += lens[i as usize] as usize;
                }
                for (&f, &l) in from.iter().zip(&lens) {
                    values.push(slice(text, f, l)?.to_string());
                }
            }
            Ok(Decoded { values, dict: None })
        }
        3 => Ok(Decoded {
            values: edits::decode(r, rows, groups, un, budget, limits)?,
            dict: None,
        }),
        _ => Err(DecodeError::Corrupt("unknown string encoding")),
    }
}
