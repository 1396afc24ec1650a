//! A string column as edits of the previous string of the same group: an
//! order-book snapshot is its book's previous snapshot with a few levels
//! changed, so it is stored as hunks (copy n bytes of the previous string,
//! skip m, insert these bytes) and only the inserted bytes reach zstd.
//!
//! Hunks are found token by token (a token ends at one of `,:;]}` or a
//! newline, so a changed size or an inserted level is one hunk), but they
//! are plain byte ranges: the decoder needs no notion of tokens, and the
//! result is exact for any string. A group's first row is edited from the
//! previous row of any group, row 0 from the empty string.
//!
//! `[hunks a row as integers][copy lengths][skip lengths][insert lengths
//!  minus skip lengths][inserted bytes stream]`; the rest of the previous string after the
//! last hunk is copied.

use super::ints::{self, Groups};
use super::limits::Budget;
use super::stream::{Packer, Unpacker};
use super::strings::common_prefix;
use super::varint::Reader;
use super::{DecodeError, DecodeLimits};

/// Tokens looked ahead on each side to resynchronise after a difference.
const LOOKAHEAD: usize = 4;
/// Rows tried before the whole column is: most columns are not edits.
const TRIAL_ROWS: usize = 512;

/// The bytes a token ends with.
static DELIM: [bool; 256] = {
    let mut t = [false; 256];
    let mut k = 0;
    while k < 6 {
        t[[b',', b':', b';', b']', b'}', b'\n'][k] as usize] = true;
        k += 1;
    }
    t
};

fn is_delim(b: u8) -> bool {
    DELIM[b as usize]
}

fn common_suffix(a: &[u8], b: &[u8]) -> usize {
    a.iter()
        .rev()
        .zip(b.iter().rev())
        .take_while(|(x, y)| x == y)
        .count()
}

/// The tokens of `s` from `at`, found as far as they are asked for.
struct Tokens<'s, 'e> {
    s: &'s [u8],
    at: usize,
    ends: &'e mut Vec<usize>,
}

impl<'s> Tokens<'s, '_> {
    /// Where token `k` ends, if `s` has that many.
    fn end(&mut self, k: usize) -> Option<usize> {
        while self.ends.len() <= k {
            let from = self.ends.last().copied().unwrap_or(self.at);
            if from >= self.s.len() {
                return None;
            }
            let end = self.s[from..]
                .iter()
                .position(|&b| is_delim(b))
                .map_or(self.s.len(), |p| from + p + 1);
            self.ends.push(end);
        }
        Some(self.ends[k])
    }

    /// Where token `k` starts: the end of the one before.
    fn start(&mut self, k: usize) -> usize {
        if k == 0 {
            self.at
        } else {
            self.ends[k - 1]
        }
    }

    fn get(&mut self, k: usize) -> Option<&'s [u8]> {
        let end = self.end(k)?;
        Some(&self.s[self.start(k)..end])
    }
}

/// Finds hunks; holds the token buffers between rows.
#[derive(Default)]
struct Differ {
    ea: Vec<usize>,
    eb: Vec<usize>,
}

impl Differ {
    /// The hunks turning `a` into `b`, appended as copy, skip and insert
    /// lengths with the inserted bytes in `lit`. Returns how many.
    fn diff(&mut self, a: &[u8], b: &[u8], out: &mut Hunks) -> u64 {
        let (mut i, mut j, mut last) = (0usize, 0usize, 0usize);
        let mut n = 0;
        loop {
            let c = common_prefix(&a[i..], &b[j..]);
            i += c;
            j += c;
            if i == a.len() && j == b.len() {
                return n;
            }
            // Back to the start of the token the difference is in (the same
            // place in both: everything since `last` matched).
            while i > last && !is_delim(a[i - 1]) {
                i -= 1;
                j -= 1;
            }
            self.ea.clear();
            self.eb.clear();
            let mut ta = Tokens {
                s: a,
                at: i,
                ends: &mut self.ea,
            };
            let mut tb = Tokens {
                s: b,
                at: j,
                ends: &mut self.eb,
            };
            // The nearest pair of equal tokens, fewest skipped first.
            let mut sync = None;
            'search: for total in 1..=2 * LOOKAHEAD {
                for x in total.saturating_sub(LOOKAHEAD)..=total.min(LOOKAHEAD) {
                    let y = total - x;
                    if let (Some(p), Some(q)) = (ta.get(x), tb.get(y)) {
                        if p == q {
                            sync = Some((ta.start(x), tb.start(y)));
                            break 'search;
                        }
                    }
                }
            }
            let (skip_to, ins_to) = sync.unwrap_or((a.len(), b.len()));
            // Only the bytes that differ: "1252"], -> "1700"], inserts 700.
            let (del, put) = (&a[i..skip_to], &b[j..ins_to]);
            let pre = common_prefix(del, put);
            let suf = common_suffix(&del[pre..], &put[pre..]);
            out.copy.push((i + pre - last) as u64);
            out.skip.push((del.len() - pre - suf) as u64);
            // As its difference from the skip: a size replaced by one of as
            // many digits is 0.
            out.ins_less_skip.push(
                ((put.len() - pre - suf) as u64).wrapping_sub((del.len() - pre - suf) as u64),
            );
            out.lit.extend_from_slice(&put[pre..put.len() - suf]);
            n += 1;
            i = skip_to - suf;
            j = ins_to - suf;
            last = i;
        }
    }
}

/// The hunks of a column, a stream each.
#[derive(Default)]
struct Hunks {
    copy: Vec<u64>,
    skip: Vec<u64>,
    ins_less_skip: Vec<u64>,
    lit: Vec<u8>,
}

/// Each row's reference: the previous row of its group, else the previous
/// row. `groups` has a key for each of the `rows` (both callers check).
fn references(rows: usize, groups: Option<&Groups>) -> impl Iterator<Item = Option<usize>> + '_ {
    let mut last: Vec<Option<usize>> = vec![None; groups.map_or(0, |g| g.count)];
    (0..rows).map(move |i| {
        let prev = i.checked_sub(1);
        match groups {
            Some(g) => last[g.key[i] as usize].replace(i).or(prev),
            None => prev,
        }
    })
}

/// Encodes `v` as edits if the inserted bytes are at most an eighth of all
/// bytes; otherwise writes nothing and returns false.
pub(super) fn encode(
    v: &[String],
    groups: Option<&Groups>,
    p: &mut Packer,
    out: &mut Vec<u8>,
) -> bool {
    let mut counts = Vec::with_capacity(v.len());
    let mut h = Hunks::default();
    let mut differ = Differ::default();
    let mut total = 0usize;
    for (i, reference) in references(v.len(), groups).enumerate() {
        let a = reference.map_or(&[][..], |r| v[r].as_bytes());
        counts.push(differ.diff(a, v[i].as_bytes(), &mut h));
        total += v[i].len();
        if i + 1 == TRIAL_ROWS {
            if h.lit.len() > total / 8 {
                return false;
            }
            // Room for the rest, guessed from the trial.
            let more = v.len() / TRIAL_ROWS;
            h.copy.reserve(h.copy.len() * more);
            h.skip.reserve(h.skip.len() * more);
            h.ins_less_skip.reserve(h.ins_less_skip.len() * more);
            h.lit.reserve(h.lit.len() * more);
        }
    }
    if h.lit.len() > total / 8 {
        return false;
    }
    ints::encode(&counts, None, p, out);
    ints::encode(&h.copy, None, p, out);
    ints::encode(&h.skip, None, p, out);
    ints::encode(&h.ins_less_skip, None, p, out);
    p.put(out, &h.lit, true);
    true
}

pub(super) fn decode(
    r: &mut Reader<'_>,
    rows: usize,
    groups: Option<&Groups>,
    un: &mut Unpacker,
    budget: &mut Budget,
    limits: &DecodeLimits,
) -> Result<Vec<String>, DecodeError> {
    let counts = ints::decode(r, rows, None, un, budget)?;
    let mut n = 0u64;
    for &c in &counts {
        n = n.saturating_add(c);
    }
    // Each hunk's three lengths are charged 8 bytes each by ints::decode,
    // so the count is bounded by the budget before anything is allocated.
    let n = usize::try_from(n).map_err(|_| DecodeError::Corrupt("hunk count overflows"))?;
    if n > limits.max_decoded_bytes / 24 {
        return Err(DecodeError::TooLarge {
            what: "string edits",
            value: n as u64,
            max: (limits.max_decoded_bytes / 24) as u64,
        });
    }
    let copy = ints::decode(r, n, None, un, budget)?;
    let skip = ints::decode(r, n, None, un, budget)?;
    let mut ins = ints::decode(r, n, None, un, budget)?;
    for (x, &s) in ins.iter_mut().zip(&skip) {
        *x = x.wrapping_add(s);
    }
    let mut lit_len = 0usize;
    for &x in &ins {
        lit_len = lit_len
            .checked_add(usize::try_from(x).map_err(|_| DecodeError::Corrupt("insert too long"))?)
            .ok_or(DecodeError::Corrupt("inserted bytes overflow"))?;
    }
    let lit = un.get(r, lit_len, budget)?;
    budget.take_each(rows, std::mem::size_of::<String>())?;
    let mut values: Vec<String> = Vec::with_capacity(rows);
    let (mut h, mut at) = (0usize, 0usize);
    if groups.is_some_and(|g| g.key.len() != rows) {
        return Err(DecodeError::Corrupt("group keys differ from rows"));
    }
    for (i, reference) in references(rows, groups).enumerate() {
        let a = reference.map_or(&[][..], |r| values[r].as_bytes());
        let end = h + counts[i] as usize;
        // The length first, so it is charged before it is allocated.
        let (mut pos, mut len) = (0usize, 0usize);
        for k in h..end {
            let (c, s) = (copy[k] as usize, skip[k] as usize);
            pos = pos
                .checked_add(c)
                .and_then(|p| p.checked_add(s))
                .filter(|&p| p <= a.len())
                .ok_or(DecodeError::Corrupt("string edit out of range"))?;
            len = len.saturating_add(c).saturating_add(ins[k] as usize);
        }
        len = len.saturating_add(a.len() - pos);
        if len > limits.max_string_bytes {
            return Err(DecodeError::TooLarge {
                what: "string length",
                value: len as u64,
                max: limits.max_string_bytes as u64,
            });
        }
        budget.take(len)?;
        let mut s = Vec::with_capacity(len);
        let mut pos = 0usize;
        for k in h..end {
            let (c, sk, x) = (copy[k] as usize, skip[k] as usize, ins[k] as usize);
            s.extend_from_slice(&a[pos..pos + c]);
            pos += c + sk;
            s.extend_from_slice(
                lit.get(at..at + x)
                    .ok_or(DecodeError::Corrupt("string edit out of range"))?,
            );
            at += x;
        }
        s.extend_from_slice(&a[pos..]);
        h = end;
        values.push(String::from_utf8(s).map_err(|_| DecodeError::Corrupt("string is not UTF-8"))?);
    }
    Ok(values)
}
