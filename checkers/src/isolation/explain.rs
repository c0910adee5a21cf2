//! Why a cycle is a contradiction, as data: the transactions T1..Tn and one reason per edge
//! (kind, key, values), derived again from the evidence for just the edges of the cycle.
//! [`render`] turns it into the text people read.

use super::cycles::{Cycle, Step};
use super::graph::{PROCESS, REALTIME, RW, WR, WW};
use super::list_append::{show_list, ListIndex};
use super::register::{self, RegisterIndex};
use super::txns::MopValue;
use super::txns::{TxnId, Txns};
use history::txn::{show_value as show, MopF};
use history::History;
use serde::Serialize;
use serde_json::Value;

/// What the per-key analysis knows, for explaining edges.
#[derive(Debug)]
pub enum Evidence {
    List(ListIndex),
    Register(RegisterIndex),
}

/// A transaction in a cycle.
#[derive(Debug, Clone, Serialize)]
pub struct TxnRef {
    /// `T1`, `T2`, ...
    pub name: String,
    /// The op's `index`.
    pub op: u64,
    pub process: u64,
    /// The micro-ops as recorded.
    pub value: Value,
}

/// Why one transaction precedes the next.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "why", rename_all = "kebab-case")]
pub enum Why {
    /// `to` read `from`'s write of `value` to `key`.
    Observed { key: Value, value: Value },
    /// `from` read `key` as `read`, which does not include `to`'s write of `value`.
    DidNotObserve {
        key: Value,
        read: Value,
        value: Value,
    },
    /// `to`'s write of `later` to `key` follows `from`'s write of `earlier`.
    Overwrote {
        key: Value,
        earlier: Value,
        later: Value,
    },
    /// The same process ran both, `from` first.
    Session { process: u64 },
    /// `from` completed before `to` was invoked; `gap_ns` when both times are known.
    RealTime { gap_ns: Option<i64> },
    /// The edge exists but its reason could not be re-derived (should not happen).
    Unexplained,
}

/// One edge of the cycle.
#[derive(Debug, Clone, Serialize)]
pub struct StepWhy {
    /// Positions in `txns` (0 is T1).
    pub from: usize,
    pub to: usize,
    pub rel: &'static str,
    #[serde(flatten)]
    pub why: Why,
}

/// A whole cycle, explained.
#[derive(Debug, Clone, Serialize)]
pub struct CycleExplanation {
    #[serde(rename = "type")]
    pub kind: String,
    pub data_model: &'static str,
    pub txns: Vec<TxnRef>,
    pub steps: Vec<StepWhy>,
}

/// Explains a cycle found in the graph.
pub fn explain(h: &History, txns: &Txns, ev: &Evidence, c: &Cycle) -> CycleExplanation {
    let order: Vec<TxnId> = c.steps.iter().map(|s| s.from).collect();
    let pos = |t: TxnId| order.iter().position(|&o| o == t).unwrap_or(0);
    let refs = order
        .iter()
        .enumerate()
        .map(|(i, &t)| {
            let txn = txns.get(t);
            TxnRef {
                name: format!("T{}", i + 1),
                op: txn.index,
                process: txn.process,
                value: h.value(&h.ops[txn.op]).into_owned(),
            }
        })
        .collect();
    let steps = c
        .steps
        .iter()
        .map(|s| StepWhy {
            from: pos(s.from),
            to: pos(s.to),
            rel: super::graph::rel_name(s.rel),
            why: why(h, txns, ev, *s),
        })
        .collect();
    CycleExplanation {
        kind: c.kind.clone(),
        data_model: txns.model.as_str(),
        txns: refs,
        steps,
    }
}

fn why(h: &History, txns: &Txns, ev: &Evidence, s: Step) -> Why {
    let (a, b) = (txns.get(s.from), txns.get(s.to));
    let k = |k: u32| txns.key_json(k);
    let v = |v: u32| txns.vals.value(v).clone();
    match (s.rel, ev) {
        (PROCESS, _) => Why::Session { process: a.process },
        (REALTIME, _) => Why::RealTime {
            gap_ns: match (h.ops[a.op].complete_time, h.ops[b.op].invoke_time) {
                (Some(c), Some(i)) => Some(i - c),
                _ => None,
            },
        },
        (WR, Evidence::List(ix)) => first_read(txns, s.to, |key, xs| {
            let last = *xs.last()?;
            (ix.writer(key, last)?.txn == s.from).then(|| Why::Observed {
                key: k(key),
                value: v(last),
            })
        }),
        (WR, Evidence::Register(ix)) => register::external_reads(txns, s.to)
            .into_iter()
            .find_map(|(key, r)| {
                let val = r?;
                (ix.writer(key, val)?.txn == s.from).then(|| Why::Observed {
                    key: k(key),
                    value: v(val),
                })
            })
            .unwrap_or(Why::Unexplained),
        (RW, Evidence::List(ix)) => first_read(txns, s.from, |key, xs| {
            let order = ix.order.get(&key)?;
            if order.len() < xs.len() || order[..xs.len()] != xs[..] {
                return None;
            }
            let next = match order.get(xs.len()) {
                Some(&n) => Some(n).filter(|&n| ix.writer(key, n).map(|w| w.txn) == Some(s.to)),
                None => ix
                    .unobserved
                    .get(&key)?
                    .iter()
                    .copied()
                    .find(|&n| ix.writer(key, n).map(|w| w.txn) == Some(s.to)),
            }?;
            Some(Why::DidNotObserve {
                key: k(key),
                read: Value::String(show_list(txns, xs)),
                value: v(next),
            })
        }),
        (RW, Evidence::Register(ix)) => register::external_reads(txns, s.from)
            .into_iter()
            .find_map(|(key, r)| {
                ix.order.get(&key)?.iter().find_map(|&(e, l, _)| {
                    (e == r && ix.writer(key, l)?.txn == s.to).then(|| Why::DidNotObserve {
                        key: k(key),
                        read: Value::String(register::show(txns, r)),
                        value: v(l),
                    })
                })
            })
            .unwrap_or(Why::Unexplained),
        (WW, Evidence::List(ix)) => {
            let mut keys: Vec<&u32> = ix.order.keys().collect();
            keys.sort_unstable();
            keys.into_iter()
                .find_map(|&key| {
                    let order = &ix.order[&key];
                    let w = |x: u32| ix.writer(key, x).map(|w| w.txn);
                    let pair = order
                        .windows(2)
                        .find(|p| w(p[0]) == Some(s.from) && w(p[1]) == Some(s.to))
                        .map(|p| (p[0], p[1]))
                        .or_else(|| {
                            let last = *order.last()?;
                            let un = ix.unobserved.get(&key)?;
                            (w(last) == Some(s.from)).then(|| {
                                un.iter().find(|&&x| w(x) == Some(s.to)).map(|&x| (last, x))
                            })?
                        })?;
                    Some(Why::Overwrote {
                        key: k(key),
                        earlier: v(pair.0),
                        later: v(pair.1),
                    })
                })
                .unwrap_or(Why::Unexplained)
        }
        (WW, Evidence::Register(ix)) => {
            let mut keys: Vec<&u32> = ix.order.keys().collect();
            keys.sort_unstable();
            keys.into_iter()
                .find_map(|&key| {
                    ix.order[&key].iter().find_map(|&(e, l, _)| {
                        let e = e?;
                        (ix.writer(key, e)?.txn == s.from && ix.writer(key, l)?.txn == s.to).then(
                            || Why::Overwrote {
                                key: k(key),
                                earlier: v(e),
                                later: v(l),
                            },
                        )
                    })
                })
                .unwrap_or(Why::Unexplained)
        }
        _ => Why::Unexplained,
    }
}

/// The first external list read of `t` for which `f` gives a reason.
fn first_read(txns: &Txns, t: TxnId, f: impl Fn(u32, &[u32]) -> Option<Why>) -> Why {
    let txn = txns.get(t);
    let mut seen = Vec::new();
    for m in &txn.mops {
        if seen.contains(&m.key) {
            continue;
        }
        seen.push(m.key);
        if let (MopF::Read, MopValue::List(xs)) = (m.f, &m.value) {
            if let Some(w) = f(m.key, xs) {
                return w;
            }
        }
    }
    Why::Unexplained
}

/// Human form of a duration in nanoseconds.
pub fn show_duration(ns: i64) -> String {
    let a = ns.unsigned_abs() as f64;
    if a >= 1e9 {
        format!("{:.1} s", ns as f64 / 1e9)
    } else if a >= 1e6 {
        format!("{:.1} ms", ns as f64 / 1e6)
    } else if a >= 1e3 {
        format!("{:.1} µs", ns as f64 / 1e3)
    } else {
        format!("{ns} ns")
    }
}

/// One sentence per step: "T1 < T2 because ...".
pub fn step_text(e: &CycleExplanation, s: &StepWhy) -> String {
    let (a, b) = (&e.txns[s.from].name, &e.txns[s.to].name);
    let (write, wrote) = match e.data_model {
        "list-append" => ("append", "appended"),
        _ => ("write", "wrote"),
    };
    let because = match &s.why {
        Why::Observed { key, value } => {
            format!(
                "{b} observed {a}'s {write} of {} to {}",
                show(value),
                super::txns::key_name(key)
            )
        }
        Why::DidNotObserve { key, read, value } => format!(
            "{a} did not observe {b}'s {write} of {} to {} ({a} read {} = {})",
            show(value),
            super::txns::key_name(key),
            super::txns::key_name(key),
            show(read)
        ),
        Why::Overwrote {
            key,
            earlier,
            later,
        } => format!(
            "{b} {wrote} {} to {} after {a}'s {write} of {}",
            show(later),
            super::txns::key_name(key),
            show(earlier)
        ),
        Why::Session { process } => format!("process {process} executed {a} before {b}"),
        Why::RealTime { gap_ns: Some(g) } => {
            format!("{a} completed {} before {b} began", show_duration(*g))
        }
        Why::RealTime { gap_ns: None } => format!("{a} completed before {b} began"),
        Why::Unexplained => format!("of a {} dependency", s.rel),
    };
    format!("{a} < {b} because {because}")
}

/// What each cycle class means, for the closing sentence.
pub fn meaning(kind: &str) -> &'static str {
    let base = kind
        .trim_end_matches("-realtime")
        .trim_end_matches("-process");
    match base {
        "G0" => "a cycle of write-write dependencies (dirty write)",
        "G1c" => "a cycle of write-write and write-read dependencies (circular information flow)",
        "G-single-item" => "a cycle with exactly one anti-dependency (read skew)",
        "G-nonadjacent-item" => "a cycle whose anti-dependencies are never adjacent",
        "G2-item" => "a cycle with adjacent anti-dependencies (write skew)",
        _ => "a dependency cycle",
    }
}

/// The full text: the transactions, one line per edge, then the contradiction.
pub fn render(e: &CycleExplanation) -> String {
    let mut s = String::new();
    for t in &e.txns {
        s.push_str(&format!(
            "{} = op {} (process {}): {}\n",
            t.name, t.op, t.process, t.value
        ));
    }
    for st in &e.steps {
        s.push_str(&step_text(e, st));
        s.push('\n');
    }
    let chain: Vec<&str> = e
        .steps
        .iter()
        .map(|st| e.txns[st.from].name.as_str())
        .chain(std::iter::once(e.txns[0].name.as_str()))
        .collect();
    let extra = if e.kind.ends_with("-realtime") {
        ", closed by real-time order"
    } else if e.kind.ends_with("-process") {
        ", closed by process order"
    } else {
        ""
    };
    s.push_str(&format!(
        "So {}: {} would have to come before itself, which is impossible. {}: {}{}.",
        chain.join(" < "),
        e.txns[0].name,
        e.kind,
        meaning(&e.kind),
        extra
    ));
    s
}
