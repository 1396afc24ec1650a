//! The Python client (`clients/python`) against a real pair: the pytest
//! suite in `clients/python/tests` runs with a cloud-service holding six
//! days of trades, four of them archived to the NAS (ClickHouse in
//! America/New_York when the suite has one), and read and ingest tokens
//! set. Then the gateway is killed and the `gateway_down` tests check the
//! missing-range signal: an exception by default, a warning with
//! `require_complete=False`.
//!
//! Needs python3 with pyarrow, pandas, polars and pytest (scripts/test.sh
//! installs them); without them it says SKIPPED, unless
//! `HOTCOLD_REQUIRE_PYTHON=1`, where it fails.

use hotcold_core::schema::{Window, DAY_MS};
use hotcold_tests::data::{ndjson, now_ms, trades, trades_schema};
use hotcold_tests::stack::{ColdKind, StackOptions};
use hotcold_tests::{clickhouse, Stack};
use std::path::{Path, PathBuf};
use std::process::Command;

const ADMIN: &str = "admin-token-python-client-01";
const INGEST: &str = "ingest-token-python-client-01";
const READ: &str = "read-token-python-client-01";

fn client_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../clients/python")
}

/// A table of every column type, for the ingest round trips.
fn every_type_yaml() -> serde_yaml::Value {
    serde_yaml::from_str(
        "name: ev\ntime-column: ts\ncolumns:\n\
        - {name: ts, type: timestamp_ms}\n- {name: d, type: date}\n\
        - {name: s, type: string}\n- {name: lc, type: lc_string}\n\
        - {name: px, type: decimal(8)}\n- {name: i8, type: int8}\n\
        - {name: i32, type: int32}\n- {name: u64, type: uint64}\n\
        - {name: f, type: float64}\n- {name: b, type: bool}\n",
    )
    .expect("schema")
}

/// Runs the pytest suite with `marker`; panics with its output on failure
/// or if any test was skipped.
fn pytest(marker: &str, env: &[(&str, String)]) {
    let out = Command::new("python3")
        .args([
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-rs",
            "-m",
            marker,
        ])
        .arg(client_dir().join("tests"))
        .env("PYTHONPATH", client_dir().join("src"))
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .output()
        .expect("python3 -m pytest");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    println!("pytest -m {marker:?}:\n{text}");
    assert!(out.status.success(), "pytest -m {marker:?} failed:\n{text}");
    assert!(
        !text.contains("skipped"),
        "no client test may be skipped here:\n{text}"
    );
    assert!(text.contains("passed"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_client_against_a_real_pair() {
    if !hotcold_tests::python::modules_present(&["pyarrow", "pandas", "polars", "pytest"]) {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let file = |name: &str, token: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, format!("{token}\n")).expect("token file");
        p.display().to_string()
    };
    let cold = match clickhouse::url() {
        Some(url) => ColdKind::ClickHouse {
            url,
            database: clickhouse::unique_db("pyclient"),
        },
        None => ColdKind::Sqlite,
    };
    let tables = serde_yaml::to_string(&vec![
        serde_yaml::to_value(trades_schema()).expect("trades"),
        every_type_yaml(),
    ])
    .expect("yaml");
    let mut stack = Stack::start(StackOptions {
        cold,
        tables_yaml: Some(tables),
        extra_yaml: format!(
            "admin:\n  token-file: {}\n  ingest-token-file: {}\n  read-token-file: {}\n",
            file("admin", ADMIN),
            file("ingest", INGEST),
            file("read", READ)
        ),
        ..Default::default()
    });
    let url = stack.cloud.url.clone();
    let http = reqwest::Client::new();

    // Six days of trades; the hot retention (2 days) sends four to cold.
    let now = now_ms();
    let start = Window::day_of(now - 6 * DAY_MS).start;
    let end = Window::day_of(now).start;
    let rows = trades(start, end, 12_000, 31);
    let r = http
        .post(format!("{url}/v1/ingest/trades"))
        .bearer_auth(INGEST)
        .body(ndjson(&rows))
        .send()
        .await
        .expect("ingest");
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap_or_default());
    let r = http
        .post(format!("{url}/v1/admin/archive"))
        .bearer_auth(ADMIN)
        .send()
        .await
        .expect("archive");
    let status = r.status();
    let report: serde_json::Value = r.json().await.expect("archive report");
    assert_eq!(status, 200, "{report:#}");
    assert!(
        report["rows_archived"].as_u64().unwrap_or(0) > 0 && report["failed"] == 0,
        "the archive moved rows to cold: {report:#}"
    );

    let truth = dir.path().join("trades.ndjson");
    std::fs::write(&truth, ndjson(&rows)).expect("truth file");
    let env = [
        ("HOTCOLD_URL", url.clone()),
        ("HOTCOLD_READ_TOKEN", READ.to_string()),
        ("HOTCOLD_INGEST_TOKEN", INGEST.to_string()),
        ("HOTCOLD_ROWS", truth.display().to_string()),
        ("HOTCOLD_FROM", start.to_string()),
        ("HOTCOLD_TO", end.to_string()),
    ];
    pytest("not gateway_down", &env);

    // The NAS goes away: cold ranges can no longer be read.
    stack.gateway.kill("KILL");
    pytest("gateway_down", &env);
}
