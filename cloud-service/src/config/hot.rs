//! Which hot store: the embedded SQLite file (with or without its
//! columnar copy of sealed hours) or a ClickHouse server.

use serde::Deserialize;
use std::path::PathBuf;

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum HotConfig {
    /// A SQLite file under `data-dir` (or `path`): the embedded default.
    Sqlite {
        #[serde(default)]
        path: Option<PathBuf>,
        /// Keep a columnar copy of each sealed hour beside the rows, which
        /// Arrow and Parquet answers read several times faster; it costs
        /// about as much disk again as the rows (`false` to save it).
        #[serde(default = "yes", rename = "columnar-copy")]
        columnar_copy: bool,
    },
    /// A ClickHouse server (any version from 18.16 on); database
    /// `hotcold_hot` unless named.
    Clickhouse(hotcold_clickhouse::Connection),
}

/// The hot ClickHouse database when the config names none.
pub(crate) const DEFAULT_HOT_DATABASE: &str = "hotcold_hot";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::CloudConfig;
    use std::path::Path;

    /// The SQLite hot store keeps its columnar copy unless told not to,
    /// and the shipped file's commented key parses as written.
    #[test]
    fn the_columnar_copy_is_on_unless_turned_off() {
        let copy = |yaml: &str| match serde_yaml::from_str::<HotConfig>(yaml).unwrap() {
            HotConfig::Sqlite { columnar_copy, .. } => columnar_copy,
            HotConfig::Clickhouse(_) => panic!("not sqlite"),
        };
        assert!(copy("kind: sqlite\n"));
        assert!(!copy("kind: sqlite\ncolumnar-copy: false\n"));
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../config");
        let shipped = std::fs::read_to_string(root.join("cloud.yaml")).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.yaml");
        std::fs::write(
            &path,
            shipped.replacen("  # columnar-copy: true ", "  columnar-copy: false ", 1),
        )
        .unwrap();
        let cfg = CloudConfig::load(&path).unwrap();
        assert!(matches!(
            cfg.hot,
            HotConfig::Sqlite {
                columnar_copy: false,
                ..
            }
        ));
        let e = serde_yaml::from_str::<HotConfig>("kind: sqlite\ncolumnar-copy: 3\n").unwrap_err();
        assert!(e.to_string().contains("bool"), "{e}");
    }

    #[test]
    fn a_clickhouse_hot_store_reads_its_connection() {
        let h: HotConfig =
            serde_yaml::from_str("kind: clickhouse\nurl: http://ch:8123\nuser: ops\n").unwrap();
        let HotConfig::Clickhouse(c) = h else {
            panic!("not clickhouse")
        };
        assert_eq!((c.url.as_str(), c.user.as_str()), ("http://ch:8123", "ops"));
        assert_eq!(c.database, None);
        assert_eq!(c.cluster, None);
        let h: HotConfig =
            serde_yaml::from_str("kind: clickhouse\nurl: http://ch:8123\ncluster: hot2x2\n")
                .unwrap();
        let HotConfig::Clickhouse(c) = h else {
            panic!("not clickhouse")
        };
        assert_eq!(c.cluster.as_deref(), Some("hot2x2"));
        let e = serde_yaml::from_str::<HotConfig>("kind: clickhouse\nurl: x\ndatabse: y\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("databse"), "{e}");
    }
}
