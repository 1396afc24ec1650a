//! `cloud-service snapshot ...` and `cloud-service restore`: create asks
//! the running service (it holds the locks a point needs); list, verify,
//! delete and restore work on the snapshot directory itself, so they run
//! with the service stopped (restore must).

use crate::config::CloudConfig;
use clap::Subcommand;
use hotcold_snapshot::SnapshotStore;
use std::path::PathBuf;

#[derive(Subcommand)]
pub enum SnapshotCommand {
    /// Ask the running service for a snapshot of the hot store and the
    /// journal, and print it.
    Create {
        #[arg(long, default_value = "http://127.0.0.1:8080")]
        url: String,
        /// strict (ingest and archive held while the point is fixed, a
        /// few milliseconds), bounded (no pause; the reads within
        /// snapshot.bounded-skew of each other) or eventual (no pause).
        #[arg(long, default_value = "strict")]
        level: String,
        /// The cloud's tier only: do not ask the NAS for a snapshot of its
        /// cold store with it.
        #[arg(long)]
        hot_only: bool,
    },
    /// Ask the running service for a strict snapshot and send it to the
    /// NAS now (it also does so every snapshot.backup-every).
    Backup {
        #[arg(long, default_value = "http://127.0.0.1:8080")]
        url: String,
    },
    /// Compare the running service's journal with the gateway's ledger and
    /// repair what can be repaired without deleting a row (done once by
    /// itself at the first start after a restore).
    Reconcile {
        #[arg(long, default_value = "http://127.0.0.1:8080")]
        url: String,
        /// Only say what would be repaired.
        #[arg(long)]
        dry_run: bool,
    },
    /// The snapshots in snapshot.dir, oldest first.
    List {
        #[arg(short, long, default_value = "config/cloud.yaml")]
        config: PathBuf,
        #[arg(long)]
        json: bool,
    },
    /// Read every file of a snapshot back against its manifest.
    Verify {
        #[arg(short, long, default_value = "config/cloud.yaml")]
        config: PathBuf,
        id: String,
    },
    /// Remove a snapshot and the range files no other snapshot shares.
    Delete {
        #[arg(short, long, default_value = "config/cloud.yaml")]
        config: PathBuf,
        id: String,
    },
}

fn store(config: &std::path::Path) -> anyhow::Result<(CloudConfig, SnapshotStore)> {
    let cfg = CloudConfig::load(config)?;
    let s = SnapshotStore::open(&cfg.snapshot.dir)?;
    Ok((cfg, s))
}

fn bar(total: u64, what: &str) -> indicatif::ProgressBar {
    let b = indicatif::ProgressBar::new(total);
    b.set_style(
        indicatif::ProgressStyle::with_template(&format!(
            "{what} [{{bar:40}}] {{bytes}}/{{total_bytes}} eta {{eta}}"
        ))
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    b
}

/// Sends an admin request to the running service; its JSON answer, or an
/// error with the service's own words.
async fn post(
    req: reqwest::RequestBuilder,
    url: &str,
    what: &str,
) -> anyhow::Result<serde_json::Value> {
    let resp = req
        .send()
        .await
        .map_err(|e| anyhow::anyhow!("cannot reach {url}: {e}"))?;
    let status = resp.status();
    let body: serde_json::Value = resp.json().await.unwrap_or_default();
    anyhow::ensure!(
        status.is_success(),
        "{what} failed ({status}): {}",
        body["error"].as_str().unwrap_or("no answer")
    );
    Ok(body)
}

pub async fn run(cmd: SnapshotCommand, http: reqwest::Client) -> anyhow::Result<()> {
    match cmd {
        SnapshotCommand::Create {
            url,
            level,
            hot_only,
        } => {
            let url = format!("{}/v1/admin/snapshots", url.trim_end_matches('/'));
            let mut q = vec![("level", level)];
            if hot_only {
                q.push(("cold", "false".into()));
            }
            let body = post(http.post(&url).query(&q), &url, "snapshot").await?;
            println!("{}", serde_json::to_string_pretty(&body)?);
            if let Some(e) = body["cold_error"].as_str() {
                anyhow::bail!("the cloud's snapshot is taken, the NAS's is not: {e}");
            }
            Ok(())
        }
        SnapshotCommand::Backup { url } => {
            let url = format!("{}/v1/admin/backup", url.trim_end_matches('/'));
            let body = post(http.post(&url), &url, "backup").await?;
            println!("{}", serde_json::to_string_pretty(&body)?);
            Ok(())
        }
        SnapshotCommand::Reconcile { url, dry_run } => {
            let url = format!(
                "{}/v1/admin/reconcile?dry_run={dry_run}",
                url.trim_end_matches('/')
            );
            let body = post(http.post(&url), &url, "reconcile").await?;
            println!("{}", serde_json::to_string_pretty(&body)?);
            let lost = body["repairs"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|r| r["action"] == "lost")
                .count();
            anyhow::ensure!(lost == 0, "{lost} batches are in neither tier");
            Ok(())
        }
        SnapshotCommand::List { config, json } => {
            let (_, s) = store(&config)?;
            let all = s.list()?;
            if json {
                let v: Vec<_> = all
                    .iter()
                    .map(|l| match &l.manifest {
                        Ok(m) => super::summary(m),
                        Err(e) => serde_json::json!({ "id": l.id, "error": e }),
                    })
                    .collect();
                println!("{}", serde_json::to_string_pretty(&v)?);
                return Ok(());
            }
            for l in &all {
                match &l.manifest {
                    Ok(m) => println!(
                        "{:<32} {:<8} {:>12} rows {:>14} bytes ({} written){}",
                        m.id,
                        m.level.to_string(),
                        m.rows(),
                        m.bytes(),
                        m.bytes_written,
                        m.base
                            .as_ref()
                            .map(|b| format!(", shares with {b}"))
                            .unwrap_or_default()
                    ),
                    Err(e) => println!("{:<32} unusable: {e}", l.id),
                }
            }
            Ok(())
        }
        SnapshotCommand::Verify { config, id } => {
            let (_, s) = store(&config)?;
            let m = s.load(&id)?;
            let b = bar(m.bytes(), "verify");
            let v = s.verify(&id, &|n| b.inc(n))?;
            b.finish_and_clear();
            println!(
                "snapshot {id}: ok, {} ranges, {} rows, {} bytes read back",
                v.ranges, v.rows, v.bytes
            );
            Ok(())
        }
        SnapshotCommand::Delete { config, id } => {
            let (_, s) = store(&config)?;
            let freed = s.delete(&id)?;
            println!("snapshot {id} deleted; {freed} bytes freed");
            Ok(())
        }
    }
}

/// `cloud-service restore ID`: into the config's (fresh) data directory,
/// from `snapshot.dir` or `from` (a copy of the NAS's `snapshot-dir/cloud`).
pub async fn restore(
    config: &std::path::Path,
    id: &str,
    from: Option<&std::path::Path>,
) -> anyhow::Result<()> {
    let (cfg, s) = store(config)?;
    let s = match from {
        Some(d) => {
            anyhow::ensure!(d.is_dir(), "--from {}: no such directory", d.display());
            SnapshotStore::open(d)?
        }
        None => s,
    };
    let m = s.load(id)?;
    let verify = bar(m.bytes(), "verify ");
    let rows = indicatif::ProgressBar::new(m.rows());
    rows.set_style(
        indicatif::ProgressStyle::with_template("restore [{bar:40}] {pos}/{len} rows eta {eta}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    // The standalone edition's cold tier first (its restore finishes what
    // an earlier one began, if run again), so the hot tier and journal
    // never start without the cold windows they name.
    if let (Some(local), Some(c)) = (&cfg.cold, &m.cold) {
        let tier = nas_gateway::local::start(local).await?;
        let n = tier
            .gateway
            .restore_snapshot(cfg.snapshot.dir.join("cold"), c.id.clone())
            .await
            .map_err(|e| anyhow::anyhow!("the cold tier's snapshot {}: {e}", c.id))?;
        println!("cold tier: snapshot {} restored, {n} rows", c.id);
    }
    let (v2, r2) = (verify.clone(), rows.clone());
    let progress = std::sync::Arc::new(move |what: &str, n: u64| {
        if what == "verify" {
            v2.inc(n)
        } else {
            r2.inc(n)
        }
    });
    let r = match super::hot_source(&cfg)? {
        super::HotSource::Sqlite(_) => super::restore::restore(&cfg, &s, id, progress.as_ref())?,
        super::HotSource::Store => super::restore_store::restore(&cfg, &s, id, progress).await?,
    };
    verify.finish_and_clear();
    rows.finish_and_clear();
    println!("{}", serde_json::to_string_pretty(&r)?);
    Ok(())
}
