//! A UDP relay between the cloud and the gateway, on loopback: counts the
//! bytes that really cross "the line" per second, and can cut the line
//! (drop every datagram) or make it lossy (drop each datagram, either way,
//! with a probability), or make its round trip swing (hold every datagram
//! for a short and a long delay in turn, like a router whose buffer fills
//! and drains) on demand.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::net::UdpSocket;

pub struct UdpProxy {
    pub addr: SocketAddr,
    /// Bytes from the client (cloud) towards the server, per whole second
    /// since the proxy started.
    pub upstream: Arc<Mutex<Vec<u64>>>,
    pub started: Instant,
    pub cut: Arc<AtomicBool>,
    /// Drop probability of each datagram, as f64 bits.
    loss: Arc<AtomicU64>,
    swing: Arc<Mutex<Option<Swing>>>,
    task: tokio::task::JoinHandle<()>,
}

/// A one-way delay of `low` and `high` in turn, each for `period`.
#[derive(Clone, Copy)]
struct Swing {
    low: Duration,
    high: Duration,
    period: Duration,
}

impl Swing {
    fn now(&self, since: Instant) -> Duration {
        let n = since.elapsed().as_millis() / self.period.as_millis().max(1);
        if n.is_multiple_of(2) {
            self.low
        } else {
            self.high
        }
    }
}

/// Sends datagrams after their delay, in order (a later datagram never
/// overtakes an earlier one: a queue, not a reordering line).
fn delayed_sender(
    sock: Arc<UdpSocket>,
    to_peer: bool,
) -> tokio::sync::mpsc::UnboundedSender<(Instant, Vec<u8>, Option<SocketAddr>)> {
    let (tx, mut rx) =
        tokio::sync::mpsc::unbounded_channel::<(Instant, Vec<u8>, Option<SocketAddr>)>();
    tokio::spawn(async move {
        while let Some((at, data, to)) = rx.recv().await {
            tokio::time::sleep_until(at.into()).await;
            let _ = match (to_peer, to) {
                (false, _) => sock.send(&data).await,
                (true, Some(to)) => sock.send_to(&data, to).await,
                (true, None) => Ok(0),
            };
        }
    });
    tx
}

/// When a datagram arriving now leaves: after the swing's delay, and not
/// before the one ahead of it.
fn release(swing: &Mutex<Option<Swing>>, since: Instant, last: &mut Instant) -> Option<Instant> {
    let s = (*swing.lock().unwrap_or_else(|p| p.into_inner()))?;
    let at = (Instant::now() + s.now(since)).max(*last);
    *last = at;
    Some(at)
}

fn dropped(loss: &AtomicU64) -> bool {
    let p = f64::from_bits(loss.load(Ordering::Relaxed));
    p > 0.0 && rand::random::<f64>() < p
}

impl UdpProxy {
    pub async fn start(target: SocketAddr) -> std::io::Result<Self> {
        let front = Arc::new(UdpSocket::bind("127.0.0.1:0").await?);
        // A target off loopback (a tunnel address) needs a socket that may
        // leave this host.
        let back_bind = if target.ip().is_loopback() {
            "127.0.0.1:0"
        } else {
            "0.0.0.0:0"
        };
        let back = Arc::new(UdpSocket::bind(back_bind).await?);
        back.connect(target).await?;
        let addr = front.local_addr()?;
        let upstream = Arc::new(Mutex::new(Vec::new()));
        let cut = Arc::new(AtomicBool::new(false));
        let loss = Arc::new(AtomicU64::new(0f64.to_bits()));
        let swing: Arc<Mutex<Option<Swing>>> = Arc::new(Mutex::new(None));
        let started = Instant::now();
        let client: Arc<Mutex<Option<SocketAddr>>> = Arc::new(Mutex::new(None));
        let (f2, b2, up, c2, cl2, l2, s2) = (
            front.clone(),
            back.clone(),
            upstream.clone(),
            cut.clone(),
            client.clone(),
            loss.clone(),
            swing.clone(),
        );
        let forward = async move {
            let mut buf = vec![0u8; 65_536];
            let later = delayed_sender(b2.clone(), false);
            let mut last = Instant::now();
            loop {
                // A restarted peer makes the kernel report "refused" once;
                // the relay keeps going.
                let Ok((n, from)) = f2.recv_from(&mut buf).await else {
                    continue;
                };
                *cl2.lock().unwrap_or_else(|p| p.into_inner()) = Some(from);
                if c2.load(Ordering::Relaxed) || dropped(&l2) {
                    continue;
                }
                let sec = started.elapsed().as_secs() as usize;
                {
                    let mut u = up.lock().unwrap_or_else(|p| p.into_inner());
                    if u.len() <= sec {
                        u.resize(sec + 1, 0);
                    }
                    u[sec] += n as u64 + 28; // + IPv4 and UDP headers
                }
                match release(&s2, started, &mut last) {
                    Some(at) => {
                        let _ = later.send((at, buf[..n].to_vec(), None));
                    }
                    None => {
                        let _ = b2.send(&buf[..n]).await;
                    }
                }
            }
        };
        let (f3, b3, c3, l3, s3) = (
            front.clone(),
            back.clone(),
            cut.clone(),
            loss.clone(),
            swing.clone(),
        );
        let backward = async move {
            let mut buf = vec![0u8; 65_536];
            let later = delayed_sender(f3.clone(), true);
            let mut last = Instant::now();
            loop {
                let Ok(n) = b3.recv(&mut buf).await else {
                    continue;
                };
                if c3.load(Ordering::Relaxed) || dropped(&l3) {
                    continue;
                }
                let to = *client.lock().unwrap_or_else(|p| p.into_inner());
                if let Some(at) = release(&s3, started, &mut last) {
                    let _ = later.send((at, buf[..n].to_vec(), to));
                } else if let Some(to) = to {
                    let _ = f3.send_to(&buf[..n], to).await;
                }
            }
        };
        let task = tokio::spawn(async move {
            tokio::join!(forward, backward);
        });
        Ok(Self {
            addr,
            upstream,
            started,
            cut,
            loss,
            swing,
            task,
        })
    }

    /// Per-second upstream byte counts so far.
    pub fn seconds(&self) -> Vec<u64> {
        self.upstream
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub fn set_cut(&self, cut: bool) {
        self.cut.store(cut, Ordering::Relaxed);
    }

    /// Holds each datagram, either way, for `low` and `high` in turn, each
    /// for `period` (in order: a queue that fills and drains); `None`
    /// forwards at once again.
    pub fn set_swing(&self, swing: Option<(Duration, Duration, Duration)>) {
        *self.swing.lock().unwrap_or_else(|p| p.into_inner()) =
            swing.map(|(low, high, period)| Swing { low, high, period });
    }

    /// Drops each datagram, either way, with probability `p` (0 for none).
    pub fn set_loss(&self, p: f64) {
        self.loss
            .store(p.clamp(0.0, 1.0).to_bits(), Ordering::Relaxed);
    }
}

impl Drop for UdpProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}
