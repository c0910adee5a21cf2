//! The Jepsen text log: `INFO  jepsen.util - 3 :invoke :cas [1 4]`, one event per line.
//!
//! This is the format of the etcd histories Horn & Kroening recorded (Porcupine's test corpus).
//! Lines that are not `jepsen.util` op lines (other loggers, blank lines) are skipped. Fields
//! are whitespace separated: process (integer or `:nemesis`), type (`:invoke` `:ok` `:fail`
//! `:info`), f, and the rest of the line as one EDN value (`nil`, `3`, `[1 4]`, `:timed-out`).
//!
//! A `:timed-out` completion value means the result is unknown: it becomes `error: "timed-out"`
//! with a null value, so a `:fail :read :timed-out` is a read that completed with no known
//! result (it constrains nothing) and an `:info` keeps its invocation's value and stays open
//! until the end of the history.

use crate::edn;
use crate::error::{ParseError, ParseErrorKind};
use crate::event::{Event, EventType, Process};
use serde_json::Value;

const MARKER: &str = "jepsen.util - ";

/// True if `line` looks like a Jepsen log op line (for format detection).
pub fn is_log_line(line: &str) -> bool {
    line.contains(MARKER)
}

/// Parses a Jepsen text log into events.
pub fn parse(source_name: &str, text: &str) -> Result<Vec<Event>, ParseError> {
    let mut events = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line_no = i + 1;
        let Some(at) = line.find(MARKER) else {
            continue;
        };
        let ev = parse_fields(&line[at + MARKER.len()..])
            .map_err(|m| ParseError::new(source_name, line_no, ParseErrorKind::Event(m)))?;
        events.push(Event {
            line: line_no,
            ..ev
        });
    }
    Ok(events)
}

fn next_field(s: &str) -> Option<(&str, &str)> {
    let s = s.trim_start();
    if s.is_empty() {
        return None;
    }
    let end = s.find(|c: char| c.is_whitespace()).unwrap_or(s.len());
    Some((&s[..end], &s[end..]))
}

fn parse_fields(rest: &str) -> Result<Event, String> {
    let (proc_s, rest) = next_field(rest).ok_or("missing process")?;
    let process = if proc_s == ":nemesis" {
        Process::Nemesis
    } else {
        Process::Client(proc_s.parse::<u64>().map_err(|_| {
            format!("process must be an integer >= 0 or :nemesis, found {proc_s:?}")
        })?)
    };
    let (type_s, rest) = next_field(rest).ok_or("missing type after the process")?;
    let typ = type_s
        .strip_prefix(':')
        .and_then(EventType::parse)
        .ok_or_else(|| format!("unknown type {type_s:?}: expected :invoke, :ok, :fail or :info"))?;
    let (f_s, rest) = next_field(rest).ok_or("missing f after the type")?;
    let f = f_s.strip_prefix(':').unwrap_or(f_s).to_string();
    let value_text = rest.trim();
    let mut value = if value_text.is_empty() {
        Value::Null
    } else {
        edn::read_value(value_text)
            .map_err(|(_, m)| format!("cannot read the value {value_text:?}: {m}"))?
    };
    let mut error = None;
    if typ != EventType::Invoke && value.as_str() == Some("timed-out") {
        value = Value::Null;
        error = Some("timed-out".to_string());
    }
    let mut ev = Event::new(process, typ, f, value);
    ev.error = error;
    Ok(ev)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::op::{History, Outcome};
    use serde_json::json;

    const LOG: &str = "INFO  jepsen.util - 0\t:invoke\t:read\tnil
INFO  jepsen.util - 2\t:invoke\t:cas\t[3 0]
INFO  jepsen.core - something else entirely
INFO  jepsen.util - 1   :invoke :write  3
INFO  jepsen.util - 0\t:fail\t:read\t:timed-out
INFO  jepsen.util - 2\t:ok\t:cas\t[3 0]
INFO  jepsen.util - 1\t:info\t:write\t:timed-out
";

    #[test]
    fn parses_ops_and_timeouts() {
        let evs = parse("etcd.log", LOG).unwrap();
        assert_eq!(evs.len(), 6);
        assert_eq!(evs[1].value, json!([3, 0]));
        assert_eq!(evs[2].line, 4);
        assert_eq!(evs[3].typ, EventType::Fail);
        assert_eq!(evs[3].value, Value::Null);
        assert_eq!(evs[3].error.as_deref(), Some("timed-out"));
        let h = History::from_events("etcd.log", evs).unwrap();
        let w = h.ops.iter().find(|o| o.f == "write").unwrap();
        assert_eq!(w.outcome, Outcome::Info);
        assert_eq!(w.value, json!(3), "an info keeps its invocation's value");
        let r = h.ops.iter().find(|o| o.f == "read").unwrap();
        assert_eq!(r.outcome, Outcome::Fail);
    }

    #[test]
    fn bad_lines_name_the_line() {
        let e = parse(
            "x.log",
            "INFO  jepsen.util - 0 :invoke :read nil\nINFO  jepsen.util - 0 :done :read 1\n",
        )
        .unwrap_err();
        assert_eq!(e.line, 2);
        assert!(e.to_string().contains("unknown type"), "{e}");
        let e = parse("x.log", "INFO  jepsen.util - zero :invoke :read nil\n").unwrap_err();
        assert!(e.to_string().contains("x.log:1"), "{e}");
        let e = parse("x.log", "INFO  jepsen.util - 0 :invoke :cas [1 2\n").unwrap_err();
        assert!(e.to_string().contains("cannot read the value"), "{e}");
    }
}
