//! The NAT harness of `scripts/natns.sh` from Rust: the NAS behind a home
//! router that masquerades, no tunnel and no way in. Up (or SKIPPED loudly,
//! a failure under HOTCOLD_REQUIRE_NETNS=1), the line cut and healed, and
//! all of it taken down when dropped.

use std::path::{Path, PathBuf};
use std::process::Command;

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/natns.sh")
}

pub struct NatHome {
    prefix: String,
    net: u8,
    pub cloud: String,
    pub nas: String,
    /// The cloud's address on the line: where the NAS dials.
    pub cloud_ip: String,
    pub nas_ip: String,
    /// The cloud's address on the operator veth, for its HTTP API.
    pub operator_ip: String,
}

impl NatHome {
    pub fn up(prefix: &str, net: u8, rate: &str) -> Option<NatHome> {
        let me = NatHome {
            prefix: prefix.into(),
            net,
            cloud: format!("{prefix}-cloud"),
            nas: format!("{prefix}-nas"),
            cloud_ip: format!("10.77.{net}.1"),
            nas_ip: format!("192.168.{net}.2"),
            operator_ip: format!("10.79.{net}.2"),
        };
        let check = me.run(&["check"]);
        if !check.status.success() {
            let why = String::from_utf8_lossy(&check.stderr).trim().to_string();
            if std::env::var("HOTCOLD_REQUIRE_NETNS").as_deref() == Ok("1") {
                panic!("the NAT namespace harness cannot run here: {why}");
            }
            eprintln!("SKIPPED: NAT namespace harness unavailable: {why} (root, iproute2 and nftables are needed; scripts/test.sh installs them)");
            return None;
        }
        let out = me.run(&["up", rate]);
        assert!(
            out.status.success(),
            "natns.sh up: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        Some(me)
    }

    fn run(&self, args: &[&str]) -> std::process::Output {
        Command::new("bash")
            .arg(script())
            .args(args)
            .env("HC_NETNS_PREFIX", &self.prefix)
            .env("HC_NETNS_NET", self.net.to_string())
            .output()
            .expect("bash natns.sh")
    }

    /// The line down (the home router's WAN side).
    pub fn cut(&self) {
        assert!(self.run(&["cut"]).status.success(), "natns.sh cut");
    }

    pub fn heal(&self) {
        assert!(self.run(&["heal"]).status.success(), "natns.sh heal");
    }

    /// Does the cloud's host have any route to the NAS? (It must not.)
    pub fn cloud_can_route_to_nas(&self) -> bool {
        Command::new("ip")
            .args(["-n", &self.cloud, "route", "get", &self.nas_ip])
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false)
    }
}

impl Drop for NatHome {
    fn drop(&mut self) {
        let _ = self.run(&["down"]);
    }
}
