//! A test that cannot do all it is for on this machine (no root, no PostgreSQL) says so:
//! on stderr, and as a line in the file `$SPECTRA_SKIP_LOG` names, which `./test.sh` counts
//! and prints at the end, so a skip is never silent. Shared by the crates' tests through
//! `#[path]`.

use std::io::Write;

/// Records that the calling test skipped `what`, and why.
pub fn skipped(what: &str, why: &str) {
    eprintln!("SKIPPED: {what}: {why}");
    if let Some(log) = std::env::var_os("SPECTRA_SKIP_LOG")
        && let Ok(mut file) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
    {
        let _ = writeln!(file, "{what}: {why}");
    }
}
