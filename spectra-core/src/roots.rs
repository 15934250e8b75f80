//! Containment: whether a path lies under one of the roots a caller may read, decided on
//! the path as the kernel resolves it.
//!
//! A check on the text of a path is not enough: `/srv/link` may be a symlink to `/`, a parent
//! may be one, and `..` after a symlink climbs from the link's target, not from its name. So
//! the path and every root are resolved (symlinks followed, `.` and `..` applied) before they
//! are compared component by component, and the caller then works on the resolved path, which
//! has no symlink left to follow. The agent's diagnostics, the policy planner's targets and any
//! embedder decide containment here.
//!
//! ```
//! # fn main() -> spectra_core::Result<()> {
//! let dir = std::env::temp_dir();
//! let inside = spectra_core::roots::resolve_within(&dir, &[dir.clone()])?;
//! assert_eq!(inside, std::fs::canonicalize(&dir).unwrap());
//! assert!(spectra_core::roots::resolve_within(std::path::Path::new("/"), &[dir]).is_err());
//! # Ok(())
//! # }
//! ```

use std::path::{Path, PathBuf};

use crate::{Error, Result};

/// `path` resolved, when it lies under one of `roots` (each resolved too; a root that does
/// not exist admits nothing). Errors: [`Error::Io`] when `path` cannot be resolved (it does
/// not exist, a parent cannot be searched), [`Error::InvalidInput`] naming the resolved path
/// when it leaves every root, or when there are no roots at all.
pub fn resolve_within(path: &Path, roots: &[PathBuf]) -> Result<PathBuf> {
    if roots.is_empty() {
        return Err(Error::invalid(
            "path",
            format!(
                "{}: no roots are allowed, so nothing may be read",
                path.display()
            ),
        ));
    }
    let resolved = std::fs::canonicalize(path).map_err(|e| Error::io(path, e))?;
    let admitted = roots
        .iter()
        .filter_map(|root| std::fs::canonicalize(root).ok())
        .any(|root| resolved.starts_with(root));
    if admitted {
        return Ok(resolved);
    }
    let via = if resolved == path {
        String::new()
    } else {
        format!(" resolves to {}, which", resolved.display())
    };
    Err(Error::invalid(
        "path",
        format!(
            "{}{via} is not under any allowed root ({})",
            path.display(),
            roots
                .iter()
                .map(|r| r.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    ))
}

#[cfg(all(test, unix))]
mod tests {
    use std::os::unix::fs::symlink;

    use super::*;
    use crate::ErrorCode;

    fn tree() -> (tempfile::TempDir, PathBuf, PathBuf) {
        let dir = tempfile::tempdir().expect("tmp");
        let base = std::fs::canonicalize(dir.path()).expect("canonical");
        let root = base.join("root");
        let outside = base.join("outside");
        std::fs::create_dir_all(root.join("data/deep")).expect("mkdir");
        std::fs::create_dir_all(&outside).expect("mkdir");
        (dir, root, outside)
    }

    fn refused(path: &Path, roots: &[PathBuf]) -> String {
        let error = resolve_within(path, roots).expect_err("must be refused");
        assert_eq!(error.code(), ErrorCode::InvalidInput, "{error}");
        error.to_string()
    }

    #[test]
    fn a_path_under_a_root_resolves_to_itself() {
        let (_dir, root, _) = tree();
        let inside = root.join("data/deep");
        assert_eq!(
            resolve_within(&inside, std::slice::from_ref(&root)).expect("inside"),
            inside
        );
        assert_eq!(
            resolve_within(&root, std::slice::from_ref(&root)).expect("the root"),
            root
        );
        let dotted = root.join("data/./deep/..");
        assert_eq!(
            resolve_within(&dotted, std::slice::from_ref(&root)).expect("dots"),
            root.join("data")
        );
    }

    #[test]
    fn a_symlink_at_the_path_is_judged_by_its_target() {
        let (_dir, root, outside) = tree();
        symlink("/", root.join("to-slash")).expect("link");
        symlink(&outside, root.join("to-outside")).expect("link");
        let message = refused(&root.join("to-slash"), std::slice::from_ref(&root));
        assert!(message.contains("resolves to /,"), "{message}");
        refused(&root.join("to-outside"), std::slice::from_ref(&root));
        symlink(root.join("data"), root.join("to-data")).expect("link");
        assert_eq!(
            resolve_within(&root.join("to-data"), std::slice::from_ref(&root)).expect("inside"),
            root.join("data")
        );
    }

    #[test]
    fn a_symlink_in_a_parent_and_dotdot_after_one_are_resolved() {
        let (_dir, root, outside) = tree();
        std::fs::create_dir_all(outside.join("secret/inner")).expect("mkdir");
        symlink(&outside, root.join("parent-link")).expect("link");
        refused(
            &root.join("parent-link/secret"),
            std::slice::from_ref(&root),
        );
        // `..` after a symlink climbs from the target: root/parent-link/secret/inner/../..
        // is outside itself, not root.
        let climbed = root.join("parent-link/secret/inner/../..");
        let message = refused(&climbed, std::slice::from_ref(&root));
        assert!(
            message.contains(&outside.display().to_string()),
            "{message}"
        );
    }

    #[test]
    fn a_root_given_as_a_symlink_admits_its_target_and_no_roots_admit_nothing() {
        let (_dir, root, outside) = tree();
        let link = outside.join("root-link");
        symlink(&root, &link).expect("link");
        assert_eq!(
            resolve_within(&root.join("data"), &[link]).expect("inside"),
            root.join("data")
        );
        let message = refused(&root, &[]);
        assert!(message.contains("no roots"), "{message}");
        let missing =
            resolve_within(&root.join("nope"), std::slice::from_ref(&root)).expect_err("missing");
        assert_eq!(missing.code(), ErrorCode::NotFound, "{missing}");
        assert!(
            !refused(&outside, &[root.join("gone")]).is_empty(),
            "a root that does not exist admits nothing"
        );
    }
}
