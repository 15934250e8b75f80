//! The rule language: `extension == 'log' and days_since_modified > 90`,
//! `size >= 1GiB or path matches '**/cache/**'`, `age(atime) > 90d and atime is known`.
//!
//! A rule is parsed and type-checked once ([`Rule::parse`]); errors name the column and show a
//! caret under it. Evaluation is three-valued: an attribute the filesystem did not report (an
//! atime, an owner with no name) is *unknown*, comparisons with it are unknown, and a rule only
//! matches when it is definitely true — so an unknown attribute never selects a file for
//! deletion. `is known` / `is unknown` test for it explicitly.

use std::fmt;

use globset::GlobMatcher;
use serde::{Deserialize, Serialize};

use crate::lex::{self, Grammar, Tok, Token};
use crate::scan::{FileKind, FileMeta};
use crate::units::{Literal, parse_number};

/// Longest rule accepted, in bytes. Real rules are a line; the bound keeps every later step
/// (tokens, the expression tree) small whatever a request carries.
pub const MAX_RULE_LEN: usize = 4096;
/// Deepest nesting of parentheses and `not` accepted. Parsing and evaluation recurse once per
/// level, so this bounds their stack; chains of `and`/`or` are flat lists and do not nest.
pub const MAX_RULE_NESTING: usize = 64;

/// A rule that did not parse or type-check, with where.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleError {
    pub rule: String,
    /// 1-based column (in characters) where the problem is.
    pub column: usize,
    pub message: String,
}

impl fmt::Display for RuleError {
    /// `column 8: expected a value after '>'`, then the rule and a caret under the column.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "column {}: {}\n  {}\n  {}^",
            self.column,
            self.message,
            self.rule,
            " ".repeat(self.column - 1)
        )
    }
}

/// What a rule can ask about a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Field {
    Extension,
    Name,
    Path,
    Size,
    Kind,
    Owner,
    Group,
    Uid,
    Gid,
    Nlink,
    Depth,
    Mtime,
    Atime,
    Ctime,
    DaysSinceModified,
    DaysSinceAccessed,
    DaysSinceChanged,
}

/// The types of the language.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Type {
    Text,
    Integer,
    Bytes,
    /// A point in time.
    Time,
    /// A length of time.
    Duration,
    /// A number of days (the seed's `days_since_*`), compared with numbers or durations.
    Days,
}

impl fmt::Display for Type {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Type::Text => "text",
            Type::Integer => "an integer",
            Type::Bytes => "a size",
            Type::Time => "a date",
            Type::Duration => "a duration",
            Type::Days => "a number of days",
        })
    }
}

impl Field {
    const ALL: [(&'static str, Field); 19] = [
        ("extension", Field::Extension),
        ("name", Field::Name),
        ("path", Field::Path),
        ("size", Field::Size),
        ("kind", Field::Kind),
        ("owner", Field::Owner),
        ("user", Field::Owner),
        ("group", Field::Group),
        ("uid", Field::Uid),
        ("gid", Field::Gid),
        ("nlink", Field::Nlink),
        ("depth", Field::Depth),
        ("mtime", Field::Mtime),
        ("atime", Field::Atime),
        ("ctime", Field::Ctime),
        ("days_since_modified", Field::DaysSinceModified),
        ("days_since_accessed", Field::DaysSinceAccessed),
        ("days_since_changed", Field::DaysSinceChanged),
        ("modified", Field::Mtime),
    ];

    fn named(name: &str) -> Option<Field> {
        Field::ALL.iter().find(|(n, _)| *n == name).map(|(_, f)| *f)
    }

    pub fn ty(self) -> Type {
        match self {
            Field::Extension
            | Field::Name
            | Field::Path
            | Field::Kind
            | Field::Owner
            | Field::Group => Type::Text,
            Field::Uid | Field::Gid | Field::Nlink | Field::Depth => Type::Integer,
            Field::Size => Type::Bytes,
            Field::Mtime | Field::Atime | Field::Ctime => Type::Time,
            Field::DaysSinceModified | Field::DaysSinceAccessed | Field::DaysSinceChanged => {
                Type::Days
            }
        }
    }
}

/// What a rule is evaluated against: one file's attributes, with unknowns as `None`.
#[derive(Debug, Clone)]
pub struct Facts<'a> {
    /// May be left empty when no rule [uses](Rule::uses) `path` (building every path of a
    /// scan costs more than evaluating the rules).
    pub path: &'a [u8],
    pub name: &'a [u8],
    /// Lowercased; empty for none.
    pub extension: &'a [u8],
    pub meta: &'a FileMeta,
    pub depth: usize,
    pub owner: Option<&'a str>,
    pub group: Option<&'a str>,
    /// "Now" in seconds since the epoch, fixed for a whole plan so every file sees the same.
    pub now: i64,
}

/// A runtime value.
#[derive(Debug, Clone, PartialEq)]
enum Value<'a> {
    Text(&'a [u8]),
    Number(f64),
}

impl<'a> Facts<'a> {
    fn time(&self, field: Field) -> Option<i64> {
        let t = match field {
            Field::Mtime | Field::DaysSinceModified => self.meta.mtime,
            Field::Atime | Field::DaysSinceAccessed => self.meta.atime,
            _ => self.meta.ctime,
        };
        t.map(|t| t.secs)
    }

    fn value(&self, operand: Operand) -> Option<Value<'a>> {
        let number = |n: f64| Some(Value::Number(n));
        match operand {
            Operand::Age(field) => self
                .time(field)
                .map(|t| Value::Number((self.now - t) as f64)),
            Operand::Field(field) => match field {
                Field::Extension => Some(Value::Text(self.extension)),
                Field::Name => Some(Value::Text(self.name)),
                Field::Path => Some(Value::Text(self.path)),
                Field::Kind => Some(Value::Text(self.meta.kind.as_str().as_bytes())),
                Field::Owner => self.owner.map(|o| Value::Text(o.as_bytes())),
                Field::Group => self.group.map(|g| Value::Text(g.as_bytes())),
                Field::Uid => self.meta.uid.and_then(|uid| number(f64::from(uid))),
                Field::Gid => self.meta.gid.and_then(|gid| number(f64::from(gid))),
                Field::Nlink => self.meta.nlink.and_then(|links| number(links as f64)),
                Field::Depth => number(self.depth as f64),
                Field::Size => number(self.meta.size as f64),
                Field::Mtime | Field::Atime | Field::Ctime => {
                    self.time(field).map(|t| Value::Number(t as f64))
                }
                Field::DaysSinceModified | Field::DaysSinceAccessed | Field::DaysSinceChanged => {
                    self.time(field)
                        .map(|t| Value::Number((self.now - t) as f64 / 86_400.0))
                }
            },
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Operand {
    Field(Field),
    /// `age(mtime)`: the time since, as a duration.
    Age(Field),
}

impl Operand {
    fn ty(self) -> Type {
        match self {
            Operand::Field(f) => f.ty(),
            Operand::Age(_) => Type::Duration,
        }
    }
}

/// A comparison, as rules and alert conditions write it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum CompareOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl CompareOp {
    pub fn symbol(self) -> &'static str {
        match self {
            CompareOp::Eq => "==",
            CompareOp::Ne => "!=",
            CompareOp::Lt => "<",
            CompareOp::Le => "<=",
            CompareOp::Gt => ">",
            CompareOp::Ge => ">=",
        }
    }

    /// Whether a left side that compares to the right as `ordering` satisfies the comparison.
    pub fn holds(self, ordering: std::cmp::Ordering) -> bool {
        match self {
            CompareOp::Eq => ordering.is_eq(),
            CompareOp::Ne => ordering.is_ne(),
            CompareOp::Lt => ordering.is_lt(),
            CompareOp::Le => ordering.is_le(),
            CompareOp::Gt => ordering.is_gt(),
            CompareOp::Ge => ordering.is_ge(),
        }
    }
}

#[derive(Debug, Clone)]
enum Expr {
    Compare(Operand, CompareOp, Constant),
    In(Operand, Vec<Constant>),
    Glob(Operand, GlobMatcher),
    Regex(Operand, regex::bytes::Regex),
    Known(Operand, bool),
    /// Every term true (flat, however long the chain, so nothing recurses over its length).
    And(Vec<Expr>),
    /// Any term true.
    Or(Vec<Expr>),
    Not(Box<Expr>),
}

/// A literal after type checking: text, or a number in the operand's unit (bytes, seconds,
/// days, seconds since the epoch).
#[derive(Debug, Clone, PartialEq)]
enum Constant {
    Text(Vec<u8>),
    Number(f64),
}

/// A parsed, type-checked rule.
#[derive(Debug, Clone)]
pub struct Rule {
    source: String,
    expr: Expr,
}

impl Rule {
    pub fn parse(source: &str) -> Result<Rule, RuleError> {
        if source.len() > MAX_RULE_LEN {
            let mut end = MAX_RULE_LEN;
            while !source.is_char_boundary(end) {
                end -= 1;
            }
            return Err(RuleError {
                rule: source[..end].to_string(),
                column: column_of(source, end),
                message: format!(
                    "the rule is {} bytes long; the limit is {MAX_RULE_LEN}",
                    source.len()
                ),
            });
        }
        let tokens = lex(source)?;
        let mut parser = Parser {
            source,
            tokens,
            at: 0,
            depth: 0,
        };
        let expr = parser.or()?;
        if let Some(token) = parser.tokens.get(parser.at) {
            return Err(parser.error_at(
                token.start,
                format!("unexpected {} after a complete rule", token.describe()),
            ));
        }
        Ok(Rule {
            source: source.to_string(),
            expr,
        })
    }

    pub fn source(&self) -> &str {
        &self.source
    }

    /// Whether the rule reads `field` (directly or through `age()`), so callers can skip
    /// computing facts no rule asks for.
    pub fn uses(&self, field: Field) -> bool {
        fn walk(expr: &Expr, field: Field) -> bool {
            let reads = |operand: &Operand| matches!(operand, Operand::Field(f) | Operand::Age(f) if *f == field);
            match expr {
                Expr::Compare(o, _, _)
                | Expr::In(o, _)
                | Expr::Glob(o, _)
                | Expr::Regex(o, _)
                | Expr::Known(o, _) => reads(o),
                Expr::And(terms) | Expr::Or(terms) => terms.iter().any(|t| walk(t, field)),
                Expr::Not(a) => walk(a, field),
            }
        }
        walk(&self.expr, field)
    }

    /// `Some(true)` matches, `Some(false)` does not, `None` is unknown (treated as no match).
    pub fn evaluate(&self, facts: &Facts<'_>) -> Option<bool> {
        eval(&self.expr, facts)
    }

    pub fn matches(&self, facts: &Facts<'_>) -> bool {
        self.evaluate(facts) == Some(true)
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

fn eval(expr: &Expr, facts: &Facts<'_>) -> Option<bool> {
    match expr {
        Expr::And(terms) => kleene(terms, facts, false),
        Expr::Or(terms) => kleene(terms, facts, true),
        Expr::Not(a) => eval(a, facts).map(|v| !v),
        Expr::Known(operand, known) => Some(facts.value(*operand).is_some() == *known),
        Expr::Compare(operand, op, constant) => compare(&facts.value(*operand)?, *op, constant),
        Expr::In(operand, list) => {
            let value = facts.value(*operand)?;
            Some(
                list.iter()
                    .any(|c| compare(&value, CompareOp::Eq, c) == Some(true)),
            )
        }
        Expr::Glob(operand, glob) => match facts.value(*operand)? {
            Value::Text(text) => {
                Some(glob.is_match(std::path::Path::new(&*crate::os_str_from_bytes(text))))
            }
            Value::Number(_) => None,
        },
        Expr::Regex(operand, regex) => match facts.value(*operand)? {
            Value::Text(text) => Some(regex.is_match(text)),
            Value::Number(_) => None,
        },
    }
}

/// Kleene's three-valued `and` (`decisive` false) or `or` (`decisive` true) over `terms`: a
/// term equal to `decisive` decides; otherwise any unknown term makes the whole unknown.
fn kleene(terms: &[Expr], facts: &Facts<'_>, decisive: bool) -> Option<bool> {
    let mut all_known = true;
    for term in terms {
        match eval(term, facts) {
            Some(value) if value == decisive => return Some(decisive),
            Some(_) => {}
            None => all_known = false,
        }
    }
    all_known.then_some(!decisive)
}

fn compare(value: &Value<'_>, op: CompareOp, constant: &Constant) -> Option<bool> {
    let ordering = match (value, constant) {
        (Value::Text(a), Constant::Text(b)) => a.cmp(&b.as_slice()),
        (Value::Number(a), Constant::Number(b)) => a.partial_cmp(b)?,
        _ => return None,
    };
    Some(op.holds(ordering))
}

// ---- lexing ----

/// The policy language's tokens: `&&`, `||` and a lone `!` are `and`, `or` and `not`; numbers
/// may be dates (`2025-01-01`).
const GRAMMAR: Grammar = Grammar {
    symbols: &[
        "==", "!=", "<=", ">=", "=~", "&&", "||", "!", "<", ">", "(", ")", "[", "]", ",",
    ],
    word_bytes: b"",
    number_bytes: b".-",
    number_suffix: None,
    symbol_words: &[("&&", "and"), ("||", "or"), ("!", "not")],
    hints: &[('=', " (use '==' to compare)")],
};

fn column_of(source: &str, byte: usize) -> usize {
    source[..byte.min(source.len())].chars().count() + 1
}

fn lex(source: &str) -> Result<Vec<Token>, RuleError> {
    lex::lex(source, &GRAMMAR).map_err(|(at, message)| RuleError {
        rule: source.into(),
        column: column_of(source, at),
        message,
    })
}

// ---- parsing and type checking ----

struct Parser<'s> {
    source: &'s str,
    tokens: Vec<Token>,
    at: usize,
    /// Parentheses and `not`s open at this point.
    depth: usize,
}

impl Parser<'_> {
    fn error_at(&self, byte: usize, message: String) -> RuleError {
        RuleError {
            rule: self.source.into(),
            column: column_of(self.source, byte),
            message,
        }
    }

    /// Where the next token starts, or the end of the rule.
    fn here(&self) -> usize {
        self.tokens
            .get(self.at)
            .map_or(self.source.len(), |t| t.start)
    }

    fn peek_word(&self, word: &str) -> bool {
        matches!(self.tokens.get(self.at), Some(Token { tok: Tok::Word(w), .. }) if w.eq_ignore_ascii_case(word))
    }

    fn peek_symbol(&self, symbol: &str) -> bool {
        matches!(self.tokens.get(self.at), Some(Token { tok: Tok::Symbol(s), .. }) if *s == symbol)
    }

    fn expect_symbol(&mut self, symbol: &str, context: &str) -> Result<(), RuleError> {
        if self.peek_symbol(symbol) {
            self.at += 1;
            return Ok(());
        }
        let found = self
            .tokens
            .get(self.at)
            .map_or("the end of the rule".to_string(), Token::describe);
        Err(self.error_at(
            self.here(),
            format!("expected '{symbol}' {context}, found {found}"),
        ))
    }

    fn or(&mut self) -> Result<Expr, RuleError> {
        self.chain("or", Parser::and, Expr::Or)
    }

    fn and(&mut self) -> Result<Expr, RuleError> {
        self.chain("and", Parser::unary, Expr::And)
    }

    /// `term (word term)*` as one flat list, so a long chain nests nothing.
    fn chain(
        &mut self,
        word: &str,
        term: fn(&mut Self) -> Result<Expr, RuleError>,
        join: fn(Vec<Expr>) -> Expr,
    ) -> Result<Expr, RuleError> {
        let mut terms = vec![term(self)?];
        while self.peek_word(word) {
            self.at += 1;
            terms.push(term(self)?);
        }
        Ok(if terms.len() == 1 {
            terms.swap_remove(0)
        } else {
            join(terms)
        })
    }

    /// Enters one more level of `not` or parentheses, refusing past [`MAX_RULE_NESTING`].
    fn nest(&mut self) -> Result<(), RuleError> {
        if self.depth == MAX_RULE_NESTING {
            return Err(self.error_at(
                self.here(),
                format!("nested deeper than {MAX_RULE_NESTING} levels of parentheses and not"),
            ));
        }
        self.depth += 1;
        self.at += 1;
        Ok(())
    }

    fn unary(&mut self) -> Result<Expr, RuleError> {
        if self.peek_word("not") {
            self.nest()?;
            let inner = self.unary()?;
            self.depth -= 1;
            return Ok(Expr::Not(Box::new(inner)));
        }
        if self.peek_symbol("(") {
            self.nest()?;
            let inner = self.or()?;
            self.expect_symbol(")", "to close the parenthesis")?;
            self.depth -= 1;
            return Ok(inner);
        }
        self.condition()
    }

    fn operand(&mut self) -> Result<(Operand, usize), RuleError> {
        let start = self.here();
        let Some(Token {
            tok: Tok::Word(word),
            ..
        }) = self.tokens.get(self.at).cloned()
        else {
            let found = self
                .tokens
                .get(self.at)
                .map_or("the end of the rule".to_string(), Token::describe);
            return Err(self.error_at(
                start,
                format!("expected a field such as size or extension, found {found}"),
            ));
        };
        self.at += 1;
        let lower = word.to_ascii_lowercase();
        if lower == "age" {
            self.expect_symbol("(", "after age")?;
            let inner_start = self.here();
            let field = match self.tokens.get(self.at) {
                Some(Token {
                    tok: Tok::Word(w), ..
                }) => Field::named(&w.to_ascii_lowercase()),
                _ => None,
            };
            let Some(field) = field.filter(|f| f.ty() == Type::Time) else {
                return Err(self.error_at(inner_start, "age() takes mtime, atime or ctime".into()));
            };
            self.at += 1;
            self.expect_symbol(")", "to close age(")?;
            return Ok((Operand::Age(field), start));
        }
        match Field::named(&lower) {
            Some(field) => Ok((Operand::Field(field), start)),
            None => Err(self.error_at(
                start,
                format!("unknown field '{word}'; fields: {}", field_names()),
            )),
        }
    }

    fn condition(&mut self) -> Result<Expr, RuleError> {
        let (operand, _) = self.operand()?;
        let ty = operand.ty();
        let op_start = self.here();
        let op_token = self.tokens.get(self.at).cloned();
        self.at += 1;
        let compare = |op| Some(op);
        let op = match op_token.as_ref().map(|t| &t.tok) {
            Some(Tok::Symbol("==")) => compare(CompareOp::Eq),
            Some(Tok::Symbol("!=")) => compare(CompareOp::Ne),
            Some(Tok::Symbol("<")) => compare(CompareOp::Lt),
            Some(Tok::Symbol("<=")) => compare(CompareOp::Le),
            Some(Tok::Symbol(">")) => compare(CompareOp::Gt),
            Some(Tok::Symbol(">=")) => compare(CompareOp::Ge),
            _ => None,
        };
        if let Some(op) = op {
            if ty == Type::Text && !matches!(op, CompareOp::Eq | CompareOp::Ne) {
                return Err(self.error_at(
                    op_start,
                    "text is compared with == or != (or matches, =~, in)".into(),
                ));
            }
            let constant = self.constant(operand)?;
            return Ok(Expr::Compare(operand, op, constant));
        }
        match op_token.map(|t| t.tok) {
            Some(Tok::Word(w)) if w.eq_ignore_ascii_case("in") => {
                self.expect_symbol("[", "to start the list after in")?;
                let mut list = vec![self.constant(operand)?];
                while self.peek_symbol(",") {
                    self.at += 1;
                    list.push(self.constant(operand)?);
                }
                self.expect_symbol("]", "to close the list")?;
                Ok(Expr::In(operand, list))
            }
            Some(Tok::Word(w)) if w.eq_ignore_ascii_case("matches") => {
                let (pattern, at) = self.text("a glob pattern after matches")?;
                self.require_text(ty, op_start)?;
                let glob = crate::glob::build(&pattern, false).map_err(|e| {
                    // Point into the pattern when it was written without escapes.
                    let written_as_is = self.source[at + 1..].starts_with(pattern.as_str());
                    let where_ = match e.offset {
                        Some(offset) if written_as_is => at + 1 + offset,
                        _ => at,
                    };
                    self.error_at(where_, format!("bad glob: {}", e.message))
                })?;
                Ok(Expr::Glob(operand, glob.compile_matcher()))
            }
            Some(Tok::Symbol("=~")) => {
                let (pattern, at) = self.text("a regular expression after =~")?;
                self.require_text(ty, op_start)?;
                // The regex crate guarantees linear-time matching: no catastrophic backtracking.
                let regex = regex::bytes::RegexBuilder::new(&pattern)
                    .size_limit(1 << 20)
                    .build()
                    .map_err(|e| self.error_at(at, format!("bad regular expression: {e}")))?;
                Ok(Expr::Regex(operand, regex))
            }
            Some(Tok::Word(w)) if w.eq_ignore_ascii_case("is") => {
                let negated = self.peek_word("not");
                if negated {
                    self.at += 1;
                }
                let word_at = self.here();
                let known = match self.tokens.get(self.at).map(|t| &t.tok) {
                    Some(Tok::Word(w)) if w.eq_ignore_ascii_case("known") => true,
                    Some(Tok::Word(w)) if w.eq_ignore_ascii_case("unknown") => false,
                    _ => {
                        return Err(
                            self.error_at(word_at, "expected 'known' or 'unknown' after is".into())
                        );
                    }
                };
                self.at += 1;
                Ok(Expr::Known(operand, known != negated))
            }
            _ => Err(self.error_at(
                op_start,
                "expected an operator: == != < <= > >= in matches =~ or is known/unknown".into(),
            )),
        }
    }

    fn require_text(&self, ty: Type, at: usize) -> Result<(), RuleError> {
        if ty == Type::Text {
            Ok(())
        } else {
            Err(self.error_at(at, format!("matches and =~ apply to text, not {ty}")))
        }
    }

    fn text(&mut self, what: &str) -> Result<(String, usize), RuleError> {
        let at = self.here();
        match self.tokens.get(self.at).cloned() {
            Some(Token {
                tok: Tok::Text(t), ..
            }) => {
                self.at += 1;
                Ok((t, at))
            }
            _ => Err(self.error_at(at, format!("expected {what} in quotes"))),
        }
    }

    /// A literal, checked against the operand's type and converted to its unit.
    fn constant(&mut self, operand: Operand) -> Result<Constant, RuleError> {
        let ty = operand.ty();
        let at = self.here();
        let token = self.tokens.get(self.at).cloned();
        self.at += 1;
        let mismatch = |found: &str| {
            self_error(
                self.source,
                at,
                format!("{} is {ty}, not {found}", operand_name(operand)),
            )
        };
        match token.map(|t| t.tok) {
            Some(Tok::Text(text)) => {
                if ty != Type::Text {
                    return Err(mismatch("text"));
                }
                if operand == Operand::Field(Field::Kind)
                    && !FileKind::ALL.iter().any(|k| k.as_str() == text)
                {
                    return Err(self.error_at(at, format!("kind is one of {}", kind_names())));
                }
                let text = if operand == Operand::Field(Field::Extension) {
                    text.trim_start_matches('.').to_ascii_lowercase()
                } else {
                    text
                };
                Ok(Constant::Text(text.into_bytes()))
            }
            Some(Tok::Number(number)) => {
                let literal =
                    parse_number(&number).map_err(|message| self.error_at(at, message))?;
                let value = match (ty, literal) {
                    (Type::Integer | Type::Bytes | Type::Days, Literal::Plain(n)) => n,
                    (Type::Bytes, Literal::Bytes(n)) => n,
                    (Type::Duration, Literal::Seconds(s)) => s,
                    (Type::Days, Literal::Seconds(s)) => s / 86_400.0,
                    (Type::Time, Literal::Date(secs)) => secs,
                    (_, literal) => return Err(mismatch(literal.type_name())),
                };
                Ok(Constant::Number(value))
            }
            Some(Tok::Word(w)) => Err(mismatch(&format!("the word '{w}' (quote text: '{w}')"))),
            Some(Tok::Symbol(s)) => {
                Err(self.error_at(at, format!("expected a value, found '{s}'")))
            }
            None => Err(self.error_at(at, "expected a value at the end of the rule".into())),
        }
    }
}

fn self_error(source: &str, at: usize, message: String) -> RuleError {
    RuleError {
        rule: source.into(),
        column: column_of(source, at),
        message,
    }
}

fn operand_name(operand: Operand) -> String {
    match operand {
        Operand::Age(f) => format!("age({})", field_name(f)),
        Operand::Field(f) => field_name(f).to_string(),
    }
}

fn field_name(field: Field) -> &'static str {
    Field::ALL
        .iter()
        .find(|(_, f)| *f == field)
        .map_or("?", |(n, _)| n)
}

fn field_names() -> String {
    Field::ALL
        .iter()
        .map(|(n, _)| *n)
        .collect::<Vec<_>>()
        .join(", ")
}

fn kind_names() -> String {
    FileKind::ALL.map(FileKind::as_str).join(", ")
}
