//! Policies: `parsePolicy`, `plan`, `enforce`, `restore` — the same workflow as the CLI and
//! Python, through core's `StateDir` (plans saved, enforcement admitted, audited and undoable
//! exactly as there).

use std::path::PathBuf;
use std::sync::Arc;

use napi::bindgen_prelude::*;
use napi::threadsafe_function::{ThreadsafeFunction, ThreadsafeFunctionCallMode};
use napi_derive::napi;
use serde_json::{Value, json};
use spectra_core::policy::{ActionHooks, Policy, StateDir};
use spectra_core::scan::{ScanControl, ScanOptions};

use crate::convert::{field, to_js};
use crate::errors::IntoJs;
use crate::{CancelHandle, Work, token_of};

/// `{ action, handled, total, currentPath }` after each file an enforcement or restore handles.
type ActionProgressFn = ThreadsafeFunction<Value, (), Value, Status, false>;

/// A policy from TOML, checked (every rule compiles), as `{ policy, source }`: the plain
/// object to show, and core's JSON of it, which `plan` takes back.
#[napi]
pub fn parse_policy(text: String) -> Result<Value> {
    let policy = Policy::from_toml(&text).js()?;
    policy.compile().js()?;
    let source = serde_json::to_string(&policy)
        .map_err(|e| spectra_core::Error::InvalidData {
            what: "policy".into(),
            message: e.to_string(),
        })
        .js()?;
    Ok(json!({ "policy": to_js(&policy).js()?, "source": source }))
}

/// A dry run of `policySource` (core JSON, from `parsePolicy`) over `path`, saved under the
/// state directory: the plan, with its id for `enforce`.
#[napi(ts_return_type = "Promise<any>")]
pub fn plan(
    policy_source: String,
    path: String,
    options: Option<Value>,
    cancel: Option<&CancelHandle>,
) -> Result<AsyncTask<Work>> {
    let policy = Policy::from_json(&policy_source).js()?;
    let mut scan = ScanOptions::for_policy([PathBuf::from(path)]);
    let options = options.as_ref();
    if let Some(on) = field::<bool>(options, "oneFileSystem").js()? {
        scan = scan.with_one_file_system(on);
    }
    for pattern in field::<Vec<String>>(options, "exclude")
        .js()?
        .unwrap_or_default()
    {
        scan = scan.with_exclude(pattern);
    }
    let state = StateDir::resolve(field::<PathBuf>(options, "stateDir").js()?);
    let token = token_of(cancel);
    Ok(Work::new(move || {
        let saved = state.plan(&policy, scan, ScanControl::new().cancel_with(token))?;
        to_js(&saved.plan)
    }))
}

fn hooks(cancel: Option<&CancelHandle>, on_progress: Option<ActionProgressFn>) -> ActionHooks {
    ActionHooks {
        cancel: token_of(cancel),
        progress: on_progress.map(|callback| {
            let callback = Arc::new(callback);
            let hook: spectra_core::policy::ProgressHook = Arc::new(move |done| {
                let progress = json!({
                    "action": done.action,
                    "handled": done.handled,
                    "total": done.total,
                    "currentPath": done.current.to_string_lossy(),
                });
                callback.call(progress, ThreadsafeFunctionCallMode::NonBlocking);
            });
            hook
        }),
    }
}

/// Carries out a saved plan (its files re-checked, quarantined, audited); `{ stateDir,
/// overrideLimits }`.
#[napi(ts_return_type = "Promise<any>")]
pub fn enforce(
    plan_id: String,
    options: Option<Value>,
    on_progress: Option<ActionProgressFn>,
    cancel: Option<&CancelHandle>,
) -> Result<AsyncTask<Work>> {
    let options = options.as_ref();
    let state = StateDir::resolve(field::<PathBuf>(options, "stateDir").js()?);
    let override_limits = field::<bool>(options, "overrideLimits")
        .js()?
        .unwrap_or_default();
    let hooks = hooks(cancel, on_progress);
    Ok(Work::new(move || {
        let (_, outcome) = state.enforce(&plan_id, override_limits, hooks)?;
        to_js(&outcome)
    }))
}

/// Puts back what enforcing `planId` quarantined; the paths restored.
#[napi(ts_return_type = "Promise<string[]>")]
pub fn restore(
    plan_id: String,
    options: Option<Value>,
    on_progress: Option<ActionProgressFn>,
    cancel: Option<&CancelHandle>,
) -> Result<AsyncTask<Work>> {
    let state = StateDir::resolve(field::<PathBuf>(options.as_ref(), "stateDir").js()?);
    let hooks = hooks(cancel, on_progress);
    Ok(Work::new(move || {
        let restored = state.restore(&plan_id, hooks)?;
        to_js(&restored)
    }))
}
