//! The deploy files parse and say what they must: compose services with
//! volumes, health checks and restart policies; WireGuard templates that
//! render for both ends; systemd units; a Grafana dashboard whose every
//! metric is one the programs export. The images are built and the compose
//! files brought up for real by `scripts/podman-deploy.sh` (podman), which
//! `scripts/test.sh` runs after the cargo tests.

use std::path::{Path, PathBuf};
use std::process::Command;

fn deploy() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy")
}

fn compose(path: &str) -> serde_yaml::Value {
    let text = std::fs::read_to_string(deploy().join(path)).expect("compose file");
    serde_yaml::from_str(&with_defaults(&text)).expect("compose YAML")
}

/// The text as compose reads it with none of its variables set: every
/// `${NAME:-default}` replaced by its default.
fn with_defaults(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find("${") {
        out.push_str(&rest[..i]);
        let var = &rest[i + 2..];
        let end = var.find('}').expect("a closing brace");
        let (_, default) = var[..end]
            .split_once(":-")
            .expect("every variable has a default");
        out.push_str(default);
        rest = &var[end + 1..];
    }
    out.push_str(rest);
    out
}

fn check_service(doc: &serde_yaml::Value, name: &str) -> serde_yaml::Value {
    let s = doc["services"][name].clone();
    assert!(s.is_mapping(), "service {name} missing");
    assert!(
        s["restart"]
            .as_str()
            .is_some_and(|r| r == "unless-stopped" || r == "always"),
        "{name}: restart policy"
    );
    let test = &s["healthcheck"]["test"];
    assert!(
        test.as_sequence().is_some_and(|t| !t.is_empty()),
        "{name}: health check"
    );
    assert!(
        s["volumes"].as_sequence().is_some_and(|v| !v.is_empty()),
        "{name}: volumes"
    );
    s
}

#[test]
fn compose_files_have_services_volumes_ports_and_health_checks() {
    let cloud = compose("cloud/docker-compose.yml");
    let svc = check_service(&cloud, "cloud-service");
    assert!(svc["ports"]
        .as_sequence()
        .is_some_and(|p| p.iter().any(|p| p.as_str() == Some("8080:8080"))));
    assert!(svc["healthcheck"]["test"].as_sequence().is_some_and(|t| t
        .iter()
        .any(|x| x.as_str().is_some_and(|x| x.ends_with("/health")))));
    check_service(&cloud, "clickhouse-hot");

    let nas = compose("nas/docker-compose.yml");
    let gw = check_service(&nas, "nas-gateway");
    assert_eq!(
        gw["network_mode"], "host",
        "the gateway listens on the WireGuard address"
    );
    let raw: serde_yaml::Value = serde_yaml::from_str(
        &std::fs::read_to_string(deploy().join("nas/docker-compose.yml")).expect("compose file"),
    )
    .expect("compose YAML");
    assert!(raw["services"]["nas-gateway"]["user"]
        .as_str()
        .is_some_and(|u| u.contains("PUID") && u.contains("PGID")));
    assert_eq!(gw["user"], "1026:100", "Synology's first user by default");
    let vols: Vec<&str> = gw["volumes"]
        .as_sequence()
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_str())
        .collect();
    assert!(
        vols.iter().all(|v| v.starts_with("/volume1/")),
        "Synology paths: {vols:?}"
    );
    let ch = check_service(&nas, "clickhouse");
    assert_eq!(
        ch["image"], "clickhouse/clickhouse-server:24.3",
        "the official image unless CLICKHOUSE_IMAGE names another"
    );
    assert_eq!(
        gw["depends_on"]["clickhouse"]["condition"],
        "service_healthy"
    );
}

#[test]
fn wireguard_templates_render_for_both_ends() {
    let out = tempfile::tempdir().expect("tempdir");
    let r = Command::new("bash")
        .arg(deploy().join("wireguard/render.sh"))
        .arg(out.path())
        .env("CLOUD_PUBLIC_HOST", "cloud.example.net")
        .env(
            "CLOUD_PRIVATE_KEY",
            "cPrivKeycPrivKeycPrivKeycPrivKeycPrivKey1234=",
        )
        .env(
            "NAS_PRIVATE_KEY",
            "nPrivKeynPrivKeynPrivKeynPrivKeynPrivKey1234=",
        )
        .env("CLOUD_PUBLIC_KEY", "cPubKey")
        .env("NAS_PUBLIC_KEY", "nPubKey")
        .output()
        .expect("render.sh");
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let cloud = std::fs::read_to_string(out.path().join("cloud-wg0.conf")).expect("cloud conf");
    let nas = std::fs::read_to_string(out.path().join("nas-wg0.conf")).expect("nas conf");
    for (conf, me, peer) in [
        (&cloud, "10.77.0.1/24", "nPubKey"),
        (&nas, "10.77.0.2/24", "cPubKey"),
    ] {
        assert!(!conf.contains("${"), "unrendered: {conf}");
        assert!(conf.contains("[Interface]") && conf.contains("[Peer]"));
        assert!(conf.contains(&format!("Address = {me}")), "{conf}");
        assert!(conf.contains(&format!("PublicKey = {peer}")), "{conf}");
    }
    assert!(cloud.contains("ListenPort = 51820"));
    assert!(nas.contains("Endpoint = cloud.example.net:51820"));
    assert!(
        nas.contains("PersistentKeepalive = 25"),
        "the NAS keeps the tunnel up through NAT"
    );
    let missing = Command::new("bash")
        .arg(deploy().join("wireguard/render.sh"))
        .arg(out.path())
        .env_remove("CLOUD_PUBLIC_HOST")
        .output()
        .expect("run");
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("CLOUD_PUBLIC_HOST"));
}

#[test]
fn systemd_units_and_dockerfile_run_the_binaries() {
    for (unit, bin) in [
        ("systemd/cloud-service.service", "cloud-service"),
        ("systemd/nas-gateway.service", "nas-gateway"),
    ] {
        let text = std::fs::read_to_string(deploy().join(unit)).expect("unit");
        assert!(
            text.contains(&format!(
                "ExecStart=/usr/local/bin/{bin} serve -c /etc/hotcold/"
            )),
            "{unit}"
        );
        assert!(
            text.contains("Restart=on-failure") && text.contains("[Install]"),
            "{unit}"
        );
    }
    let docker = std::fs::read_to_string(deploy().join("docker/Dockerfile")).expect("Dockerfile");
    assert!(
        docker.contains("AS cloud-service")
            && docker.contains("AS nas-gateway")
            && docker.contains("HEALTHCHECK")
    );
    // Operators build from source on the public images unless told otherwise.
    for default in [
        "ARG BUILD_IMAGE=rust:1-bookworm",
        "ARG RUNTIME_IMAGE=debian:bookworm-slim",
        "ARG BINARIES=source",
    ] {
        assert!(docker.contains(default), "{default}");
    }
    assert!(docker.contains("curl"), "the HEALTHCHECK's curl");
    let ch = std::fs::read_to_string(deploy().join("docker/clickhouse/Dockerfile"))
        .expect("ClickHouse Dockerfile");
    assert!(ch.contains("clickhouse-server") && ch.contains("wget") && ch.contains("HEALTHCHECK"));
}

#[test]
fn grafana_dashboard_uses_only_exported_metrics() {
    let text = std::fs::read_to_string(deploy().join("grafana/hotcold-dashboard.json"))
        .expect("dashboard");
    let dash: serde_json::Value = serde_json::from_str(&text).expect("JSON");
    let sources = [
        include_str!("../../cloud-service/src/api/metrics.rs"),
        include_str!("../../cloud-service/src/api/admin.rs"),
        include_str!("../../nas-gateway/src/http.rs"),
    ]
    .concat();
    let panels = dash["panels"].as_array().expect("panels");
    assert!(panels.len() >= 10);
    for p in panels {
        let expr = p["targets"][0]["expr"].as_str().expect("expr");
        for name in expr
            .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .filter(|w| w.starts_with("hotcold_"))
        {
            assert!(
                sources.contains(&format!("\"{name}\"")),
                "panel {:?} uses {name}, which nothing exports",
                p["title"]
            );
        }
    }
}
