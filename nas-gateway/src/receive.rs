//! Receiving one batch: check the offer, claim the batch, ask for what
//! staging lacks (a resumed transfer asks only for that), drive the
//! protocol's receiving state machine (`hotcold_core::transfer`) over the
//! stream, then commit and answer with the cold store's read-back.

use crate::cold::ColdStore;
use crate::gateway::{Gateway, RequestError};
use crate::requests::Outcome;
use crate::staging::StagingError;
use hotcold_core::frame::Frame;
use hotcold_core::manifest::Manifest;
use hotcold_core::transfer::{Millis, Receiver, RecvAction};
use hotcold_link::framed::FramedStream;

pub(crate) async fn offer<S: ColdStore>(
    s: &mut FramedStream,
    gw: &Gateway<S>,
    m: Manifest,
) -> Result<(), RequestError> {
    m.validate()
        .map_err(|e| RequestError::Refused(format!("bad manifest: {e}")))?;
    let Some(_guard) = gw.claim(&m.batch_id) else {
        return Err(RequestError::Refused(format!(
            "batch {} is already being received",
            m.batch_id
        )));
    };
    let refuse = |e: &dyn std::fmt::Display| RequestError::Refused(e.to_string());
    // Another cloud's batch is refused before a chunk of it is sent; a
    // store that cannot be read now leaves the check to the commit.
    match crate::commit::check_owner(&gw.store, &m).await {
        Err(e @ crate::commit::CommitError::OtherCloud { .. }) => {
            tracing::error!(batch = %m.batch_id, error = %e, "batch from another cloud refused");
            return Err(refuse(&e));
        }
        Err(e) => {
            tracing::warn!(batch = %m.batch_id, error = %e, "cannot read the cold store's owner; checked again at commit")
        }
        Ok(()) => {}
    }

    // Staging holds one batch per id: another cloud's offer must not
    // replace the staged chunks of the owner's batch of the same id.
    if let Some(staged) = gw.staging.staged(&m.batch_id) {
        if !staged.cloud.is_empty() && !m.cloud.is_empty() && staged.cloud != m.cloud {
            return Err(refuse(&format!(
                "batch {} is staged from cloud {}; this offer comes from cloud {}: refused, the staged batch is kept",
                m.batch_id, staged.cloud, m.cloud
            )));
        }
    }

    // An unreadable ledger (cold store down) must not stop the transfer:
    // the chunks are staged and the commit step answers `Stored`.
    let already = match gw.store.ledger_get(&m.batch_id).await {
        Ok(entry) => entry.is_some(),
        Err(e) => {
            tracing::warn!(batch = %m.batch_id, error = %e, "cannot read the ledger; staging anyway");
            false
        }
    };
    let staged = gw.staging.batch(&m).map_err(|e| refuse(&e))?;
    let missing: Vec<u32> = if already {
        Vec::new()
    } else {
        let h = staged.clone_handle();
        tokio::task::spawn_blocking(move || h.missing())
            .await
            .map_err(|e| refuse(&e))?
            .map_err(|e| refuse(&e))?
    };
    tracing::info!(batch = %m.batch_id, chunks = m.chunks.len(), missing = missing.len(), "offer");
    let (mut rx, need) = Receiver::new(&m, missing, RECEIVE_SILENCE, 0);
    let received = receive(s, gw, &m, &staged, &mut rx, need).await;
    gw.counters
        .chunks_rejected
        .fetch_add(rx.chunks_rejected, std::sync::atomic::Ordering::Relaxed);
    received?;
    let frame = match gw.commit_staged(&m, &staged).await? {
        Outcome::Committed(reply) => Frame::Committed(reply),
        // The cold store is down or refusing: the verified batch waits in
        // staging; the background committer retries it.
        Outcome::Stored(reply) => Frame::Stored(reply),
    };
    s.write_frame(&frame).await?;
    Ok(())
}

/// The gateway waits on the cloud without a limit of its own: a chunk on a
/// line limited to a few KiB/s takes minutes to arrive, and a dead peer is
/// noticed by QUIC's idle timeout.
const RECEIVE_SILENCE: Millis = Millis::MAX;

/// Drives the receiving state machine over the stream: writes what it
/// says, stores chunks in staging (which checks each against the
/// manifest's hash), and returns once every chunk is in and the cloud said
/// `Sent`.
async fn receive<S: ColdStore>(
    s: &mut FramedStream,
    gw: &Gateway<S>,
    m: &Manifest,
    staged: &crate::staging::StagedBatch,
    rx: &mut Receiver,
    first: RecvAction,
) -> Result<(), RequestError> {
    let t0 = std::time::Instant::now();
    let now = || t0.elapsed().as_millis() as Millis;
    let refuse = |e: &dyn std::fmt::Display| RequestError::Refused(e.to_string());
    let mut action = first;
    loop {
        match action {
            RecvAction::Frame(f) => s.write_frame(&f).await?,
            RecvAction::Store { index, data } => {
                let len = data.len() as u64;
                let h = staged.clone_handle();
                let written = tokio::task::spawn_blocking(move || h.write_chunk(index, &data))
                    .await
                    .map_err(|e| refuse(&e))?;
                let ok = match written {
                    Ok(()) => {
                        gw.counters
                            .chunk_bytes_received
                            .fetch_add(len, std::sync::atomic::Ordering::Relaxed);
                        true
                    }
                    // Damaged in transit: not stored, so still missing.
                    Err(e @ StagingError::BadChunk { .. }) => {
                        tracing::warn!(batch = %m.batch_id, error = %e, "chunk rejected");
                        false
                    }
                    Err(e) => return Err(refuse(&e)),
                };
                action = rx.stored(index, ok).map_err(|e| refuse(&e))?;
                continue;
            }
            RecvAction::Commit => return Ok(()),
        }
        let frame = s.expect_frame().await?;
        action = rx.on_frame(frame, now()).map_err(|e| refuse(&e))?;
    }
}
