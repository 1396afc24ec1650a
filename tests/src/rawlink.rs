//! The link spoken by hand, frame by frame, for tests of what a gateway
//! does with batches a well-behaved cloud would never send.

use crate::data::{batch_of, trades_schema};
use hotcold_core::codec::encode_segment;
use hotcold_core::frame::Frame;
use hotcold_core::manifest::{Manifest, ManifestBuilder};
use hotcold_core::schema::Window;
use hotcold_core::ContentHash;
use hotcold_link::framed::FramedStream;
use hotcold_link::TlsFiles;

/// A batch of trade rows for window `w`: its manifest and bytes (one
/// segment, 64 KiB chunks).
pub fn manifest_for(id: &str, rows: &[serde_json::Value], w: Window) -> (Manifest, Vec<u8>) {
    let schema = trades_schema();
    let batch = batch_of(&schema, rows);
    let data = encode_segment(&batch, 3);
    let mut b = ManifestBuilder::new(64 << 10);
    b.update(&data);
    let mut content = ContentHash::default();
    content.add_batch(&batch);
    (b.finish(id.into(), schema, w, content), data)
}

/// Offers a batch and sends the chunks asked for (only the first
/// `max_chunks` of them, then hangs up, if given); the gateway's last word,
/// or `None` after hanging up.
pub async fn offer(
    tls: &TlsFiles,
    addr: std::net::SocketAddr,
    m: &Manifest,
    data: &[u8],
    max_chunks: Option<usize>,
) -> Option<Frame> {
    let ep = hotcold_link::client_endpoint(tls, &hotcold_link::LinkTuning::default()).expect("ep");
    let conn = ep
        .connect(addr, hotcold_link::SERVER_NAME)
        .expect("connect")
        .await
        .expect("handshake");
    let (send, recv) = conn.open_bi().await.expect("stream");
    let mut s = FramedStream::new(send, recv, 32 << 20);
    s.write_frame(&Frame::Offer(Box::new(m.clone())))
        .await
        .expect("offer");
    loop {
        match s.expect_frame().await.expect("answer") {
            Frame::Need(missing) => {
                if let Some(n) = max_chunks {
                    for &i in missing.iter().take(n) {
                        let c = m.chunk_size as usize;
                        let part = &data[i as usize * c..((i as usize + 1) * c).min(data.len())];
                        s.write_frame(&Frame::Chunk {
                            index: i,
                            data: part.to_vec(),
                        })
                        .await
                        .expect("chunk");
                    }
                    // Wait for the acks so the chunks are on the gateway's disk.
                    for _ in 0..n.min(missing.len()) {
                        let _ = s.expect_frame().await;
                    }
                    return None;
                }
                for i in missing {
                    let c = m.chunk_size as usize;
                    let part = &data[i as usize * c..((i as usize + 1) * c).min(data.len())];
                    s.write_frame(&Frame::Chunk {
                        index: i,
                        data: part.to_vec(),
                    })
                    .await
                    .expect("chunk");
                }
                s.write_frame(&Frame::Sent).await.expect("sent");
            }
            Frame::Ack { .. } => {}
            last => return Some(last),
        }
    }
}

/// A gateway in this process with a SQLite cold store under `dir`, its own
/// certificates (`dir/certs`, as `certs init` makes them) and `tweak`
/// applied to its config; and the pinned cloud side's TLS files.
pub async fn start_gateway(
    dir: &std::path::Path,
    tweak: impl FnOnce(&mut nas_gateway::config::NasConfig),
) -> (nas_gateway::Running, TlsFiles) {
    use nas_gateway::config::{ColdConfig, NasConfig, TlsConfig};
    let certs = dir.join("certs");
    cloud_service::certs::init(&certs, "rawlink").expect("certs");
    let mut cfg = NasConfig {
        listen: "127.0.0.1:0".parse().expect("addr"),
        data_dir: dir.join("nas"),
        tls: TlsConfig {
            ca: certs.join("ca.pem"),
            cert: certs.join("nas-gateway.pem"),
            key: certs.join("nas-gateway.key"),
            peer_cert: None,
        },
        cold: ColdConfig::Sqlite { path: None },
        http_listen: None,
        ..Default::default()
    };
    tweak(&mut cfg);
    let gw = nas_gateway::start(cfg, std::future::pending())
        .await
        .expect("gateway");
    let tls = TlsFiles {
        ca: certs.join("ca.pem"),
        cert: certs.join("cloud-service.pem"),
        key: certs.join("cloud-service.key"),
        peer: Some(certs.join("nas-gateway.pem")),
    };
    (gw, tls)
}
