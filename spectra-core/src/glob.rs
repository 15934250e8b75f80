//! Glob patterns from untrusted input (policy rules, excludes), checked before globset sees
//! them.
//!
//! globset compiles a glob into a regular expression by recursion over its alternations, and
//! a pattern such as `{a,{a,{a,…}}}` a few hundred levels deep panics inside it. Patterns are
//! therefore refused above a length and a brace depth that no real pattern comes near, and
//! the build itself runs under `catch_unwind` so that a panic left in the library still
//! becomes an error instead of killing a request.

use globset::{Glob, GlobBuilder};

/// Longest glob accepted, in bytes.
pub const MAX_GLOB_LEN: usize = 1024;
/// Deepest nesting of `{…}` alternations accepted.
pub const MAX_GLOB_BRACE_DEPTH: usize = 8;

/// Where a glob went wrong: a byte offset into the pattern and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct GlobError {
    /// The byte where the limit was crossed; `None` for what globset itself refused.
    pub offset: Option<usize>,
    pub message: String,
}

/// Builds `pattern` with the options every caller uses (`literal_separator`, so `*` stays
/// within one directory), after checking its length and nesting.
pub(crate) fn build(pattern: &str, backslash_escape: bool) -> Result<Glob, GlobError> {
    if pattern.len() > MAX_GLOB_LEN {
        return Err(GlobError {
            offset: Some(MAX_GLOB_LEN),
            message: format!(
                "pattern is {} bytes long; the limit is {MAX_GLOB_LEN}",
                pattern.len()
            ),
        });
    }
    let mut depth = 0usize;
    let mut escaped = false;
    for (offset, byte) in pattern.bytes().enumerate() {
        match byte {
            _ if escaped => escaped = false,
            b'\\' if backslash_escape => escaped = true,
            b'{' => {
                depth += 1;
                if depth > MAX_GLOB_BRACE_DEPTH {
                    return Err(GlobError {
                        offset: Some(offset),
                        message: format!(
                            "alternations {{…}} nested deeper than {MAX_GLOB_BRACE_DEPTH} levels"
                        ),
                    });
                }
            }
            b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    let built = std::panic::catch_unwind(|| {
        GlobBuilder::new(pattern)
            .literal_separator(true)
            .backslash_escape(backslash_escape)
            .build()
    });
    match built {
        Ok(Ok(glob)) => Ok(glob),
        Ok(Err(error)) => Err(GlobError {
            offset: None,
            message: error.kind().to_string(),
        }),
        Err(_) => Err(GlobError {
            offset: None,
            message: "the pattern could not be compiled".into(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nested_braces(levels: usize) -> String {
        let mut pattern = "b".to_owned();
        for _ in 0..levels {
            pattern = format!("{{a,{pattern}}}");
        }
        pattern
    }

    #[test]
    fn deep_alternations_are_refused_where_they_go_too_deep() {
        let error = build(&nested_braces(200), false).expect_err("refused");
        assert_eq!(
            error.offset,
            Some(3 * MAX_GLOB_BRACE_DEPTH),
            "the ninth brace: {error:?}"
        );
        assert!(error.message.contains("nested deeper"), "{error:?}");
        let fine = build(&nested_braces(3), false).expect("three levels build");
        assert!(fine.compile_matcher().is_match("b"));
        assert!(fine.compile_matcher().is_match("a"));
    }

    #[test]
    fn escaped_braces_do_not_count_and_long_patterns_are_refused() {
        let escaped = "\\{".repeat(50) + "x";
        assert!(build(&escaped, true).is_ok());
        let long = "a".repeat(MAX_GLOB_LEN + 1);
        let error = build(&long, false).expect_err("too long");
        assert!(error.message.contains("limit is 1024"), "{error:?}");
        assert!(build("[", false).is_err(), "an unclosed class is an error");
    }
}
