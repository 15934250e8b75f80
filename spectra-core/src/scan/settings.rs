//! [`ScanSettings`]: every scan option by name, the one form every frontend passes them in.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::{ScanOptions, SizeMode};
use crate::error::{Error, Result};

/// Every option of a scan, named as the CLI's flags name them: what a Python `**kwargs`, a
/// JavaScript options object (its camelCase names are accepted too), the C ABI's JSON and the
/// uniffi record carry. A field left out (or `null`) keeps core's default; an unknown name is
/// refused with the names there are. [`ScanSettings::options`] makes the [`ScanOptions`].
///
/// ```
/// use spectra_core::scan::ScanSettings;
///
/// let settings = ScanSettings::from_json(r#"{"top": 3, "exclude": ["*.tmp"], "maxDepth": 2}"#)?;
/// let options = settings.options(vec!["/srv".into()]);
/// assert_eq!((options.top, options.max_depth), (3, Some(2)));
/// assert!(ScanSettings::from_json(r#"{"depth": 2}"#).is_err());
/// # Ok::<(), spectra_core::Error>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ScanSettings {
    /// How many of the largest files and directories the report lists.
    pub top: Option<usize>,
    /// How many extensions the report lists by name.
    #[serde(alias = "topExtensions")]
    pub top_extensions: Option<usize>,
    /// Globs of entries to leave out (see [`ScanOptions::exclude`]).
    pub exclude: Option<Vec<String>>,
    /// Stay on each root's filesystem (`du -x`).
    #[serde(alias = "oneFileSystem")]
    pub one_file_system: Option<bool>,
    /// Rank by apparent size (file length) instead of disk usage.
    #[serde(alias = "apparentSize")]
    pub apparent_size: Option<bool>,
    /// Worker threads.
    pub threads: Option<usize>,
    /// Do not descend below this depth (the root is depth 0).
    #[serde(alias = "maxDepth")]
    pub max_depth: Option<usize>,
    /// Follow symlinks to directories and files.
    #[serde(alias = "followSymlinks")]
    pub follow_symlinks: Option<bool>,
    /// Count every hard link of a file, not only the first seen.
    #[serde(alias = "countLinks")]
    pub count_links: Option<bool>,
    /// Which walker reads the tree: `native` or `portable` (core's [`crate::Backend`]; named
    /// `walker` so as not to be taken for a storage backend).
    pub walker: Option<crate::Backend>,
}

impl ScanSettings {
    /// Settings from a JSON object; an error names the setting, line and column.
    pub fn from_json(text: &str) -> Result<ScanSettings> {
        serde_json::from_str(text).map_err(|e| Error::invalid("scan settings", e.to_string()))
    }

    /// Settings from a JSON value (what a binding's dict or object converts to).
    pub fn from_value(value: serde_json::Value) -> Result<ScanSettings> {
        if value.is_null() {
            return Ok(ScanSettings::default());
        }
        serde_json::from_value(value).map_err(|e| Error::invalid("scan settings", e.to_string()))
    }

    /// The options that scan `roots` with these settings, core's defaults for the rest.
    pub fn options(self, roots: Vec<PathBuf>) -> ScanOptions {
        let defaults = ScanOptions::default();
        ScanOptions {
            roots,
            threads: self.threads,
            follow_symlinks: self.follow_symlinks.unwrap_or(defaults.follow_symlinks),
            one_file_system: self.one_file_system.unwrap_or(defaults.one_file_system),
            exclude: self.exclude.unwrap_or_default(),
            max_depth: self.max_depth,
            size_mode: match self.apparent_size {
                Some(true) => SizeMode::Apparent,
                Some(false) => SizeMode::Disk,
                None => defaults.size_mode,
            },
            count_hard_links_once: self
                .count_links
                .map_or(defaults.count_hard_links_once, |every| !every),
            top: self.top.unwrap_or(defaults.top),
            top_extensions: self.top_extensions.unwrap_or(defaults.top_extensions),
            backend: self.walker,
        }
    }

    /// The names of every setting, as JSON spells them (for a binding's check that it passes
    /// them all).
    pub fn names() -> Vec<String> {
        let every = serde_json::to_value(ScanSettings::default()).unwrap_or_default();
        every
            .as_object()
            .map(|object| object.keys().cloned().collect())
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_set_is_core_default_and_every_setting_reaches_the_options() {
        let roots = vec![PathBuf::from("/srv")];
        assert_eq!(
            ScanSettings::default().options(roots.clone()),
            ScanOptions {
                roots: roots.clone(),
                ..ScanOptions::default()
            }
        );
        let every = ScanSettings::from_json(
            r#"{"top": 3, "top_extensions": 4, "exclude": ["*.tmp"], "one_file_system": true,
                "apparent_size": true, "threads": 2, "max_depth": 5, "follow_symlinks": true,
                "count_links": true, "walker": "portable"}"#,
        )
        .expect("settings");
        assert_eq!(
            every.options(roots.clone()),
            ScanOptions {
                roots,
                threads: Some(2),
                follow_symlinks: true,
                one_file_system: true,
                exclude: vec!["*.tmp".into()],
                max_depth: Some(5),
                size_mode: SizeMode::Apparent,
                count_hard_links_once: false,
                top: 3,
                top_extensions: 4,
                backend: Some(crate::Backend::Portable),
            }
        );
        assert_eq!(ScanSettings::names().len(), 10);
    }

    #[test]
    fn javascript_names_and_nulls_are_accepted_and_unknown_names_refused() {
        let settings = ScanSettings::from_value(serde_json::json!({
            "followSymlinks": true, "countLinks": null, "maxDepth": 1
        }))
        .expect("settings");
        assert_eq!(settings.follow_symlinks, Some(true));
        assert_eq!(settings.count_links, None);
        assert_eq!(settings.max_depth, Some(1));
        let error = ScanSettings::from_json(r#"{"top": 1, "depth": 2}"#).expect_err("unknown");
        assert_eq!(error.code(), crate::ErrorCode::InvalidInput);
        assert!(
            error.to_string().contains("unknown field `depth`")
                && error.to_string().contains("max_depth"),
            "{error}"
        );
        let error = ScanSettings::from_json(r#"{"top": -1}"#).expect_err("negative");
        assert!(error.to_string().contains("column"), "{error}");
    }
}
