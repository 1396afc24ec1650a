//! The HTTP listener under abuse and with TLS: half-open connections
//! (headers never finished, or nothing sent at all) are closed after
//! `http-header-timeout`, and a healthy client is still served meanwhile;
//! with `http-tls` the API speaks HTTPS only.

use hotcold_tests::rawhttp::addr;
use hotcold_tests::stack::StackOptions;
use hotcold_tests::Stack;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_open_connections_are_closed_after_the_header_timeout() {
    let stack = Stack::start(StackOptions {
        extra_yaml: "http-header-timeout: 1s\n".into(),
        ..Default::default()
    });
    let a = addr(&stack.cloud.url);
    let mut conns = Vec::new();
    for i in 0..300 {
        let mut c = tokio::net::TcpStream::connect(&a).await.expect("connect");
        if i % 3 != 0 {
            // Headers begun, never finished.
            c.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: ")
                .await
                .expect("write");
        }
        conns.push(c);
    }
    // A healthy client is answered while they hang.
    assert_eq!(stack.cloud.get("/health").await.0, 200);
    let t = Instant::now();
    let mut closed = 0;
    for c in &mut conns {
        let mut buf = [0u8; 256];
        let left = Duration::from_secs(6).saturating_sub(t.elapsed());
        match tokio::time::timeout(left, c.read(&mut buf)).await {
            // Closed (0 bytes), reset, or a 408 answer and then closed.
            Ok(Ok(0)) | Ok(Err(_)) => closed += 1,
            Ok(Ok(_)) => {
                if matches!(
                    tokio::time::timeout(left, c.read(&mut buf)).await,
                    Ok(Ok(0)) | Ok(Err(_))
                ) {
                    closed += 1;
                }
            }
            Err(_) => {}
        }
    }
    assert_eq!(
        closed,
        conns.len(),
        "every half-open connection closed within 6 s"
    );
    assert!(t.elapsed() < Duration::from_secs(6));
    // Still serving, on a new connection: the harness's pooled one sat idle
    // past the header timeout meanwhile, so the server rightly closed it,
    // and reusing it raced that close (a CI run lost the race).
    let fresh = reqwest::Client::new()
        .get(format!("{}/health", stack.cloud.url))
        .send()
        .await
        .expect("health on a new connection");
    assert_eq!(fresh.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_when_a_certificate_is_configured() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bin = hotcold_tests::procs::bin("cloud-service");
    let out = std::process::Command::new(&bin)
        .args([
            "certs",
            "https",
            "--name",
            "127.0.0.1",
            "--name",
            "localhost",
            "--out",
        ])
        .arg(dir.path())
        .output()
        .expect("certs https");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stack = Stack::start(StackOptions {
        extra_yaml: format!(
            "http-tls:\n  cert: {d}/https.pem\n  key: {d}/https.key\n",
            d = dir.path().display()
        ),
        ..Default::default()
    });
    assert!(
        stack.cloud.url.starts_with("https://"),
        "{}",
        stack.cloud.url
    );
    let a = addr(&stack.cloud.url);

    // A client trusting https.pem gets /health over TLS.
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for c in
        rustls::pki_types::CertificateDer::pem_file_iter(dir.path().join("https.pem")).expect("pem")
    {
        roots.add(c.expect("cert")).expect("root");
    }
    let cfg = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("versions")
    .with_root_certificates(roots)
    .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(std::sync::Arc::new(cfg));
    let tcp = tokio::net::TcpStream::connect(&a).await.expect("connect");
    let name = rustls::pki_types::ServerName::try_from("127.0.0.1").expect("name");
    let mut tls = connector.connect(name, tcp).await.expect("TLS handshake");
    tls.write_all(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        .await
        .expect("request");
    let mut answer = Vec::new();
    let _ = tls.read_to_end(&mut answer).await;
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");

    // Plain HTTP to the same port gets no answer.
    let mut plain = tokio::net::TcpStream::connect(&a).await.expect("connect");
    plain
        .write_all(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .expect("write");
    let mut buf = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), plain.read_to_end(&mut buf)).await;
    assert!(
        !String::from_utf8_lossy(&buf).contains("200 OK"),
        "plain HTTP was served"
    );
}

/// A client that stops reading a streamed answer loses it after
/// `query.stall-timeout`: the query is dropped (releasing the hot store's
/// read snapshot and its blocking thread), and when the client reads again
/// the answer ends short instead of going on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_reader_loses_its_query() {
    use hotcold_tests::data::{now_ms, trades};
    let stack = Stack::start(StackOptions {
        extra_yaml: "query:\n  stall-timeout: 1s\n".into(),
        ..Default::default()
    });
    let now = now_ms();
    let start = now - 86_400_000;
    let rows = trades(start, now, 200_000, 5);
    stack.cloud.ingest_all("trades", &rows).await;
    let a = addr(&stack.cloud.url);
    let mut c = tokio::net::TcpStream::connect(&a).await.expect("connect");
    c.write_all(
        format!("GET /v1/query/trades?from={start}&to={} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", now + 1)
            .as_bytes(),
    )
    .await
    .expect("request");
    let mut buf = vec![0u8; 16 << 10];
    let n = c.read(&mut buf).await.expect("first bytes");
    assert!(n > 0);
    // Stop reading well past the stall timeout.
    tokio::time::sleep(Duration::from_secs(4)).await;
    let mut rest = Vec::new();
    let r = tokio::time::timeout(Duration::from_secs(20), c.read_to_end(&mut rest)).await;
    assert!(r.is_ok(), "the answer must end, not go on");
    let lines = rest.iter().filter(|b| **b == b'\n').count();
    assert!(
        lines < rows.len() / 2,
        "{lines} lines after the stall: the query was not dropped"
    );
    let log = std::fs::read_to_string(&stack.cloud.log).expect("log");
    assert!(log.contains("query reader stalled"), "the cloud says why");
    // And the service still answers.
    assert_eq!(stack.cloud.get("/health").await.0, 200);
}

/// Queries answered at once are bounded: with two streamed answers held
/// open by readers that do not read, a third query gets 503 with
/// Retry-After naming the limit; once they are gone, queries are served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_queries_are_bounded() {
    use hotcold_tests::data::{ndjson, now_ms, trades};
    let stack = Stack::start(StackOptions {
        extra_yaml: "query:\n  max-concurrent: 2\n  stall-timeout: 1h\n".into(),
        ..Default::default()
    });
    let now = now_ms();
    let start = now - 86_400_000;
    let rows = trades(start, now, 100_000, 6);
    stack.cloud.ingest_all("trades", &rows).await;
    let a = addr(&stack.cloud.url);
    let mut held = Vec::new();
    for _ in 0..2 {
        let mut c = tokio::net::TcpStream::connect(&a).await.expect("connect");
        c.write_all(
            format!(
                "GET /v1/query/trades?from={start}&to={} HTTP/1.1\r\nHost: x\r\n\r\n",
                now + 1
            )
            .as_bytes(),
        )
        .await
        .expect("request");
        let mut buf = [0u8; 1024];
        assert!(c.read(&mut buf).await.expect("first bytes") > 0);
        held.push(c);
    }
    let q = format!("from={start}&to={}&limit=10", now + 1);
    let r = reqwest::Client::new()
        .get(format!("{}/v1/query/trades?{q}", stack.cloud.url))
        .send()
        .await
        .expect("third");
    assert_eq!(r.status(), 503);
    assert_eq!(
        r.headers()
            .get("retry-after")
            .map(|v| v.to_str().unwrap_or("")),
        Some("1")
    );
    let body = r.text().await.expect("body");
    assert!(body.contains("query.max-concurrent = 2"), "{body}");
    // Ingest has its own permits and is not affected.
    assert_eq!(
        stack.cloud.ingest("trades", ndjson(&rows[..10])).await.0,
        200
    );
    drop(held);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (s, _, _) = stack.cloud.query("trades", &q).await;
        if s == 200 {
            break;
        }
        assert!(Instant::now() < deadline, "permits never came back ({s})");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A request head hyper refuses by itself (a target over its 65,534
/// bytes, a head over 128 KiB or over 100 fields, a malformed header) gets
/// a JSON answer naming the limit, as every other error does, not hyper's
/// empty body: on a fresh connection and on one kept alive after a served
/// request. The service goes on serving.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_head_hyper_refuses_gets_a_json_answer_naming_the_limit() {
    use hotcold_tests::rawhttp::read_to_close;
    let stack = Stack::start(StackOptions::default());
    let a = addr(&stack.cloud.url);
    let long_target = format!("/v1/query/trades?from=1&to=2&symbol={}", "A".repeat(70_000));
    let big_header = format!("X-Big: {}\r\n", "b".repeat(130 << 10));
    let many: String = (0..150).map(|i| format!("X-H{i}: v\r\n")).collect();
    let cases = [
        (
            format!("GET {long_target} HTTP/1.1\r\nHost: x\r\n\r\n"),
            414,
            "the request target (path and query) is over 65534 bytes",
        ),
        (
            format!("GET /health HTTP/1.1\r\nHost: x\r\n{big_header}\r\n"),
            431,
            "over 128 KiB",
        ),
        (
            format!("GET /health HTTP/1.1\r\nHost: x\r\n{many}\r\n"),
            431,
            "over 100 header fields",
        ),
        (
            "GET /health HTTP/1.1\r\nHost: x\r\nno colon here\r\n\r\n".to_string(),
            400,
            "not HTTP/1.1",
        ),
    ];
    let mut wrong = Vec::new();
    for kept_alive in [false, true] {
        for (request, status, names) in &cases {
            let mut c = tokio::net::TcpStream::connect(&a).await.expect("connect");
            if kept_alive {
                c.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
                    .await
                    .expect("first request");
                read_one_response(&mut c).await;
            }
            c.write_all(request.as_bytes()).await.expect("request");
            let (got, closed) = read_to_close(&mut c, Duration::from_secs(5)).await;
            let text = String::from_utf8_lossy(&got);
            let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
            let json: Option<serde_json::Value> = serde_json::from_str(body).ok();
            let error = json
                .as_ref()
                .and_then(|j| j["error"].as_str())
                .unwrap_or_default();
            if !head.starts_with(&format!("HTTP/1.1 {status} "))
                || !head.contains("content-type: application/json")
                || json.as_ref().map(|j| j["status"].clone()) != Some((*status).into())
                || !error.contains(names)
                || !closed
            {
                wrong.push(format!(
                    "kept_alive={kept_alive}, want {status} naming {names:?}, got (closed={closed}) {:.400}",
                    text
                ));
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    assert_eq!(stack.cloud.get("/health").await.0, 200);
}

/// Reads one response with a `content-length` body off `c`.
async fn read_one_response(c: &mut tokio::net::TcpStream) {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = tokio::time::timeout(Duration::from_secs(5), c.read(&mut buf))
            .await
            .expect("an answer in time")
            .expect("read");
        assert!(n > 0, "closed early: {}", String::from_utf8_lossy(&got));
        got.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&got).to_string();
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let len: usize = head
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length: ")
                        .map(str::to_string)
                })
                .and_then(|v| v.trim().parse().ok())
                .expect("content-length");
            if body.len() >= len {
                assert!(head.starts_with("HTTP/1.1 200"), "{head}");
                return;
            }
        }
    }
}
