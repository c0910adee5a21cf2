//! A tiny-history notation, one transaction per line:
//!
//! ```text
//! 0 ok: a x 1; r y [1 2]; w z 3; r z nil
//! 1 fail: a x 2
//! --
//! 2 info: a y 5
//! ```
//!
//! `<process> <ok|fail|info>: micro-ops`. Lines are invoked in order and stay concurrent; a
//! process's pending transaction completes just before that process invokes again, and `--`
//! completes every pending one (so everything above it precedes everything below in real
//! time). Events are 1 ms apart.

use crate::check::{check, CheckOptions};
use crate::result::{CheckResult, Verdict};
use history::{Event, EventType, History, Process};
use serde_json::{json, Value};

fn mop(s: &str) -> Value {
    let parts: Vec<&str> = s.split_whitespace().collect();
    let (f, k) = (parts[0], parts[1]);
    let rest = parts[2..].join(" ");
    let f = match f {
        "a" => "append",
        other => other,
    };
    let v: Value = if rest == "nil" {
        Value::Null
    } else if rest.starts_with('[') {
        let inner = rest.trim_matches(['[', ']']);
        Value::Array(
            inner
                .split_whitespace()
                .map(|x| json!(x.parse::<i64>().unwrap()))
                .collect(),
        )
    } else {
        json!(rest.parse::<i64>().unwrap())
    };
    json!([f, k, v])
}

/// Parses the notation into a history.
pub fn hist(spec: &str) -> History {
    let mut events: Vec<Event> = Vec::new();
    // pending: (process, completion type, completion value)
    let mut pending: Vec<(u64, EventType, Value)> = Vec::new();
    let complete = |events: &mut Vec<Event>, (p, t, v): (u64, EventType, Value)| {
        events.push(Event::new(Process::Client(p), t, "txn", v));
    };
    for line in spec.lines().map(str::trim).filter(|l| !l.is_empty()) {
        if line == "--" {
            for p in pending.drain(..) {
                complete(&mut events, p);
            }
            continue;
        }
        let (head, body) = line.split_once(':').expect("line needs ':'");
        let mut hp = head.split_whitespace();
        let p: u64 = hp.next().unwrap().parse().unwrap();
        let typ = match hp.next().unwrap() {
            "ok" => EventType::Ok,
            "fail" => EventType::Fail,
            "info" => EventType::Info,
            t => panic!("bad type {t}"),
        };
        if let Some(i) = pending.iter().position(|x| x.0 == p) {
            let x = pending.remove(i);
            complete(&mut events, x);
        }
        let mops: Vec<Value> = body
            .split(';')
            .map(str::trim)
            .filter(|m| !m.is_empty())
            .map(mop)
            .collect();
        let invoke: Vec<Value> = mops
            .iter()
            .map(|m| {
                if m[0] == "r" {
                    json!(["r", m[1], null])
                } else {
                    m.clone()
                }
            })
            .collect();
        events.push(Event::new(
            Process::Client(p),
            EventType::Invoke,
            "txn",
            Value::Array(invoke.clone()),
        ));
        let done = if typ == EventType::Ok {
            Value::Array(mops)
        } else {
            Value::Array(invoke)
        };
        pending.push((p, typ, done));
    }
    for p in pending.drain(..) {
        complete(&mut events, p);
    }
    for (i, e) in events.iter_mut().enumerate() {
        e.index = Some(i as u64);
        e.line = i + 1;
        e.time = Some(i as i64 * 1_000_000);
    }
    History::from_events("test", events).expect("valid history")
}

/// Checks `spec` against `model`.
pub fn run(spec: &str, model: &str) -> CheckResult {
    check(
        &hist(spec),
        &CheckOptions {
            expect: vec![model.into()],
            ..Default::default()
        },
    )
    .expect("check runs")
}

/// The anomaly types the isolation analysis found (only those the model forbids, plus unknown
/// types). Other analyses (session, causal) may also run for the model; their findings are
/// asserted in their own tests.
pub fn types(spec: &str, model: &str) -> Vec<String> {
    use crate::check::Analysis;
    let detects = crate::isolation::Isolation.detects();
    run(spec, model)
        .anomaly_types
        .into_iter()
        .filter(|t| {
            detects.contains(&t.as_str()) || crate::models::ALWAYS_FORBIDDEN.contains(&t.as_str())
        })
        .collect()
}

/// Asserts the history is valid under `model`.
pub fn assert_valid(spec: &str, model: &str) {
    let r = run(spec, model);
    assert_eq!(r.valid, Verdict::Valid, "{:#?}", r.anomalies);
}
