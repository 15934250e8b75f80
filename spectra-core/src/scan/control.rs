use std::ops::ControlFlow;
use std::path::PathBuf;
use std::time::Duration;

pub use crate::CancelToken;

/// A snapshot of a running scan, handed to the progress callback.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Progress {
    /// Entries seen so far (files, directories, symlinks, others).
    pub entries: u64,
    /// Bytes seen so far, in the scan's size mode.
    pub bytes: u64,
    /// Entries that could not be read so far.
    pub errors: u64,
    /// A directory being read right now, if one is.
    pub current: Option<PathBuf>,
}

/// How often a scan reports progress (and a binding looks for Ctrl-C or an abort) unless
/// told otherwise: every frontend's default.
pub const DEFAULT_PROGRESS_INTERVAL: Duration = Duration::from_millis(100);

type ProgressFn<'a> = Box<dyn FnMut(&Progress) -> ControlFlow<()> + 'a>;

/// How the caller watches and steers a scan: progress reports and cancellation.
///
/// The progress callback runs on the thread that called the scan (never on a worker), at
/// most once per interval and once more at the end; returning `ControlFlow::Break(())`
/// cancels the scan. This is what lets a binding check for Ctrl-C on its own thread.
pub struct ScanControl<'a> {
    pub(crate) progress: Option<ProgressFn<'a>>,
    pub(crate) interval: Duration,
    pub(crate) cancel: CancelToken,
}

impl Default for ScanControl<'_> {
    fn default() -> Self {
        ScanControl {
            progress: None,
            interval: DEFAULT_PROGRESS_INTERVAL,
            cancel: CancelToken::new(),
        }
    }
}

impl std::fmt::Debug for ScanControl<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScanControl")
            .field("progress", &self.progress.is_some())
            .field("interval", &self.interval)
            .field("cancel", &self.cancel)
            .finish()
    }
}

impl<'a> ScanControl<'a> {
    pub fn new() -> Self {
        ScanControl::default()
    }

    /// Call `progress` at most once per interval (100 ms unless [`ScanControl::every`]).
    pub fn on_progress(mut self, progress: impl FnMut(&Progress) -> ControlFlow<()> + 'a) -> Self {
        self.progress = Some(Box::new(progress));
        self
    }

    pub fn every(mut self, interval: Duration) -> Self {
        self.interval = interval.max(Duration::from_millis(1));
        self
    }

    /// Stop the scan when `token` is cancelled.
    pub fn cancel_with(mut self, token: CancelToken) -> Self {
        self.cancel = token;
        self
    }
}
