//! `spectra scan`: runs the core scanner and prints its report.

use std::fmt::Write as _;
use std::io::IsTerminal;
use std::ops::ControlFlow;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use spectra_core::format::bytes as human;
use spectra_core::policy::Policy;
use spectra_core::scan::{ScanControl, ScanReport, ScanSettings, Scanner};

use crate::render::{csv_field, print_outcome};
use spectra_core::policy::{ActionHooks, StateDir};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Aligned, human-readable tables.
    Table,
    /// The full report as one JSON document (the `ScanReport` type).
    Json,
    /// One row per figure: `section,name,count,bytes`.
    Csv,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum WalkerBackend {
    Native,
    Portable,
}

#[derive(Debug, Args)]
pub struct ScanArgs {
    /// Directories (or files) to scan.
    #[arg(required = true, value_name = "PATH")]
    paths: Vec<PathBuf>,
    /// How many of the largest files and directories to list.
    #[arg(long, default_value_t = spectra_core::scan::DEFAULT_TOP)]
    top: usize,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
    /// Leave out entries matching this glob (repeatable). Without a `/` it matches names at any
    /// depth (`*.tmp`, `node_modules`); with one, paths relative to the root (`build/**/*.o`).
    #[arg(long, value_name = "GLOB")]
    exclude: Vec<String>,
    /// Stay on the filesystem of each root (like `du -x`).
    #[arg(short = 'x', long)]
    one_file_system: bool,
    /// Rank by apparent size (file length) instead of disk usage.
    #[arg(long)]
    apparent_size: bool,
    /// Worker threads (default: 6 per CPU the process may use, at most 64; core's
    /// DEFAULT_THREADS_PER_CPU and MAX_DEFAULT_THREADS).
    #[arg(long)]
    threads: Option<usize>,
    /// How many extensions to list by name (the rest are summed as "other").
    #[arg(long, value_name = "N")]
    top_extensions: Option<usize>,
    /// Which walker reads the tree (default: SPECTRA_BACKEND, else native on Linux).
    #[arg(long, value_enum)]
    walker: Option<WalkerBackend>,
    /// Do not descend below this depth (the root is depth 0).
    #[arg(long)]
    max_depth: Option<usize>,
    /// Follow symlinks to directories and files (loops are detected and skipped).
    #[arg(short = 'L', long)]
    follow_symlinks: bool,
    /// Count every hard link of a file, not just the first one seen.
    #[arg(long)]
    count_links: bool,
    /// Evaluate this policy file during the scan: the plan (a dry run) is saved and summed up on
    /// stderr. The seed's `--analyze --policy FILE` form.
    #[arg(long, value_name = "FILE")]
    policy: Option<PathBuf>,
    /// With --policy, the same as --policy alone (the seed's `--analyze --policy FILE`); with
    /// --server, plan the server's policies on the scanned paths and report the plans.
    #[arg(long)]
    analyze: bool,
    /// Enforce the plans just made (each file re-checked, quarantined, audited): the one made
    /// with --policy, or with --server --analyze those of the server's destructive policies.
    #[arg(long)]
    enforce: bool,
    #[cfg(feature = "agent")]
    #[command(flatten)]
    server: ServerArgs,
}

/// The seed's one-shot agent: `spectra scan PATH --server URL [--analyze] [--enforce]`.
#[cfg(feature = "agent")]
#[derive(Debug, Args)]
struct ServerArgs {
    /// Send the report to this server as a snapshot (enrolling first if the state directory
    /// has no agent identity); with --analyze, plan its policies too.
    #[arg(
        long,
        env = "SPECTRA_SERVER",
        value_name = "URL",
        conflicts_with = "policy"
    )]
    server: Option<String>,
    /// The token to enroll with, when not enrolled yet.
    #[arg(
        long,
        env = "SPECTRA_ENROLLMENT_TOKEN",
        value_name = "TOKEN",
        hide_env_values = true,
        requires = "server"
    )]
    enroll_token: Option<String>,
    /// The agent's state directory (identity, spool) [default: as `spectra agent`'s].
    #[arg(long, value_name = "DIR", requires = "server")]
    state_dir: Option<PathBuf>,
    /// Upload the file index of PATH too (per-file metadata, never contents): the same walk
    /// feeds the report and the index; after the first crawl only changes are sent.
    #[arg(long, requires = "server", conflicts_with = "analyze")]
    index: bool,
    /// The storage location the index is filed under [default: HOSTNAME:PATH].
    #[arg(long, value_name = "NAME", requires = "index")]
    backend: Option<String>,
}

impl ScanArgs {
    /// The flags as core's settings: the same form every binding passes, so the same names
    /// give the same scan. A switch not given is left to core's default.
    fn settings(&self) -> ScanSettings {
        ScanSettings {
            top: Some(self.top),
            top_extensions: self.top_extensions,
            exclude: Some(self.exclude.clone()),
            one_file_system: self.one_file_system.then_some(true),
            apparent_size: self.apparent_size.then_some(true),
            threads: self.threads,
            max_depth: self.max_depth,
            follow_symlinks: self.follow_symlinks.then_some(true),
            count_links: self.count_links.then_some(true),
            walker: self.walker.map(|walker| match walker {
                WalkerBackend::Native => spectra_core::Backend::Native,
                WalkerBackend::Portable => spectra_core::Backend::Portable,
            }),
        }
    }

    #[cfg(feature = "agent")]
    fn server(&self) -> Option<&str> {
        self.server.server.as_deref()
    }

    #[cfg(not(feature = "agent"))]
    fn server(&self) -> Option<&str> {
        None
    }
}

pub fn run(args: &ScanArgs) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(
        !(args.analyze || args.enforce) || args.policy.is_some() || args.server().is_some(),
        "--analyze and --enforce need --policy FILE or --server URL"
    );
    // A snapshot names its roots by absolute path.
    let roots = if args.server().is_some() {
        args.paths
            .iter()
            .map(std::path::absolute)
            .collect::<Result<Vec<_>, _>>()
            .context("making the paths absolute")?
    } else {
        args.paths.clone()
    };
    let options = args.settings().options(roots.clone());
    // Validate options (and the policy) before any progress bar appears.
    Scanner::new(options.clone())?;
    let policy = args.policy.as_deref().map(Policy::load).transpose()?;
    if let Some(policy) = &policy {
        policy.compile()?;
    }
    let state = StateDir::resolve(None);
    let bar = std::io::stderr().is_terminal().then(|| {
        let bar = ProgressBar::new_spinner();
        bar.set_style(
            ProgressStyle::with_template("{spinner} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        bar
    });
    let mut control = ScanControl::new();
    if let Some(bar) = &bar {
        control = control.every(Duration::from_millis(120)).on_progress(|p| {
            let current = p
                .current
                .as_ref()
                .map(|c| c.display().to_string())
                .unwrap_or_default();
            bar.set_message(format!(
                "{} entries, {}  {current}",
                p.entries,
                human(p.bytes)
            ));
            bar.tick();
            ControlFlow::Continue(())
        });
    }
    let outcome = match &policy {
        #[cfg(feature = "agent")]
        None if args.server.index => {
            drop(control);
            index_on_server(args, options).map(|report| (report, None))
        }
        None => Scanner::new(options)?
            .scan_controlled(control)
            .map(|report| (report, None))
            .map_err(anyhow::Error::from),
        Some(policy) => state
            .plan(policy, options, control)
            .map(|saved| (saved.report, Some((saved.plan, saved.saved_as))))
            .map_err(anyhow::Error::from),
    };
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }
    let (report, plan) = outcome?;
    let rendered = match args.format {
        Format::Table => render_table(&report),
        Format::Json => {
            serde_json::to_string_pretty(&report).context("encoding the report as JSON")? + "\n"
        }
        Format::Csv => render_csv(&report),
    };
    crate::render::write_stdout(&rendered)?;
    if let Some((plan, saved)) = &plan {
        eprintln!(
            "spectra: plan {} (policy '{}'): {} files, {} — saved as {}",
            plan.id,
            plan.policy.name,
            plan.files.len(),
            human(plan.total_bytes),
            saved.display()
        );
        if args.enforce {
            let (plan, outcome) = state.enforce(&plan.id, false, ActionHooks::default())?;
            return Ok(print_outcome(&plan, &outcome, &mut std::io::stderr()));
        }
    }
    #[cfg(feature = "agent")]
    if args.server().is_some() {
        send_to_server(args, &roots, report.clone())?;
    }
    if report.partial {
        eprintln!(
            "spectra: warning: {} entries could not be read{}",
            report.errors.count,
            report
                .errors
                .sample
                .first()
                .map(|e| format!(" (first: {}: {})", e.path, e.message))
                .unwrap_or_default()
        );
        return Ok(ExitCode::from(crate::exit::NEGATIVE));
    }
    Ok(ExitCode::SUCCESS)
}

fn render_table(report: &ScanReport) -> String {
    let t = &report.totals;
    let mut out = String::new();
    let roots: Vec<String> = report.roots.iter().map(ToString::to_string).collect();
    let _ = writeln!(
        out,
        "Scanned {} in {:.2} s{} ({} backend{})",
        roots.join(", "),
        report.duration_secs,
        if report.partial { " (partial)" } else { "" },
        report.backend,
        if report.disk_bytes_are_apparent {
            "; disk sizes are apparent sizes"
        } else {
            ""
        }
    );
    let _ = writeln!(
        out,
        "  {} files, {} directories, {} symlinks, {} other",
        t.files, t.dirs, t.symlinks, t.others
    );
    let _ = writeln!(
        out,
        "  {} on disk, {} apparent ({} / {} bytes)",
        human(t.disk_bytes),
        human(t.apparent_bytes),
        t.disk_bytes,
        t.apparent_bytes
    );
    let mode = report.size_mode;
    let measure = mode.as_str();
    let _ = writeln!(out, "\nLargest files ({measure}):");
    for f in &report.largest_files {
        let _ = writeln!(out, "  {:>10}  {}", human(f.bytes(mode)), f.path);
    }
    let _ = writeln!(out, "\nLargest directories ({measure}):");
    for d in &report.largest_dirs {
        let _ = writeln!(out, "  {:>10}  {}", human(d.bytes(mode)), d.path);
    }
    let _ = writeln!(out, "\nExtensions:");
    let ext_rows = report
        .extensions
        .iter()
        .chain(std::iter::once(&report.other_extensions));
    for (i, e) in ext_rows.enumerate() {
        let name = if i == report.extensions.len() {
            "(other)"
        } else if e.name.is_empty() {
            "(none)"
        } else {
            &e.name
        };
        if e.count > 0 {
            let _ = writeln!(
                out,
                "  {:>10}  {:>9} files  {name}",
                human(e.bytes),
                e.count
            );
        }
    }
    let _ = writeln!(out, "\nOwners:");
    for o in &report.owners {
        let who = o.label();
        let _ = writeln!(
            out,
            "  {:>10}  {:>9} entries  {who}",
            human(o.bytes),
            o.count
        );
    }
    let _ = writeln!(out, "\nAge of files (modified / accessed):");
    for (m, a) in report.age_by_mtime.iter().zip(&report.age_by_atime) {
        if m.count + a.count > 0 {
            let _ = writeln!(
                out,
                "  {:>11}  {:>10} {:>9} files  |  {:>10} {:>9} files",
                m.label,
                human(m.bytes),
                m.count,
                human(a.bytes),
                a.count
            );
        }
    }
    let skipped = [
        ("unreadable", report.errors.count),
        ("vanished during the scan", report.vanished),
        ("excluded", report.excluded),
        ("mount points not crossed", report.mount_points_skipped),
        (
            "directories reached twice through symlinks",
            report.revisits_skipped,
        ),
        ("further hard links not counted again", t.hard_links_skipped),
    ];
    if skipped.iter().any(|(_, n)| *n > 0) {
        let _ = writeln!(out, "\nSkipped:");
        for (what, n) in skipped.into_iter().filter(|(_, n)| *n > 0) {
            let _ = writeln!(out, "  {n:>10}  {what}");
        }
        for e in &report.errors.sample {
            let _ = writeln!(out, "              {}: {} ({})", e.path, e.message, e.code);
        }
    }
    out
}

/// `--index`: one walk of the one PATH, its index uploaded as it goes; the report.
#[cfg(feature = "agent")]
fn index_on_server(
    args: &ScanArgs,
    options: spectra_core::scan::ScanOptions,
) -> anyhow::Result<ScanReport> {
    anyhow::ensure!(
        options.roots.len() == 1,
        "--index crawls one PATH at a time ({} given)",
        options.roots.len()
    );
    let settings = spectra_agent::AgentConfig::default()
        .resolve(
            args.server.server.clone(),
            args.server.enroll_token.clone(),
            args.server.state_dir.clone(),
        )?
        .one_shot();
    let runtime = crate::admin_cmd::runtime()?;
    let (report, upload) = runtime.block_on(spectra_agent::index_once(
        &settings,
        args.server.backend.clone(),
        options,
    ))?;
    eprintln!(
        "spectra: index of {} sent ({} crawl, {} batches, {} files sent, {} removed; the \
         server holds {} files{})",
        upload.backend,
        if upload.delta { "delta" } else { "full" },
        upload.batches,
        upload.files_sent,
        upload.removed,
        upload.files.unwrap_or_default(),
        if upload.resync {
            "; it counted otherwise, so the next crawl is full"
        } else {
            ""
        }
    );
    Ok(report)
}

/// The one-shot agent: the report as a snapshot, and with --analyze the server's policies
/// planned (and with --enforce, enforced) on the scanned paths, each plan reported.
#[cfg(feature = "agent")]
fn send_to_server(args: &ScanArgs, roots: &[PathBuf], report: ScanReport) -> anyhow::Result<()> {
    use spectra_agent::config::{RootConfig, RootTable};
    let config = spectra_agent::AgentConfig {
        roots: roots
            .iter()
            .map(|path| {
                RootConfig::Table(RootTable {
                    path: path.clone(),
                    enforce: args.enforce,
                })
            })
            .collect(),
        ..spectra_agent::AgentConfig::default()
    };
    let settings = config
        .resolve(
            args.server.server.clone(),
            args.server.enroll_token.clone(),
            args.server.state_dir.clone(),
        )?
        .one_shot();
    let runtime = crate::admin_cmd::runtime()?;
    let (snapshot, plans) =
        runtime.block_on(spectra_agent::scan_once(settings, report, args.analyze))?;
    eprintln!(
        "spectra: snapshot {} sent to {}",
        snapshot.snapshot_id,
        args.server().unwrap_or_default()
    );
    for plan in plans {
        let done = match &plan.enforcement {
            Some(outcome) => format!(
                "; enforced: {} moved, {} skipped",
                outcome.quarantined.len(),
                outcome.skipped.len()
            ),
            None => String::new(),
        };
        eprintln!(
            "spectra: plan {} (policy '{}', {}) on {}: {} files, {}{done} — reported",
            plan.plan_id,
            plan.policy,
            plan.action,
            plan.root,
            plan.files,
            human(plan.bytes)
        );
    }
    Ok(())
}

fn render_csv(report: &ScanReport) -> String {
    let mut out = String::from("section,name,count,bytes\n");
    for row in report.summary_rows() {
        let _ = writeln!(
            out,
            "{},{},{},{}",
            row.section,
            csv_field(&row.name),
            row.count,
            row.bytes
        );
    }
    out
}
