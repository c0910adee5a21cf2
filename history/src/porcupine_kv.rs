//! Porcupine's key-value format (`kv/c01-ok.txt` in its test data): one EDN map per line,
//! `{:process 0, :type :invoke, :f :append, :key "4", :value "x 0 1 y"}`.
//!
//! `f` is `get`, `put` or `append` on string values; every event names its `key`, and keys are
//! independent (the linearizability checker checks them one by one).

use crate::edn;
use crate::error::{ParseError, ParseErrorKind};
use crate::event::Event;
use crate::jsonl::event_from_json;

/// True if `line` looks like a Porcupine kv line (for format detection).
pub fn is_kv_line(line: &str) -> bool {
    let t = line.trim_start();
    t.starts_with("{:")
        && t.contains(":key ")
        && (t.contains(":f :get") || t.contains(":f :put") || t.contains(":f :append"))
}

/// Parses a Porcupine kv history into events.
pub fn parse(source_name: &str, text: &str) -> Result<Vec<Event>, ParseError> {
    let mut events = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line_no = i + 1;
        if line.trim().is_empty() {
            continue;
        }
        let err = |kind| ParseError::new(source_name, line_no, kind);
        let v = edn::read_value(line).map_err(|(_, m)| err(ParseErrorKind::Syntax(m)))?;
        let ev = event_from_json(v).map_err(|m| err(ParseErrorKind::Event(m)))?;
        if !matches!(ev.f.as_str(), "get" | "put" | "append") {
            return Err(err(ParseErrorKind::Event(format!(
                "f must be :get, :put or :append in the Porcupine kv format, found :{}",
                ev.f
            ))));
        }
        if ev.key.is_none() {
            return Err(err(ParseErrorKind::Event("missing :key".into())));
        }
        events.push(Event {
            line: line_no,
            ..ev
        });
    }
    Ok(events)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_kv_lines() {
        let text = "{:process 0, :type :invoke, :f :get, :key \"5\", :value nil}\n{:process 0, :type :ok, :f :get, :key \"5\", :value \"x 0 1 y\"}\n";
        assert!(is_kv_line(text.lines().next().unwrap()));
        let evs = parse("kv.txt", text).unwrap();
        assert_eq!(evs.len(), 2);
        assert_eq!(evs[1].key, Some(json!("5")));
        assert_eq!(evs[1].value, json!("x 0 1 y"));
        assert_eq!(evs[1].line, 2);
    }

    #[test]
    fn rejects_other_ops_and_missing_keys() {
        let e = parse(
            "kv.txt",
            "{:process 0, :type :invoke, :f :cas, :key \"5\"}\n",
        )
        .unwrap_err();
        assert!(e.to_string().contains("kv.txt:1"), "{e}");
        let e = parse("kv.txt", "\n{:process 0, :type :invoke, :f :get}\n").unwrap_err();
        assert_eq!(e.line, 2);
        assert!(e.to_string().contains("missing :key"), "{e}");
    }
}
