//! `spectra policy`: check policy files and explain what a policy sees in a file.

use std::path::PathBuf;
use std::process::ExitCode;

use std::fmt::Write as _;
use std::io::Write;

use anyhow::Context;
use clap::{Args, Subcommand};
use spectra_core::policy::{FileFacts, Policy};
use spectra_core::scan::{ScanControl, ScanOptions};

#[derive(Debug, Args)]
pub struct PolicyArgs {
    #[command(subcommand)]
    command: PolicyCommand,
}

#[derive(Debug, Subcommand)]
enum PolicyCommand {
    /// Parse and type-check a policy file (JSON, or TOML when it ends in .toml); errors point
    /// at the rule and column with a caret.
    Check { file: PathBuf },
    /// Dry run: scan PATHs and list what the policy would act on, with totals and the plan
    /// id. Changes nothing.
    Plan {
        #[arg(required = true, value_name = "PATH")]
        paths: Vec<PathBuf>,
        #[arg(long, value_name = "FILE")]
        policy: PathBuf,
        #[arg(long, value_enum, default_value_t = PlanFormat::Table)]
        format: PlanFormat,
        /// Also write the plan as JSON to this file (for a later enforce).
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// Show which rules of a policy match PATH, with the values they saw. Exit 0 when the
    /// policy selects the file, 1 when it does not.
    Explain {
        path: PathBuf,
        #[arg(long, value_name = "FILE")]
        policy: PathBuf,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum PlanFormat {
    Table,
    Json,
    Csv,
}

/// Exit status of `explain` when the policy does not select the file.
const EXIT_NOT_SELECTED: u8 = 1;

pub fn run(args: &PolicyArgs) -> anyhow::Result<ExitCode> {
    match &args.command {
        PolicyCommand::Check { file } => {
            let policy = Policy::load(file)?;
            let compiled = policy.compile()?;
            println!(
                "{}: ok — policy '{}', {} rule(s), action {}",
                file.display(),
                policy.name,
                compiled.rules().len(),
                serde_json::to_string(&policy.action)?
            );
            Ok(ExitCode::SUCCESS)
        }
        PolicyCommand::Plan {
            paths,
            policy,
            format,
            out,
        } => {
            let compiled = Policy::load(policy)?.compile()?;
            let options = ScanOptions {
                roots: paths.clone(),
                ..ScanOptions::default()
            };
            let (plan, _) = spectra_core::policy::plan(&compiled, options, ScanControl::new())?;
            if let Some(out) = out {
                std::fs::write(out, serde_json::to_vec_pretty(&plan)?)
                    .with_context(|| format!("writing {}", out.display()))?;
            }
            let mut text = String::new();
            match format {
                PlanFormat::Json => text = serde_json::to_string_pretty(&plan)? + "\n",
                PlanFormat::Csv => {
                    text.push_str("path,size,mtime\n");
                    for f in &plan.files {
                        let mtime = f.mtime.map(|t| t.secs.to_string()).unwrap_or_default();
                        let _ = writeln!(
                            text,
                            "{},{},{mtime}",
                            crate::scan_cmd::csv_field(&f.path.to_string()),
                            f.size
                        );
                    }
                }
                PlanFormat::Table => {
                    for f in &plan.files {
                        let _ = writeln!(
                            text,
                            "  {:>10}  {}",
                            spectra_core::format::bytes(f.size),
                            f.path
                        );
                    }
                    let _ = writeln!(
                        text,
                        "plan {}: policy '{}' would {} {} files, {}{}",
                        plan.id,
                        plan.policy.name,
                        serde_json::to_value(&plan.policy.action)?["type"]
                            .as_str()
                            .unwrap_or("act on"),
                        plan.files.len(),
                        spectra_core::format::bytes(plan.total_bytes),
                        if plan.scan_partial {
                            " (scan partial: this plan cannot be enforced)"
                        } else {
                            ""
                        }
                    );
                }
            }
            std::io::stdout()
                .lock()
                .write_all(text.as_bytes())
                .context("writing the plan")?;
            Ok(ExitCode::SUCCESS)
        }
        PolicyCommand::Explain { path, policy } => {
            let compiled = Policy::load(policy)?.compile()?;
            let facts = FileFacts::of_path(path, chrono::Utc::now().timestamp())?;
            println!("{}", facts.path);
            println!(
                "  kind={} size={} owner={} group={} extension='{}' depth={}",
                spectra_core::policy::kind_name(facts.meta.kind),
                facts.meta.size,
                facts.owner.as_deref().unwrap_or("(unknown)"),
                facts.group.as_deref().unwrap_or("(unknown)"),
                facts.extension,
                facts.depth
            );
            let day = |t: Option<spectra_core::scan::Timestamp>| {
                t.map_or("unknown".to_string(), |t| {
                    format!("{:.1} days ago", (facts.now - t.secs) as f64 / 86_400.0)
                })
            };
            println!(
                "  modified {}, accessed {}, changed {}",
                day(facts.meta.mtime),
                day(facts.meta.atime),
                day(facts.meta.ctime)
            );
            let outcomes = compiled.explain(&facts.facts());
            for (rule, outcome) in &outcomes {
                let verdict = match outcome {
                    Some(true) => "match   ",
                    Some(false) => "no match",
                    None => "unknown ",
                };
                println!("  {verdict}  {rule}");
            }
            let selected = compiled.matches(&facts.facts());
            println!(
                "{}",
                if selected {
                    "selected: every rule matches"
                } else {
                    "not selected"
                }
            );
            Ok(if selected {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(EXIT_NOT_SELECTED)
            })
        }
    }
}
