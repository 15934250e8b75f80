use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

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
    /// An operation ran out of the time it was allowed; what it had done is kept or undone as
    /// its documentation says.
    #[error("{what} did not finish within {}", crate::format::duration(*after))]
    Timeout { what: String, after: Duration },
    /// The caller cancelled the operation (through a [`crate::CancelToken`]).
    #[error("{what} was cancelled")]
    Cancelled { what: String },
    /// A callback the caller supplied (a progress hook, a sink) failed; `message` is its own.
    #[error("{what} failed: {message}")]
    Callback { what: String, message: String },
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

    pub(crate) fn timeout(what: impl Into<String>, after: Duration) -> Self {
        Error::Timeout {
            what: what.into(),
            after,
        }
    }

    pub(crate) fn cancelled(what: impl Into<String>) -> Self {
        Error::Cancelled { what: what.into() }
    }

    /// A failure of the caller's own callback (for frontends: a Python progress function that
    /// raised, a JavaScript sink that threw), so it keeps its own code.
    pub fn callback(what: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Callback {
            what: what.into(),
            message: message.into(),
        }
    }

    /// The serialisable form every frontend shows (a JSON error body, a command's failure).
    pub fn body(&self) -> ErrorBody {
        let (path, line, column) = match self {
            Error::Io { path, .. } => (Some(path.display().to_string()), None, None),
            Error::InvalidRule { index, error, .. } => {
                (None, Some(*index as u64), Some(error.column as u64))
            }
            _ => (None, None, None),
        };
        ErrorBody {
            code: self.code().as_str().to_owned(),
            number: Some(self.code().as_u32()),
            message: self.to_string(),
            path,
            line,
            column,
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
            Error::Timeout { .. } => ErrorCode::Timeout,
            Error::Cancelled { .. } => ErrorCode::Cancelled,
            Error::Callback { .. } => ErrorCode::Callback,
        }
    }
}

/// An error as data: what the server's JSON errors, a failed command's result, an unsupported
/// collector's reason and every binding carry, so a client matches one shape everywhere.
///
/// `code` is [`ErrorCode::as_str`] (or, for a frontend's own errors such as the server's
/// `unauthorized`, that frontend's documented code) and `number` the core code's number.
/// `line` and `column` point into the input (for a policy rule: the rule's 1-based number and
/// the column of the problem); `path` is the file an I/O error is about.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ErrorBody {
    pub code: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub number: Option<u32>,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub column: Option<u64>,
}

impl ErrorBody {
    /// A body for a frontend's own error, which has no core code.
    pub fn new(code: impl Into<String>, message: impl Into<String>) -> Self {
        ErrorBody {
            code: code.into(),
            number: None,
            message: message.into(),
            path: None,
            line: None,
            column: None,
        }
    }
}

impl From<&Error> for ErrorBody {
    fn from(error: &Error) -> Self {
        error.body()
    }
}

impl std::fmt::Display for ErrorBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
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
    /// An operation ran out of its time.
    Timeout = 10,
    /// The caller cancelled the operation.
    Cancelled = 11,
    /// A callback supplied by the caller failed.
    Callback = 12,
}

impl ErrorCode {
    /// Every code, in numeric order.
    pub const ALL: [ErrorCode; 12] = [
        ErrorCode::Io,
        ErrorCode::NotFound,
        ErrorCode::PermissionDenied,
        ErrorCode::InvalidInput,
        ErrorCode::InvalidPattern,
        ErrorCode::InvalidData,
        ErrorCode::TooLarge,
        ErrorCode::Unsupported,
        ErrorCode::InvalidRule,
        ErrorCode::Timeout,
        ErrorCode::Cancelled,
        ErrorCode::Callback,
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
            ErrorCode::Timeout => "timeout",
            ErrorCode::Cancelled => "cancelled",
            ErrorCode::Callback => "callback",
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
    fn codes_keep_their_published_numbers() {
        // The C ABI, the server and the bindings publish these pairs; never change one.
        let published = [
            (1, "io"),
            (2, "not_found"),
            (3, "permission_denied"),
            (4, "invalid_input"),
            (5, "invalid_pattern"),
            (6, "invalid_data"),
            (7, "too_large"),
            (8, "unsupported"),
            (9, "invalid_rule"),
            (10, "timeout"),
            (11, "cancelled"),
            (12, "callback"),
        ];
        let actual: Vec<(u32, &str)> = ErrorCode::ALL
            .iter()
            .map(|c| (c.as_u32(), c.as_str()))
            .collect();
        assert_eq!(actual, published);
    }

    #[test]
    fn bodies_carry_code_number_and_position() {
        let io = Error::io("/srv/x", io::Error::from(io::ErrorKind::NotFound)).body();
        assert_eq!(
            (io.code.as_str(), io.number, io.path.as_deref()),
            ("not_found", Some(2), Some("/srv/x"))
        );
        let policy = crate::policy::Policy::from_json(
            r#"{"name": "p", "rules": ["size > 1", "size >"], "action": "report"}"#,
        )
        .expect("policy");
        let rule = policy.compile().expect_err("bad rule");
        let body = rule.body();
        assert_eq!((body.code.as_str(), body.line), ("invalid_rule", Some(2)));
        assert!(body.column.is_some_and(|c| c > 1), "{body:?}");
        let timeout = Error::timeout("ping 10.0.0.1", Duration::from_millis(1500));
        assert_eq!(
            timeout.to_string(),
            "ping 10.0.0.1 did not finish within 1.5 s"
        );
        let json = serde_json::to_value(timeout.body()).expect("json");
        assert_eq!(json["code"], "timeout");
        assert_eq!(json["number"], 10);
        assert!(
            json.get("path").is_none(),
            "absent fields are left out: {json}"
        );
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
