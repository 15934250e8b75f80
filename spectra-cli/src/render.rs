//! What the commands print, shared: results as `key = value` lines, CSV fields, and the
//! outcome of an enforcement.

use std::fmt::Write as _;
use std::process::ExitCode;

use spectra_core::format::bytes;
use spectra_core::policy::{EnforceOutcome, Plan, PlanListing, Quarantine};
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

/// The saved plans as a table, newest first, then the files that are not plans.
pub fn plan_listing(listing: &PlanListing) -> String {
    let mut text = String::new();
    if listing.plans.is_empty() && listing.unreadable.is_empty() {
        text.push_str("no saved plans (make one with `spectra policy plan PATH --policy FILE`)\n");
    }
    for plan in &listing.plans {
        let roots: Vec<String> = plan.roots.iter().map(ToString::to_string).collect();
        let _ = writeln!(
            text,
            "{}  {}  {:<20}  {:<7}  {:>7} files  {:>10}  {}{}",
            plan.id,
            plan.created_at.format("%Y-%m-%d %H:%M:%SZ"),
            plan.policy,
            plan.action,
            plan.files,
            bytes(plan.total_bytes),
            roots.join(", "),
            if plan.scan_partial {
                "  (partial scan: cannot be enforced)"
            } else {
                ""
            }
        );
    }
    for file in &listing.unreadable {
        let _ = writeln!(text, "unreadable  {}: {}", file.path.display(), file.reason);
    }
    text
}

/// The quarantines as a table: plan, files and bytes still held, last enforcement, where.
pub fn quarantine_list(quarantines: &[Quarantine]) -> String {
    let mut text = String::new();
    if quarantines.is_empty() {
        text.push_str("no quarantines\n");
    }
    for quarantine in quarantines {
        let last_used = quarantine
            .last_used
            .map(|at| at.format("%Y-%m-%d %H:%M:%SZ").to_string())
            .unwrap_or_else(|| "unknown".to_owned());
        let _ = writeln!(
            text,
            "{}  {:>7} files  {:>10}  last used {last_used}  {}{}",
            quarantine.plan_id,
            quarantine.files,
            bytes(quarantine.bytes),
            quarantine.directory.display(),
            quarantine
                .problem
                .as_deref()
                .map(|problem| format!("  (problem: {problem})"))
                .unwrap_or_default()
        );
    }
    text
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
