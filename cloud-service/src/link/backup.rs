//! The hot backup's sending side: offer a snapshot of the hot tier to the
//! gateway, send the parts of its files the gateway lacks (from where a
//! cut transfer left off), paced by the bandwidth limit like the archive,
//! and wait for the gateway to say every file read back whole.

use super::client::LinkClient;
use super::ClientError;
use hotcold_core::frame::{BackupReply, Frame};
use hotcold_core::snapshot::SnapshotManifest;
use hotcold_snapshot::SnapshotStore;
use std::io::{Read, Seek, SeekFrom};
use std::sync::atomic::Ordering::Relaxed;

/// Bytes of one `BackupData` frame.
const PIECE: usize = 256 << 10;

impl LinkClient {
    pub async fn backup(
        &self,
        store: &SnapshotStore,
        m: &SnapshotManifest,
    ) -> Result<BackupReply, ClientError> {
        let t = self.cfg.request_timeout.0;
        let mut s = match tokio::time::timeout(t, self.stream()).await {
            Ok(s) => s?,
            Err(_) => return Err(ClientError::Timeout(t)),
        };
        s.write_frame(&Frame::BackupOffer(Box::new(m.clone())))
            .await?;
        let need = match tokio::time::timeout(t, s.expect_frame()).await {
            Ok(f) => match f? {
                Frame::BackupNeed(n) => n,
                Frame::Error(e) => return Err(ClientError::Refused(e)),
                other => return Err(ClientError::Protocol(other.name().into())),
            },
            Err(_) => return Err(ClientError::Timeout(t)),
        };
        for (i, n) in need.iter().enumerate() {
            let path = if m.ranges.iter().any(|r| r.file == n.file) {
                store.pool_path(&n.file)
            } else if m.files.iter().any(|f| f.name == n.file) {
                store.snapshot_path(&m.id).join(&n.file)
            } else {
                return Err(ClientError::Protocol(format!(
                    "the gateway asked for {:?}, which the snapshot does not hold",
                    n.file
                )));
            };
            let mut f = std::fs::File::open(&path)?;
            f.seek(SeekFrom::Start(n.have))?;
            let mut offset = n.have;
            let mut buf = vec![0u8; PIECE];
            loop {
                let k = f.read(&mut buf)?;
                if k == 0 {
                    break;
                }
                for slice in buf[..k].chunks(super::deliver::PACE_SLICE) {
                    self.pacer.wait(slice.len()).await;
                    self.meter.add(slice.len() as u64);
                }
                s.write_frame(&Frame::BackupData {
                    index: i as u32,
                    offset,
                    data: buf[..k].to_vec(),
                })
                .await?;
                offset += k as u64;
                self.backup_bytes.fetch_add(k as u64, Relaxed);
            }
        }
        s.write_frame(&Frame::BackupSent).await?;
        let _ = s.finish();
        // The gateway reads every new file back before it answers.
        let wait = t.saturating_mul(10);
        match tokio::time::timeout(wait, s.expect_frame()).await {
            Ok(f) => match f? {
                Frame::BackupDone(r) if r.id == m.id => Ok(r),
                Frame::Error(e) => Err(ClientError::Refused(e)),
                other => Err(ClientError::Protocol(other.name().into())),
            },
            Err(_) => Err(ClientError::Timeout(wait)),
        }
    }
}
