//! Per-endpoint concurrency: each group of routes (ingest; query, bars and
//! aggregate) serves at most its configured number of requests at once. A
//! request over the limit gets 503 with Retry-After at once rather than a
//! place in an unbounded queue. A permit is held until the answer's body
//! has been sent (a streamed query holds its hot read and cold stream that
//! long), not only until the handler returns.
//!
//! The same groups have a time limit for the whole exchange, body read and
//! answer sent: past it, a request still in its handler gets 503 naming the
//! limit, and an answer being streamed is aborted (the client sees a cut
//! body, never a short one taken for whole), which drops the query's parts.

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
    pub max_time: Duration,
    pub time_key: &'static str,
}

impl Limit {
    pub fn new(max: usize, key: &'static str, max_time: Duration, time_key: &'static str) -> Self {
        Self {
            permits: Arc::new(Semaphore::new(max.max(1))),
            max: max.max(1),
            key,
            max_time,
            time_key,
        }
    }

    fn too_slow(&self) -> String {
        format!(
            "the request took longer than {} ({})",
            self.time_key,
            Span(self.max_time)
        )
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
    let deadline = Instant::now() + l.max_time;
    let Ok(resp) = tokio::time::timeout_at(deadline, next.run(req)).await else {
        tracing::warn!(limit = l.time_key, "request over its time limit");
        return ApiError::new(axum::http::StatusCode::SERVICE_UNAVAILABLE, l.too_slow())
            .into_response();
    };
    let (parts, body) = resp.into_parts();
    // The permit rides along with the body and is released when it is
    // dropped: after the last byte, at the deadline, or when the client
    // goes away.
    let late = l.too_slow();
    let body = futures::stream::unfold(Some((body.into_data_stream(), permit)), move |state| {
        let late = late.clone();
        async move {
            let (mut body, permit) = state?;
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
