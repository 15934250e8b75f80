//! `Diagnostic::run`, the one entry point of every frontend: its defaults, its verdict, and
//! the overall bounds (cancellation and the whole-run timeout).

use std::time::Duration;

use spectra_core::diagnose::{
    DEFAULT_DISK_USAGE_TOP, DEFAULT_LOG_LINES, DEFAULT_PING_COUNT, Diagnostic, DiagnosticLimits,
    DiagnosticOutput,
};
use spectra_core::{CancelToken, ErrorCode};

fn run(diagnostic: &Diagnostic) -> spectra_core::Result<spectra_core::diagnose::DiagnosticOutcome> {
    diagnostic.run(&DiagnosticLimits::default(), &CancelToken::new())
}

#[test]
fn the_wire_form_and_the_constants_are_one_set_of_defaults() {
    let ping: Diagnostic =
        serde_json::from_value(serde_json::json!({"kind": "ping", "args": {"host": "h"}}))
            .expect("ping");
    assert_eq!(
        ping,
        Diagnostic::Ping {
            host: "h".into(),
            count: DEFAULT_PING_COUNT
        }
    );
    let logs: Diagnostic =
        serde_json::from_value(serde_json::json!({"kind": "logs", "args": {}})).expect("logs");
    assert!(matches!(logs, Diagnostic::Logs { lines, .. } if lines == DEFAULT_LOG_LINES));
    let limits = DiagnosticLimits::default();
    assert_eq!(
        limits,
        DiagnosticLimits::with_probe_seconds(None).expect("none")
    );
    assert_eq!(
        DiagnosticLimits::with_probe_seconds(Some(0.5))
            .expect("half a second")
            .probe_timeout,
        Duration::from_millis(500)
    );
    for bad in [-1.0, 0.0, 31.0, f64::NAN] {
        let err = DiagnosticLimits::with_probe_seconds(Some(bad)).expect_err("refused");
        assert_eq!(err.code(), ErrorCode::InvalidInput, "{bad}");
    }
}

#[test]
fn the_verdict_is_in_the_outcome() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let open = run(&Diagnostic::TcpConnect {
        host: "127.0.0.1".into(),
        port,
    })
    .expect("connect");
    assert!(open.positive);
    drop(listener);
    let closed = run(&Diagnostic::TcpConnect {
        host: "127.0.0.1".into(),
        port,
    })
    .expect("connect");
    assert!(
        !closed.positive,
        "a refused connection is a negative answer, not an error"
    );
    let json = serde_json::to_value(&closed.output).expect("json");
    assert_eq!(
        json["connected"], false,
        "the output serializes as the result itself"
    );
    let mounts = run(&Diagnostic::Mounts).expect("mounts");
    assert!(
        mounts.positive
            && matches!(mounts.output, DiagnosticOutput::Mounts(ref m) if !m.is_empty())
    );
}

#[test]
fn disk_usage_lists_the_default_top() {
    let dir = tempfile::tempdir().expect("tmp");
    for i in 0..(DEFAULT_DISK_USAGE_TOP + 5) {
        std::fs::write(dir.path().join(format!("f{i}")), vec![0u8; i + 1]).expect("write");
    }
    let wire = serde_json::json!({"kind": "disk_usage", "args": {"path": dir.path()}});
    let du: Diagnostic = serde_json::from_value(wire).expect("du");
    let outcome = run(&du).expect("du");
    let DiagnosticOutput::DiskUsage(report) = outcome.output else {
        panic!("disk usage answers with a scan report");
    };
    assert_eq!(report.largest_files.len(), DEFAULT_DISK_USAGE_TOP);
}

#[test]
fn a_cancelled_or_overdue_diagnostic_stops_with_its_own_code() {
    let cancelled = CancelToken::new();
    cancelled.cancel();
    let err = Diagnostic::Ping {
        host: "127.0.0.1".into(),
        count: 3,
    }
    .run(&DiagnosticLimits::default(), &cancelled)
    .expect_err("cancelled before the first probe");
    assert!(
        matches!(err.code(), ErrorCode::Cancelled | ErrorCode::Unsupported),
        "{err}"
    );

    // A whole-tree scan that cannot finish in a millisecond.
    let limits = DiagnosticLimits {
        overall_timeout: Duration::from_millis(1),
        ..DiagnosticLimits::default()
    };
    let started = std::time::Instant::now();
    let err = Diagnostic::DiskUsage {
        path: "/usr".into(),
        top: 5,
    }
    .run(&limits, &CancelToken::new())
    .expect_err("over time");
    assert_eq!(err.code(), ErrorCode::Timeout, "{err}");
    assert!(
        err.to_string().contains("did not finish within 0.001 s"),
        "{err}"
    );
    assert!(started.elapsed() < Duration::from_secs(10));

    let cancel = CancelToken::new();
    let stop = cancel.clone();
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(20));
        stop.cancel();
    });
    let err = Diagnostic::DiskUsage {
        path: "/".into(),
        top: 5,
    }
    .run(&DiagnosticLimits::default(), &cancel)
    .expect_err("cancelled during the scan");
    assert_eq!(err.code(), ErrorCode::Cancelled, "{err}");
}
