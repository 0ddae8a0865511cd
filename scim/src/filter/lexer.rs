//! Splits a filter into tokens, each with its byte offset for error messages.

use crate::error::ScimError;

/// One token of a filter.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Tok {
    LParen,
    RParen,
    LBracket,
    RBracket,
    /// A JSON string literal, unescaped.
    Str(String),
    /// Anything else: an attribute path, an operator, `and`/`or`/`not`, a number,
    /// `true`/`false`/`null`.
    Word(String),
}

/// A token and the byte offset where it starts.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Token {
    pub(crate) tok: Tok,
    pub(crate) pos: usize,
}

/// The error for a filter, naming the 1-based character position and the rule broken.
pub(crate) fn error_at(input: &str, pos: usize, rule: &str) -> ScimError {
    let column = input.get(..pos).map_or(pos, |s| s.chars().count()) + 1;
    ScimError::invalid_filter(format!("invalid filter at character {column}: {rule}"))
}

/// Tokens of `input`. Strings follow JSON (RFC 8259) escaping, as RFC 7644 §3.4.2.2 says.
pub(crate) fn tokenize(input: &str) -> Result<Vec<Token>, ScimError> {
    let mut tokens = Vec::new();
    let mut chars = input.char_indices().peekable();
    while let Some(&(pos, c)) = chars.peek() {
        let single = match c {
            '(' => Some(Tok::LParen),
            ')' => Some(Tok::RParen),
            '[' => Some(Tok::LBracket),
            ']' => Some(Tok::RBracket),
            _ => None,
        };
        if let Some(tok) = single {
            chars.next();
            tokens.push(Token { tok, pos });
        } else if c.is_whitespace() {
            chars.next();
        } else if c == '"' {
            let end = string_end(input, pos)
                .ok_or_else(|| error_at(input, pos, "string literal has no closing double quote"))?;
            let raw = input.get(pos..end).unwrap_or_default();
            let s: String = serde_json::from_str(raw).map_err(|_| {
                error_at(input, pos, "string literal has an invalid JSON escape or control character")
            })?;
            while chars.peek().is_some_and(|&(p, _)| p < end) {
                chars.next();
            }
            tokens.push(Token { tok: Tok::Str(s), pos });
        } else {
            let mut word = String::new();
            while let Some(&(_, c)) = chars.peek() {
                if c.is_whitespace() || matches!(c, '(' | ')' | '[' | ']' | '"') {
                    break;
                }
                word.push(c);
                chars.next();
            }
            tokens.push(Token { tok: Tok::Word(word), pos });
        }
    }
    Ok(tokens)
}

/// The byte offset just past the closing quote of the string starting at `start`.
fn string_end(input: &str, start: usize) -> Option<usize> {
    let bytes = input.as_bytes();
    let mut i = start + 1;
    while i < bytes.len() {
        match bytes.get(i)? {
            b'\\' => i += 2,
            b'"' => return Some(i + 1),
            _ => i += 1,
        }
    }
    None
}
