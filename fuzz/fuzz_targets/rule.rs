//! The rule parser and evaluator: any text either parses and evaluates, or is a positioned
//! error; nothing panics or overflows the stack.
#![no_main]

use libfuzzer_sys::fuzz_target;
use spectra_core::policy::{Facts, Rule};
use spectra_core::scan::{FileKind, FileMeta, Timestamp};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match Rule::parse(text) {
        Ok(rule) => {
            let at = Some(Timestamp {
                secs: 1_700_000_000,
                nanos: 0,
            });
            let meta = FileMeta {
                kind: FileKind::File,
                mode: 0o100644,
                size: 4096,
                disk_size: 4096,
                mtime: at,
                atime: None,
                ctime: at,
                uid: Some(1000),
                gid: Some(100),
                dev: Some(1),
                ino: Some(2),
                nlink: Some(1),
            };
            let facts = Facts {
                path: b"/srv/data/report.log",
                name: b"report.log",
                extension: b"log",
                meta: &meta,
                depth: 3,
                owner: Some("alice"),
                group: None,
                now: 1_800_000_000,
            };
            let _ = rule.evaluate(&facts);
        }
        Err(error) => {
            assert!(error.column >= 1, "columns are 1-based: {error:?}");
            let _ = error.to_string();
        }
    }
});
