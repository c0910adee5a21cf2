//! One operation as the runner sees it: what was asked ([`Invocation`]) and how it ended
//! ([`Completion`]). The runner turns both into history events.

use history::EventType;
use serde_json::Value;

/// An operation to perform: `f`, an optional independent key, and the invocation's value.
#[derive(Debug, Clone, PartialEq)]
pub struct Invocation {
    pub f: String,
    pub key: Option<Value>,
    pub value: Value,
}

impl Invocation {
    pub fn new(f: &str, key: Option<Value>, value: Value) -> Invocation {
        Invocation {
            f: f.to_string(),
            key,
            value,
        }
    }
}

/// How an operation ended: `ok` (took effect, with the observed value), `fail` (certainly did
/// not take effect) or `info` (indeterminate: timed out, connection lost, unknown error).
#[derive(Debug, Clone, PartialEq)]
pub struct Completion {
    pub typ: EventType,
    pub value: Value,
    /// The replica that served it, when known.
    pub node: Option<String>,
    pub error: Option<String>,
}

impl Completion {
    pub fn ok(value: Value, node: Option<String>) -> Completion {
        Completion {
            typ: EventType::Ok,
            value,
            node,
            error: None,
        }
    }
    pub fn fail(value: Value, error: impl Into<String>) -> Completion {
        Completion {
            typ: EventType::Fail,
            value,
            node: None,
            error: Some(error.into()),
        }
    }
    pub fn info(value: Value, error: impl Into<String>) -> Completion {
        Completion {
            typ: EventType::Info,
            value,
            node: None,
            error: Some(error.into()),
        }
    }
    pub fn with_node(mut self, node: Option<String>) -> Completion {
        if node.is_some() {
            self.node = node;
        }
        self
    }
}
