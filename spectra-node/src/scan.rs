//! `scan`, `scanSync` and the entry stream behind `iterFiles`.

use std::ops::ControlFlow;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use napi::bindgen_prelude::*;
use napi::threadsafe_function::{ThreadsafeFunction, ThreadsafeFunctionCallMode};
use napi_derive::napi;
use serde_json::{Value, json};
use spectra_core::scan::{
    DEFAULT_PROGRESS_INTERVAL, DEFAULT_STREAM_CAPACITY, FileStream, Next, ScanControl, ScanOptions,
    ScanSettings, Scanner,
};

use crate::convert::to_js;
use crate::errors::IntoJs;
use crate::{CancelHandle, Work, token_of};

/// Most entries one `next()` of the stream hands over.
const MAX_BATCH: usize = 1024;

/// Progress as `onProgress` receives it.
type ProgressFn = ThreadsafeFunction<Value, (), Value, Status, false>;

/// Core's scan options from the JavaScript options object: core's `ScanSettings`, by its
/// camelCase names (`maxDepth`, `countLinks`, …) or its own; what it leaves out keeps core's
/// default, an unknown name is `INVALID_INPUT` listing the known ones.
fn options(path: String, options: Option<&Value>) -> spectra_core::Result<ScanOptions> {
    let settings = ScanSettings::from_value(options.cloned().unwrap_or(Value::Null))?;
    Ok(settings.options(vec![PathBuf::from(path)]))
}

/// Scans `path` on libuv's pool; `onProgress({ entries, bytes, currentPath })` runs on the
/// JavaScript thread about five times a second; `cancel` stops the walk (the Promise then
/// rejects with `CANCELLED`).
#[napi(ts_return_type = "Promise<any>")]
pub fn scan(
    path: String,
    options: Option<Value>,
    on_progress: Option<ProgressFn>,
    cancel: Option<&CancelHandle>,
) -> Result<AsyncTask<Work>> {
    let scan_options = self::options(path, options.as_ref()).js()?;
    let token = token_of(cancel);
    Ok(Work::new(move || {
        let scanner = Scanner::new(scan_options)?;
        let mut control = ScanControl::new().cancel_with(token.clone());
        if let Some(callback) = &on_progress {
            control = control.on_progress(|seen| {
                let progress = json!({
                    "entries": seen.entries,
                    "bytes": seen.bytes,
                    "errors": seen.errors,
                    "currentPath": seen.current.as_ref().map(|p| p.to_string_lossy()),
                });
                callback.call(progress, ThreadsafeFunctionCallMode::NonBlocking);
                ControlFlow::Continue(())
            });
        }
        let report = scanner.scan_controlled(control)?;
        if report.cancelled {
            return Err(spectra_core::Error::Cancelled {
                what: "scan".into(),
            });
        }
        to_js(&report)
    }))
}

/// `scan` on the calling thread, for scripts.
#[napi]
pub fn scan_sync(path: String, options: Option<Value>) -> Result<Value> {
    let scan_options = self::options(path, options.as_ref()).js()?;
    let report = Scanner::new(scan_options).and_then(|s| s.scan()).js()?;
    to_js(&report).js()
}

/// The entries of a walk as they are found. The walk runs at most a few thousand entries
/// ahead and then waits for the reader: backpressure for tree views that fill in as it goes.
#[napi]
#[derive(Debug)]
pub struct FileWalk {
    stream: Arc<Mutex<Option<FileStream>>>,
}

#[napi]
impl FileWalk {
    #[napi(constructor)]
    pub fn new(path: String, options: Option<Value>) -> Result<Self> {
        let scanner = self::options(path, options.as_ref())
            .and_then(Scanner::new)
            .js()?;
        Ok(FileWalk {
            stream: Arc::new(Mutex::new(Some(scanner.stream(DEFAULT_STREAM_CAPACITY)))),
        })
    }

    /// The next entries (at least one, at most `MAX_BATCH`), or `null` when the walk is done.
    #[napi(ts_return_type = "Promise<any[] | null>")]
    pub fn next(&self) -> AsyncTask<Work> {
        let stream = self.stream.clone();
        Work::new(move || {
            let mut slot = stream.lock().unwrap_or_else(PoisonError::into_inner);
            let mut batch = Vec::new();
            loop {
                let Some(walk) = slot.as_mut() else {
                    return Ok(Value::Null);
                };
                let wait = if batch.is_empty() {
                    DEFAULT_PROGRESS_INTERVAL
                } else {
                    Duration::ZERO
                };
                match walk.next_timeout(wait) {
                    Next::Entry(record) => {
                        batch.push(to_js(&record)?);
                        if batch.len() == MAX_BATCH {
                            return Ok(Value::Array(batch));
                        }
                    }
                    Next::Waiting if batch.is_empty() => {}
                    Next::Waiting => return Ok(Value::Array(batch)),
                    Next::Done => {
                        if let Some(walk) = slot.take() {
                            walk.finish()?;
                        }
                        return Ok(if batch.is_empty() {
                            Value::Null
                        } else {
                            Value::Array(batch)
                        });
                    }
                }
            }
        })
    }

    /// Stops the walk early.
    #[napi(ts_return_type = "Promise<any>")]
    pub fn close(&self) -> AsyncTask<Work> {
        let stream = self.stream.clone();
        Work::new(move || {
            let walk = stream.lock().unwrap_or_else(PoisonError::into_inner).take();
            if let Some(walk) = walk {
                // A cancelled walk reports what it saw; only an error of the walk matters.
                walk.finish()?;
            }
            Ok(Value::Null)
        })
    }
}
