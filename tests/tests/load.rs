//! Load while an archive runs, on loopback only and bounded in count and
//! time: 200 well-behaved clients querying (retrying after a 503, as the
//! Retry-After header asks), one client reading a streamed answer at a
//! trickle, and a flood of bad requests (bad parameters, garbage bodies,
//! unknown tables, connections that never finish their headers). The
//! archive must finish and verify, every well-behaved client must get
//! answers, every bad request a 4xx, and the cloud's memory must stay
//! bounded.
//!
//! `HOTCOLD_LOAD_CLIENTS` (200) and `HOTCOLD_LOAD_SECS` (12) scale it; the
//! figures in BENCHMARKS.md come from
//! `cargo test --release -p hotcold-tests --test load -- --nocapture`.

use hotcold_core::schema::{Window, DAY_MS};
use hotcold_tests::data::{ndjson, now_ms, trades};
use hotcold_tests::procs::peak_rss;
use hotcold_tests::stack::StackOptions;
use hotcold_tests::Stack;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[derive(Default)]
struct Tally {
    answered: AtomicU64,
    retried_503: AtomicU64,
    bad_4xx: AtomicU64,
    unexpected: AtomicU64,
    /// Requests that got no answer at all because the pooled keep-alive
    /// connection they were sent on was closed under them (the client's
    /// race with an idle close, not an answer of the server's): sent again.
    resent_unanswered: AtomicU64,
    /// What the first unexpected outcomes were, for the failure message.
    seen: std::sync::Mutex<Vec<String>>,
}

impl Tally {
    fn unexpected(&self, what: String) {
        self.unexpected.fetch_add(1, Relaxed);
        let mut s = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        if s.len() < 5 {
            s.push(what);
        }
    }
}

/// A request that never reached an answer: the connection closed before
/// any byte of a response (reqwest's "connection closed before message
/// completed" on a reused connection). Anything with a status is an answer.
fn unanswered(e: &reqwest::Error) -> bool {
    e.is_request() && !e.is_timeout() && e.status().is_none()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn archive_and_answers_survive_a_crowd_and_a_flood() {
    let clients = env_usize("HOTCOLD_LOAD_CLIENTS", 200);
    let secs = env_usize("HOTCOLD_LOAD_SECS", 12) as u64;
    let stack = Stack::start(StackOptions {
        // Slow enough that the archive is still moving under the load.
        bwlimit: "256KiB".into(),
        extra_yaml: "http-header-timeout: 2s\nquery:\n  stall-timeout: 5s\n".into(),
        ..Default::default()
    });
    let now = now_ms();
    let old_start = Window::day_of(now - 10 * DAY_MS).start;
    let old = trades(old_start, Window::day_of(now - 3 * DAY_MS).end, 200_000, 1);
    for c in old.chunks(50_000) {
        assert_eq!(stack.cloud.ingest("trades", ndjson(c)).await.0, 200);
    }
    let recent = trades(now - DAY_MS, now, 100_000, 2);
    for c in recent.chunks(50_000) {
        assert_eq!(stack.cloud.ingest("trades", ndjson(c)).await.0, 200);
    }
    let url = stack.cloud.url.clone();
    let addr = url.split("://").nth(1).unwrap_or(&url).to_string();
    let stop = Arc::new(AtomicBool::new(false));
    let tally = Arc::new(Tally::default());
    let latencies = Arc::new(Mutex::new(Vec::<u128>::new()));
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(clients)
        .build()
        .expect("client");

    // The archive, under all of it.
    let archive = {
        let (http, url) = (http.clone(), url.clone());
        tokio::spawn(async move {
            let t = Instant::now();
            let r = http
                .post(format!("{url}/v1/admin/archive"))
                .send()
                .await
                .expect("archive");
            let s = r.status().as_u16();
            (
                s,
                r.json::<serde_json::Value>().await.unwrap_or_default(),
                t.elapsed(),
            )
        })
    };

    // Memory of the cloud process, sampled.
    let pid_rss = {
        let child = stack.cloud.child.as_ref().expect("cloud");
        peak_rss(child).unwrap_or(0)
    };

    // One reader at a trickle.
    let slow = {
        let (addr, stop) = (addr.clone(), stop.clone());
        tokio::spawn(async move {
            let q = format!(
                "GET /v1/query/trades?from={}&to={} HTTP/1.1\r\nHost: x\r\n\r\n",
                now - DAY_MS,
                now + 1
            );
            let mut buf = [0u8; 1024];
            // Until it is let in (a 503 while the crowd holds the permits).
            let mut c = loop {
                let mut c = tokio::net::TcpStream::connect(&addr).await.expect("slow");
                c.write_all(q.as_bytes()).await.expect("slow request");
                let n = c.read(&mut buf).await.unwrap_or(0);
                if buf[..n].starts_with(b"HTTP/1.1 200") || stop.load(Relaxed) {
                    break c;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            };
            let mut got = 0usize;
            while !stop.load(Relaxed) {
                match c.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => got += n,
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            got
        })
    };

    let mut tasks = Vec::new();
    for i in 0..clients {
        let (http, url, stop, tally, lat) = (
            http.clone(),
            url.clone(),
            stop.clone(),
            tally.clone(),
            latencies.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let mut k = i as i64;
            while !stop.load(Relaxed) {
                k = (k * 7919 + 13) % 1000;
                let from = now - DAY_MS + k * 60_000;
                let q = format!(
                    "{url}/v1/query/trades?from={from}&to={}&limit=100",
                    from + 3_600_000
                );
                let t = Instant::now();
                loop {
                    match http.get(&q).send().await {
                        Ok(r) if r.status() == 200 => {
                            let _ = r.bytes().await;
                            tally.answered.fetch_add(1, Relaxed);
                            lat.lock().expect("lat").push(t.elapsed().as_micros());
                            break;
                        }
                        Ok(r) if r.status() == 503 => {
                            tally.retried_503.fetch_add(1, Relaxed);
                            tokio::time::sleep(Duration::from_millis(50)).await;
                        }
                        Err(e) if unanswered(&e) => {
                            tally.resent_unanswered.fetch_add(1, Relaxed);
                        }
                        Ok(r) => {
                            tally.unexpected(format!("query answered {}", r.status()));
                            break;
                        }
                        Err(e) => {
                            tally.unexpected(format!("query: {e:?}"));
                            break;
                        }
                    }
                    if stop.load(Relaxed) {
                        break;
                    }
                }
            }
        }));
    }
    // The flood: every kind of bad request, as fast as it goes.
    for i in 0..20 {
        let (http, url, stop, tally, addr) = (
            http.clone(),
            url.clone(),
            stop.clone(),
            tally.clone(),
            addr.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let mut n = 0u64;
            while !stop.load(Relaxed) {
                n += 1;
                let r = match (i + n) % 4 {
                    0 => {
                        http.get(format!("{url}/v1/query/trades?from=x&to=y"))
                            .send()
                            .await
                    }
                    1 => {
                        http.post(format!("{url}/v1/ingest/trades"))
                            .body("{not json\n")
                            .send()
                            .await
                    }
                    2 => {
                        http.get(format!("{url}/v1/bars/nosuch?from=0&to=1&interval=1m"))
                            .send()
                            .await
                    }
                    _ => {
                        // Headers begun and never finished.
                        if let Ok(mut c) = tokio::net::TcpStream::connect(&addr).await {
                            let _ = c
                                .write_all(b"GET /health HTTP/1.1\r\nHost: x\r\nX-Never: ")
                                .await;
                            tokio::time::sleep(Duration::from_millis(50)).await;
                        }
                        continue;
                    }
                };
                match r {
                    Ok(r) if r.status().is_client_error() => {
                        tally.bad_4xx.fetch_add(1, Relaxed);
                    }
                    Ok(r) if r.status() == 503 => {
                        tally.retried_503.fetch_add(1, Relaxed);
                    }
                    Err(e) if unanswered(&e) => {
                        tally.resent_unanswered.fetch_add(1, Relaxed);
                    }
                    Ok(r) => tally.unexpected(format!("bad request answered {}", r.status())),
                    Err(e) => tally.unexpected(format!("bad request: {e:?}")),
                }
            }
        }));
    }
    let mut peak = pid_rss;
    let t = Instant::now();
    let (archive_status, report, archive_time) = loop {
        if let Some(child) = stack.cloud.child.as_ref() {
            peak = peak.max(peak_rss(child).unwrap_or(0));
        }
        if archive.is_finished() && t.elapsed() >= Duration::from_secs(secs) {
            break archive.await.expect("archive task");
        }
        assert!(
            t.elapsed() < Duration::from_secs(secs + 120),
            "the archive did not finish under load"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    stop.store(true, Relaxed);
    for task in tasks {
        let _ = task.await;
    }
    let slow_bytes = slow.await.unwrap_or(0);
    if let Some(child) = stack.cloud.child.as_ref() {
        peak = peak.max(peak_rss(child).unwrap_or(0));
    }

    let mut lat = latencies.lock().expect("lat").clone();
    lat.sort_unstable();
    let pct = |p: f64| {
        lat.get(((lat.len() as f64 * p) as usize).min(lat.len().saturating_sub(1)))
            .copied()
            .unwrap_or(0)
    };
    let answered = tally.answered.load(Relaxed);
    println!(
        "load: {clients} clients for {:.1} s: {answered} answers ({:.0}/s), p50 {:.1} ms, p99 {:.1} ms, {} 503s retried, {} bad requests answered 4xx, {} unexpected; slow reader got {slow_bytes} B; archive {} in {:.1} s ({} rows); cloud peak RSS {} MiB",
        t.elapsed().as_secs_f64(),
        answered as f64 / t.elapsed().as_secs_f64(),
        pct(0.5) as f64 / 1000.0,
        pct(0.99) as f64 / 1000.0,
        tally.retried_503.load(Relaxed),
        tally.bad_4xx.load(Relaxed),
        tally.unexpected.load(Relaxed),
        archive_status,
        archive_time.as_secs_f64(),
        report["rows_archived"],
        peak >> 20
    );
    if archive_status != 200 || report["failed"] != 0 || report["pending"] != 0 {
        stack.dump_logs();
        panic!("archive under load: {archive_status} {report:#}");
    }
    let cutoff = report["cutoff_ms"].as_i64().expect("cutoff");
    let moved = old
        .iter()
        .filter(|r| r["ts"].as_i64() < Some(cutoff))
        .count();
    assert_eq!(report["rows_archived"].as_u64(), Some(moved as u64));
    let seen = tally.seen.lock().unwrap_or_else(|p| p.into_inner()).clone();
    eprintln!(
        "{} requests sent again after their pooled connection closed unanswered",
        tally.resent_unanswered.load(Relaxed)
    );
    assert_eq!(
        tally.unexpected.load(Relaxed),
        0,
        "only 200, 503 and 4xx answers; first unexpected: {seen:?}"
    );
    assert!(
        answered >= clients as u64,
        "every client got answers ({answered})"
    );
    assert!(tally.bad_4xx.load(Relaxed) > 100, "the flood was answered");
    assert!(peak < 768 << 20, "cloud peak RSS {} MiB", peak >> 20);
    assert_eq!(stack.cloud.get("/health").await.0, 200);
}
