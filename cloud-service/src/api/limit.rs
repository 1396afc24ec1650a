//! Per-endpoint concurrency: each group of routes (ingest; query, bars and
//! aggregate) serves at most its configured number of requests at once. A
//! request over the limit gets 503 with Retry-After at once rather than a
//! place in an unbounded queue. A permit is held until the answer's body
//! has been sent (a streamed query holds its hot read and cold stream that
//! long), not only until the handler returns.

use super::error::ApiError;
use axum::body::Body;
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use std::sync::Arc;
use tokio::sync::Semaphore;

/// One group's permits and the config key that sets them.
#[derive(Clone)]
pub struct Limit {
    pub permits: Arc<Semaphore>,
    pub max: usize,
    pub key: &'static str,
}

impl Limit {
    pub fn new(max: usize, key: &'static str) -> Self {
        Self {
            permits: Arc::new(Semaphore::new(max.max(1))),
            max: max.max(1),
            key,
        }
    }
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
    let (parts, body) = next.run(req).await.into_parts();
    // The permit rides along with the body and is released when it is
    // dropped: after the last byte, or when the client goes away.
    let body = body.into_data_stream().map(move |chunk| {
        let _held = &permit;
        chunk
    });
    Response::from_parts(parts, Body::from_stream(body))
}
