//! Link frames from the network: bounded, never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut buf = data;
    // Every frame in the buffer, as the framed stream reads them.
    while let Ok(Some((_, used))) = hotcold_core::frame::Frame::parse(buf, 1 << 20) {
        buf = &buf[used..];
    }
});
