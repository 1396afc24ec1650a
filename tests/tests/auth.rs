//! Secure by default: one token per role, and no open endpoint on an
//! address other than loopback, tried through the real binary.

use hotcold_tests::data::{ndjson, now_ms, trades};
use hotcold_tests::stack::StackOptions;
use hotcold_tests::Stack;

const ADMIN: &str = "admin-token-for-the-operator-01";
const INGEST: &str = "ingest-token-for-collectors-01";
const READ: &str = "read-token-for-the-analysts-01";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_role_opens_only_its_endpoints() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = |name: &str, token: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, format!("{token}\n")).expect("token file");
        p.display().to_string()
    };
    let stack = Stack::start(StackOptions {
        extra_yaml: format!(
            "admin:\n  token-file: {}\n  ingest-token-file: {}\n  read-token-file: {}\n",
            file("admin", ADMIN),
            file("ingest", INGEST),
            file("read", READ)
        ),
        ..Default::default()
    });
    let url = &stack.cloud.url;
    let http = reqwest::Client::new();
    let now = now_ms();
    let body = ndjson(&trades(now - 1000, now, 3, 1));
    let ingest = |token: Option<&'static str>| {
        let mut r = http
            .post(format!("{url}/v1/ingest/trades"))
            .body(body.clone());
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        r
    };
    let query = |token: Option<&'static str>| {
        let mut r = http.get(format!(
            "{url}/v1/query/trades?from={}&to={}",
            now - 86_400_000,
            now + 1
        ));
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        r
    };
    let status = |token: Option<&'static str>| {
        let mut r = http.get(format!("{url}/v1/admin/status"));
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        r
    };
    let code = |r: reqwest::RequestBuilder| async move {
        r.send().await.expect("request").status().as_u16()
    };
    // Ingest: the collectors' token or the admin's; nothing else.
    assert_eq!(code(ingest(None)).await, 401);
    assert_eq!(code(ingest(Some(READ))).await, 401);
    assert_eq!(code(ingest(Some(INGEST))).await, 200);
    assert_eq!(code(ingest(Some(ADMIN))).await, 200);
    // Query: the analysts' token or the admin's.
    assert_eq!(code(query(None)).await, 401);
    assert_eq!(code(query(Some(INGEST))).await, 401);
    assert_eq!(code(query(Some(READ))).await, 200);
    assert_eq!(code(query(Some(ADMIN))).await, 200);
    // Admin: the admin token only.
    assert_eq!(code(status(Some(INGEST))).await, 401);
    assert_eq!(code(status(Some(READ))).await, 401);
    assert_eq!(code(status(Some(ADMIN))).await, 200);
    // The refusal names no token, only which kind is wanted.
    let r = status(Some(READ)).send().await.expect("request");
    let text = r.text().await.expect("body");
    assert!(
        text.contains("admin token") && !text.contains(ADMIN) && !text.contains(READ),
        "{text}"
    );
    // Health and metrics stay open for probes.
    assert_eq!(stack.cloud.get("/health").await.0, 200);
}

/// Listening beyond loopback with any endpoint open refuses to start, and
/// says which tokens to set; `check-config` says the same.
#[test]
fn a_non_loopback_address_needs_every_token() {
    let dir = tempfile::tempdir().expect("tempdir");
    hotcold_tests::stack::write_certs(dir.path());
    let admin = dir.path().join("admin.token");
    std::fs::write(&admin, ADMIN).expect("token");
    let cfg = dir.path().join("cloud.yaml");
    let write = |admin_yaml: &str| {
        std::fs::write(
            &cfg,
            format!(
                "http-listen: 0.0.0.0:0\ndata-dir: {d}/cloud\n\
                 link:\n  gateway: 127.0.0.1:9\n  ca: {d}/ca.pem\n  cert: {d}/cloud-service.pem\n  key: {d}/cloud-service.key\n\
                 schedule:\n  enabled: false\n{admin_yaml}tables:\n{}",
                hotcold_tests::stack::trades_yaml(),
                d = dir.path().display()
            ),
        )
        .expect("cfg");
    };
    let bin = hotcold_tests::procs::bin("cloud-service");
    let run = |cmd: &str| {
        let out = std::process::Command::new(&bin)
            .args([cmd, "-c"])
            .arg(&cfg)
            .output()
            .expect("run");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    for admin_yaml in [
        String::new(),
        format!("admin:\n  token-file: {}\n", admin.display()),
    ] {
        write(&admin_yaml);
        for cmd in ["serve", "check-config"] {
            let (ok, err) = run(cmd);
            assert!(
                !ok,
                "{cmd} must refuse 0.0.0.0 with open endpoints ({admin_yaml})"
            );
            assert!(
                err.contains("0.0.0.0") && err.contains("admin.ingest-token-file"),
                "{cmd}: {err}"
            );
        }
    }
    // With the admin token guarding data too, the address is fine.
    write(&format!(
        "admin:\n  token-file: {}\n  protect-data: true\n",
        admin.display()
    ));
    let (ok, err) = run("check-config");
    assert!(ok, "{err}");
}

/// The cloud compose file listens on 0.0.0.0 and sets all three token
/// files; with tokens made by `cloud-service tokens`, the shipped config
/// under that environment passes `check-config`, and fails without them.
#[test]
fn the_compose_environment_sets_every_token() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let compose: serde_yaml::Value = serde_yaml::from_str(
        &std::fs::read_to_string(root.join("deploy/cloud/docker-compose.yml")).expect("compose"),
    )
    .expect("compose YAML");
    let env = compose["services"]["cloud-service"]["environment"]
        .as_mapping()
        .expect("environment")
        .clone();
    let secrets = tempfile::tempdir().expect("tempdir");
    let bin = hotcold_tests::procs::bin("cloud-service");
    let made = std::process::Command::new(&bin)
        .args(["tokens", "--out"])
        .arg(secrets.path())
        .output()
        .expect("tokens");
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    // The shipped config names its certificates relative to the working
    // directory (data/certs), as the container's volume holds them.
    let work = tempfile::tempdir().expect("tempdir");
    hotcold_tests::stack::write_certs(&work.path().join("data/certs"));
    let check = |with_tokens: bool| {
        let mut c = std::process::Command::new(&bin);
        c.current_dir(work.path())
            .args(["check-config", "-c"])
            .arg(root.join("config/cloud.yaml"));
        for (k, v) in &env {
            let (k, v) = (k.as_str().expect("key"), v.as_str().expect("value"));
            if k.contains("TOKEN") && !with_tokens {
                continue;
            }
            let v = v.replace("/secrets", &secrets.path().display().to_string());
            c.env(k, v);
        }
        let out = c.output().expect("check-config");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (ok, err) = check(true);
    assert!(ok, "{err}");
    let (ok, err) = check(false);
    assert!(!ok && err.contains("0.0.0.0:8080"), "{err}");
}
