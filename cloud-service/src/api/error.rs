//! Every HTTP error is JSON that names the problem: `{"error": "..."}`.
//!
//! A client's mistake is named in full. A failure on our side is not: its
//! text (SQL, paths, a server's message) goes to the log under a reference
//! that the answer carries, so an operator can find it and a caller learns
//! nothing about the inside.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
    pub extra: Option<serde_json::Value>,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
            extra: None,
        }
    }

    pub(crate) fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    pub(crate) fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, message)
    }

    /// A failure of ours: logged with a reference, answered without its text.
    pub(crate) fn internal(e: impl std::fmt::Display) -> Self {
        let r = reference();
        tracing::error!(error = %e, reference = %r, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("internal error (reference {r}: the cloud-service log has the cause)"),
        )
    }

    /// A part of an answer that failed after the request was accepted.
    pub fn upstream(e: impl std::fmt::Display) -> Self {
        let r = reference();
        tracing::error!(error = %e, reference = %r, "query part failed");
        Self::new(
            StatusCode::BAD_GATEWAY,
            format!(
                "a part of the answer failed (reference {r}: the cloud-service log has the cause)"
            ),
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut body = serde_json::json!({ "error": self.message, "status": self.status.as_u16() });
        if let (Some(extra), Some(obj)) = (self.extra, body.as_object_mut()) {
            if let Some(e) = extra.as_object() {
                obj.extend(e.clone());
            }
        }
        (self.status, axum::Json(body)).into_response()
    }
}

/// A reference unique within this process's life and across restarts
/// (start time in ms, then a counter).
fn reference() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::OnceLock;
    static START: OnceLock<i64> = OnceLock::new();
    static NEXT: AtomicU64 = AtomicU64::new(1);
    let start = *START.get_or_init(crate::clock::now_ms);
    format!("{start:x}-{}", NEXT.fetch_add(1, Ordering::Relaxed))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_internal_error_answers_without_its_text() {
        let e = ApiError::internal("SELECT secret FROM \"/var/lib/hot.db\": disk I/O error");
        assert_eq!(e.status, StatusCode::INTERNAL_SERVER_ERROR);
        assert!(
            !e.message.contains("secret") && !e.message.contains("/var"),
            "{}",
            e.message
        );
        assert!(e.message.contains("reference"), "{}", e.message);
        let a = ApiError::upstream("x").message;
        let b = ApiError::upstream("x").message;
        assert_ne!(a, b, "each failure gets its own reference");
    }
}
