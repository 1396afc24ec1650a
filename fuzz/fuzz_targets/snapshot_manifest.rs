//! Snapshot manifests (JSON from a snapshot directory, and from the link
//! for the NAS's copy of the hot tier): bounded decode, then checked names.
#![no_main]
use hotcold_core::snapshot::SnapshotManifest;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(m) = SnapshotManifest::decode(data) {
        let _ = m.rows();
        let _ = SnapshotManifest::encode(&m);
    }
});
