use super::*;

fn parse(source: &str) -> Condition {
    Condition::parse(source).unwrap_or_else(|e| panic!("{source}: {e}"))
}

fn error_of(source: &str) -> RuleError {
    Condition::parse(source).expect_err(source)
}

#[test]
fn thresholds_parse_with_their_units_labels_and_for() {
    let root = parse(r#"disk.usage_percent{mount_point="/"} > 90 for 10m"#);
    assert_eq!(root.selector.kind, "disk");
    assert_eq!(root.selector.field, "usage_percent");
    assert_eq!(
        root.selector.labels,
        vec![("mount_point".into(), "/".into())]
    );
    assert_eq!((root.op, root.value), (CompareOp::Gt, 90.0));
    assert_eq!(root.for_duration, Duration::from_secs(600));
    assert_eq!(root.selector.source(), Source::Metric);

    let memory = parse("memory.available < 500MB");
    assert_eq!((memory.op, memory.value), (CompareOp::Lt, 500e6));
    assert_eq!(memory.for_duration, Duration::ZERO);
    assert_eq!(parse("disk.usage_percent >= 95% for 5m").value, 95.0);
    assert_eq!(
        parse("memory.available < 1GiB").value,
        1024.0 * 1024.0 * 1024.0
    );

    let quiet = parse("agent.heartbeat_age > 5m");
    assert_eq!(
        (quiet.selector.source(), quiet.value),
        (Source::Heartbeat, 300.0)
    );
    let quota = parse(r#"quota.level{subject="team:vision"} >= hard"#);
    assert_eq!((quota.selector.source(), quota.value), (Source::Quota, 2.0));
    let service = parse(r#"service.down{name="nginx.service"} == 1"#);
    assert_eq!(service.selector.source(), Source::Service);

    let full = parse(r#"time_to_full(disk.usage_percent{mount_point="/data"}, 6h) < 24h"#);
    assert_eq!(full.fit_window, Some(Duration::from_secs(6 * 3600)));
    assert_eq!(full.value, 86_400.0);
    assert!(full.holds(3600.0) && !full.holds(90_000.0));
}

#[test]
fn conditions_are_checked_against_the_metric_schema() {
    // The probe's nonsense, each refused where it goes wrong.
    let cases: [(&str, usize, &str); 9] = [
        (
            "disk.usage_percent > 90GB for 10m",
            22,
            "is a size, but disk.usage_percent is in percent",
        ),
        (
            "time_to_full(memory.available, 1h) < 1h",
            14,
            "does not fill up",
        ),
        (
            "time_to_full(disk.used, 1h) < 1h",
            14,
            "fills towards disk.total",
        ),
        (
            "time_to_full(disk.usage_percent, 400d) < 1h",
            34,
            "at most 30d",
        ),
        ("memroy.usedd > 1", 1, "no metric kind 'memroy'"),
        ("memory.usedd > 1", 1, "known: memory.total, memory.used"),
        (
            "memory.used > 90d",
            15,
            "is a duration, but memory.used is in bytes",
        ),
        ("disk.fs_type > 1", 1, "is text"),
        ("disk.used_percent > 90", 1, "disk.usage_percent"),
    ];
    for (source, column, words) in cases {
        let error = error_of(source);
        assert_eq!(error.column, column, "{source}: {error}");
        assert!(error.message.contains(words), "{source}: {error}");
    }
    // Units convert into the field's own.
    assert_eq!(parse("disk_io.rates.read_latency_ms > 2s").value, 2000.0);
    assert_eq!(parse("network.rates.rx_bytes_per_sec > 10MB").value, 10e6);
    assert_eq!(parse("disk.usage_percent > 90%").value, 90.0);
    assert_eq!(parse("processes.by_state.zombie > 5").value, 5.0);
    assert_eq!(
        parse("memory.ram_used_pct > 90").value,
        90.0,
        "the Go agent's fields too"
    );
}

#[test]
fn errors_point_at_the_column() {
    let cases: [(&str, usize, &str); 9] = [
        ("disk.usage_percent > ", 22, "expected a value"),
        ("usage_percent > 90", 1, "name the kind and the field"),
        ("disk.usage_percent = 90", 20, "use '=='"),
        ("disk.usage_percent > 90 for", 28, "duration"),
        ("disk.usage_percent > 90 for 10", 29, "not a duration"),
        ("disk.usage_percent > 9zz", 22, "unknown unit"),
        (r#"disk.used{mount_point=root} > 1"#, 23, "quoted text"),
        ("agent.heartbeat_age > 5GB", 23, "not a duration"),
        (
            "time_to_full(disk.usage_percent, 10s) < 1h",
            34,
            "at least 1m",
        ),
    ];
    for (source, column, words) in cases {
        let error = error_of(source);
        assert_eq!(error.column, column, "{source}: {error}");
        assert!(error.message.contains(words), "{source}: {error}");
    }
    assert!(
        error_of("service.down > 0")
            .message
            .contains("needs the unit")
    );
    assert!(error_of("quota.used > 0").message.contains("built-in"));
    let long = format!(
        "cpu.total.usage_percent > {}",
        "9".repeat(MAX_CONDITION_LEN)
    );
    assert!(error_of(&long).message.contains("limit"));
    // Found by the fuzzer: the limit falling inside a two-byte character.
    let straddling = format!("{}\u{663}", "a".repeat(MAX_CONDITION_LEN - 1));
    let error = error_of(&straddling);
    assert!(error.message.contains("limit"), "{error}");
    assert_eq!(error.column, MAX_CONDITION_LEN);
}

#[test]
fn rules_compile_with_defaults_from_here_and_refuse_bad_targets() {
    let rule: AlertRule = serde_json::from_str(
        r#"{"name": "hot", "condition": "cpu.total.usage_percent > 95 for 5m",
            "notify": ["webhook:https://example.com/h", "email:ops@example.com"]}"#,
    )
    .expect("rule");
    let compiled = rule.compile().expect("compiles");
    assert_eq!(compiled.cooldown, DEFAULT_COOLDOWN);
    assert_eq!(compiled.rule.severity, Severity::Warning);
    assert_eq!(
        compiled.notify,
        vec![
            Target::Webhook("https://example.com/h".into()),
            Target::Email("ops@example.com".into())
        ]
    );
    let with = |change: &dyn Fn(&mut AlertRule)| {
        let mut bad = rule.clone();
        change(&mut bad);
        bad.compile().expect_err("refused").to_string()
    };
    assert!(with(&|r| r.notify = vec!["ftp://x".into()]).contains("webhook:URL"));
    assert!(with(&|r| r.notify = vec!["webhook:gopher://x".into()]).contains("http"));
    assert!(with(&|r| r.notify = vec!["email:nobody".into()]).contains("email"));
    assert!(with(&|r| r.name = "a/b".into()).contains("'/'"));
    assert!(with(&|r| r.cooldown = Some("soon".into())).contains("duration"));
    let condition = with(&|r| r.condition = "cpu.total.usage_percent >".into());
    assert!(condition.contains("alert rule 'hot'") && condition.contains("column 26"));
}

#[test]
fn scopes_admit_by_agent_and_labels() {
    let labels: BTreeMap<String, String> = [("env".to_owned(), "prod".to_owned())].into();
    assert!(Scope::default().admits("a", &BTreeMap::new()));
    let prod = Scope {
        agent: None,
        labels: labels.clone(),
    };
    assert!(prod.admits("a", &labels) && !prod.admits("a", &BTreeMap::new()));
    let one = Scope {
        agent: Some("a".into()),
        labels: BTreeMap::new(),
    };
    assert!(one.admits("a", &labels) && !one.admits("b", &labels));
}

#[test]
fn selectors_match_their_field_and_labels_only() {
    let selector = parse(r#"disk.usage_percent{mount_point="/"} > 1"#).selector;
    let sample = |path: &[&str], labels: &[(&str, &str)]| Sample {
        path: path.iter().map(|p| p.to_string()).collect(),
        labels: labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        value: 1.0,
    };
    assert!(selector.matches(&sample(&["usage_percent"], &[("mount_point", "/")])));
    assert!(!selector.matches(&sample(&["usage_percent"], &[("mount_point", "/data")])));
    assert!(!selector.matches(&sample(&["usage_percent", "x"], &[("mount_point", "/")])));
    assert!(!selector.matches(&sample(&["used"], &[("mount_point", "/")])));
    assert!(selector.matches_key(r#"usage_percent{mount_point="/"}"#));
    assert!(selector.matches_key(r#"usage_percent{device="sda",mount_point="/"}"#));
    assert!(!selector.matches_key(r#"usage_percent{mount_point="/data"}"#));
    assert!(!selector.matches_key("usage_percent"));
    let nested = parse("cpu.total.usage_percent > 1").selector;
    assert!(nested.matches(&sample(&["total", "usage_percent"], &[])));
    assert_eq!(
        selector.to_string(),
        r#"disk.usage_percent{mount_point="/"}"#
    );
}

#[test]
fn a_steady_rise_is_fitted_and_a_flat_or_falling_one_is_not() {
    // 1 point a minute rising 0.5 a minute from 50: at t = 600 s it is at 55, full (100) in
    // 90 minutes.
    let rising: Vec<(f64, f64)> = (0..=10)
        .map(|m| (m as f64 * 60.0, 50.0 + m as f64 * 0.5))
        .collect();
    let eta = time_to_full(&rising, 100.0).expect("rising");
    assert!((eta - 5400.0).abs() < 1e-6, "{eta}");
    let flat: Vec<(f64, f64)> = (0..10).map(|m| (m as f64 * 60.0, 70.0)).collect();
    assert_eq!(time_to_full(&flat, 100.0), None);
    let falling: Vec<(f64, f64)> = (0..10)
        .map(|m| (m as f64 * 60.0, 70.0 - m as f64))
        .collect();
    assert_eq!(time_to_full(&falling, 100.0), None);
    assert_eq!(time_to_full(&rising[..2], 100.0), None);
    let over: Vec<(f64, f64)> = (0..5).map(|m| (m as f64, 100.0 + m as f64)).collect();
    assert_eq!(time_to_full(&over, 100.0), Some(0.0));
}

#[test]
fn an_alert_goes_pending_firing_resolved_with_one_notice_each_way() {
    let for_5s = Duration::from_secs(5);
    let cooldown = Duration::from_secs(60);
    let (pending, notice) = step(None, true, 1_000, for_5s, cooldown);
    let pending = pending.expect("kept");
    assert_eq!((pending.state, notice), (AlertState::Pending, None));
    let (still, notice) = step(Some(pending), true, 5_999, for_5s, cooldown);
    assert_eq!(
        (still.expect("kept").state, notice),
        (AlertState::Pending, None)
    );
    let (firing, notice) = step(Some(pending), true, 6_000, for_5s, cooldown);
    let firing = firing.expect("kept");
    assert_eq!(
        (firing.state, notice),
        (AlertState::Firing, Some(Notice::Firing))
    );
    assert_eq!((firing.since, firing.fired_at), (1_000, Some(6_000)));
    let (again, notice) = step(Some(firing), true, 7_000, for_5s, cooldown);
    assert_eq!((again, notice), (Some(firing), None));
    let (resolved, notice) = step(Some(firing), false, 8_000, for_5s, cooldown);
    let resolved = resolved.expect("kept");
    assert_eq!(
        (resolved.state, notice),
        (AlertState::Resolved, Some(Notice::Resolved))
    );
    assert_eq!(resolved.resolved_at, Some(8_000));
    assert_eq!(
        step(Some(resolved), false, 9_000, for_5s, cooldown),
        (Some(resolved), None)
    );

    // Firing again within the cooldown: the state says so, no notice either way.
    let zero = Duration::ZERO;
    let (refired, notice) = step(Some(resolved), true, 10_000, zero, cooldown);
    let refired = refired.expect("kept");
    assert_eq!((refired.state, notice), (AlertState::Firing, None));
    let (_, notice) = step(Some(refired), false, 11_000, zero, cooldown);
    assert_eq!(notice, None);
    // After the cooldown it is announced again.
    let (_, notice) = step(Some(resolved), true, 6_000 + 60_000, zero, cooldown);
    assert_eq!(notice, Some(Notice::Firing));
    // A pending alert that stops holding resolves without a word.
    let (quiet, notice) = step(Some(pending), false, 2_000, for_5s, cooldown);
    assert_eq!(
        (quiet.expect("kept").state, notice),
        (AlertState::Resolved, None)
    );
    assert_eq!(step(None, false, 1, zero, cooldown), (None, None));
}

#[test]
fn a_condition_knows_the_unit_of_what_it_compares() {
    use crate::metrics::Unit;
    let unit = |source: &str| Condition::parse(source).expect(source).unit();
    assert_eq!(unit("memory.available < 500MB"), Unit::Bytes);
    assert_eq!(unit("disk.usage_percent > 90"), Unit::Percent);
    assert_eq!(
        unit("time_to_full(disk.usage_percent, 6h) < 1d"),
        Unit::Seconds
    );
    assert_eq!(unit("agent.heartbeat_age > 5m"), Unit::Seconds);
    assert_eq!(
        unit(r#"service.down{name="a.service"} == 1"#),
        Unit::Boolean
    );
    assert_eq!(unit("quota.level >= soft"), Unit::Number);
    assert_eq!(Unit::Bytes.format(903_434_240.0), "861.6 MiB");
    assert_eq!(Unit::Percent.format(93.44), "93.4 %");
    assert_eq!(Unit::Seconds.format(125.0), "2m 5s");
    assert_eq!(Unit::Boolean.format(1.0), "true");
    assert_eq!(Unit::BytesPerSecond.format(2048.0), "2.0 KiB/s");
}
