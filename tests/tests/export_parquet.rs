//! `nas-gateway export`: a month of archived trades becomes a Parquet tree,
//! `OUT/trades/date=YYYY-MM-DD/part.parquet`, that DuckDB reads with one
//! glob (`tests/python/check_export.py`) and that holds exactly the rows
//! ingested, day by day: counts, exact decimal sums, times, ids. A day
//! changed in the cold store behind the gateway's back is refused by name
//! and gets no file, while an earlier verified export of it stays whole.
//!
//! Needs python3 with pyarrow and duckdb (scripts/test.sh installs them);
//! without them it says SKIPPED, unless `HOTCOLD_REQUIRE_PYTHON=1`.

use hotcold_core::schema::{Window, DAY_MS};
use hotcold_core::time::format_timestamp_ms;
use hotcold_tests::data::{now_ms, scaled, trades};
use hotcold_tests::procs::bin;
use hotcold_tests::stack::{ColdKind, StackOptions};
use hotcold_tests::{clickhouse, Stack};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

const DAYS: i64 = 30;
const PER_DAY: usize = 700;

fn checker() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("python/check_export.py")
}

/// Runs `nas-gateway export ... --json`: exit code, stdout, stderr.
fn export(stack: &Stack, out: &Path, extra: &[&str]) -> (i32, String, String) {
    let o = Command::new(bin("nas-gateway"))
        .arg("export")
        .arg("-c")
        .arg(&stack.gateway.config)
        .arg("--out")
        .arg(out)
        .args(extra)
        .output()
        .expect("nas-gateway export");
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

fn read_tree(out: &Path) -> Value {
    let o = Command::new("python3")
        .arg(checker())
        .arg(out)
        .arg("trades")
        .output()
        .expect("python3");
    assert!(
        o.status.success(),
        "check_export.py: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    serde_json::from_slice(&o.stdout).expect("checker json")
}

/// One row's cells, decimals as scaled integers.
type Cells = (i64, String, String, u64, i128, i128, bool);

fn ingested_cells(rows: &[Value]) -> Vec<Cells> {
    let mut v: Vec<Cells> = rows
        .iter()
        .map(|r| {
            (
                r["ts"].as_i64().expect("ts"),
                r["exchange"].as_str().expect("exchange").to_string(),
                r["symbol"].as_str().expect("symbol").to_string(),
                r["trade_id"].as_u64().expect("trade_id"),
                scaled(r["price"].as_str().expect("price")),
                scaled(r["amount"].as_str().expect("amount")),
                r["buyer_maker"].as_bool().expect("buyer_maker"),
            )
        })
        .collect();
    v.sort_by_key(|a| (a.0, a.3));
    v
}

fn cells(tree: &Value) -> Vec<Cells> {
    tree["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .map(|r| {
            (
                r[0].as_i64().expect("ts"),
                r[1].as_str().expect("exchange").to_string(),
                r[2].as_str().expect("symbol").to_string(),
                r[3].as_u64().expect("trade_id"),
                scaled(r[4].as_str().expect("price")),
                scaled(r[5].as_str().expect("amount")),
                r[6].as_bool().expect("buyer_maker"),
            )
        })
        .collect()
}

/// What each day must hold, from the rows the test ingested.
#[derive(Debug, Default, PartialEq)]
struct Day {
    rows: u64,
    price: i128,
    amount: i128,
    min_ts: i64,
    max_ts: i64,
}

fn expected(rows: &[Value]) -> BTreeMap<String, Day> {
    let mut days: BTreeMap<String, Day> = BTreeMap::new();
    for r in rows {
        let ts = r["ts"].as_i64().expect("ts");
        let d = days
            .entry(format_timestamp_ms(ts)[..10].to_string())
            .or_insert(Day {
                min_ts: i64::MAX,
                max_ts: i64::MIN,
                ..Default::default()
            });
        d.rows += 1;
        d.price += scaled(r["price"].as_str().expect("price"));
        d.amount += scaled(r["amount"].as_str().expect("amount"));
        d.min_ts = d.min_ts.min(ts);
        d.max_ts = d.max_ts.max(ts);
    }
    days
}

fn found(tree: &Value) -> BTreeMap<String, Day> {
    let days = tree["days"].as_object().expect("days");
    days.iter()
        .map(|(k, v)| {
            assert_eq!(v["ids"], v["rows"], "{k}: trade ids are distinct");
            let day = Day {
                rows: v["rows"].as_u64().expect("rows"),
                price: scaled(v["price"].as_str().expect("price")),
                amount: scaled(v["amount"].as_str().expect("amount")),
                min_ts: v["min_ts"].as_i64().expect("min_ts"),
                max_ts: v["max_ts"].as_i64().expect("max_ts"),
            };
            (k.clone(), day)
        })
        .collect()
}

async fn month_exports_exactly(cold: ColdKind) {
    if !hotcold_tests::python::modules_present(&["duckdb", "pyarrow"]) {
        return;
    }
    let stack = Stack::start(StackOptions {
        cold: cold.clone(),
        ..Default::default()
    });
    let start = Window::day_of(now_ms() - (DAYS + 8) * DAY_MS).start;
    let rows = trades(start, start + DAYS * DAY_MS, DAYS as usize * PER_DAY, 5);
    stack.cloud.ingest_all("trades", &rows).await;
    let (s, r) = stack.cloud.archive().await;
    assert_eq!(s, 200, "{r}");

    let out = tempfile::tempdir().expect("out dir");
    let (code, stdout, stderr) = export(&stack, out.path(), &["--table", "trades", "--json"]);
    assert_eq!(code, 0, "export failed: {stdout} {stderr}");
    let report: Value = serde_json::from_str(&stdout).expect("report json");
    assert_eq!(report["files"], DAYS, "{report:#}");
    assert_eq!(report["rows"], rows.len() as u64, "{report:#}");
    assert!(
        !out.path().join(".hotcold-export-tmp").exists(),
        "no temporary file is left behind"
    );

    let want = expected(&rows);
    let tree = read_tree(out.path());
    assert_eq!(
        found(&tree),
        want,
        "the tree holds exactly the ingested rows"
    );
    assert_eq!(
        cells(&tree),
        ingested_cells(&rows),
        "every cell as ingested"
    );
    let types = &tree["types"];
    assert_eq!(types["ts"], "timestamp[ms, tz=UTC]", "{types}");
    assert_eq!(types["price"], "decimal128(38, 8)", "{types}");
    assert_eq!(
        types["symbol"],
        "dictionary<values=string, indices=int32, ordered=0>"
    );
    let (day0, first) = want.iter().next().expect("a day");
    let footer = &tree["footers"][day0];
    assert_eq!(footer["hotcold.table"], "trades");
    assert_eq!(footer["hotcold.rows"], first.rows.to_string(), "{footer}");
    assert!(
        footer["hotcold.content_hash"]
            .as_str()
            .is_some_and(|h| h.starts_with(&format!("{}:", first.rows))),
        "the footer carries the ledger's hash: {footer}"
    );

    // Killed mid-day (a failpoint aborts once a day is written, before it
    // is synced, checked and renamed into place): the tree keeps its
    // verified files, only the dead export's temporary file is left,
    // outside every glob, and the next export into the tree removes it.
    let o = Command::new(bin("nas-gateway"))
        .args(["export", "--table", "trades", "-c"])
        .arg(&stack.gateway.config)
        .arg("--out")
        .arg(out.path())
        .env("NAS_GATEWAY_FAILPOINTS", "export-before-place=abort")
        .output()
        .expect("nas-gateway export");
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(o.status.signal(), Some(6), "died by SIGABRT: {o:?}");
    let left: Vec<_> = std::fs::read_dir(out.path().join(".hotcold-export-tmp"))
        .expect("tmp dir")
        .map(|e| e.expect("entry").path())
        .collect();
    assert_eq!(left.len(), 1, "{left:?}");
    assert!(
        std::fs::metadata(&left[0]).expect("tmp").len() > 0,
        "the day was written"
    );
    assert_eq!(
        found(&read_tree(out.path())),
        want,
        "the verified tree is whole"
    );
    let (code, stdout, stderr) = export(&stack, out.path(), &["--table", "trades", "--json"]);
    assert_eq!(code, 0, "{stdout} {stderr}");
    let again: Value = serde_json::from_str(&stdout).expect("report json");
    assert_eq!(again["stale_removed"], 1, "{again:#}");
    assert!(!out.path().join(".hotcold-export-tmp").exists());

    // A range: only the days inside it.
    let part = tempfile::tempdir().expect("part dir");
    let from = format_timestamp_ms(start + 3 * DAY_MS)[..10].to_string();
    let to = format_timestamp_ms(start + 5 * DAY_MS)[..10].to_string();
    let (code, stdout, _) = export(
        &stack,
        part.path(),
        &["--table", "trades", "--from", &from, "--to", &to, "--json"],
    );
    assert_eq!(code, 0, "{stdout}");
    let days: Vec<String> = found(&read_tree(part.path())).into_keys().collect();
    assert_eq!(
        days,
        vec![
            from.clone(),
            want.keys().nth(4).cloned().unwrap_or_default()
        ]
    );

    // Bad input gets a clear error.
    let (code, _, stderr) = export(&stack, part.path(), &["--table", "nosuch"]);
    assert_ne!(code, 0);
    assert!(stderr.contains("nosuch"), "{stderr}");
    let (code, _, stderr) = export(
        &stack,
        part.path(),
        &["--table", "trades", "--from", "soon"],
    );
    assert_ne!(code, 0);
    assert!(
        stderr.contains("--from") && stderr.contains("soon"),
        "{stderr}"
    );

    // Day 12 keeps its count but one cell changes; day 10 loses rows. Both
    // behind the gateway's back.
    let flipped = Window::new(start + 12 * DAY_MS, start + 13 * DAY_MS);
    let flipped_day = format_timestamp_ms(flipped.start)[..10].to_string();
    let victim_ts = rows
        .iter()
        .filter_map(|r| r["ts"].as_i64())
        .find(|t| flipped.contains(*t))
        .expect("a row on day 12");
    let victim = Window::new(start + 10 * DAY_MS, start + 11 * DAY_MS);
    let victim_day = format_timestamp_ms(victim.start)[..10].to_string();
    match &cold {
        ColdKind::ClickHouse { url, database } => {
            let sql = format!(
                "ALTER TABLE {database}.trades DELETE WHERE ts >= {} AND ts < {}",
                victim.start,
                victim.end - DAY_MS / 2
            );
            clickhouse::sql(url, &sql).await.expect("delete");
            clickhouse::sql(
                url,
                &format!(
                    "ALTER TABLE {database}.trades UPDATE buyer_maker = 1 - buyer_maker WHERE ts = {victim_ts}"
                ),
            )
            .await
            .expect("update");
            // A mutation: wait until it is applied.
            for _ in 0..200 {
                let n = clickhouse::sql(
                    url,
                    &format!(
                        "SELECT count() FROM {database}.trades WHERE ts >= {} AND ts < {}",
                        victim.start, victim.end
                    ),
                )
                .await
                .expect("count");
                let mutations = clickhouse::sql(
                    url,
                    &format!(
                        "SELECT count() FROM system.mutations WHERE database = '{database}' AND is_done = 0"
                    ),
                )
                .await
                .expect("mutations");
                if n.trim() != want[&victim_day].rows.to_string() && mutations.trim() == "0" {
                    break;
                }
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
        }
        ColdKind::Sqlite => {
            let conn =
                rusqlite::Connection::open(stack.dir.path().join("nas/cold.db")).expect("cold.db");
            conn.execute(
                "DELETE FROM trades WHERE ts >= ?1 AND ts < ?2",
                [victim.start, victim.end - DAY_MS / 2],
            )
            .expect("delete");
            conn.execute(
                "UPDATE trades SET buyer_maker = 1 - buyer_maker WHERE ts = ?1",
                [victim_ts],
            )
            .expect("update");
        }
        ColdKind::Replicas { .. } => unreachable!(),
    }
    // Exported again over the first tree: exit 1 naming the day, the
    // other days rewritten, the damaged day's verified file untouched.
    let (code, stdout, _) = export(&stack, out.path(), &["--table", "trades"]);
    assert_eq!(code, 1, "{stdout}");
    assert!(
        stdout.contains("REFUSED") && stdout.contains(&victim_day),
        "the refusal names the day: {stdout}"
    );
    assert!(
        stdout.contains(&flipped_day) && stdout.contains("content differs"),
        "a changed cell with the count intact is refused too: {stdout}"
    );
    assert!(stdout.contains("28 files"), "{stdout}");
    assert_eq!(
        found(&read_tree(out.path())),
        want,
        "the earlier verified file of the damaged day stays whole"
    );
    // Into a fresh tree: every day but the damaged one.
    let fresh = tempfile::tempdir().expect("fresh dir");
    let (code, _, _) = export(&stack, fresh.path(), &["--table", "trades"]);
    assert_eq!(code, 1);
    let got = found(&read_tree(fresh.path()));
    let mut rest = want;
    rest.remove(&victim_day);
    rest.remove(&flipped_day);
    assert_eq!(got, rest, "no file for the refused days, all others whole");
    for day in [&victim_day, &flipped_day] {
        assert!(!fresh.path().join(format!("trades/date={day}")).exists());
    }
    assert!(!fresh.path().join(".hotcold-export-tmp").exists());
}

#[tokio::test(flavor = "multi_thread")]
async fn month_exports_exactly_clickhouse() {
    let Some(url) = clickhouse::url() else { return };
    month_exports_exactly(ColdKind::ClickHouse {
        url,
        database: clickhouse::unique_db("export"),
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn month_exports_exactly_sqlite() {
    month_exports_exactly(ColdKind::Sqlite).await;
}
