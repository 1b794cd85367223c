//! A statement as the lint rules read it: its tokens (comments and whitespace skipped), read
//! with core's one tokenizer, and a few helpers to match keywords and names.

use crate::lex::{Token, TokenKind, tokens};
use crate::split::{Dialect, Statement};

/// One statement of a section, tokenized.
pub(crate) struct Stmt<'a> {
    /// The tokens, trivia skipped.
    pub toks: Vec<Token<'a>>,
    /// The statement's byte offset within its section's SQL.
    pub offset: usize,
    /// The statement's text.
    pub sql: &'a str,
}

impl<'a> Stmt<'a> {
    pub fn new(statement: &Statement<'a>, dialect: Dialect) -> Self {
        Stmt {
            toks: tokens(statement.sql, dialect),
            offset: statement.offset,
            sql: statement.sql,
        }
    }

    /// Whether token `i` is the keyword `kw`.
    pub fn is(&self, i: usize, kw: &str) -> bool {
        self.toks.get(i).is_some_and(|t| t.is_word(kw))
    }

    /// Whether the statement starts with the keywords `kws`.
    pub fn starts(&self, kws: &[&str]) -> bool {
        kws.iter().enumerate().all(|(i, kw)| self.is(i, kw))
    }

    /// The index after the optional keywords `noise` read in order from `i`
    /// (`IF NOT EXISTS`, `ONLY`, …): each is skipped when present.
    pub fn skip(&self, mut i: usize, noise: &[&[&str]]) -> usize {
        for words in noise {
            if words.iter().enumerate().all(|(k, w)| self.is(i + k, w)) {
                i += words.len();
            }
        }
        i
    }

    /// A possibly qualified name at `i` (`a`, `s.a`, `"A"`), normalised (unquoted words
    /// lower-cased, a `public.` schema dropped), and the index after it.
    pub fn name(&self, i: usize) -> Option<(String, usize)> {
        let mut parts = Vec::new();
        let mut k = i;
        loop {
            let t = self.toks.get(k)?;
            let part = match t.kind {
                TokenKind::Word => t.text.to_ascii_lowercase(),
                TokenKind::QuotedIdent => t.ident(),
                _ => return None,
            };
            parts.push(part);
            k += 1;
            if !self.toks.get(k).is_some_and(|t| t.is_punct(".")) {
                break;
            }
            k += 1;
        }
        if parts.len() > 1 && parts[0] == "public" {
            parts.remove(0);
        }
        Some((parts.join("."), k))
    }

    /// The index of the first keyword `kw` at parenthesis depth 0 from `from`.
    pub fn find_top(&self, from: usize, kw: &str) -> Option<usize> {
        self.top_level(from).find(|&k| self.is(k, kw))
    }

    /// The indexes of the tokens at parenthesis depth 0 from `from` (parentheses excluded).
    pub fn top_level(&self, from: usize) -> impl Iterator<Item = usize> + '_ {
        let mut depth = 0usize;
        (from..self.toks.len()).filter(move |&k| {
            let t = &self.toks[k];
            if t.is_punct("(") {
                depth += 1;
                return false;
            }
            if t.is_punct(")") {
                depth = depth.saturating_sub(1);
                return false;
            }
            depth == 0
        })
    }

    /// The top-level comma-separated parts of the tokens from `from` to the end, as index
    /// ranges.
    pub fn parts(&self, from: usize) -> Vec<std::ops::Range<usize>> {
        self.parts_until(from, self.toks.len())
    }

    /// Like [`parts`](Self::parts), for the tokens `from..to`.
    pub fn parts_until(&self, from: usize, to: usize) -> Vec<std::ops::Range<usize>> {
        let mut out = Vec::new();
        let mut start = from;
        let mut depth = 0usize;
        for k in from..to {
            let t = &self.toks[k];
            if t.is_punct("(") {
                depth += 1;
            } else if t.is_punct(")") {
                depth = depth.saturating_sub(1);
            } else if depth == 0 && t.is_punct(",") {
                out.push(start..k);
                start = k + 1;
            }
        }
        if start < to {
            out.push(start..to);
        }
        out
    }

    /// The index of the `)` that closes the `(` at `open`.
    pub fn closing(&self, open: usize) -> Option<usize> {
        let mut depth = 0usize;
        for k in open..self.toks.len() {
            if self.toks[k].is_punct("(") {
                depth += 1;
            } else if self.toks[k].is_punct(")") {
                depth = depth.checked_sub(1)?;
                if depth == 0 {
                    return Some(k);
                }
            }
        }
        None
    }

    /// Whether any token in `range` is the keyword `kw`.
    pub fn has(&self, range: std::ops::Range<usize>, kw: &str) -> bool {
        range.into_iter().any(|k| self.is(k, kw))
    }

    /// The text of the tokens `range`, as written.
    pub fn text(&self, range: std::ops::Range<usize>) -> &'a str {
        let toks = self.toks.get(range).unwrap_or(&[]);
        crate::lex::span(self.sql, toks)
    }

    /// The byte offset of token `i` within the statement (its end when out of range).
    pub fn at(&self, i: usize) -> usize {
        self.toks.get(i).map_or(self.sql.len(), |t| t.start)
    }
}
