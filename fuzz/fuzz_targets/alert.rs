//! The alert condition parser: any text either parses into a condition whose schema checks
//! held, or is an error with a column inside the text; nothing panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use spectra_core::alert::Condition;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match Condition::parse(text) {
        Ok(condition) => {
            // A condition compares with a number it read; NaN would never hold nor fail.
            assert!(!condition.value.is_nan(), "{text}");
            let _ = condition.holds(1.0);
            let _ = condition.selector.to_string();
        }
        Err(error) => {
            assert!(error.column >= 1);
            assert!(error.column <= text.chars().count() + 1, "{error}");
        }
    }
});
