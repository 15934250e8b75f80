//! `spectra policy`: check policies, explain them against a file, plan (dry run), enforce a
//! saved plan, restore and purge quarantines, and read the audit log.

use std::path::PathBuf;
use std::process::ExitCode;

use std::fmt::Write as _;
use std::io::Write;

use anyhow::Context;
use clap::{Args, Subcommand};
use spectra_core::policy::{ActionHooks, FileFacts, Policy, StateDir};
use spectra_core::scan::{ScanControl, ScanOptions};

#[derive(Debug, Args)]
pub struct PolicyArgs {
    #[command(subcommand)]
    command: PolicyCommand,
    /// Where plans and the audit log are kept (default: $SPECTRA_STATE_DIR, else
    /// ~/.local/state/spectra).
    #[arg(long, global = true, value_name = "DIR")]
    state_dir: Option<PathBuf>,
}

impl PolicyArgs {
    fn state(&self) -> StateDir {
        StateDir::resolve(self.state_dir.clone())
    }
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
    /// Act on a saved plan: re-check each file and move it into the quarantine. Nothing
    /// happens without --enforce. Exit 1 when some files were skipped.
    Enforce {
        plan_id: String,
        /// Really act (without it, only say what the plan holds).
        #[arg(long)]
        enforce: bool,
        /// Enforce even above the policy's limits.
        #[arg(long)]
        override_limits: bool,
        /// Delete for good right after quarantining (no restore possible).
        #[arg(long)]
        purge_now: bool,
    },
    /// Delete for good the quarantines under PATHs older than --older-than.
    Purge {
        #[arg(required = true, value_name = "PATH")]
        paths: Vec<PathBuf>,
        /// Like 14d, 12h; 0s purges every quarantine.
        #[arg(long, value_name = "DURATION")]
        older_than: String,
    },
    /// Put back everything a plan quarantined (refusing to overwrite what stands there now);
    /// the emptied quarantine is removed.
    Restore { plan_id: String },
    /// The saved plans, newest first: id, policy, action, files and bytes, roots.
    Plans {
        #[arg(long, value_enum, default_value_t = ListFormat::Table)]
        format: ListFormat,
    },
    /// Quarantines: `quarantine list [PATH...]`.
    Quarantine {
        #[command(subcommand)]
        command: QuarantineCommand,
    },
    /// Print the audit log after checking its hash chain (a broken chain is an error, exit
    /// 2, and nothing is printed as if it were intact).
    Audit {
        /// Only check the chain and print how many records it holds.
        #[arg(long)]
        verify: bool,
    },
    /// Show which rules of a policy match PATH, with the values they saw. Exit 0 when the
    /// policy selects the file, 1 when it does not.
    Explain {
        path: PathBuf,
        #[arg(long, value_name = "FILE")]
        policy: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
enum QuarantineCommand {
    /// What is held in quarantine under PATHs (default: the roots of the saved plans): plan,
    /// files and bytes still held, last enforcement.
    List {
        #[arg(value_name = "PATH")]
        paths: Vec<PathBuf>,
        #[arg(long, value_enum, default_value_t = ListFormat::Table)]
        format: ListFormat,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum ListFormat {
    Table,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum PlanFormat {
    Table,
    Json,
    Csv,
}

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
                policy.action.name()
            );
            Ok(ExitCode::SUCCESS)
        }
        PolicyCommand::Plan {
            paths,
            policy,
            format,
            out,
        } => {
            let policy = Policy::load(policy)?;
            let saved =
                args.state()
                    .plan(&policy, ScanOptions::for_policy(paths), ScanControl::new())?;
            let plan = saved.plan;
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
                            crate::render::csv_field(&f.path.to_string()),
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
                        plan.policy.action.name(),
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
            eprintln!("plan saved as {}", saved.saved_as.display());
            Ok(ExitCode::SUCCESS)
        }
        PolicyCommand::Enforce {
            plan_id,
            enforce,
            override_limits,
            purge_now,
        } => {
            let state = args.state();
            if !enforce {
                let plan = state.plans().load(plan_id)?;
                anyhow::bail!(
                    "refusing to act without --enforce: plan {} would {} {} files ({} bytes) under policy '{}'",
                    plan.id,
                    plan.policy.action.name(),
                    plan.files.len(),
                    plan.total_bytes,
                    plan.policy.name
                );
            }
            let (plan, outcome) =
                state.enforce(plan_id, *override_limits, ActionHooks::default())?;
            let code = crate::render::print_outcome(&plan, &outcome, &mut std::io::stdout());
            if *purge_now {
                state.purge_plan(&plan.id, ActionHooks::default())?;
                println!("purged now: the quarantined files are deleted for good");
            }
            Ok(code)
        }
        PolicyCommand::Purge { paths, older_than } => {
            let older_than =
                spectra_core::units::parse_duration(older_than).context("--older-than")?;
            let purged = args
                .state()
                .purge(paths, older_than, ActionHooks::default())?;
            for id in &purged {
                println!("purged  {id}");
            }
            println!("{} quarantines purged", purged.len());
            Ok(ExitCode::SUCCESS)
        }
        PolicyCommand::Restore { plan_id } => {
            let restored = args.state().restore(plan_id, ActionHooks::default())?;
            for path in &restored {
                println!("restored  {}", path.display());
            }
            println!("{} restored", restored.len());
            Ok(ExitCode::SUCCESS)
        }
        PolicyCommand::Plans { format } => {
            let listing = args.state().plans().list()?;
            let text = match format {
                ListFormat::Json => serde_json::to_string_pretty(&listing)? + "\n",
                ListFormat::Table => crate::render::plan_listing(&listing),
            };
            crate::render::write_stdout(&text)?;
            Ok(ExitCode::SUCCESS)
        }
        PolicyCommand::Quarantine {
            command: QuarantineCommand::List { paths, format },
        } => {
            let quarantines = args.state().quarantines(paths)?;
            let text = match format {
                ListFormat::Json => serde_json::to_string_pretty(&quarantines)? + "\n",
                ListFormat::Table => crate::render::quarantine_list(&quarantines),
            };
            crate::render::write_stdout(&text)?;
            Ok(ExitCode::SUCCESS)
        }
        PolicyCommand::Audit { verify } => {
            let log = args.state().audit_log();
            let records = spectra_core::policy::audit::verify(&log)?;
            let summary = format!("{}: {records} records, chain intact", log.display());
            if *verify {
                println!("{summary}");
            } else {
                print!("{}", std::fs::read_to_string(&log).unwrap_or_default());
                eprintln!("{summary}");
            }
            Ok(ExitCode::SUCCESS)
        }
        PolicyCommand::Explain { path, policy } => {
            let compiled = Policy::load(policy)?.compile()?;
            let facts = FileFacts::of_path(path, chrono::Utc::now().timestamp())?;
            println!("{}", facts.path);
            println!(
                "  kind={} size={} owner={} group={} extension='{}' depth={}",
                facts.meta.kind.as_str(),
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
                ExitCode::from(crate::exit::NEGATIVE)
            })
        }
    }
}
