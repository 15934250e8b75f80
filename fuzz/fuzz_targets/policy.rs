//! Policy documents in JSON and TOML: load and compile, or a clear error.
#![no_main]

use libfuzzer_sys::fuzz_target;
use spectra_core::policy::Policy;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    for parsed in [Policy::from_json(text), Policy::from_toml(text)] {
        if let Ok(policy) = parsed {
            let _ = policy.compile();
        }
    }
});
