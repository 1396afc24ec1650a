//! Every connection is opened here, so every one gets the same durability:
//! the hot store acknowledges rows and the cold store reports commits as
//! durable (`CommitReply.durable`) on the strength of these pragmas.

use crate::Result;
use rusqlite::{Connection, OpenFlags};
use std::path::Path;

/// Opens a database file for durable writes: WAL, and a full fsync at each
/// commit, because an acknowledged row must survive a power cut.
pub fn open(path: &Path) -> Result<Connection> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.busy_timeout(std::time::Duration::from_secs(30))?;
    Ok(conn)
}
