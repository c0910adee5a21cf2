//! faultline's native format: JSON Lines, one event per line (see docs/history-format.md).

/// `DeserializeSeed` for a visitor of any JSON value: the seed deserializes with itself.
macro_rules! seed_is_visitor {
    ($t:ident<'_>, $v:ty) => {
        impl<'de> serde::de::DeserializeSeed<'de> for $t<'_> {
            type Value = $v;
            fn deserialize<D: serde::de::Deserializer<'de>>(self, d: D) -> Result<$v, D::Error> {
                d.deserialize_any(self)
            }
        }
    };
    ($t:ident, $v:ty) => {
        impl<'de> serde::de::DeserializeSeed<'de> for $t {
            type Value = $v;
            fn deserialize<D: serde::de::Deserializer<'de>>(self, d: D) -> Result<$v, D::Error> {
                d.deserialize_any(self)
            }
        }
    };
}

mod txn_seed;

use crate::error::{ParseError, ParseErrorKind};
use crate::event::{Event, EventType, Process};
use crate::op::{History, HistoryBuilder, OpId};
use crate::txn::{TxnRef, TxnStore};
use serde::de::{
    Deserialize, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor,
};
use serde_json::{Map, Value};
use txn_seed::{Seen, TxnSeed};

/// Parses JSONL text into events. Blank lines are skipped.
pub fn parse(source_name: &str, text: &str) -> Result<Vec<Event>, ParseError> {
    let mut events = Vec::new();
    let mut stack = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if let Some(parsed) = parse_line(source_name, i + 1, line, false, &mut stack, None)? {
            events.push(parsed.event);
        }
    }
    Ok(events)
}

/// Parses JSONL text straight into a validated history, pairing events as they are read (no
/// intermediate list of events: less memory and time for big histories). The micro-ops of
/// completed transactions go straight into the history's typed store, with no JSON tree.
pub fn parse_history(source_name: &str, text: &str) -> Result<History, ParseError> {
    let mut b = HistoryBuilder::with_capacity(source_name, text.len() / 400);
    let mut stack = Vec::new();
    // Invocations whose value was skipped: (op id, line number, line text).
    let mut deferred: Vec<(OpId, usize, &str)> = Vec::new();
    // Completions whose txn value was malformed: read again as JSON afterwards.
    let mut reread: Vec<(OpId, usize, &str)> = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line_no = i + 1;
        let Some(mut parsed) = parse_line(
            source_name,
            line_no,
            line,
            true,
            &mut stack,
            Some(b.txns_mut()),
        )?
        else {
            continue;
        };
        let ev = &mut parsed.event;
        let mut defer = false;
        if parsed.deferred {
            match ev.process {
                // Nemesis events are not ops and are few: keep their value now.
                Process::Nemesis => ev.value = value_of_line(source_name, line_no, line)?,
                Process::Client(_) => defer = true,
            }
        }
        if parsed.reread {
            if let Some(id) = ev.process.client().and_then(|p| b.pending(p)) {
                reread.push((id, line_no, line));
            }
        }
        let before = b.op_count();
        b.push_stored(parsed.event, parsed.txn)?;
        // Only a line that opened an op has an op to give its value to (a line with
        // duplicated keys may look like an invocation to the fast path and not be one).
        if defer && b.op_count() > before {
            deferred.push((before, line_no, line));
        }
    }
    for (id, line_no, line) in deferred {
        let op = b.op(id);
        // An op keeps its invocation's value unless an ok (or non-null fail) completion
        // replaced it: read those few values again, now in full.
        if op.outcome == crate::op::Outcome::Ok || !op.value.is_null() || op.txn.is_some() {
            continue;
        }
        b.set_value(id, value_of_line(source_name, line_no, line)?);
    }
    for (id, line_no, line) in reread {
        b.set_value(id, value_of_line(source_name, line_no, line)?);
    }
    Ok(b.finish())
}

/// The `value` field of one JSONL line, parsed in full.
fn value_of_line(source_name: &str, line_no: usize, line: &str) -> Result<Value, ParseError> {
    let v: Value = serde_json::from_str(line).map_err(|e| {
        ParseError::new(
            source_name,
            line_no,
            ParseErrorKind::Syntax(format!("bad JSON: {e}")),
        )
    })?;
    Ok(match v {
        Value::Object(mut m) => m.remove("value").unwrap_or(Value::Null),
        _ => Value::Null,
    })
}

/// One parsed line.
struct ParsedLine {
    event: Event,
    /// An invocation's `value` was skipped, not built (`null` in `event`).
    deferred: bool,
    /// A completed transaction's micro-ops, stored in the history's typed store.
    txn: Option<TxnRef>,
    /// A completed transaction's value was malformed and not kept: read it again as JSON.
    reread: bool,
}

/// Parses one line (`None` for a blank one). With `defer`, an invocation's `value` that
/// follows its `type` is skipped, not built: most are replaced by their completion's value,
/// and the caller re-reads the few it needs from the text. With `txns`, the value of an `ok`
/// or `fail` completion of a `txn` whose `type` and `f` come before it is parsed into the
/// store.
fn parse_line(
    source_name: &str,
    line_no: usize,
    line: &str,
    defer: bool,
    stack: &mut Vec<Value>,
    txns: Option<&mut TxnStore>,
) -> Result<Option<ParsedLine>, ParseError> {
    let trimmed = line.trim();
    if trimmed.is_empty() {
        return Ok(None);
    }
    // Fields are taken straight from the parser: no intermediate map, no key strings.
    let mut de = serde_json::Deserializer::from_str(trimmed);
    let parsed = LineVisitor { defer, stack, txns }
        .deserialize(&mut de)
        .and_then(|l| de.end().map(|()| l))
        .map_err(|e| {
            ParseError::new(
                source_name,
                line_no,
                ParseErrorKind::Syntax(format!("bad JSON: {e}")),
            )
        })?;
    let (ev, deferred, txn, reread) = match parsed {
        Line::Object(fields) => {
            let (deferred, txn, reread) = (fields.value_deferred, fields.txn, fields.reread);
            (event_from_fields(fields), deferred, txn, reread)
        }
        Line::Other(kind) => (
            Err(format!("expected a JSON object, found {kind}")),
            false,
            None,
            false,
        ),
    };
    let ev = ev.map_err(|m| ParseError::new(source_name, line_no, ParseErrorKind::Event(m)))?;
    Ok(Some(ParsedLine {
        event: Event {
            line: line_no,
            ..ev
        },
        deferred,
        txn,
        reread,
    }))
}

/// One JSONL line: an object's fields, or what else it was. Lives only while its line is
/// converted, so the size difference costs nothing (boxing would cost an allocation per line).
#[allow(clippy::large_enum_variant)]
enum Line {
    Object(Fields),
    Other(&'static str),
}

struct LineVisitor<'s> {
    defer: bool,
    stack: &'s mut Vec<Value>,
    txns: Option<&'s mut TxnStore>,
}

seed_is_visitor!(LineVisitor<'_>, Line);

impl<'de> Visitor<'de> for LineVisitor<'_> {
    type Value = Line;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON object")
    }
    fn visit_map<A: MapAccess<'de>>(mut self, mut map: A) -> Result<Line, A::Error> {
        let mut m = Fields::default();
        while let Some(k) = map.next_key::<FieldName>()? {
            let slot = match k {
                FieldName::Process => &mut m.process,
                FieldName::Type => &mut m.typ,
                FieldName::F => &mut m.f,
                FieldName::Value
                    if self.defer && m.typ.as_ref().and_then(Value::as_str) == Some("invoke") =>
                {
                    map.next_value::<IgnoredAny>()?;
                    m.value_deferred = true;
                    continue;
                }
                FieldName::Value if self.txns.is_some() && m.completes_txn() => {
                    let store = self.txns.as_deref_mut().expect("checked");
                    match map.next_value_seed(TxnSeed {
                        store,
                        stack: &mut *self.stack,
                    })? {
                        Seen::Stored(t) => m.txn = Some(t),
                        // As if the value were absent: a failure keeps its invocation's.
                        Seen::Null => m.value = Some(Value::Null),
                        Seen::Malformed => m.reread = true,
                    }
                    continue;
                }
                FieldName::Value => &mut m.value,
                FieldName::Index => &mut m.index,
                FieldName::Time => &mut m.time,
                FieldName::Node => &mut m.node,
                FieldName::Error => &mut m.error,
                FieldName::Phase => &mut m.phase,
                FieldName::Key => &mut m.key,
                FieldName::Other(name) => {
                    m.extra
                        .insert(name, map.next_value_seed(ValueSeed(&mut *self.stack))?);
                    continue;
                }
            };
            *slot = Some(map.next_value_seed(ValueSeed(&mut *self.stack))?);
        }
        Ok(Line::Object(m))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Line, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Line::Other("an array"))
    }
    fn visit_unit<E>(self) -> Result<Line, E> {
        Ok(Line::Other("null"))
    }
    fn visit_bool<E>(self, _: bool) -> Result<Line, E> {
        Ok(Line::Other("a boolean"))
    }
    fn visit_i64<E>(self, _: i64) -> Result<Line, E> {
        Ok(Line::Other("a number"))
    }
    fn visit_u64<E>(self, _: u64) -> Result<Line, E> {
        Ok(Line::Other("a number"))
    }
    fn visit_f64<E>(self, _: f64) -> Result<Line, E> {
        Ok(Line::Other("a number"))
    }
    fn visit_str<E>(self, _: &str) -> Result<Line, E> {
        Ok(Line::Other("a string"))
    }
}

/// Parses any JSON value as `serde_json::Value` does, except that every list gets exactly the
/// room it needs: its elements are gathered on a scratch stack shared by all lists of the text
/// and moved into one allocation of the right size at the end of the list. (A list built by
/// pushing has up to twice the room it uses, and shrinking it afterwards leaves holes that make
/// the heap slower for the checkers that run next.) Read results are most of a list-append
/// history's memory.
struct ValueSeed<'s>(&'s mut Vec<Value>);

seed_is_visitor!(ValueSeed<'_>, Value);

impl<'de> Visitor<'de> for ValueSeed<'_> {
    type Value = Value;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E>(self, b: bool) -> Result<Value, E> {
        Ok(Value::Bool(b))
    }
    fn visit_i64<E>(self, n: i64) -> Result<Value, E> {
        Ok(Value::from(n))
    }
    fn visit_u64<E>(self, n: u64) -> Result<Value, E> {
        Ok(Value::from(n))
    }
    fn visit_f64<E>(self, n: f64) -> Result<Value, E> {
        Ok(Value::from(n))
    }
    fn visit_str<E>(self, s: &str) -> Result<Value, E> {
        Ok(Value::String(s.to_owned()))
    }
    fn visit_string<E>(self, s: String) -> Result<Value, E> {
        Ok(Value::String(s))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let start = self.0.len();
        loop {
            match seq.next_element_seed(ValueSeed(&mut *self.0)) {
                Ok(Some(v)) => self.0.push(v),
                Ok(None) => break,
                Err(e) => {
                    self.0.truncate(start);
                    return Err(e);
                }
            }
        }
        // `Drain` knows its length: the list is allocated once, at its size.
        Ok(Value::Array(self.0.drain(start..).collect()))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut m = Map::new();
        while let Some(k) = map.next_key::<String>()? {
            let v = map.next_value_seed(ValueSeed(&mut *self.0))?;
            m.insert(k, v);
        }
        Ok(Value::Object(m))
    }
}

/// A field name, recognised without allocating (only unknown names are kept as strings).
enum FieldName {
    Process,
    Type,
    F,
    Value,
    Index,
    Time,
    Node,
    Error,
    Phase,
    Key,
    Other(String),
}

impl<'de> Deserialize<'de> for FieldName {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<FieldName, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = FieldName;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a field name")
            }
            fn visit_str<E>(self, s: &str) -> Result<FieldName, E> {
                Ok(match s {
                    "process" => FieldName::Process,
                    "type" => FieldName::Type,
                    "f" => FieldName::F,
                    "value" => FieldName::Value,
                    "index" => FieldName::Index,
                    "time" => FieldName::Time,
                    "node" => FieldName::Node,
                    "error" => FieldName::Error,
                    "phase" => FieldName::Phase,
                    "key" => FieldName::Key,
                    other => FieldName::Other(other.to_string()),
                })
            }
        }
        d.deserialize_str(V)
    }
}

/// Converts one JSON object into an event. Shared with codecs that first convert to JSON
/// (Jepsen EDN maps become JSON objects with the keyword keys as strings).
pub fn event_from_json(value: Value) -> Result<Event, String> {
    let Value::Object(mut m) = value else {
        return Err(format!("expected a JSON object, found {}", kind_of(&value)));
    };
    event_from_fields(Fields {
        process: m.remove("process"),
        typ: m.remove("type"),
        f: m.remove("f"),
        value: m.remove("value"),
        index: m.remove("index"),
        time: m.remove("time"),
        node: m.remove("node"),
        error: m.remove("error"),
        phase: m.remove("phase"),
        key: m.remove("key"),
        extra: m,
        ..Fields::default()
    })
}

/// An event's fields as JSON, before validation.
#[derive(Default)]
struct Fields {
    process: Option<Value>,
    typ: Option<Value>,
    f: Option<Value>,
    value: Option<Value>,
    index: Option<Value>,
    time: Option<Value>,
    node: Option<Value>,
    error: Option<Value>,
    phase: Option<Value>,
    key: Option<Value>,
    extra: Map<String, Value>,
    /// The `value` was skipped (see [`parse_line`]).
    value_deferred: bool,
    /// The `value` went into the typed store (see [`parse_line`]).
    txn: Option<TxnRef>,
    /// The `value` was a malformed transaction, not kept.
    reread: bool,
}

impl Fields {
    /// Whether the fields seen so far make this an `ok` or `fail` completion of a `txn`.
    fn completes_txn(&self) -> bool {
        self.process.as_ref().is_some_and(Value::is_u64)
            && self.f.as_ref().and_then(Value::as_str) == Some("txn")
            && matches!(
                self.typ.as_ref().and_then(Value::as_str),
                Some("ok" | "fail")
            )
    }
}

fn event_from_fields(m: Fields) -> Result<Event, String> {
    let process = match m.process {
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
    let typ = match m.typ {
        Some(Value::String(s)) => EventType::parse(&s).ok_or_else(|| {
            format!("unknown `type` {s:?}: expected \"invoke\", \"ok\", \"fail\" or \"info\"")
        })?,
        Some(other) => return Err(format!("`type` must be a string, found {other}")),
        None => return Err("missing field `type`".into()),
    };
    let f = match m.f {
        Some(Value::String(s)) => s,
        Some(other) => return Err(format!("`f` must be a string, found {other}")),
        None => return Err("missing field `f`".into()),
    };
    let value = m.value.unwrap_or(Value::Null);
    let index = opt_u64(m.index, "index")?;
    let time = match m.time {
        None | Some(Value::Null) => None,
        Some(Value::Number(n)) => Some(
            n.as_i64()
                .or_else(|| n.as_f64().map(|x| x as i64))
                .ok_or_else(|| format!("`time` must be an integer, found {n}"))?,
        ),
        Some(other) => return Err(format!("`time` must be an integer, found {other}")),
    };
    let node = opt_string(m.node, "node")?;
    let error = match m.error {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s),
        Some(other) => Some(other.to_string()),
    };
    let phase = opt_string(m.phase, "phase")?;
    let key = m.key;
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
        extra: m.extra,
        line: 0,
    })
}

fn opt_u64(v: Option<Value>, field: &str) -> Result<Option<u64>, String> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n
            .as_u64()
            .map(Some)
            .ok_or_else(|| format!("`{field}` must be an integer >= 0, found {n}")),
        Some(other) => Err(format!("`{field}` must be an integer >= 0, found {other}")),
    }
}

fn opt_string(v: Option<Value>, field: &str) -> Result<Option<String>, String> {
    match v {
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
    fn nemesis_values_never_leak_into_ops() {
        let text = "{\"process\":\"nemesis\",\"type\":\"invoke\",\"f\":\"start-partition\",\"value\":{\"pattern\":\"one\"}}\n\
{\"process\":\"nemesis\",\"type\":\"info\",\"f\":\"start-partition\",\"value\":{\"pattern\":\"one\"}}\n\
{\"process\":0,\"type\":\"invoke\",\"f\":\"cas\",\"key\":1,\"value\":[1,2]}\n\
{\"process\":0,\"type\":\"info\",\"f\":\"cas\",\"key\":1,\"value\":[1,2]}\n";
        let h = parse_history("h.jsonl", text).unwrap();
        assert_eq!(h.ops[0].value, serde_json::json!([1, 2]));
        assert_eq!(h.nemesis[0].value, serde_json::json!({"pattern": "one"}));
        // An info completion with no value keeps the invocation's.
        let text = "{\"process\":\"nemesis\",\"type\":\"invoke\",\"f\":\"kill\",\"value\":[1]}\n\
{\"process\":0,\"type\":\"invoke\",\"f\":\"write\",\"value\":3}\n\
{\"process\":0,\"type\":\"info\",\"f\":\"write\"}\n";
        let h = parse_history("h.jsonl", text).unwrap();
        assert_eq!(h.ops[0].value, serde_json::json!(3));
        assert_eq!(h.nemesis[0].value, serde_json::json!([1]));
    }

    #[test]
    fn duplicated_keys_never_give_a_value_to_a_missing_op() {
        // Found by AFL (fuzz target `check`): a line whose keys repeat looked like an
        // invocation to the fast path and was a completion, so its deferred value went to an
        // op id that did not exist (index out of bounds).
        let text = "{\"process\":0,\"type\":\"invoke\",\"f\":\"txn\",\"value\":[[\"nd\",\"x\",1]]}\n\
{\"process\":1,\"type\":\"invoke\",\"f\":\"txn\",\"value\":[[\"append\",\"x\",2],[\"ap\",1]],\"process\":0,\"type\":\"ok\",\"f\":\"txn\",\"value\":[[\"r\",\"x\",[2,1]]]}\n";
        match parse_history("h.jsonl", text) {
            Ok(h) => assert!(h.ops.len() <= 2),
            Err(e) => assert!(e.to_string().contains("h.jsonl:"), "{e}"),
        }
    }

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

    #[test]
    fn values_parse_as_serde_json_does() {
        let value = r#"{"a":[1,-2,18446744073709551615,1.5e3,"x\"y\u00e9",true,false,null,[],{}],"b":{"c":[[[]],[{"d":[0]}]]},"a2":-0.0}"#;
        let line = format!("{{\"process\":0,\"type\":\"invoke\",\"f\":\"w\",\"value\":{value},\"zone\":{value}}}\n");
        let evs = parse("t", &line).unwrap();
        let expected: Value = serde_json::from_str(value).unwrap();
        assert_eq!(evs[0].value, expected);
        assert_eq!(evs[0].extra["zone"], expected);
        // A syntax error deep in a list leaves no elements behind for the next line.
        let e = parse(
            "t",
            &format!(
                "{{\"process\":0,\"type\":\"invoke\",\"f\":\"w\",\"value\":[1,[2,3,}}\n{line}"
            ),
        )
        .unwrap_err();
        assert_eq!(e.line, 1);
    }

    #[test]
    fn loaded_lists_keep_no_spare_room() {
        let read: Vec<String> = (0..37).map(|i| i.to_string()).collect();
        let text = format!(
            "{{\"process\":0,\"type\":\"invoke\",\"f\":\"read\",\"value\":null}}\n{{\"process\":0,\"type\":\"ok\",\"f\":\"read\",\"value\":[[{}]]}}\n",
            read.join(",")
        );
        for hist in [
            History::from_events("t", parse("t", &text).unwrap()).unwrap(),
            parse_history("t", &text).unwrap(),
        ] {
            let Value::Array(outer) = &hist.ops[0].value else {
                panic!("read value is a list")
            };
            assert_eq!(outer.capacity(), outer.len());
            let Value::Array(xs) = &outer[0] else {
                panic!("inner value is a list")
            };
            assert_eq!(xs.len(), 37);
            assert_eq!(xs.capacity(), 37);
            assert_eq!(xs[36], Value::from(36));
        }
    }

    #[test]
    fn txn_values_are_stored_typed() {
        let read: Vec<String> = (0..37).map(|i| i.to_string()).collect();
        let text = format!(
            "{{\"process\":0,\"type\":\"invoke\",\"f\":\"txn\",\"value\":[[\"r\",1,null]]}}\n{{\"process\":0,\"type\":\"ok\",\"f\":\"txn\",\"value\":[[\"r\",1,[{}]]]}}\n",
            read.join(",")
        );
        let hist = parse_history("t", &text).unwrap();
        let t = hist.ops[0].txn.expect("stored typed");
        assert!(hist.ops[0].value.is_null());
        let m = hist.txns.mop(t, 0);
        let crate::txn::Recorded::List(xs) = m.value else {
            panic!("a list read")
        };
        assert_eq!(xs.len(), 37);
        assert_eq!(hist.txns.vals.value(xs[36]), &Value::from(36));
        assert_eq!(hist.value(&hist.ops[0])[0][2][36], Value::from(36));
    }

    /// Ops with their values as JSON: the typed store's layout depends on when each value
    /// became final, not on what it holds.
    fn plain(h: &History) -> Vec<crate::op::Op> {
        h.ops
            .iter()
            .map(|o| {
                let mut o2 = o.clone();
                o2.txn = None;
                o2.value = h.value(o).into_owned();
                o2
            })
            .collect()
    }

    #[test]
    fn txn_values_parsed_while_streaming_equal_those_from_json() {
        // Odd but well-formed values, and malformed ones that must stay JSON for the
        // checkers to explain.
        let values = [
            r#"[["r","x",[1,"a",-2,18446744073709551615,1.5,true,null,[3],{"k":[4]}]],["append",7,"s"]]"#,
            r#"[["w","x",null],["w",1.5,{"a":1}],["r","y",{"b":2}],["r","z",5],["append","q",[1,2]]]"#,
            r#"[]"#,
            r#"[["append","x",null]]"#,
            r#"[["inc","x",1]]"#,
            r#"[["r","x",[1],2]]"#,
            r#"[["r","x"]]"#,
            r#"[["r",[1],[1]]]"#,
            r#"[{"f":"r"}]"#,
            r#"[["append","x",1],["r",null,[]]]"#,
            r#"{"not":"a list"}"#,
            r#"7"#,
            r#"null"#,
        ];
        // Completions whose value comes first are built as JSON and stored by the builder.
        for (typ, value_first) in [
            ("ok", false),
            ("fail", false),
            ("info", false),
            ("ok", true),
        ] {
            let mut text = String::new();
            for (p, v) in values.iter().enumerate() {
                text.push_str(&format!(
                    "{{\"f\":\"txn\",\"process\":{p},\"type\":\"invoke\",\"value\":[[\"append\",\"x\",{p}]]}}\n"
                ));
                if value_first {
                    text.push_str(&format!(
                        "{{\"value\":{v},\"f\":\"txn\",\"process\":{p},\"type\":\"{typ}\"}}\n"
                    ));
                } else {
                    text.push_str(&format!(
                        "{{\"f\":\"txn\",\"process\":{p},\"type\":\"{typ}\",\"value\":{v}}}\n"
                    ));
                }
            }
            let a = parse_history("h", &text).unwrap();
            let b = History::from_events("h", parse("h", &text).unwrap()).unwrap();
            assert_eq!(plain(&a), plain(&b), "{typ}");
            for (x, y) in a.ops.iter().zip(&b.ops) {
                assert_eq!(x.txn.is_some(), y.txn.is_some(), "{typ} op {}", x.id);
            }
            if typ == "ok" {
                let stored: Vec<bool> = a.ops.iter().map(|o| o.txn.is_some()).collect();
                assert_eq!(&stored[..3], &[true, true, true]);
                assert!(stored[3..].iter().all(|s| !s), "{stored:?}");
                assert_eq!(a.ops[3].value, serde_json::json!([["append", "x", null]]));
            }
        }
    }

    #[test]
    fn streaming_history_equals_event_list_history() {
        let evs = crate::sim::list_append(&crate::sim::ListAppendConfig {
            txns: 300,
            crash_rate: 0.05,
            ..Default::default()
        });
        let mut text = to_string(&evs);
        text.push_str("{\"process\":\"nemesis\",\"type\":\"info\",\"f\":\"kill\",\"zone\":[1]}\n");
        // A failed op whose completion has no value keeps its invocation's; a never-completed
        // one too.
        text.push_str(
            "{\"process\":900,\"type\":\"invoke\",\"f\":\"txn\",\"value\":[[\"append\",1,5]]}\n",
        );
        text.push_str("{\"process\":900,\"type\":\"fail\",\"f\":\"txn\"}\n");
        text.push_str(
            "{\"process\":901,\"type\":\"invoke\",\"f\":\"txn\",\"value\":[[\"append\",1,6]]}\n",
        );
        let a = parse_history("h", &text).unwrap();
        let b = History::from_events("h", parse("h", &text).unwrap()).unwrap();
        assert_eq!(plain(&a), plain(&b));
        assert_eq!(a.nemesis, b.nemesis);
        let (a, b) = (plain(&a), plain(&b));
        assert_eq!(
            a.last().unwrap().value,
            serde_json::json!([["append", 1, 6]])
        );
        assert_eq!(a[a.len() - 2].value, serde_json::json!([["append", 1, 5]]));
        assert!(b
            .iter()
            .any(|o| o.outcome == crate::op::Outcome::Info && !o.value.is_null()));
        let e = parse_history("h", "[1,2]\n").unwrap_err();
        assert_eq!(
            e.to_string(),
            "h:1: invalid event: expected a JSON object, found an array"
        );
        let e = parse_history("h", "{\"process\":0,\"type\":\"ok\",\"f\":\"r\"}\n").unwrap_err();
        assert!(e.message().contains("no pending invocation"), "{e}");
    }
}
