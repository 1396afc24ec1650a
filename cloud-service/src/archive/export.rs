//! Step 2: read the window from the hot store as a stream, encode and
//! compress it segment by segment into the spool, hashing as it goes.

use super::ArchiveError;
use super::Spool;
use crate::hot::HotStore;
use hotcold_core::codec::encode_segment;
use hotcold_core::manifest::{Manifest, ManifestBuilder};
use hotcold_core::query::Plan;
use hotcold_core::schema::{TableSchema, Window};
use hotcold_core::ContentHash;
use std::io::{BufWriter, Write};

pub struct ExportSettings {
    pub chunk_size: u32,
    pub zstd_level: i32,
    pub segment_rows: usize,
}

/// Blocking: run it in `spawn_blocking`. Memory holds one segment.
pub fn export(
    hot: &dyn HotStore,
    spool: &Spool,
    schema: &TableSchema,
    window: Window,
    batch_id: &str,
    replaces: Vec<String>,
    s: &ExportSettings,
) -> Result<Manifest, ArchiveError> {
    let file = spool.create(batch_id)?;
    let mut out = BufWriter::with_capacity(1 << 20, file);
    let mut builder = ManifestBuilder::new(s.chunk_size);
    let mut content = ContentHash::default();
    hot.scan(
        schema,
        &Plan::rows(schema),
        window,
        u64::MAX,
        s.segment_rows,
        &mut |batch| {
            content.add_batch(&batch);
            let seg = encode_segment(&batch, s.zstd_level);
            builder.update(&seg);
            out.write_all(&seg)
                .map_err(|e| crate::hot::HotError::Other(format!("spool write: {e}")))
        },
    )?;
    let file = out
        .into_inner()
        .map_err(|e| ArchiveError::Spool(e.into_error()))?;
    let mut manifest = builder.finish(batch_id.to_string(), schema.clone(), window, content);
    manifest.replaces = replaces;
    spool.seal(file, &manifest)?;
    Ok(manifest)
}
