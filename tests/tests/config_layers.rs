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

#[test]
fn overlays_and_overrides_apply_and_errors_say_where() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir_all(dir.path().join("environments")).expect("dir");
    let cloud = dir.path().join("cloud.yaml");
    std::fs::write(&cloud, "tables: []\nlink:\n  bwlimit: \"4MiB\"\n").expect("write");
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
    std::fs::write(&cloud, "tables: []\nlink:\n  chunk-sise: 1MiB\n").expect("write");
    let (ok, msg) = check("cloud-service", &cloud, &[]);
    assert!(
        !ok && msg.contains("link: unknown field `chunk-sise`") && msg.contains("line 3"),
        "{msg}"
    );

    let nas = dir.path().join("nas.yaml");
    std::fs::write(&nas, "cold:\n  kind: sqlite\n").expect("write");
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
