//! `spectra_recorder`: access telemetry for agents that report which files they touch.

use std::ffi::c_char;
use std::path::Path;

use spectra_core::protocol::{AccessEvent, AccessOp};
use spectra_core::telemetry::{JsonLinesSink, Recorder, RecorderOptions, Sink, agent_sink};

use crate::errors::{guard, spectra_result};
use crate::strings::{out_arg, string_arg, write_json};

/// Batches events on a thread of its own and hands them to a sink: a JSON-lines file or the
/// local agent's socket.
#[derive(Debug)]
pub struct spectra_recorder {
    inner: Recorder,
}

/// A recorder appending to `path`, with core's default batching and queue.
///
/// # Safety
/// `path` must be a NUL-terminated string; `out` valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn spectra_recorder_new(
    path: *const c_char,
    out: *mut *mut spectra_recorder,
) -> spectra_result {
    guard(|| {
        // SAFETY: the caller's promise.
        let path = unsafe { string_arg(path, "path") }?;
        let out = out_arg(out, "out")?;
        let sink = JsonLinesSink::create(Path::new(path))?;
        // SAFETY: non-NULL and valid by the caller's promise.
        Ok(unsafe { new_recorder(Box::new(sink), out) }?)
    })
}

/// A recorder handing events to the local `spectra agent` over its Unix socket (the agent
/// batches, spools and forwards them to the server): `socket`, or when NULL core's default
/// (`telemetry.sock` in `$SPECTRA_AGENT_STATE_DIR`, else `~/.local/state/spectra-agent`).
/// `SPECTRA_RESULT_NOT_FOUND` when nothing listens there; `SPECTRA_RESULT_UNSUPPORTED` where
/// there are no Unix sockets.
///
/// # Safety
/// `socket` must be NULL or a NUL-terminated string; `out` valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn spectra_recorder_new_agent(
    socket: *const c_char,
    out: *mut *mut spectra_recorder,
) -> spectra_result {
    guard(|| {
        let socket = if socket.is_null() {
            None
        } else {
            // SAFETY: non-NULL, NUL-terminated by the caller's promise.
            Some(Path::new(unsafe { string_arg(socket, "socket") }?))
        };
        let out = out_arg(out, "out")?;
        let sink = agent_sink(socket)?;
        // SAFETY: non-NULL and valid by the caller's promise.
        Ok(unsafe { new_recorder(sink, out) }?)
    })
}

/// # Safety
/// `out` must be non-NULL and valid for a write.
unsafe fn new_recorder(
    sink: Box<dyn Sink>,
    out: *mut *mut spectra_recorder,
) -> spectra_core::Result<()> {
    let inner = Recorder::new(sink, RecorderOptions::default())?;
    // SAFETY: the caller's promise.
    unsafe { *out = Box::into_raw(Box::new(spectra_recorder { inner })) };
    Ok(())
}

/// Queues an event (`op`: open, read, write, create, delete, rename, stat, list). Never
/// blocks: when the queue is full the event is dropped, counted, and `*accepted` is false.
/// Safe to call from several threads on one recorder.
///
/// # Safety
/// `recorder` must be a live recorder; `op` and `path` NUL-terminated strings; `accepted`
/// NULL or valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn spectra_recorder_record(
    recorder: *const spectra_recorder,
    op: *const c_char,
    path: *const c_char,
    bytes: u64,
    accepted: *mut bool,
) -> spectra_result {
    // SAFETY: the caller's promises, and NULL user and backend.
    unsafe {
        spectra_recorder_record_as(
            recorder,
            op,
            path,
            bytes,
            std::ptr::null(),
            std::ptr::null(),
            accepted,
        )
    }
}

/// Like `spectra_recorder_record`, saying who (`user`, a name) and where (`backend`; when
/// NULL, the agent's indexed root that holds `path`). Either may be NULL.
///
/// # Safety
/// As `spectra_recorder_record`; `user` and `backend` NULL or NUL-terminated strings.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn spectra_recorder_record_as(
    recorder: *const spectra_recorder,
    op: *const c_char,
    path: *const c_char,
    bytes: u64,
    user: *const c_char,
    backend: *const c_char,
    accepted: *mut bool,
) -> spectra_result {
    guard(|| {
        let recorder = out_arg(recorder.cast_mut(), "recorder")?;
        // SAFETY: the caller's promises.
        let (op, path) = unsafe { (string_arg(op, "op")?, string_arg(path, "path")?) };
        let mut event = AccessEvent::new(op.parse::<AccessOp>()?, path).with_bytes(bytes);
        if !user.is_null() {
            // SAFETY: non-NULL, NUL-terminated by the caller's promise.
            event = event.with_user(unsafe { string_arg(user, "user") }?);
        }
        if !backend.is_null() {
            // SAFETY: as for `user`.
            event = event.with_backend(unsafe { string_arg(backend, "backend") }?);
        }
        // SAFETY: non-NULL and live; `Recorder::record` takes `&self`.
        let taken = unsafe { &*recorder }.inner.record(event);
        if !accepted.is_null() {
            // SAFETY: non-NULL and valid by the caller's promise.
            unsafe { *accepted = taken };
        }
        Ok(())
    })
}

/// Waits until everything recorded so far is written.
///
/// # Safety
/// `recorder` must be a live recorder.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn spectra_recorder_flush(
    recorder: *const spectra_recorder,
) -> spectra_result {
    guard(|| {
        let recorder = out_arg(recorder.cast_mut(), "recorder")?;
        // SAFETY: non-NULL and live.
        Ok(unsafe { &*recorder }.inner.flush()?)
    })
}

/// The recorder's counts (recorded, written, dropped, failed, sampled out) as JSON.
///
/// # Safety
/// `recorder` must be a live recorder; `out` valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn spectra_recorder_stats_json(
    recorder: *const spectra_recorder,
    out: *mut *mut c_char,
) -> spectra_result {
    guard(|| {
        let recorder = out_arg(recorder.cast_mut(), "recorder")?;
        // SAFETY: non-NULL and live.
        write_json(&unsafe { &*recorder }.inner.stats(), out)
    })
}

/// Flushes and releases a recorder. NULL is ignored.
///
/// # Safety
/// `recorder` must be NULL or a recorder not yet freed, used by no other thread.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn spectra_recorder_free(recorder: *mut spectra_recorder) {
    if !recorder.is_null() {
        // SAFETY: made by `Box::into_raw` in `spectra_recorder_new`, by the caller's promise.
        let recorder = unsafe { Box::from_raw(recorder) };
        // What cannot be written now is counted in the stats, which die with the recorder.
        let _ = recorder.inner.close();
    }
}
