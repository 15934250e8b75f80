//! The mount table: [`Mount`], read from `/proc/self/mountinfo` on Linux (the portable
//! backend fills it from `sysinfo`).

use serde::{Deserialize, Serialize};

/// One mounted filesystem.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mount {
    pub device: String,
    pub mount_point: String,
    pub fs_type: String,
    /// The device number files on it report (`st_dev`); `None` where there are no device
    /// numbers (Windows).
    pub dev: Option<u64>,
    /// Per-mount options (`rw,noatime,…`); empty where the platform does not give them.
    pub options: String,
}

#[cfg(spectra_native)]
/// Undoes the octal escapes (`\040` for a space) the kernel puts in mount fields.
fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes
            .get(i + 1..i + 4)
            .and_then(|d| std::str::from_utf8(d).ok())
            .and_then(|d| u8::from_str_radix(d, 8).ok());
        match (bytes[i], octal) {
            (b'\\', Some(byte)) => {
                out.push(byte);
                i += 4;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(spectra_native)]
pub(crate) fn parse_mountinfo(text: &str) -> Vec<Mount> {
    text.lines()
        .filter_map(|line| {
            let (before, after) = line.split_once(" - ")?;
            let fields: Vec<&str> = before.split_whitespace().collect();
            let (major, minor) = fields.get(2)?.split_once(':')?;
            let mut rest = after.split_whitespace();
            let fs_type = rest.next()?;
            let device = rest.next()?;
            Some(Mount {
                device: unescape(device),
                mount_point: unescape(fields.get(4)?),
                fs_type: fs_type.to_string(),
                dev: Some(rustix::fs::makedev(
                    major.parse().ok()?,
                    minor.parse().ok()?,
                )),
                options: fields.get(5)?.to_string(),
            })
        })
        .collect()
}
