//! The two-host harness of `scripts/netns.sh` from Rust: bring it up (or
//! skip loudly), run ClickHouse on the NAS host, measure the line, and take
//! it all down again when dropped, also after a failed assertion.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../scripts")
        .join(name)
}

pub struct Tunnel {
    pub prefix: String,
    pub net: u8,
    /// Namespace names.
    pub cloud: String,
    pub nas: String,
    /// The NAS's tunnel address, where the gateway listens.
    pub nas_ip: String,
    /// The cloud's address on the operator veth, for its HTTP API.
    pub operator_ip: String,
    clickhouse_dir: Mutex<Option<PathBuf>>,
}

impl Tunnel {
    /// `None` (with a loud message) when this machine cannot run it, unless
    /// HOTCOLD_REQUIRE_NETNS=1 makes that a failure.
    pub fn up(prefix: &str, net: u8, rate: &str) -> Option<Tunnel> {
        let env = [
            ("HC_NETNS_PREFIX", prefix.to_string()),
            ("HC_NETNS_NET", net.to_string()),
        ];
        let check = Command::new("bash")
            .arg(script("netns.sh"))
            .arg("check")
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .output()
            .expect("bash");
        if !check.status.success() {
            let why = String::from_utf8_lossy(&check.stderr).trim().to_string();
            if std::env::var("HOTCOLD_REQUIRE_NETNS").as_deref() == Ok("1") {
                panic!("the network-namespace harness cannot run here: {why}");
            }
            eprintln!("SKIPPED: network-namespace harness unavailable: {why} (root, wireguard-go and wireguard-tools are needed; scripts/test.sh installs them)");
            return None;
        }
        let out = Command::new("bash")
            .arg(script("netns.sh"))
            .arg("up")
            .arg(rate)
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .output()
            .expect("bash");
        assert!(
            out.status.success(),
            "netns.sh up: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        Some(Tunnel {
            prefix: prefix.into(),
            net,
            cloud: format!("{prefix}-cloud"),
            nas: format!("{prefix}-nas"),
            nas_ip: format!("10.78.{net}.2"),
            operator_ip: format!("10.79.{net}.2"),
            clickhouse_dir: Mutex::new(None),
        })
    }

    fn env(&self) -> [(&'static str, String); 2] {
        [
            ("HC_NETNS_PREFIX", self.prefix.clone()),
            ("HC_NETNS_NET", self.net.to_string()),
        ]
    }

    /// Runs `args` on the NAS host.
    pub fn on_nas(&self, args: &[&str]) -> std::process::Output {
        Command::new("ip")
            .args(["netns", "exec", &self.nas])
            .args(args)
            .output()
            .expect("ip netns exec")
    }

    /// Starts a private ClickHouse on the NAS host (its own loopback), or
    /// `None` if ClickHouse is not installed. The URL works from that host.
    pub fn clickhouse(&self, dir: &Path) -> Option<String> {
        // The root namespace's test server tells that ClickHouse is installed.
        crate::clickhouse::url()?;
        let ch = dir.join("clickhouse");
        let out = Command::new("ip")
            .args(["netns", "exec", &self.nas, "bash"])
            .arg(script("clickhouse.sh"))
            .arg("start")
            .arg(&ch)
            .output()
            .expect("clickhouse.sh");
        assert!(
            out.status.success(),
            "clickhouse on the NAS host: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        *self
            .clickhouse_dir
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = Some(ch);
        Some(String::from_utf8_lossy(&out.stdout).trim().to_string())
    }

    /// Bytes sent so far on the cloud's end of the line (all of WireGuard,
    /// UDP and IP included).
    pub fn line_tx_bytes(&self) -> u64 {
        let out = Command::new("ip")
            .args(["netns", "exec", &self.cloud, "cat"])
            .arg(format!(
                "/sys/class/net/{}-lc/statistics/tx_bytes",
                self.prefix
            ))
            .output();
        out.ok()
            .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
            .unwrap_or(0)
    }
}

impl Drop for Tunnel {
    fn drop(&mut self) {
        if let Some(ch) = self
            .clickhouse_dir
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
        {
            let _ = Command::new("ip")
                .args(["netns", "exec", &self.nas, "bash"])
                .arg(script("clickhouse.sh"))
                .arg("stop")
                .arg(&ch)
                .output();
        }
        let _ = Command::new("bash")
            .arg(script("netns.sh"))
            .arg("down")
            .envs(self.env().iter().map(|(k, v)| (*k, v.as_str())))
            .output();
    }
}

/// What went over the line while a meter ran.
#[derive(Debug, Clone, Copy)]
pub struct LineStats {
    pub bytes: u64,
    pub secs: f64,
    /// Bytes per second between 10 % and 90 % of the bytes: the steady
    /// state, without the start and the tail of a transfer.
    pub steady_rate: f64,
}

/// Samples the line's byte counter every 100 ms.
pub struct LineMeter {
    samples: Arc<Mutex<Vec<(Instant, u64)>>>,
    stop: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

impl LineMeter {
    pub fn start(t: &Tunnel) -> LineMeter {
        let samples = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (s, st) = (samples.clone(), stop.clone());
        let (cloud, prefix) = (t.cloud.clone(), t.prefix.clone());
        let task = tokio::task::spawn_blocking(move || {
            let path = format!("/sys/class/net/{prefix}-lc/statistics/tx_bytes");
            while !st.load(Ordering::Relaxed) {
                let out = Command::new("ip")
                    .args(["netns", "exec", &cloud, "cat", &path])
                    .output();
                if let Some(b) = out.ok().and_then(|o| {
                    String::from_utf8_lossy(&o.stdout)
                        .trim()
                        .parse::<u64>()
                        .ok()
                }) {
                    s.lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .push((Instant::now(), b));
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        });
        LineMeter {
            samples,
            stop,
            task,
        }
    }

    pub async fn stop(self) -> LineStats {
        self.stop.store(true, Ordering::Relaxed);
        let _ = self.task.await;
        let v = self
            .samples
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        line_stats(&v)
    }
}

pub fn line_stats(v: &[(Instant, u64)]) -> LineStats {
    let (Some(first), Some(last)) = (v.first(), v.last()) else {
        return LineStats {
            bytes: 0,
            secs: 0.0,
            steady_rate: 0.0,
        };
    };
    let total = last.1 - first.1;
    let at = |frac: f64| {
        let want = first.1 + (total as f64 * frac) as u64;
        v.iter().find(|(_, b)| *b >= want).copied().unwrap_or(*last)
    };
    let (a, b) = (at(0.1), at(0.9));
    let dt = b.0.duration_since(a.0).as_secs_f64();
    LineStats {
        bytes: total,
        secs: last.0.duration_since(first.0).as_secs_f64(),
        steady_rate: if dt > 0.0 {
            (b.1 - a.1) as f64 / dt
        } else {
            0.0
        },
    }
}
