//! Per-endpoint concurrency: each group of routes (ingest; query, bars and
//! aggregate) serves at most its configured number of requests at once. A
//! request over the limit gets 503 with Retry-After at once rather than a
//! place in an unbounded queue. A permit is held until the answer's body
//! has been sent (a streamed query holds its hot read and cold stream that
//! long), not only until the handler returns.
//!
//! Queries also have a time limit for the whole exchange, answer sent
//! included: past it, a query still in its handler gets 503 naming the
//! limit, and an answer being streamed is aborted (the client sees a cut
//! body, never a short one taken for whole), which drops the query's parts.
//! Ingest bounds only the reading of its body (`ingest.rs`): a handler cut
//! after its insert began would answer 503 for rows that still land, and a
//! client's retry would store them twice.

use super::error::ApiError;
use axum::body::Body;
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use hotcold_core::units::Span;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;
use tokio::time::Instant;

/// One group's permits and time limit, and the config keys that set them.
#[derive(Clone)]
pub struct Limit {
    pub permits: Arc<Semaphore>,
    pub max: usize,
    pub key: &'static str,
    /// The whole exchange's limit and its key, if this group has one.
    pub max_time: Option<(Duration, &'static str)>,
}

impl Limit {
    pub fn new(max: usize, key: &'static str) -> Self {
        Self {
            permits: Arc::new(Semaphore::new(max.max(1))),
            max: max.max(1),
            key,
            max_time: None,
        }
    }

    /// Bounds the whole exchange, answer included, by `max_time`.
    pub fn with_time(mut self, max_time: Duration, time_key: &'static str) -> Self {
        self.max_time = Some((max_time, time_key));
        self
    }
}

/// The text of a request cut at its time limit.
pub(super) fn too_slow(max_time: Duration, key: &str) -> String {
    format!("the request took longer than {key} ({})", Span(max_time))
}

/// `now + d`, or a year from now if that is past what an Instant holds.
pub(super) fn deadline_after(d: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(d)
        .unwrap_or_else(|| now + Duration::from_secs(365 * 86_400))
}

pub async fn limit(
    axum::extract::State(l): axum::extract::State<Limit>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let Ok(permit) = l.permits.clone().try_acquire_owned() else {
        let mut r = ApiError::new(
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "{} requests of this kind are in progress ({} = {}); retry shortly",
                l.max, l.key, l.max
            ),
        )
        .into_response();
        r.headers_mut().insert(
            axum::http::header::RETRY_AFTER,
            axum::http::HeaderValue::from_static("1"),
        );
        return r;
    };
    let Some((max_time, time_key)) = l.max_time else {
        let (parts, body) = next.run(req).await.into_parts();
        // The permit rides along with the body and is released when it is
        // dropped: after the last byte, or when the client goes away.
        let body = body.into_data_stream().map(move |chunk| {
            let _held = &permit;
            chunk
        });
        return Response::from_parts(parts, Body::from_stream(body));
    };
    let deadline = deadline_after(max_time);
    let late = too_slow(max_time, time_key);
    let Ok(resp) = tokio::time::timeout_at(deadline, next.run(req)).await else {
        tracing::warn!(limit = time_key, "request over its time limit");
        return ApiError::new(axum::http::StatusCode::SERVICE_UNAVAILABLE, late).into_response();
    };
    let (parts, body) = resp.into_parts();
    // The permit rides along with the body and is released when it is
    // dropped: after the last byte, at the deadline, or when the client
    // goes away.
    let body = futures::stream::unfold(Some((body.into_data_stream(), permit)), move |state| {
        let late = late.clone();
        async move {
            let (mut body, permit) = state?;
            // Checked before each chunk, not only while waiting for one: a
            // reader slow but steady always finds the next chunk ready.
            if Instant::now() >= deadline {
                tracing::warn!("answer cut: {late}");
                return Some((Err(BoxError::from(late)), None));
            }
            match tokio::time::timeout_at(deadline, body.next()).await {
                Ok(Some(Ok(chunk))) => Some((Ok(chunk), Some((body, permit)))),
                Ok(Some(Err(e))) => Some((Err(BoxError::from(e)), None)),
                Ok(None) => None,
                Err(_) => {
                    tracing::warn!("answer cut: {late}");
                    Some((Err(BoxError::from(late)), None))
                }
            }
        }
    });
    Response::from_parts(parts, Body::from_stream(body))
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;
