//! Whole archive runs in-process against an in-memory NAS: the real hot
//! store, journal and spool (SQLite files in a tempdir), and a gateway that
//! reads the spooled chunks, checks them against the manifest, decodes the
//! segments and answers with the count and content hash of what it "stored".
//! It can be told to be unreachable, to stage without committing, to lie
//! about what it holds, or to change its answer on a read-back. No socket:
//! the protocol itself is tested in `hotcold_core::transfer`.

use super::tests::{day, fixture_with, Fixture};
use super::*;
use crate::link::{ClientError, Delivery};
use futures::future::BoxFuture;
use hotcold_core::codec::{decode_segment, split_segments, DecodeLimits};
use hotcold_core::manifest::Manifest;
use hotcold_core::schema::Window;
use hotcold_core::ContentHash;
use std::collections::HashMap;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Mode {
    Honest {
        durable: bool,
    },
    Unreachable,
    StagedOnly,
    /// Commits, but answers one row more than it holds.
    Lies,
}

struct MemoryGateway {
    mode: Mutex<Mode>,
    /// What a read-back answers differently from the commit, if anything.
    recheck_drift: Mutex<bool>,
    /// The cold store: window → what was committed there.
    cold: Mutex<HashMap<(String, Window), ContentHash>>,
    deliveries: Mutex<u32>,
}

impl MemoryGateway {
    fn new(mode: Mode) -> Arc<Self> {
        Arc::new(Self {
            mode: Mutex::new(mode),
            recheck_drift: Mutex::new(false),
            cold: Mutex::new(HashMap::new()),
            deliveries: Mutex::new(0),
        })
    }

    fn set(&self, mode: Mode) {
        *self.mode.lock().unwrap() = mode;
    }

    /// Reads every chunk as the link would send it, checks each and the
    /// whole against the manifest, and decodes the rows.
    fn receive(spool: &Spool, m: &Manifest) -> Result<ContentHash, ClientError> {
        let mut all = Vec::new();
        for i in 0..m.chunks.len() {
            let c = spool.read_chunk(m, i)?;
            if !m.chunk_matches(i, &c) {
                return Err(ClientError::Refused(format!("chunk {i} damaged")));
            }
            all.extend_from_slice(&c);
        }
        if blake3::hash(&all).to_hex().as_str() != m.total_hash {
            return Err(ClientError::Refused("whole batch hash differs".into()));
        }
        let mut hash = ContentHash::default();
        let limits = DecodeLimits::default();
        for body in split_segments(&all, &limits).map_err(|e| ClientError::Decode(e.to_string()))? {
            let b = decode_segment(&m.schema, body, &limits)
                .map_err(|e| ClientError::Decode(e.to_string()))?;
            hash.add_batch(&b);
        }
        Ok(hash)
    }
}

impl ColdLink for MemoryGateway {
    fn deliver<'a>(
        &'a self,
        spool: &'a Spool,
        m: &'a Manifest,
        sent: &'a mut u64,
    ) -> BoxFuture<'a, Result<Delivery, ClientError>> {
        Box::pin(async move {
            *self.deliveries.lock().unwrap() += 1;
            let mode = *self.mode.lock().unwrap();
            if mode == Mode::Unreachable {
                return Err(ClientError::Unreachable {
                    addr: ([127, 0, 0, 1], 9).into(),
                    reason: "in-memory gateway is off".into(),
                });
            }
            let mut cold = Self::receive(spool, m)?;
            *sent += m.total_len;
            if mode == Mode::StagedOnly {
                return Err(ClientError::StoredNotCommitted("cold store down".into()));
            }
            self.cold
                .lock()
                .unwrap()
                .insert((m.schema.name.clone(), m.window), cold);
            if mode == Mode::Lies {
                cold.rows += 1;
            }
            Ok(Delivery {
                cold,
                durable: matches!(mode, Mode::Honest { durable: true } | Mode::Lies),
                bytes_sent: m.total_len,
                chunks_sent: m.chunks.len() as u64,
            })
        })
    }

    fn recheck<'a>(
        &'a self,
        _batch_id: &'a str,
        schema: &'a TableSchema,
        window: Window,
    ) -> BoxFuture<'a, Result<ContentHash, ClientError>> {
        Box::pin(async move {
            let held = self
                .cold
                .lock()
                .unwrap()
                .get(&(schema.name.clone(), window))
                .copied();
            let mut h = held.ok_or_else(|| ClientError::Refused("not in the ledger".into()))?;
            if *self.recheck_drift.lock().unwrap() {
                h.rows -= 1;
            }
            Ok(h)
        })
    }
}

fn with_gateway(mode: Mode, grace: Duration) -> (Fixture, Arc<MemoryGateway>) {
    let gw = MemoryGateway::new(mode);
    let fx = fixture_with(Some(gw.clone()), grace, u64::MAX);
    (fx, gw)
}

/// Day 10: with the default 7-day retention, days 0..=2 are due.
const NOW: i64 = 10 * hotcold_core::schema::DAY_MS;

#[tokio::test]
async fn a_run_archives_verifies_and_purges_each_due_day() {
    let (fx, gw) = with_gateway(Mode::Honest { durable: true }, Duration::ZERO);
    for d in 0..3 {
        fx.insert(day(d), 20 + d);
    }
    fx.insert(day(9), 5);
    let r = fx.archiver.run(NOW).await.unwrap();
    assert_eq!((r.failed, r.pending), (0, 0), "{r:?}");
    assert_eq!(r.rows_archived, 20 + 21 + 22);
    for d in 0..3 {
        assert_eq!(fx.hot_rows(day(d)), 0, "day {d} purged");
    }
    assert_eq!(fx.hot_rows(day(9)), 5, "a recent day stays hot");
    assert_eq!(fx.journal().watermark("trades").unwrap(), Some(day(2).end));
    assert_eq!(gw.cold.lock().unwrap().len(), 3);
    assert_eq!(fx.archiver.spool.bytes(), 0, "the spool is drained");
}

#[tokio::test]
async fn an_unreachable_nas_keeps_rows_hot_and_the_queue_drains_later() {
    let (fx, gw) = with_gateway(Mode::Unreachable, Duration::ZERO);
    for d in 0..3 {
        fx.insert(day(d), 10);
    }
    let r = fx.archiver.run(NOW).await.unwrap();
    assert_eq!((r.failed, r.pending), (0, 3), "{r:?}");
    assert!(r.offline.is_some());
    assert!(fx.archiver.spool.bytes() > 0, "exported into the spool");
    assert_eq!(fx.hot_rows(Window::new(day(0).start, day(2).end)), 30);
    assert_eq!(fx.journal().watermark("trades").unwrap(), None);
    // Only the first batch tried the link; the rest only exported.
    assert_eq!(*gw.deliveries.lock().unwrap(), 1);

    gw.set(Mode::Honest { durable: true });
    let r = fx.archiver.drain().await.unwrap();
    assert_eq!((r.failed, r.pending), (0, 0), "{r:?}");
    assert_eq!(fx.hot_rows(Window::new(day(0).start, day(2).end)), 0);
    assert_eq!(fx.journal().watermark("trades").unwrap(), Some(day(2).end));
}

#[tokio::test]
async fn a_gateway_that_lies_about_its_rows_fails_the_batch_and_nothing_is_deleted() {
    let (fx, _gw) = with_gateway(Mode::Lies, Duration::ZERO);
    fx.insert(day(0), 10);
    let r = fx.archiver.run(NOW).await.unwrap();
    assert_eq!(r.failed, 1, "{r:?}");
    assert_eq!(fx.hot_rows(day(0)), 10);
    assert_eq!(fx.journal().watermark("trades").unwrap(), None);
}

#[tokio::test]
async fn staged_but_not_committed_waits_with_every_row_hot() {
    let (fx, gw) = with_gateway(Mode::StagedOnly, Duration::ZERO);
    fx.insert(day(0), 10);
    let r = fx.archiver.run(NOW).await.unwrap();
    assert_eq!((r.failed, r.pending), (0, 1), "{r:?}");
    assert_eq!(fx.hot_rows(day(0)), 10);
    gw.set(Mode::Honest { durable: true });
    let r = fx.archiver.drain().await.unwrap();
    assert_eq!((r.failed, r.pending), (0, 0), "{r:?}");
    assert_eq!(fx.hot_rows(day(0)), 0);
}

#[tokio::test]
async fn a_commit_not_on_disk_is_read_back_before_the_purge() {
    let (fx, gw) = with_gateway(Mode::Honest { durable: false }, Duration::ZERO);
    fx.insert(day(0), 10);
    fx.insert(day(1), 10);
    let r = fx.archiver.run(NOW).await.unwrap();
    assert_eq!((r.failed, r.pending), (0, 0), "{r:?}");
    assert_eq!(
        fx.hot_rows(day(0)),
        0,
        "purged after an unchanged read-back"
    );
    assert_eq!(gw.cold.lock().unwrap().len(), 2);

    // A read-back that finds a row gone: nothing is deleted.
    let (fx, gw) = with_gateway(Mode::Honest { durable: false }, Duration::ZERO);
    *gw.recheck_drift.lock().unwrap() = true;
    fx.insert(day(0), 10);
    let r = fx.archiver.run(NOW).await.unwrap();
    assert_eq!(r.failed, 1, "{r:?}");
    assert_eq!(fx.hot_rows(day(0)), 10);
    assert_eq!(fx.journal().watermark("trades").unwrap(), None);
}
