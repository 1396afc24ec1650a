//! Declared tables in ClickHouse, shared by the cold store (gateway) and the
//! ClickHouse hot store (cloud).
//!
//! The server version is read at connect time and picks the type mapping:
//! 18.x-21.x get types every such server has (a millisecond timestamp is an
//! `Int64`, partitioned by day through `toDateTime`); 22.x and later get
//! `DateTime64(3, 'UTC')`, `LowCardinality(String)` and `Bool`. RowBinary is
//! the same for both, so only DDL and time predicates differ.
//!
//! Rows travel as RowBinary through the official crate's formatted insert and
//! byte cursor, so any declared schema works without a compiled row type.

mod catalog;
pub mod clear;
mod clear_cluster;
pub mod cluster;
mod error;
mod fold;
pub mod nodes;
pub mod partition;
pub mod rowbinary;
mod settle;
pub mod sql;
mod sums;
pub mod types;

use bytes::Bytes;
pub use catalog::partition_window;
use clickhouse::Client;
pub use error::{ChError, Result};
use hotcold_core::query::Plan;
use hotcold_core::schema::{TableSchema, Window};
use hotcold_core::RowBatch;
pub use nodes::Nodes;
use std::time::Duration;
use tokio::sync::mpsc;
pub use types::Flavor;

/// A database on one ClickHouse server.
#[derive(Clone)]
pub struct ChTables {
    pub client: Client,
    pub db: String,
    pub flavor: Flavor,
    pub version: String,
    /// The server's own time zone (`SELECT timezone()`): what zone-less
    /// date functions in an adopted table's partition key mean.
    pub timezone: String,
    /// The cluster the tables live on (`cluster:`), or `None` for one server.
    pub cluster: Option<cluster::Cluster>,
}

/// Where a ClickHouse server is and who we are to it: the `hot:` section of
/// `cloud.yaml` and the `cold:` section of `nas.yaml` (after `kind:
/// clickhouse`) are both this.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Connection {
    pub url: String,
    /// The database our tables live in; each side has its own default.
    #[serde(default)]
    pub database: Option<String>,
    #[serde(default = "default_user")]
    pub user: String,
    #[serde(default)]
    pub password: String,
    /// A cluster in the servers' `remote_servers`: tables are then a
    /// Distributed table over ReplicatedMergeTree tables, made `ON CLUSTER`
    /// (see `cluster.rs`). `url` is the node the service talks to.
    #[serde(default)]
    pub cluster: Option<String>,
    /// More nodes of the cluster (HTTP URLs), used in turn when the node in
    /// use cannot be reached; only with `cluster`.
    #[serde(default)]
    pub failover: Vec<String>,
}

fn default_user() -> String {
    "default".into()
}

impl Connection {
    /// A server at `url` as the default user, database `database`.
    pub fn new(url: &str, database: &str) -> Self {
        Self {
            url: url.into(),
            database: Some(database.into()),
            user: default_user(),
            password: String::new(),
            cluster: None,
            failover: Vec::new(),
        }
    }
}

impl ChTables {
    /// Connects, reads the server version and creates the database
    /// (`c.database`, else `default_database`).
    pub async fn connect(c: &Connection, default_database: &str) -> Result<Self> {
        let (url, user, password) = (&c.url, &c.user, &c.password);
        let database = c.database.as_deref().unwrap_or(default_database);
        hotcold_core::schema::check_name(database)
            .map_err(|e| ChError::Other(format!("database name: {e}")))?;
        let mut client = Client::default()
            .with_url(url)
            .with_user(user)
            .with_password(password)
            .with_validation(false)
            .with_compression(clickhouse::Compression::None);
        let version = text(&client, "SELECT version()").await?.trim().to_string();
        let flavor = Flavor::of_version(&version);
        let timezone = text(&client, "SELECT timezone()").await?.trim().to_string();
        if !c.failover.is_empty() && c.cluster.is_none() {
            return Err(ChError::Other(
                "failover nodes are for a cluster: set cluster too (one server has no other node to turn to)".into(),
            ));
        }
        let cluster = match &c.cluster {
            Some(name) => {
                let found = cluster::Cluster::discover(&client, name).await?;
                client = found.configure(client);
                Some(found)
            }
            None => None,
        };
        let on_cluster = cluster::on_cluster(cluster.as_ref());
        client
            .query(&format!(
                "CREATE DATABASE IF NOT EXISTS {database}{on_cluster}"
            ))
            .execute()
            .await?;
        tracing::info!(%url, %version, ?flavor, %timezone, database, "connected to ClickHouse");
        Ok(Self {
            client: client.with_database(database),
            db: database.to_string(),
            flavor,
            version,
            timezone,
            cluster,
        })
    }

    /// Runs a query and collects its TabSeparated text.
    pub async fn text(&self, sql: &str) -> Result<String> {
        text(&self.client, sql).await
    }

    pub fn window_clause(&self, schema: &TableSchema, w: Window) -> String {
        sql::window_clause(self.flavor, schema, w)
    }

    /// Creates the table, or checks that the existing one has the declared
    /// columns and types; a mismatch names the column and both types.
    pub async fn ensure_table(&self, schema: &TableSchema) -> Result<()> {
        if let Some(c) = &self.cluster {
            self.ensure_on_cluster(schema, c).await?;
        } else {
            let ddl = types::create_table_sql(self.flavor, &self.db, schema);
            self.client
                .query(&ddl)
                .execute()
                .await
                .map_err(|e| clear::statement_error(&schema.name, &ddl, e))?;
        }
        let found = self.columns(&schema.name).await?;
        for c in &schema.columns {
            let want = types::clickhouse_type(self.flavor, c.ty);
            let have = found
                .iter()
                .find(|(n, _)| *n == c.name)
                .map(|(_, t)| t.as_str());
            match have {
                Some(t) if t == want => {}
                // Any zone of a millisecond DateTime64 holds the same
                // instants; only its display differs.
                Some(t)
                    if c.ty == hotcold_core::schema::LogicalType::TimestampMs
                        && types::logical_type(t, true) == Some(c.ty)
                        && t.starts_with("DateTime64(3") => {}
                other => {
                    return Err(ChError::SchemaMismatch {
                        table: schema.name.clone(),
                        column: c.name.clone(),
                        found: other.unwrap_or("missing").to_string(),
                        declared: format!("{} ({want})", c.ty),
                    })
                }
            }
        }
        Ok(())
    }

    /// On a cluster a replica may lag: callers that act on the count (the
    /// archive) call `settle` first; metrics and health do not wait.
    pub async fn count(&self, schema: &TableSchema, w: Window) -> Result<u64> {
        let t = self
            .text(&format!(
                "SELECT count() FROM {}.{} WHERE {}",
                self.db,
                schema.name,
                self.window_clause(schema, w)
            ))
            .await?;
        t.trim()
            .parse()
            .map_err(|_| ChError::Decode(format!("count {t:?}")))
    }

    /// Bytes these tables' active parts take on this server's disks
    /// (compressed, as ClickHouse stores them). One server: on a cluster,
    /// this node's share of the local tables.
    pub async fn disk_bytes(&self, tables: &[&str]) -> Result<u64> {
        // On a cluster `T` is the Distributed table, which has no parts:
        // its rows are in the local table it names.
        let mut names = Vec::new();
        for t in tables {
            let (db, local) = match &self.cluster {
                Some(c) => self.local_of_name(c, t).await?,
                None => (self.db.clone(), t.to_string()),
            };
            names.push(format!(
                "({}, {})",
                sql::quote_string(&db),
                sql::quote_string(&local)
            ));
        }
        if names.is_empty() {
            return Ok(0);
        }
        let t = self
            .text(&format!(
                "SELECT sum(bytes_on_disk) FROM system.parts WHERE active AND (database, table) IN ({})",
                names.join(", ")
            ))
            .await?;
        t.trim()
            .parse()
            .map_err(|_| ChError::Decode(format!("disk bytes {t:?}")))
    }

    /// The oldest timestamp at or after `from`, in epoch milliseconds.
    pub async fn min_time(&self, schema: &TableSchema, from: i64) -> Result<Option<i64>> {
        let ts = sql::time_ms(self.flavor, schema);
        let range = sql::since_clause(self.flavor, schema, from);
        let t = self
            .text(&format!(
                "SELECT count(), min({ts}) FROM {}.{} WHERE {range}",
                self.db, schema.name
            ))
            .await?;
        let (n, min) = t
            .trim()
            .split_once('\t')
            .ok_or_else(|| ChError::Decode(format!("min {t:?}")))?;
        if n == "0" {
            return Ok(None);
        }
        min.parse()
            .map(Some)
            .map_err(|_| ChError::Decode(format!("min {t:?}")))
    }

    /// Inserts every batch received until the channel closes, as one
    /// streamed INSERT.
    pub async fn insert_stream(
        &self,
        schema: &TableSchema,
        mut rows: mpsc::Receiver<RowBatch>,
    ) -> Result<u64> {
        let cols: Vec<&str> = schema.columns.iter().map(|c| c.name.as_str()).collect();
        let mut insert = self.client.insert_formatted_with(format!(
            "INSERT INTO {}.{} ({}) FORMAT RowBinary",
            self.db,
            schema.name,
            cols.join(", ")
        ));
        let mut n = 0u64;
        let mut buf = Vec::new();
        while let Some(b) = rows.recv().await {
            buf.clear();
            rowbinary::encode(schema, &b, &mut buf);
            insert.send(Bytes::copy_from_slice(&buf)).await?;
            n += b.len() as u64;
        }
        insert.end().await?;
        Ok(n)
    }

    pub async fn insert(&self, schema: &TableSchema, batch: RowBatch) -> Result<u64> {
        let (tx, rx) = mpsc::channel(1);
        let _ = tx.send(batch).await;
        drop(tx);
        self.insert_stream(schema, rx).await
    }

    /// Streams what the plan asks of the window (rows in time order, or
    /// partial aggregate rows in key order), at most `limit`, in batches of
    /// about `batch_rows`.
    pub async fn query(
        &self,
        schema: &TableSchema,
        plan: &Plan,
        w: Window,
        limit: u64,
        batch_rows: usize,
        out: mpsc::Sender<RowBatch>,
    ) -> Result<u64> {
        if let Some(a) = plan.agg.as_ref().filter(|a| fold::folds(self.flavor, a)) {
            return self
                .fold_scan(schema, plan, a, w, limit, batch_rows, out)
                .await;
        }
        let sql = sql::select(
            self.flavor,
            &self.db,
            schema,
            plan,
            &self.window_clause(schema, w),
            limit,
        );
        let mut cur = self.client.query(&sql).fetch_bytes("RowBinary")?;
        // Exact sums arrive as text and are narrowed here (`sums.rs`).
        let wire = plan
            .agg
            .as_ref()
            .and_then(|a| sums::wire_schema(schema, a, &plan.output).map(|w| (a, w)));
        let narrow = |b: RowBatch| match &wire {
            Some((a, _)) => sums::narrow(schema, a, &plan.output, b),
            None => Ok(b),
        };
        let dec_schema = wire.as_ref().map_or(&plan.output, |(_, w)| w).clone();
        let mut dec = rowbinary::Decoder::new(dec_schema, 16 << 20);
        let mut n = 0u64;
        let gone = || ChError::Other("query reader went away".into());
        while let Some(bytes) = cur.next().await? {
            dec.feed(&bytes)
                .map_err(|e| ChError::Decode(e.to_string()))?;
            if dec.buffered_rows() >= batch_rows {
                let b = narrow(dec.take())?;
                n += b.len() as u64;
                out.send(b).await.map_err(|_| gone())?;
            }
        }
        let b = narrow(dec.finish().map_err(|e| ChError::Decode(e.to_string()))?)?;
        if !b.is_empty() {
            n += b.len() as u64;
            out.send(b).await.map_err(|_| gone())?;
        }
        Ok(n)
    }
}

async fn text(client: &Client, sql: &str) -> Result<String> {
    let mut cur = client.query(sql).fetch_bytes("TabSeparated")?;
    let bytes = cur.collect().await?;
    String::from_utf8(bytes.to_vec()).map_err(|e| ChError::Decode(e.to_string()))
}
