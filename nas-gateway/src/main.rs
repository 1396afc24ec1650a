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
    /// Load a configuration and report whether it is valid.
    CheckConfig {
        #[arg(short, long, default_value = "config/nas.yaml")]
        config: PathBuf,
    },
}

#[tokio::main]
async fn main() {
    // Errors are for operators: the message chain, not a backtrace.
    if let Err(e) = run().await {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
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
        Command::CheckConfig { config } => {
            NasConfig::load(&config)?;
            println!("{}: ok", config.display());
            Ok(())
        }
    }
}
