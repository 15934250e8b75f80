//! `spectra policy`: check policy files and explain what a policy sees in a file.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use spectra_core::policy::{FileFacts, Policy};

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
    /// Show which rules of a policy match PATH, with the values they saw. Exit 0 when the
    /// policy selects the file, 1 when it does not.
    Explain {
        path: PathBuf,
        #[arg(long, value_name = "FILE")]
        policy: PathBuf,
    },
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
