//! Sending an answer: whole when it is small (with the truncation flag and
//! row counts in headers), else streamed as it is read. A part failing
//! mid-stream aborts the body, so a cut answer is never taken for whole.

use super::encode::Encoder;
use super::error::ApiError;
use super::state::AppState;
use crate::router::{Answer, Item};
use axum::body::Body;
use axum::http::{header, HeaderValue};
use axum::response::Response;

/// Answers up to this size are sent whole, with the truncation flag and
/// row counts in headers.
pub(crate) const WHOLE_BYTES: usize = 1 << 20;

/// Sends the answer whole if it is small, else streams it.
pub(super) async fn respond(
    ans: Answer,
    mut enc: Encoder,
    missing_header: String,
    st: &AppState,
) -> Result<Response, ApiError> {
    let Answer { head, mut items } = ans;
    let ctype = enc.format.content_type();
    let mut buf = Vec::new();
    enc.begin(&head, &mut buf).map_err(ApiError::internal)?;
    let mut tail = None;
    while buf.len() <= WHOLE_BYTES && !enc.streaming() {
        match items.recv().await {
            Some(Item::Rows(b)) => enc.batch(&b, &mut buf).map_err(ApiError::internal)?,
            Some(Item::Columns(c)) => enc.columns(c, &mut buf).map_err(ApiError::internal)?,
            // The NAS's part is a gateway's failure; the hot store's is ours.
            Some(Item::Failed { cold: true, error }) => return Err(ApiError::upstream(error)),
            Some(Item::Failed { cold: false, error }) => {
                return Err(ApiError::internal(error));
            }
            Some(Item::Done(t)) => {
                enc.end(&head, &t, &mut buf).map_err(ApiError::internal)?;
                tail = Some(t);
                break;
            }
            None => return Err(ApiError::internal("query ended without an answer")),
        }
    }
    let body = match &tail {
        Some(_) => Body::from(buf),
        None => {
            st.counters
                .queries_streamed
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let first = bytes::Bytes::from(buf);
            let rest = futures::stream::unfold(
                (items, enc, head.clone(), false),
                |(mut items, mut enc, head, done)| async move {
                    if done {
                        return None;
                    }
                    let mut out = Vec::new();
                    let aborted = |error: super::encode::EncodeError| {
                        tracing::error!(%error, "streamed answer aborted");
                        Err(std::io::Error::other(error))
                    };
                    let (chunk, done) = match items.recv().await {
                        Some(Item::Rows(b)) => match enc.batch(&b, &mut out) {
                            Ok(()) => (Ok(bytes::Bytes::from(out)), false),
                            Err(error) => (aborted(error), true),
                        },
                        Some(Item::Columns(c)) => match enc.columns(c, &mut out) {
                            Ok(()) => (Ok(bytes::Bytes::from(out)), false),
                            Err(error) => (aborted(error), true),
                        },
                        Some(Item::Done(t)) => match enc.end(&head, &t, &mut out) {
                            Ok(()) => (Ok(bytes::Bytes::from(out)), true),
                            Err(error) => (aborted(error), true),
                        },
                        // Aborting the body tells the client the answer is cut.
                        Some(Item::Failed { error, .. }) => {
                            tracing::error!(%error, "streamed answer aborted");
                            (Err(std::io::Error::other(error)), true)
                        }
                        None => (
                            Err(std::io::Error::other("query ended without an answer")),
                            true,
                        ),
                    };
                    Some((chunk, (items, enc, head, done)))
                },
            );
            let all = futures::StreamExt::chain(
                futures::stream::once(async move { Ok::<_, std::io::Error>(first) }),
                rest,
            );
            Body::from_stream(all)
        }
    };
    let mut resp = Response::new(body);
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(ctype));
    if let Some(wm) = head.watermark {
        h.insert("x-hotcold-watermark", HeaderValue::from(wm));
    }
    if !missing_header.is_empty() {
        if let Ok(v) = HeaderValue::from_str(&missing_header) {
            h.insert("x-hotcold-missing", v);
        }
    }
    if head.cold_cached {
        h.insert("x-hotcold-cache", HeaderValue::from_static("hit"));
    }
    match &tail {
        Some(t) => {
            h.insert("x-hotcold-hot-rows", HeaderValue::from(t.hot_rows));
            h.insert("x-hotcold-cold-rows", HeaderValue::from(t.cold_rows));
            if t.truncated {
                h.insert("x-hotcold-truncated", HeaderValue::from_static("true"));
            }
        }
        None => {
            h.insert("x-hotcold-streamed", HeaderValue::from_static("true"));
        }
    }
    Ok(resp)
}
