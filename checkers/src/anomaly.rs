//! An anomaly: one violation found in a history, with its minimal witness.

use serde::Serialize;
use serde_json::{Map, Value};

/// One violation. `ops` are the `index`es of the operations involved (their invocations);
/// `explanation` says in plain words why they contradict the model; `data` holds structured
/// detail (e.g. the cycle's edges) for tools.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Anomaly {
    #[serde(rename = "type")]
    pub kind: String,
    pub ops: Vec<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<Value>,
    pub explanation: String,
    #[serde(skip_serializing_if = "Map::is_empty")]
    pub data: Map<String, Value>,
}

impl Anomaly {
    pub fn new(kind: impl Into<String>, ops: Vec<u64>, explanation: impl Into<String>) -> Anomaly {
        Anomaly {
            kind: kind.into(),
            ops,
            key: None,
            explanation: explanation.into(),
            data: Map::new(),
        }
    }
    pub fn with_key(mut self, key: Value) -> Anomaly {
        self.key = Some(key);
        self
    }
    pub fn with_data(mut self, field: &str, value: Value) -> Anomaly {
        self.data.insert(field.to_string(), value);
        self
    }
}
