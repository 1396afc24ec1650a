//! A UDP relay between the cloud and the gateway, on loopback: counts the
//! bytes that really cross "the line" per second, and can cut the line
//! (drop every datagram) or make it lossy (drop each datagram, either way,
//! with a probability) on demand.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;
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
    task: tokio::task::JoinHandle<()>,
}

fn dropped(loss: &AtomicU64) -> bool {
    let p = f64::from_bits(loss.load(Ordering::Relaxed));
    p > 0.0 && rand::random::<f64>() < p
}

impl UdpProxy {
    pub async fn start(target: SocketAddr) -> std::io::Result<Self> {
        let front = Arc::new(UdpSocket::bind("127.0.0.1:0").await?);
        let back = Arc::new(UdpSocket::bind("127.0.0.1:0").await?);
        back.connect(target).await?;
        let addr = front.local_addr()?;
        let upstream = Arc::new(Mutex::new(Vec::new()));
        let cut = Arc::new(AtomicBool::new(false));
        let loss = Arc::new(AtomicU64::new(0f64.to_bits()));
        let started = Instant::now();
        let client: Arc<Mutex<Option<SocketAddr>>> = Arc::new(Mutex::new(None));
        let (f2, b2, up, c2, cl2, l2) = (
            front.clone(),
            back.clone(),
            upstream.clone(),
            cut.clone(),
            client.clone(),
            loss.clone(),
        );
        let forward = async move {
            let mut buf = vec![0u8; 65_536];
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
                let _ = b2.send(&buf[..n]).await;
            }
        };
        let (f3, b3, c3, l3) = (front.clone(), back.clone(), cut.clone(), loss.clone());
        let backward = async move {
            let mut buf = vec![0u8; 65_536];
            loop {
                let Ok(n) = b3.recv(&mut buf).await else {
                    continue;
                };
                if c3.load(Ordering::Relaxed) || dropped(&l3) {
                    continue;
                }
                let to = *client.lock().unwrap_or_else(|p| p.into_inner());
                if let Some(to) = to {
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
