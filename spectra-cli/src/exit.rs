//! The exit statuses of `spectra`, all decided here (the README lists them).
//!
//! 0: everything worked. 1: the command ran but the answer is "no" or "not all" (a partial
//! scan, a negative diagnostic, an unavailable collector, a file the policy does not select,
//! files an enforcement skipped). 2: a usage error (clap's own too) or invalid input. 3 and
//! up: the command failed, by the core error code behind the failure.

use spectra_core::ErrorCode;

/// The command ran; the answer is negative or partial.
pub const NEGATIVE: u8 = 1;
/// Usage errors, invalid arguments and input, and failures that are not core errors.
pub const USAGE: u8 = 2;

/// The status for a failure: by the first core error in its chain, else [`USAGE`].
pub fn for_error(error: &anyhow::Error) -> u8 {
    let code = error
        .chain()
        .find_map(|cause| cause.downcast_ref::<spectra_core::Error>())
        .map(spectra_core::Error::code);
    match code {
        None => USAGE,
        Some(code) => for_code(code),
    }
}

fn for_code(code: ErrorCode) -> u8 {
    match code {
        ErrorCode::InvalidInput
        | ErrorCode::InvalidPattern
        | ErrorCode::InvalidData
        | ErrorCode::InvalidRule => USAGE,
        ErrorCode::NotFound => 3,
        ErrorCode::PermissionDenied => 4,
        ErrorCode::Unsupported => 5,
        ErrorCode::TooLarge => 6,
        ErrorCode::Timeout => 7,
        ErrorCode::Cancelled => 8,
        ErrorCode::Io => 9,
        ErrorCode::Callback => 10,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_failure_status_is_distinct_from_success_and_negative() {
        let mut statuses: Vec<u8> = ErrorCode::ALL
            .into_iter()
            .map(for_code)
            .filter(|s| *s != USAGE)
            .collect();
        let count = statuses.len();
        statuses.sort_unstable();
        statuses.dedup();
        assert_eq!(statuses.len(), count, "one status per failing code");
        assert!(statuses.iter().all(|s| *s > USAGE));
    }

    #[test]
    fn the_first_core_error_in_the_chain_decides() {
        let missing = spectra_core::scan::scan("/no/such/place").expect_err("missing");
        let wrapped = anyhow::Error::new(missing).context("scanning");
        assert_eq!(for_error(&wrapped), 3);
        assert_eq!(for_error(&anyhow::anyhow!("no core error")), USAGE);
    }
}
