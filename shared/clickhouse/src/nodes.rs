//! The nodes of one cluster a service may talk to: the configured `url`
//! first, then `failover`, each its own connection. Calls go to the node in
//! use; one that cannot be reached hands the call to the next, which stays
//! in use. Shared by the cloud's hot store and the gateway's cold store.
//!
//! Only a request that never reached a server moves on (refused,
//! unreachable): nothing of it ran there, so any statement, an insert too,
//! may run on another node. A statement that failed on a server is that
//! server's answer and is returned as is.

use crate::{ChError, ChTables, Connection, Result};
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

#[derive(Clone)]
pub struct Nodes {
    /// Never empty: the configured node comes first.
    nodes: Arc<Vec<ChTables>>,
    /// Each node's URL, in the same order.
    urls: Arc<Vec<String>>,
    current: Arc<AtomicUsize>,
}

/// The request never reached a server (see the module).
pub fn not_reached(e: &ChError) -> bool {
    matches!(e, ChError::Server(m) if m.starts_with("network error") && m.contains("Connect"))
}

impl Nodes {
    /// Connects to `c.url` and to every failover node, so a wrong URL shows
    /// at the start, not in the outage it was meant for.
    pub async fn connect(c: &Connection, default_database: &str) -> Result<Self> {
        let mut nodes = vec![ChTables::connect(c, default_database).await?];
        let mut urls = vec![c.url.clone()];
        for url in &c.failover {
            let other = Connection {
                url: url.clone(),
                ..c.clone()
            };
            let t = ChTables::connect(&other, default_database)
                .await
                .map_err(|e| ChError::Other(format!("failover node {url}: {e}")))?;
            nodes.push(t);
            urls.push(url.clone());
        }
        Ok(Self {
            nodes: Arc::new(nodes),
            urls: Arc::new(urls),
            current: Arc::new(AtomicUsize::new(0)),
        })
    }

    /// Every node's client with `name = value` on each statement.
    pub fn with_setting(self, name: &str, value: &str) -> Self {
        let nodes = self
            .nodes
            .iter()
            .map(|t| ChTables {
                client: t.client.clone().with_setting(name, value),
                ..t.clone()
            })
            .collect();
        Self {
            nodes: Arc::new(nodes),
            ..self
        }
    }

    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    pub fn is_empty(&self) -> bool {
        false
    }

    /// The node in use.
    pub fn current(&self) -> &ChTables {
        &self.nodes[self.current.load(Ordering::Relaxed) % self.nodes.len()]
    }

    /// Every node, the one in use first: (index, node).
    pub fn in_turn(&self) -> impl Iterator<Item = (usize, &ChTables)> {
        let start = self.current.load(Ordering::Relaxed);
        (0..self.nodes.len()).map(move |k| {
            let i = (start + k) % self.nodes.len();
            (i, &self.nodes[i])
        })
    }

    /// Makes node `i` (of `in_turn`) the one in use.
    pub fn use_node(&self, i: usize) {
        self.current.store(i, Ordering::Relaxed);
    }

    /// Runs `f` on the node in use, or on the next that can be reached.
    pub async fn run<T, F, Fut>(&self, f: F) -> Result<T>
    where
        F: Fn(ChTables) -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        let mut last = None;
        for (k, (i, node)) in self.in_turn().enumerate() {
            match f(node.clone()).await {
                Err(e) if not_reached(&e) && self.nodes.len() > 1 => {
                    tracing::warn!(node = i, error = %e, "ClickHouse node does not answer; trying the next");
                    last = Some(e);
                }
                r => {
                    if k > 0 {
                        self.use_node(i);
                    }
                    return r;
                }
            }
        }
        Err(last.unwrap_or_else(|| ChError::Other("no ClickHouse node configured".into())))
    }

    /// Asks every node for `SELECT 1`, all at once and each for at most
    /// `within`: each node's URL and, if it does not answer, why (for health
    /// pages, which a node that hangs must not hold up).
    pub async fn probe(&self, within: std::time::Duration) -> Vec<(String, Option<String>)> {
        let asks = self
            .urls
            .iter()
            .zip(self.nodes.iter())
            .map(|(url, t)| async move {
                let why = match tokio::time::timeout(within, t.text("SELECT 1")).await {
                    Ok(Ok(_)) => None,
                    Ok(Err(e)) => Some(e.to_string()),
                    Err(_) => Some(format!("no answer within {} ms", within.as_millis())),
                };
                (url.clone(), why)
            });
        futures::future::join_all(asks).await
    }

    /// Finds a node that answers and makes it the one in use, for a call
    /// that cannot be repeated on another node once started (a streamed
    /// insert consumes its rows).
    pub async fn reachable(&self) -> Result<ChTables> {
        self.run(|t| async move { t.text("SELECT 1").await.map(|_| t) })
            .await
    }
}
