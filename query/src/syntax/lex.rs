//! Lexical pieces of RQL, built from nom combinators: trivia (whitespace and
//! `--` comments), identifiers, quoted names, numbers, durations and the
//! shape of time literals.
//!
//! Invariant: every function here is linear in the input it consumes and
//! never recurses; none skips trivia unless its name says so.

use nom::branch::alt;
use nom::bytes::complete::{tag, take_till, take_while, take_while_m_n, take_while1};
use nom::character::complete::{char, one_of, satisfy};
use nom::combinator::{opt, recognize};
use nom::sequence::{pair, preceded};
use nom::{IResult, Parser};

use super::KEYWORDS;

/// `nom`'s default error, used only inside this module; the grammar turns
/// failures into its own diagnostics.
pub(crate) type LexResult<'a, T> = IResult<&'a str, T, nom::error::Error<&'a str>>;

pub(crate) fn is_ident_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_'
}

pub(crate) fn is_ident_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')
}

/// One comment: `--` to the end of the line (the newline is not included).
pub(crate) fn comment(i: &str) -> LexResult<'_, &str> {
    recognize(preceded(tag("--"), take_till(|c| c == '\n'))).parse(i)
}

/// Skips whitespace and comments.
pub(crate) fn trivia(mut i: &str) -> &str {
    loop {
        let j = i.trim_start();
        match comment(j) {
            Ok((rest, _)) => i = rest,
            Err(_) => return j,
        }
    }
}

/// `[A-Za-z_][A-Za-z0-9_.-]*`
pub(crate) fn ident(i: &str) -> LexResult<'_, &str> {
    recognize(pair(satisfy(is_ident_start), take_while(is_ident_char))).parse(i)
}

/// The keyword `word` (case-insensitive) as a whole identifier.
pub(crate) fn keyword<'a>(i: &'a str, word: &str) -> Option<&'a str> {
    match ident(i) {
        Ok((rest, w)) if w.eq_ignore_ascii_case(word) => Some(rest),
        _ => None,
    }
}

/// True when `word` is a reserved keyword.
pub(crate) fn is_keyword(word: &str) -> bool {
    KEYWORDS.iter().any(|k| k.eq_ignore_ascii_case(word))
}

/// `NOW` in a time position: unlike a keyword it may be followed directly by
/// `+` or `-` (`NOW-1d`).
pub(crate) fn now(i: &str) -> Option<&str> {
    let head = i.get(..3)?;
    if !head.eq_ignore_ascii_case("now") {
        return None;
    }
    let rest = &i[3..];
    match rest.chars().next() {
        Some(c) if c.is_ascii_alphanumeric() || c == '_' || c == '.' => None,
        _ => Some(rest),
    }
}

/// `$name` with `name` = `[A-Za-z_][A-Za-z0-9_]*`; returns the name.
pub(crate) fn param(i: &str) -> LexResult<'_, &str> {
    preceded(
        char('$'),
        recognize(pair(
            satisfy(is_ident_start),
            take_while(|c: char| c.is_ascii_alphanumeric() || c == '_'),
        )),
    )
    .parse(i)
}

/// ASCII digits.
pub(crate) fn digits(i: &str) -> LexResult<'_, &str> {
    take_while1(|c: char| c.is_ascii_digit()).parse(i)
}

/// The letters of a duration unit.
pub(crate) fn unit(i: &str) -> LexResult<'_, &str> {
    take_while1(|c: char| c.is_ascii_alphabetic()).parse(i)
}

fn n_digits(n: usize) -> impl Fn(&str) -> LexResult<'_, &str> {
    move |i| take_while_m_n(n, n, |c: char| c.is_ascii_digit()).parse(i)
}

/// The shape of a time literal: `YYYY-MM-DD`, optionally followed by
/// `THH:MM:SS[.fff]` and `Z` or `+HH:MM` / `-HH:MM`. Values are checked by
/// `Timestamp::parse`, not here.
pub(crate) fn time_literal(i: &str) -> LexResult<'_, &str> {
    let date = (n_digits(4), char('-'), n_digits(2), char('-'), n_digits(2));
    let fraction = preceded(char('.'), digits);
    let offset = alt((
        recognize(one_of("Zz")),
        recognize((one_of("+-"), n_digits(2), char(':'), n_digits(2))),
    ));
    let time = (
        one_of("Tt"),
        n_digits(2),
        char(':'),
        n_digits(2),
        char(':'),
        n_digits(2),
        opt(fraction),
        opt(offset),
    );
    recognize(pair(date, opt(time))).parse(i)
}

/// True when a literal matched by [`time_literal`] carries an offset (`Z`,
/// `+02:00`, `-05:00`); a bare date or a date-time without one is a local
/// time.
pub(crate) fn has_offset(literal: &str) -> bool {
    literal
        .get(10..)
        .is_some_and(|time| time.contains(['Z', 'z', '+', '-']))
}

/// A time zone name written bare: `UTC`, `Europe/Berlin`, `Etc/GMT+1`
/// (letters, digits and `_ . / + -`, starting with a letter).
pub(crate) fn zone_name(i: &str) -> LexResult<'_, &str> {
    recognize(pair(
        satisfy(|c: char| c.is_ascii_alphabetic()),
        take_while(|c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '/' | '+' | '-')),
    ))
    .parse(i)
}

/// The longest run of characters that could belong to a time literal, for
/// error messages about a malformed one.
pub(crate) fn time_like(i: &str) -> &str {
    let end = i
        .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, ':' | '.' | '-' | '+')))
        .unwrap_or(i.len());
    &i[..end]
}

/// Why a quoted name did not lex.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum QuotedError {
    /// No closing quote; offset of the opening one.
    Unterminated,
    /// A backslash followed by something other than `"` or `\`, at this byte
    /// offset from the opening quote.
    BadEscape(usize),
}

/// A double-quoted name with `\"` and `\\` escapes; returns the rest and the
/// unescaped text. `i` must start with `"`.
pub(crate) fn quoted(i: &str) -> Result<(&str, String), QuotedError> {
    let mut out = String::new();
    let mut chars = i.char_indices().skip(1);
    while let Some((at, c)) = chars.next() {
        match c {
            '"' => return Ok((&i[at + 1..], out)),
            '\\' => match chars.next() {
                Some((_, e @ ('"' | '\\'))) => out.push(e),
                Some(_) => return Err(QuotedError::BadEscape(at)),
                None => return Err(QuotedError::Unterminated),
            },
            c => out.push(c),
        }
    }
    Err(QuotedError::Unterminated)
}

/// A short description of the token at the start of `i` (after trivia) and
/// its length in bytes, for "found ..." in diagnostics.
pub(crate) fn describe(i: &str) -> (String, usize) {
    const MAX_CHARS: usize = 32;
    fn clip(s: &str) -> String {
        if s.chars().count() > MAX_CHARS {
            let cut: String = s.chars().take(MAX_CHARS).collect();
            format!("{cut}...")
        } else {
            s.to_owned()
        }
    }
    let Some(c) = i.chars().next() else {
        return ("end of input".to_owned(), 0);
    };
    if c == '"' {
        let len = match quoted(i) {
            Ok((rest, _)) => i.len() - rest.len(),
            Err(_) => i.find('\n').unwrap_or(i.len()),
        };
        return (format!("the name {}", clip(&i[..len])), len);
    }
    if let Ok((rest, w)) = ident(i) {
        let text = if is_keyword(w) {
            format!("keyword `{}`", w.to_ascii_uppercase())
        } else {
            format!("`{}`", clip(w))
        };
        return (text, i.len() - rest.len());
    }
    if c.is_ascii_digit() {
        let t = time_like(i);
        return (format!("`{}`", clip(t)), t.len());
    }
    if let Ok((rest, _)) = param(i) {
        let len = i.len() - rest.len();
        return (format!("`{}`", clip(&i[..len])), len);
    }
    (format!("`{}`", c.escape_debug()), c.len_utf8())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trivia_skips_comments_and_space() {
        assert_eq!(trivia("  -- hi\n  -- there\n STATES"), "STATES");
        assert_eq!(trivia("-- only"), "");
        assert_eq!(trivia("x"), "x");
    }

    #[test]
    fn time_literal_shapes() {
        for ok in [
            "2026-11-01",
            "2026-11-01T12:00:00Z",
            "2026-11-01T12:00:00.250+02:00",
            "2026-11-01T12:00:00",
        ] {
            assert_eq!(
                time_literal(ok).map(|(r, t)| (r, t.len())),
                Ok(("", ok.len())),
                "{ok}"
            );
        }
        assert_eq!(time_literal("2026-11-01T12:00:00-1d").map(|r| r.0), Ok("-1d"));
        assert!(time_literal("2026-1-01").is_err());
    }

    #[test]
    fn quoted_names() {
        assert_eq!(
            quoted(r#""All Desktops" x"#),
            Ok((" x", "All Desktops".to_owned()))
        );
        assert_eq!(quoted(r#""a\"b\\c""#), Ok(("", "a\"b\\c".to_owned())));
        assert_eq!(quoted(r#""abc"#), Err(QuotedError::Unterminated));
        assert_eq!(quoted(r#""a\nb""#), Err(QuotedError::BadEscape(2)));
    }

    #[test]
    fn now_boundary() {
        assert_eq!(now("NOW-1d"), Some("-1d"));
        assert_eq!(now("now;"), Some(";"));
        assert_eq!(now("nowhere"), None);
        assert_eq!(now("no"), None);
    }
}
