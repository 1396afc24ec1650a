//! The standalone edition as a test runs it: one `cloud-service` process
//! with the cold tier inside it (no gateway, no link, no certificates), in
//! a temporary directory, restartable on the same data.

use crate::procs::Cloud;
use crate::stack::{trades_yaml, ColdKind};
use std::path::{Path, PathBuf};

pub struct Standalone {
    pub dir: tempfile::TempDir,
    pub cloud: Cloud,
    pub config: PathBuf,
    starts: u32,
}

/// `cloud.yaml` of the standalone edition: `cold:` instead of `link:`.
pub fn standalone_yaml(dir: &Path, cold: &ColdKind, hot_retention: &str) -> String {
    let store = crate::stack::cold_store_yaml(cold, "    ");
    format!(
        "http-listen: 127.0.0.1:0\ndata-dir: {}\nhot:\n  kind: sqlite\nhot-retention: {hot_retention}\ncold:\n  data-dir: {}\n  commit-retry: 1s\n  store:\n{store}\narchive:\n  purge-grace: 0s\nschedule:\n  enabled: false\ntables:\n{}",
        dir.join("hot").display(),
        dir.join("cold").display(),
        trades_yaml(),
    )
}

impl Standalone {
    pub fn start(cold: &ColdKind, env: &[(String, String)]) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = dir.path().join("standalone.yaml");
        std::fs::write(&config, standalone_yaml(dir.path(), cold, "2d")).expect("config");
        let cloud = Cloud::start_with_env(
            config.clone(),
            dir.path().join("cloud-0.log"),
            dir.path().join("hot"),
            env,
        );
        Self {
            dir,
            cloud,
            config,
            starts: 1,
        }
    }

    /// Starts the process again on the same data (after it died or was
    /// killed); each start logs to its own file.
    pub fn restart(&mut self, env: &[(String, String)]) {
        self.cloud.kill("KILL");
        let log = self.dir.path().join(format!("cloud-{}.log", self.starts));
        self.starts += 1;
        self.cloud =
            Cloud::start_with_env(self.config.clone(), log, self.dir.path().join("hot"), env);
    }

    pub fn cold_db(&self) -> PathBuf {
        self.dir.path().join("cold/cold.db")
    }

    /// Every log so far, for a failing test's message.
    pub fn logs(&self) -> String {
        (0..self.starts)
            .map(|i| {
                let p = self.dir.path().join(format!("cloud-{i}.log"));
                format!(
                    "==== {} ====\n{}",
                    p.display(),
                    std::fs::read_to_string(&p).unwrap_or_default()
                )
            })
            .collect()
    }
}
