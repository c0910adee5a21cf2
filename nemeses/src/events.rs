//! Nemesis events for the history: each fault start and stop is an `invoke` followed by an
//! `info` whose value says what was actually done (the grudge, each node's clock offset, the
//! pids killed), or whose `error` says why it could not be done.

use history::{Event, EventType, Process};
use serde_json::Value;

/// Receives nemesis events as they happen (the runner stamps times and indexes).
pub type Sink = Box<dyn FnMut(Event) + Send>;

pub fn invoke(f: &str, value: Value) -> Event {
    Event::new(Process::Nemesis, EventType::Invoke, f, value)
}

pub fn info(f: &str, value: Value) -> Event {
    Event::new(Process::Nemesis, EventType::Info, f, value)
}

/// An `info` completion for a fault that could not be injected.
pub fn failed(f: &str, value: Value, error: String) -> Event {
    let mut e = info(f, value);
    e.error = Some(error);
    e
}
