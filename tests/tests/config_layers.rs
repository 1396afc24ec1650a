//! Configuration layers through the real binaries' `check-config`: an
//! environment overlay, variable overrides, and errors that name the key and
//! where it came from (the file, the overlay, or the variable).

use std::process::Command;

fn check(bin: &str, cfg: &std::path::Path, env: &[(&str, &str)]) -> (bool, String) {
    let mut c = Command::new(hotcold_tests::procs::bin(bin));
    c.args(["check-config", "-c"])
        .arg(cfg)
        .env_remove("HOTCOLD_ENV");
    for (k, v) in env {
        c.env(k, v);
    }
    let out = c.output().expect("run");
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// A cloud.yaml `serve` would accept: certificates that exist, a table.
fn cloud_yaml(certs: &std::path::Path, link_extra: &str, rest: &str) -> String {
    format!(
        "link:\n{link_extra}  ca: {c}/ca.pem\n  cert: {c}/cloud-service.pem\n  key: {c}/cloud-service.key\n{rest}tables:\n{}",
        hotcold_tests::stack::trades_yaml(),
        c = certs.display()
    )
}

#[test]
fn overlays_and_overrides_apply_and_errors_say_where() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir_all(dir.path().join("environments")).expect("dir");
    let certs = dir.path().join("certs");
    hotcold_tests::stack::write_certs(&certs);
    let cloud = dir.path().join("cloud.yaml");
    std::fs::write(&cloud, cloud_yaml(&certs, "  bwlimit: \"4MiB\"\n", "")).expect("write");
    std::fs::write(
        dir.path().join("environments/prod.yaml"),
        "link:\n  bwlimit: \"08:00,1MiB 23:00,off\"\n",
    )
    .expect("write");
    std::fs::write(
        dir.path().join("environments/typo.yaml"),
        "link:\n  chunk-sise: 2MiB\n",
    )
    .expect("write");

    assert!(check("cloud-service", &cloud, &[]).0);
    assert!(check("cloud-service", &cloud, &[("HOTCOLD_ENV", "prod")]).0);
    let (ok, msg) = check("cloud-service", &cloud, &[("HOTCOLD_ENV", "typo")]);
    assert!(
        !ok && msg.contains("chunk-sise") && msg.contains("environments/typo.yaml"),
        "{msg}"
    );
    let (ok, msg) = check("cloud-service", &cloud, &[("HOTCOLD_ENV", "nope")]);
    assert!(!ok && msg.contains("environments/nope.yaml"), "{msg}");
    let (ok, msg) = check(
        "cloud-service",
        &cloud,
        &[("HOTCOLD__LINK__BWLIMIT", "2MB")],
    );
    assert!(
        !ok && msg.contains("environment (link.bwlimit)") && msg.contains("ambiguous"),
        "{msg}"
    );
    assert!(
        check(
            "cloud-service",
            &cloud,
            &[("HOTCOLD__SCHEDULE__CRON", "30 3 * * *")]
        )
        .0
    );
    let (ok, msg) = check(
        "cloud-service",
        &cloud,
        &[("HOTCOLD__SCHEDULE__CRON", "30 25 * * *")],
    );
    assert!(!ok && msg.contains("hour"), "{msg}");

    // A plain file keeps serde's key path and line.
    std::fs::write(&cloud, "link:\n  bwlimit: \"off\"\n  chunk-sise: 1MiB\n").expect("write");
    let (ok, msg) = check("cloud-service", &cloud, &[]);
    assert!(
        !ok && msg.contains("link.chunk-sise: unknown field `chunk-sise`")
            && msg.contains("line 3"),
        "{msg}"
    );

    let nas = dir.path().join("nas.yaml");
    std::fs::write(
        &nas,
        format!(
            "cold:\n  kind: sqlite\ntls:\n  ca: {c}/ca.pem\n  cert: {c}/nas-gateway.pem\n  key: {c}/nas-gateway.key\n",
            c = certs.display()
        ),
    )
    .expect("write");
    assert!(check("nas-gateway", &nas, &[("HOTCOLD__COLD_RETENTION", "3y")]).0);
    let (ok, msg) = check(
        "nas-gateway",
        &nas,
        &[("HOTCOLD__COLD_RETENTION", "3 years")],
    );
    assert!(
        !ok && msg.contains("environment (cold-retention)") && msg.contains("unit"),
        "{msg}"
    );
}

/// `check-config` refuses what `serve` would refuse, with the same words:
/// each config below is refused by both, and the message names the key.
#[test]
fn check_config_refuses_what_serve_would() {
    let dir = tempfile::tempdir().expect("tempdir");
    let certs = dir.path().join("certs");
    hotcold_tests::stack::write_certs(&certs);
    let table = |name: &str| {
        format!("tables:\n  - name: {name}\n    time-column: ts\n    columns: [{{name: ts, type: timestamp_ms}}]\n")
    };
    let ok_link = format!(
        "link:\n  ca: {c}/ca.pem\n  cert: {c}/cloud-service.pem\n  key: {c}/cloud-service.key\n",
        c = certs.display()
    );
    let data = format!(
        "http-listen: 127.0.0.1:0\ndata-dir: {}\n",
        dir.path().join("d").display()
    );
    let cases: Vec<(&str, String, &str)> = vec![
        (
            "no tables",
            format!("{data}{ok_link}"),
            "tables: none declared",
        ),
        (
            "missing certificates",
            format!("{data}link:\n  ca: /nope/ca.pem\n{}", table("t")),
            "/nope/ca.pem",
        ),
        (
            "max-body 0",
            format!("{data}{ok_link}ingest:\n  max-body: 0B\n{}", table("t")),
            "ingest.max-body",
        ),
        (
            "sqlite_master",
            format!("{data}{ok_link}{}", table("sqlite_master")),
            "sqlite_",
        ),
        (
            "rehydrate's suffix",
            format!("{data}{ok_link}{}", table("trades__rehydrated")),
            "__rehydrated",
        ),
        (
            "our own prefix",
            format!("{data}{ok_link}{}", table("_hotcold_ledger")),
            "_hotcold",
        ),
        (
            "zero concurrency",
            format!("{data}{ok_link}query:\n  max-concurrent: 0\n{}", table("t")),
            "query.max-concurrent",
        ),
    ];
    for (what, yaml, names) in cases {
        let cfg = dir.path().join("cloud.yaml");
        std::fs::write(&cfg, &yaml).expect("write");
        let (ok, msg) = check("cloud-service", &cfg, &[]);
        assert!(!ok && msg.contains(names), "check-config, {what}: {msg}");
        let out = Command::new(hotcold_tests::procs::bin("cloud-service"))
            .args(["serve", "-c"])
            .arg(&cfg)
            .output()
            .expect("serve");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success() && err.contains(names),
            "serve, {what}: {err}"
        );
    }
    let nas = dir.path().join("nas.yaml");
    std::fs::write(&nas, "max-frame: 32B\n").expect("write");
    let (ok, msg) = check("nas-gateway", &nas, &[]);
    assert!(!ok && msg.contains("max-frame"), "{msg}");
    std::fs::write(&nas, "tls:\n  ca: /nope/ca.pem\n").expect("write");
    let (ok, msg) = check("nas-gateway", &nas, &[]);
    assert!(!ok && msg.contains("/nope/ca.pem"), "{msg}");
}
