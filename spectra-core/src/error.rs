use std::io;
use std::path::{Path, PathBuf};

/// The one error type of `spectra-core`.
///
/// Every frontend (CLI, server, Python, Node, C) maps it in exactly one place by matching
/// [`Error::code`] or the variants exhaustively, so a new variant fails to compile until every
/// frontend has decided how to present it. That is why this enum is deliberately *not*
/// `#[non_exhaustive]`.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An operating-system call on `path` failed.
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// An option or argument was out of range or malformed; `what` names it.
    #[error("invalid {what}: {message}")]
    InvalidInput { what: String, message: String },
    /// A glob pattern (for example an exclude) did not parse.
    #[error("invalid pattern {pattern:?}: {message}")]
    InvalidPattern { pattern: String, message: String },
    /// Bytes received from elsewhere (a request body, a file) did not decode; `what` names the
    /// document and `message` says where it went wrong (line and column for JSON).
    #[error("invalid {what}: {message}")]
    InvalidData { what: String, message: String },
    /// Input exceeded a hard limit; nothing of it was kept.
    #[error("{what} is larger than the limit of {limit} {unit}")]
    TooLarge {
        what: String,
        limit: u64,
        unit: &'static str,
    },
    /// A policy rule did not parse or type-check; `index` is 1-based, `error` points at the
    /// column with a caret.
    #[error("policy '{policy}', rule {index}: {error}")]
    InvalidRule {
        policy: String,
        index: usize,
        error: crate::policy::RuleError,
    },
    /// This host lacks what the operation needs (no systemd, no wireless card, not a Pi).
    #[error("{what} is not supported here: {reason}")]
    Unsupported { what: String, reason: String },
}

/// A `Result` whose error is [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub(crate) fn io(path: impl AsRef<Path>, source: io::Error) -> Self {
        Error::Io {
            path: path.as_ref().to_path_buf(),
            source,
        }
    }

    pub(crate) fn unsupported(what: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::Unsupported {
            what: what.into(),
            reason: reason.into(),
        }
    }

    pub(crate) fn invalid(what: impl Into<String>, message: impl Into<String>) -> Self {
        Error::InvalidInput {
            what: what.into(),
            message: message.into(),
        }
    }

    /// The stable code of this error, the same in every frontend.
    pub fn code(&self) -> ErrorCode {
        match self {
            Error::Io { source, .. } => ErrorCode::from_io_kind(source.kind()),
            Error::InvalidInput { .. } => ErrorCode::InvalidInput,
            Error::InvalidPattern { .. } => ErrorCode::InvalidPattern,
            Error::InvalidData { .. } => ErrorCode::InvalidData,
            Error::TooLarge { .. } => ErrorCode::TooLarge,
            Error::Unsupported { .. } => ErrorCode::Unsupported,
            Error::InvalidRule { .. } => ErrorCode::InvalidRule,
        }
    }
}

/// A stable, numbered classification of errors.
///
/// The numbers are part of the public contract (the C ABI returns them, the server puts
/// [`ErrorCode::as_str`] in JSON bodies): a number is never reused or renumbered, new codes
/// take the next free number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
#[repr(u32)]
pub enum ErrorCode {
    /// An I/O failure that none of the more specific codes describes.
    Io = 1,
    /// A file or directory does not exist (or vanished).
    NotFound = 2,
    /// The operating system refused access.
    PermissionDenied = 3,
    /// An option or argument was out of range or malformed.
    InvalidInput = 4,
    /// A glob or rule pattern did not parse.
    InvalidPattern = 5,
    /// Received bytes did not decode (malformed JSON, gzip, or a wrong shape).
    InvalidData = 6,
    /// Input exceeded a size, length or nesting limit.
    TooLarge = 7,
    /// The platform or hardware lacks what was asked for.
    Unsupported = 8,
    /// A policy rule did not parse or type-check.
    InvalidRule = 9,
}

impl ErrorCode {
    /// Every code, in numeric order.
    pub const ALL: [ErrorCode; 9] = [
        ErrorCode::Io,
        ErrorCode::NotFound,
        ErrorCode::PermissionDenied,
        ErrorCode::InvalidInput,
        ErrorCode::InvalidPattern,
        ErrorCode::InvalidData,
        ErrorCode::TooLarge,
        ErrorCode::Unsupported,
        ErrorCode::InvalidRule,
    ];

    /// The number of this code (stable across releases).
    pub fn as_u32(self) -> u32 {
        self as u32
    }

    /// The name of this code (stable across releases), as used in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::Io => "io",
            ErrorCode::NotFound => "not_found",
            ErrorCode::PermissionDenied => "permission_denied",
            ErrorCode::InvalidInput => "invalid_input",
            ErrorCode::InvalidPattern => "invalid_pattern",
            ErrorCode::InvalidData => "invalid_data",
            ErrorCode::TooLarge => "too_large",
            ErrorCode::Unsupported => "unsupported",
            ErrorCode::InvalidRule => "invalid_rule",
        }
    }

    /// The code that describes an I/O error of this kind.
    pub fn from_io_kind(kind: io::ErrorKind) -> Self {
        match kind {
            io::ErrorKind::NotFound => ErrorCode::NotFound,
            io::ErrorKind::PermissionDenied => ErrorCode::PermissionDenied,
            _ => ErrorCode::Io,
        }
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_numbered_densely_and_named_uniquely() {
        let numbers: Vec<u32> = ErrorCode::ALL.iter().map(|c| c.as_u32()).collect();
        assert_eq!(
            numbers,
            (1..=ErrorCode::ALL.len() as u32).collect::<Vec<_>>()
        );
        let mut names: Vec<&str> = ErrorCode::ALL.iter().map(|c| c.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), ErrorCode::ALL.len());
        for code in ErrorCode::ALL {
            let json = serde_json::to_string(&code).expect("serialize");
            assert_eq!(json, format!("\"{}\"", code.as_str()));
        }
    }

    #[test]
    fn io_errors_keep_their_path_and_kind() {
        let err = Error::io("/no/such", io::Error::from(io::ErrorKind::NotFound));
        assert_eq!(err.code(), ErrorCode::NotFound);
        assert!(err.to_string().starts_with("/no/such: "), "{err}");
        let denied = Error::io("/root", io::Error::from(io::ErrorKind::PermissionDenied));
        assert_eq!(denied.code(), ErrorCode::PermissionDenied);
    }
}
