//! Invariant 6: the link is authenticated both ways. A client whose
//! certificate comes from another CA gets nothing from the gateway; the same
//! request with the operator's certificates succeeds (so the test can fail).

use hotcold_core::frame::{ColdQuery, Frame};
use hotcold_core::schema::Window;
use hotcold_link::framed::FramedStream;
use hotcold_link::TlsFiles;
use hotcold_tests::data::trades_schema;
use nas_gateway::config::{ColdConfig, NasConfig, TlsConfig};
use std::path::Path;

fn files(dir: &Path, who: &str) -> TlsFiles {
    TlsFiles {
        ca: dir.join("ca.pem"),
        cert: dir.join(format!("{who}.pem")),
        key: dir.join(format!("{who}.key")),
        peer: None,
    }
}

async fn ask(client: &TlsFiles, addr: std::net::SocketAddr) -> anyhow::Result<Frame> {
    let ep = hotcold_link::client_endpoint(client, &hotcold_link::LinkTuning::default())?;
    let conn = tokio::time::timeout(
        std::time::Duration::from_secs(5),
        ep.connect(addr, hotcold_link::SERVER_NAME)?,
    )
    .await??;
    let (send, recv) = conn.open_bi().await?;
    let mut s = FramedStream::new(send, recv, 1 << 20);
    s.write_frame(&Frame::Query(ColdQuery {
        schema: trades_schema(),
        window: Window::new(0, 1),
        limit: 10,
        spec: Default::default(),
        max_bytes: None,
        max_groups: None,
    }))
    .await?;
    s.finish()?;
    let f = tokio::time::timeout(std::time::Duration::from_secs(5), s.expect_frame()).await??;
    Ok(f)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_from_another_ca_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ours = dir.path().join("ours");
    let theirs = dir.path().join("theirs");
    cloud_service::certs::init(&ours, "operator").expect("certs");
    cloud_service::certs::init(&theirs, "intruder").expect("certs");
    let server = files(&ours, "nas-gateway");
    let cfg = NasConfig {
        listen: "127.0.0.1:0".parse().expect("addr"),
        data_dir: dir.path().join("nas"),
        tls: TlsConfig {
            ca: server.ca.clone(),
            cert: server.cert.clone(),
            key: server.key.clone(),
            peer_cert: None,
        },
        cold: ColdConfig::Sqlite { path: None },
        http_listen: None,
        ..Default::default()
    };
    let running = nas_gateway::start(cfg, std::future::pending())
        .await
        .expect("gateway");

    // The operator's cloud certificate: an answer (an empty result).
    let ok = ask(&files(&ours, "cloud-service"), running.addr)
        .await
        .expect("trusted client is served");
    assert!(matches!(ok, Frame::End(_)), "{ok:?}");

    // A certificate from another CA (trusting ours, to isolate the check on
    // the gateway's side): refused, no frame comes back.
    let mut intruder = files(&theirs, "cloud-service");
    intruder.ca = ours.join("ca.pem");
    let refused = ask(&intruder, running.addr).await;
    assert!(refused.is_err(), "a client from another CA got {refused:?}");

    // And the cloud refuses a gateway it does not trust.
    let wrong_ca = TlsFiles {
        ca: theirs.join("ca.pem"),
        ..files(&ours, "cloud-service")
    };
    assert!(ask(&wrong_ca, running.addr).await.is_err());
    // Corrupt certificate files are named errors, not panics.
    std::fs::write(dir.path().join("junk.pem"), "not a certificate").expect("write");
    let junk = TlsFiles {
        cert: dir.path().join("junk.pem"),
        ..files(&ours, "cloud-service")
    };
    let e = hotcold_link::client_endpoint(&junk, &hotcold_link::LinkTuning::default())
        .expect_err("junk cert refused");
    assert!(e.to_string().contains("junk.pem"), "{e}");
}

/// Writes bundle `b` as `certs init` would, into `dir`.
fn write_bundle(dir: &Path, b: &hotcold_link::certs::CertBundle) {
    std::fs::create_dir_all(dir).expect("dir");
    for (name, text) in [
        ("ca.pem", &b.ca_cert),
        ("nas-gateway.pem", &b.server_cert),
        ("nas-gateway.key", &b.server_key),
        ("cloud-service.pem", &b.client_cert),
        ("cloud-service.key", &b.client_key),
    ] {
        std::fs::write(dir.join(name), text).expect("write");
    }
}

/// A CA that signs for more than this pair: another certificate with the
/// same name from the same CA is refused by the gateway (client side) and
/// by the cloud (server side); only the pinned pair talks.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_pinned_peer_is_accepted_under_a_shared_ca() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut bundles = hotcold_link::certs::generate_many("shared", 2).expect("certs");
    let (pair, other) = (dir.path().join("pair"), dir.path().join("other"));
    write_bundle(&other, &bundles.remove(1));
    write_bundle(&pair, &bundles.remove(0));
    let start = |certs: &Path| {
        let cfg = NasConfig {
            listen: "127.0.0.1:0".parse().expect("addr"),
            data_dir: certs.join("nas"),
            tls: TlsConfig {
                ca: certs.join("ca.pem"),
                cert: certs.join("nas-gateway.pem"),
                key: certs.join("nas-gateway.key"),
                // The default: cloud-service.pem beside the CA.
                peer_cert: None,
            },
            cold: ColdConfig::Sqlite { path: None },
            http_listen: None,
            ..Default::default()
        };
        nas_gateway::start(cfg, std::future::pending())
    };
    let ours = start(&pair).await.expect("gateway");
    let pinned = |who: &Path, peer: &Path| TlsFiles {
        peer: Some(peer.join("nas-gateway.pem")),
        ..files(who, "cloud-service")
    };
    // The pair: served.
    let ok = ask(&pinned(&pair, &pair), ours.addr)
        .await
        .expect("the pinned cloud is served");
    assert!(matches!(ok, Frame::End(_)), "{ok:?}");
    // Same CA, same name, another key: the gateway refuses the client.
    let intruder = ask(&files(&other, "cloud-service"), ours.addr).await;
    assert!(
        intruder.is_err(),
        "another cloud-service certificate of the CA got {intruder:?}"
    );
    // A gateway with the other certificate of the same CA: the cloud
    // refuses it (that gateway pins the other client, so ask with ours
    // pinned to our gateway).
    std::fs::copy(
        pair.join("cloud-service.pem"),
        other.join("cloud-service.pem"),
    )
    .expect("copy");
    let theirs = start(&other).await.expect("second gateway");
    let to_impostor = ask(&pinned(&pair, &pair), theirs.addr).await;
    assert!(
        to_impostor.is_err(),
        "the cloud talked to an unpinned gateway: {to_impostor:?}"
    );
    // Without the pin on the cloud side it would have been served: the
    // test can tell the two apart.
    let unpinned = ask(&files(&pair, "cloud-service"), theirs.addr).await;
    assert!(matches!(unpinned, Ok(Frame::End(_))), "{unpinned:?}");
}
