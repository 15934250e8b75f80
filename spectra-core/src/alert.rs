//! Alert rules: what the server watches and when it tells someone.
//!
//! A rule's condition is one comparison in the policy language's style, with its units and
//! errors that point at a column:
//!
//! ```text
//! disk.usage_percent{mount_point="/"} > 90 for 10m     a metric series over a threshold
//! memory.available < 500MB                            sizes, durations and percents have units
//! agent.heartbeat_age > 5m                            an agent gone quiet (built in)
//! time_to_full(disk.usage_percent{mount_point="/"}, 6h) < 24h
//!                                                     a linear fit over 6 h predicts a full disk
//! service.down{name="nginx.service"} == 1             a systemd unit not active (built in)
//! quota.level >= soft                                 a quota's soft (or hard) limit crossed
//! ```
//!
//! A series is a metric kind (`disk`), the dotted path of a field in its data
//! (`used_percent`), and labels that pick array elements or envelopes
//! (`{mount_point="/"}`, as [`crate::protocol::flatten`] names them); labels left out match
//! every series, and each matching series is an alert of its own.
//!
//! ```
//! use spectra_core::alert::AlertRule;
//!
//! let rule: AlertRule = serde_json::from_str(r#"{"name": "root full",
//!     "condition": "disk.usage_percent{mount_point=\"/\"} > 90 for 10m",
//!     "severity": "critical", "notify": ["webhook:https://hooks.example.com/spectra"]}"#)?;
//! let compiled = rule.compile()?;
//! assert_eq!(compiled.condition.for_duration.as_secs(), 600);
//! assert!(compiled.condition.holds(93.0));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! The life of one alert (a rule and one series) is [`step`]: pending while the condition
//! holds for less than its `for`, firing after, resolved when it no longer holds, with a
//! notice on firing and on resolving, and no repeat of a firing notice within the cooldown.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::lex::{self, Grammar, Tok};
use crate::metrics::{self, Full, LiteralKind, MetricField, Unit};
pub use crate::policy::CompareOp;
use crate::policy::RuleError;
use crate::protocol::flatten::Sample;
use crate::units::{Literal, parse_duration, parse_number};

mod builtin;
pub use builtin::{METRIC_FRESH_WITHIN, fresh_from, heartbeat_age, services_down};

/// Longest condition accepted, in bytes.
pub const MAX_CONDITION_LEN: usize = 1024;
/// Longest rule name, in bytes.
pub const MAX_RULE_NAME_LEN: usize = 200;
/// Most labels one selector, or one scope, may name.
pub const MAX_LABELS: usize = 16;
/// Most notification targets of one rule.
pub const MAX_NOTIFY: usize = 16;
/// How long after a firing notice another one for the same alert is held back, when the rule
/// does not say (an alert that flaps resolves and fires again without a new notice).
pub const DEFAULT_COOLDOWN: Duration = Duration::from_secs(15 * 60);
/// The fit window of `time_to_full` is at least this long: fewer samples give no trend.
pub const MIN_FIT_WINDOW: Duration = Duration::from_secs(60);
/// And at most this long: a fit reads every point of its window on every evaluation.
pub const MAX_FIT_WINDOW: Duration = Duration::from_secs(30 * 24 * 3600);

/// How urgent an alert is.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Info,
    #[default]
    Warning,
    Critical,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Critical => "critical",
        }
    }
}

/// Which agents a rule watches: one agent, the agents carrying all of some labels, or (both
/// left out) all of them. Quota rules are not about agents and ignore the scope.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scope {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
}

impl Scope {
    /// Whether the agent `id` with `labels` is watched.
    pub fn admits(&self, id: &str, labels: &BTreeMap<String, String>) -> bool {
        self.agent.as_deref().is_none_or(|agent| agent == id)
            && self
                .labels
                .iter()
                .all(|(key, value)| labels.get(key) == Some(value))
    }
}

/// An alert rule as the API and the CLI take it.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertRule {
    pub name: String,
    pub condition: String,
    #[serde(default)]
    pub severity: Severity,
    #[serde(default)]
    pub scope: Scope,
    /// A duration (`15m`); default [`DEFAULT_COOLDOWN`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cooldown: Option<String>,
    /// Where notices go: `webhook:https://…` or `email:ops@example.com`.
    #[serde(default)]
    pub notify: Vec<String>,
}

/// A notification target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Webhook(String),
    Email(String),
}

impl Target {
    pub fn parse(text: &str) -> Result<Target> {
        let invalid = |message: String| Error::invalid("notify", message);
        match text.split_once(':') {
            Some(("webhook", url)) => {
                if !(url.starts_with("https://") || url.starts_with("http://")) {
                    return Err(invalid(format!(
                        "'{text}': a webhook is an http:// or https:// URL"
                    )));
                }
                Ok(Target::Webhook(url.to_owned()))
            }
            Some(("email", address)) => {
                let valid = address.split_once('@').is_some_and(|(user, host)| {
                    !user.is_empty()
                        && !host.is_empty()
                        && !address.chars().any(|c| c.is_whitespace() || c == ',')
                });
                if !valid {
                    return Err(invalid(format!("'{text}': not an email address")));
                }
                Ok(Target::Email(address.to_owned()))
            }
            _ => Err(invalid(format!(
                "'{text}': write webhook:URL or email:ADDRESS"
            ))),
        }
    }

    /// `webhook` or `email`.
    pub fn channel(&self) -> &'static str {
        match self {
            Target::Webhook(_) => "webhook",
            Target::Email(_) => "email",
        }
    }

    /// The URL or the address.
    pub fn address(&self) -> &str {
        match self {
            Target::Webhook(url) => url,
            Target::Email(address) => address,
        }
    }
}

/// A rule checked and ready to evaluate.
#[derive(Debug, Clone, PartialEq)]
pub struct CompiledAlertRule {
    pub rule: AlertRule,
    pub condition: Condition,
    pub cooldown: Duration,
    pub notify: Vec<Target>,
}

impl AlertRule {
    /// Checks everything about the rule; the error says what and where.
    pub fn compile(&self) -> Result<CompiledAlertRule> {
        if self.name.trim().is_empty() || self.name.len() > MAX_RULE_NAME_LEN {
            return Err(Error::invalid(
                "alert rule name",
                format!("must be 1 to {MAX_RULE_NAME_LEN} bytes"),
            ));
        }
        if self.name.chars().any(char::is_control) || self.name.contains('/') {
            return Err(Error::invalid(
                "alert rule name",
                format!("{:?}: no '/' or control characters", self.name),
            ));
        }
        let condition = Condition::parse(&self.condition).map_err(|error| {
            Error::invalid(
                format!("alert rule '{}': condition", self.name),
                error.to_string(),
            )
        })?;
        let cooldown = match &self.cooldown {
            Some(text) => parse_duration(text)?,
            None => DEFAULT_COOLDOWN,
        };
        if self.scope.labels.len() > MAX_LABELS {
            return Err(Error::invalid(
                "scope",
                format!("at most {MAX_LABELS} labels"),
            ));
        }
        if self.notify.len() > MAX_NOTIFY {
            return Err(Error::invalid(
                "notify",
                format!("at most {MAX_NOTIFY} targets"),
            ));
        }
        let notify = self
            .notify
            .iter()
            .map(|target| Target::parse(target))
            .collect::<Result<_>>()?;
        Ok(CompiledAlertRule {
            rule: self.clone(),
            condition,
            cooldown,
            notify,
        })
    }
}

/// Where a series' values come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// The agents' metric envelopes of the selector's kind.
    Metric,
    /// `agent.heartbeat_age`: seconds since an agent was last heard from.
    Heartbeat,
    /// `service.down{name=…}`: 1 when a systemd unit is not active, 0 when it is.
    Service,
    /// `quota.level{subject=…, backend=…}`: 0 under, 1 soft limit crossed, 2 hard.
    Quota,
}

/// `kind.field.path{label="value", …}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Selector {
    pub kind: String,
    /// The dotted path of the field within the kind's data.
    pub field: String,
    pub labels: Vec<(String, String)>,
}

impl Selector {
    pub fn source(&self) -> Source {
        match (self.kind.as_str(), self.field.as_str()) {
            ("agent", "heartbeat_age") => Source::Heartbeat,
            ("service", "down") => Source::Service,
            ("quota", "level") => Source::Quota,
            _ => Source::Metric,
        }
    }

    /// Whether `labels` carry every label the selector names.
    pub fn admits_labels(&self, labels: &[(String, String)]) -> bool {
        self.labels
            .iter()
            .all(|wanted| labels.iter().any(|label| label == wanted))
    }

    /// Whether a sample of an envelope of the selector's kind is one of its series.
    pub fn matches(&self, sample: &Sample) -> bool {
        let mut path = sample.path.iter();
        self.field
            .split('.')
            .all(|part| path.next().is_some_and(|p| p == part))
            && path.next().is_none()
            && self.admits_labels(&sample.labels)
    }
}

impl Selector {
    /// Whether a series key as rollups store it (`used_percent{mount_point="/"}`, see
    /// [`Sample::key`]) is one of the selector's series.
    pub fn matches_key(&self, key: &str) -> bool {
        let (path, labels) = key.split_once('{').unwrap_or((key, ""));
        path == self.field
            && self.labels.iter().all(|(name, value)| {
                let wanted = format!("{name}={}", serde_json::Value::from(value.as_str()));
                labels.match_indices(&wanted).any(|(at, _)| {
                    let before = if at == 0 {
                        None
                    } else {
                        labels[..at].chars().last()
                    };
                    let after = labels[at + wanted.len()..].chars().next();
                    matches!(before, None | Some(',')) && matches!(after, Some(',' | '}'))
                })
            })
    }
}

impl fmt::Display for Selector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.kind, self.field)?;
        if !self.labels.is_empty() {
            let labels: Vec<String> = self
                .labels
                .iter()
                .map(|(k, v)| format!("{k}={}", serde_json::Value::from(v.as_str())))
                .collect();
            write!(f, "{{{}}}", labels.join(","))?;
        }
        Ok(())
    }
}

/// Where a quota stands: under its limits, over the soft one (a warning), over the hard one.
/// The `quota.level` series is this as 0, 1 and 2.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QuotaLevel {
    Ok,
    Soft,
    Hard,
}

impl QuotaLevel {
    /// The level of `used` bytes against the limits: over (not at) a limit crosses it.
    pub fn of(used: i64, soft: Option<i64>, hard: Option<i64>) -> QuotaLevel {
        let over = |limit: Option<i64>| limit.is_some_and(|limit| used > limit);
        if over(hard) {
            QuotaLevel::Hard
        } else if over(soft) {
            QuotaLevel::Soft
        } else {
            QuotaLevel::Ok
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            QuotaLevel::Ok => "ok",
            QuotaLevel::Soft => "soft",
            QuotaLevel::Hard => "hard",
        }
    }

    pub fn named(name: &str) -> Option<QuotaLevel> {
        [QuotaLevel::Ok, QuotaLevel::Soft, QuotaLevel::Hard]
            .into_iter()
            .find(|level| level.as_str() == name)
    }

    /// The value of the `quota.level` series.
    pub fn value(self) -> f64 {
        match self {
            QuotaLevel::Ok => 0.0,
            QuotaLevel::Soft => 1.0,
            QuotaLevel::Hard => 2.0,
        }
    }
}

impl fmt::Display for QuotaLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A parsed condition.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Condition {
    pub source_text: String,
    pub selector: Selector,
    /// `time_to_full(…, WINDOW)`: the series is fitted by a line over the window and the
    /// compared value is the seconds until it reaches 100 (none when it is not rising).
    pub fit_window: Option<Duration>,
    pub op: CompareOp,
    /// The right-hand side in base units: bytes, seconds, percent points, or a plain number.
    pub value: f64,
    pub for_duration: Duration,
}

impl Condition {
    /// The unit of the values compared: seconds for `time_to_full` and the heartbeat age,
    /// a boolean for `service.down`, a plain number for `quota.level`, else the schema's.
    pub fn unit(&self) -> Unit {
        if self.fit_window.is_some() {
            return Unit::Seconds;
        }
        match self.selector.source() {
            Source::Heartbeat => Unit::Seconds,
            Source::Service => Unit::Boolean,
            Source::Quota => Unit::Number,
            Source::Metric => {
                metrics::field(&format!("{}.{}", self.selector.kind, self.selector.field))
                    .map_or(Unit::Number, |field| field.unit)
            }
        }
    }

    /// Whether `value` (of a series, or the seconds to full) makes the condition hold.
    pub fn holds(&self, value: f64) -> bool {
        value
            .partial_cmp(&self.value)
            .is_some_and(|ordering| self.op.holds(ordering))
    }

    pub fn parse(source: &str) -> std::result::Result<Condition, RuleError> {
        let error = |at: usize, message: String| {
            // `at` may fall inside a character (the length limit does): the column is that
            // character's, after every character that ends before it.
            let before = source
                .char_indices()
                .take_while(|(index, c)| index + c.len_utf8() <= at)
                .count();
            RuleError {
                rule: source.into(),
                column: before + 1,
                message,
            }
        };
        if source.len() > MAX_CONDITION_LEN {
            return Err(error(
                MAX_CONDITION_LEN,
                format!("longer than the limit of {MAX_CONDITION_LEN} bytes"),
            ));
        }
        let tokens = lex(source).map_err(|(at, message)| error(at, message))?;
        let mut parser = Parser {
            tokens,
            next: 0,
            end: source.len(),
        };
        parser
            .condition(source)
            .map_err(|(at, message)| error(at, message))
    }
}

impl fmt::Display for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source_text)
    }
}

/// The alert language's tokens: names are dotted (`disk.usage_percent`), labels in braces,
/// a percent may carry its sign (`80%`).
const GRAMMAR: Grammar = Grammar {
    symbols: &[
        "==", "!=", "<=", ">=", "<", ">", "=", "(", ")", "{", "}", ",",
    ],
    word_bytes: b".",
    number_bytes: b".",
    number_suffix: Some(b'%'),
    symbol_words: &[],
    hints: &[],
};

fn lex(source: &str) -> std::result::Result<Vec<(Tok, usize)>, (usize, String)> {
    Ok(lex::lex(source, &GRAMMAR)?
        .into_iter()
        .map(|token| (token.tok, token.start))
        .collect())
}

struct Parser {
    tokens: Vec<(Tok, usize)>,
    next: usize,
    end: usize,
}

type Parsed<T> = std::result::Result<T, (usize, String)>;

impl Parser {
    fn peek(&self) -> Option<&(Tok, usize)> {
        self.tokens.get(self.next)
    }

    fn at(&self) -> usize {
        self.peek().map_or(self.end, |(_, at)| *at)
    }

    fn take(&mut self) -> Option<(Tok, usize)> {
        let token = self.tokens.get(self.next).cloned();
        self.next += 1;
        token
    }

    fn symbol(&mut self, symbol: &str, after: &str) -> Parsed<()> {
        match self.take() {
            Some((Tok::Symbol(s), _)) if s == symbol => Ok(()),
            Some((_, at)) => Err((at, format!("expected '{symbol}' {after}"))),
            None => Err((self.end, format!("expected '{symbol}' {after}"))),
        }
    }

    fn condition(&mut self, source: &str) -> Parsed<Condition> {
        let (selector, field, fit_window) = match self.peek() {
            Some((Tok::Word(word), _)) if word == "time_to_full" => {
                self.next += 1;
                self.symbol("(", "after time_to_full")?;
                let at = self.at();
                let selector = self.selector()?;
                let field = schema_field(&selector, at)?;
                if let Some(field) = field
                    && field.full != Some(Full::Percent)
                {
                    return Err((at, cannot_fill(field)));
                }
                if field.is_none() {
                    return Err((
                        at,
                        format!("time_to_full fits a metric series, not {}", selector.kind),
                    ));
                }
                self.symbol(
                    ",",
                    "and a window after the series: time_to_full(disk.usage_percent, 6h)",
                )?;
                let at = self.at();
                let window = self.duration("the fit window")?;
                if window < MIN_FIT_WINDOW {
                    return Err((at, "the fit window must be at least 1m".into()));
                }
                if window > MAX_FIT_WINDOW {
                    return Err((at, "the fit window must be at most 30d".into()));
                }
                self.symbol(")", "after the window")?;
                (selector, field, Some(window))
            }
            _ => {
                let at = self.at();
                let selector = self.selector()?;
                let field = schema_field(&selector, at)?;
                (selector, field, None)
            }
        };
        let at = self.at();
        let op = match self.take() {
            Some((Tok::Symbol(s), _)) => match s {
                "==" => CompareOp::Eq,
                "!=" => CompareOp::Ne,
                "<" => CompareOp::Lt,
                "<=" => CompareOp::Le,
                ">" => CompareOp::Gt,
                ">=" => CompareOp::Ge,
                "=" => return Err((at, "use '==' to compare".into())),
                other => return Err((at, format!("expected a comparison, found '{other}'"))),
            },
            _ => {
                return Err((
                    at,
                    "expected a comparison (>, >=, <, <=, ==, !=) after the series".into(),
                ));
            }
        };
        let at = self.at();
        let value = match self.take() {
            Some((Tok::Number(text), _)) => self.value(&text, at, &selector, field, fit_window)?,
            Some((Tok::Word(word), _)) if selector.source() == Source::Quota => {
                match QuotaLevel::named(&word) {
                    Some(level) => level.value(),
                    None => {
                        return Err((at, format!("'{word}': a quota level is ok, soft or hard")));
                    }
                }
            }
            _ => return Err((at, "expected a value after the comparison".into())),
        };
        let mut for_duration = Duration::ZERO;
        if let Some((Tok::Word(word), at)) = self.peek().cloned() {
            if word != "for" {
                return Err((
                    at,
                    format!("unexpected '{word}' (only 'for DURATION' may follow)"),
                ));
            }
            self.next += 1;
            for_duration = self.duration("'for'")?;
        }
        if let Some((_, at)) = self.peek() {
            return Err((*at, "unexpected text after the condition".into()));
        }
        Ok(Condition {
            source_text: source.trim().to_owned(),
            selector,
            fit_window,
            op,
            value,
            for_duration,
        })
    }

    fn duration(&mut self, what: &str) -> Parsed<Duration> {
        match self.take() {
            Some((Tok::Number(text), at)) => match parse_number(&text) {
                Ok(Literal::Seconds(secs)) if secs >= 0.0 => {
                    Duration::try_from_secs_f64(secs).map_err(|e| (at, format!("'{text}': {e}")))
                }
                _ => Err((
                    at,
                    format!("'{text}' after {what} is not a duration such as 10m"),
                )),
            },
            Some((_, at)) => Err((at, format!("expected a duration such as 10m after {what}"))),
            None => Err((
                self.end,
                format!("expected a duration such as 10m after {what}"),
            )),
        }
    }

    /// A number with its unit, in the unit of what it is compared with: the schema's unit of
    /// a metric field (a threshold whose unit does not fit it is refused), seconds for a
    /// time, a plain number for the other built-ins.
    fn value(
        &self,
        text: &str,
        at: usize,
        selector: &Selector,
        field: Option<&MetricField>,
        fit_window: Option<Duration>,
    ) -> Parsed<f64> {
        let (number, kind) = match text.strip_suffix('%') {
            Some(percent) => (
                percent
                    .parse::<f64>()
                    .map_err(|_| (at, format!("bad percentage '{text}'")))?,
                LiteralKind::Percent,
            ),
            None => match parse_number(text).map_err(|message| (at, message))? {
                Literal::Plain(n) => (n, LiteralKind::Plain),
                Literal::Bytes(n) => (n, LiteralKind::Bytes),
                Literal::Seconds(secs) => (secs, LiteralKind::Seconds),
                Literal::Date(_) => {
                    return Err((at, format!("'{text}': a date is not a threshold")));
                }
            },
        };
        if let (Some(field), None) = (field, fit_window) {
            return match field.unit.accepts(kind) {
                Some(scale) => Ok(number * scale),
                None => Err((
                    at,
                    format!(
                        "'{text}' is {}, but {} is in {}{}",
                        kind.describe(),
                        field.name,
                        field.unit,
                        match field.unit {
                            Unit::Percent => " (write 90 or 90%)",
                            Unit::Bytes | Unit::BytesPerSecond => " (write a size such as 500MB)",
                            Unit::Seconds | Unit::Milliseconds => " (write a duration such as 5m)",
                            _ => " (write a plain number)",
                        }
                    ),
                )),
            };
        }
        if kind == LiteralKind::Percent {
            return Err((
                at,
                format!("'{text}': a percentage is not a threshold here"),
            ));
        }
        let literal = parse_number(text).map_err(|message| (at, message))?;
        let timed = fit_window.is_some() || selector.source() == Source::Heartbeat;
        match literal {
            Literal::Seconds(secs) if timed => Ok(secs),
            Literal::Plain(n) if timed => Ok(n),
            _ if timed => Err((
                at,
                format!(
                    "'{text}' is not a duration: {} is compared with a time such as 4h",
                    if fit_window.is_some() {
                        "time_to_full"
                    } else {
                        "heartbeat_age"
                    }
                ),
            )),
            Literal::Plain(n) | Literal::Bytes(n) => Ok(n),
            Literal::Seconds(secs) => Ok(secs),
            Literal::Date(_) => Err((at, format!("'{text}': a date is not a threshold"))),
        }
    }

    fn selector(&mut self) -> Parsed<Selector> {
        let (name, at) = match self.take() {
            Some((Tok::Word(word), at)) => (word, at),
            Some((_, at)) => {
                return Err((at, "expected a series such as disk.usage_percent".into()));
            }
            None => {
                return Err((
                    self.end,
                    "expected a series such as cpu.usage_percent".into(),
                ));
            }
        };
        let Some((kind, field)) = name.split_once('.') else {
            return Err((
                at,
                format!("'{name}': name the kind and the field, as in cpu.{name}"),
            ));
        };
        if field.is_empty() || field.split('.').any(str::is_empty) {
            return Err((at, format!("'{name}' has an empty field name")));
        }
        let mut labels = Vec::new();
        if matches!(self.peek(), Some((Tok::Symbol("{"), _))) {
            self.next += 1;
            loop {
                let at = self.at();
                let key = match self.take() {
                    Some((Tok::Word(key), _)) if !key.contains('.') => key,
                    Some((Tok::Symbol("}"), _)) if labels.is_empty() => break,
                    _ => return Err((at, "expected a label name such as mount_point".into())),
                };
                match self.take() {
                    Some((Tok::Symbol("=" | "=="), _)) => {}
                    _ => return Err((self.at(), format!("expected '=' after label {key}"))),
                }
                let at = self.at();
                let value = match self.take() {
                    Some((Tok::Text(value), _)) => value,
                    _ => return Err((at, format!("the value of label {key} is quoted text"))),
                };
                if labels.len() == MAX_LABELS {
                    return Err((at, format!("at most {MAX_LABELS} labels")));
                }
                labels.push((key, value));
                match self.take() {
                    Some((Tok::Symbol(","), _)) => {}
                    Some((Tok::Symbol("}"), _)) => break,
                    _ => return Err((self.at(), "expected ',' or '}' in the labels".into())),
                }
            }
        }
        let selector = Selector {
            kind: kind.to_owned(),
            field: field.to_owned(),
            labels,
        };
        if selector.kind == "service" && selector.source() != Source::Service
            || selector.kind == "quota" && selector.source() != Source::Quota
        {
            return Err((
                at,
                format!("'{name}': the built-in series are service.down and quota.level"),
            ));
        }
        if selector.source() == Source::Service
            && !selector.labels.iter().any(|(key, _)| key == "name")
        {
            return Err((
                at,
                "service.down needs the unit: service.down{name=\"nginx.service\"}".into(),
            ));
        }
        Ok(selector)
    }
}

/// The schema's field of a metric selector (`None` for the built-in series), or an error at
/// `at` that lists what the kind has.
fn schema_field(selector: &Selector, at: usize) -> Parsed<Option<&'static MetricField>> {
    if selector.source() != Source::Metric {
        return Ok(None);
    }
    let name = format!("{}.{}", selector.kind, selector.field);
    match metrics::field(&name) {
        Some(field) if field.unit.is_numeric() => Ok(Some(field)),
        Some(field) => Err((
            at,
            format!("{name} is {}: an alert compares numbers", field.unit),
        )),
        None => {
            let known: Vec<&str> = metrics::fields_of(&selector.kind)
                .filter(|f| f.unit.is_numeric())
                .map(|f| f.name)
                .collect();
            Err((
                at,
                if known.is_empty() {
                    format!(
                        "'{name}': no metric kind '{}' (kinds: {}; built-ins: agent.heartbeat_age, \
                         service.down, quota.level)",
                        selector.kind,
                        metrics::kinds().join(", ")
                    )
                } else {
                    format!("'{name}' is not a field (known: {})", known.join(", "))
                },
            ))
        }
    }
}

/// Why `field` cannot be fitted to a time when full.
fn cannot_fill(field: &MetricField) -> String {
    match field.full {
        Some(Full::Capacity(capacity)) => format!(
            "time_to_full fits a percent that fills to 100; {} fills towards {capacity}: fit its \
             percent field instead (e.g. disk.usage_percent)",
            field.name
        ),
        _ => format!(
            "{} does not fill up (time_to_full fits fields such as disk.usage_percent)",
            field.name
        ),
    }
}

/// Seconds from the newest of `points` (time in seconds, value) until a least-squares line
/// through them reaches `full`: `Some(0.0)` when the fit is there already, `None` with fewer
/// than three points, no spread in time, or a line that is not rising.
pub fn time_to_full(points: &[(f64, f64)], full: f64) -> Option<f64> {
    if points.len() < 3 {
        return None;
    }
    let n = points.len() as f64;
    let mean_t = points.iter().map(|(t, _)| t).sum::<f64>() / n;
    let mean_v = points.iter().map(|(_, v)| v).sum::<f64>() / n;
    let (mut covariance, mut variance) = (0.0, 0.0);
    for (t, v) in points {
        covariance += (t - mean_t) * (v - mean_v);
        variance += (t - mean_t) * (t - mean_t);
    }
    if variance <= 0.0 {
        return None;
    }
    let slope = covariance / variance;
    let last = points.iter().map(|(t, _)| *t).fold(f64::MIN, f64::max);
    let now = mean_v + slope * (last - mean_t);
    if now >= full {
        return Some(0.0);
    }
    (slope > 0.0).then(|| (full - now) / slope)
}

/// Where an alert is in its life.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertState {
    Pending,
    Firing,
    Resolved,
}

impl AlertState {
    pub fn as_str(self) -> &'static str {
        match self {
            AlertState::Pending => "pending",
            AlertState::Firing => "firing",
            AlertState::Resolved => "resolved",
        }
    }

    pub fn named(name: &str) -> Option<AlertState> {
        [
            AlertState::Pending,
            AlertState::Firing,
            AlertState::Resolved,
        ]
        .into_iter()
        .find(|state| state.as_str() == name)
    }
}

/// What is kept of one alert between evaluations (times in ms since the epoch).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tracked {
    pub state: AlertState,
    /// When the condition began to hold (this episode).
    pub since: i64,
    pub fired_at: Option<i64>,
    pub resolved_at: Option<i64>,
    /// When a firing notice was last sent (or would have been, silenced).
    pub notified_at: Option<i64>,
    /// Whether this episode's firing was announced: its resolution is then announced too.
    pub announced: bool,
}

/// A notice to send.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Notice {
    Firing,
    Resolved,
}

/// One evaluation of one alert: from what was kept (`None`: never seen) and whether the
/// condition holds now, the new state (`None`: nothing to keep) and the notice to send.
pub fn step(
    previous: Option<Tracked>,
    holds: bool,
    now: i64,
    for_duration: Duration,
    cooldown: Duration,
) -> (Option<Tracked>, Option<Notice>) {
    let for_ms = i64::try_from(for_duration.as_millis()).unwrap_or(i64::MAX);
    let cooldown_ms = i64::try_from(cooldown.as_millis()).unwrap_or(i64::MAX);
    let active = previous.filter(|p| p.state != AlertState::Resolved);
    match (active, holds) {
        (None, false) => (previous, None),
        (Some(tracked), false) => {
            let notice = (tracked.state == AlertState::Firing && tracked.announced)
                .then_some(Notice::Resolved);
            let resolved = Tracked {
                state: AlertState::Resolved,
                resolved_at: Some(now),
                ..tracked
            };
            (Some(resolved), notice)
        }
        (Some(tracked), true) if tracked.state == AlertState::Firing => (Some(tracked), None),
        (active, true) => {
            let since = active.map_or(now, |pending| pending.since);
            let notified_at = previous.and_then(|p| p.notified_at);
            if now.saturating_sub(since) < for_ms {
                let pending = Tracked {
                    state: AlertState::Pending,
                    since,
                    fired_at: None,
                    resolved_at: None,
                    notified_at,
                    announced: false,
                };
                return (Some(pending), None);
            }
            let cooling = notified_at.is_some_and(|at| now.saturating_sub(at) < cooldown_ms);
            let firing = Tracked {
                state: AlertState::Firing,
                since,
                fired_at: Some(now),
                resolved_at: None,
                notified_at: if cooling { notified_at } else { Some(now) },
                announced: !cooling,
            };
            (Some(firing), (!cooling).then_some(Notice::Firing))
        }
    }
}

#[cfg(test)]
mod tests;
