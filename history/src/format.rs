//! History file formats, detection by content, and loading from disk.

use crate::error::{ParseError, ParseErrorKind};
use crate::event::Event;
use crate::op::History;
use crate::{edn, jepsen_log, jsonl, porcupine_kv};
use std::path::Path;

/// A history file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// faultline's JSON Lines (docs/history-format.md).
    Jsonl,
    /// Jepsen's `history.edn`: a vector or sequence of EDN maps.
    Edn,
    /// Jepsen's text log (`INFO  jepsen.util - 3 :invoke :cas [1 4]`).
    JepsenLog,
    /// Porcupine's kv format: one EDN map per line with `:key`, f get/put/append.
    PorcupineKv,
}

impl Format {
    pub fn parse(name: &str) -> Option<Format> {
        match name {
            "jsonl" | "json" => Some(Format::Jsonl),
            "edn" => Some(Format::Edn),
            "jepsen-log" => Some(Format::JepsenLog),
            "porcupine-kv" => Some(Format::PorcupineKv),
            _ => None,
        }
    }
    pub fn names() -> &'static [&'static str] {
        &["jsonl", "edn", "jepsen-log", "porcupine-kv"]
    }
    /// The name `--format` takes.
    pub fn name(self) -> &'static str {
        match self {
            Format::Jsonl => "jsonl",
            Format::Edn => "edn",
            Format::JepsenLog => "jepsen-log",
            Format::PorcupineKv => "porcupine-kv",
        }
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
            if jepsen_log::is_log_line(t) {
                return Format::JepsenLog;
            }
            if porcupine_kv::is_kv_line(t) {
                return Format::PorcupineKv;
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
        Format::Edn => edn::parse(source, text),
        Format::JepsenLog => jepsen_log::parse(source, text),
        Format::PorcupineKv => porcupine_kv::parse(source, text),
    }
}

/// Parses text into a validated history.
pub fn parse_str(source: &str, text: &str, format: Option<Format>) -> Result<History, ParseError> {
    let format = format.unwrap_or_else(|| Format::detect(text));
    let mut h = match format {
        Format::Jsonl => jsonl::parse_history(source, text)?,
        Format::Edn => edn::parse_history(source, text)?,
        f => History::from_events(source, parse_events(source, text, Some(f))?)?,
    };
    h.format = Some(format);
    Ok(h)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_formats_by_content() {
        assert_eq!(
            Format::detect("{\"process\":0,\"type\":\"invoke\"}"),
            Format::Jsonl
        );
        assert_eq!(
            Format::detect("\nINFO  jepsen.util - 0\t:invoke\t:read\tnil\n"),
            Format::JepsenLog
        );
        assert_eq!(
            Format::detect("{:process 0, :type :invoke, :f :get, :key \"5\", :value nil}"),
            Format::PorcupineKv
        );
        assert_eq!(
            Format::detect("; c\n[{:process 0 :type :invoke :f :read}]"),
            Format::Edn
        );
        for n in Format::names() {
            assert!(Format::parse(n).is_some(), "{n}");
        }
    }
}
