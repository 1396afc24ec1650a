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
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    match Cli::parse().command {
        Command::Serve { config } => {
            let cfg = NasConfig::load(&config)?;
            let running = nas_gateway::start(cfg, shutdown_signal()).await?;
            // Tests and scripts read this line to learn the bound port.
            if let Some(h) = running.http_addr {
                println!("nas-gateway health and metrics on http://{h}");
            }
            println!("nas-gateway listening on {}", running.addr);
            running.task.await?;
            Ok(())
        }
        Command::CheckConfig { config } => {
            NasConfig::load(&config)?;
            println!("{}: ok", config.display());
            Ok(())
        }
    }
}

async fn shutdown_signal() {
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(s) => s,
        Err(_) => return std::future::pending().await,
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}
