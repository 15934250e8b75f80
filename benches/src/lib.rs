//! Shared set-up for the benches: generated trees cached outside the repository.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// Where generated bench trees live: `$SPECTRA_BENCH_DIR`, else `~/.cache/spectra-bench`.
pub fn cache_dir() -> PathBuf {
    std::env::var_os("SPECTRA_BENCH_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let home = std::env::var_os("HOME")
                .map(PathBuf::from)
                .unwrap_or_else(std::env::temp_dir);
            home.join(".cache").join("spectra-bench")
        })
}

/// A tree of `files` files spread over `dirs` directories (two levels: `dirs/50` groups of 50),
/// with sizes from 0 to 64 KiB. Built once, then reused: a marker file records that it is whole.
pub fn generated_tree(files: usize, dirs: usize) -> io::Result<PathBuf> {
    let root = cache_dir().join(format!("tree-{files}f-{dirs}d"));
    // Beside the tree, not in it, so the tree holds exactly `files` files.
    let marker = cache_dir().join(format!("tree-{files}f-{dirs}d.complete"));
    if marker.exists() {
        return Ok(root);
    }
    if root.exists() {
        fs::remove_dir_all(&root)?;
    }
    let per_dir = files.div_ceil(dirs.max(1));
    let mut written = 0;
    for d in 0..dirs {
        let dir = root
            .join(format!("g{:03}", d / 50))
            .join(format!("d{d:05}"));
        fs::create_dir_all(&dir)?;
        for f in 0..per_dir {
            if written == files {
                break;
            }
            let size = (written * 7919) % 65_536;
            let ext = ["log", "txt", "dat", "json", "rs", "tmp"][written % 6];
            write_sized(&dir.join(format!("f{f:04}.{ext}")), size)?;
            written += 1;
        }
    }
    fs::write(&marker, b"")?;
    Ok(root)
}

fn write_sized(path: &Path, size: usize) -> io::Result<()> {
    let file = fs::File::create(path)?;
    // Sparse files keep a 500k-file tree small on disk while sizes stay realistic.
    file.set_len(size as u64)
}

/// An HTTP client for load generators on loopback: many idle connections kept, 30 s a request.
pub fn client() -> reqwest::Client {
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map(|b| {
        b.with_root_certificates(rustls::RootCertStore::empty())
            .with_no_client_auth()
    });
    let mut builder = reqwest::Client::builder()
        .pool_max_idle_per_host(usize::MAX)
        .timeout(Duration::from_secs(30));
    if let Ok(config) = config {
        builder = builder.tls_backend_preconfigured(config);
    }
    builder.build().unwrap_or_default()
}

/// The `q` quantile of sorted latencies, in milliseconds.
pub fn quantile(sorted: &[Duration], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let index = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[index].as_secs_f64() * 1000.0
}
