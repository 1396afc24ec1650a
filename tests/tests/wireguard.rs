//! Two hosts through WireGuard on a shaped line (scripts/netns.sh): the
//! cloud in one network namespace, the gateway and its ClickHouse in the
//! other, QUIC through a wireguard-go tunnel over a 20 Mbit/s tbf line. The
//! tunnel is what `deploy/wireguard/render.sh` renders from the templates
//! operators deploy (the NAS dials, PersistentKeepalive), applied with
//! `wg setconf`.
//! Archives one day with the limiter off and one with it at 1 MiB/s; every
//! row arrives (the cloud's answer over the tunnel hashes like the ingested
//! rows, and `nas-gateway scrub` in the NAS namespace is clean).
//!
//! The line's use is printed here, and measured properly by `bench_tunnel`;
//! the bounds asserted are loose, because this machine's timing is noisy.
//!
//! Needs root, wireguard-go and wg: skipped with a loud message otherwise,
//! and a failure under HOTCOLD_REQUIRE_NETNS=1 (scripts/test.sh sets it
//! when root).

use hotcold_core::schema::{Window, DAY_MS};
use hotcold_tests::data::{hash_json, ndjson, now_ms};
use hotcold_tests::netns::{LineMeter, Tunnel};
use hotcold_tests::procs::{Cloud, Gateway};
use hotcold_tests::stack::{cloud_yaml, gateway_yaml, write_certs, ColdKind, StackOptions};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn archive_through_a_shaped_wireguard_tunnel() {
    let Some(tunnel) = Tunnel::up("hcw", 1, "20mbit") else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let certs = dir.path().join("certs");
    write_certs(&certs);
    let cold = match tunnel.clickhouse(dir.path()) {
        Some(url) => ColdKind::ClickHouse {
            url,
            database: "wg".into(),
        },
        None => {
            eprintln!("NOTE: no clickhouse-server; the NAS side uses a SQLite cold store");
            ColdKind::Sqlite
        }
    };
    let gcfg = dir.path().join("nas.yaml");
    std::fs::write(
        &gcfg,
        gateway_yaml(dir.path(), &format!("{}:0", tunnel.nas_ip), &certs, &cold),
    )
    .expect("nas.yaml");
    let gateway = Gateway::start_in(
        Some(&tunnel.nas),
        gcfg.clone(),
        dir.path().join("nas.log"),
        Vec::new(),
    );
    let tables = "  - name: ticks\n    time-column: ts\n    columns:\n      - { name: ts, type: timestamp_ms }\n      - { name: id, type: uint64 }\n      - { name: payload, type: string }\n";
    // Day 1 is archived with a 4-day hot retention, day 2 after a restart
    // with 3 days: one window per phase.
    let ccfg = dir.path().join("cloud.yaml");
    // The cloud listens on the operator's veth, not loopback: it must have
    // its tokens (it refuses to start with open endpoints there).
    let token = "wireguard-test-admin-token-0001";
    let token_file = dir.path().join("admin.token");
    std::fs::write(&token_file, token).expect("token file");
    let write_cloud_cfg = |retention: &str| {
        let opts = StackOptions {
            tables_yaml: Some(tables.into()),
            hot_retention: retention.into(),
            extra_yaml: format!(
                "admin:\n  token-file: {}\n  protect-data: true\n",
                token_file.display()
            ),
            ..Default::default()
        };
        let yaml = cloud_yaml(dir.path(), gateway.addr, &certs, &opts).replace(
            "http-listen: 127.0.0.1:0",
            &format!("http-listen: {}:0", tunnel.operator_ip),
        );
        std::fs::write(&ccfg, yaml).expect("cloud.yaml");
    };
    write_cloud_cfg("4d");
    let start_cloud = || {
        Cloud::start_in(
            Some(&tunnel.cloud),
            ccfg.clone(),
            dir.path().join("cloud.log"),
            dir.path().join("cloud"),
            &[],
        )
        .with_token(token)
    };
    let mut cloud = start_cloud();

    // Random payloads: about 80 bytes a row on the wire after zstd.
    let schema: hotcold_core::TableSchema = serde_yaml::from_str(
        "name: ticks\ntime-column: ts\ncolumns:\n  - { name: ts, type: timestamp_ms }\n  - { name: id, type: uint64 }\n  - { name: payload, type: string }\n",
    )
    .expect("schema");
    let day1 = Window::day_of(now_ms() - 5 * DAY_MS);
    let day2 = Window::new(day1.end, day1.end + DAY_MS);
    let mut rows = Vec::new();
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    for (d, day) in [day1, day2].iter().enumerate() {
        for i in 0..40_000u64 {
            let mut payload = String::with_capacity(160);
            for _ in 0..10 {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                payload.push_str(&format!("{x:016x}"));
            }
            rows.push(serde_json::json!({
                "ts": day.start + (i as i64 * (DAY_MS - 1)) / 40_000,
                "id": d as u64 * 1_000_000 + i,
                "payload": payload,
            }));
        }
    }
    for chunk in rows.chunks(20_000) {
        let (s, b) = cloud.ingest("ticks", ndjson(chunk)).await;
        assert_eq!(s, 200, "{b}");
    }

    // Day 1 with the limiter off: the archive should fill the line.
    let (s, r) = cloud.put("/v1/admin/bwlimit", "off").await;
    assert_eq!(s, 200, "{r}");
    let meter = LineMeter::start(&tunnel);
    let t = std::time::Instant::now();
    let (s, r) = cloud.archive_when_idle().await;
    let secs_off = t.elapsed().as_secs_f64();
    assert_eq!(s, 200, "{r}");
    let off = meter.stop().await;
    assert_eq!(r["rows_archived"], 40_000, "{r:#}");
    let line = 20e6 / 8.0;
    eprintln!(
        "limiter off: 40000 rows ({} B on the line) archived in {secs_off:.1} s = {:.0} rows/s; line steady {:.0} B/s = {:.0}% of 20 Mbit/s",
        off.bytes,
        40_000.0 / secs_off,
        off.steady_rate,
        100.0 * off.steady_rate / line
    );
    assert!(off.bytes > 3_000_000, "{off:?}");
    assert!(off.steady_rate > 0.5 * line, "line barely used: {off:?}");

    // Day 2 at 1 MiB/s, after a restart of the cloud.
    cloud.kill("TERM");
    write_cloud_cfg("3d");
    cloud = start_cloud();
    let (s, r) = cloud.put("/v1/admin/bwlimit", "1MiB").await;
    assert_eq!(s, 200, "{r}");
    let meter = LineMeter::start(&tunnel);
    let t = std::time::Instant::now();
    let (s, r) = cloud.archive_when_idle().await;
    let secs_on = t.elapsed().as_secs_f64();
    assert_eq!(s, 200, "{r}");
    let on = meter.stop().await;
    assert_eq!(r["rows_archived"], 40_000, "{r:#}");
    let limit = 1024.0 * 1024.0;
    eprintln!(
        "limiter 1MiB/s: 40000 rows ({} B on the line) archived in {secs_on:.1} s = {:.0} rows/s; line steady {:.0} B/s = {:.2}x the limit",
        on.bytes,
        40_000.0 / secs_on,
        on.steady_rate,
        on.steady_rate / limit
    );
    assert!(on.steady_rate < 1.1 * limit, "limiter overrun: {on:?}");

    // Every row, exactly once, read back from cold through the tunnel.
    let (s, h, body) = cloud
        .query(
            "ticks",
            &format!(
                "from={}&to={}&format=json&require_complete=true",
                day1.start, day2.end
            ),
        )
        .await;
    assert_eq!(s, 200, "{body}");
    let wm: i64 = h
        .get("x-hotcold-watermark")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .expect("watermark");
    assert!(wm >= day2.end, "both days archived (watermark {wm})");
    let v: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert_eq!(v["cold_rows"], rows.len());
    let got = v["rows"].as_array().expect("rows");
    assert_eq!(hash_json(&schema, got), hash_json(&schema, &rows));
    assert_eq!(
        cloud.hot_count(&schema, Window::new(day1.start, day2.end)),
        0
    );

    // The NAS's own check, run on the NAS host.
    let out = std::process::Command::new("ip")
        .args(["netns", "exec", &tunnel.nas])
        .arg(hotcold_tests::procs::bin("nas-gateway"))
        .args(["scrub", "-c"])
        .arg(&gcfg)
        .output()
        .expect("scrub");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains("2 windows, 80000 rows checked; 2 match"),
        "{text}"
    );
    drop(cloud);
    drop(gateway);
}
