//! `Content-Encoding` of an ingest body: collectors that compress their
//! requests (gzip is what most HTTP clients offer, zstd what ClickHouse
//! users already use) send a tenth of the bytes over their line.
//!
//! A compressed body is bounded twice: its own bytes by the caller (the
//! `ingest.max-body` read), and what it inflates to by `max`, checked as
//! it inflates, so a small bomb never becomes a large allocation.

use std::borrow::Cow;
use std::io::Read;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EncodingError {
    #[error("Content-Encoding {0:?} is not supported; send gzip, zstd or identity")]
    Unsupported(String),
    #[error("the body is not valid {encoding}: {reason}")]
    Corrupt {
        encoding: &'static str,
        reason: String,
    },
    #[error("the body inflates past {max} bytes")]
    TooLarge { max: usize },
}

/// The body as sent, decoded per its `Content-Encoding` (`None` or
/// `identity`: as it is). Several codings in one header are refused: no
/// collector sends them, and each layer would be another bomb to bound.
pub fn decode_body<'a>(
    encoding: Option<&str>,
    body: &'a [u8],
    max: usize,
) -> Result<Cow<'a, [u8]>, EncodingError> {
    let coding = encoding.map(|e| e.trim().to_ascii_lowercase());
    match coding.as_deref() {
        None | Some("") | Some("identity") => Ok(Cow::Borrowed(body)),
        Some("gzip") | Some("x-gzip") => {
            inflate(flate2::read::MultiGzDecoder::new(body), "gzip", max).map(Cow::Owned)
        }
        Some("zstd") => {
            let d = zstd::stream::read::Decoder::with_buffer(body).map_err(|e| {
                EncodingError::Corrupt {
                    encoding: "zstd",
                    reason: e.to_string(),
                }
            })?;
            inflate(d, "zstd", max).map(Cow::Owned)
        }
        Some(other) => Err(EncodingError::Unsupported(other.chars().take(64).collect())),
    }
}

fn inflate(r: impl Read, encoding: &'static str, max: usize) -> Result<Vec<u8>, EncodingError> {
    let mut out = Vec::new();
    // One byte past the bound tells "exactly max" from "more".
    r.take(max as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| EncodingError::Corrupt {
            encoding,
            reason: e.to_string(),
        })?;
    if out.len() > max {
        return Err(EncodingError::TooLarge { max });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::io::Write;

    fn gzip(b: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(b).expect("write");
        e.finish().expect("finish")
    }

    proptest! {
        #[test]
        fn gzip_and_zstd_round_trip_within_the_bound(body in proptest::collection::vec(any::<u8>(), 0..4096)) {
            let z = zstd::encode_all(&body[..], 3).expect("zstd");
            let g = gzip(&body);
            let unz = decode_body(Some("zstd"), &z, body.len()).expect("zstd").into_owned();
            let ung = decode_body(Some("GZIP"), &g, body.len()).expect("gzip").into_owned();
            let same = decode_body(None, &body, 0).expect("identity").into_owned();
            prop_assert_eq!(&unz, &body);
            prop_assert_eq!(&ung, &body);
            prop_assert_eq!(&same, &body);
        }

        #[test]
        fn arbitrary_bytes_never_panic_and_never_pass_the_bound(
            body in proptest::collection::vec(any::<u8>(), 0..2048),
            max in 0usize..4096,
        ) {
            for enc in ["gzip", "zstd"] {
                if let Ok(out) = decode_body(Some(enc), &body, max) {
                    prop_assert!(out.len() <= max);
                }
            }
        }
    }

    #[test]
    fn a_bomb_stops_at_the_bound() {
        let zeros = vec![0u8; 8 << 20];
        let small = zstd::encode_all(&zeros[..], 19).expect("zstd");
        assert!(small.len() < 4096, "{}", small.len());
        assert_eq!(
            decode_body(Some("zstd"), &small, 1 << 20),
            Err(EncodingError::TooLarge { max: 1 << 20 })
        );
        assert_eq!(
            decode_body(Some("gzip"), &gzip(&zeros), 1 << 20),
            Err(EncodingError::TooLarge { max: 1 << 20 })
        );
    }

    #[test]
    fn unknown_and_stacked_codings_are_named() {
        assert_eq!(
            decode_body(Some("br"), b"x", 10),
            Err(EncodingError::Unsupported("br".into()))
        );
        assert!(matches!(
            decode_body(Some("gzip, zstd"), b"x", 10),
            Err(EncodingError::Unsupported(_))
        ));
        assert!(matches!(
            decode_body(Some("gzip"), b"not gzip", 10),
            Err(EncodingError::Corrupt {
                encoding: "gzip",
                ..
            })
        ));
    }
}
