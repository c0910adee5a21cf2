//! faultline's native format: JSON Lines, one event per line (see docs/history-format.md).

use crate::error::{ParseError, ParseErrorKind};
use crate::event::{Event, EventType, Process};
use serde_json::{Map, Value};

/// Parses JSONL text into events. Blank lines are skipped.
pub fn parse(source_name: &str, text: &str) -> Result<Vec<Event>, ParseError> {
    let mut events = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line_no = i + 1;
        let trimmed = line.trim();
        if trimmed.is_empty() {
            continue;
        }
        let value: Value = serde_json::from_str(trimmed).map_err(|e| {
            ParseError::new(
                source_name,
                line_no,
                ParseErrorKind::Syntax(format!("bad JSON: {e}")),
            )
        })?;
        let ev = event_from_json(value)
            .map_err(|m| ParseError::new(source_name, line_no, ParseErrorKind::Event(m)))?;
        events.push(Event {
            line: line_no,
            ..ev
        });
    }
    Ok(events)
}

/// Converts one JSON object into an event. Shared with codecs that first convert to JSON
/// (Jepsen EDN maps become JSON objects with the keyword keys as strings).
pub fn event_from_json(value: Value) -> Result<Event, String> {
    let Value::Object(mut m) = value else {
        return Err(format!("expected a JSON object, found {}", kind_of(&value)));
    };
    let process = match m.remove("process") {
        Some(Value::Number(n)) => match n.as_u64() {
            Some(p) => Process::Client(p),
            None => {
                return Err(format!(
                    "`process` must be an integer >= 0 or \"nemesis\", found {n}"
                ))
            }
        },
        Some(Value::String(s)) if s == "nemesis" => Process::Nemesis,
        Some(other) => {
            return Err(format!(
                "`process` must be an integer >= 0 or \"nemesis\", found {other}"
            ))
        }
        None => return Err("missing field `process`".into()),
    };
    let typ = match m.remove("type") {
        Some(Value::String(s)) => EventType::parse(&s).ok_or_else(|| {
            format!("unknown `type` {s:?}: expected \"invoke\", \"ok\", \"fail\" or \"info\"")
        })?,
        Some(other) => return Err(format!("`type` must be a string, found {other}")),
        None => return Err("missing field `type`".into()),
    };
    let f = match m.remove("f") {
        Some(Value::String(s)) => s,
        Some(other) => return Err(format!("`f` must be a string, found {other}")),
        None => return Err("missing field `f`".into()),
    };
    let value = m.remove("value").unwrap_or(Value::Null);
    let index = opt_u64(&mut m, "index")?;
    let time = match m.remove("time") {
        None | Some(Value::Null) => None,
        Some(Value::Number(n)) => Some(
            n.as_i64()
                .or_else(|| n.as_f64().map(|x| x as i64))
                .ok_or_else(|| format!("`time` must be an integer, found {n}"))?,
        ),
        Some(other) => return Err(format!("`time` must be an integer, found {other}")),
    };
    let node = opt_string(&mut m, "node")?;
    let error = match m.remove("error") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s),
        Some(other) => Some(other.to_string()),
    };
    let phase = opt_string(&mut m, "phase")?;
    let key = m.remove("key");
    Ok(Event {
        index,
        process,
        typ,
        f,
        value,
        time,
        node,
        error,
        phase,
        key,
        extra: m,
        line: 0,
    })
}

fn opt_u64(m: &mut Map<String, Value>, field: &str) -> Result<Option<u64>, String> {
    match m.remove(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n
            .as_u64()
            .map(Some)
            .ok_or_else(|| format!("`{field}` must be an integer >= 0, found {n}")),
        Some(other) => Err(format!("`{field}` must be an integer >= 0, found {other}")),
    }
}

fn opt_string(m: &mut Map<String, Value>, field: &str) -> Result<Option<String>, String> {
    match m.remove(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(Value::Number(n)) => Ok(Some(n.to_string())),
        Some(other) => Err(format!("`{field}` must be a string, found {other}")),
    }
}

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Renders events as JSONL text.
pub fn to_string(events: &[Event]) -> String {
    let mut out = String::new();
    for e in events {
        out.push_str(&e.to_json().to_string());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_fields_and_keeps_unknown_ones() {
        let evs = parse(
            "h.jsonl",
            "{\"process\":0,\"type\":\"invoke\",\"f\":\"txn\",\"value\":[[\"append\",\"x\",1]],\"time\":5,\"zone\":\"a\"}\n\n{\"process\":\"nemesis\",\"type\":\"info\",\"f\":\"start-partition\",\"value\":null}\n",
        )
        .unwrap();
        assert_eq!(evs.len(), 2);
        assert_eq!(evs[0].process, Process::Client(0));
        assert_eq!(evs[0].time, Some(5));
        assert_eq!(evs[0].extra.get("zone"), Some(&Value::from("a")));
        assert_eq!(evs[1].process, Process::Nemesis);
        assert_eq!(evs[1].line, 3);
    }

    #[test]
    fn errors_name_the_line_and_problem() {
        let e = parse("h.jsonl", "{\"process\":0,\"type\":\"invoke\",\"f\":\"r\"}\n{\"process\":0,\"type\":\"done\",\"f\":\"r\"}\n")
            .unwrap_err();
        assert_eq!(e.line, 2);
        assert!(e.to_string().contains("h.jsonl:2"), "{e}");
        assert!(e.to_string().contains("unknown `type`"), "{e}");
        let e = parse("h.jsonl", "{not json\n").unwrap_err();
        assert!(matches!(e.kind, ParseErrorKind::Syntax(_)));
    }
}
