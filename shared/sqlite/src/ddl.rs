//! Tables as declared: created if absent, checked if present. The declared
//! SQLite type records the logical type (`INT_DECIMAL_8`), not only the
//! affinity, because SQLite itself would accept any value in any column and
//! a table changed under us would be read back as the wrong kind.

use crate::{Result, SqliteError};
use hotcold_core::schema::{LogicalType, PhysicalKind, TableSchema};
use rusqlite::Connection;

/// The declared SQLite type of a logical type. Its affinity comes from the
/// prefix (INT, REAL, TEXT); the rest records the logical type so a schema
/// change is detected.
pub(crate) fn sql_type(t: LogicalType) -> String {
    let logical = t
        .to_string()
        .to_uppercase()
        .replace('(', "_")
        .replace(')', "");
    let affinity = match t.physical() {
        PhysicalKind::I64 | PhysicalKind::U64 | PhysicalKind::Bool => "INT",
        PhysicalKind::F64 => "REAL",
        PhysicalKind::Str => "TEXT",
    };
    format!("{affinity}_{logical}")
}

/// Creates the table and its time index, or checks an existing one.
pub fn create_table(conn: &Connection, schema: &TableSchema) -> Result<()> {
    let defs: Vec<String> = schema
        .columns
        .iter()
        .map(|c| format!("\"{}\" {} NOT NULL", c.name, sql_type(c.ty)))
        .collect();
    conn.execute_batch(&format!(
        "CREATE TABLE IF NOT EXISTS \"{t}\" ({defs});
         CREATE INDEX IF NOT EXISTS \"{t}__time\" ON \"{t}\"(\"{ts}\");",
        t = schema.name,
        defs = defs.join(", "),
        ts = schema.time_column
    ))?;
    crate::sealed::create(conn)?;
    check_table(conn, schema)
}

fn check_table(conn: &Connection, schema: &TableSchema) -> Result<()> {
    let mut stmt = conn.prepare(&format!("PRAGMA table_info(\"{}\")", schema.name))?;
    let found: Vec<(String, String)> = stmt
        .query_map([], |r| Ok((r.get::<_, String>(1)?, r.get::<_, String>(2)?)))?
        .collect::<rusqlite::Result<_>>()?;
    for c in &schema.columns {
        let declared = sql_type(c.ty);
        match found.iter().find(|(n, _)| *n == c.name) {
            None => {
                return Err(SqliteError::MissingColumn {
                    table: schema.name.clone(),
                    column: c.name.clone(),
                })
            }
            Some((_, ty)) if !ty.eq_ignore_ascii_case(&declared) => {
                return Err(SqliteError::SchemaMismatch {
                    table: schema.name.clone(),
                    column: c.name.clone(),
                    found: ty.clone(),
                    declared: format!("{} ({declared})", c.ty),
                })
            }
            Some(_) => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::schema;
    use crate::open;

    #[test]
    fn schema_mismatch_names_column_and_types() {
        let dir = tempfile::tempdir().unwrap();
        let conn = open(&dir.path().join("t.db")).unwrap();
        create_table(&conn, &schema("decimal(8)")).unwrap();
        let e = create_table(&conn, &schema("float64"))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("column px") && e.contains("INT_DECIMAL_8") && e.contains("float64"),
            "{e}"
        );
    }
}
