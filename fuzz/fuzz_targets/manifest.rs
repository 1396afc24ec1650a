//! Offer manifests (JSON from the network, and from the spool on disk).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(m) = serde_json::from_slice::<hotcold_core::manifest::Manifest>(data) {
        let _ = m.validate();
    }
});
