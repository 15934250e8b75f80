//! The admin commands that read and change governance on a server over its API: `usage`,
//! `stale`, `growth`, `quota`, `team`, `user`, `status`.
//!
//! The server and token come from `--server`/`--token`, else `SPECTRA_SERVER`/`SPECTRA_TOKEN`,
//! else the config file (`--config`, default `$XDG_CONFIG_HOME/spectra/cli.toml` or
//! `~/.config/spectra/cli.toml`: `server = "…"`, `token = "…"`, `ca_file = "…"`). Lists are
//! read page by page (the API's cursors) up to `--limit`. Output is a table by default,
//! `--format csv|json` for scripts; sizes on the command line take units (`10GB`, `500MiB`).

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Args, Subcommand, ValueEnum};
use serde_json::Value;

use spectra_core::format::bytes as human;

#[derive(Debug, Args)]
pub struct Connection {
    /// The server's base URL.
    #[arg(long, env = "SPECTRA_SERVER", value_name = "URL", global = true)]
    server: Option<String>,
    /// An API token (a viewer's reads, an admin's writes).
    #[arg(
        long,
        env = "SPECTRA_TOKEN",
        value_name = "TOKEN",
        hide_env_values = true,
        global = true
    )]
    token: Option<String>,
    /// A TOML file with `server`, `token` and `ca_file`.
    #[arg(long, value_name = "FILE", global = true)]
    config: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Output::Table, global = true)]
    format: Output,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Output {
    Table,
    Csv,
    Json,
}

#[derive(Debug, Args)]
pub struct UsageArgs {
    /// Group by team, user or backend.
    #[arg(long, value_name = "BY", default_value = "user", value_parser = ["team", "user", "backend"])]
    group_by: String,
    /// One backend's usage [default: all].
    #[arg(long, value_name = "NAME")]
    backend: Option<String>,
    #[command(flatten)]
    connection: Connection,
}

#[derive(Debug, Args)]
pub struct StaleArgs {
    /// Not used for this many days [default: the server's, core's 90].
    #[arg(long)]
    days: Option<u32>,
    /// Only files at least this large (`10GB`, `500MiB`, bytes).
    #[arg(long, value_name = "SIZE", value_parser = size)]
    min_size: Option<u64>,
    #[arg(long, value_name = "NAME")]
    backend: Option<String>,
    #[arg(long, value_name = "USER")]
    owner: Option<String>,
    #[arg(long, value_name = "TEAM")]
    team: Option<String>,
    /// Most files listed.
    #[arg(long, default_value_t = 1000)]
    limit: usize,
    #[command(flatten)]
    connection: Connection,
}

fn size(text: &str) -> Result<u64, String> {
    spectra_core::units::parse_size(text).map_err(|e| e.to_string())
}

#[derive(Debug, Args)]
pub struct UserArgs {
    #[command(subcommand)]
    command: UserCommand,
    #[command(flatten)]
    connection: Connection,
}

#[derive(Debug, Subcommand)]
enum UserCommand {
    /// Add a user who signs in to the web app; the password is read from standard input.
    Add {
        name: String,
        /// viewer, operator or admin.
        #[arg(long, default_value = "viewer", value_parser = ["viewer", "operator", "admin"])]
        role: String,
    },
    /// Set NAME's password (read from standard input); their sessions end.
    Passwd { name: String },
    /// Change NAME's role.
    Role {
        name: String,
        #[arg(value_parser = ["viewer", "operator", "admin"])]
        role: String,
    },
    /// Users with their roles.
    List,
    /// Stop NAME from signing in; their sessions end.
    Disable { name: String },
    /// Let a disabled user sign in again.
    Enable { name: String },
    /// Remove NAME and their sessions.
    Delete { name: String },
}

#[derive(Debug, Args)]
pub struct TeamArgs {
    #[command(subcommand)]
    command: TeamCommand,
    #[command(flatten)]
    connection: Connection,
}

#[derive(Debug, Subcommand)]
enum TeamCommand {
    /// Put USER in TEAM (moving them from any other team).
    Set { user: String, team: String },
    /// Take USER out of TEAM.
    Remove { user: String, team: String },
    /// Every team with its members.
    List,
}

#[derive(Debug, Args)]
pub struct GrowthArgs {
    /// The backend of the file index.
    #[arg(long, value_name = "NAME")]
    backend: String,
    /// How far back (`30d`, `12w`) [default: the server's, core's 30 days].
    #[arg(long)]
    period: Option<String>,
    #[command(flatten)]
    connection: Connection,
}

#[derive(Debug, Args)]
pub struct QuotaArgs {
    #[command(subcommand)]
    command: QuotaCommand,
    #[command(flatten)]
    connection: Connection,
}

/// Whose quota: a team, a user or a root; with none of them, the backend itself.
#[derive(Debug, Args)]
struct QuotaSubjectArgs {
    #[arg(long, value_name = "NAME", conflicts_with_all = ["user", "root"])]
    team: Option<String>,
    #[arg(long, value_name = "NAME", conflicts_with = "root")]
    user: Option<String>,
    /// A root measured by snapshots (an agent's scanned path).
    #[arg(long, value_name = "PATH")]
    root: Option<String>,
    /// The one backend the quota counts; alone, the backend's own quota.
    #[arg(long, value_name = "NAME")]
    backend: Option<String>,
}

impl QuotaSubjectArgs {
    /// The API's subject and the backend the quota is on.
    fn subject(&self) -> anyhow::Result<(String, Option<&str>)> {
        let scoped = |kind: &str, name: &str| (format!("{kind}:{name}"), self.backend.as_deref());
        Ok(match (&self.team, &self.user, &self.root, &self.backend) {
            (Some(team), _, _, _) => scoped("team", team),
            (_, Some(user), _, _) => scoped("user", user),
            (_, _, Some(root), _) => scoped("root", root),
            (None, None, None, Some(backend)) => (format!("backend:{backend}"), None),
            (None, None, None, None) => {
                bail!("whose quota: give --team, --user, --root or --backend")
            }
        })
    }
}

#[derive(Debug, Subcommand)]
enum QuotaCommand {
    /// Set a quota's soft and/or hard limit (sizes take units: 500TB).
    Set {
        #[command(flatten)]
        subject: QuotaSubjectArgs,
        /// Over it: a warning.
        #[arg(long, value_name = "SIZE", value_parser = size)]
        soft: Option<u64>,
        /// Over it: critical, and the subject is over quota.
        #[arg(long, value_name = "SIZE", value_parser = size)]
        hard: Option<u64>,
    },
    /// Every quota with its usage and level.
    List,
    /// Delete a quota.
    Delete {
        #[command(flatten)]
        subject: QuotaSubjectArgs,
    },
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    #[command(flatten)]
    connection: Connection,
}

#[derive(Debug, Default)]
struct ConfigFile {
    server: Option<String>,
    token: Option<String>,
    ca_file: Option<PathBuf>,
}

/// A connected admin client.
struct Api {
    http: reqwest::Client,
    server: String,
    token: String,
    runtime: tokio::runtime::Runtime,
}

impl Connection {
    fn connect(&self) -> anyhow::Result<Api> {
        let path = self.config.clone().or_else(default_config);
        let file: ConfigFile = match &path {
            Some(path) if self.config.is_some() || path.exists() => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("reading {}", path.display()))?;
                read_config(path, &text)?
            }
            _ => ConfigFile::default(),
        };
        let server = self.server.clone().or(file.server).context(
            "no server: give --server URL, SPECTRA_SERVER or `server` in the config file",
        )?;
        let token = self
            .token
            .clone()
            .or(file.token)
            .context("no token: give --token, SPECTRA_TOKEN or `token` in the config file")?;
        Ok(Api {
            http: spectra_agent::http_client(file.ca_file.as_deref())?,
            server: server.trim_end_matches('/').to_owned(),
            token,
            runtime: runtime()?,
        })
    }
}

fn read_config(path: &std::path::Path, text: &str) -> anyhow::Result<ConfigFile> {
    let table: toml::Table = toml::from_str(text).with_context(|| format!("{}", path.display()))?;
    let text_of = |key: &str| -> anyhow::Result<Option<String>> {
        match table.get(key) {
            None => Ok(None),
            Some(toml::Value::String(text)) => Ok(Some(text.clone())),
            Some(_) => bail!("{}: {key} must be a string", path.display()),
        }
    };
    if let Some(unknown) = table
        .keys()
        .find(|key| !["server", "token", "ca_file"].contains(&key.as_str()))
    {
        bail!(
            "{}: unknown setting {unknown:?} (expected server, token, ca_file)",
            path.display()
        );
    }
    Ok(ConfigFile {
        server: text_of("server")?,
        token: text_of("token")?,
        ca_file: text_of("ca_file")?.map(PathBuf::from),
    })
}

fn default_config() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".config")))?;
    Some(base.join("spectra/cli.toml"))
}

/// The one-threaded async runtime the agent and the commands that talk to a server run on.
pub fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}

/// How long one request may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

impl Api {
    fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        query: &[(&str, String)],
    ) -> anyhow::Result<Option<Value>> {
        self.send(method, path, query, None)
    }

    /// One request, with `body` as JSON; the answer's JSON (`None` when empty), or the
    /// server's error message.
    fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&Value>,
    ) -> anyhow::Result<Option<Value>> {
        let url = format!("{}{path}", self.server);
        let request = self
            .http
            .request(method.clone(), &url)
            .bearer_auth(&self.token)
            .query(query)
            .timeout(REQUEST_TIMEOUT);
        let request = match body {
            Some(body) => request.json(body),
            None => request,
        };
        self.runtime.block_on(async {
            let reply = request
                .send()
                .await
                .with_context(|| format!("{method} {url}"))?;
            let status = reply.status();
            let text = reply
                .text()
                .await
                .with_context(|| format!("{method} {url}"))?;
            if !status.is_success() {
                let message = serde_json::from_str::<Value>(&text)
                    .ok()
                    .and_then(|body| body["message"].as_str().map(str::to_owned))
                    .unwrap_or(text);
                bail!("{method} {path}: {status}: {message}");
            }
            if text.is_empty() {
                return Ok(None);
            }
            serde_json::from_str(&text)
                .map(Some)
                .with_context(|| format!("{method} {path}: the answer is not JSON"))
        })
    }

    /// Every item of a paginated list, up to `limit`.
    fn list(
        &self,
        path: &str,
        query: &[(&str, String)],
        limit: usize,
    ) -> anyhow::Result<Vec<Value>> {
        let mut items = Vec::new();
        let mut cursor: Option<String> = None;
        while items.len() < limit {
            let mut query = query.to_vec();
            query.push(("limit", (limit - items.len()).min(1000).to_string()));
            if let Some(cursor) = &cursor {
                query.push(("cursor", cursor.clone()));
            }
            let page = self
                .call(reqwest::Method::GET, path, &query)?
                .unwrap_or_default();
            items.extend(page["items"].as_array().cloned().unwrap_or_default());
            match page["next_cursor"].as_str() {
                Some(next) => cursor = Some(next.to_owned()),
                None => break,
            }
        }
        items.truncate(limit);
        Ok(items)
    }
}

/// A column: its title, the item's field, and whether it is a size.
struct Column {
    title: &'static str,
    field: &'static str,
    shown: Shown,
}

/// How a table shows a column's numbers (CSV and JSON keep them raw).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shown {
    AsIs,
    /// A measured size: binary units, one decimal (`4.8 MiB`).
    Measured,
    /// A size someone set, exactly as it was most likely given (`5 MB`; see
    /// `spectra_core::format::exact_size`).
    AsSet,
}

const fn column(title: &'static str, field: &'static str, shown: Shown) -> Column {
    Column {
        title,
        field,
        shown,
    }
}

fn cell(item: &Value, column: &Column, for_people: bool) -> String {
    let size = |n: &serde_json::Number| n.as_u64().unwrap_or_default();
    match (&item[column.field], column.shown, for_people) {
        (Value::Null, _, _) => String::new(),
        (Value::String(text), _, _) => text.clone(),
        (Value::Number(n), Shown::Measured, true) => human(size(n)),
        (Value::Number(n), Shown::AsSet, true) => spectra_core::format::exact_size(size(n)),
        (other, _, _) => other.to_string(),
    }
}

fn print(items: &[Value], columns: &[Column], output: Output) -> anyhow::Result<()> {
    let text = match output {
        Output::Json => serde_json::to_string_pretty(items)? + "\n",
        Output::Csv => {
            let mut out = columns
                .iter()
                .map(|c| c.field)
                .collect::<Vec<_>>()
                .join(",")
                + "\n";
            for item in items {
                let row: Vec<String> = columns
                    .iter()
                    .map(|c| crate::render::csv_field(&cell(item, c, false)))
                    .collect();
                out += &(row.join(",") + "\n");
            }
            out
        }
        Output::Table => {
            let rows: Vec<Vec<String>> = items
                .iter()
                .map(|item| columns.iter().map(|c| cell(item, c, true)).collect())
                .collect();
            let widths: Vec<usize> = columns
                .iter()
                .enumerate()
                .map(|(i, c)| {
                    rows.iter()
                        .map(|row| row[i].chars().count())
                        .chain([c.title.len()])
                        .max()
                        .unwrap_or(0)
                })
                .collect();
            let line = |cells: Vec<String>| -> String {
                let padded: Vec<String> = cells
                    .iter()
                    .zip(&widths)
                    .zip(columns)
                    .map(|((text, width), c)| {
                        if c.shown != Shown::AsIs {
                            format!("{text:>width$}")
                        } else {
                            format!("{text:<width$}")
                        }
                    })
                    .collect();
                padded.join("  ").trim_end().to_owned() + "\n"
            };
            let mut out = line(columns.iter().map(|c| c.title.to_owned()).collect());
            for row in rows {
                out += &line(row);
            }
            out
        }
    };
    crate::render::write_stdout(&text)
}

pub fn usage(args: &UsageArgs) -> anyhow::Result<()> {
    let api = args.connection.connect()?;
    let mut query = vec![("group_by", args.group_by.clone())];
    if let Some(backend) = &args.backend {
        query.push(("backend", backend.clone()));
    }
    let mut items = api.list("/api/v1/usage", &query, usize::MAX)?;
    if args.group_by == "team" && args.connection.format == Output::Table {
        // The row of users in no team has no name; a table says so (JSON and CSV keep null).
        for item in &mut items {
            if item["name"].is_null() {
                item["name"] = Value::from("(in no team)");
            }
        }
    }
    print(
        &items,
        &[
            column("NAME", "name", Shown::AsIs),
            column("FILES", "files", Shown::AsIs),
            column("SIZE", "size_bytes", Shown::Measured),
            column("DISK", "disk_bytes", Shown::Measured),
            column("LAST ACCESS", "last_access", Shown::AsIs),
        ],
        args.connection.format,
    )
}

pub fn stale(args: &StaleArgs) -> anyhow::Result<()> {
    let api = args.connection.connect()?;
    let mut query: Vec<(&str, String)> = args
        .days
        .map(|days| ("days", days.to_string()))
        .into_iter()
        .collect();
    if let Some(min) = args.min_size {
        query.push(("min_size", min.to_string()));
    }
    for (name, value) in [
        ("backend", &args.backend),
        ("owner", &args.owner),
        ("team", &args.team),
    ] {
        if let Some(value) = value {
            query.push((name, value.clone()));
        }
    }
    let items = api.list("/api/v1/stale", &query, args.limit)?;
    print(
        &items,
        &[
            column("SIZE", "size", Shown::Measured),
            column("OWNER", "owner", Shown::AsIs),
            column("LAST USED", "last_used", Shown::AsIs),
            column("BY", "decided_by", Shown::AsIs),
            column("BACKEND", "backend", Shown::AsIs),
            column("PATH", "path", Shown::AsIs),
        ],
        args.connection.format,
    )
}

/// A path segment, percent-encoded (user and team names may hold anything printable).
fn segment(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// The first line of standard input: passwords are piped, never typed on a terminal where
/// they would be echoed (and never taken as an argument, which `ps` would show).
fn password_from_stdin() -> anyhow::Result<String> {
    use std::io::{BufRead, IsTerminal};
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        bail!(
            "pipe the password on standard input (e.g. from a password manager); it is not read from a terminal, which would echo it"
        );
    }
    let mut line = String::new();
    stdin
        .lock()
        .read_line(&mut line)
        .context("reading the password from standard input")?;
    let password = line.trim_end_matches(['\n', '\r']).to_owned();
    if password.is_empty() {
        bail!("no password on standard input");
    }
    Ok(password)
}

pub fn user(args: &UserArgs) -> anyhow::Result<()> {
    let api = args.connection.connect()?;
    let change = |name: &str, body: Value| -> anyhow::Result<()> {
        api.send(
            reqwest::Method::PATCH,
            &format!("/api/v1/users/{}", segment(name)),
            &[],
            Some(&body),
        )?;
        Ok(())
    };
    match &args.command {
        UserCommand::Add { name, role } => {
            let password = password_from_stdin()?;
            api.send(
                reqwest::Method::POST,
                "/api/v1/users",
                &[],
                Some(&serde_json::json!({"name": name, "role": role, "password": password})),
            )?;
            eprintln!("spectra: user {name} added ({role})");
        }
        UserCommand::Passwd { name } => {
            change(
                name,
                serde_json::json!({"password": password_from_stdin()?}),
            )?;
            eprintln!("spectra: {name}'s password is set; their sessions ended");
        }
        UserCommand::Role { name, role } => {
            change(name, serde_json::json!({"role": role}))?;
            eprintln!("spectra: {name} is now {role}");
        }
        UserCommand::Disable { name } => {
            change(name, serde_json::json!({"disabled": true}))?;
            eprintln!("spectra: {name} is disabled; their sessions ended");
        }
        UserCommand::Enable { name } => {
            change(name, serde_json::json!({"disabled": false}))?;
            eprintln!("spectra: {name} may sign in again");
        }
        UserCommand::Delete { name } => {
            api.call(
                reqwest::Method::DELETE,
                &format!("/api/v1/users/{}", segment(name)),
                &[],
            )?;
            eprintln!("spectra: user {name} deleted");
        }
        UserCommand::List => {
            let users = api.list("/api/v1/users", &[], usize::MAX)?;
            return print(
                &users,
                &[
                    column("NAME", "name", Shown::AsIs),
                    column("ROLE", "role", Shown::AsIs),
                    column("DISABLED", "disabled", Shown::AsIs),
                    column("CREATED", "created_at", Shown::AsIs),
                ],
                args.connection.format,
            );
        }
    }
    Ok(())
}

pub fn team(args: &TeamArgs) -> anyhow::Result<()> {
    let api = args.connection.connect()?;
    match &args.command {
        TeamCommand::Set { user, team } => {
            api.call(
                reqwest::Method::PUT,
                &format!("/api/v1/teams/{}/members/{}", segment(team), segment(user)),
                &[],
            )?;
            eprintln!("spectra: {user} is in team {team}");
            Ok(())
        }
        TeamCommand::Remove { user, team } => {
            api.call(
                reqwest::Method::DELETE,
                &format!("/api/v1/teams/{}/members/{}", segment(team), segment(user)),
                &[],
            )?;
            eprintln!("spectra: {user} is no longer in team {team}");
            Ok(())
        }
        TeamCommand::List => {
            let items: Vec<Value> = api
                .list("/api/v1/teams", &[], usize::MAX)?
                .into_iter()
                .map(|mut item| {
                    let members: Vec<String> = item["members"]
                        .as_array()
                        .map(|m| {
                            m.iter()
                                .filter_map(|v| v.as_str().map(str::to_owned))
                                .collect()
                        })
                        .unwrap_or_default();
                    item["members"] = Value::from(members.join(" "));
                    item
                })
                .collect();
            print(
                &items,
                &[
                    column("TEAM", "team", Shown::AsIs),
                    column("MEMBERS", "members", Shown::AsIs),
                ],
                args.connection.format,
            )
        }
    }
}

pub fn growth(args: &GrowthArgs) -> anyhow::Result<()> {
    let mut query = vec![("backend", args.backend.clone())];
    if let Some(period) = &args.period {
        spectra_core::units::parse_duration(period)?;
        query.push(("period", period.clone()));
    }
    let api = args.connection.connect()?;
    let answer = api
        .call(reqwest::Method::GET, "/api/v1/growth", &query)?
        .unwrap_or_default();
    let points = answer["points"].as_array().cloned().unwrap_or_default();
    print(
        &points,
        &[
            column("DAY", "day", Shown::AsIs),
            column("FILES", "files", Shown::AsIs),
            column("SIZE", "apparent_bytes", Shown::Measured),
            column("DISK", "disk_bytes", Shown::Measured),
        ],
        args.connection.format,
    )
}

pub fn quota(args: &QuotaArgs) -> anyhow::Result<()> {
    let api = args.connection.connect()?;
    let on = |backend: Option<&str>| -> Vec<(&str, String)> {
        backend
            .map(|b| ("backend", b.to_owned()))
            .into_iter()
            .collect()
    };
    match &args.command {
        QuotaCommand::Set {
            subject,
            soft,
            hard,
        } => {
            let (subject, backend) = subject.subject()?;
            let answer = api
                .send(
                    reqwest::Method::PUT,
                    &format!("/api/v1/quota/{}", segment(&subject)),
                    &on(backend),
                    Some(&serde_json::json!({"soft": soft, "hard": hard})),
                )?
                .unwrap_or_default();
            print(&[answer], &QUOTA_COLUMNS, args.connection.format)
        }
        QuotaCommand::Delete { subject } => {
            let (subject, backend) = subject.subject()?;
            api.call(
                reqwest::Method::DELETE,
                &format!("/api/v1/quota/{}", segment(&subject)),
                &on(backend),
            )?;
            eprintln!("spectra: quota of {subject} deleted");
            Ok(())
        }
        QuotaCommand::List => {
            let quotas = api.list("/api/v1/quota", &[], usize::MAX)?;
            print(&quotas, &QUOTA_COLUMNS, args.connection.format)
        }
    }
}

/// An alert as a table shows it: the value with its unit as the server formatted it (core's
/// schema), and the series without the agent's id where the HOST column names the agent.
fn for_people(alert: &mut Value) {
    if let Some(text) = alert["value_text"].as_str() {
        alert["value"] = Value::String(text.to_owned());
    }
    if let (Some(agent), Some(series)) = (alert["agent_id"].as_str(), alert["series"].as_str())
        && let Some(within) = series.strip_prefix(agent).and_then(|s| s.strip_prefix('/'))
    {
        alert["series"] = Value::String(within.to_owned());
    }
}

const QUOTA_COLUMNS: [Column; 9] = [
    column("SUBJECT", "subject", Shown::AsIs),
    column("BACKEND", "backend", Shown::AsIs),
    column("USED", "used_bytes", Shown::Measured),
    column("SOFT", "soft_bytes", Shown::AsSet),
    column("HARD", "hard_bytes", Shown::AsSet),
    column("LEVEL", "level", Shown::AsIs),
    column("SINCE", "since", Shown::AsIs),
    column("SOURCE", "source", Shown::AsIs),
    column("UPDATED BY", "updated_by", Shown::AsIs),
];

/// Server health, agents by state, the backends' last crawls and the quotas over a limit: one
/// server answer (`GET /api/v1/status`).
pub fn status(args: &StatusArgs) -> anyhow::Result<()> {
    let api = args.connection.connect()?;
    let status = api
        .call(reqwest::Method::GET, "/api/v1/status", &[])?
        .unwrap_or_default();
    if args.connection.format == Output::Json {
        return crate::render::write_stdout(&(serde_json::to_string_pretty(&status)? + "\n"));
    }
    let agents = &status["agents"];
    let count = |state: &str| agents[state].as_i64().unwrap_or(0);
    let failing = match count("failing_auth") {
        0 => String::new(),
        n => format!(
            "; {n} failing authentication with a replaced token: auth_failing in GET /api/v1/agents"
        ),
    };
    crate::render::write_stdout(&format!(
        "server   {} ({} store)\nagents   {} online, {} stale, {} offline ({} pending approval{failing})\n\n",
        status["server"]["status"].as_str().unwrap_or("?"),
        status["server"]["store"].as_str().unwrap_or("?"),
        count("online"),
        count("stale"),
        count("offline"),
        count("pending"),
    ))?;
    let listed = |key: &str| status[key].as_array().cloned().unwrap_or_default();
    let backends = listed("backends");
    print(
        &backends,
        &[
            column("BACKEND", "name", Shown::AsIs),
            column("FILES", "files", Shown::AsIs),
            column("DISK", "disk_bytes", Shown::Measured),
            column("LAST CRAWL", "last_crawl_at", Shown::AsIs),
            column("LAST COMPLETE CRAWL", "last_complete_crawl_at", Shown::AsIs),
        ],
        args.connection.format,
    )?;
    let total_backends = status["backends_total"].as_u64().unwrap_or(0);
    if total_backends > backends.len() as u64 {
        crate::render::write_stdout(&format!(
            "({} of {total_backends} backends: spectra usage lists them all)\n",
            backends.len()
        ))?;
    }
    let over = listed("quotas_over");
    crate::render::write_stdout(&format!(
        "\nquotas over a limit: {}\n",
        status["quotas_over_total"].as_u64().unwrap_or(0)
    ))?;
    if over.is_empty() {
        return Ok(());
    }
    print(&over, &QUOTA_COLUMNS, args.connection.format)
}

#[derive(Debug, Args)]
pub struct AlertsArgs {
    #[command(subcommand)]
    command: AlertsCommand,
    #[command(flatten)]
    connection: Connection,
}

#[derive(Debug, Subcommand)]
enum AlertsCommand {
    /// Alerts as they stand (GET /api/v1/alerts).
    List {
        /// `pending`, `firing` or `resolved`.
        #[arg(long)]
        state: Option<String>,
        #[arg(long, value_name = "NAME")]
        rule: Option<String>,
    },
    /// Alert rules: `rules list`, `rules set NAME --condition '…' --notify webhook:URL`,
    /// `rules delete NAME`.
    Rules {
        #[command(subcommand)]
        command: Option<RulesCommand>,
    },
    /// Hold back notices (not evaluation) of a rule, an agent or a label for a time.
    Silence {
        #[arg(long, value_name = "NAME")]
        rule: Option<String>,
        #[arg(long, value_name = "ID")]
        agent: Option<String>,
        /// `key=value`: agents carrying this label.
        #[arg(long, value_name = "KEY=VALUE")]
        label: Option<String>,
        /// How long, e.g. `2h`.
        #[arg(long = "for", value_name = "DURATION")]
        duration: String,
        /// Why (kept with who silenced).
        #[arg(long)]
        reason: String,
    },
}

#[derive(Debug, Subcommand)]
enum RulesCommand {
    /// Every rule.
    List,
    /// Create or replace the rule NAME; what is left out takes the server's defaults.
    Set {
        name: String,
        /// e.g. `disk.usage_percent{mount_point="/"} > 90 for 10m`.
        #[arg(long)]
        condition: String,
        /// `info`, `warning` or `critical`.
        #[arg(long)]
        severity: Option<String>,
        /// e.g. `15m`.
        #[arg(long)]
        cooldown: Option<String>,
        /// `webhook:URL` or `email:ADDRESS`; repeat for more.
        #[arg(long)]
        notify: Vec<String>,
        /// Watch only this agent.
        #[arg(long, value_name = "ID")]
        agent: Option<String>,
        /// Watch only agents with this label (`key=value`); repeat for more.
        #[arg(long, value_name = "KEY=VALUE")]
        label: Vec<String>,
    },
    /// Delete the rule NAME and its alerts.
    Delete { name: String },
}

pub fn alerts(args: &AlertsArgs) -> anyhow::Result<()> {
    let api = args.connection.connect()?;
    let output = args.connection.format;
    match &args.command {
        AlertsCommand::List { state, rule } => {
            let mut query = Vec::new();
            if let Some(state) = state {
                query.push(("state", state.clone()));
            }
            if let Some(rule) = rule {
                query.push(("rule", rule.clone()));
            }
            let mut items = api.list("/api/v1/alerts", &query, usize::MAX)?;
            if output == Output::Table {
                for item in &mut items {
                    for_people(item);
                }
            }
            print(
                &items,
                &[
                    column("RULE", "rule", Shown::AsIs),
                    column("SERIES", "series", Shown::AsIs),
                    column("HOST", "hostname", Shown::AsIs),
                    column("STATE", "state", Shown::AsIs),
                    column("SEVERITY", "severity", Shown::AsIs),
                    column("VALUE", "value", Shown::AsIs),
                    column("SINCE", "since", Shown::AsIs),
                    column("SILENCED", "silenced", Shown::AsIs),
                ],
                output,
            )
        }
        AlertsCommand::Rules { command } => match command.as_ref().unwrap_or(&RulesCommand::List) {
            RulesCommand::List => {
                let items: Vec<Value> = api
                    .list("/api/v1/alert-rules", &[], usize::MAX)?
                    .into_iter()
                    .map(|mut item| {
                        let notify: Vec<String> = item["notify"]
                            .as_array()
                            .map(|t| {
                                t.iter()
                                    .filter_map(|v| v.as_str().map(str::to_owned))
                                    .collect()
                            })
                            .unwrap_or_default();
                        item["notify"] = Value::from(notify.join(" "));
                        item
                    })
                    .collect();
                print(
                    &items,
                    &[
                        column("NAME", "name", Shown::AsIs),
                        column("CONDITION", "condition", Shown::AsIs),
                        column("SEVERITY", "severity", Shown::AsIs),
                        column("NOTIFY", "notify", Shown::AsIs),
                    ],
                    output,
                )
            }
            RulesCommand::Set {
                name,
                condition,
                severity,
                cooldown,
                notify,
                agent,
                label,
            } => {
                let mut labels = serde_json::Map::new();
                for pair in label {
                    let (key, value) = pair
                        .split_once('=')
                        .with_context(|| format!("--label {pair:?}: write key=value"))?;
                    labels.insert(key.to_owned(), Value::from(value));
                }
                let mut rule = serde_json::json!({
                    "name": name,
                    "condition": condition,
                    "notify": notify,
                    "scope": {"labels": labels},
                });
                if let Some(agent) = agent {
                    rule["scope"]["agent"] = Value::from(agent.clone());
                }
                if let Some(severity) = severity {
                    rule["severity"] = Value::from(severity.clone());
                }
                if let Some(cooldown) = cooldown {
                    rule["cooldown"] = Value::from(cooldown.clone());
                }
                api.send(
                    reqwest::Method::PUT,
                    &format!("/api/v1/alert-rules/{}", segment(name)),
                    &[],
                    Some(&rule),
                )?;
                eprintln!("spectra: alert rule {name} saved");
                Ok(())
            }
            RulesCommand::Delete { name } => {
                api.call(
                    reqwest::Method::DELETE,
                    &format!("/api/v1/alert-rules/{}", segment(name)),
                    &[],
                )?;
                eprintln!("spectra: alert rule {name} deleted");
                Ok(())
            }
        },
        AlertsCommand::Silence {
            rule,
            agent,
            label,
            duration,
            reason,
        } => {
            let body = serde_json::json!({
                "rule": rule, "agent": agent, "label": label,
                "duration": duration, "reason": reason,
            });
            let silence = api
                .send(reqwest::Method::POST, "/api/v1/silences", &[], Some(&body))?
                .unwrap_or_default();
            print(
                &[silence],
                &[
                    column("ID", "id", Shown::AsIs),
                    column("RULE", "rule", Shown::AsIs),
                    column("AGENT", "agent_id", Shown::AsIs),
                    column("ENDS", "ends_at", Shown::AsIs),
                    column("BY", "created_by", Shown::AsIs),
                    column("REASON", "reason", Shown::AsIs),
                ],
                output,
            )
        }
    }
}
