//! Cancellation shared by every long operation of the crate.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// Stops a running operation from another thread. Cloning shares the token.
///
/// A cancelled scan stops reading new directories promptly and returns what it has seen,
/// with [`crate::scan::ScanReport::cancelled`] and `partial` set; a diagnostic, an
/// enforcement, a restore or a purge stops at its next step with
/// [`crate::Error::Cancelled`] (what was already done stays done and audited).
#[derive(Debug, Clone, Default)]
pub struct CancelToken(Arc<AtomicBool>);

impl CancelToken {
    pub fn new() -> Self {
        CancelToken::default()
    }

    pub fn cancel(&self) {
        self.0.store(true, Ordering::Relaxed);
    }

    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}
