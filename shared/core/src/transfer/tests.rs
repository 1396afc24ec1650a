//! Sender and receiver against each other over the in-memory stream of
//! `sim.rs`: no socket, no runtime, no clock but a counter.

use super::sim::*;
use super::*;
use crate::frame::{CommitReply, Frame};
use crate::ContentHash;
use proptest::prelude::*;

#[test]
fn a_clean_transfer_sends_each_chunk_once() {
    let (m, data) = batch(9, 100);
    let mut st = Staging::default();
    let run = transfer(&m, &data, &mut st, 3, &mut |_| Fate::Deliver, false, None).unwrap();
    assert!(committed(&run), "{:?}", run.outcome);
    assert_eq!(run.chunks_sent, 9);
    assert_eq!(st.committed.as_deref(), Some(&data[..]));
}

#[test]
fn a_damaged_chunk_is_sent_again_and_nothing_damaged_is_stored() {
    let (m, data) = batch(6, CHUNK as usize);
    let mut st = Staging::default();
    let mut fate = |k| if k == 2 { Fate::Damage } else { Fate::Deliver };
    let run = transfer(&m, &data, &mut st, 2, &mut fate, false, None).unwrap();
    assert!(committed(&run), "{:?}", run.outcome);
    assert_eq!(run.chunks_sent, 7);
    assert_eq!(st.committed.as_deref(), Some(&data[..]));
}

#[test]
fn reordered_and_duplicated_chunks_still_commit_the_same_bytes() {
    let (m, data) = batch(12, 7);
    let mut st = Staging::default();
    let mut fate = |k| {
        if k % 3 == 0 {
            Fate::Duplicate
        } else {
            Fate::Deliver
        }
    };
    let run = transfer(&m, &data, &mut st, 4, &mut fate, true, None).unwrap();
    assert!(committed(&run), "{:?}", run.outcome);
    assert_eq!(st.committed.as_deref(), Some(&data[..]));
}

#[test]
fn a_lost_chunk_is_asked_for_again_when_the_window_lets_sent_through() {
    let (m, data) = batch(5, 10);
    let mut st = Staging::default();
    let mut fate = |k| if k == 1 { Fate::Drop } else { Fate::Deliver };
    let run = transfer(&m, &data, &mut st, 8, &mut fate, false, None).unwrap();
    assert!(committed(&run), "{:?}", run.outcome);
    assert_eq!(run.chunks_sent, 6);
}

#[test]
fn a_lost_chunk_with_a_full_window_ends_in_silence_and_a_restart_resumes() {
    let (m, data) = batch(5, 10);
    let mut st = Staging::default();
    let mut fate = |k| if k == 1 { Fate::Drop } else { Fate::Deliver };
    // One chunk in flight: the lost one's ack never comes, nothing moves.
    let run = transfer(&m, &data, &mut st, 1, &mut fate, false, None).unwrap();
    assert_eq!(run.outcome, Err(TransferError::Silent(SILENCE)));
    let stored = st.chunks.len() as u64;
    assert!(stored >= 1);
    let again = transfer(&m, &data, &mut st, 2, &mut |_| Fate::Deliver, false, None).unwrap();
    assert!(committed(&again), "{:?}", again.outcome);
    assert_eq!(
        again.chunks_sent,
        5 - stored,
        "only the missing chunks are sent again"
    );
    assert_eq!(st.committed.as_deref(), Some(&data[..]));
}

#[test]
fn a_cut_at_every_point_resumes_to_the_same_bytes() {
    let (m, data) = batch(7, 33);
    for cut in 0..40 {
        let mut st = Staging::default();
        let first = transfer(
            &m,
            &data,
            &mut st,
            3,
            &mut |_| Fate::Deliver,
            false,
            Some(cut),
        );
        let before = st.chunks.len() as u64;
        if let Some(run) = first {
            assert!(committed(&run), "cut {cut}: {:?}", run.outcome);
            continue;
        }
        let run = transfer(&m, &data, &mut st, 3, &mut |_| Fate::Deliver, false, None).unwrap();
        assert!(committed(&run), "cut {cut}: {:?}", run.outcome);
        assert_eq!(run.chunks_sent, 7 - before, "cut {cut}");
        assert_eq!(st.committed.as_deref(), Some(&data[..]), "cut {cut}");
    }
}

#[test]
fn a_line_that_damages_every_try_ends_after_the_round_limit() {
    let (m, data) = batch(3, 10);
    let mut st = Staging::default();
    // Chunk 2 is damaged on every try.
    let mut fate = |k| if k >= 2 { Fate::Damage } else { Fate::Deliver };
    let run = transfer(&m, &data, &mut st, 3, &mut fate, false, None).unwrap();
    assert!(run.outcome.is_err(), "{:?}", run.outcome);
    assert!(st.committed.is_none());
    assert_eq!(run.chunks_sent, 2 + u64::from(MAX_ROUNDS));
}

/// A gateway that lies: each answer the sender must refuse.
#[test]
fn the_sender_refuses_a_lying_gateway() {
    let (m, _) = batch(4, 10);
    let reply = |id: &str| {
        Frame::Committed(CommitReply {
            batch_id: id.into(),
            cold: ContentHash::default(),
            durable: true,
        })
    };
    let cases: Vec<(&str, Vec<Frame>)> = vec![
        ("a chunk past the manifest", vec![Frame::Need(vec![4])]),
        (
            "an ack for a chunk never sent",
            vec![Frame::Need(vec![0]), Frame::Ack { index: 3, ok: true }],
        ),
        ("a commit before Sent", vec![reply("b1")]),
        (
            "a commit for another batch",
            vec![Frame::Need(vec![]), reply("b2")],
        ),
        ("rows in a transfer", vec![Frame::Rows(vec![1, 2])]),
        (
            "a frame after the end",
            vec![Frame::Need(vec![]), reply("b1"), Frame::Need(vec![])],
        ),
    ];
    for (what, frames) in cases {
        let mut s = Sender::new(&m, 2, SILENCE);
        s.start(&m, 0);
        let mut res = Ok(());
        for f in frames {
            if let Err(e) = s.on_frame(f, 1) {
                res = Err(e);
                break;
            }
        }
        assert!(
            matches!(res, Err(TransferError::Protocol(_))),
            "{what}: {res:?}"
        );
    }
}

/// A cloud that lies: the receiver stores nothing it should not.
#[test]
fn the_receiver_refuses_a_lying_cloud() {
    let (m, data) = batch(3, 10);
    let (mut r, _) = Receiver::new(&m, 0..3, SILENCE, 0);
    // Too long, too short: rejected, not stored.
    let long = Frame::Chunk {
        index: 0,
        data: vec![0; CHUNK as usize + 1],
    };
    assert_eq!(
        r.on_frame(long, 1),
        Ok(RecvAction::Frame(Frame::Ack {
            index: 0,
            ok: false
        }))
    );
    let short = Frame::Chunk {
        index: 2,
        data: data[2 * CHUNK as usize..].to_vec(),
    };
    assert!(matches!(
        r.on_frame(short, 2),
        Ok(RecvAction::Store { index: 2, .. })
    ));
    assert!(r.stored(2, true).is_ok());
    let wrong = Frame::Chunk {
        index: 1,
        data: vec![0; 10],
    };
    assert_eq!(
        r.on_frame(wrong, 3),
        Ok(RecvAction::Frame(Frame::Ack {
            index: 1,
            ok: false
        }))
    );
    assert_eq!(r.chunks_rejected, 2);
    // An index past the manifest, a report of a chunk not being stored, a
    // second offer: protocol errors.
    assert!(matches!(
        r.on_frame(
            Frame::Chunk {
                index: 3,
                data: vec![]
            },
            4
        ),
        Err(TransferError::Protocol(_))
    ));
    assert!(matches!(r.stored(1, true), Err(TransferError::Protocol(_))));
    assert!(matches!(
        r.on_frame(Frame::Offer(Box::new(m.clone())), 5),
        Err(TransferError::Protocol(_))
    ));
    assert_eq!(r.missing().collect::<Vec<_>>(), vec![0, 1]);
    // Silence is an error only past the deadline.
    assert!(r.tick(5 + SILENCE - 1).is_ok());
    assert_eq!(r.tick(5 + SILENCE), Err(TransferError::Silent(SILENCE)));
}

#[test]
fn nothing_is_asked_for_when_staging_has_every_chunk() {
    let (m, data) = batch(4, 10);
    let mut st = Staging::default();
    for i in 0..4u32 {
        let at = i as usize * CHUNK as usize;
        st.chunks
            .insert(i, data[at..(at + CHUNK as usize).min(data.len())].to_vec());
    }
    let run = transfer(&m, &data, &mut st, 2, &mut |_| Fate::Deliver, false, None).unwrap();
    assert!(committed(&run), "{:?}", run.outcome);
    assert_eq!(run.chunks_sent, 0);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]
    /// Any mix of faults, window and restarts: the transfer either commits
    /// exactly the batch's bytes or fails; it never commits anything else.
    #[test]
    fn faults_never_commit_other_bytes(
        chunks in 1usize..12,
        tail in 1usize..4096,
        window in 1usize..6,
        fates in proptest::collection::vec(0u8..8, 64),
        shuffle in any::<bool>(),
        restarts in 0usize..3,
    ) {
        let (m, data) = batch(chunks, tail);
        let mut st = Staging::default();
        let mut fate = |k: u64| match fates[(k as usize) % fates.len()] {
            0 => Fate::Damage,
            1 => Fate::Duplicate,
            2 => Fate::Drop,
            _ => Fate::Deliver,
        };
        let mut done = false;
        for _ in 0..=restarts {
            let run = transfer(&m, &data, &mut st, window, &mut fate, shuffle, None).unwrap();
            if committed(&run) {
                done = true;
                break;
            }
        }
        if done {
            prop_assert_eq!(st.committed.as_deref(), Some(&data[..]));
        } else {
            prop_assert!(st.committed.is_none());
        }
        for (i, c) in &st.chunks {
            prop_assert!(m.chunk_matches(*i as usize, c));
        }
    }
}
