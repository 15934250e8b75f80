//! The native half of the `spectra-node` npm package (napi-rs, N-API 8).
//!
//! No logic lives here: each function converts its arguments, calls `spectra-core` — off the
//! JavaScript thread, on libuv's pool ([`Work`]), for anything that touches the disk or the
//! network — converts the result to a plain object (`convert::to_js`) and maps errors once
//! (`errors.rs`). `index.js` adds the JavaScript surface (`SpectraError`, `AbortSignal`,
//! async iterators, `observe`).

// napi-rs registers exported functions only outside `cfg(test)`; clippy's `--all-targets`
// checks the library in that configuration too, where they look unused.
#![cfg_attr(test, allow(dead_code))]

mod convert;
mod errors;
mod policy;
mod scan;
mod telemetry;

use std::sync::OnceLock;

use napi::bindgen_prelude::*;
use napi_derive::napi;
use serde_json::Value;
use spectra_core::CancelToken;
use spectra_core::collect::{SampleOptions, Sampler};
use spectra_core::diagnose::{Diagnostic, DiagnosticLimits, Severity};

use convert::to_js;
use errors::IntoJs;

/// A core call to run on libuv's thread pool; its value resolves the Promise.
pub struct Work {
    job: Option<Box<dyn FnOnce() -> spectra_core::Result<Value> + Send>>,
}

impl std::fmt::Debug for Work {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Work")
            .field("done", &self.job.is_none())
            .finish()
    }
}

impl Work {
    fn new(job: impl FnOnce() -> spectra_core::Result<Value> + Send + 'static) -> AsyncTask<Work> {
        AsyncTask::new(Work {
            job: Some(Box::new(job)),
        })
    }
}

/// The value a [`Work`] resolves to: plain JSON data, `any` to TypeScript.
#[derive(Debug)]
pub struct Json(Value);

impl TypeName for Json {
    fn type_name() -> &'static str {
        "any"
    }

    fn value_type() -> ValueType {
        ValueType::Unknown
    }
}

impl ToNapiValue for Json {
    #[allow(unsafe_code)]
    unsafe fn to_napi_value(env: napi::sys::napi_env, json: Self) -> Result<napi::sys::napi_value> {
        // SAFETY: the same call, with the same environment, as for the value inside.
        unsafe { Value::to_napi_value(env, json.0) }
    }
}

impl Task for Work {
    type Output = Value;
    type JsValue = Json;

    fn compute(&mut self) -> napi::Result<Value> {
        let job = self
            .job
            .take()
            .ok_or_else(|| napi::Error::from_reason("a task ran twice"))?;
        // A panic must not unwind into libuv: it becomes a rejected Promise.
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(job)) {
            Ok(result) => result.js(),
            Err(_) => Err(napi::Error::from_reason(
                "internal error: spectra-core panicked",
            )),
        }
    }

    fn resolve(&mut self, _env: Env, output: Value) -> napi::Result<Json> {
        Ok(Json(output))
    }
}

/// Cancels a running call: `index.js` makes one per call that takes an `AbortSignal` and
/// calls `cancel()` when the signal aborts.
#[napi]
#[derive(Debug)]
pub struct CancelHandle {
    token: CancelToken,
}

#[napi]
impl CancelHandle {
    #[napi(constructor)]
    #[allow(clippy::new_without_default)]
    pub fn new() -> Self {
        CancelHandle {
            token: CancelToken::new(),
        }
    }

    #[napi]
    pub fn cancel(&self) {
        self.token.cancel();
    }
}

fn token_of(cancel: Option<&CancelHandle>) -> CancelToken {
    cancel.map(|c| c.token.clone()).unwrap_or_default()
}

/// The package's collectors, kept between calls so that a second `cpu()` reports usage since
/// the first instead of since boot. Each collector has its own lock in core.
fn sampler() -> &'static Sampler {
    static SAMPLER: OnceLock<Sampler> = OnceLock::new();
    SAMPLER.get_or_init(Sampler::new)
}

/// The version of spectra-core this addon was built from.
#[napi]
pub fn version() -> String {
    env!("CARGO_PKG_VERSION").to_owned()
}

/// Every error code: `{ code, coreCode, number }`.
#[napi]
pub fn error_codes() -> Value {
    errors::table()
}

/// One sample of collector `name` (`processes` lists its `top` busiest): the metric's data.
#[napi(ts_return_type = "Promise<any>")]
pub fn collect(name: String, top: Option<u32>) -> AsyncTask<Work> {
    Work::new(move || {
        let top = top.map(|n| n as usize);
        let metric = sampler().sample_with(&name, SampleOptions { top })?;
        let mut tagged = to_js(&metric)?;
        Ok(tagged["data"].take())
    })
}

/// Every collector: name, default interval, whether it works here and why not.
#[napi(ts_return_type = "Promise<any>")]
pub fn collectors() -> AsyncTask<Work> {
    Work::new(|| to_js(&sampler().capabilities()))
}

/// Core's metric schema: every field by its dotted name (`cpu.total.usage_percent`, as the
/// server's series and Prometheus name it), with its unit, counter or gauge, what full is and
/// help. Node's records spell each segment in camelCase (`total.usagePercent`).
#[napi]
pub fn metric_fields() -> Result<Value> {
    to_js(spectra_core::metrics::fields()).js()
}

/// The schema's entry for one field, by the schema's name or Node's camelCase spelling of it
/// (`cpu.total.usagePercent`); `null` when core has no such field.
#[napi]
pub fn metric_field(name: String) -> Result<Option<Value>> {
    // Segment by segment, each spelled as the schema has it or in camelCase (`load_1` is
    // `load1` in Node, which no rule turns back); a `*` of the schema matches any one segment.
    let wanted: Vec<&str> = name.split('.').collect();
    let field = spectra_core::metrics::fields().iter().find(|field| {
        let segments: Vec<&str> = field.name.split('.').collect();
        segments.len() == wanted.len()
            && segments.iter().zip(&wanted).all(|(schema, given)| {
                *schema == "*" || schema == given || convert::camel(schema) == *given
            })
    });
    field.map(to_js).transpose().js()
}

/// Runs a diagnostic (`{ kind, args }`, as the agent protocol has it; arguments left out take
/// core's defaults) under core's limits, the probe timeout `timeoutSeconds` when given.
#[napi(ts_return_type = "Promise<any>")]
pub fn diagnose(
    mut request: Value,
    timeout_seconds: Option<f64>,
    cancel: Option<&CancelHandle>,
) -> Result<AsyncTask<Work>> {
    // Severities are spelled as everywhere else (`err`, `warning`, `4`), not as serde has them.
    if let Some(severity) = request.pointer_mut("/args/severity")
        && let Some(text) = severity.as_str()
    {
        let parsed: Severity = text.parse().js()?;
        *severity = to_js(&parsed).js()?;
    }
    let diagnostic: Diagnostic = serde_json::from_value(request)
        .map_err(|e| spectra_core::Error::InvalidInput {
            what: "diagnostic".into(),
            message: e.to_string(),
        })
        .js()?;
    let limits = DiagnosticLimits::with_probe_seconds(timeout_seconds).js()?;
    let token = token_of(cancel);
    Ok(Work::new(move || {
        let outcome = diagnostic.run(&limits, &token)?;
        to_js(&outcome.output)
    }))
}
