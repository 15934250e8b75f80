//! `spectra collect`: prints what each host collector sees.

use std::fmt::Write as _;
use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, ValueEnum};
use spectra_core::collect::Sampler;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// One block per collector, one line per value.
    Table,
    /// One JSON document: an array of `{"type", "data"}` or `{"type", "error"}` objects.
    Json,
}

#[derive(Debug, Args)]
pub struct CollectArgs {
    /// Collectors to run (default: all). See `--list`.
    #[arg(value_name = "NAME")]
    names: Vec<String>,
    /// List the collectors, their default intervals and whether they work on this host.
    #[arg(long, conflicts_with_all = ["names", "watch", "count"])]
    list: bool,
    /// With --list: every metric field instead (core's metric schema): its series name,
    /// unit, counter or gauge, what "full" is, which agents send it, and what it means.
    #[arg(long, requires = "list")]
    fields: bool,
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
    /// Refresh every SECS seconds, like `top`; rates are then over that interval.
    #[arg(long, value_name = "SECS")]
    watch: Option<f64>,
    /// With --watch, stop after this many refreshes (default: until interrupted).
    #[arg(long, requires = "watch")]
    count: Option<u64>,
}

pub fn run(args: &CollectArgs) -> anyhow::Result<ExitCode> {
    let mut out = std::io::stdout().lock();
    let sampler = Sampler::new();
    // A `SPECTRA_BACKEND` naming no backend is a usage error before anything is sampled.
    sampler.backend()?;
    if args.list {
        let text = if args.fields {
            render_fields(args.format)?
        } else {
            render_list(&sampler, args.format)?
        };
        out.write_all(text.as_bytes()).context("writing the list")?;
        return Ok(ExitCode::SUCCESS);
    }
    let interval = match args.watch {
        Some(secs) if !(secs.is_finite() && secs > 0.0) => {
            anyhow::bail!("--watch needs a positive number of seconds, not {secs}")
        }
        Some(secs) => Some(Duration::from_secs_f64(secs)),
        None => None,
    };
    let names: Vec<&str> = if args.names.is_empty() {
        spectra_core::collect::names()
    } else {
        args.names.iter().map(String::as_str).collect()
    };
    for name in &names {
        // An unknown name is a usage error before anything is sampled.
        spectra_core::collect::by_name(name)?;
    }
    let clear_screen = interval.is_some() && std::io::stdout().is_terminal();
    let mut refreshes = 0u64;
    loop {
        // Asked for everything, a collector this host lacks is not a failure of the command;
        // asked for by name, it is.
        let lacking_fails = !args.names.is_empty();
        let (text, all_ok) = render_samples(&sampler, &names, args.format, lacking_fails)?;
        if clear_screen {
            let _ = out.write_all(b"\x1b[2J\x1b[H");
        }
        if let Err(e) = out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
            if e.kind() == std::io::ErrorKind::BrokenPipe {
                return Ok(ExitCode::SUCCESS);
            }
            return Err(e).context("writing the sample");
        }
        refreshes += 1;
        match interval {
            Some(every) if args.count.is_none_or(|n| refreshes < n) => std::thread::sleep(every),
            _ => {
                return Ok(if all_ok {
                    ExitCode::SUCCESS
                } else {
                    ExitCode::from(crate::exit::NEGATIVE)
                });
            }
        }
    }
}

fn render_fields(format: Format) -> anyhow::Result<String> {
    use spectra_core::metrics::{self, Full};
    if format == Format::Json {
        return Ok(serde_json::to_string_pretty(metrics::fields())? + "\n");
    }
    let mut out = format!(
        "{:<44} {:<19} {:<7} {:<28} {:<8} {}\n",
        "FIELD", "UNIT", "KIND", "FULL", "SENT BY", "MEANING"
    );
    for field in metrics::fields() {
        let full = match field.full {
            None => "-".to_owned(),
            Some(Full::Percent) => "at 100%".to_owned(),
            Some(Full::Capacity(capacity)) => format!("at {capacity}"),
        };
        let sender = match field.sender {
            metrics::Sender::Spectra => "spectra",
            metrics::Sender::GoAgent => "go",
            metrics::Sender::Both => "both",
        };
        let kind = match field.kind {
            metrics::Kind::Gauge => "gauge",
            metrics::Kind::Counter => "counter",
        };
        let _ = writeln!(
            out,
            "{:<44} {:<19} {kind:<7} {full:<28} {sender:<8} {}",
            field.name,
            field.unit.as_str(),
            field.help
        );
    }
    Ok(out)
}

fn render_list(sampler: &Sampler, format: Format) -> anyhow::Result<String> {
    let capabilities = sampler.capabilities();
    if format == Format::Json {
        return Ok(serde_json::to_string_pretty(&capabilities)? + "\n");
    }
    let mut out = format!("{:<14} {:>9}  {}\n", "NAME", "INTERVAL", "HERE");
    for c in capabilities {
        let here = if c.supported {
            "supported".to_string()
        } else {
            format!(
                "no: {}",
                c.reason.map(|reason| reason.message).unwrap_or_default()
            )
        };
        let _ = writeln!(out, "{:<14} {:>8}s  {here}", c.name, c.interval_secs);
    }
    Ok(out)
}

/// Samples each collector once; the flag is false when any of them failed (counting an
/// unsupported one only when `lacking_fails`).
fn render_samples(
    sampler: &Sampler,
    names: &[&str],
    format: Format,
    lacking_fails: bool,
) -> anyhow::Result<(String, bool)> {
    let mut all_ok = true;
    let mut documents = Vec::with_capacity(names.len());
    let backend = sampler.backend()?;
    for name in names {
        documents.push(match sampler.sample(name) {
            Ok(metric) => {
                // `{"type", "data"}` as core serialises it, plus which backend answered.
                let mut document = serde_json::to_value(&metric)?;
                document["backend"] = serde_json::json!(backend);
                document
            }
            Err(e) => {
                if lacking_fails || e.code() != spectra_core::ErrorCode::Unsupported {
                    all_ok = false;
                }
                serde_json::json!({"type": name, "error": e.body()})
            }
        });
    }
    let text = match format {
        Format::Json => serde_json::to_string_pretty(&documents)? + "\n",
        Format::Table => {
            let mut out = String::new();
            for doc in &documents {
                let _ = writeln!(out, "[{}]", doc["type"].as_str().unwrap_or("?"));
                if let Some(error) = doc.get("error") {
                    let _ = writeln!(
                        out,
                        "  {}: {}",
                        error["code"].as_str().unwrap_or("error"),
                        error["message"].as_str().unwrap_or("")
                    );
                } else {
                    out.push_str(&crate::render::table(&doc["data"]));
                }
                out.push('\n');
            }
            out
        }
    };
    Ok((text, all_ok))
}
