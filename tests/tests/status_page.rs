//! The status page in a real browser: headless Chromium (Debian's
//! `chromium`) loads `/ui` from a running pair whose trades hold archived,
//! failed, gap, empty and hot days, and what it renders is checked against
//! the API: every coverage cell's state, numbers and colour, the backlog,
//! the failed batch. Without the token it shows the token form and no data.
//! A screenshot is kept in target/test-artifacts/status-page.png.

use hotcold_core::schema::{Window, DAY_MS};
use hotcold_tests::data::{ndjson, now_ms, trades};
use hotcold_tests::stack::StackOptions;
use hotcold_tests::Stack;
use std::path::{Path, PathBuf};
use std::process::Command;

const ADMIN: &str = "admin-token-for-the-status-page";

/// The colour each state must be drawn in (what the legend promises).
const COLOURS: &[(&str, &str)] = &[
    ("hot", "#1e88e5"),
    ("archiving", "#fdd835"),
    ("archived", "#2e7d32"),
    ("failed", "#c62828"),
    ("gap", "#8e24aa"),
    ("no_data", "#e0e0e0"),
    ("unknown", "#9e9e9e"),
    ("expired", "#a1887f"),
];

fn chromium() -> Option<PathBuf> {
    let found = ["chromium", "chromium-browser", "google-chrome"]
        .iter()
        .map(|b| PathBuf::from("/usr/bin").join(b))
        .find(|p| p.exists());
    if found.is_none() {
        assert!(
            std::env::var("HOTCOLD_REQUIRE_BROWSER").as_deref() != Ok("1"),
            "HOTCOLD_REQUIRE_BROWSER=1 but no chromium in /usr/bin"
        );
        eprintln!("SKIPPED: no chromium (apt-get install chromium, or run scripts/test.sh)");
    }
    found
}

/// Chromium headless with its own profile; virtual time waits for the
/// page's fetches before the budget runs out.
fn browse(browser: &Path, profile: &Path, args: &[&str], url: &str) -> String {
    let out = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(["--virtual-time-budget=15000", "--window-size=1280,1100"])
        .args(args)
        .arg(url)
        .output()
        .expect("run chromium");
    assert!(
        out.status.success(),
        "chromium: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The value of `name="..."` in one tag's text.
fn attr<'a>(tag: &'a str, name: &str) -> Option<&'a str> {
    let at = tag.find(&format!(" {name}=\""))? + name.len() + 3;
    tag[at..].split('"').next()
}

/// Every `<div class="cell...">` the page drew, as its attribute text.
fn cells(dom: &str) -> Vec<&str> {
    dom.split("<div ")
        .skip(1)
        .map(|t| t.split('>').next().unwrap_or(""))
        .filter(|t| t.contains("data-state=\""))
        .collect()
}

/// An admin endpoint's JSON, asked with the token.
async fn admin_json(http: &reqwest::Client, url: &str) -> serde_json::Value {
    let r = http.get(url).bearer_auth(ADMIN).send().await.expect(url);
    assert_eq!(r.status(), 200, "{url}");
    r.json().await.expect(url)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_status_page_shows_what_the_api_says() {
    let Some(browser) = chromium() else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let token_file = dir.path().join("admin.token");
    std::fs::write(&token_file, format!("{ADMIN}\n")).expect("token file");
    // Days 0, 1 and 3 archived, day 2 empty, day 1 then deleted from cold;
    // day 4 fails its batch (the gateway alters one of its rows in cold
    // after the insert); the last hour hot.
    let d0 = Window::day_of(now_ms() - 9 * DAY_MS).start;
    let d4 = d0 + 4 * DAY_MS;
    let tamper = format!(
        "after-insert=sql:UPDATE trades SET symbol = 'TAMPERED' WHERE ts >= {d4} AND ts < {} AND trade_id % 100 = 0",
        d4 + DAY_MS
    );
    let stack = Stack::start(StackOptions {
        extra_yaml: format!(
            "snapshot:\n  dir: {}\nadmin:\n  token-file: {}\ncost:\n  cloud-disk-per-gb-month: 0.10\n  egress-per-gb: 0.09\n  nas-per-month: 15\n  currency: USD\n",
            dir.path().join("snapshots").display(),
            token_file.display()
        ),
        gateway_env: vec![(nas_gateway::failpoint::ENV.to_string(), tamper)],
        ..Default::default()
    });
    let http = reqwest::Client::new();
    let url = stack.cloud.url.clone();
    for (k, seed) in [(0, 1), (1, 2), (3, 3), (4, 5)] {
        let day = d0 + k * DAY_MS;
        let rows = trades(day, day + DAY_MS, 1_000, seed);
        assert_eq!(stack.cloud.ingest("trades", ndjson(&rows)).await.0, 200);
    }
    let recent = trades(now_ms() - 3_600_000, now_ms() - 1_000, 300, 4);
    assert_eq!(stack.cloud.ingest("trades", ndjson(&recent)).await.0, 200);
    let r = http
        .post(format!("{url}/v1/admin/archive"))
        .bearer_auth(ADMIN)
        .send()
        .await
        .expect("archive");
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap_or_default());
    let r = http
        .post(format!("{url}/v1/admin/backup"))
        .bearer_auth(ADMIN)
        .send()
        .await
        .expect("backup");
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap_or_default());
    let backup: serde_json::Value = r.json().await.expect("backup json");
    let cold = rusqlite::Connection::open(stack.dir.path().join("nas/cold.db")).expect("cold.db");
    let (a, b) = (d0 + DAY_MS, d0 + 2 * DAY_MS);
    cold.execute(
        &format!("DELETE FROM trades WHERE ts >= {a} AND ts < {b}"),
        [],
    )
    .expect("delete day 1 from cold");

    let api: serde_json::Value =
        admin_json(&http, &format!("{url}/v1/admin/coverage?table=trades")).await;
    let by_label: std::collections::HashMap<&str, &serde_json::Value> = api["buckets"]
        .as_array()
        .expect("buckets")
        .iter()
        .map(|b| (b["label"].as_str().unwrap_or(""), b))
        .collect();
    let day = |k: i64| hotcold_core::time::format_timestamp_ms(d0 + k * DAY_MS)[..10].to_string();
    let want = [
        (0, "archived"),
        (1, "gap"),
        (2, "no_data"),
        (3, "archived"),
        (4, "failed"),
    ];
    for (k, state) in want {
        assert_eq!(
            by_label[day(k).as_str()]["state"],
            state,
            "day {k}: {api:#}"
        );
    }

    // Without a token: the form, and no data.
    let profile = dir.path().join("profile");
    let dom = browse(&browser, &profile, &["--dump-dom"], &format!("{url}/ui"));
    assert!(
        dom.contains("data-ready=\"true\""),
        "the page never finished: {dom}"
    );
    assert!(cells(&dom).is_empty(), "cells without a token: {dom}");
    assert!(
        dom.contains("id=\"login\"") && !dom.contains("id=\"login\" hidden"),
        "the token form is not shown: {dom}"
    );

    // With it: every cell as the API says, in its state's colour.
    let with_token = format!("{url}/ui#token={ADMIN}");
    let dom = browse(&browser, &profile, &["--dump-dom"], &with_token);
    assert!(dom.contains("data-ready=\"true\""), "{dom}");
    let drawn = cells(&dom);
    assert_eq!(drawn.len(), by_label.len(), "one cell per day: {dom}");
    for cell in &drawn {
        let label = attr(cell, "data-label").expect("label");
        let b = by_label
            .get(label)
            .unwrap_or_else(|| panic!("cell {label} not in the API"));
        let state = attr(cell, "data-state").expect("state");
        assert_eq!(b["state"], state, "{label}");
        assert_eq!(
            attr(cell, "data-hot"),
            Some(b["hot_rows"].to_string().as_str()),
            "{label}"
        );
        let cold = b["cold_rows"]
            .as_u64()
            .map(|n| n.to_string())
            .unwrap_or("-".into());
        assert_eq!(attr(cell, "data-cold"), Some(cold.as_str()), "{label}");
        let colour = COLOURS
            .iter()
            .find(|(s, _)| *s == state)
            .expect("known state")
            .1;
        assert_eq!(
            attr(cell, "style"),
            Some(format!("background:{colour}").as_str()),
            "{label}"
        );
        assert_eq!(
            attr(cell, "data-suspected"),
            Some(b["suspected_gap"].to_string().as_str()),
            "{label}"
        );
    }
    let failed_cells = drawn
        .iter()
        .filter(|c| attr(c, "data-state") == Some("failed"))
        .count();
    assert_eq!(failed_cells, 1);
    // The failed batch is listed with its error, and the failed run alerts.
    let status: serde_json::Value = admin_json(&http, &format!("{url}/v1/admin/status")).await;
    let failed = status["recent_batches"]
        .as_array()
        .and_then(|b| b.iter().find(|b| b["state"] == "failed"))
        .expect("a failed batch in status");
    let id = failed["batch_id"].as_str().expect("batch id");
    let row = dom
        .split("<tr ")
        .find(|r| r.contains(&format!("data-batch=\"{id}\"")))
        .unwrap_or_else(|| panic!("failed batch {id} not listed: {dom}"));
    assert!(row.contains("<td class=\"failed\">failed</td>"), "{row}");
    assert!(
        dom.contains("data-component=\"last_archive_run\""),
        "no alert: {dom}"
    );
    let shown = format!(
        "<dd id=\"backup\">{}, ",
        backup["id"].as_str().expect("backup id")
    );
    assert!(dom.contains(&shown), "backup {shown} not shown: {dom}");
    assert!(dom.contains("rows (every 60 min)"), "{dom}");
    let backlog = format!("{} batches", status["backlog"]["batches"]);
    assert!(dom.contains(&backlog), "backlog {backlog} not shown");
    // The link's last hour: sixty minutes adding up to what status says.
    let history = status["link"]["history"].as_array().expect("history");
    assert_eq!(history.len(), 60);
    let sent: f64 = history
        .iter()
        .map(|p| p["rate"].as_f64().unwrap() * 60.0)
        .sum();
    assert!(sent > 0.0, "the archive sent nothing? {status:#}");
    let svg = dom
        .split("<svg ")
        .nth(1)
        .and_then(|t| t.split('>').next())
        .unwrap_or_else(|| panic!("no chart: {dom}"));
    assert_eq!(attr(&format!(" {svg}"), "data-points"), Some("60"));
    assert_eq!(
        attr(&format!(" {svg}"), "data-bytes"),
        Some(format!("{}", sent.round() as u64).as_str())
    );
    // The cost figures are the cost report's.
    let cost: serde_json::Value = admin_json(&http, &format!("{url}/v1/admin/cost")).await;
    for (id, want) in [
        ("cost-nas-bytes", &cost["nas"]["bytes"]),
        ("cost-link-bytes", &cost["link"]["last_30_days_bytes"]),
    ] {
        let tag = dom
            .split("<dd ")
            .find(|t| t.contains(&format!("id=\"{id}\"")))
            .unwrap_or_else(|| panic!("no {id}: {dom}"));
        assert_eq!(
            attr(&format!(" {tag}"), "data-value"),
            Some(want.to_string().as_str()),
            "{id}"
        );
    }

    // The screenshot, kept for the README and for whoever reads a failure.
    let art = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/test-artifacts");
    std::fs::create_dir_all(&art).expect("artifacts dir");
    let shot = art.join("status-page.png");
    let _ = std::fs::remove_file(&shot);
    browse(
        &browser,
        &profile,
        &[&format!("--screenshot={}", shot.display())],
        &with_token,
    );
    let png = std::fs::read(&shot).expect("screenshot written");
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 10_000,
        "{} bytes",
        png.len()
    );
}
