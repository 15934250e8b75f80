//! Running an external program without a shell, bounded in time and output.

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::CancelToken;
use crate::error::{Error, Result};

/// What a bounded run produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Output {
    pub success: bool,
    pub stdout: String,
    /// True when output past `max_output` bytes was dropped.
    pub truncated: bool,
}

/// Runs `program` with `args` (an argument vector: nothing is interpreted by a shell), kills
/// it after `timeout`, and keeps at most `max_output` bytes of its standard output. (Only the
/// native collectors run tools without a cancel switch; the tests use it everywhere.)
#[cfg(any(spectra_native, test))]
pub fn run_bounded(
    program: &str,
    args: &[&str],
    timeout: Duration,
    max_output: usize,
) -> Result<Output> {
    run_bounded_until(program, args, timeout, max_output, &CancelToken::new())
}

/// [`run_bounded`], also killed as soon as `cancel` is cancelled.
pub fn run_bounded_until(
    program: &str,
    args: &[&str],
    timeout: Duration,
    max_output: usize,
    cancel: &CancelToken,
) -> Result<Output> {
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => {
                Error::unsupported(program.to_string(), "the program is not installed")
            }
            _ => Error::io(program, e),
        })?;
    let mut stdout = child
        .stdout
        .take()
        .ok_or_else(|| Error::invalid(program.to_string(), "no stdout pipe"))?;
    let reader = std::thread::spawn(move || {
        let mut kept = Vec::new();
        let mut total = 0usize;
        let mut buffer = [0u8; 8192];
        // Keep draining past the limit so the child never blocks on a full pipe.
        while let Ok(n) = stdout.read(&mut buffer) {
            if n == 0 {
                break;
            }
            let room = max_output.saturating_sub(kept.len());
            kept.extend_from_slice(&buffer[..n.min(room)]);
            total += n;
        }
        (kept, total > max_output)
    });
    let deadline = Instant::now() + timeout;
    let status = loop {
        match child.try_wait().map_err(|e| Error::io(program, e))? {
            Some(status) => break Some(status),
            None if Instant::now() >= deadline || cancel.is_cancelled() => {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            None => std::thread::sleep(Duration::from_millis(10)),
        }
    };
    let (kept, truncated) = reader.join().unwrap_or_default();
    let Some(status) = status else {
        return Err(if cancel.is_cancelled() {
            Error::cancelled(program)
        } else {
            Error::timeout(program, timeout)
        });
    };
    Ok(Output {
        success: status.success(),
        stdout: String::from_utf8_lossy(&kept).into_owned(),
        truncated,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_is_capped_and_time_is_bounded() {
        let out = run_bounded("seq", &["1", "100000"], Duration::from_secs(10), 20).expect("seq");
        assert!(out.success && out.truncated);
        assert_eq!(out.stdout, "1\n2\n3\n4\n5\n6\n7\n8\n9\n10");
        let started = Instant::now();
        let err = run_bounded("sleep", &["5"], Duration::from_millis(200), 10).expect_err("killed");
        assert!(started.elapsed() < Duration::from_secs(3));
        assert_eq!(err.code(), crate::ErrorCode::Timeout);
        assert_eq!(err.to_string(), "sleep did not finish within 0.2 s");
        let cancel = CancelToken::new();
        let canceller = cancel.clone();
        let started = Instant::now();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(100));
            canceller.cancel();
        });
        let err = run_bounded_until("sleep", &["5"], Duration::from_secs(10), 10, &cancel)
            .expect_err("cancelled");
        assert_eq!(err.code(), crate::ErrorCode::Cancelled);
        assert!(started.elapsed() < Duration::from_secs(3));
        let missing = run_bounded("no-such-program-here", &[], Duration::from_secs(1), 10)
            .expect_err("missing");
        assert_eq!(missing.code(), crate::ErrorCode::Unsupported);
    }

    #[test]
    fn arguments_are_never_interpreted_by_a_shell() {
        let out = run_bounded(
            "echo",
            &["$(id)", ";", "rm", "-rf", "/"],
            Duration::from_secs(5),
            100,
        )
        .expect("echo");
        assert_eq!(out.stdout, "$(id) ; rm -rf /\n");
    }
}
