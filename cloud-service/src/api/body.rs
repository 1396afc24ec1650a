//! Reading an ingest request's body: within `ingest.max-time` and
//! `ingest.max-body`, drained past the bound so the client hears the 413,
//! and inflated when it came with a gzip or zstd `Content-Encoding`.

use super::error::ApiError;
use super::state::AppState;
use axum::body::{Body, Bytes};
use axum::http::StatusCode;

/// How much of a body over `ingest.max-body` is read and thrown away
/// before the 413: a client still sending when the server hangs up gets a
/// connection reset instead of the answer that says what to change.
const DRAIN_BYTES: usize = 64 << 20;

/// Why a body was not read whole.
enum Unread {
    TooBig,
    Broken(String),
}

/// Reads up to `max` bytes; past that, drains up to `DRAIN_BYTES` more.
async fn read_limited(mut body: Body, max: usize) -> Result<Bytes, Unread> {
    use http_body_util::BodyExt;
    let mut buf = bytes::BytesMut::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| Unread::Broken(e.to_string()))?;
        let Ok(data) = frame.into_data() else {
            continue; // trailers
        };
        if buf.len() + data.len() > max {
            let mut drained = 0;
            while drained < DRAIN_BYTES {
                match body.frame().await {
                    Some(Ok(f)) => drained += f.data_ref().map_or(0, Bytes::len),
                    _ => break,
                }
            }
            return Err(Unread::TooBig);
        }
        buf.extend_from_slice(&data);
    }
    Ok(buf.freeze())
}

/// The body, read within `ingest.max-time` and `ingest.max-body`. Only
/// the reading is timed: once the insert begins it is waited for, so an
/// answer never says "failed" for rows that land.
pub(super) async fn read_body(st: &AppState, body: Body) -> Result<Bytes, ApiError> {
    let (max_time, max_body) = (st.cfg.ingest.max_time.0, st.cfg.ingest.max_body);
    let deadline = super::limit::deadline_after(max_time);
    match tokio::time::timeout_at(deadline, read_limited(body, max_body.0 as usize)).await {
        Err(_) => Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "{}; nothing of this request was stored",
                super::limit::too_slow(max_time, "ingest.max-time")
            ),
        )),
        Ok(Err(Unread::TooBig)) => Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("the body is over ingest.max-body ({max_body}); send smaller requests"),
        )),
        Ok(Err(Unread::Broken(e))) => Err(ApiError::bad_request(format!(
            "the body could not be read: {e}"
        ))),
        Ok(Ok(b)) => Ok(b),
    }
}

/// The body as the collector meant it: a gzip or zstd `Content-Encoding`
/// inflated (on a blocking thread; it is CPU work), at most
/// `ingest.max-body` of it.
pub(super) async fn inflate(
    st: &AppState,
    encoding: Option<String>,
    body: Bytes,
) -> Result<Bytes, ApiError> {
    use hotcold_core::ingest::{decode_body, EncodingError};
    let Some(encoding) = encoding else {
        return Ok(body);
    };
    let max_body = st.cfg.ingest.max_body;
    let max = max_body.0 as usize;
    let inflated = tokio::task::spawn_blocking(move || {
        decode_body(Some(&encoding), &body, max).map(|b| match b {
            std::borrow::Cow::Borrowed(_) => body.clone(),
            std::borrow::Cow::Owned(v) => Bytes::from(v),
        })
    })
    .await
    .map_err(ApiError::internal)?;
    inflated.map_err(|e| match e {
        EncodingError::Unsupported(_) => {
            ApiError::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, e.to_string())
        }
        EncodingError::Corrupt { .. } => ApiError::bad_request(e.to_string()),
        EncodingError::TooLarge { .. } => ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("the body inflates past ingest.max-body ({max_body}); send smaller requests"),
        ),
    })
}
