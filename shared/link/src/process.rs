//! What both binaries do around their work: logs and the stop signal.

/// Ends the process with status 1 and the error's chain on stderr (errors
/// are for operators: the message chain, not a backtrace).
pub fn exit_on_error<E: std::fmt::Display>(r: Result<(), E>) {
    if let Err(e) = r {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

/// Logs to stderr, text or (with `HOTCOLD_LOG_FORMAT=json`) JSON for log
/// shippers; `RUST_LOG` sets the level (default `info`).
pub fn init_logging() {
    let filter =
        tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if std::env::var("HOTCOLD_LOG_FORMAT").as_deref() == Ok("json") {
        logs.json().init();
    } else {
        logs.init();
    }
}

/// Resolves on SIGINT or SIGTERM (what Docker and systemd send).
pub async fn shutdown_signal() {
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(s) => s,
        Err(_) => return std::future::pending().await,
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}
