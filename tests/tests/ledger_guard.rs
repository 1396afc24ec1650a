//! A window already committed under one batch is never cleared for another
//! batch unless its manifest names the first in `replaces`: a new batch id
//! for an old window (a peer that should not be there, a bug, a lost
//! journal) cannot wipe archived rows. Spoken over the real link, frame by
//! frame, to a real gateway with a SQLite cold store.

use hotcold_core::frame::Frame;
use hotcold_core::schema::{Window, DAY_MS};
use hotcold_tests::data::{hash_json, now_ms, trades, trades_schema};
use hotcold_tests::rawlink::{manifest_for, offer, start_gateway};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_committed_window_is_cleared_only_for_the_batch_that_replaces_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (gw, tls) = start_gateway(dir.path(), |_| {}).await;
    let w = Window::day_of(now_ms() - 10 * DAY_MS);
    let first = trades(w.start, w.end, 2_000, 1);
    let (m1, d1) = manifest_for("trades-guard-1", &first, w);
    let r = offer(&tls, gw.addr, &m1, &d1, None).await.expect("answer");
    assert!(
        matches!(&r, Frame::Committed(c) if c.cold == hash_json(&trades_schema(), &first)),
        "{r:?}"
    );

    // Another batch id for the same window, naming nothing: refused, and the
    // archived rows stay.
    let other = trades(w.start, w.end, 10, 2);
    let (m2, d2) = manifest_for("trades-guard-2", &other, w);
    match offer(&tls, gw.addr, &m2, &d2, None).await.expect("answer") {
        Frame::Error(e) => assert!(
            e.contains("already committed under batch trades-guard-1")
                && e.contains("nothing cleared"),
            "{e}"
        ),
        f => panic!("a second batch for a committed window got {f:?}"),
    }
    let cold = rusqlite::Connection::open(dir.path().join("nas/cold.db")).expect("cold.db");
    let all = Window::new(i64::MIN, i64::MAX);
    assert_eq!(
        hotcold_sqlite::content_hash(&cold, &trades_schema(), all).expect("hash"),
        hash_json(&trades_schema(), &first),
        "the first batch's rows are untouched"
    );

    // Naming the batch it replaces (what the cloud does after that batch
    // failed): accepted, and the window holds exactly the new rows.
    let (mut m3, d3) = manifest_for("trades-guard-3", &other, w);
    m3.replaces = vec!["trades-guard-1".into()];
    let r = offer(&tls, gw.addr, &m3, &d3, None).await.expect("answer");
    assert!(
        matches!(&r, Frame::Committed(c) if c.cold == hash_json(&trades_schema(), &other)),
        "{r:?}"
    );
    assert_eq!(
        hotcold_sqlite::content_hash(&cold, &trades_schema(), all).expect("hash"),
        hash_json(&trades_schema(), &other)
    );
}
