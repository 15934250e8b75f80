//! The one lexer of Spectra's small languages: policy rules (`size > 1GB and extension ==
//! 'log'`) and alert conditions (`disk.usage_percent{mount_point="/"} > 90 for 10m`). They
//! share words, quoted text, numbers with their units and symbols; each says in a
//! [`Grammar`] what it adds.

/// One token.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Tok {
    Word(String),
    Text(String),
    /// A number with its unit suffix as written (`90d`, `1.5GiB`, `2025-01-01`, `42`, `80%`).
    Number(String),
    Symbol(&'static str),
}

#[derive(Debug, Clone)]
pub(crate) struct Token {
    pub tok: Tok,
    /// Byte offset in the source.
    pub start: usize,
}

impl Token {
    /// The token as an error message names it.
    pub fn describe(&self) -> String {
        match &self.tok {
            Tok::Word(w) => format!("'{w}'"),
            Tok::Text(t) => format!("the text '{t}'"),
            Tok::Number(n) => format!("'{n}'"),
            Tok::Symbol(s) => format!("'{s}'"),
        }
    }
}

/// What a language adds to the common tokens.
#[derive(Debug)]
pub(crate) struct Grammar {
    /// Longest first where one begins another (`<=` before `<`).
    pub symbols: &'static [&'static str],
    /// Bytes a word may hold besides ASCII letters, digits and `_` (`.` for dotted names).
    pub word_bytes: &'static [u8],
    /// Bytes a number may hold besides ASCII letters and digits (`.`, `-` for dates).
    pub number_bytes: &'static [u8],
    /// A byte that may end a number (`%`).
    pub number_suffix: Option<u8>,
    /// Symbols that are words of the language (`&&` for `and`).
    pub symbol_words: &'static [(&'static str, &'static str)],
    /// What to add to "unexpected character" for a character a user may have meant as
    /// something else (`=` for `==`).
    pub hints: &'static [(char, &'static str)],
}

/// The text of the quoted literal that opens at byte `start` of `source` (`'…'` or `"…"`,
/// a backslash taking the next character as it is) and the byte offset just past it.
pub(crate) fn quoted_text(source: &str, start: usize) -> Result<(String, usize), String> {
    let quote = source[start..].chars().next().unwrap_or('"');
    let mut text = String::new();
    let mut chars = source[start + quote.len_utf8()..].char_indices();
    while let Some((offset, ch)) = chars.next() {
        match ch {
            '\\' => match chars.next() {
                Some((_, escaped)) => text.push(escaped),
                None => break,
            },
            _ if ch == quote => return Ok((text, start + quote.len_utf8() + offset + 1)),
            _ => text.push(ch),
        }
    }
    Err("unterminated text: add the closing quote".into())
}

/// The tokens of `source`, or the byte offset and message of the first that is not one.
pub(crate) fn lex(source: &str, grammar: &Grammar) -> Result<Vec<Token>, (usize, String)> {
    let bytes = source.as_bytes();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        let start = i;
        if c.is_ascii_whitespace() {
            i += 1;
            continue;
        }
        let tok = if c == b'\'' || c == b'"' {
            let (text, end) = quoted_text(source, start).map_err(|message| (start, message))?;
            i = end;
            Tok::Text(text)
        } else if c.is_ascii_digit() {
            while i < bytes.len()
                && (bytes[i].is_ascii_alphanumeric() || grammar.number_bytes.contains(&bytes[i]))
            {
                i += 1;
            }
            if grammar.number_suffix.is_some() && bytes.get(i) == grammar.number_suffix.as_ref() {
                i += 1;
            }
            Tok::Number(source[start..i].to_owned())
        } else if c.is_ascii_alphabetic() || c == b'_' {
            while i < bytes.len()
                && (bytes[i].is_ascii_alphanumeric()
                    || bytes[i] == b'_'
                    || grammar.word_bytes.contains(&bytes[i]))
            {
                i += 1;
            }
            Tok::Word(source[start..i].to_owned())
        } else if let Some(symbol) = grammar
            .symbols
            .iter()
            .find(|s| source[i..].starts_with(**s))
        {
            i += symbol.len();
            match grammar.symbol_words.iter().find(|(s, _)| s == symbol) {
                Some((_, word)) => Tok::Word((*word).to_owned()),
                None => Tok::Symbol(symbol),
            }
        } else {
            let ch = source[i..].chars().next().unwrap_or('?');
            let hint = grammar
                .hints
                .iter()
                .find(|(c, _)| *c == ch)
                .map_or("", |(_, hint)| hint);
            return Err((start, format!("unexpected character '{ch}'{hint}")));
        };
        tokens.push(Token { tok, start });
    }
    Ok(tokens)
}

#[cfg(test)]
mod tests {
    use super::*;

    const GRAMMAR: Grammar = Grammar {
        symbols: &["==", "!", "<", "(", ")"],
        word_bytes: b".",
        number_bytes: b".-",
        number_suffix: Some(b'%'),
        symbol_words: &[("!", "not")],
        hints: &[('=', " (use '==')")],
    };

    fn toks(source: &str) -> Vec<Tok> {
        lex(source, &GRAMMAR)
            .expect("lexes")
            .into_iter()
            .map(|t| t.tok)
            .collect()
    }

    #[test]
    fn the_grammar_decides_words_numbers_and_symbols() {
        assert_eq!(
            toks("disk.used == 2025-01-01 < 80% !(x 'a\\'b')"),
            [
                Tok::Word("disk.used".into()),
                Tok::Symbol("=="),
                Tok::Number("2025-01-01".into()),
                Tok::Symbol("<"),
                Tok::Number("80%".into()),
                Tok::Word("not".into()),
                Tok::Symbol("("),
                Tok::Word("x".into()),
                Tok::Text("a'b".into()),
                Tok::Symbol(")"),
            ]
        );
    }

    #[test]
    fn errors_give_the_byte_and_the_hint() {
        let error = lex("ab = 1", &GRAMMAR).expect_err("bad");
        assert_eq!(error, (3, "unexpected character '=' (use '==')".into()));
        let error = lex("x == 'open", &GRAMMAR).expect_err("bad");
        assert_eq!(error.0, 5);
        assert!(error.1.contains("closing quote"));
        let error = lex("é", &GRAMMAR).expect_err("bad");
        assert_eq!(error, (0, "unexpected character 'é'".into()));
    }
}
