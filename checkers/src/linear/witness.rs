//! The counterexample of a failed search as data, and its rendering into sentences.
//!
//! The witness is taken at the deepest point the search reached: the longest prefix of ops it
//! could linearize, the state that prefix leaves, the op whose completion came before it could
//! take effect, and what happened to every op that could have gone next.

use crate::anomaly::Anomaly;
use history::{History, Op, OpId, Outcome};
use serde_json::{json, Value};
use std::fmt::Write as _;

/// One op tried right after the longest linearizable prefix.
#[derive(Debug, Clone)]
pub struct TriedOp {
    pub op: OpId,
    /// The op as the model sees it ("write 3").
    pub what: String,
    /// `None`: the model forbids it in that state; `Some(s)`: allowed, leading to state `s`
    /// from which no order of the remaining ops works.
    pub leads_to: Option<String>,
}

/// Why one partition (key) is not linearizable.
#[derive(Debug, Clone)]
pub struct Witness {
    pub model: &'static str,
    pub key: Option<Value>,
    /// The op that cannot be linearized.
    pub op: OpId,
    pub op_what: String,
    /// The longest linearizable prefix, in linearization order: (op, what it did).
    pub prefix: Vec<(OpId, String)>,
    /// The model state after the prefix.
    pub state: String,
    /// The ops that were candidates after the prefix (the failing op among them).
    pub tried: Vec<TriedOp>,
    /// Set when the op was found impossible without a search: why, in words.
    pub reason: Option<String>,
}

fn op_line(o: &Op) -> String {
    match (o.outcome, o.complete_line()) {
        (Outcome::Info, _) | (_, None) => {
            format!("invoked on line {}, never completed", o.invoke_line())
        }
        (_, Some(c)) => format!("lines {}-{}", o.invoke_line(), c),
    }
}

fn who(h: &History, id: OpId, what: &str) -> String {
    let o = &h.ops[id];
    format!(
        "op {} (process {}, {}, {})",
        o.index,
        o.process,
        what,
        op_line(o)
    )
}

/// The explanation in plain sentences.
pub fn explain(h: &History, w: &Witness) -> String {
    let mut s = String::new();
    let key = w
        .key
        .as_ref()
        .map(|k| format!(" on key {k}"))
        .unwrap_or_default();
    let stuck = &h.ops[w.op];
    let _ = write!(
        s,
        "{} cannot be linearized{key} ({} model). ",
        who(h, w.op, &w.op_what),
        w.model
    );
    if let Some(reason) = &w.reason {
        let _ = write!(s, "No order can place it: {reason}.");
        return s;
    }
    match w.prefix.last() {
        None => {
            let _ = write!(
                s,
                "No op can be placed first: from the initial state {}, ",
                w.state
            );
        }
        Some((last, what)) => {
            let _ = write!(
                s,
                "The longest linearizable prefix has {} ops, ending with {}, and leaves the state at {}. ",
                w.prefix.len(),
                who(h, *last, what),
                w.state
            );
            let _ = write!(s, "From there, ");
        }
    }
    let _ = write!(
        s,
        "op {} completed before it could take effect: ",
        stuck.index
    );
    let own = w.tried.iter().find(|t| t.op == w.op);
    match own.and_then(|t| t.leads_to.as_ref()) {
        None => {
            let _ = write!(s, "{} is impossible in state {}. ", w.op_what, w.state);
        }
        Some(next) => {
            let _ = write!(
                s,
                "{} would leave the state at {}, but no order of the remaining ops works from there. ",
                w.op_what, next
            );
        }
    }
    let _ = write!(
        s,
        "The search tried every order the real-time constraints allow; this is the one that got furthest. "
    );
    let others: Vec<&TriedOp> = w.tried.iter().filter(|t| t.op != w.op).collect();
    if !others.is_empty() {
        let _ = write!(
            s,
            "The concurrent ops that could have gone first were tried:"
        );
        for t in others.iter().take(8) {
            let o = &h.ops[t.op];
            match &t.leads_to {
                None => {
                    let _ = write!(
                        s,
                        " op {} ({}) is impossible in state {};",
                        o.index, t.what, w.state
                    );
                }
                Some(next) => {
                    let _ = write!(
                        s,
                        " op {} ({}) leads to state {}, a dead end;",
                        o.index, t.what, next
                    );
                }
            }
        }
        if others.len() > 8 {
            let _ = write!(s, " and {} more;", others.len() - 8);
        }
        s.pop();
        s.push('.');
    }
    s.trim_end().to_string()
}

/// The anomaly: the failing op first, then the concurrent ops tried.
pub fn to_anomaly(h: &History, w: &Witness) -> Anomaly {
    let mut ops = vec![h.ops[w.op].index];
    ops.extend(
        w.tried
            .iter()
            .filter(|t| t.op != w.op)
            .map(|t| h.ops[t.op].index),
    );
    // The prefix can be long: keep its length and its last ops.
    let tail = w.prefix.len().saturating_sub(20);
    let prefix: Vec<Value> = w.prefix[tail..]
        .iter()
        .map(|(o, what)| json!({"op": h.ops[*o].index, "what": what}))
        .collect();
    let tried: Vec<Value> = w
        .tried
        .iter()
        .map(|t| {
            json!({
                "op": h.ops[t.op].index,
                "what": t.what,
                "result": match &t.leads_to { None => json!("impossible"), Some(s) => json!({"dead_end": s}) },
            })
        })
        .collect();
    let mut a = Anomaly::new("nonlinearizable", ops, explain(h, w))
        .with_data("model", json!(w.model))
        .with_data("op", json!(h.ops[w.op].index))
        .with_data("op_what", json!(w.op_what))
        .with_data("prefix_len", json!(w.prefix.len()))
        .with_data("prefix_tail", Value::Array(prefix))
        .with_data("state", json!(w.state))
        .with_data("tried", Value::Array(tried));
    if let Some(k) = &w.key {
        a = a.with_key(k.clone());
    }
    a
}
