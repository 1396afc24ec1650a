use clap::{Parser, Subcommand};
use nas_gateway::config::NasConfig;
use std::path::PathBuf;

/// The NAS side of hotcold: keeps years of cold market data and serves it to
/// the cloud over a mutually authenticated QUIC link.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the gateway until SIGINT or SIGTERM.
    Serve {
        /// The YAML configuration (see config/nas.yaml).
        #[arg(short, long, default_value = "config/nas.yaml")]
        config: PathBuf,
    },
    /// Drop cold partitions older than cold-retention (list them with --dry-run).
    Retention {
        #[arg(short, long, default_value = "config/nas.yaml")]
        config: PathBuf,
        /// Only list what would be dropped.
        #[arg(long)]
        dry_run: bool,
    },
    /// Re-read every committed cold window and check it against the ledger;
    /// exits 1 and names the windows if any differ.
    Scrub {
        #[arg(short, long, default_value = "config/nas.yaml")]
        config: PathBuf,
        /// Only this table.
        #[arg(long)]
        table: Option<String>,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Write the committed days of a table as Parquet files,
    /// OUT/TABLE/date=YYYY-MM-DD/part.parquet, each checked against the
    /// ledger's count and content hash before it takes its place (read them
    /// with duckdb: SELECT * FROM 'OUT/trades/*/*.parquet'). Exits 1 naming
    /// any day that does not match; no file of that day is written.
    Export {
        #[arg(short, long, default_value = "config/nas.yaml")]
        config: PathBuf,
        /// The table to export.
        #[arg(long)]
        table: String,
        /// First day (YYYY-MM-DD, or a time: epoch ms, RFC 3339 with any
        /// offset; its whole UTC day is included). Default: the oldest.
        #[arg(long)]
        from: Option<String>,
        /// End, exclusive (the same forms). Default: no end.
        #[arg(long)]
        to: Option<String>,
        /// The directory the tree is written under (made if missing).
        #[arg(long)]
        out: PathBuf,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Snapshots of the cold store: create, list, verify, delete.
    Snapshot {
        #[command(subcommand)]
        command: nas_gateway::snapshot_cli::SnapshotCommand,
    },
    /// Restore a snapshot into the config's cold store (stop the gateway
    /// first); a restore stopped part-way is finished by running it again.
    Restore {
        #[arg(short, long, default_value = "config/nas.yaml")]
        config: PathBuf,
        id: String,
    },
    /// Load a configuration and report whether it is valid.
    CheckConfig {
        #[arg(short, long, default_value = "config/nas.yaml")]
        config: PathBuf,
    },
}

#[tokio::main]
async fn main() {
    hotcold_link::process::exit_on_error(run().await);
}

async fn run() -> anyhow::Result<()> {
    hotcold_link::process::init_logging();
    match Cli::parse().command {
        Command::Serve { config } => {
            let cfg = NasConfig::load(&config)?;
            let running = nas_gateway::start(cfg, hotcold_link::process::shutdown_signal()).await?;
            // Tests and scripts read this line to learn the bound port.
            if let Some(h) = running.http_addr {
                println!("nas-gateway health and metrics on http://{h}");
            }
            println!("nas-gateway listening on {}", running.addr);
            running.task.await?;
            Ok(())
        }
        Command::Retention { config, dry_run } => {
            let cfg = NasConfig::load(&config)?;
            let cutoff = nas_gateway::retention::now_ms() - cfg.cold_retention.0.as_millis() as i64;
            let list = match nas_gateway::open_cold(&cfg).await? {
                nas_gateway::AnyCold::Sqlite(s) => {
                    nas_gateway::retention::enforce(&s, cutoff, dry_run).await?
                }
                nas_gateway::AnyCold::ClickHouse(c) => {
                    nas_gateway::retention::enforce(c.as_ref(), cutoff, dry_run).await?
                }
            };
            let verb = if dry_run { "would drop" } else { "dropped" };
            println!(
                "cold retention {}: {verb} {} partitions older than {}",
                cfg.cold_retention,
                list.len(),
                hotcold_core::time::format_timestamp_ms(cutoff)
            );
            for e in &list {
                println!(
                    "  {}\t{}\t{} .. {}",
                    e.table,
                    e.partition,
                    hotcold_core::time::format_timestamp_ms(e.window.start),
                    hotcold_core::time::format_timestamp_ms(e.window.end)
                );
            }
            Ok(())
        }
        Command::Scrub {
            config,
            table,
            json,
        } => {
            let cfg = NasConfig::load(&config)?;
            let bar = indicatif::ProgressBar::new(0).with_style(
                indicatif::ProgressStyle::with_template(
                    "scrub {bar:30} {pos}/{len} windows, {elapsed} (eta {eta})",
                )
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
            let progress = |done: u64, total: u64| {
                bar.set_length(total);
                bar.set_position(done);
            };
            let t = table.as_deref();
            let report = match nas_gateway::open_cold(&cfg).await? {
                nas_gateway::AnyCold::Sqlite(s) => {
                    nas_gateway::scrub::scrub(&s, t, progress).await?
                }
                nas_gateway::AnyCold::ClickHouse(c) => {
                    nas_gateway::scrub::scrub(c.as_ref(), t, progress).await?
                }
            };
            bar.finish_and_clear();
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                println!(
                    "scrub: {} windows, {} rows checked; {} match the ledger, {} do not; {} expired by cold retention (not checked)",
                    report.windows,
                    report.rows,
                    report.ok,
                    report.mismatched.len(),
                    report.expired
                );
                for m in &report.mismatched {
                    println!(
                        "  MISMATCH {} {} .. {} (batch {}): {}",
                        m.table,
                        hotcold_core::time::format_timestamp_ms(m.window.start),
                        hotcold_core::time::format_timestamp_ms(m.window.end),
                        m.batch_id,
                        m.reason
                    );
                }
            }
            if !report.is_clean() {
                std::process::exit(1);
            }
            Ok(())
        }
        Command::Export {
            config,
            table,
            from,
            to,
            out,
            json,
        } => export(config, table, from, to, out, json).await,
        Command::Snapshot { command } => nas_gateway::snapshot_cli::run(command).await,
        Command::Restore { config, id } => {
            nas_gateway::snapshot_cli::restore_cmd(&config, &id).await
        }
        Command::CheckConfig { config } => {
            let cfg = NasConfig::load(&config)?;
            nas_gateway::preflight(&cfg)
                .map_err(|e| anyhow::anyhow!("{}: {e:#}", config.display()))?;
            println!("{}: ok", config.display());
            Ok(())
        }
    }
}

/// A `--from`/`--to` value: a date or a UTC instant, in epoch ms.
fn instant(flag: &str, v: Option<&str>, default: i64) -> anyhow::Result<i64> {
    match v {
        None => Ok(default),
        Some(v) => hotcold_core::time::parse_instant_ms(v)
            .map_err(|e| anyhow::anyhow!("--{flag} {v:?}: {e}")),
    }
}

async fn export(
    config: PathBuf,
    table: String,
    from: Option<String>,
    to: Option<String>,
    out: PathBuf,
    json: bool,
) -> anyhow::Result<()> {
    use hotcold_core::schema::Window;
    let cfg = NasConfig::load(&config)?;
    // A window counts if it lies inside the range; --from names a day, so
    // its whole day starts there.
    let start = Window::day_of(instant("from", from.as_deref(), 0)?).start;
    let end = instant("to", to.as_deref(), i64::MAX)?;
    if start >= end {
        anyhow::bail!("--from must be before --to");
    }
    let range = Window::new(start, end);
    let bar = indicatif::ProgressBar::new(0).with_style(
        indicatif::ProgressStyle::with_template(
            "export {bar:30} {pos}/{len} days, {msg} rows, {elapsed} (eta {eta})",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let progress = |done: u64, total: u64, rows: u64| {
        bar.set_length(total);
        bar.set_position(done);
        bar.set_message(rows.to_string());
    };
    use nas_gateway::export::export;
    let report = match nas_gateway::open_cold(&cfg).await? {
        nas_gateway::AnyCold::Sqlite(s) => export(&s, &table, range, &out, progress).await?,
        nas_gateway::AnyCold::ClickHouse(c) => {
            export(c.as_ref(), &table, range, &out, progress).await?
        }
    };
    bar.finish_and_clear();
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!(
            "export {table}: {} days, {} files, {} rows, {} bytes under {}; {} empty days (no file), {} expired by cold retention, {} refused",
            report.days,
            report.files,
            report.rows,
            report.bytes,
            out.join(&table).display(),
            report.empty,
            report.expired,
            report.refused.len()
        );
        for r in &report.refused {
            println!("  REFUSED {} (batch {}): {}", r.day, r.batch_id, r.reason);
        }
        if report.stale_removed > 0 {
            println!(
                "  removed {} temporary files left by an export that died mid-file",
                report.stale_removed
            );
        }
    }
    if !report.is_clean() {
        std::process::exit(1);
    }
    Ok(())
}
