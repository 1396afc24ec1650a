//! Names in a snapshot become paths, so each is checked to stay one plain
//! file name; a range file's name is derived from what it holds.

use super::SnapshotError;
use crate::content_hash::ContentHash;
use crate::schema::Window;

fn plain(name: &str, max: usize) -> bool {
    !name.is_empty()
        && name.len() <= max
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-')
}

pub fn check_snapshot_id(id: &str) -> Result<(), SnapshotError> {
    if plain(id, 64) {
        Ok(())
    } else {
        Err(SnapshotError::BadId(id.chars().take(80).collect()))
    }
}

pub fn check_file_name(name: &str) -> Result<(), SnapshotError> {
    if plain(name, 200) {
        Ok(())
    } else {
        Err(SnapshotError::BadFileName(name.chars().take(80).collect()))
    }
}

/// `<table>.<start>.<end>.<rows>.<hash>.seg`: the same rows of the same
/// window give the same name in every snapshot, so an unchanged range is
/// found in the pool instead of written again. Table names are checked
/// identifiers (letters, digits, `_`); a negative start keeps its `-`.
pub fn range_file_name(table: &str, window: Window, content: &ContentHash) -> String {
    format!(
        "{table}.{}.{}.{}.{}.seg",
        window.start,
        window.end,
        content.rows,
        crate::content_hash::sum_hex(content.sum)
    )
}
