//! What the commands print, shared: results as `key = value` lines, CSV fields, and the
//! outcome of an enforcement.

use std::fmt::Write as _;
use std::process::ExitCode;

use spectra_core::policy::{EnforceOutcome, Plan};
use spectra_core::protocol::flatten;

/// A result as `key = value` lines, one per leaf, named as the server's history and
/// Prometheus name them (`used{mount_point="/"}`: core's one flattening).
pub fn table(value: &serde_json::Value) -> String {
    let leaves = flatten::leaves(value, flatten::DISPLAY_LIMITS);
    if leaves.is_empty() {
        return "  (none)\n".to_owned();
    }
    let mut out = String::new();
    for leaf in leaves {
        let _ = writeln!(out, "  {} = {}", leaf.key(), leaf.value);
    }
    out
}

/// A CSV field, quoted only when it must be.
pub fn csv_field(value: &str) -> String {
    if value.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", value.replace('"', "\"\""))
    } else {
        value.to_string()
    }
}

/// Writes `text` to stdout; a closed pipe (`spectra stale | head`) is the reader's choice,
/// not a failure.
pub fn write_stdout(text: &str) -> anyhow::Result<()> {
    use std::io::Write as _;
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(anyhow::Error::new(e).context("writing to stdout"))
        }
        _ => Ok(()),
    }
}

/// Writes what an enforcement did to `out`; exit 1 when it skipped files.
pub fn print_outcome(
    plan: &Plan,
    outcome: &EnforceOutcome,
    out: &mut dyn std::io::Write,
) -> ExitCode {
    let mut text = String::new();
    for q in &outcome.quarantined {
        let _ = writeln!(text, "quarantined  {}", q.original.display());
    }
    for k in &outcome.skipped {
        let _ = writeln!(text, "skipped      {}: {}", k.path.display(), k.reason);
    }
    let stopped = if outcome.stopped {
        " (stopped: too many failures)"
    } else {
        ""
    };
    let _ = writeln!(
        text,
        "{} quarantined, {} skipped{stopped}; undo with: spectra policy restore {}",
        outcome.quarantined.len(),
        outcome.skipped.len(),
        plan.id
    );
    // The files were acted on whether or not this message can be shown.
    let _ = out.write_all(text.as_bytes());
    if outcome.skipped.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(crate::exit::NEGATIVE)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_render_with_the_series_names() {
        let value = serde_json::json!({
            "load_1": 0.5,
            "total": {"usage_percent": 12.345},
            "mounts": [{"mount_point": "/", "total": 10}],
        });
        let text = table(&value);
        assert!(text.contains("  load_1 = 0.50\n"), "{text}");
        assert!(text.contains("  total.usage_percent = 12.35\n"), "{text}");
        assert!(
            text.contains("  mounts.total{mount_point=\"/\"} = 10\n"),
            "{text}"
        );
        assert_eq!(table(&serde_json::json!([])), "  (none)\n");
    }

    #[test]
    fn csv_fields_are_quoted_only_when_needed() {
        assert_eq!(csv_field("plain/path"), "plain/path");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("two\nlines"), "\"two\nlines\"");
    }
}
