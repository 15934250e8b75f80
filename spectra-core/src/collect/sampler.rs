//! [`Sampler`]: the collectors of one host, kept between samples, shareable between threads.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use super::{Capability, Collector, Metric, REGISTRY, make, registered};
use crate::error::{Error, Result};
use crate::{BACKEND_ENV, Backend};

/// Processes a `processes` sample lists by CPU and by memory unless told otherwise.
pub const DEFAULT_PROCESS_TOP: usize = 10;
/// Most processes a `processes` sample may list.
pub const MAX_PROCESS_TOP: usize = 10_000;

/// Options of one sample. Only `processes` has any today.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct SampleOptions {
    /// How many processes `processes` lists [default: [`DEFAULT_PROCESS_TOP`]].
    pub top: Option<usize>,
}

/// Every collector of the host, each created on first use and kept, so that rates (CPU
/// usage, disk and network throughput) are over the time since the previous sample of the
/// same collector — as an agent, a live chart and `psutil.cpu_percent()` expect.
///
/// `Send + Sync`: one `Sampler` serves every thread. Each collector has its own lock, so a
/// slow `applications` sample never holds up a `cpu` sample; two threads sampling the same
/// collector take turns (their rates would otherwise be over overlapping intervals).
///
/// ```no_run
/// let sampler = spectra_core::collect::Sampler::new();
/// let first = sampler.sample("cpu")?; // since boot
/// std::thread::sleep(std::time::Duration::from_secs(1));
/// let cpu = sampler.sample("cpu")?; // over the last second
/// # Ok::<(), spectra_core::Error>(())
/// ```
pub struct Sampler {
    #[cfg(spectra_native)]
    host: crate::sys::Host,
    /// The backend, or why [`BACKEND_ENV`] named none: every sample then fails with it.
    backend: std::result::Result<Backend, String>,
    collectors: Mutex<HashMap<(&'static str, SampleOptions), Slot>>,
}

type Slot = Arc<Mutex<Box<dyn Collector>>>;

impl std::fmt::Debug for Sampler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let collectors = self
            .collectors
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        f.debug_struct("Sampler")
            .field("backend", &self.backend)
            .field("collectors", &collectors.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl Default for Sampler {
    fn default() -> Self {
        Sampler::new()
    }
}

impl Sampler {
    /// A sampler of this machine through the backend [`Backend::resolve`] picks. When
    /// [`BACKEND_ENV`] names no backend this build has, every sample fails saying so.
    pub fn new() -> Self {
        Sampler::from_resolved(Backend::resolve(None))
    }

    /// A sampler of this machine through `backend`: an error when this build lacks it.
    pub fn with_backend(backend: Backend) -> Result<Self> {
        Backend::resolve(Some(backend)).map(|backend| Sampler::from_resolved(Ok(backend)))
    }

    fn from_resolved(backend: Result<Backend>) -> Self {
        Sampler {
            #[cfg(spectra_native)]
            host: crate::sys::Host::real(),
            backend: backend.map_err(|e| e.to_string()),
            collectors: Mutex::new(HashMap::new()),
        }
    }

    /// The backend every sample goes through.
    pub fn backend(&self) -> Result<Backend> {
        self.backend
            .clone()
            .map_err(|message| Error::invalid(BACKEND_ENV, message))
    }

    /// One sample of the collector `name` with the default options.
    pub fn sample(&self, name: &str) -> Result<Metric> {
        self.sample_with(name, SampleOptions::default())
    }

    /// One sample of the collector `name`.
    pub fn sample_with(&self, name: &str, options: SampleOptions) -> Result<Metric> {
        let slot = self.slot(name, options)?;
        let mut collector = slot.lock().unwrap_or_else(PoisonError::into_inner);
        collector.collect()
    }

    /// One sample of every collector, in the registry's order, each with its own outcome.
    pub fn sample_all(&self) -> Vec<(&'static str, Result<Metric>)> {
        REGISTRY
            .iter()
            .map(|(name, _)| (*name, self.sample(name)))
            .collect()
    }

    /// Every collector: its default interval and whether it works here (and why not), from
    /// one sample each — which also primes the rates of the next samples.
    pub fn capabilities(&self) -> Vec<Capability> {
        REGISTRY
            .iter()
            .map(|(name, interval)| {
                let outcome = self.sample(name);
                Capability {
                    name: (*name).to_owned(),
                    interval_secs: interval.as_secs(),
                    supported: outcome.is_ok(),
                    reason: outcome.err().map(|e| e.body()),
                    backend: self.backend.clone().ok(),
                }
            })
            .collect()
    }

    fn slot(&self, name: &str, options: SampleOptions) -> Result<Slot> {
        let name = registered(name)?;
        let backend = self.backend()?;
        let options = match (name, options.top) {
            ("processes", Some(top)) if top == 0 || top > MAX_PROCESS_TOP => {
                return Err(crate::Error::invalid(
                    "top",
                    format!("{top} is not between 1 and {MAX_PROCESS_TOP}"),
                ));
            }
            ("processes", Some(top)) if top != DEFAULT_PROCESS_TOP => options,
            // Options a collector ignores must not split its rate state in two.
            _ => SampleOptions::default(),
        };
        let mut collectors = self
            .collectors
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let slot = collectors.entry((name, options)).or_insert_with(|| {
            let collector: Box<dyn Collector> = make(
                name,
                backend,
                #[cfg(spectra_native)]
                &self.host,
                options.top.unwrap_or(super::DEFAULT_PROCESS_TOP),
            );
            Arc::new(Mutex::new(collector))
        });
        Ok(Arc::clone(slot))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    #[test]
    fn rates_are_kept_between_samples_per_collector() {
        let sampler = Sampler::new();
        let crate::collect::Metric::Cpu(first) = sampler.sample("cpu").expect("cpu") else {
            panic!("cpu returns cpu");
        };
        assert!(
            first.since_boot,
            "the first sample has nothing to compare with"
        );
        std::thread::sleep(Duration::from_millis(50));
        let crate::collect::Metric::Cpu(second) = sampler.sample("cpu").expect("cpu") else {
            panic!("cpu returns cpu");
        };
        assert!(
            !second.since_boot,
            "the second is over the time since the first"
        );
        let other = Sampler::new();
        let crate::collect::Metric::Cpu(fresh) = other.sample("cpu").expect("cpu") else {
            panic!("cpu returns cpu");
        };
        assert!(fresh.since_boot, "another sampler keeps its own state");
    }

    #[test]
    fn process_top_is_an_option_with_a_bound() {
        let sampler = Sampler::new();
        let listed = |top| match sampler.sample_with("processes", SampleOptions { top }) {
            Ok(crate::collect::Metric::Processes(stats)) => stats.top_by_cpu.len(),
            other => panic!("processes: {other:?}"),
        };
        assert!(listed(Some(2)) <= 2);
        assert!(listed(None) > 2, "the default lists {DEFAULT_PROCESS_TOP}");
        for bad in [0, MAX_PROCESS_TOP + 1] {
            let err = sampler
                .sample_with("processes", SampleOptions { top: Some(bad) })
                .expect_err("out of range");
            assert_eq!(err.code(), crate::ErrorCode::InvalidInput);
        }
        let err = sampler.sample("gpu").expect_err("unknown");
        assert!(err.to_string().contains("cpu, memory"), "{err}");
    }

    /// A collector that takes a lock for a long sample must not hold up another collector.
    #[test]
    fn a_slow_collector_does_not_block_another() {
        let sampler = Arc::new(Sampler::new());
        let slot = sampler
            .slot("applications", SampleOptions::default())
            .expect("slot");
        let held = slot.lock().expect("lock");
        let other = Arc::clone(&sampler);
        let started = Instant::now();
        let cpu = std::thread::spawn(move || other.sample("memory").map(|m| m.kind()))
            .join()
            .expect("thread");
        assert_eq!(cpu.expect("memory"), "memory");
        assert!(started.elapsed() < Duration::from_secs(5));
        drop(held);
    }
}
