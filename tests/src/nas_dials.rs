//! A pair whose NAS dials the cloud (`link.direction: nas-dials`): the
//! cloud listens on a UDP port, the gateway's config says `dial:`. The
//! certificates come from one CA that also signed a second, rogue gateway
//! certificate, so a test can dial with a certificate the pin must refuse.

use crate::procs::{Cloud, Gateway};
use crate::stack::{cloud_yaml, gateway_yaml, ColdKind, StackOptions};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

pub struct DialPair {
    pub dir: tempfile::TempDir,
    pub cloud: Cloud,
    /// `None` until `start_gateway`.
    pub gateway: Option<Gateway>,
    /// Where the cloud listens for its gateway.
    pub listen: SocketAddr,
    pub gateway_config: PathBuf,
    starts: u32,
}

/// A free UDP port on `ip` (bound, then released).
pub fn free_udp(ip: &str) -> SocketAddr {
    let s = std::net::UdpSocket::bind(format!("{ip}:0")).expect("udp bind");
    s.local_addr().expect("addr")
}

/// The CA and both ends' certificates, plus `rogue/` holding the same CA
/// with another gateway certificate it signed.
pub fn write_dial_certs(dir: &Path) {
    let b = hotcold_link::certs::generate_many("dial", 2).expect("certs");
    let write = |d: &Path, name: &str, text: &str| {
        std::fs::create_dir_all(d).expect("dir");
        std::fs::write(d.join(name), text).expect("write");
    };
    for (d, i) in [(dir.to_path_buf(), 0), (dir.join("rogue"), 1)] {
        write(&d, "ca.pem", &b[0].ca_cert);
        write(&d, "nas-gateway.pem", &b[i].server_cert);
        write(&d, "nas-gateway.key", &b[i].server_key);
        // Both pin the real cloud.
        write(&d, "cloud-service.pem", &b[0].client_cert);
        write(&d, "cloud-service.key", &b[0].client_key);
    }
}

/// `cloud.yaml` with the cloud listening on `listen` for its gateway.
pub fn dial_cloud_yaml(dir: &Path, listen: SocketAddr, certs: &Path, o: &StackOptions) -> String {
    let yaml = cloud_yaml(dir, listen, certs, o);
    yaml.replacen(
        "link:\n",
        &format!("link:\n  direction: nas-dials\n  listen: {listen}\n"),
        1,
    )
    .replacen(&format!("  gateway: {listen}\n"), "", 1)
}

/// `nas.yaml` of a gateway that dials `cloud` with the certificates in
/// `certs`.
pub fn dial_gateway_yaml(dir: &Path, cloud: SocketAddr, certs: &Path, cold: &ColdKind) -> String {
    format!(
        "{}dial: {cloud}\nkeep-alive: 2s\n",
        gateway_yaml(dir, "127.0.0.1:0", certs, cold)
    )
}

impl DialPair {
    /// The cloud alone, listening on `listen` (loopback when `None`).
    pub fn cloud_first(o: StackOptions, listen: Option<SocketAddr>) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let certs = dir.path().join("certs");
        write_dial_certs(&certs);
        let listen = listen.unwrap_or_else(|| free_udp("127.0.0.1"));
        let ccfg = dir.path().join("cloud.yaml");
        std::fs::write(&ccfg, dial_cloud_yaml(dir.path(), listen, &certs, &o)).expect("cloud.yaml");
        let cloud = Cloud::start_with_env(
            ccfg,
            dir.path().join("cloud.log"),
            dir.path().join("cloud"),
            &o.cloud_env,
        );
        let gateway_config = dir.path().join("nas.yaml");
        std::fs::write(
            &gateway_config,
            dial_gateway_yaml(dir.path(), listen, &certs, &o.cold),
        )
        .expect("nas.yaml");
        Self {
            dir,
            cloud,
            gateway: None,
            listen,
            gateway_config,
            starts: 0,
        }
    }

    /// Starts (or starts again) the gateway, in namespace `netns` if given.
    pub fn start_gateway(&mut self, netns: Option<&str>) {
        if let Some(mut g) = self.gateway.take() {
            g.kill("KILL");
        }
        self.starts += 1;
        let log = self.dir.path().join(format!("nas-{}.log", self.starts));
        self.gateway = Some(Gateway::start_in(
            netns,
            self.gateway_config.clone(),
            log,
            Vec::new(),
        ));
    }

    pub fn kill_gateway(&mut self) {
        if let Some(mut g) = self.gateway.take() {
            g.kill("KILL");
        }
    }

    /// Waits until the cloud's health says the link is connected.
    pub async fn wait_connected(&self, secs: u64) -> serde_json::Value {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
        loop {
            let (_, h) = self.cloud.get("/health").await;
            let h: serde_json::Value = serde_json::from_str(&h).unwrap_or_default();
            if h["components"]["link"]["detail"]["connected"] == true {
                return h;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the NAS did not connect within {secs}s: {h:#}"
            );
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
    }

    pub fn cloud_log(&self) -> String {
        std::fs::read_to_string(&self.cloud.log).unwrap_or_default()
    }
}
