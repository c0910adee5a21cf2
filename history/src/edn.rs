//! Jepsen/Knossos `history.edn`: a small EDN reader and the codec from EDN op maps to events.
//!
//! The reader handles what Jepsen histories contain: keywords, symbols, strings, characters,
//! integers (with `N`), floats (with `M`), ratios (as floats), `nil`/`true`/`false`, vectors,
//! lists, maps, sets, `;` comments, commas as whitespace, `#_` discard and tagged literals
//! (`#inst "..."` keeps the inner value). It reads straight into JSON: keywords and symbols
//! become strings without the colon (`:append` -> `"append"`), `nil` -> `null`, lists and sets
//! -> arrays, map keys that are not keywords or strings -> their EDN text.
//!
//! A history is either one vector/list of op maps, or a sequence of top-level op maps (usually
//! one per line). Each map becomes an [`Event`] through [`crate::jsonl::event_from_json`], so
//! `:error` and unknown keys are kept exactly like in JSONL; errors name the map's first line.

use crate::error::{ParseError, ParseErrorKind};
use crate::event::Event;
use crate::jsonl::event_from_json;
use crate::op::{History, HistoryBuilder};
use serde_json::{Map, Number, Value};

/// Parses a Jepsen EDN history into events.
pub fn parse(source_name: &str, text: &str) -> Result<Vec<Event>, ParseError> {
    let mut events = Vec::new();
    each_event(source_name, text, |ev| {
        events.push(ev);
        Ok(())
    })?;
    Ok(events)
}

/// Parses a Jepsen EDN history straight into a validated history, one event at a time (no
/// list of every event's JSON in memory). `info` events are read as Knossos reads them
/// ([`HistoryBuilder::knossos_crashes`]).
pub fn parse_history(source_name: &str, text: &str) -> Result<History, ParseError> {
    let mut b = HistoryBuilder::new(source_name);
    b.knossos_crashes();
    each_event(source_name, text, |ev| b.push(ev))?;
    Ok(b.finish())
}

/// Calls `f` with each event of the text, in order; stops at the first error.
fn each_event(
    source_name: &str,
    text: &str,
    mut f: impl FnMut(Event) -> Result<(), ParseError>,
) -> Result<(), ParseError> {
    let mut r = Reader::new(text);
    let syntax =
        |line: usize, m: String| ParseError::new(source_name, line, ParseErrorKind::Syntax(m));
    let mut push = |v: Value, line: usize| -> Result<(), ParseError> {
        let ev = event_from_json(v)
            .map_err(|m| ParseError::new(source_name, line, ParseErrorKind::Event(m)))?;
        f(Event { line, ..ev })
    };
    loop {
        r.skip_ws().map_err(|(l, m)| syntax(l, m))?;
        let Some(c) = r.peek() else { break };
        let line = r.line;
        if c == b'[' || c == b'(' {
            // One collection holding every op map.
            let close = if c == b'[' { b']' } else { b')' };
            r.pos += 1;
            loop {
                r.skip_ws().map_err(|(l, m)| syntax(l, m))?;
                match r.peek() {
                    None => {
                        return Err(syntax(
                            line,
                            format!(
                                "the history opened here is never closed with `{}`",
                                close as char
                            ),
                        ))
                    }
                    Some(c) if c == close => {
                        r.pos += 1;
                        break;
                    }
                    Some(_) => {
                        let l = r.line;
                        let v = r.value().map_err(|(l, m)| syntax(l, m))?;
                        push(v, l)?;
                    }
                }
            }
        } else {
            let v = r.value().map_err(|(l, m)| syntax(l, m))?;
            push(v, line)?;
        }
    }
    Ok(())
}

/// Reads one EDN value from `text` into JSON (for tests and tools).
pub fn read_value(text: &str) -> Result<Value, (usize, String)> {
    let mut r = Reader::new(text);
    r.skip_ws()?;
    let v = r.value()?;
    r.skip_ws()?;
    if r.peek().is_some() {
        return Err((r.line, "unexpected text after the value".into()));
    }
    Ok(v)
}

type RResult<T> = Result<T, (usize, String)>;

/// Nesting deeper than this is refused (instead of overflowing the stack).
const MAX_DEPTH: usize = 256;

struct Reader<'a> {
    b: &'a [u8],
    s: &'a str,
    pos: usize,
    line: usize,
    depth: usize,
}

fn is_delim(c: u8) -> bool {
    c.is_ascii_whitespace()
        || matches!(
            c,
            b',' | b'(' | b')' | b'[' | b']' | b'{' | b'}' | b'"' | b';'
        )
}

impl<'a> Reader<'a> {
    fn new(s: &'a str) -> Self {
        Reader {
            b: s.as_bytes(),
            s,
            pos: 0,
            line: 1,
            depth: 0,
        }
    }

    fn peek(&self) -> Option<u8> {
        self.b.get(self.pos).copied()
    }

    fn skip_ws(&mut self) -> RResult<()> {
        while let Some(c) = self.peek() {
            if c == b'\n' {
                self.line += 1;
                self.pos += 1;
            } else if c.is_ascii_whitespace() || c == b',' {
                self.pos += 1;
            } else if c == b';' {
                while let Some(c) = self.peek() {
                    if c == b'\n' {
                        break;
                    }
                    self.pos += 1;
                }
            } else if c == b'#' && self.b.get(self.pos + 1) == Some(&b'_') {
                self.pos += 2;
                if self.depth >= MAX_DEPTH {
                    return Err((self.line, format!("nested deeper than {MAX_DEPTH} levels")));
                }
                self.depth += 1;
                let r = self.skip_ws().and_then(|_| self.value().map(|_| ()));
                self.depth -= 1;
                r?;
            } else {
                break;
            }
        }
        Ok(())
    }

    fn token(&mut self) -> &'a str {
        let start = self.pos;
        while let Some(c) = self.peek() {
            if is_delim(c) {
                break;
            }
            self.pos += 1;
        }
        &self.s[start..self.pos]
    }

    fn value(&mut self) -> RResult<Value> {
        if self.depth >= MAX_DEPTH {
            return Err((self.line, format!("nested deeper than {MAX_DEPTH} levels")));
        }
        self.depth += 1;
        let r = self.value_inner();
        self.depth -= 1;
        r
    }

    fn value_inner(&mut self) -> RResult<Value> {
        let line = self.line;
        let Some(c) = self.peek() else {
            return Err((line, "unexpected end of input, expected a value".into()));
        };
        match c {
            b'[' | b'(' => {
                self.pos += 1;
                let close = if c == b'[' { b']' } else { b')' };
                Ok(Value::Array(self.seq(close, line)?))
            }
            b'{' => {
                self.pos += 1;
                let items = self.seq(b'}', line)?;
                if items.len() % 2 != 0 {
                    return Err((line, "a map must have an even number of forms".into()));
                }
                let mut m = Map::new();
                let mut it = items.into_iter();
                while let (Some(k), Some(v)) = (it.next(), it.next()) {
                    let k = match k {
                        Value::String(s) => s,
                        other => other.to_string(),
                    };
                    m.insert(k, v);
                }
                Ok(Value::Object(m))
            }
            b'#' => {
                self.pos += 1;
                match self.peek() {
                    Some(b'{') => {
                        self.pos += 1;
                        Ok(Value::Array(self.seq(b'}', line)?))
                    }
                    Some(c) if c.is_ascii_alphabetic() => {
                        // Tagged literal: keep the tagged value.
                        self.token();
                        self.skip_ws()?;
                        self.value()
                    }
                    _ => Err((line, "unsupported `#` dispatch".into())),
                }
            }
            b'"' => self.string(),
            b'\\' => {
                self.pos += 1;
                let t = self.token();
                let t = if t.is_empty() {
                    // `\ ` or `\(` style character literal.
                    let c = self
                        .peek()
                        .ok_or((line, "bad character literal".to_string()))?;
                    self.pos += 1;
                    return Ok(Value::String((c as char).to_string()));
                } else {
                    t
                };
                let ch = match t {
                    "newline" => "\n".to_string(),
                    "space" => " ".to_string(),
                    "tab" => "\t".to_string(),
                    "return" => "\r".to_string(),
                    _ => t.to_string(),
                };
                Ok(Value::String(ch))
            }
            b')' | b']' | b'}' => Err((line, format!("unexpected `{}`", c as char))),
            b':' => {
                self.pos += 1;
                let t = self.token();
                if t.is_empty() {
                    return Err((line, "empty keyword".into()));
                }
                Ok(Value::String(t.to_string()))
            }
            _ => {
                let t = self.token();
                if t.is_empty() {
                    return Err((line, format!("unexpected character {:?}", c as char)));
                }
                atom(t).ok_or_else(|| (line, format!("cannot read {t:?}")))
            }
        }
    }

    fn seq(&mut self, close: u8, line: usize) -> RResult<Vec<Value>> {
        let mut out = Vec::new();
        loop {
            self.skip_ws()?;
            match self.peek() {
                None => {
                    return Err((
                        line,
                        format!("`{}` opened here is never closed", open_of(close)),
                    ))
                }
                Some(c) if c == close => {
                    self.pos += 1;
                    return Ok(out);
                }
                Some(_) => out.push(self.value()?),
            }
        }
    }

    fn string(&mut self) -> RResult<Value> {
        let line = self.line;
        self.pos += 1;
        let mut out = String::new();
        loop {
            let start = self.pos;
            while let Some(c) = self.peek() {
                if c == b'"' || c == b'\\' {
                    break;
                }
                if c == b'\n' {
                    self.line += 1;
                }
                self.pos += 1;
            }
            out.push_str(&self.s[start..self.pos]);
            match self.peek() {
                None => return Err((line, "string opened here is never closed".into())),
                Some(b'"') => {
                    self.pos += 1;
                    return Ok(Value::String(out));
                }
                _ => {
                    self.pos += 1;
                    let e = self
                        .peek()
                        .ok_or((line, "string opened here is never closed".to_string()))?;
                    self.pos += 1;
                    match e {
                        b'n' => out.push('\n'),
                        b't' => out.push('\t'),
                        b'r' => out.push('\r'),
                        b'"' => out.push('"'),
                        b'\\' => out.push('\\'),
                        b'u' => {
                            let hex = self.s.get(self.pos..self.pos + 4).unwrap_or("");
                            let c = u32::from_str_radix(hex, 16)
                                .ok()
                                .and_then(char::from_u32)
                                .ok_or((self.line, format!("bad \\u escape {hex:?}")))?;
                            out.push(c);
                            self.pos += 4;
                        }
                        other => {
                            return Err((
                                self.line,
                                format!("unknown escape \\{} in string", other as char),
                            ))
                        }
                    }
                }
            }
        }
    }
}

fn open_of(close: u8) -> char {
    match close {
        b']' => '[',
        b')' => '(',
        _ => '{',
    }
}

/// A token that is not a collection, string or keyword: number, nil, boolean or symbol.
fn atom(t: &str) -> Option<Value> {
    match t {
        "nil" => return Some(Value::Null),
        "true" => return Some(Value::Bool(true)),
        "false" => return Some(Value::Bool(false)),
        _ => {}
    }
    let first = t.as_bytes()[0];
    let numeric = first.is_ascii_digit()
        || ((first == b'-' || first == b'+') && t.len() > 1 && t.as_bytes()[1].is_ascii_digit());
    if !numeric {
        // A symbol.
        return Some(Value::String(t.to_string()));
    }
    let body = t.strip_suffix('N').unwrap_or(t);
    if let Ok(i) = body.parse::<i64>() {
        return Some(Value::from(i));
    }
    if let Ok(u) = body.parse::<u64>() {
        return Some(Value::from(u));
    }
    if let Some((n, d)) = t.split_once('/') {
        let (n, d) = (n.parse::<f64>().ok()?, d.parse::<f64>().ok()?);
        return Number::from_f64(n / d).map(Value::Number);
    }
    let body = t.strip_suffix('M').unwrap_or(t);
    body.parse::<f64>()
        .ok()
        .and_then(Number::from_f64)
        .map(Value::Number)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{EventType, Process};
    use serde_json::json;

    #[test]
    fn reads_every_edn_form_jepsen_uses() {
        let v = read_value(
            r#"{:a 1, :b [1 2.5 -3 7N] :c (nil true) :d #{:x} "s" "q\"\n" :e #inst "2020" ; c
               :f \a :g #_ 12 :ns/kw 4 3/4}"#,
        )
        .unwrap();
        assert_eq!(
            v,
            json!({"a":1,"b":[1,2.5,-3,7],"c":[null,true],"d":["x"],"s":"q\"\n","e":"2020","f":"a","g":"ns/kw","4":0.75})
        );
    }

    #[test]
    fn parses_a_jepsen_history_vector() {
        let text = r#"; a comment
[{:process 0, :type :invoke, :f :txn, :value [[:append :x 1] [:r :y nil]], :time 5}
 {:process 0, :type :ok, :f :txn, :value [[:append :x 1] [:r :y [1 2]]], :time 9, :node "n1"}
 {:process :nemesis, :type :info, :f :start-partition, :value :majority}
 {:process 1, :type :invoke, :f :write, :value 3}
 {:process 1, :type :info, :f :write, :value 3, :error :timeout, :extra-key {:a 1}}]
"#;
        let evs = parse("h.edn", text).unwrap();
        assert_eq!(evs.len(), 5);
        assert_eq!(evs[0].line, 2);
        assert_eq!(
            evs[1].value,
            json!([["append", "x", 1], ["r", "y", [1, 2]]])
        );
        assert_eq!(evs[1].node.as_deref(), Some("n1"));
        assert_eq!(evs[2].process, Process::Nemesis);
        assert_eq!(evs[4].typ, EventType::Info);
        assert_eq!(evs[4].error.as_deref(), Some("timeout"));
        assert_eq!(evs[4].extra.get("extra-key"), Some(&json!({"a": 1})));
        let h = History::from_events("h.edn", evs).unwrap();
        assert_eq!(h.ops.len(), 2);
    }

    #[test]
    fn parses_a_sequence_of_maps_with_knossos_micro_ops() {
        let text = "{:process 0 :type :invoke :f :txn :value [[:read :x nil] [:write :y 2]]}\n{:process 0 :type :ok :f :txn :value [[:read :x 1] [:write :y 2]]}\n";
        let evs = parse("k.edn", text).unwrap();
        assert_eq!(evs[1].line, 2);
        assert_eq!(evs[1].value, json!([["read", "x", 1], ["write", "y", 2]]));
    }

    #[test]
    fn streamed_history_equals_event_list_history() {
        let text = r#"[{:process 0, :type :invoke, :f :txn, :value [[:append :x 1] [:r :y nil]]}
 {:process 1, :type :invoke, :f :txn, :value [[:r :x nil]]}
 {:process :nemesis, :type :info, :f :start-partition, :value :majority}
 {:process 0, :type :ok, :f :txn, :value [[:append :x 1] [:r :y [2 3]]]}
 {:process 1, :type :info, :f :txn, :value [[:r :x nil]]}
 {:process 2, :type :invoke, :f :txn, :value [[:append :y 4]]}]"#;
        let a = parse_history("h", text).unwrap();
        let b = History::from_events("h", parse("h", text).unwrap()).unwrap();
        assert_eq!(a.ops.len(), 3);
        assert_eq!(a.nemesis, b.nemesis);
        for (x, y) in a.ops.iter().zip(&b.ops) {
            assert!(x.txn.is_some() && y.txn.is_some());
            assert_eq!(a.value(x), b.value(y));
            assert_eq!((x.outcome, x.complete_pos()), (y.outcome, y.complete_pos()));
        }
        assert_eq!(
            *a.value(&a.ops[0]),
            json!([["append", "x", 1], ["r", "y", [2, 3]]])
        );
        assert_eq!(*a.value(&a.ops[2]), json!([["append", "y", 4]]));
    }

    #[test]
    fn errors_name_the_line() {
        let e = parse(
            "b.edn",
            "{:process 0 :type :invoke :f :read}\n{:process 0 :type :ok :f :read :value [1 2}\n",
        )
        .unwrap_err();
        assert_eq!(e.line, 2, "{e}");
        let e = parse("b.edn", "{:process 0 :type :bogus :f :read}\n").unwrap_err();
        assert_eq!(e.line, 1);
        assert!(e.to_string().contains("unknown `type`"), "{e}");
        let e = parse("b.edn", "[{:process 0 :type :invoke :f :read}\n").unwrap_err();
        assert!(e.to_string().contains("never closed"), "{e}");
        let e = parse("b.edn", "{:process 0 :type}").unwrap_err();
        assert!(e.to_string().contains("even number"), "{e}");
        let deep = format!("{{:process 0 :value {}}}", "[".repeat(100_000));
        let e = parse("b.edn", &deep).unwrap_err();
        assert!(e.to_string().contains("nested deeper"), "{e}");
        let e = parse("b.edn", &"#_ ".repeat(100_000)).unwrap_err();
        assert!(e.to_string().contains("nested deeper"), "{e}");
        let e = parse("b.edn", &"#a ".repeat(100_000)).unwrap_err();
        assert!(e.to_string().contains("nested deeper"), "{e}");
    }
}
