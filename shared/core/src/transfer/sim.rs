//! The in-memory stream the protocol tests run over: two queues, a
//! staging that survives restarts, faults applied to chunk frames on the
//! way, and a clock that is a counter.

use super::*;
use crate::frame::{CommitReply, Frame};
use crate::manifest::{Manifest, ManifestBuilder};
use crate::schema::{LogicalType, TableSchema, Window};
use crate::ContentHash;
use std::collections::{BTreeMap, VecDeque};

pub(super) const CHUNK: u32 = 4096;
pub(super) const SILENCE: Millis = 10_000;

pub(super) fn batch(chunks: usize, tail: usize) -> (Manifest, Vec<u8>) {
    let len = (chunks - 1) * CHUNK as usize + tail;
    let data: Vec<u8> = (0..len).map(|i| (i * 31 % 251) as u8).collect();
    let mut b = ManifestBuilder::new(CHUNK);
    b.update(&data);
    let schema = TableSchema::new("t", "ts", &[("ts", LogicalType::TimestampMs)]);
    let m = b.finish(
        "b1".into(),
        schema,
        Window::new(0, 86_400_000),
        ContentHash::default(),
    );
    assert_eq!(m.chunks.len(), chunks);
    (m, data)
}

/// What happens to one chunk frame on its way to the gateway.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Fate {
    Deliver,
    Damage,
    Duplicate,
    Drop,
}

/// Everything on the gateway's disk: it outlives a transfer.
#[derive(Default)]
pub(super) struct Staging {
    pub(super) chunks: BTreeMap<u32, Vec<u8>>,
    pub(super) committed: Option<Vec<u8>>,
}

pub(super) struct Run {
    pub(super) outcome: Result<Outcome, TransferError>,
    pub(super) chunks_sent: u64,
}

/// One transfer over a fresh stream. `fate` decides each chunk frame's
/// fate by its position among the chunk frames sent; `shuffle` reverses
/// each batch of chunk frames in the queue (reordering); `cut` ends the
/// stream after that many frames were delivered (`None` from `run`).
pub(super) fn transfer(
    m: &Manifest,
    data: &[u8],
    staging: &mut Staging,
    window: usize,
    fate: &mut dyn FnMut(u64) -> Fate,
    shuffle: bool,
    cut: Option<usize>,
) -> Option<Run> {
    let mut now: Millis = 0;
    let mut to_gw: VecDeque<Frame> = VecDeque::new();
    let mut to_cloud: VecDeque<Frame> = VecDeque::new();
    let mut s = Sender::new(m, window, SILENCE);
    let mut chunk_frames = 0u64;
    let mut send = |a: SendAction, to_gw: &mut VecDeque<Frame>| match a {
        SendAction::Frame(f) => to_gw.push_back(f),
        SendAction::Chunk(i) => {
            let at = i as usize * CHUNK as usize;
            let bytes = data[at..(at + CHUNK as usize).min(data.len())].to_vec();
            let f = fate(chunk_frames);
            chunk_frames += 1;
            match f {
                Fate::Deliver => to_gw.push_back(Frame::Chunk {
                    index: i,
                    data: bytes,
                }),
                Fate::Damage => {
                    let mut bad = bytes;
                    bad[0] ^= 0xff;
                    to_gw.push_back(Frame::Chunk {
                        index: i,
                        data: bad,
                    });
                }
                Fate::Duplicate => {
                    to_gw.push_back(Frame::Chunk {
                        index: i,
                        data: bytes.clone(),
                    });
                    to_gw.push_back(Frame::Chunk {
                        index: i,
                        data: bytes,
                    });
                }
                Fate::Drop => {}
            }
        }
    };
    send(s.start(m, now), &mut to_gw);
    let _offer = to_gw.pop_front();
    let have: Vec<u32> = staging.chunks.keys().copied().collect();
    let missing = (0..m.chunks.len() as u32).filter(|i| !have.contains(i));
    let (mut r, first) = Receiver::new(m, missing, SILENCE, now);
    let gw_act = |a: RecvAction,
                  r: &mut Receiver,
                  staging: &mut Staging,
                  to_cloud: &mut VecDeque<Frame>|
     -> Result<(), TransferError> {
        let mut a = a;
        loop {
            match a {
                RecvAction::Frame(f) => {
                    to_cloud.push_back(f);
                    return Ok(());
                }
                RecvAction::Store { index, data } => {
                    let ok = m.chunk_matches(index as usize, &data);
                    if ok {
                        staging.chunks.insert(index, data);
                    }
                    a = r.stored(index, ok)?;
                }
                RecvAction::Commit => {
                    let all: Vec<u8> = staging.chunks.values().flatten().copied().collect();
                    assert_eq!(blake3::hash(&all).to_hex().as_str(), m.total_hash);
                    staging.committed = Some(all);
                    to_cloud.push_back(Frame::Committed(CommitReply {
                        batch_id: m.batch_id.clone(),
                        cold: m.content,
                        durable: true,
                    }));
                    return Ok(());
                }
            }
        }
    };
    gw_act(first, &mut r, staging, &mut to_cloud).expect("first need");
    let mut delivered = 0usize;
    loop {
        if cut == Some(delivered) {
            return None;
        }
        now += 1;
        if shuffle {
            let n = to_gw
                .iter()
                .take_while(|f| matches!(f, Frame::Chunk { .. }))
                .count();
            to_gw.make_contiguous()[..n].reverse();
        }
        if let Some(f) = to_gw.pop_front() {
            delivered += 1;
            if let Err(e) = r
                .on_frame(f, now)
                .and_then(|a| gw_act(a, &mut r, staging, &mut to_cloud))
            {
                // The gateway answers an error, as the server does.
                to_cloud.push_back(Frame::Error(e.to_string()));
            }
            continue;
        }
        if let Some(f) = to_cloud.pop_front() {
            delivered += 1;
            match s.on_frame(f, now) {
                Err(e) => {
                    return Some(Run {
                        outcome: Err(e),
                        chunks_sent: s.chunks_sent,
                    })
                }
                Ok(Step::Done(o)) => {
                    return Some(Run {
                        outcome: Ok(o),
                        chunks_sent: s.chunks_sent,
                    })
                }
                Ok(Step::Act(actions)) => {
                    for a in actions {
                        send(a, &mut to_gw);
                    }
                }
            }
            continue;
        }
        // Both queues empty: nobody will speak; the sender's clock runs out.
        now = s.deadline();
        let e = s
            .tick(now)
            .expect_err("silence past the deadline is an error");
        return Some(Run {
            outcome: Err(e),
            chunks_sent: s.chunks_sent,
        });
    }
}

pub(super) fn committed(run: &Run) -> bool {
    matches!(run.outcome, Ok(Outcome::Committed(_)))
}
