//! Errors for malformed history input: always with the source name and line.

use std::fmt;

/// What is wrong with a piece of input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParseErrorKind {
    /// The line is not valid syntax for its format (bad JSON, bad EDN, ...).
    Syntax(String),
    /// The line is well-formed syntax but not a valid event (missing field, unknown type, ...).
    Event(String),
    /// The sequence of events is impossible (completion without invocation, double invocation).
    Sequence(String),
    /// The file could not be read.
    Io(String),
}

/// Malformed input: names the source (usually a file path), the 1-based line and the problem.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ParseError {
    pub source_name: String,
    /// 1-based line number; 0 when the problem is not tied to one line.
    pub line: usize,
    pub kind: ParseErrorKind,
}

impl ParseError {
    pub fn new(source_name: impl Into<String>, line: usize, kind: ParseErrorKind) -> Self {
        ParseError {
            source_name: source_name.into(),
            line,
            kind,
        }
    }
    pub fn message(&self) -> &str {
        match &self.kind {
            ParseErrorKind::Syntax(m)
            | ParseErrorKind::Event(m)
            | ParseErrorKind::Sequence(m)
            | ParseErrorKind::Io(m) => m,
        }
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match &self.kind {
            ParseErrorKind::Syntax(_) => "syntax error",
            ParseErrorKind::Event(_) => "invalid event",
            ParseErrorKind::Sequence(_) => "invalid history",
            ParseErrorKind::Io(_) => "cannot read",
        };
        if self.line > 0 {
            write!(
                f,
                "{}:{}: {}: {}",
                self.source_name,
                self.line,
                what,
                self.message()
            )
        } else {
            write!(f, "{}: {}: {}", self.source_name, what, self.message())
        }
    }
}
