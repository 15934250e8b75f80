//! `spectra serve` and `spectra token`.

use std::process::ExitCode;

use anyhow::Context;
use chrono::Utc;
use clap::{Args, Subcommand};
use spectra_server::auth::{self, Role};
use spectra_server::config::{LogFormat, ServeArgs, ServeConfig};
use spectra_server::store;

pub fn serve(args: &ServeArgs) -> anyhow::Result<ExitCode> {
    let config = ServeConfig::resolve(args).map_err(anyhow::Error::msg)?;
    crate::logging::init(match config.log_format {
        LogFormat::Json => crate::logging::Format::Json,
        LogFormat::Text => crate::logging::Format::Text,
    });
    runtime()?.block_on(spectra_server::run(config))?;
    Ok(ExitCode::SUCCESS)
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}

#[derive(Debug, Args)]
pub struct TokenArgs {
    /// The server's database (as `spectra serve --db`).
    #[arg(
        long,
        env = "SPECTRA_DB",
        default_value = spectra_server::config::DEFAULT_DB,
        global = true,
        hide_env_values = true
    )]
    db: String,
    #[command(subcommand)]
    command: TokenCommand,
}

#[derive(Debug, Subcommand)]
enum TokenCommand {
    /// Create an API token and print it (it is shown only once; only its hash is stored).
    Create {
        /// viewer (read), operator (also diagnostics and policies) or admin (everything).
        #[arg(long)]
        role: String,
        /// A name to recognise it by.
        #[arg(long, default_value = "")]
        name: String,
    },
    /// List API tokens (ids, roles, names; never secrets).
    List,
    /// Revoke an API token by id.
    Revoke { id: String },
}

pub fn token(args: &TokenArgs) -> anyhow::Result<ExitCode> {
    runtime()?.block_on(async {
        let store = store::open(&args.db)
            .await
            .with_context(|| format!("opening {}", args.db))?;
        match &args.command {
            TokenCommand::Create { role, name } => {
                let role: Role = role.parse().map_err(anyhow::Error::msg)?;
                anyhow::ensure!(
                    role != Role::Agent,
                    "agent tokens come from enrollment (POST /api/v1/agent/register)"
                );
                let issued = auth::issue(role, name, Utc::now())
                    .map_err(|e| anyhow::anyhow!(e.body.message))?;
                store.insert_token(&issued.record).await?;
                println!("{}", issued.token);
                eprintln!(
                    "token {} ({role}) created; it is not shown again",
                    issued.record.id
                );
            }
            TokenCommand::List => {
                for token in store.tokens().await? {
                    println!(
                        "{}\t{}\t{}\t{}",
                        token.id,
                        token.role,
                        token.created_at.to_rfc3339(),
                        token.name
                    );
                }
            }
            TokenCommand::Revoke { id } => {
                anyhow::ensure!(store.delete_token(id).await?, "no API token {id}");
                eprintln!("token {id} revoked");
            }
        }
        Ok(ExitCode::SUCCESS)
    })
}
