//! `certs init`: writes the operator's CA and both certificates to a folder,
//! keys readable by their owner only; `tokens`: the three bearer tokens.

use anyhow::Context;
use std::fs;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

fn write(path: &Path, text: &str, mode: u32) -> anyhow::Result<()> {
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .with_context(|| {
            format!(
                "cannot create {} (remove the old certificates first to replace them)",
                path.display()
            )
        })?;
    f.write_all(text.as_bytes())?;
    f.sync_all()?;
    Ok(())
}

/// Writes `ca.pem`, `ca.key`, `nas-gateway.{pem,key}`, `cloud-service.{pem,key}`.
/// Refuses to overwrite: a new CA would lock both ends out of each other.
pub fn init(dir: &Path, org: &str) -> anyhow::Result<()> {
    fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let b = hotcold_link::certs::generate(org)?;
    for (name, text, mode) in [
        ("ca.pem", &b.ca_cert, 0o644),
        ("ca.key", &b.ca_key, 0o600),
        ("nas-gateway.pem", &b.server_cert, 0o644),
        ("nas-gateway.key", &b.server_key, 0o600),
        ("cloud-service.pem", &b.client_cert, 0o644),
        ("cloud-service.key", &b.client_key, 0o600),
    ] {
        write(&dir.join(name), text, mode)?;
    }
    Ok(())
}

/// Writes a self-signed HTTPS certificate for `names` (`https.pem`) and
/// its key (`https.key`, mode 600).
pub fn init_https(dir: &Path, names: &[String]) -> anyhow::Result<()> {
    fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let (cert, key) = hotcold_link::certs::self_signed(names)?;
    write(&dir.join("https.pem"), &cert, 0o644)?;
    write(&dir.join("https.key"), &key, 0o600)
}

/// Writes `admin.token`, `ingest.token` and `read.token`: 40 random
/// alphanumeric characters each (about 238 bits) from the OS-seeded CSPRNG,
/// mode 600, never overwriting.
pub fn init_tokens(dir: &Path) -> anyhow::Result<()> {
    use rand::Rng;
    fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    for name in ["admin.token", "ingest.token", "read.token"] {
        let token: String = rand::thread_rng()
            .sample_iter(rand::distributions::Alphanumeric)
            .take(40)
            .map(char::from)
            .collect();
        write(&dir.join(name), &format!("{token}\n"), 0o600)?;
    }
    Ok(())
}
