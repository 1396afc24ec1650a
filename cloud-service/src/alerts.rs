//! Alerts: a JSON POST to the operator's webhook when something needs a
//! human. Each kind of alert for each subject is sent at most once per
//! `alerts.repeat` (a failing nightly run alerts once, not every minute).
//!
//! Kinds: `batch_failed` (cold did not match hot; nothing was deleted),
//! `spool_full` (export stopped at the spool budget), `link_down` (the NAS
//! unreachable longer than `alerts.link-down-after`), `hot_too_old` (hot
//! holds rows older than its retention plus `alerts.hot-grace`),
//! `batch_stuck` (a batch failed for good, or its attempts keep failing:
//! what `/health` lists under `batches`).

use crate::config::AlertsConfig;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

pub(crate) struct Alerter {
    cfg: AlertsConfig,
    http: reqwest::Client,
    sent: Mutex<HashMap<String, Instant>>,
}

impl Alerter {
    pub fn new(cfg: AlertsConfig) -> Self {
        let http = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(10))
            .build()
            .unwrap_or_default();
        Self {
            cfg,
            http,
            sent: Mutex::new(HashMap::new()),
        }
    }

    pub fn config(&self) -> &AlertsConfig {
        &self.cfg
    }

    /// Sends unless the same kind and subject went out within `repeat`.
    pub async fn send(&self, kind: &str, subject: &str, detail: serde_json::Value) {
        let Some(url) = &self.cfg.webhook else { return };
        let key = format!("{kind}/{subject}");
        {
            let mut sent = self.sent.lock().unwrap_or_else(|p| p.into_inner());
            if sent
                .get(&key)
                .is_some_and(|t| t.elapsed() < self.cfg.repeat.0)
            {
                return;
            }
            sent.insert(key, Instant::now());
        }
        let body = serde_json::json!({
            "source": "cloud-service",
            "kind": kind,
            "subject": subject,
            "at": hotcold_core::time::format_timestamp_ms(
                crate::clock::now_ms()
            ),
            "detail": detail,
        });
        tracing::warn!(kind, subject, "alert");
        match self.http.post(url).json(&body).send().await {
            Ok(r) if r.status().is_success() => {}
            Ok(r) => tracing::error!(status = %r.status(), "alert webhook refused the alert"),
            Err(e) => tracing::error!(error = %e, "alert webhook unreachable"),
        }
    }
}
