//! `nas-gateway snapshot create|list|verify|delete` and `nas-gateway
//! restore`, on the NAS itself (the gateway may run beside a create; a
//! restore wants it stopped, and an empty cold store).

use crate::config::NasConfig;
use crate::snapshot::{create, restore};
use crate::AnyCold;
use clap::Subcommand;
use hotcold_snapshot::SnapshotStore;
use std::path::{Path, PathBuf};

#[derive(Subcommand)]
pub enum SnapshotCommand {
    /// Copy every committed window of the cold store into snapshot-dir
    /// (windows already there from an earlier snapshot are shared).
    Create {
        #[arg(short, long, default_value = "config/nas.yaml")]
        config: PathBuf,
    },
    /// The snapshots in snapshot-dir, oldest first.
    List {
        #[arg(short, long, default_value = "config/nas.yaml")]
        config: PathBuf,
    },
    /// Read every range file of a snapshot back against its manifest.
    Verify {
        #[arg(short, long, default_value = "config/nas.yaml")]
        config: PathBuf,
        id: String,
    },
    /// Remove a snapshot and the range files no other snapshot shares.
    Delete {
        #[arg(short, long, default_value = "config/nas.yaml")]
        config: PathBuf,
        id: String,
    },
}

fn bar(what: &str) -> indicatif::ProgressBar {
    indicatif::ProgressBar::new(0).with_style(
        indicatif::ProgressStyle::with_template(&format!(
            "{what} {{bar:30}} {{pos}}/{{len}} windows, {{elapsed}} (eta {{eta}})"
        ))
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    )
}

fn open(config: &Path) -> anyhow::Result<(NasConfig, SnapshotStore)> {
    let cfg = NasConfig::load(config)?;
    // The NAS's own snapshots; the cloud's hot backups are in `cloud/`.
    let s = crate::backup::Backups::open(&cfg.snapshot_dir, cfg.snapshot_keep)?
        .nas()
        .clone();
    Ok((cfg, s))
}

pub async fn run(cmd: SnapshotCommand) -> anyhow::Result<()> {
    match cmd {
        SnapshotCommand::Create { config } => {
            let (cfg, snaps) = open(&config)?;
            let b = bar("snapshot");
            let p = |done, total| {
                b.set_length(total);
                b.set_position(done);
            };
            let m = match crate::open_cold(&cfg).await? {
                AnyCold::Sqlite(s) => create(&s, &snaps, p).await?,
                AnyCold::ClickHouse(c) => create(c.as_ref(), &snaps, p).await?,
            };
            b.finish_and_clear();
            println!(
                "{}",
                serde_json::to_string_pretty(&serde_json::json!({
                    "id": m.id, "windows": m.ranges.len(), "rows": m.rows(),
                    "bytes": m.bytes(), "bytes_written": m.bytes_written, "base": m.base,
                }))?
            );
            Ok(())
        }
        SnapshotCommand::List { config } => {
            let (_, snaps) = open(&config)?;
            for l in snaps.list()? {
                match l.manifest {
                    Ok(m) => println!(
                        "{:<32} {:>8} windows {:>12} rows {:>14} bytes ({} written)",
                        m.id,
                        m.ranges.len(),
                        m.rows(),
                        m.bytes(),
                        m.bytes_written
                    ),
                    Err(e) => println!("{:<32} unusable: {e}", l.id),
                }
            }
            Ok(())
        }
        SnapshotCommand::Verify { config, id } => {
            let (_, snaps) = open(&config)?;
            let v = snaps.verify(&id, &|_| {})?;
            println!(
                "snapshot {id}: ok, {} windows, {} rows, {} bytes read back",
                v.ranges, v.rows, v.bytes
            );
            Ok(())
        }
        SnapshotCommand::Delete { config, id } => {
            let (_, snaps) = open(&config)?;
            let freed = snaps.delete(&id)?;
            println!("snapshot {id} deleted; {freed} bytes freed");
            Ok(())
        }
    }
}

/// `nas-gateway restore ID`: into the config's cold store.
pub async fn restore_cmd(config: &Path, id: &str) -> anyhow::Result<()> {
    let (cfg, snaps) = open(config)?;
    let b = bar("restore");
    let p = |done, total| {
        b.set_length(total);
        b.set_position(done);
    };
    let r = match crate::open_cold(&cfg).await? {
        AnyCold::Sqlite(s) => restore(&s, &snaps, id, p).await?,
        AnyCold::ClickHouse(c) => restore(c.as_ref(), &snaps, id, p).await?,
    };
    b.finish_and_clear();
    println!("{}", serde_json::to_string_pretty(&r)?);
    Ok(())
}
