//! History file formats, detection by content, and loading from disk.

use crate::error::{ParseError, ParseErrorKind};
use crate::event::Event;
use crate::jsonl;
use crate::op::History;
use std::path::Path;

/// A history file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// faultline's JSON Lines (docs/history-format.md).
    Jsonl,
    /// Jepsen's `history.edn`: a vector or sequence of EDN maps.
    Edn,
}

impl Format {
    pub fn parse(name: &str) -> Option<Format> {
        match name {
            "jsonl" | "json" => Some(Format::Jsonl),
            "edn" => Some(Format::Edn),
            _ => None,
        }
    }
    pub fn names() -> &'static [&'static str] {
        &["jsonl", "edn"]
    }

    /// Guesses the format from the content: the first non-blank, non-comment character.
    pub fn detect(text: &str) -> Format {
        for line in text.lines() {
            let t = line.trim_start();
            if t.is_empty() || t.starts_with(';') {
                continue;
            }
            if t.starts_with('{') && t.contains("\"process\"") || t.starts_with("{\"") {
                return Format::Jsonl;
            }
            return Format::Edn;
        }
        Format::Jsonl
    }
}

/// Parses text in the given (or detected) format into events.
pub fn parse_events(
    source: &str,
    text: &str,
    format: Option<Format>,
) -> Result<Vec<Event>, ParseError> {
    match format.unwrap_or_else(|| Format::detect(text)) {
        Format::Jsonl => jsonl::parse(source, text),
        Format::Edn => Err(ParseError::new(
            source,
            0,
            ParseErrorKind::Syntax("EDN histories are not supported by this build".into()),
        )),
    }
}

/// Parses text into a validated history.
pub fn parse_str(source: &str, text: &str, format: Option<Format>) -> Result<History, ParseError> {
    if format.unwrap_or_else(|| Format::detect(text)) == Format::Jsonl {
        return jsonl::parse_history(source, text);
    }
    History::from_events(source, parse_events(source, text, format)?)
}

/// Reads and parses a history file.
pub fn load_file(path: &Path, format: Option<Format>) -> Result<History, ParseError> {
    let source = path.display().to_string();
    let bytes = std::fs::read(path)
        .map_err(|e| ParseError::new(&source, 0, ParseErrorKind::Io(e.to_string())))?;
    let text = String::from_utf8(bytes).map_err(|e| {
        let upto = &e.as_bytes()[..e.utf8_error().valid_up_to()];
        let line = upto.iter().filter(|&&b| b == b'\n').count() + 1;
        ParseError::new(
            &source,
            line,
            ParseErrorKind::Syntax("not valid UTF-8".into()),
        )
    })?;
    parse_str(&source, &text, format)
}
