//! The modern ClickHouse engine for tests: chDB (ClickHouse 26.x from PyPI's
//! `chdb-core`) behind the test-only HTTP front in `tests/chdb/front.py`, so
//! the project's own client, and the real binaries, talk to it as to a
//! server.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Front {
    child: Child,
    pub url: String,
    _dir: tempfile::TempDir,
}

/// Is chDB importable? Without it the modern-engine tests say SKIPPED,
/// unless `HOTCOLD_REQUIRE_CHDB=1` (scripts/test.sh sets it after
/// installing chdb-core), where its absence is a failure.
fn available() -> bool {
    let ok = Command::new("python3")
        .args(["-c", "import chdb"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        assert!(
            std::env::var("HOTCOLD_REQUIRE_CHDB").as_deref() != Ok("1"),
            "HOTCOLD_REQUIRE_CHDB=1 but python3 cannot import chdb (pip install chdb-core)"
        );
        eprintln!("SKIPPED: chDB is not installed (pip install chdb-core, or run scripts/test.sh)");
    }
    ok
}

impl Front {
    /// Starts the front on `port`, its engine's session in `zone`.
    pub fn start(port: u16, zone: &str) -> Option<Front> {
        if !available() {
            return None;
        }
        let dir = tempfile::tempdir().expect("tempdir");
        let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("chdb/front.py");
        let log = std::fs::File::create(dir.path().join("front.log")).expect("log");
        let child = Command::new("python3")
            .arg(script)
            .args(["--port", &port.to_string(), "--tz", zone, "--path"])
            .arg(dir.path().join("data"))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("python3 tests/chdb/front.py");
        let url = format!("http://127.0.0.1:{port}");
        let front = Front {
            child,
            url,
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            let ping = std::net::TcpStream::connect(("127.0.0.1", port)).is_ok();
            if ping {
                return Some(front);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("the chDB front did not listen on {port} within 60 s");
    }
}

impl Drop for Front {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
