//! ZooKeeper as the cluster edition uses it: one session, the layout under
//! the cluster's root, and the check that the root is ours.
//!
//! Layout under `cluster.root`:
//! `/meta` (what owns the subtree), `/replicas/<id>` (ephemeral, each
//! replica's address, role and what it has applied), `/leader` (ephemeral:
//! whoever created it archives), `/epoch` (each new leader bumps its
//! version: the fencing token), `/journal/<batch_id>`, `/floors/<table>`,
//! `/watermarks/<table>` (persistent, written only fenced by the leader).

use crate::config::ClusterConfig;
use std::time::Duration;
use zookeeper_client as zk;

pub(crate) use zk::{Client, Error as ZkError, SessionState};

/// What `/meta` holds: a subtree of someone else's is refused at start.
pub(crate) const PRODUCT: &str = "hotcold-cluster";

/// The children a root of ours may hold; anything else is another
/// product's data.
const OURS: &[&str] = &[
    "meta",
    "replicas",
    "leader",
    "epoch",
    "journal",
    "floors",
    "watermarks",
];

pub(crate) fn persistent() -> zk::CreateOptions<'static> {
    zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all())
}

pub(crate) fn ephemeral() -> zk::CreateOptions<'static> {
    zk::CreateMode::Ephemeral.with_acls(zk::Acls::anyone_all())
}

/// A new session, or a clear error naming the ensemble.
pub(crate) async fn connect(cfg: &ClusterConfig) -> Result<Client, String> {
    let t = cfg.session_timeout.0;
    let connecting = zk::Client::connector()
        .with_session_timeout(t)
        .with_connection_timeout(Duration::from_secs(2).min(t))
        .with_fail_eagerly()
        .connect(&cfg.zookeeper);
    match tokio::time::timeout(t + Duration::from_secs(2), connecting).await {
        Ok(Ok(c)) => Ok(c),
        Ok(Err(e)) => Err(format!(
            "cluster.zookeeper: cannot reach ZooKeeper at {}: {e}",
            cfg.zookeeper
        )),
        Err(_) => Err(format!(
            "cluster.zookeeper: no answer from ZooKeeper at {} within {}",
            cfg.zookeeper, cfg.session_timeout
        )),
    }
}

/// `root + rel`, e.g. `/hotcold/prod/floors/trades`.
pub(crate) fn path(root: &str, rel: &str) -> String {
    format!("{root}/{rel}")
}

/// Creates a persistent node unless it exists.
pub(crate) async fn ensure(c: &Client, path: &str, data: &[u8]) -> Result<(), ZkError> {
    match c.create(path, data, &persistent()).await {
        Ok(_) | Err(ZkError::NodeExists) => Ok(()),
        Err(e) => Err(e),
    }
}

/// The cloud's identity (see `archive::new_cloud_id`), shared by every
/// replica: set once by whichever replica comes first, to its own journal's
/// (so a pair that grows into a cluster keeps the identity its gateway
/// knows), read by the rest. Under `/meta`, whose children a replica of an
/// older version does not check, so a rolling upgrade can mix versions.
pub(crate) async fn cloud_id(c: &Client, root: &str, mine: &str) -> Result<String, String> {
    let at = path(root, "meta/cloud-id");
    let fresh = mine.to_string();
    let err = |e: ZkError| format!("cluster.root {root}: cloud id: {e}");
    ensure(c, &at, fresh.as_bytes()).await.map_err(err)?;
    let (data, _) = c.get_data(&at).await.map_err(err)?;
    let id = String::from_utf8_lossy(&data).into_owned();
    hotcold_core::manifest::check_cloud_id(&id)
        .map_err(|e| format!("cluster.root {root}: /cloud-id: {e}"))?;
    Ok(id)
}

/// Checks that the root is empty or ours for these tables, then creates
/// what is missing. A root holding another product's nodes, or a journal
/// of tables this config does not declare (another cluster's), is refused:
/// taking it over would archive or purge by someone else's state.
pub(crate) async fn prepare(c: &Client, root: &str, tables: &[String]) -> Result<(), String> {
    let err = |e: ZkError| format!("cluster.root {root}: {e}");
    let mut at = String::new();
    for part in root.trim_start_matches('/').split('/') {
        at.push('/');
        at.push_str(part);
        ensure(c, &at, b"").await.map_err(err)?;
    }
    let children = c.list_children(root).await.map_err(err)?;
    if let Some(other) = children.iter().find(|n| !OURS.contains(&n.as_str())) {
        return Err(format!(
            "cluster.root {root} holds {other:?}, which is not hotcold's: another product's data? choose an empty root"
        ));
    }
    let meta = path(root, "meta");
    match c.get_data(&meta).await {
        Ok((data, _)) if data == PRODUCT.as_bytes() => {}
        Ok((data, _)) => {
            return Err(format!(
                "cluster.root {root}: /meta says {:?}, not {PRODUCT:?}: not a hotcold cluster's root",
                String::from_utf8_lossy(&data)
            ))
        }
        Err(ZkError::NoNode) if children.is_empty() => {
            ensure(c, &meta, PRODUCT.as_bytes()).await.map_err(err)?
        }
        Err(ZkError::NoNode) => {
            return Err(format!(
                "cluster.root {root} holds nodes but no /meta: not created by hotcold; choose an empty root"
            ))
        }
        Err(e) => return Err(err(e)),
    }
    for dir in ["replicas", "journal", "floors", "watermarks"] {
        ensure(c, &path(root, dir), b"").await.map_err(err)?;
    }
    ensure(c, &path(root, "epoch"), b"").await.map_err(err)?;
    for t in tables {
        ensure(c, &path(root, &format!("floors/{t}")), b"")
            .await
            .map_err(err)?;
        ensure(c, &path(root, &format!("watermarks/{t}")), b"")
            .await
            .map_err(err)?;
    }
    // Batch ids start with their table's name (`plan`): a batch of a table
    // we do not declare is another cluster's journal.
    let batches = c.list_children(&path(root, "journal")).await.map_err(err)?;
    if let Some(b) = batches
        .iter()
        .find(|b| !tables.iter().any(|t| b.starts_with(&format!("{t}-"))))
    {
        return Err(format!(
            "cluster.root {root}: its journal holds batch {b}, of a table this config does not declare: another cluster's journal? give each cluster its own root"
        ));
    }
    Ok(())
}

/// A number kept as text in a node; an empty node is none yet.
pub(crate) fn parse_i64(data: &[u8]) -> Option<i64> {
    std::str::from_utf8(data).ok()?.trim().parse().ok()
}

/// The values under `dir` (floors or watermarks) for these tables.
pub(crate) async fn read_values(
    c: &Client,
    root: &str,
    dir: &str,
    tables: &[String],
) -> Result<std::collections::HashMap<String, i64>, ZkError> {
    let mut out = std::collections::HashMap::new();
    for t in tables {
        let (data, _) = c.get_data(&path(root, &format!("{dir}/{t}"))).await?;
        if let Some(v) = parse_i64(&data) {
            out.insert(t.clone(), v);
        }
    }
    Ok(out)
}
