//! Step 2: read the window from the hot store as a stream, encode and
//! compress it segment by segment into the spool, hashing as it goes.
//!
//! Streaming keeps memory at one segment whatever the window holds
//! (invariant 5); hashing the rows as they are read gives the count and
//! content hash that the cold store's answer must match before any purge.

use super::{blocking, ArchiveError, Archiver, Batch, RunState, Spool, Step};
use crate::hot::HotStore;
use hotcold_core::codec::encode_segment;
use hotcold_core::manifest::{Manifest, ManifestBuilder};
use hotcold_core::query::Plan;
use hotcold_core::schema::{TableSchema, Window};
use hotcold_core::ContentHash;
use std::io::{BufWriter, Write};

#[derive(Debug, Clone, Copy)]
pub(crate) struct ExportSettings {
    pub chunk_size: u32,
    pub zstd_level: i32,
    pub segment_rows: usize,
}

impl Archiver {
    /// The step for `Planned`: the batch into the spool, then `Exported`.
    pub(super) async fn export_batch(
        &self,
        b: &mut Batch<'_>,
        run: &mut RunState,
    ) -> Result<Step, ArchiveError> {
        let manifest = self.export_to_spool(b).await?;
        b.outcome.rows = manifest.content.rows;
        b.outcome.bytes = manifest.total_len;
        run.report.bytes_exported += manifest.total_len;
        Ok(Step::Next)
    }

    /// Writes the batch's window into the spool and records it exported.
    pub(super) async fn export_to_spool(&self, b: &Batch<'_>) -> Result<Manifest, ArchiveError> {
        let (hot, spool, s, w, id) = (
            self.hot.clone(),
            self.spool.clone(),
            b.schema.clone(),
            b.rec.window,
            b.rec.batch_id.clone(),
        );
        let mut settings = self.settings.export;
        settings.chunk_size = self.link.chunk_size(settings.chunk_size).await;
        // A window planned again after a failure may replace that failed
        // batch's cold copy, and only that.
        let (t, fw) = (b.rec.table.clone(), b.rec.window);
        // Cluster edition: every replica refuses rows of the window first.
        let (t2, end) = (t.clone(), fw.end);
        self.journal(move |j| j.check_lease(&t2, Some(end), None))
            .await?;
        let replaces = self.journal(move |j| j.failed_for(&t, fw)).await?;
        let sent_as = Origin {
            replaces,
            cloud: self.cloud_id.clone(),
        };
        let manifest =
            blocking(move || export(hot.as_ref(), &spool, &s, w, &id, sent_as, &settings)).await?;
        let (i, h, len) = (b.rec.batch_id.clone(), manifest.content, manifest.total_len);
        self.journal(move |j| j.mark_exported(&i, &h, len)).await?;
        crate::failpoint::hit("after-export");
        Ok(manifest)
    }
}

/// Who the batch is from and which failed batches it may replace.
struct Origin {
    replaces: Vec<String>,
    cloud: String,
}

/// Blocking: run it in `spawn_blocking`. Memory holds one segment.
fn export(
    hot: &dyn HotStore,
    spool: &Spool,
    schema: &TableSchema,
    window: Window,
    batch_id: &str,
    origin: Origin,
    s: &ExportSettings,
) -> Result<Manifest, ArchiveError> {
    hot.settle(schema, window)?;
    let file = spool.create(batch_id)?;
    crate::failpoint::pause_blocking("export");
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
            out.write_all(&seg).map_err(crate::hot::HotError::Spool)
        },
    )?;
    let file = out
        .into_inner()
        .map_err(|e| ArchiveError::Spool(e.into_error()))?;
    let mut manifest = builder.finish(batch_id.to_string(), schema.clone(), window, content);
    manifest.replaces = origin.replaces;
    manifest.cloud = origin.cloud;
    spool.seal(file, &manifest)?;
    Ok(manifest)
}
