//! The test relay (`hotcold_tests::proxy::UdpProxy`) as a program, so it can
//! run inside a network namespace (`ip netns exec NS udp_relay --to ADDR`)
//! beside a cloud started there. It listens on 127.0.0.1 and forwards to
//! `--to`; it prints `relay on ADDR` once listening, then answers commands
//! read from stdin, one a line:
//!
//! - `loss P`: drop each datagram, either way, with probability P
//! - `cut on` / `cut off`: drop everything / nothing
//! - `bytes`: prints `bytes N`, the bytes forwarded upstream so far (UDP
//!   and IPv4 headers included)
//!
//! It ends when stdin closes.

use hotcold_tests::proxy::UdpProxy;
use std::io::Write;
use tokio::io::AsyncBufReadExt;

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let to: std::net::SocketAddr = hotcold_tests::arg("--to")
        .ok_or_else(|| anyhow::anyhow!("usage: udp_relay --to HOST:PORT"))?
        .parse()?;
    let proxy = UdpProxy::start(to).await?;
    let mut out = std::io::stdout();
    writeln!(out, "relay on {}", proxy.addr)?;
    out.flush()?;
    let mut lines = tokio::io::BufReader::new(tokio::io::stdin()).lines();
    while let Some(line) = lines.next_line().await? {
        let mut words = line.split_whitespace();
        match (words.next(), words.next()) {
            (Some("loss"), Some(p)) => proxy.set_loss(p.parse()?),
            (Some("cut"), Some(on)) => proxy.set_cut(on == "on"),
            (Some("bytes"), _) => {
                writeln!(out, "bytes {}", proxy.seconds().iter().sum::<u64>())?;
                out.flush()?;
            }
            _ => anyhow::bail!("unknown command {line:?}"),
        }
    }
    Ok(())
}
