use std::borrow::Cow;
use std::ffi::{OsStr, OsString};
use std::fmt;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::{Error, Result};

/// A file path kept byte for byte, as the kernel returned it.
///
/// Unix names need not be UTF-8. A `RawPath` never loses such a name: it displays lossily
/// (invalid sequences become U+FFFD) but serializes losslessly. A UTF-8 path serializes as a
/// plain JSON string; any other path serializes as `{"lossy": "...", "base64": "..."}`, where
/// `base64` holds the exact bytes. Both forms deserialize back to the same bytes. (Windows
/// names are UTF-16: there every name that is valid Unicode round-trips, and the bytes are
/// std's WTF-8 encoding.)
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RawPath(PathBuf);

impl RawPath {
    /// The path as the operating system sees it.
    pub fn as_path(&self) -> &Path {
        &self.0
    }

    /// The exact bytes of the path.
    pub fn as_bytes(&self) -> &[u8] {
        self.0.as_os_str().as_encoded_bytes()
    }

    /// The path for display, with invalid UTF-8 replaced.
    pub fn to_string_lossy(&self) -> std::borrow::Cow<'_, str> {
        self.0.to_string_lossy()
    }

    pub fn into_path_buf(self) -> PathBuf {
        self.0
    }
}

impl From<PathBuf> for RawPath {
    fn from(path: PathBuf) -> Self {
        RawPath(path)
    }
}

impl From<&Path> for RawPath {
    fn from(path: &Path) -> Self {
        RawPath(path.to_path_buf())
    }
}

impl From<Vec<u8>> for RawPath {
    fn from(bytes: Vec<u8>) -> Self {
        RawPath(PathBuf::from(os_string_from_bytes(bytes)))
    }
}

/// A name from its bytes: exact on Unix; elsewhere (where names are UTF-16 and their bytes
/// are std's WTF-8 encoding) exact for UTF-8, with anything else replaced by U+FFFD — `std`
/// offers no safe exact conversion there, and this crate has no `unsafe`.
pub(crate) fn os_str_from_bytes(bytes: &[u8]) -> Cow<'_, OsStr> {
    #[cfg(spectra_unix)]
    {
        Cow::Borrowed(std::os::unix::ffi::OsStrExt::from_bytes(bytes))
    }
    #[cfg(not(spectra_unix))]
    {
        match String::from_utf8_lossy(bytes) {
            Cow::Borrowed(text) => Cow::Borrowed(OsStr::new(text)),
            Cow::Owned(text) => Cow::Owned(OsString::from(text)),
        }
    }
}

/// The owned form of [`os_str_from_bytes`].
pub(crate) fn os_string_from_bytes(bytes: Vec<u8>) -> OsString {
    #[cfg(spectra_unix)]
    {
        std::os::unix::ffi::OsStringExt::from_vec(bytes)
    }
    #[cfg(not(spectra_unix))]
    {
        match String::from_utf8(bytes) {
            Ok(text) => OsString::from(text),
            Err(e) => OsString::from(String::from_utf8_lossy(e.as_bytes()).into_owned()),
        }
    }
}

impl AsRef<Path> for RawPath {
    fn as_ref(&self) -> &Path {
        &self.0
    }
}

impl fmt::Debug for RawPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl fmt::Display for RawPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0.display(), f)
    }
}

#[derive(Serialize, Deserialize)]
#[serde(untagged)]
enum Wire<'a> {
    Text(std::borrow::Cow<'a, str>),
    Bytes { lossy: String, base64: String },
}

impl Serialize for RawPath {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.0.to_str() {
            Some(text) => Wire::Text(text.into()),
            None => Wire::Bytes {
                lossy: self.to_string_lossy().into_owned(),
                base64: BASE64.encode(self.as_bytes()),
            },
        }
        .serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for RawPath {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        match Wire::deserialize(deserializer)? {
            Wire::Text(text) => Ok(RawPath(PathBuf::from(text.into_owned()))),
            Wire::Bytes { base64, .. } => BASE64
                .decode(base64.as_bytes())
                .map(RawPath::from)
                .map_err(|e| D::Error::custom(format!("path: invalid base64: {e}"))),
        }
    }
}

/// Longest path accepted from the wire, in bytes (Linux's `PATH_MAX`).
pub const MAX_PATH_BYTES: usize = 4096;

/// Refuses a path from the wire that is empty, relative, longer than [`MAX_PATH_BYTES`] or
/// holds a NUL byte (which no system call can take), naming the field.
pub fn check_path(what: &str, path: &[u8]) -> Result<()> {
    let problem = if path.is_empty() {
        "is empty".to_owned()
    } else if path.contains(&0) {
        "holds a NUL byte".to_owned()
    } else if path[0] != b'/' {
        format!(
            "{:?} is not an absolute path",
            String::from_utf8_lossy(path)
        )
    } else if path.len() > MAX_PATH_BYTES {
        format!(
            "is {} bytes long; the limit is {MAX_PATH_BYTES}",
            path.len()
        )
    } else {
        return Ok(());
    };
    Err(Error::invalid(what, problem))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utf8_paths_serialize_as_plain_strings() {
        let path = RawPath::from(PathBuf::from("/srv/data/ré.txt"));
        let json = serde_json::to_string(&path).expect("serialize");
        assert_eq!(json, "\"/srv/data/ré.txt\"");
        assert_eq!(
            serde_json::from_str::<RawPath>(&json).expect("deserialize"),
            path
        );
    }

    /// Only Unix names are bytes; Windows names are UTF-16 and have no such bytes to keep.
    #[cfg(spectra_unix)]
    #[test]
    fn non_utf8_paths_round_trip_losslessly() {
        let path = RawPath::from(b"/tmp/bad-\xff\xfe-name".to_vec());
        let json = serde_json::to_string(&path).expect("serialize");
        assert!(
            json.contains("\"lossy\":\"/tmp/bad-\u{fffd}\u{fffd}-name\""),
            "{json}"
        );
        let back: RawPath = serde_json::from_str(&json).expect("deserialize");
        assert_eq!(back.as_bytes(), b"/tmp/bad-\xff\xfe-name");
        assert_eq!(path.to_string(), "/tmp/bad-\u{fffd}\u{fffd}-name");
    }

    #[test]
    fn corrupt_base64_is_a_clear_error() {
        let err = serde_json::from_str::<RawPath>(r#"{"lossy":"x","base64":"!!"}"#)
            .expect_err("must fail");
        assert!(err.to_string().contains("invalid base64"), "{err}");
    }
}
