//! The cluster edition's bad configurations, refused at start with an
//! error that names the problem: ZooKeeper unreachable, a root holding
//! another product's data or another cluster's journal, a replica id that
//! a live replica already uses. Against the suite's real ZooKeeper.

use hotcold_tests::cluster::{start_fails, ClusterStack};
use hotcold_tests::cluster_checks::components;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_cluster_configs_are_refused_at_start() {
    let Some((zk, ch)) = components() else { return };
    let mut cs = ClusterStack::new(1, &ch, |_| zk.clone(), "4s");
    let base = std::fs::read_to_string(&cs.replicas[0].config).expect("config");
    let (top, own_data) = (
        cs.dir.path().to_path_buf(),
        cs.replicas[0].dir.join("cloud"),
    );
    let variant = |name: &str, from: &str, to: &str| {
        let p = top.join(format!("{name}.yaml"));
        let yaml = base.replace(from, to).replace(
            &format!("data-dir: {}", own_data.display()),
            &format!("data-dir: {}", top.join(name).display()),
        );
        assert_ne!(yaml, base, "{name}");
        std::fs::write(&p, yaml).expect("variant");
        p
    };
    let root_line = format!("root: {}", cs.root);

    let out = start_fails(&variant(
        "unreachable",
        &format!("zookeeper: {zk}"),
        "zookeeper: 127.0.0.1:9",
    ))
    .await;
    assert!(
        out.contains("cannot reach ZooKeeper") || out.contains("no answer from ZooKeeper"),
        "{out}"
    );
    println!(
        "ZooKeeper unreachable: {}",
        out.lines()
            .find(|l| l.contains("error"))
            .unwrap_or_default()
    );

    let client = zookeeper_client::Client::connect(&zk).await.expect("zk");
    let opts =
        zookeeper_client::CreateMode::Persistent.with_acls(zookeeper_client::Acls::anyone_all());
    // The parent exists unless an earlier test made it.
    let _ = client.create("/hotcold", b"", &opts).await;
    let foreign = format!("{}-foreign", cs.root);
    client
        .create(&foreign, b"", &opts)
        .await
        .expect("foreign root");
    client
        .create(&format!("{foreign}/brokers"), b"", &opts)
        .await
        .expect("foreign child");
    let out = start_fails(&variant("foreign", &root_line, &format!("root: {foreign}"))).await;
    assert!(out.contains("not hotcold's"), "{out}");
    println!(
        "a foreign root: {}",
        out.lines()
            .find(|l| l.contains("error"))
            .unwrap_or_default()
    );

    let other = format!("{}-other", cs.root);
    client.create(&other, b"", &opts).await.expect("other root");
    client
        .create(&format!("{other}/meta"), b"hotcold-cluster", &opts)
        .await
        .expect("meta");
    client
        .create(&format!("{other}/journal"), b"", &opts)
        .await
        .expect("journal");
    client
        .create(
            &format!("{other}/journal/orders-0-86400000-1"),
            b"{}",
            &opts,
        )
        .await
        .expect("batch");
    let out = start_fails(&variant("other", &root_line, &format!("root: {other}"))).await;
    assert!(out.contains("another cluster's journal"), "{out}");
    println!(
        "another cluster's root: {}",
        out.lines()
            .find(|l| l.contains("error"))
            .unwrap_or_default()
    );

    cs.replicas[0].start();
    let url = cs.replicas[0].url.clone();
    let port = url.rsplit(':').next().unwrap_or_default().to_string();
    let twin = variant("twin", &format!("127.0.0.1:{port}\n"), "127.0.0.1:0\n");
    let out = start_fails(&twin).await;
    assert!(out.contains("already in use"), "{out}");
    println!(
        "a second r0: {}",
        out.lines()
            .find(|l| l.contains("error"))
            .unwrap_or_default()
    );
    // The first one is untouched: it still leads.
    assert_eq!(cs.one_leader(Duration::from_secs(10)).await.0, 0);
    // `status` shows the replica's role, who leads and the live replicas.
    let out = tokio::process::Command::new(hotcold_tests::procs::bin("cloud-service"))
        .args(["status", "--url", &url])
        .output()
        .await
        .expect("status");
    let status: serde_json::Value = serde_json::from_slice(&out.stdout).expect("status JSON");
    let c = &status["cluster"];
    assert_eq!(c["role"], "leader", "{status}");
    assert_eq!(c["leader"].as_str(), Some(url.as_str()), "{status}");
    assert_eq!(c["replicas"].as_array().map(Vec::len), Some(1), "{status}");
    let log = std::fs::read_to_string(cs.replicas[0].log(0)).unwrap_or_default();
    assert!(!log.contains("ERROR"), "{log}");
}
