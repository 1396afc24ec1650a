use clap::{Parser, Subcommand};
use cloud_service::config::CloudConfig;
use std::path::PathBuf;

/// The cloud side of hotcold: HTTP ingest and queries over hot (cloud) and
/// cold (NAS) market data, and the archive that moves old windows to the NAS.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    /// The admin bearer token for archive, status and bwlimit (see admin.token-file).
    #[arg(
        long,
        global = true,
        env = "HOTCOLD_ADMIN_TOKEN",
        hide_env_values = true
    )]
    token: Option<String>,
    #[command(subcommand)]
    command: Command,
}

static TOKEN: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();

/// An HTTP client that sends the admin token, when one was given.
fn http() -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    if let Some(Some(t)) = TOKEN.get() {
        if let Ok(v) = reqwest::header::HeaderValue::from_str(&format!("Bearer {t}")) {
            headers.insert(reqwest::header::AUTHORIZATION, v);
        }
    }
    reqwest::Client::builder()
        .default_headers(headers)
        .build()
        .unwrap_or_default()
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
        /// Start now (the default; the flag is accepted for scripts).
        #[arg(long)]
        now: bool,
        /// Only show what a run would archive; change nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Copy a cold range back into hot as TABLE__rehydrated, for re-processing.
    Rehydrate {
        #[arg(long, default_value = "http://127.0.0.1:8080")]
        url: String,
        #[arg(long)]
        table: String,
        /// Start, epoch ms or YYYY-MM-DD[THH:MM:SS[.fff]Z].
        #[arg(long)]
        from: String,
        /// End (exclusive); only the part below the watermark is cold.
        #[arg(long)]
        to: String,
    },
    /// Check every confirmed batch against the gateway's ledger (count and hash).
    Verify {
        #[arg(long, default_value = "http://127.0.0.1:8080")]
        url: String,
    },
    /// Where each day (or hour) of a table lives: rows hot and cold, and
    /// its state (hot, archiving, archived, failed, gap, no_data). Exits 1
    /// when a bucket is a gap or failed, so a cron job can alert.
    Coverage {
        #[arg(long, default_value = "http://127.0.0.1:8080")]
        url: String,
        #[arg(long)]
        table: String,
        /// Start, epoch ms or YYYY-MM-DD[THH:MM:SS[.fff]Z]; default 30 days
        /// (by hour: 2 days) before `to`.
        #[arg(long)]
        from: Option<String>,
        /// End (exclusive); default the end of the current day (hour).
        #[arg(long)]
        to: Option<String>,
        /// Bucket size: day or hour.
        #[arg(long, default_value = "day")]
        by: String,
        /// An empty bucket is flagged as a suspected collector gap when the
        /// table's median bucket holds at least this many rows (default 100).
        #[arg(long)]
        gap_min_rows: Option<u64>,
        /// Print the JSON answer instead of the table.
        #[arg(long)]
        json: bool,
    },
    /// Bytes hot, on the NAS and over the link, and with `cost:` prices
    /// the monthly cost against keeping everything in the cloud.
    Cost {
        #[arg(long, default_value = "http://127.0.0.1:8080")]
        url: String,
        /// Print the JSON answer instead of the summary.
        #[arg(long)]
        json: bool,
    },
    /// Show watermarks, the backlog (offline queue), the link and recent batches.
    Status {
        #[arg(long, default_value = "http://127.0.0.1:8080")]
        url: String,
        /// Follow the backlog draining with a progress bar until it is empty.
        #[arg(long)]
        watch: bool,
    },
    /// Show or change the link's bandwidth limit at run time (not persisted).
    Bwlimit {
        #[arg(long, default_value = "http://127.0.0.1:8080")]
        url: String,
        /// `off`, a rate like `4MiB`, or a timetable like "08:00,2MiB 23:00,off" (UTC).
        value: Option<String>,
    },
    /// Certificates for the link.
    Certs {
        #[command(subcommand)]
        command: CertsCommand,
    },
    /// Write random bearer tokens for the three roles (admin, ingest,
    /// read) to DIR/{admin,ingest,read}.token, readable by their owner
    /// only; name them in admin.token-file, admin.ingest-token-file and
    /// admin.read-token-file. Existing files are never overwritten.
    Tokens {
        #[arg(long, default_value = "data/secrets")]
        out: PathBuf,
    },
    /// Snapshots of the hot store and the journal: create, list, verify, delete.
    Snapshot {
        #[command(subcommand)]
        command: cloud_service::snapshot::cli::SnapshotCommand,
    },
    /// Restore a snapshot into the config's data directory (which must not
    /// hold a hot store or a journal); the service must be stopped.
    Restore {
        #[arg(short, long, default_value = "config/cloud.yaml")]
        config: PathBuf,
        /// The snapshot's id (`cloud-service snapshot list`).
        id: String,
        /// Read the snapshot from this directory instead of snapshot.dir:
        /// a copy of the NAS's `snapshot-dir/cloud` (the hot backups),
        /// after the cloud's disk was lost.
        #[arg(long)]
        from: Option<PathBuf>,
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
    /// Create a self-signed HTTPS certificate (https.pem, https.key) for
    /// the HTTP API; name it in http-tls. Clients trust https.pem.
    Https {
        /// Folder to write them to; existing files are never overwritten.
        #[arg(long, default_value = "data/certs")]
        out: PathBuf,
        /// Host names and IP addresses clients use to reach the service.
        #[arg(long = "name", required = true)]
        names: Vec<String>,
    },
}

#[tokio::main]
async fn main() {
    hotcold_link::process::exit_on_error(run().await);
}

async fn run() -> anyhow::Result<()> {
    hotcold_link::process::init_logging();
    let cli = Cli::parse();
    let _ = TOKEN.set(cli.token.clone());
    match cli.command {
        Command::Serve { config } => {
            let cfg = CloudConfig::load(&config)?;
            let cfg_https = cfg.http_tls.is_some();
            let running =
                cloud_service::start(cfg, hotcold_link::process::shutdown_signal()).await?;
            // Tests and scripts read this line to learn the bound port.
            let scheme = if cfg_https { "https" } else { "http" };
            println!(
                "cloud-service listening on {scheme}://{}",
                running.http_addr
            );
            running.task.await??;
            Ok(())
        }
        Command::Verify { url } => {
            let url = format!("{}/v1/admin/verify", url.trim_end_matches('/'));
            let (status, body) = call(http().get(&url), &url).await?;
            println!("{}", serde_json::to_string_pretty(&body)?);
            anyhow::ensure!(status.is_success(), "verify failed with {status}");
            anyhow::ensure!(
                body["ok"] == true,
                "the gateway's ledger disagrees with the journal"
            );
            Ok(())
        }
        Command::Coverage {
            url,
            table,
            from,
            to,
            by,
            gap_min_rows,
            json,
        } => {
            let url = format!("{}/v1/admin/coverage", url.trim_end_matches('/'));
            let mut q = vec![("table", table), ("by", by)];
            q.extend(from.map(|v| ("from", v)));
            q.extend(to.map(|v| ("to", v)));
            q.extend(gap_min_rows.map(|v| ("gap_min_rows", v.to_string())));
            let (status, body) = call(http().get(&url).query(&q), &url).await?;
            anyhow::ensure!(status.is_success(), "coverage failed with {status}: {body}");
            if json {
                println!("{}", serde_json::to_string_pretty(&body)?);
            } else {
                print!("{}", cloud_service::api::coverage::text(&body));
            }
            let bad = body["buckets"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|b| b["state"] == "gap" || b["state"] == "failed")
                .count();
            anyhow::ensure!(bad == 0, "{bad} buckets are gaps or failed");
            Ok(())
        }
        Command::Cost { url, json } => {
            let url = format!("{}/v1/admin/cost", url.trim_end_matches('/'));
            let (status, body) = call(http().get(&url), &url).await?;
            anyhow::ensure!(status.is_success(), "cost failed with {status}: {body}");
            if json {
                println!("{}", serde_json::to_string_pretty(&body)?);
            } else {
                print!("{}", cloud_service::api::cost::text(&body));
            }
            Ok(())
        }
        Command::Rehydrate {
            url,
            table,
            from,
            to,
        } => {
            let url = format!("{}/v1/admin/rehydrate", url.trim_end_matches('/'));
            let req = http()
                .post(&url)
                .query(&[("table", &table), ("from", &from), ("to", &to)]);
            let (status, body) = call(req, &url).await?;
            println!("{}", serde_json::to_string_pretty(&body)?);
            anyhow::ensure!(status.is_success(), "rehydrate failed with {status}");
            Ok(())
        }
        Command::Archive {
            url,
            now: _,
            dry_run,
        } => {
            let url = format!(
                "{}/v1/admin/archive{}",
                url.trim_end_matches('/'),
                if dry_run { "?dry_run=true" } else { "" }
            );
            let (status, body) = call(http().post(&url), &url).await?;
            println!("{}", serde_json::to_string_pretty(&body)?);
            anyhow::ensure!(status.is_success(), "archive request failed with {status}");
            anyhow::ensure!(
                dry_run || body["failed"].as_u64() == Some(0),
                "some batches failed"
            );
            Ok(())
        }
        Command::Status { url, watch } => status(&url, watch).await,
        Command::Bwlimit { url, value } => {
            let url = format!("{}/v1/admin/bwlimit", url.trim_end_matches('/'));
            let c = http();
            let req = match value {
                Some(v) => c.put(&url).body(v),
                None => c.get(&url),
            };
            let (status, body) = call(req, &url).await?;
            anyhow::ensure!(
                status.is_success(),
                "{}",
                body["error"].as_str().unwrap_or("request failed")
            );
            println!(
                "bandwidth limit: {}",
                body["bwlimit"].as_str().unwrap_or("?")
            );
            Ok(())
        }
        Command::Tokens { out } => {
            cloud_service::certs::init_tokens(&out)?;
            println!(
                "wrote admin.token, ingest.token and read.token to {} (give collectors ingest.token, analysts read.token)",
                out.display()
            );
            Ok(())
        }
        Command::Certs {
            command: CertsCommand::Init { out, org },
        } => {
            cloud_service::certs::init(&out, &org)?;
            println!("wrote CA and certificates to {}", out.display());
            println!(
                "copy ca.pem, nas-gateway.pem, nas-gateway.key and cloud-service.pem to the NAS; keep ca.key offline"
            );
            Ok(())
        }
        Command::Certs {
            command: CertsCommand::Https { out, names },
        } => {
            cloud_service::certs::init_https(&out, &names)?;
            println!(
                "wrote https.pem and https.key to {}; set http-tls: {{cert: .../https.pem, key: .../https.key}}",
                out.display()
            );
            Ok(())
        }
        Command::Snapshot { command } => cloud_service::snapshot::cli::run(command, http()).await,
        Command::Restore { config, id, from } => {
            cloud_service::snapshot::cli::restore(&config, &id, from.as_deref()).await
        }
        Command::CheckConfig { config } => {
            let cfg = CloudConfig::load(&config)?;
            cloud_service::preflight(&cfg)
                .map_err(|e| anyhow::anyhow!("{}: {e:#}", config.display()))?;
            println!("{}: ok", config.display());
            Ok(())
        }
    }
}

/// Sends an admin request and reads its JSON answer; an unreachable
/// service is an error that names the URL.
async fn call(
    req: reqwest::RequestBuilder,
    url: &str,
) -> anyhow::Result<(reqwest::StatusCode, serde_json::Value)> {
    let resp = req
        .send()
        .await
        .map_err(|e| anyhow::anyhow!("cannot reach {url}: {e}"))?;
    let status = resp.status();
    Ok((status, resp.json().await.unwrap_or(serde_json::Value::Null)))
}

async fn fetch_status(url: &str) -> anyhow::Result<serde_json::Value> {
    let (status, body) = call(http().get(url), url).await?;
    anyhow::ensure!(status.is_success(), "status request failed with {status}");
    Ok(body)
}

async fn status(base: &str, watch: bool) -> anyhow::Result<()> {
    let url = format!("{}/v1/admin/status", base.trim_end_matches('/'));
    let body = fetch_status(&url).await?;
    if !watch {
        println!("{}", serde_json::to_string_pretty(&body)?);
        return Ok(());
    }
    let total = body["backlog"]["bytes"].as_u64().unwrap_or(0).max(1);
    let bar = indicatif::ProgressBar::new(total);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} resync [{bar:40}] {bytes}/{total_bytes} {msg} eta {eta}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    loop {
        let s = fetch_status(&url).await?;
        let left = s["backlog"]["bytes"].as_u64().unwrap_or(0);
        let batches = s["backlog"]["batches"].as_u64().unwrap_or(0);
        bar.set_position(total.saturating_sub(left));
        let rate = s["link"]["rate_bytes_per_s"].as_f64().unwrap_or(0.0);
        bar.set_message(format!(
            "{batches} batches left, {:.1} KiB/s",
            rate / 1024.0
        ));
        if batches == 0 {
            bar.finish_with_message("backlog empty");
            return Ok(());
        }
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    }
}
