//! Recursive descent over the RFC 7644 §3.4.2.2 grammar:
//!
//! ```text
//! or    = and *("or" and)
//! and   = unary *("and" unary)
//! unary = "not" "(" or ")" | "(" or ")" | attrPath "pr" | attrPath compareOp compValue
//!       | attrPath "[" or "]"          ; no value path inside a value path
//! ```

use serde_json::Value;

use super::lexer::{Tok, Token, error_at, tokenize};
use super::{AttrPath, CompareOp, FILTER_LENGTH_MAX, FILTER_NESTING_MAX, Filter};
use crate::error::ScimError;

struct Parser<'a> {
    input: &'a str,
    tokens: Vec<Token>,
    next: usize,
    depth: usize,
    in_value_path: bool,
}

/// Parses a whole filter.
pub(crate) fn parse(input: &str) -> Result<Filter, ScimError> {
    if input.len() > FILTER_LENGTH_MAX {
        return Err(ScimError::invalid_filter(format!(
            "filter is {} bytes long, longer than the {FILTER_LENGTH_MAX} accepted",
            input.len()
        )));
    }
    let tokens = tokenize(input)?;
    if tokens.is_empty() {
        return Err(ScimError::invalid_filter("filter is empty"));
    }
    let mut p = Parser { input, tokens, next: 0, depth: 0, in_value_path: false };
    let f = p.or()?;
    match p.peek() {
        None => Ok(f),
        Some(t) => Err(p.err(t.pos, "expected 'and', 'or' or the end of the filter")),
    }
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.next)
    }

    fn bump(&mut self) -> Option<Token> {
        let t = self.tokens.get(self.next).cloned();
        self.next += 1;
        t
    }

    fn end_pos(&self) -> usize {
        self.input.len()
    }

    fn err(&self, pos: usize, rule: &str) -> ScimError {
        error_at(self.input, pos, rule)
    }

    fn peek_keyword(&self, kw: &str) -> bool {
        matches!(self.peek(), Some(Token { tok: Tok::Word(w), .. }) if w.eq_ignore_ascii_case(kw))
    }

    fn or(&mut self) -> Result<Filter, ScimError> {
        let mut left = self.and()?;
        while self.peek_keyword("or") {
            self.bump();
            let right = self.and()?;
            left = Filter::Or(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Filter, ScimError> {
        let mut left = self.unary()?;
        while self.peek_keyword("and") {
            self.bump();
            let right = self.unary()?;
            left = Filter::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    /// Enters one level of nesting, refusing a filter nested deeper than the bound.
    fn descend(&mut self, pos: usize) -> Result<(), ScimError> {
        self.depth += 1;
        if self.depth > FILTER_NESTING_MAX {
            return Err(self.err(pos, &format!("filter nests deeper than {FILTER_NESTING_MAX} levels")));
        }
        Ok(())
    }

    fn expect(&mut self, want: &Tok, rule: &str) -> Result<(), ScimError> {
        match self.bump() {
            Some(t) if &t.tok == want => Ok(()),
            Some(t) => Err(self.err(t.pos, rule)),
            None => Err(self.err(self.end_pos(), rule)),
        }
    }

    fn unary(&mut self) -> Result<Filter, ScimError> {
        let Some(t) = self.bump() else {
            return Err(
                self.err(self.end_pos(), "expected an attribute path, 'not' or '(' but the filter ended")
            );
        };
        match t.tok {
            Tok::LParen => {
                self.descend(t.pos)?;
                let f = self.or()?;
                self.expect(&Tok::RParen, "expected ')' to close the '('")?;
                self.depth -= 1;
                Ok(f)
            }
            Tok::Word(w) if w.eq_ignore_ascii_case("not") => {
                self.descend(t.pos)?;
                self.expect(&Tok::LParen, "'not' must be followed by a filter in parentheses")?;
                let f = self.or()?;
                self.expect(&Tok::RParen, "expected ')' to close 'not ('")?;
                self.depth -= 1;
                Ok(Filter::Not(Box::new(f)))
            }
            Tok::Word(w) => self.attr_expr(&w, t.pos),
            Tok::Str(_) => Err(self.err(t.pos, "expected an attribute path, found a string")),
            _ => Err(self.err(t.pos, "expected an attribute path, 'not' or '('")),
        }
    }

    fn attr_expr(&mut self, word: &str, pos: usize) -> Result<Filter, ScimError> {
        if is_keyword(word) {
            return Err(self.err(pos, &format!("expected an attribute path, found the keyword '{word}'")));
        }
        let path = AttrPath::parse(word).map_err(|rule| self.err(pos, &rule))?;
        let Some(t) = self.bump() else {
            return Err(self.err(
                self.end_pos(),
                "expected an operator (eq ne co sw ew gt ge lt le pr) or '[' after the attribute path",
            ));
        };
        match t.tok {
            Tok::LBracket => self.value_path(path, pos),
            Tok::Word(w) if w.eq_ignore_ascii_case("pr") => Ok(Filter::Present(path)),
            Tok::Word(w) => match CompareOp::from_word(&w) {
                Some(op) => {
                    let value = self.comp_value()?;
                    Ok(Filter::Compare { path, op, value })
                }
                None => Err(self.err(
                    t.pos,
                    &format!("'{w}' is not an operator: expected eq ne co sw ew gt ge lt le or pr"),
                )),
            },
            _ => Err(self.err(
                t.pos,
                "expected an operator (eq ne co sw ew gt ge lt le pr) or '[' after the attribute path",
            )),
        }
    }

    fn value_path(&mut self, path: AttrPath, pos: usize) -> Result<Filter, ScimError> {
        if self.in_value_path {
            return Err(self.err(pos, "a value filter '[...]' cannot contain another value filter"));
        }
        if path.sub_attr.is_some() {
            return Err(
                self.err(pos, "a value filter '[...]' applies to an attribute, not to a sub-attribute")
            );
        }
        self.descend(pos)?;
        self.in_value_path = true;
        let inner = self.or()?;
        self.in_value_path = false;
        self.expect(&Tok::RBracket, "expected ']' to close the value filter")?;
        self.depth -= 1;
        Ok(Filter::ValuePath { path, filter: Box::new(inner) })
    }

    fn comp_value(&mut self) -> Result<Value, ScimError> {
        let rule = "expected a value after the operator: a \"string\", a number, true, false or null";
        let Some(t) = self.bump() else {
            return Err(self.err(self.end_pos(), rule));
        };
        match t.tok {
            Tok::Str(s) => Ok(Value::String(s)),
            Tok::Word(w) if w.eq_ignore_ascii_case("true") => Ok(Value::Bool(true)),
            Tok::Word(w) if w.eq_ignore_ascii_case("false") => Ok(Value::Bool(false)),
            Tok::Word(w) if w.eq_ignore_ascii_case("null") => Ok(Value::Null),
            Tok::Word(w) if w.starts_with(|c: char| c == '-' || c.is_ascii_digit()) => {
                match serde_json::from_str::<serde_json::Number>(&w) {
                    Ok(n) => Ok(Value::Number(n)),
                    Err(_) => Err(self.err(t.pos, &format!("'{w}' is not a JSON number"))),
                }
            }
            _ => Err(self.err(t.pos, rule)),
        }
    }
}

fn is_keyword(word: &str) -> bool {
    ["and", "or", "not", "pr"].iter().any(|k| k.eq_ignore_ascii_case(word))
        || CompareOp::from_word(word).is_some()
}
