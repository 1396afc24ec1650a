use clap::{Parser, Subcommand};
use cloud_service::config::CloudConfig;
use std::path::PathBuf;

/// The cloud side of hotcold: HTTP ingest and queries over hot (cloud) and
/// cold (NAS) market data, and the archive that moves old windows to the NAS.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the HTTP service until SIGINT or SIGTERM.
    Serve {
        /// The YAML configuration (see config/cloud.yaml).
        #[arg(short, long, default_value = "config/cloud.yaml")]
        config: PathBuf,
    },
    /// Ask a running service to archive now, and print the report.
    Archive {
        /// The service's HTTP address.
        #[arg(long, default_value = "http://127.0.0.1:8080")]
        url: String,
    },
    /// Certificates for the link.
    Certs {
        #[command(subcommand)]
        command: CertsCommand,
    },
    /// Load a configuration and report whether it is valid.
    CheckConfig {
        #[arg(short, long, default_value = "config/cloud.yaml")]
        config: PathBuf,
    },
}

#[derive(Subcommand)]
enum CertsCommand {
    /// Create a private CA and the gateway's and cloud's certificates.
    Init {
        /// Folder to write them to; existing files are never overwritten.
        #[arg(long, default_value = "data/certs")]
        out: PathBuf,
        /// Name for the CA.
        #[arg(long, default_value = "operator")]
        org: String,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    match Cli::parse().command {
        Command::Serve { config } => {
            let cfg = CloudConfig::load(&config)?;
            let running = cloud_service::start(cfg, shutdown_signal()).await?;
            // Tests and scripts read this line to learn the bound port.
            println!("cloud-service listening on http://{}", running.http_addr);
            running.task.await??;
            Ok(())
        }
        Command::Archive { url } => {
            let url = format!("{}/v1/admin/archive", url.trim_end_matches('/'));
            let resp = reqwest::Client::new()
                .post(&url)
                .send()
                .await
                .map_err(|e| anyhow::anyhow!("cannot reach {url}: {e}"))?;
            let status = resp.status();
            let body: serde_json::Value = resp.json().await?;
            println!("{}", serde_json::to_string_pretty(&body)?);
            anyhow::ensure!(status.is_success(), "archive request failed with {status}");
            anyhow::ensure!(body["failed"].as_u64() == Some(0), "some batches failed");
            Ok(())
        }
        Command::Certs {
            command: CertsCommand::Init { out, org },
        } => {
            cloud_service::certs::init(&out, &org)?;
            println!("wrote CA and certificates to {}", out.display());
            println!(
                "copy ca.pem, nas-gateway.pem and nas-gateway.key to the NAS; keep ca.key offline"
            );
            Ok(())
        }
        Command::CheckConfig { config } => {
            CloudConfig::load(&config)?;
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
