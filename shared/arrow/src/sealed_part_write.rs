//! Writing a sealed part (the layout is in `sealed_part.rs`).

use super::{tag, MAGIC};
use crate::columns::{Builder, Columns};
use hotcold_core::schema::TableSchema;

/// Encodes `c`, which must hold every column of `schema` in schema order
/// (`Columns::new(schema, &all, ..)`); `None` if it does not.
pub fn encode_part(schema: &TableSchema, c: &Columns) -> Option<Vec<u8>> {
    if c.width() != schema.columns.len() || !c.is_whole() {
        return None;
    }
    let rows = u32::try_from(c.len()).ok()?;
    let mut out = Vec::with_capacity(64 + c.len() * 8 * c.width());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&rows.to_le_bytes());
    out.extend_from_slice(&u16::try_from(c.width()).ok()?.to_le_bytes());
    for (def, b) in schema.columns.iter().zip(&c.builders) {
        out.push(tag(def.ty));
        put_builder(&mut out, b)?;
    }
    let h = blake3::hash(&out);
    out.extend_from_slice(h.as_bytes());
    Some(out)
}

fn put_u32(out: &mut Vec<u8>, v: usize) -> Option<()> {
    out.extend_from_slice(&u32::try_from(v).ok()?.to_le_bytes());
    Some(())
}

fn put_builder(out: &mut Vec<u8>, b: &Builder) -> Option<()> {
    macro_rules! cells {
        ($v:expr) => {
            for x in $v {
                out.extend_from_slice(&x.to_le_bytes());
            }
        };
    }
    match b {
        Builder::Ts(v) | Builder::I64(v) => cells!(v),
        // Decimals come from the store's i64: the part keeps those.
        Builder::Decimal(v, _) => {
            for x in v {
                out.extend_from_slice(&i64::try_from(*x).ok()?.to_le_bytes());
            }
        }
        Builder::Date(v) | Builder::I32(v) => cells!(v),
        Builder::I8(v) => cells!(v),
        Builder::I16(v) => cells!(v),
        Builder::U8(v) => cells!(v),
        Builder::U16(v) => cells!(v),
        Builder::U32(v) => cells!(v),
        Builder::U64(v) => cells!(v),
        Builder::F64(v) => cells!(v),
        Builder::Bool(v) => out.extend(v.iter().map(|&x| u8::from(x))),
        Builder::Str(bytes, ends) => {
            put_u32(out, bytes.len())?;
            for e in ends.iter().skip(1) {
                put_u32(out, usize::try_from(*e).ok()?)?;
            }
            out.extend_from_slice(bytes.as_bytes());
        }
        Builder::Lc(keys, dict) => {
            put_u32(out, dict.values.len())?;
            put_u32(out, dict.values.iter().map(String::len).sum())?;
            let mut end = 0usize;
            for s in &dict.values {
                end += s.len();
                put_u32(out, end)?;
            }
            for s in &dict.values {
                out.extend_from_slice(s.as_bytes());
            }
            for k in keys {
                out.extend_from_slice(&u32::try_from(*k).ok()?.to_le_bytes());
            }
        }
    }
    Some(())
}
