//! Rule evaluation cost per entry: the seed's policy and a heavier one (glob, regex, list).

use criterion::{Criterion, criterion_group, criterion_main};
use spectra_core::policy::{Facts, Policy};
use spectra_core::scan::{FileKind, FileMeta, Timestamp};

fn evaluate(c: &mut Criterion) {
    let meta = FileMeta {
        kind: FileKind::File,
        mode: 0o100644,
        size: 5_000_000,
        disk_size: 5_001_216,
        mtime: Some(Timestamp {
            secs: 1_700_000_000,
            nanos: 0,
        }),
        atime: None,
        ctime: Some(Timestamp {
            secs: 1_700_000_000,
            nanos: 0,
        }),
        uid: Some(1000),
        gid: Some(1000),
        dev: Some(1),
        ino: Some(42),
        nlink: Some(1),
    };
    let facts = Facts {
        path: b"/srv/projects/alpha/build/output/app.log",
        name: b"app.log",
        extension: b"log",
        meta: &meta,
        depth: 6,
        owner: Some("alice"),
        group: Some("staff"),
        now: 1_800_000_000,
    };
    let policies = [
        (
            "seed",
            r#"["extension == 'log'", "days_since_modified > 90"]"#,
        ),
        (
            "heavy",
            r#"["extension in ['log', 'tmp', 'bak', 'old']", "path matches '/srv/**/build/**'", "name =~ '^app\\.(log|out)$'", "size > 1MiB and age(mtime) > 30d", "atime is unknown or days_since_accessed > 90"]"#,
        ),
    ];
    let mut group = c.benchmark_group("rule_evaluation_per_entry");
    for (name, rules) in policies {
        let text = format!(r#"{{"name": "{name}", "rules": {rules}, "action": "report"}}"#);
        let policy = Policy::from_json(&text)
            .expect("policy")
            .compile()
            .expect("compile");
        assert!(
            policy.matches(&facts),
            "{name} selects the sample entry, so every rule is evaluated"
        );
        group.bench_function(name, |b| {
            b.iter(|| policy.matches(std::hint::black_box(&facts)))
        });
    }
    group.finish();
}

criterion_group!(benches, evaluate);
criterion_main!(benches);
