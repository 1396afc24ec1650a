//! What can go wrong talking to ClickHouse, each case with the text an
//! operator acts on.

use hotcold_core::schema::Window;

#[derive(Debug, thiserror::Error)]
pub enum ChError {
    #[error("clickhouse: {0}")]
    Server(String),
    /// An adopted table has a column whose type hotcold cannot keep.
    #[error("table {table}: column {column} has type {found}, which hotcold cannot archive (declare the table with supported types, or drop the column)")]
    UnsupportedColumn {
        table: String,
        column: String,
        found: String,
    },
    /// An existing table's column has another type than declared.
    #[error("table {table}: column {column} is {found} in ClickHouse but declared {declared}")]
    SchemaMismatch {
        table: String,
        column: String,
        found: String,
        declared: String,
    },
    /// `cluster:` names a cluster the server's `remote_servers` lacks.
    #[error("cluster {name} is not in the server's remote_servers (system.clusters has: {known}); fix hot.cluster or the servers' config")]
    ClusterUnknown { name: String, known: String },
    /// Nodes of the cluster (or its ZooKeeper) do not answer.
    #[error("cluster {cluster}: {what} unreachable: {detail}")]
    ClusterUnreachable {
        cluster: String,
        what: String,
        detail: String,
    },
    /// A table where the cluster needs a Distributed table over
    /// Replicated* tables is something else: archiving it would purge rows
    /// that exist on one server only.
    #[error("table {table}: {found}; with cluster {cluster} hotcold needs a Distributed table over Replicated*MergeTree tables on every node (drop it and let hotcold create both ON CLUSTER, or convert it)")]
    NotReplicated {
        table: String,
        cluster: String,
        found: String,
    },
    /// Replicas of a shard disagree on a window after waiting: a replica
    /// lacks parts (their only holder may be down). Nothing is exported or
    /// purged until they agree.
    #[error("table {table} window {window}: replicas do not agree: {detail}")]
    ReplicasBehind {
        table: String,
        window: Window,
        detail: String,
    },
    #[error("clickhouse returned bad data: {0}")]
    Decode(String),
    /// An aggregation folded here had more keys than its plan allows.
    #[error(transparent)]
    TooManyGroups(#[from] hotcold_core::query::TooManyGroups),
    /// A sum's exact value does not fit the type it is answered in.
    #[error(transparent)]
    Overflow(#[from] hotcold_core::query::SumOverflow),
    #[error("{0}")]
    Other(String),
}

impl From<hotcold_core::query::FoldError> for ChError {
    fn from(e: hotcold_core::query::FoldError) -> Self {
        use hotcold_core::query::FoldError;
        match e {
            FoldError::TooManyGroups(e) => e.into(),
            FoldError::Overflow(e) => e.into(),
        }
    }
}

impl From<clickhouse::error::Error> for ChError {
    fn from(e: clickhouse::error::Error) -> Self {
        ChError::Server(e.to_string())
    }
}

pub type Result<T> = std::result::Result<T, ChError>;
