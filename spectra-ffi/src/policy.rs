//! Policies: parse, plan, enforce, restore — the same workflow as the CLI, through core's
//! `StateDir` (plans saved, enforcement admitted, audited and undoable exactly as there).

use std::ffi::c_char;
use std::path::PathBuf;

use spectra_core::policy::{ActionHooks, Plan, Policy, StateDir};
use spectra_core::scan::{ScanControl, ScanOptions};

use crate::errors::{Failure, guard, spectra_result};
use crate::strings::{optional_string_arg, out_arg, string_arg, write_json, write_string};

/// A checked policy (every rule compiles).
#[derive(Debug)]
pub struct spectra_policy {
    policy: Policy,
}

/// A saved dry run of a policy.
#[derive(Debug)]
pub struct spectra_plan {
    plan: Plan,
}

/// Parses a policy from TOML. A bad rule answers `SPECTRA_RESULT_INVALID_RULE`, with the rule,
/// line and column in `spectra_last_error_json` and a caret in `spectra_last_error_detail`.
///
/// # Safety
/// `toml` must be a NUL-terminated string; `out` valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn spectra_policy_parse(
    toml: *const c_char,
    out: *mut *mut spectra_policy,
) -> spectra_result {
    guard(|| {
        // SAFETY: the caller's promise.
        let toml = unsafe { string_arg(toml, "toml") }?;
        let out = out_arg(out, "out")?;
        let policy = Policy::from_toml(toml)?;
        policy.compile()?;
        // SAFETY: non-NULL and valid by the caller's promise.
        unsafe { *out = Box::into_raw(Box::new(spectra_policy { policy })) };
        Ok(())
    })
}

/// Releases a policy. NULL is ignored.
///
/// # Safety
/// `policy` must be NULL or a policy not yet freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn spectra_policy_free(policy: *mut spectra_policy) {
    if !policy.is_null() {
        // SAFETY: made by `Box::into_raw` in `spectra_policy_parse`, by the caller's promise.
        drop(unsafe { Box::from_raw(policy) });
    }
}

fn state(state_dir: Option<&str>) -> StateDir {
    StateDir::resolve(state_dir.map(PathBuf::from))
}

/// A dry run of `policy` over `path` with core's policy scan defaults, saved under
/// `state_dir` (NULL: `$SPECTRA_STATE_DIR` or `~/.local/state/spectra`). Changes nothing.
///
/// # Safety
/// `policy` must be a live policy; `path` a NUL-terminated string; `state_dir` NULL or one;
/// `out` valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn spectra_policy_plan(
    policy: *const spectra_policy,
    path: *const c_char,
    state_dir: *const c_char,
    out: *mut *mut spectra_plan,
) -> spectra_result {
    guard(|| {
        let policy = out_arg(policy.cast_mut(), "policy")?;
        // SAFETY: the caller's promises.
        let (path, state_dir) = unsafe {
            (
                string_arg(path, "path")?,
                optional_string_arg(state_dir, "state_dir")?,
            )
        };
        let out = out_arg(out, "out")?;
        // SAFETY: non-NULL and live; only read.
        let policy = &unsafe { &*policy }.policy;
        let options = ScanOptions::for_policy([PathBuf::from(path)]);
        let saved = state(state_dir).plan(policy, options, ScanControl::new())?;
        // SAFETY: non-NULL and valid by the caller's promise.
        unsafe { *out = Box::into_raw(Box::new(spectra_plan { plan: saved.plan })) };
        Ok(())
    })
}

fn plan<'a>(plan: *const spectra_plan) -> Result<&'a Plan, Failure> {
    let plan = out_arg(plan.cast_mut(), "plan")?;
    // SAFETY: non-NULL and live by the caller's promise; only read.
    Ok(&unsafe { &*plan }.plan)
}

/// The plan's id (what `spectra_enforce` takes); free it with `spectra_string_free`.
///
/// # Safety
/// `plan` must be a live plan; `out` valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn spectra_plan_id(
    plan: *const spectra_plan,
    out: *mut *mut c_char,
) -> spectra_result {
    guard(|| {
        let id = self::plan(plan)?.id.clone();
        let out = out_arg(out, "out")?;
        // SAFETY: non-NULL and valid by the caller's promise.
        unsafe { write_string(id, out) };
        Ok(())
    })
}

/// How many files the plan selected, and their bytes.
///
/// # Safety
/// `plan` must be a live plan; `files` and `bytes` valid for writes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn spectra_plan_summary(
    plan: *const spectra_plan,
    files: *mut usize,
    bytes: *mut u64,
) -> spectra_result {
    guard(|| {
        let plan = self::plan(plan)?;
        let (files, bytes) = (out_arg(files, "files")?, out_arg(bytes, "bytes")?);
        // SAFETY: non-NULL and valid by the caller's promise.
        unsafe {
            *files = plan.files.len();
            *bytes = plan.total_bytes;
        }
        Ok(())
    })
}

/// The whole plan as JSON; free it with `spectra_string_free`.
///
/// # Safety
/// `plan` must be a live plan; `out` valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn spectra_plan_json(
    plan: *const spectra_plan,
    out: *mut *mut c_char,
) -> spectra_result {
    guard(|| write_json(self::plan(plan)?, out))
}

/// Releases a plan (the saved plan stays on disk). NULL is ignored.
///
/// # Safety
/// `plan` must be NULL or a plan not yet freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn spectra_plan_free(plan: *mut spectra_plan) {
    if !plan.is_null() {
        // SAFETY: made by `Box::into_raw` in `spectra_policy_plan`, by the caller's promise.
        drop(unsafe { Box::from_raw(plan) });
    }
}

/// A saved plan's id and the state directory it is saved under.
///
/// # Safety
/// `plan_id` must be NULL or a NUL-terminated string; `state_dir` NULL or one.
unsafe fn saved_plan<'a>(
    plan_id: *const c_char,
    state_dir: *const c_char,
) -> Result<(&'a str, StateDir), Failure> {
    // SAFETY: passed on from the caller.
    unsafe {
        Ok((
            string_arg(plan_id, "plan_id")?,
            state(optional_string_arg(state_dir, "state_dir")?),
        ))
    }
}

/// Carries out the saved plan `plan_id` under the safety rules (each file re-checked,
/// quarantined, audited); the outcome as JSON.
///
/// # Safety
/// `plan_id` must be a NUL-terminated string; `state_dir` NULL or one; `out` valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn spectra_enforce(
    plan_id: *const c_char,
    state_dir: *const c_char,
    override_limits: bool,
    out: *mut *mut c_char,
) -> spectra_result {
    guard(|| {
        // SAFETY: the caller's promises.
        let (plan_id, state) = unsafe { saved_plan(plan_id, state_dir) }?;
        out_arg(out, "out")?;
        let (_, outcome) = state.enforce(plan_id, override_limits, ActionHooks::default())?;
        write_json(&outcome, out)
    })
}

/// Puts back what enforcing `plan_id` quarantined; the restored paths as a JSON array.
///
/// # Safety
/// As `spectra_enforce`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn spectra_restore(
    plan_id: *const c_char,
    state_dir: *const c_char,
    out: *mut *mut c_char,
) -> spectra_result {
    guard(|| {
        // SAFETY: the caller's promises.
        let (plan_id, state) = unsafe { saved_plan(plan_id, state_dir) }?;
        out_arg(out, "out")?;
        let restored = state.restore(plan_id, ActionHooks::default())?;
        write_json(&restored, out)
    })
}
