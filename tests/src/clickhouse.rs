//! A ClickHouse reader for tests: plain HTTP and TabSeparated, no shared code
//! with the gateway's RowBinary path, so it checks the cold store honestly.

use hotcold_core::schema::{LogicalType, TableSchema, Window};
use hotcold_core::{ContentHash, Value};

/// The test server's URL: `HOTCOLD_CLICKHOUSE_URL`, set by scripts/test.sh.
/// Without it, ClickHouse tests say so loudly and skip, unless
/// `HOTCOLD_REQUIRE_CLICKHOUSE=1`, where its absence is a failure.
pub fn url() -> Option<String> {
    match std::env::var("HOTCOLD_CLICKHOUSE_URL") {
        Ok(u) if !u.is_empty() => Some(u),
        _ => {
            assert!(
                std::env::var("HOTCOLD_REQUIRE_CLICKHOUSE").as_deref() != Ok("1"),
                "HOTCOLD_REQUIRE_CLICKHOUSE=1 but HOTCOLD_CLICKHOUSE_URL is not set"
            );
            eprintln!(
                "SKIPPED: no ClickHouse (set HOTCOLD_CLICKHOUSE_URL, or run scripts/test.sh)"
            );
            None
        }
    }
}

pub async fn sql(url: &str, q: &str) -> anyhow::Result<String> {
    let resp = reqwest::Client::new()
        .post(url)
        .body(q.to_string())
        .send()
        .await?;
    let status = resp.status();
    let text = resp.text().await?;
    anyhow::ensure!(status.is_success(), "clickhouse: {q}: {text}");
    Ok(text)
}

fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut it = s.chars();
    while let Some(c) = it.next() {
        if c == '\\' {
            match it.next() {
                Some('t') => out.push('\t'),
                Some('n') => out.push('\n'),
                Some('0') => out.push('\0'),
                Some(o) => out.push(o),
                None => {}
            }
        } else {
            out.push(c);
        }
    }
    out
}

fn cell(ty: LogicalType, s: &str) -> anyhow::Result<Value> {
    Ok(match ty {
        LogicalType::Decimal { scale } => Value::I64(
            hotcold_core::value::parse_decimal(s, scale)
                .ok_or_else(|| anyhow::anyhow!("decimal {s:?}"))?,
        ),
        LogicalType::Date => Value::I64(s.parse()?),
        LogicalType::Bool => Value::Bool(s == "1"),
        LogicalType::String | LogicalType::LcString => Value::Str(unescape(s)),
        // Read as its bytes (see `window_hash`): 18.16 prints floats with
        // too few digits to round-trip.
        LogicalType::Float64 => {
            let mut bytes = [0u8; 8];
            let hex = format!("{s:0<16}");
            for (i, b) in bytes.iter_mut().enumerate() {
                *b = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16)?;
            }
            Value::F64(f64::from_le_bytes(bytes))
        }
        t if t.physical() == hotcold_core::PhysicalKind::U64 => Value::U64(s.parse()?),
        _ => Value::I64(s.parse()?),
    })
}

/// Count and content hash of a window, read from ClickHouse as text.
pub async fn window_hash(
    url: &str,
    db: &str,
    schema: &TableSchema,
    w: Window,
) -> anyhow::Result<ContentHash> {
    let cols: Vec<String> = schema
        .columns
        .iter()
        .map(|c| match c.ty {
            LogicalType::Float64 => format!("hex(reinterpretAsString({}))", c.name),
            // As its day number: 18.16 prints dates after 2105 as 1970-01-01.
            LogicalType::Date => format!("toUInt16({})", c.name),
            _ => c.name.clone(),
        })
        .collect();
    let text = sql(
        url,
        &format!(
            "SELECT {} FROM {db}.{} WHERE {ts} >= {} AND {ts} < {} FORMAT TabSeparated",
            cols.join(", "),
            schema.name,
            w.start,
            w.end,
            ts = schema.time_column
        ),
    )
    .await?;
    let mut h = ContentHash::default();
    for line in text.lines() {
        let fields: Vec<&str> = line.split('\t').collect();
        anyhow::ensure!(fields.len() == schema.columns.len(), "row {line:?}");
        let row = schema
            .columns
            .iter()
            .zip(fields)
            .map(|(c, f)| cell(c.ty, f))
            .collect::<anyhow::Result<Vec<_>>>()?;
        h.add_row(&row);
    }
    Ok(h)
}

/// A database name unique to one test, so tests share the server safely.
pub fn unique_db(prefix: &str) -> String {
    format!("{prefix}_{}_{}", std::process::id(), rand::random::<u32>())
}

/// A private ClickHouse of one test's own, on its own ports, so stopping
/// and starting it does not disturb the shared test server.
pub struct OwnServer {
    dir: tempfile::TempDir,
    http_port: u16,
    tcp_port: u16,
    /// The server's `<timezone>`; the script's default (America/New_York,
    /// or CLICKHOUSE_TZ) when `None`.
    zone: Option<String>,
}

impl OwnServer {
    pub fn new(http_port: u16, tcp_port: u16) -> Self {
        Self {
            dir: tempfile::tempdir().expect("tempdir"),
            http_port,
            tcp_port,
            zone: None,
        }
    }

    /// A server whose time zone is `zone`.
    pub fn with_zone(http_port: u16, tcp_port: u16, zone: &str) -> Self {
        Self {
            dir: tempfile::tempdir().expect("tempdir"),
            http_port,
            tcp_port,
            zone: Some(zone.to_string()),
        }
    }

    fn script() -> std::path::PathBuf {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/clickhouse.sh")
    }

    /// `start` (prints the URL) or `stop`; panics naming the failure.
    pub fn run(&self, cmd: &str) -> String {
        let mut c = std::process::Command::new("bash");
        c.arg(Self::script())
            .arg(cmd)
            .arg(self.dir.path())
            .env("CLICKHOUSE_HTTP_PORT", self.http_port.to_string())
            .env("CLICKHOUSE_TCP_PORT", self.tcp_port.to_string());
        if let Some(z) = &self.zone {
            c.env("CLICKHOUSE_TZ", z);
        }
        let out = c.output().expect("clickhouse.sh");
        assert!(
            out.status.success(),
            "clickhouse.sh {cmd}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }
}

impl Drop for OwnServer {
    fn drop(&mut self) {
        self.run("stop");
    }
}

/// How ClickHouse 18.16 reads back a table an operator made by hand with
/// the types that version has: `lc_string` as `String`, `bool` as `UInt8`.
pub fn as_legacy_table(schema: &TableSchema, name: &str) -> TableSchema {
    let mut s = schema.clone();
    s.name = name.to_string();
    for c in &mut s.columns {
        c.ty = match c.ty {
            LogicalType::LcString => LogicalType::String,
            LogicalType::Bool => LogicalType::UInt8,
            t => t,
        };
    }
    s
}

/// Writes rows straight into ClickHouse as TabSeparated, as an operator's
/// collector would (not through hotcold's ingest). Booleans go as 0/1.
pub async fn insert_tsv(
    url: &str,
    db: &str,
    schema: &TableSchema,
    rows: &[serde_json::Value],
) -> anyhow::Result<()> {
    let mut body = format!("INSERT INTO {db}.{} FORMAT TabSeparated\n", schema.name);
    for r in rows {
        let cells: Vec<String> = schema
            .columns
            .iter()
            .map(|c| match &r[&c.name] {
                serde_json::Value::String(s) => s
                    .replace('\\', "\\\\")
                    .replace('\t', "\\t")
                    .replace('\n', "\\n"),
                serde_json::Value::Bool(b) => u8::from(*b).to_string(),
                v => v.to_string(),
            })
            .collect();
        body.push_str(&cells.join("\t"));
        body.push('\n');
    }
    sql(url, &body).await.map(|_| ())
}

/// One UInt64 column of `select` (no FORMAT clause), read over HTTP;
/// panics with the statement if the server refuses it.
pub async fn u64s(url: &str, select: &str) -> Vec<u64> {
    sql(url, &format!("{select} FORMAT TabSeparated"))
        .await
        .unwrap_or_else(|e| panic!("{select}: {e}"))
        .lines()
        .map(|l| {
            l.parse()
                .unwrap_or_else(|_| panic!("{select}: {l:?} is not a u64"))
        })
        .collect()
}
