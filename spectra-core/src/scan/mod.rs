//! The parallel disk scanner.
//!
//! A [`Scanner`] walks one or more roots on a thread pool and streams every entry to
//! [`Visitor`]s in a single pass; the built-in report visitor turns the walk into a
//! [`ScanReport`]. Memory grows with the number of directories being walked and with the
//! top-N lists, never with the number of files.
//!
//! ```no_run
//! use spectra_core::scan::{ScanOptions, Scanner};
//!
//! let report = Scanner::new(ScanOptions::new("/srv").with_top(5))?.scan()?;
//! println!("{} files, {} bytes on disk", report.totals.files, report.totals.disk_bytes);
//! for file in &report.largest_files {
//!     println!("{:>12} {}", file.disk_bytes, file.path);
//! }
//! # Ok::<(), spectra_core::Error>(())
//! ```
//!
//! Unreadable entries do not stop a walk: they are counted, sampled in
//! [`ScanReport::errors`], and mark the report `partial`. Only a root that cannot be
//! examined at all is an [`crate::Error`].

mod control;
mod entry;
mod options;
mod report;
mod settings;
mod stream;
mod visitor;
mod walk;

use std::time::Instant;

pub use control::{CancelToken, DEFAULT_PROGRESS_INTERVAL, Progress, ScanControl};
pub(crate) use entry::extension_of;
pub use entry::{Entry, FileKind, FileMeta, FinishedDir, Timestamp};
pub use options::{
    DEFAULT_THREADS_PER_CPU, DEFAULT_TOP, MAX_DEFAULT_THREADS, MAX_THREADS, MAX_TOP, ScanOptions,
    SizeMode,
};
pub use report::{
    AGE_BUCKET_DAYS, AgeBucket, ERROR_SAMPLE, ErrorSummary, OwnerUsage, ScanError, ScanReport,
    SizedPath, SummaryRow, Totals, Usage,
};
pub use settings::ScanSettings;
pub use stream::{DEFAULT_STREAM_CAPACITY, FileRecord, FileStream, Next};
pub use visitor::Visitor;
pub(crate) use walk::stat_path;

use crate::error::Result;
use options::Excludes;
use report::ReportBuilder;

/// A validated scan configuration, ready to run any number of times.
#[derive(Debug)]
pub struct Scanner {
    options: ScanOptions,
    excludes: Option<Excludes>,
    backend: crate::Backend,
}

impl Scanner {
    /// Checks `options` (roots present, thread and top-N bounds, exclude globs, the backend)
    /// once, so the walk itself cannot fail on them.
    pub fn new(options: ScanOptions) -> Result<Self> {
        options.validate()?;
        let excludes = Excludes::compile(&options.exclude)?;
        let backend = crate::Backend::resolve(options.backend)?;
        walk::check_supported(backend, &options)?;
        Ok(Scanner {
            options,
            excludes,
            backend,
        })
    }

    /// The backend the scans walk with, resolved when the scanner was made.
    pub fn backend(&self) -> crate::Backend {
        self.backend
    }

    pub fn options(&self) -> &ScanOptions {
        &self.options
    }

    /// Scans every root and returns the report.
    pub fn scan(&self) -> Result<ScanReport> {
        self.scan_with(|| (), ScanControl::new())
            .map(|(report, ())| report)
    }

    /// Scans with progress reporting and cancellation.
    pub fn scan_controlled(&self, control: ScanControl<'_>) -> Result<ScanReport> {
        self.scan_with(|| (), control).map(|(report, ())| report)
    }

    /// Scans once, feeding every entry both to the report and to visitors made by
    /// `new_visitor` (one per worker thread, merged at the end), and returns both.
    pub fn scan_with<V: Visitor>(
        &self,
        new_visitor: impl Fn() -> V + Sync,
        mut control: ScanControl<'_>,
    ) -> Result<(ScanReport, V)> {
        let roots = walk::stat_roots(self.backend, &self.options)?;
        let started_at = chrono::Utc::now();
        let clock = Instant::now();
        let make = || (ReportBuilder::new(&self.options, started_at), new_visitor());
        let ((builder, visitor), stats) = walk::walk(
            self.backend,
            &self.options,
            self.excludes.as_ref(),
            roots,
            &make,
            &mut control,
        )?;
        let report = builder.finish(stats, started_at, clock.elapsed(), &self.options.roots);
        Ok((report, visitor))
    }
}

/// Scans `root` with default options.
pub fn scan(root: impl Into<std::path::PathBuf>) -> Result<ScanReport> {
    Scanner::new(ScanOptions::new(root))?.scan()
}
