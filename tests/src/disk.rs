//! Disk faults for the fault tests: a small tmpfs to fill, a filler that
//! takes what is left, a byte flipped in one file at random.

use rand::Rng;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A tmpfs under the gateway's data dir, so its disk can be filled.
pub struct SmallDisk(PathBuf);

impl SmallDisk {
    pub fn mount(at: &Path, size: &str) -> Option<SmallDisk> {
        std::fs::create_dir_all(at).ok()?;
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(at)
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        ok.then(|| SmallDisk(at.to_path_buf()))
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// Every file under `dir`, recursively (none if it does not exist).
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out
}

/// Writes `path` until the disk is full; returns it, for removal.
pub fn fill(path: &Path) -> PathBuf {
    let block = vec![0u8; 1 << 20];
    if let Ok(mut f) = std::fs::File::create(path) {
        use std::io::Write;
        while f.write_all(&block).is_ok() {}
        let _ = f.sync_all();
    }
    path.to_path_buf()
}

/// Flips one byte of one file with extension `ext` under `dir`, if any.
pub fn corrupt_one(dir: &Path, ext: &str, rng: &mut impl Rng) {
    let files: Vec<PathBuf> = files_under(dir)
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == ext))
        .collect();
    if files.is_empty() {
        return;
    }
    let p = &files[rng.gen_range(0..files.len())];
    if let Ok(mut bytes) = std::fs::read(p) {
        if !bytes.is_empty() {
            let i = rng.gen_range(0..bytes.len());
            bytes[i] ^= 0xA5;
            let _ = std::fs::write(p, bytes);
        }
    }
}
