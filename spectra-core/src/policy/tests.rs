use proptest::prelude::*;

use super::*;
use crate::scan::{FileKind, FileMeta, Timestamp};
use crate::units::{parse_duration, parse_size};

const NOW: i64 = 1_800_000_000;
const DAY: i64 = 86_400;

fn meta(size: u64, modified_days_ago: Option<i64>) -> FileMeta {
    let at = |days: i64| Timestamp {
        secs: NOW - days * DAY,
        nanos: 0,
    };
    FileMeta {
        kind: FileKind::File,
        mode: 0o100644,
        size,
        disk_size: size,
        mtime: modified_days_ago.map(at),
        atime: None,
        ctime: Some(at(1)),
        uid: Some(1000),
        gid: Some(100),
        dev: Some(1),
        ino: Some(2),
        nlink: Some(1),
    }
}

fn facts<'a>(path: &'a str, meta: &'a FileMeta, owner: Option<&'a str>) -> Facts<'a> {
    let name = path.rsplit('/').next().unwrap_or(path);
    let extension = name.rsplit_once('.').map_or("", |(_, e)| e);
    Facts {
        path: path.as_bytes(),
        name: name.as_bytes(),
        extension: extension.as_bytes(),
        meta,
        depth: path.matches('/').count(),
        owner,
        group: Some("users"),
        now: NOW,
    }
}

fn eval(rule: &str, facts: &Facts<'_>) -> Option<bool> {
    Rule::parse(rule)
        .unwrap_or_else(|e| panic!("{rule}: {e}"))
        .evaluate(facts)
}

#[test]
fn the_seed_policy_keeps_working_in_json_and_toml() {
    let json = r#"{"name": "Cleanup Old Logs", "rules": ["extension == 'log'", "days_since_modified > 90"], "action": "DELETE"}"#;
    let policy = Policy::from_json(json).expect("seed JSON");
    assert_eq!(policy.action, Action::Delete);
    assert_eq!(policy.limits, Limits::default(), "limits are on by default");
    let toml_text = "name = 'Cleanup Old Logs'\nrules = [\"extension == 'log'\", 'days_since_modified > 90']\naction = 'delete'\n";
    assert_eq!(Policy::from_toml(toml_text).expect("TOML"), policy);
    let compiled = policy.compile().expect("compile");
    let old_log = meta(10, Some(200));
    let new_log = meta(10, Some(3));
    assert!(compiled.matches(&facts("/var/log/app.log", &old_log, None)));
    assert!(!compiled.matches(&facts("/var/log/app.log", &new_log, None)));
    assert!(!compiled.matches(&facts("/var/log/app.txt", &old_log, None)));
    let archive = Policy::from_json(
        r#"{"name":"a","rules":["size > 1"],"action":{"type":"archive","destination":"/arch"}}"#,
    )
    .expect("tagged action");
    assert_eq!(
        archive.action,
        Action::Archive {
            destination: Some("/arch".into())
        }
    );
    let err =
        Policy::from_json(r#"{"name":"a","rules":[],"action":"EXPLODE"}"#).expect_err("bad action");
    assert!(
        err.to_string().contains("unknown action 'explode'"),
        "{err}"
    );
}

#[test]
fn operators_and_units() {
    let m = meta(2 * 1024 * 1024, Some(100));
    let f = facts("/srv/data/report.CSV.gz", &m, Some("alice"));
    for (rule, expected) in [
        ("size > 2MB", true),
        ("size > 2MiB", false),
        ("size >= 2MiB", true),
        ("size == 2097152", true),
        ("size < 1GB", true),
        ("size > 2000KB and size < 3000kB", true),
        ("size < 0.002GiB and size > 0.0019TB", false),
        ("size >= 2048KiB and size <= 2048K", true),
        ("size < 1TiB and size < 1PB and size < 1PiB", true),
        ("age(mtime) > 2399h and age(mtime) < 144001m", true),
        ("age(ctime) >= 86400s and age(ctime) < 1y", true),
        ("days_since_modified > 90", true),
        ("days_since_modified >= 100", true),
        ("days_since_modified > 15w", false),
        ("age(mtime) > 90d", true),
        ("age(mtime) < 2400h", false),
        ("mtime < 2027-01-01", true),
        ("mtime > 2030-01-01", false),
        ("extension == 'gz'", true),
        ("extension == '.GZ'", true),
        ("extension in ['zip', 'gz']", true),
        ("extension != 'gz'", false),
        ("name matches '*.gz'", true),
        ("path matches '/srv/**/*.gz'", true),
        ("path matches '/srv/*.gz'", false),
        ("path =~ '^/srv/(data|tmp)/'", true),
        ("owner == 'alice' and user == 'alice'", true),
        ("group == 'users'", true),
        ("uid == 1000 and gid != 0", true),
        ("kind == 'file'", true),
        ("kind in ['dir', 'symlink']", false),
        ("nlink <= 1", true),
        ("depth == 3", true),
        ("not size > 1GB", true),
        ("! (size > 1GB)", true),
        ("size > 1GB or extension == 'gz'", true),
        ("size > 1GB || extension == 'zip'", false),
        ("(size > 1GB or depth == 3) and not kind == 'dir'", true),
        ("atime is unknown", true),
        ("atime is known", false),
        ("mtime is not unknown", true),
    ] {
        assert_eq!(eval(rule, &f), Some(expected), "{rule}");
    }
}

#[test]
fn unknown_attributes_never_make_a_rule_true() {
    let m = meta(100, None);
    let f = facts("/x/y.log", &m, None);
    assert_eq!(eval("days_since_modified > 90", &f), None);
    assert_eq!(
        eval("days_since_modified <= 90", &f),
        None,
        "neither side of an unknown is true"
    );
    assert_eq!(eval("not days_since_modified > 90", &f), None);
    assert_eq!(eval("owner == 'bob'", &f), None);
    assert_eq!(eval("owner != 'bob'", &f), None);
    assert_eq!(eval("days_since_accessed > 30 and size > 1", &f), None);
    assert_eq!(
        eval("days_since_accessed > 30 and size > 1000", &f),
        Some(false),
        "false AND unknown is false"
    );
    assert_eq!(
        eval("days_since_accessed > 30 or size > 1", &f),
        Some(true),
        "true OR unknown is true"
    );
    let policy = Policy {
        name: "stale".into(),
        description: String::new(),
        rules: vec!["days_since_accessed > 30".into()],
        action: Action::Delete,
        scope: vec![],
        limits: Limits::default(),
    };
    assert!(!policy.compile().expect("compile").matches(&f));
}

#[test]
fn every_error_points_at_its_column_with_a_caret() {
    for (rule, column, message) in [
        ("size > 90d", 8, "size is a size, not a duration"),
        ("siz > 1", 1, "unknown field 'siz'"),
        ("size > ", 8, "expected a value at the end of the rule"),
        (
            "size = 5",
            6,
            "unexpected character '=' (use '==' to compare)",
        ),
        ("extension > 'log'", 11, "text is compared with == or !="),
        ("extension == log", 14, "the word 'log' (quote text: 'log')"),
        ("name == 'open", 9, "unterminated text"),
        ("size > 5 xb", 10, "unexpected 'xb' after a complete rule"),
        ("size > 5XB", 8, "unknown unit 'XB'"),
        ("(size > 5", 10, "expected ')' to close the parenthesis"),
        (
            "size matches '*.log'",
            6,
            "matches and =~ apply to text, not a size",
        ),
        ("name =~ '('", 9, "bad regular expression"),
        ("path matches '[z'", 14, "bad glob"),
        ("kind == 'folder'", 9, "kind is one of file, dir"),
        ("mtime > 2025-13-01", 9, "bad date"),
        ("age(size) > 1d", 5, "age() takes mtime, atime or ctime"),
        ("atime is maybe", 10, "expected 'known' or 'unknown'"),
        ("size in [1, 'x']", 13, "size is a size, not text"),
        ("mtime > 5", 9, "mtime is a date, not a plain number"),
        ("", 1, "expected a field"),
        (
            "extension in 'log'",
            14,
            "expected '[' to start the list after in",
        ),
        (
            "extension in ['log' 'tmp']",
            21,
            "expected ']' to close the list",
        ),
        ("age mtime > 1d", 5, "expected '(' after age"),
        ("age(mtime > 1d", 11, "expected ')' to close age("),
        (
            "name matches log",
            14,
            "expected a glob pattern after matches in quotes",
        ),
        (
            "name =~ 5",
            9,
            "expected a regular expression after =~ in quotes",
        ),
        ("size > ,", 8, "expected a value, found ','"),
        ("size > 1.2.3", 8, "bad number '1.2.3'"),
        ("size 5", 6, "expected an operator"),
        ("size > 5 and", 13, "expected a field"),
    ] {
        let err = Rule::parse(rule).expect_err(rule);
        assert_eq!(err.column, column, "{rule}: {err}");
        assert!(err.message.contains(message), "{rule}: {}", err.message);
        let shown = err.to_string();
        let caret_line = shown.lines().last().expect("caret line");
        assert_eq!(caret_line.find('^'), Some(column + 1), "{rule}:\n{shown}");
    }
    let policy = Policy {
        name: "p".into(),
        description: String::new(),
        rules: vec!["size > 1".into(), "size > 90d".into()],
        action: Action::Report,
        scope: vec![],
        limits: Limits::default(),
    };
    let err = policy.compile().expect_err("second rule is bad");
    assert_eq!(err.code(), crate::ErrorCode::InvalidRule);
    assert!(
        err.to_string().starts_with("policy 'p', rule 2: column 8:"),
        "{err}"
    );
    let empty = Policy {
        rules: vec![],
        ..policy
    };
    assert!(
        empty
            .compile()
            .expect_err("no rules")
            .to_string()
            .contains("no rules")
    );
}

#[test]
fn explain_reports_each_rule() {
    let m = meta(5000, Some(10));
    let f = facts("/a/b.log", &m, None);
    let policy = Policy::from_json(r#"{"name":"n","rules":["extension == 'log'","days_since_modified > 90","owner == 'x'"],"action":"report"}"#)
        .expect("policy")
        .compile()
        .expect("compile");
    let outcome: Vec<Option<bool>> = policy.explain(&f).into_iter().map(|(_, v)| v).collect();
    assert_eq!(outcome, [Some(true), Some(false), None]);
}

// ---- the evaluator against a straightforward reference on random rules and files ----

#[derive(Debug, Clone)]
enum Cond {
    Compare(&'static str, &'static str, i64),
    Known(&'static str, bool),
    Not(Box<Cond>),
    And(Box<Cond>, Box<Cond>),
    Or(Box<Cond>, Box<Cond>),
}

const FIELDS: [&str; 5] = ["size", "uid", "nlink", "depth", "days_since_modified"];
const OPS: [&str; 6] = ["==", "!=", "<", "<=", ">", ">="];

fn cond() -> impl Strategy<Value = Cond> {
    let leaf = prop_oneof![
        (0..FIELDS.len(), 0..OPS.len(), 0i64..200)
            .prop_map(|(f, o, v)| Cond::Compare(FIELDS[f], OPS[o], v)),
        (0..FIELDS.len(), any::<bool>()).prop_map(|(f, k)| Cond::Known(FIELDS[f], k)),
    ];
    leaf.prop_recursive(4, 24, 2, |inner| {
        prop_oneof![
            inner.clone().prop_map(|c| Cond::Not(Box::new(c))),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| Cond::And(Box::new(a), Box::new(b))),
            (inner.clone(), inner).prop_map(|(a, b)| Cond::Or(Box::new(a), Box::new(b))),
        ]
    })
}

fn render(c: &Cond) -> String {
    match c {
        Cond::Compare(f, o, v) => format!("{f} {o} {v}"),
        Cond::Known(f, k) => format!("{f} is {}", if *k { "known" } else { "unknown" }),
        Cond::Not(a) => format!("not ({})", render(a)),
        Cond::And(a, b) => format!("({}) and ({})", render(a), render(b)),
        Cond::Or(a, b) => format!("({}) or ({})", render(a), render(b)),
    }
}

/// Kleene logic written out by truth table, independent of the evaluator.
fn reference(c: &Cond, values: &dyn Fn(&str) -> Option<i64>) -> Option<bool> {
    match c {
        Cond::Compare(f, o, v) => values(f).map(|x| match *o {
            "==" => x == *v,
            "!=" => x != *v,
            "<" => x < *v,
            "<=" => x <= *v,
            ">" => x > *v,
            _ => x >= *v,
        }),
        Cond::Known(f, k) => Some(values(f).is_some() == *k),
        Cond::Not(a) => reference(a, values).map(|b| !b),
        Cond::And(a, b) => match (reference(a, values), reference(b, values)) {
            (Some(false), _) | (_, Some(false)) => Some(false),
            (Some(true), Some(true)) => Some(true),
            _ => None,
        },
        Cond::Or(a, b) => match (reference(a, values), reference(b, values)) {
            (Some(true), _) | (_, Some(true)) => Some(true),
            (Some(false), Some(false)) => Some(false),
            _ => None,
        },
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn the_evaluator_agrees_with_the_reference(
        c in cond(),
        size in 0u64..200,
        uid in 0u32..200,
        nlink in 1u64..4,
        depth in 0usize..6,
        modified in prop::option::of(0i64..200),
    ) {
        let mut m = meta(size, modified);
        m.uid = Some(uid);
        m.nlink = Some(nlink);
        let path = format!("/{}", vec!["d"; depth].join("/"));
        let mut f = facts(&path, &m, None);
        f.depth = depth;
        let values = |field: &str| -> Option<i64> {
            match field {
                "size" => Some(size as i64),
                "uid" => Some(i64::from(uid)),
                "nlink" => Some(nlink as i64),
                "depth" => Some(depth as i64),
                _ => modified,
            }
        };
        let text = render(&c);
        let rule = Rule::parse(&text).map_err(|e| TestCaseError::fail(format!("{text}: {e}")))?;
        prop_assert_eq!(rule.evaluate(&f), reference(&c, &values), "{}", text);
    }

    #[test]
    fn arbitrary_text_never_panics_the_parser(text in "\\PC{0,60}") {
        let _ = Rule::parse(&text);
    }
}

#[test]
fn a_plan_selects_the_matches_changes_nothing_and_is_tamper_evident() {
    let dir = tempfile::tempdir().expect("tmp");
    let old = std::time::SystemTime::now() - std::time::Duration::from_secs(200 * DAY as u64);
    for (name, size, aged) in [
        ("a.log", 10, true),
        ("b.log", 20, false),
        ("c.txt", 30, true),
        ("sub/d.log", 40, true),
    ] {
        let path = dir.path().join(name);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(&path, vec![b'x'; size]).expect("write");
        if aged {
            std::fs::File::options()
                .write(true)
                .open(&path)
                .expect("open")
                .set_modified(old)
                .expect("age");
        }
    }
    let listing = |root: &std::path::Path| {
        let mut all = Vec::new();
        let mut stack = vec![root.to_path_buf()];
        while let Some(p) = stack.pop() {
            let m = std::fs::symlink_metadata(&p).expect("lstat");
            if m.is_dir() {
                stack.extend(
                    std::fs::read_dir(&p)
                        .expect("read_dir")
                        .map(|e| e.expect("entry").path()),
                );
            }
            all.push((p, m.len(), m.modified().ok()));
        }
        all.sort();
        all
    };
    let before = listing(dir.path());
    let policy = Policy::from_json(
        r#"{"name": "Cleanup Old Logs", "rules": ["extension == 'log'", "days_since_modified > 90"], "action": "DELETE"}"#,
    )
    .expect("policy")
    .compile()
    .expect("compile");
    let (plan, report) = super::plan(
        &policy,
        crate::scan::ScanOptions::new(dir.path()),
        crate::scan::ScanControl::new(),
    )
    .expect("plan");
    assert_eq!(listing(dir.path()), before, "a dry run changes nothing");
    let names: Vec<String> = plan.files.iter().map(|f| f.path.to_string()).collect();
    let root = dir.path().display();
    assert_eq!(
        names,
        [format!("{root}/a.log"), format!("{root}/sub/d.log")]
    );
    assert_eq!(plan.total_bytes, 50);
    assert!(!plan.scan_partial);
    assert_eq!(plan.scanned_bytes, report.totals.apparent_bytes);
    assert_eq!(plan.id.len(), 64);
    plan.verify().expect("untouched plan verifies");
    let json = serde_json::to_string(&plan).expect("serialize");
    let back: Plan = serde_json::from_str(&json).expect("deserialize");
    back.verify().expect("a plan read back verifies");
    let mut tampered = back.clone();
    tampered.files[0].size = 1;
    assert!(
        tampered
            .verify()
            .expect_err("altered")
            .to_string()
            .contains("altered")
    );
}

#[test]
fn rules_report_the_fields_they_read() {
    let rule =
        Rule::parse("(path matches '/a/**' or size > 1) and not age(atime) > 1d").expect("parse");
    assert!(rule.uses(Field::Path) && rule.uses(Field::Size) && rule.uses(Field::Atime));
    assert!(!rule.uses(Field::Owner) && !rule.uses(Field::Mtime));
}

#[cfg(spectra_unix)]
#[test]
fn plans_evaluate_path_owner_and_group_rules() {
    let dir = tempfile::tempdir().expect("tmp");
    std::fs::create_dir(dir.path().join("keep")).expect("mkdir");
    std::fs::write(dir.path().join("keep/a.tmp"), b"1").expect("write");
    std::fs::write(dir.path().join("b.tmp"), b"2").expect("write");
    let me = crate::sys::user_name(rustix::process::geteuid().as_raw())
        .expect("a named user runs the tests");
    let text = format!(
        r#"{{"name": "tmp outside keep", "rules": ["extension == 'tmp'", "not path matches '**/keep/**'", "owner == '{me}'", "group is known"], "action": "report"}}"#
    );
    let policy = Policy::from_json(&text)
        .expect("policy")
        .compile()
        .expect("compile");
    let (plan, _) = super::plan(
        &policy,
        crate::scan::ScanOptions::new(dir.path()),
        crate::scan::ScanControl::new(),
    )
    .expect("plan");
    let names: Vec<String> = plan.files.iter().map(|f| f.path.to_string()).collect();
    assert_eq!(names, [format!("{}/b.tmp", dir.path().display())]);
}

/// Without Unix owners (Windows) owner, group and uid are unknown: a rule that needs them
/// selects nothing, and `is unknown` selects everything.
#[cfg(not(spectra_unix))]
#[test]
fn owner_rules_are_unknown_without_unix_owners() {
    let dir = tempfile::tempdir().expect("tmp");
    std::fs::write(dir.path().join("b.tmp"), b"2").expect("write");
    let planned = |rules: &str| {
        let text = format!(r#"{{"name": "p", "rules": [{rules}], "action": "report"}}"#);
        let policy = Policy::from_json(&text)
            .expect("policy")
            .compile()
            .expect("compile");
        let (plan, _) = super::plan(
            &policy,
            crate::scan::ScanOptions::new(dir.path()),
            crate::scan::ScanControl::new(),
        )
        .expect("plan");
        plan.files.len()
    };
    assert_eq!(planned(r#""owner == 'root'""#), 0);
    assert_eq!(planned(r#""not owner == 'root'""#), 0, "unknown, not false");
    assert_eq!(
        planned(r#""owner is unknown", "uid is unknown", "nlink is unknown""#),
        1
    );
}

/// Without `openat`-style calls and inode identity (Windows) the safety rules cannot be kept:
/// an admissible plan is refused as unsupported, and so is a restore.
#[cfg(not(spectra_safe_moves))]
#[test]
fn enforcing_is_unsupported_without_unix_calls() {
    let dir = tempfile::tempdir().expect("tmp");
    std::fs::write(dir.path().join("b.tmp"), b"2").expect("write");
    let policy =
        Policy::from_json(r#"{"name": "p", "rules": ["extension == 'tmp'"], "action": "delete"}"#)
            .expect("policy")
            .compile()
            .expect("compile");
    let (plan, _) = super::plan(
        &policy,
        crate::scan::ScanOptions::for_policy([dir.path()]),
        crate::scan::ScanControl::new(),
    )
    .expect("plan");
    assert_eq!(plan.files.len(), 1, "plans work everywhere");
    let options = super::EnforceOptions::new("test", dir.path().join("audit.jsonl"));
    let err = super::enforce(&plan, &options).expect_err("unsupported");
    assert_eq!(err.code(), crate::ErrorCode::Unsupported, "{err}");
    assert!(dir.path().join("b.tmp").exists());
    let err =
        super::restore(&plan.id, &[dir.path().to_path_buf()], &options).expect_err("unsupported");
    assert_eq!(err.code(), crate::ErrorCode::Unsupported, "{err}");
}

#[test]
fn durations_parse_for_options() {
    assert_eq!(
        parse_duration("14d").ok(),
        Some(std::time::Duration::from_secs(14 * 86_400))
    );
    assert_eq!(
        parse_duration("90m").ok(),
        Some(std::time::Duration::from_secs(5400))
    );
    let err = parse_duration("14").expect_err("a plain number");
    assert_eq!(err.code(), crate::ErrorCode::InvalidInput);
    assert!(err.to_string().contains("'14' is not a duration"), "{err}");
    assert!(parse_duration("5GB").is_err());
}

#[test]
fn sizes_parse_for_options() {
    assert_eq!(parse_size("1GB").ok(), Some(1_000_000_000));
    assert_eq!(parse_size("1.5GiB").ok(), Some(1_610_612_736));
    assert_eq!(parse_size("500TB").ok(), Some(500_000_000_000_000));
    assert_eq!(
        parse_size("4096").ok(),
        Some(4096),
        "a plain number is bytes"
    );
    for bad in ["14d", "-1GB", "0.5B", "1XB", "", "1e30TB"] {
        let err = parse_size(bad).expect_err(bad);
        assert_eq!(err.code(), crate::ErrorCode::InvalidInput, "{bad}");
    }
}

/// Runs `body` on a thread with a small stack, as a server worker might have: a parser or
/// evaluator that recursed with the input's size would overflow it and abort the test binary.
fn on_small_stack<T: Send + 'static>(body: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::Builder::new()
        .stack_size(512 * 1024)
        .spawn(body)
        .expect("thread")
        .join()
        .expect("no panic")
}

#[test]
fn hostile_nesting_is_a_positioned_error_not_a_stack_overflow() {
    let parens = format!("{}size > 1{}", "(".repeat(2000), ")".repeat(2000));
    let nots = "not ".repeat(10_000) + "size > 1";
    let bangs = "!".repeat(10_000) + "size > 1";
    for (what, rule) in [("parentheses", parens), ("not", nots), ("!", bangs)] {
        let error = on_small_stack(move || Rule::parse(&rule)).expect_err(what);
        assert!(
            error.message.contains("nested deeper than 64")
                || error.message.contains("limit is 4096"),
            "{what}: {}",
            error.message
        );
    }
    // Within the length limit, depth is what stops it, at the 65th level.
    let error = Rule::parse(&format!("{}size > 1{}", "(".repeat(65), ")".repeat(65)))
        .expect_err("65 levels");
    assert_eq!(error.column, 65, "{error}");
    let deepest = format!("{}size > 1{}", "(".repeat(64), ")".repeat(64));
    assert!(Rule::parse(&deepest).is_ok(), "64 levels are allowed");
}

#[test]
fn long_chains_are_flat_and_evaluate_on_a_small_stack() {
    // A tree built pairwise would be 250 levels deep.
    let chain = vec!["uid == 1000"; 250].join(" and ") + " or size > 1GB";
    assert!(chain.len() <= MAX_RULE_LEN);
    let matched = on_small_stack(move || {
        let rule = Rule::parse(&chain).expect("a long chain parses");
        let file = meta(10, Some(1));
        let result = rule.evaluate(&facts("/a/b.txt", &file, None));
        drop(rule);
        result
    });
    assert_eq!(matched, Some(true));
    let huge = vec!["uid == 1"; 70_000].join(" or ");
    let error = Rule::parse(&huge).expect_err("too long");
    assert!(error.message.contains("the limit is 4096"), "{error}");
    assert!(
        error.rule.len() <= MAX_RULE_LEN,
        "the error does not echo megabytes back"
    );
}

#[test]
fn three_valued_logic_holds_in_long_chains() {
    let file = meta(10, None);
    let eval = |rule: &str| {
        Rule::parse(rule)
            .expect(rule)
            .evaluate(&facts("/a/b.txt", &file, None))
    };
    // mtime is unknown: an unknown term leaves and/or unknown unless another term decides.
    assert_eq!(
        eval("size == 10 and uid == 1000 and mtime > 2020-01-01"),
        None
    );
    assert_eq!(
        eval("size == 10 and uid == 7 and mtime > 2020-01-01"),
        Some(false)
    );
    assert_eq!(eval("size == 9 or uid == 7 or mtime > 2020-01-01"), None);
    assert_eq!(
        eval("size == 9 or mtime > 2020-01-01 or uid == 1000"),
        Some(true)
    );
    assert_eq!(eval("not (size == 9 or uid == 7)"), Some(true));
}

#[test]
fn deeply_nested_glob_alternations_are_rule_errors() {
    let mut pattern = "b".to_owned();
    for _ in 0..200 {
        pattern = format!("{{a,{pattern}}}");
    }
    let rule = format!("name matches '{pattern}'");
    let error = on_small_stack(move || Rule::parse(&rule)).expect_err("refused");
    assert!(
        error.message.starts_with("bad glob: alternations"),
        "{error}"
    );
    assert_eq!(
        error.column,
        15 + 3 * 8,
        "the caret is at the ninth brace: {error}"
    );
}

#[test]
fn move_and_archive_destinations_must_be_absolute_and_plain() {
    let policy = |action: &str| {
        Policy::from_json(&format!(
            r#"{{"name": "p", "rules": ["size > 1"], "action": {action}}}"#
        ))
        .expect("parses")
        .compile()
    };
    for (destination, problem) in [
        (r#""""#, "is empty"),
        (r#""../../etc""#, "is not an absolute path"),
        (r#""/archive/../etc""#, "contains '..'"),
        (r#""/archive\u0000x""#, "holds a NUL byte"),
    ] {
        let action = format!(r#"{{"type": "move", "destination": {destination}}}"#);
        let error = policy(&action).expect_err(destination);
        let text = error.to_string();
        assert!(
            text.contains("action.destination") && text.contains(problem),
            "{text}"
        );
    }
    let error = policy(r#""archive""#).expect_err("no destination");
    assert!(error.to_string().contains("need a destination"), "{error}");
    assert!(policy(r#"{"type": "archive", "destination": "/archive"}"#).is_ok());
}

#[test]
fn a_policy_has_at_most_so_many_rules() {
    let mut policy =
        Policy::from_json(r#"{"name": "p", "rules": ["size > 1"], "action": "report"}"#)
            .expect("parses");
    policy.rules = vec!["size > 1".into(); MAX_POLICY_RULES + 1];
    let error = policy.compile().expect_err("too many");
    assert_eq!(error.code(), crate::ErrorCode::TooLarge, "{error}");
}
