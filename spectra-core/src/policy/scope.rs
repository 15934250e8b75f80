//! Where a policy applies on a host: its scope (the roots it names) met with the roots the
//! host's own configuration allows, and where a destructive action may be enforced. Decided
//! here so an agent, an embedder and the CLI agree; compared component by component (a root
//! `/srv/data` does not hold `/srv/datax`).

use std::path::{Path, PathBuf};

/// Where `scope` (a policy's roots; empty: everywhere) meets `roots` (what the host allows):
/// each root the scope holds, and each scope path a root holds, once each, in `roots` order.
///
/// ```
/// use std::path::PathBuf;
/// use spectra_core::policy::policy_targets;
/// let roots = [PathBuf::from("/srv"), PathBuf::from("/home")];
/// let scope = [PathBuf::from("/srv/logs"), PathBuf::from("/opt")];
/// assert_eq!(policy_targets(&roots, &scope), [PathBuf::from("/srv/logs")]);
/// assert_eq!(policy_targets(&roots, &[]), roots);
/// ```
pub fn policy_targets(roots: &[PathBuf], scope: &[PathBuf]) -> Vec<PathBuf> {
    if scope.is_empty() {
        return roots.to_vec();
    }
    let mut targets = Vec::new();
    for root in roots {
        for allowed in scope {
            let target = if allowed.starts_with(root) {
                allowed
            } else if root.starts_with(allowed) {
                root
            } else {
                continue;
            };
            if !targets.contains(target) {
                targets.push(target.clone());
            }
        }
    }
    targets
}

/// Whether a destructive action may be enforced at `target`: only under one of
/// `enforce_roots`, the roots the host's own configuration marks for enforcement (a server can
/// never widen them).
pub fn may_enforce(target: &Path, enforce_roots: &[PathBuf]) -> bool {
    enforce_roots.iter().any(|root| target.starts_with(root))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policies_apply_where_their_scope_meets_the_roots() {
        let roots = ["/srv".into(), "/home".into()];
        let scope = ["/srv/logs".into(), "/".into(), "/opt".into()];
        assert_eq!(
            policy_targets(&roots, &scope),
            [PathBuf::from("/srv/logs"), "/srv".into(), "/home".into()]
        );
        assert!(
            policy_targets(&roots, &["/srvx".into()]).is_empty(),
            "by component"
        );
    }

    #[test]
    fn enforcement_only_under_an_enforce_root() {
        let enforce = [PathBuf::from("/srv/scratch")];
        assert!(may_enforce(Path::new("/srv/scratch/tmp"), &enforce));
        assert!(may_enforce(Path::new("/srv/scratch"), &enforce));
        assert!(!may_enforce(Path::new("/srv/scratchy"), &enforce));
        assert!(!may_enforce(Path::new("/srv"), &enforce));
        assert!(!may_enforce(Path::new("/srv/scratch"), &[]));
    }
}
