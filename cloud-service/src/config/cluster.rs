//! `cluster:` in cloud.yaml: the ZooKeeper that elects one archiver among
//! several replicas. Without the section the service runs alone, as before.

use hotcold_core::units::Span;
use serde::Deserialize;
use std::time::Duration;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ClusterConfig {
    /// `host:port[,host:port...]` of the ZooKeeper ensemble.
    pub zookeeper: String,
    /// The cluster's own subtree, e.g. `/hotcold/prod`: one per cluster.
    pub root: String,
    /// This replica's name, unique in the cluster.
    pub replica_id: String,
    /// How long ZooKeeper keeps a silent replica's session (and its lease).
    #[serde(default = "default_session_timeout")]
    pub session_timeout: Span,
    /// The HTTP address other replicas and operators reach this one at;
    /// the listening address when left out.
    #[serde(default)]
    pub advertise: Option<String>,
}

fn default_session_timeout() -> Span {
    Span(Duration::from_secs(6))
}

impl ClusterConfig {
    pub(crate) fn validate(&self) -> Result<(), String> {
        if self.zookeeper.trim().is_empty() {
            return Err("cluster.zookeeper: no ZooKeeper address (host:port[,host:port])".into());
        }
        let r = &self.root;
        if !r.starts_with('/') || r.len() < 2 || r.ends_with('/') || r.contains("//") {
            return Err(format!(
                "cluster.root: {r:?} is not an absolute ZooKeeper path like /hotcold/prod"
            ));
        }
        let id = &self.replica_id;
        if id.is_empty()
            || !id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        {
            return Err(format!(
                "cluster.replica-id: {id:?} must be letters, digits, '-', '_' or '.'"
            ));
        }
        let t = self.session_timeout.0;
        if t < Duration::from_secs(1) || t > Duration::from_secs(120) {
            return Err(format!(
                "cluster.session-timeout: {} is outside 1s..120s",
                self.session_timeout
            ));
        }
        Ok(())
    }
}
