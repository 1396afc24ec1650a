//! Resumable transfer: the gateway is killed with SIGKILL at a random moment
//! of a paced transfer, one of its staged chunks is damaged on disk, and it
//! restarts. The batch completes; only the missing and the damaged chunks
//! cross the line again; nothing corrupted reaches cold.

use hotcold_core::schema::{Window, DAY_MS};
use hotcold_tests::data::{hash_json, ndjson, now_ms, trades, trades_schema};
use hotcold_tests::stack::StackOptions;
use hotcold_tests::Stack;
use rand::Rng;
use std::time::{Duration, Instant};

fn staged_chunks(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for b in std::fs::read_dir(dir.join("nas/staging"))
        .into_iter()
        .flatten()
        .flatten()
    {
        for c in std::fs::read_dir(b.path()).into_iter().flatten().flatten() {
            if c.path().extension().is_some_and(|e| e == "chunk") {
                out.push(c.path());
            }
        }
    }
    out.sort();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_gateway_resumes_and_resends_only_what_is_missing() {
    let chunk: u64 = 64 << 10;
    let opts = StackOptions {
        chunk_size: "64KiB".into(),
        bwlimit: "512KiB".into(),
        ..Default::default()
    };
    let mut stack = Stack::start(opts);
    let schema = trades_schema();
    let day = Window::day_of(now_ms() - 4 * DAY_MS);
    // One window of about 2 MB on the wire: about 4 s at 512 KiB/s.
    let rows = trades(day.start, day.end, 180_000, 21);
    for part in rows.chunks(60_000) {
        let (s, b) = stack.cloud.ingest("trades", ndjson(part)).await;
        assert_eq!(s, 200, "{b}");
    }

    let seed: u64 = rand::random();
    let kill_after =
        Duration::from_millis(rand::rngs::StdRng::seed_from_u64_compat(seed).gen_range(1500..3200));
    println!("seed {seed}: killing the gateway after {kill_after:?}");
    let url = stack.cloud.url.clone();
    let first = tokio::spawn(async move {
        let r = reqwest::Client::new()
            .post(format!("{url}/v1/admin/archive"))
            .send()
            .await
            .expect("archive");
        r.json::<serde_json::Value>().await.expect("report")
    });
    tokio::time::sleep(kill_after).await;
    stack.gateway.kill("KILL");
    let report = first.await.expect("join");
    let batch = &report["batches"][0];
    assert_eq!(
        batch["state"], "exported",
        "the cut batch waits in the spool: {report:#}"
    );
    let sent_before = batch["bytes_sent"].as_u64().unwrap_or(0);
    let total = batch["bytes"].as_u64().expect("batch bytes");

    let chunks = staged_chunks(stack.dir.path());
    let staged: u64 = chunks
        .iter()
        .map(|p| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0))
        .sum();
    assert!(
        staged < total,
        "the kill came too late: everything was staged ({staged} of {total} bytes)"
    );
    // Damage one staged chunk on disk while the gateway is down.
    let damaged = chunks.first().cloned();
    if let Some(p) = &damaged {
        let mut b = std::fs::read(p).expect("read chunk");
        b[100] ^= 0xff;
        std::fs::write(p, b).expect("write chunk");
    }

    stack.gateway.restart(Vec::new());
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut sent_after = 0;
    loop {
        let (s, r) = stack.cloud.archive().await;
        assert_eq!(s, 200, "{r}");
        sent_after += r["bytes_sent"].as_u64().unwrap_or(0);
        if r["rows_archived"].as_u64() == Some(rows.len() as u64) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "batch did not complete after the restart: {r:#}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }

    let resent = (sent_before + sent_after).saturating_sub(total);
    // What a cut may cost: the chunks in flight (at most the window of
    // unacknowledged chunks, 8 by default), one partly written chunk, and the
    // chunk damaged on disk.
    let window = 8;
    let allowance = chunk * (window + 1 + u64::from(damaged.is_some()));
    println!(
        "batch {total} B: {sent_before} B sent before the kill, {staged} B staged, {sent_after} B after the restart; \
         {resent} B sent again (one damaged chunk of {chunk} B, in flight at the kill: {} B)",
        sent_before.saturating_sub(staged)
    );
    assert!(
        resent <= allowance,
        "{resent} B sent again, more than a chunk plus what was in flight ({allowance} B)"
    );

    // Cold holds the rows exactly (the damaged chunk did not get through),
    // hot no longer holds them, the spool is empty.
    let conn = rusqlite::Connection::open(stack.dir.path().join("nas/cold.db")).expect("cold.db");
    let cold = hotcold_sqlite::content_hash(&conn, &schema, day).expect("cold hash");
    assert_eq!(cold, hash_json(&schema, &rows));
    assert_eq!(stack.cloud.hot_count(&schema, day), 0);
    assert_eq!(stack.cloud.status().await["spool_bytes"], 0);
    let log = std::fs::read_to_string(stack.gateway.log.with_extension("restart.log"))
        .unwrap_or_default();
    assert!(
        log.contains("damaged on disk"),
        "the damaged chunk was not noticed:\n{log}"
    );
}

/// `StdRng::seed_from_u64` under a name that reads well above.
trait SeedCompat {
    fn seed_from_u64_compat(seed: u64) -> rand::rngs::StdRng;
}

impl SeedCompat for rand::rngs::StdRng {
    fn seed_from_u64_compat(seed: u64) -> rand::rngs::StdRng {
        <rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(seed)
    }
}
