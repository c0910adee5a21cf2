//! One line of a history: an invocation, a completion, or a nemesis event.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Who performed an event: a client process (a single-threaded session) or the nemesis.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Process {
    Client(u64),
    Nemesis,
}

impl Process {
    pub fn client(self) -> Option<u64> {
        match self {
            Process::Client(p) => Some(p),
            Process::Nemesis => None,
        }
    }
    pub fn to_json(self) -> Value {
        match self {
            Process::Client(p) => Value::from(p),
            Process::Nemesis => Value::from("nemesis"),
        }
    }
}

impl std::fmt::Display for Process {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Process::Client(p) => write!(f, "process {p}"),
            Process::Nemesis => write!(f, "the nemesis"),
        }
    }
}

/// The type of an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EventType {
    /// The operation began.
    Invoke,
    /// It took effect.
    Ok,
    /// It certainly did not take effect.
    Fail,
    /// Indeterminate: it may or may not have taken effect, at any time after its invocation.
    Info,
}

impl EventType {
    pub fn parse(s: &str) -> Option<EventType> {
        match s {
            "invoke" => Some(EventType::Invoke),
            "ok" => Some(EventType::Ok),
            "fail" => Some(EventType::Fail),
            "info" => Some(EventType::Info),
            _ => None,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Invoke => "invoke",
            EventType::Ok => "ok",
            EventType::Fail => "fail",
            EventType::Info => "info",
        }
    }
}

/// One event as it appears in a history file, whatever the format.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// The event's `index`, if the file gave one (otherwise assigned from line order).
    pub index: Option<u64>,
    pub process: Process,
    pub typ: EventType,
    pub f: String,
    pub value: Value,
    /// Nanoseconds since the start of the test.
    pub time: Option<i64>,
    /// Which replica served it.
    pub node: Option<String>,
    pub error: Option<String>,
    /// `Some("final")` for reads taken after faults were healed.
    pub phase: Option<String>,
    /// Independent key (register histories), if given.
    pub key: Option<Value>,
    /// Fields this version of faultline does not interpret, kept as they were.
    pub extra: Map<String, Value>,
    /// 1-based line in the source.
    pub line: usize,
}

impl Event {
    /// A bare event; codecs fill in the optional fields.
    pub fn new(process: Process, typ: EventType, f: impl Into<String>, value: Value) -> Event {
        Event {
            index: None,
            process,
            typ,
            f: f.into(),
            value,
            time: None,
            node: None,
            error: None,
            phase: None,
            key: None,
            extra: Map::new(),
            line: 0,
        }
    }

    /// The event in faultline's JSONL form.
    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        if let Some(i) = self.index {
            m.insert("index".into(), i.into());
        }
        if let Some(t) = self.time {
            m.insert("time".into(), t.into());
        }
        m.insert("process".into(), self.process.to_json());
        m.insert("type".into(), self.typ.as_str().into());
        m.insert("f".into(), self.f.clone().into());
        if let Some(k) = &self.key {
            m.insert("key".into(), k.clone());
        }
        m.insert("value".into(), self.value.clone());
        if let Some(n) = &self.node {
            m.insert("node".into(), n.clone().into());
        }
        if let Some(e) = &self.error {
            m.insert("error".into(), e.clone().into());
        }
        if let Some(p) = &self.phase {
            m.insert("phase".into(), p.clone().into());
        }
        for (k, v) in &self.extra {
            m.insert(k.clone(), v.clone());
        }
        Value::Object(m)
    }
}
