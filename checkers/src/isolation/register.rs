//! Read-write registers: reads return one value, so the version order of a key must be
//! inferred. Only sound rules are used, and the stats say which fired:
//! - `initial-nil`: the initial state (nil) precedes every written value;
//! - `read-then-write`: a transaction that read v and then wrote w installed w after v;
//! - `write-then-write`: a transaction that wrote v and then w to a key ordered v before w.
//!
//! From the inferred order come `ww` and `rw` edges; `wr` edges come from reads of a value.
//! Non-cycle anomalies: `G1a`, `G1b`, `garbage-read`, `internal`, `future-read`,
//! `lost-update`, `cyclic-versions`.

use super::graph::{EdgeSet, RW, WR, WW};
use super::txns::MopValue;
use super::txns::{TxnId, Txns};
use crate::Anomaly;
use history::txn::{Id, MopF};
use history::Outcome;
use petgraph::graphmap::DiGraphMap;
use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};
use std::collections::BTreeSet;

/// A version of a register: `None` is the initial nil.
pub type Version = Option<Id>;

/// Why one version precedes another.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Rule {
    InitialNil,
    ReadThenWrite(TxnId),
    WriteThenWrite(TxnId),
}

impl Rule {
    pub fn name(self) -> &'static str {
        match self {
            Rule::InitialNil => "initial-nil",
            Rule::ReadThenWrite(_) => "read-then-write",
            Rule::WriteThenWrite(_) => "write-then-write",
        }
    }
}

/// Who wrote a value, and whether it was that transaction's last write to the key.
#[derive(Debug, Clone, Copy)]
pub struct Write {
    pub txn: TxnId,
    pub mop: u32,
    pub last_in_txn: bool,
}

#[derive(Debug, Default)]
pub struct RegisterIndex {
    pub writes: HashMap<(Id, Id), Write>,
    /// key -> inferred `(earlier, later, rule)` version pairs.
    pub order: HashMap<Id, Vec<(Version, Id, Rule)>>,
    /// Keys whose inferred order has a cycle (no edges are inferred from them).
    pub cyclic: BTreeSet<Id>,
    /// Inference rules that produced at least one pair.
    pub rules_used: BTreeSet<&'static str>,
}

impl RegisterIndex {
    pub fn writer(&self, k: Id, v: Id) -> Option<Write> {
        self.writes.get(&(k, v)).copied()
    }
}

fn version(m: &MopValue) -> Option<Version> {
    match m {
        MopValue::Nil => Some(None),
        MopValue::One(v) => Some(Some(*v)),
        _ => None,
    }
}

/// The external read of each key of a transaction: the first micro-op on the key, if a read.
pub fn external_reads(txns: &Txns, t: TxnId) -> Vec<(Id, Version)> {
    let txn = txns.get(t);
    let mut seen: Vec<Id> = Vec::new();
    let mut out = Vec::new();
    for m in &txn.mops {
        if seen.contains(&m.key) {
            continue;
        }
        seen.push(m.key);
        if m.f == MopF::Read {
            if let Some(v) = version(&m.value) {
                out.push((m.key, v));
            }
        }
    }
    out
}

/// The last value a transaction wrote to each key.
fn final_writes(txns: &Txns, t: TxnId) -> Vec<(Id, Id)> {
    let mut out: Vec<(Id, Id)> = Vec::new();
    for m in &txns.get(t).mops {
        if let (MopF::Write, MopValue::One(v)) = (m.f, &m.value) {
            match out.iter_mut().find(|(k, _)| *k == m.key) {
                Some(e) => e.1 = *v,
                None => out.push((m.key, *v)),
            }
        }
    }
    out
}

pub fn index(txns: &Txns) -> RegisterIndex {
    let mut ix = RegisterIndex::default();
    for (t, txn) in txns.all.iter().enumerate() {
        for (i, m) in txn.mops.iter().enumerate() {
            if let (MopF::Write, MopValue::One(v)) = (m.f, &m.value) {
                let last_in_txn = !txn.mops[i + 1..]
                    .iter()
                    .any(|n| n.f == MopF::Write && n.key == m.key);
                ix.writes.entry((m.key, *v)).or_insert(Write {
                    txn: t as TxnId,
                    mop: i as u32,
                    last_in_txn,
                });
            }
        }
    }
    // initial-nil: nil precedes every installed write (committed or maybe committed).
    let mut installed: Vec<(Id, Id)> = ix
        .writes
        .iter()
        .filter(|(_, w)| w.last_in_txn && txns.get(w.txn).in_graph())
        .map(|(&kv, _)| kv)
        .collect();
    installed.sort_unstable();
    for (k, v) in installed {
        ix.order
            .entry(k)
            .or_default()
            .push((None, v, Rule::InitialNil));
        ix.rules_used.insert(Rule::InitialNil.name());
    }
    // read-then-write: within a committed transaction.
    for (t, txn) in txns.all.iter().enumerate() {
        if !txn.is_ok() {
            continue;
        }
        let t = t as TxnId;
        let writes = final_writes(txns, t);
        for (k, r) in external_reads(txns, t) {
            if let Some(&(_, w)) = writes.iter().find(|(wk, _)| *wk == k) {
                if r != Some(w) {
                    ix.order
                        .entry(k)
                        .or_default()
                        .push((r, w, Rule::ReadThenWrite(t)));
                    ix.rules_used.insert("read-then-write");
                }
            }
        }
    }
    // write-then-write: successive writes of one key within a transaction.
    for (t, txn) in txns.all.iter().enumerate() {
        if !txn.in_graph() {
            continue;
        }
        let mut last: Vec<(Id, Id)> = Vec::new();
        for m in &txn.mops {
            if let (MopF::Write, MopValue::One(v)) = (m.f, &m.value) {
                match last.iter_mut().find(|(k, _)| *k == m.key) {
                    Some(e) => {
                        if e.1 != *v {
                            ix.order.entry(m.key).or_default().push((
                                Some(e.1),
                                *v,
                                Rule::WriteThenWrite(t as TxnId),
                            ));
                            ix.rules_used.insert("write-then-write");
                        }
                        e.1 = *v;
                    }
                    None => last.push((m.key, *v)),
                }
            }
        }
    }
    // Keys whose inferred order is cyclic.
    let mut keys: Vec<Id> = ix.order.keys().copied().collect();
    keys.sort_unstable();
    for k in keys {
        let mut g: DiGraphMap<u64, ()> = DiGraphMap::new();
        for &(a, b, _) in &ix.order[&k] {
            let a = a.map(u64::from).unwrap_or(u64::MAX);
            g.add_edge(a, u64::from(b), ());
        }
        if petgraph::algo::is_cyclic_directed(&g) {
            ix.cyclic.insert(k);
        }
    }
    ix
}

/// Adds `wr` from every read of a written value, and `ww` / `rw` from the inferred order.
pub fn edges(txns: &Txns, ix: &RegisterIndex, edges: &mut EdgeSet) {
    let graph_writer = |k: Id, v: Id| {
        ix.writer(k, v)
            .map(|w| w.txn)
            .filter(|&t| txns.get(t).in_graph())
    };
    let mut readers: HashMap<(Id, Version), Vec<TxnId>> = HashMap::default();
    for (t, txn) in txns.all.iter().enumerate() {
        if !txn.is_ok() {
            continue;
        }
        for (k, r) in external_reads(txns, t as TxnId) {
            if let Some(v) = r {
                if let Some(w) = graph_writer(k, v) {
                    edges.add(w, t as TxnId, WR);
                }
            }
            readers.entry((k, r)).or_default().push(t as TxnId);
        }
    }
    for (&k, pairs) in &ix.order {
        if ix.cyclic.contains(&k) {
            continue;
        }
        for &(a, b, _) in pairs {
            let Some(wb) = graph_writer(k, b) else {
                continue;
            };
            if let Some(av) = a {
                if let Some(wa) = graph_writer(k, av) {
                    edges.add(wa, wb, WW);
                }
            }
            if let Some(rs) = readers.get(&(k, a)) {
                for &r in rs {
                    edges.add(r, wb, RW);
                }
            }
        }
    }
}

pub fn show(txns: &Txns, v: Version) -> String {
    v.map(|v| txns.vals.show(v)).unwrap_or_else(|| "nil".into())
}

/// Reads of values nobody wrote (`garbage-read`), of aborted writes (`G1a`) and of
/// intermediate writes (`G1b`), in one pass over the reads.
pub fn read_cases(txns: &Txns, ix: &RegisterIndex) -> Vec<Anomaly> {
    let mut out = Vec::new();
    for (t, txn) in txns.all.iter().enumerate() {
        if !txn.is_ok() {
            continue;
        }
        for (k, r) in external_reads(txns, t as TxnId) {
            let Some(v) = r else { continue };
            let (ks, vs) = (txns.key_name(k), txns.vals.show(v));
            let a = match ix.writer(k, v) {
                None => Anomaly::new(
                    "garbage-read",
                    vec![txn.index],
                    format!("op {} read {ks} = {vs}, but no operation wrote {vs} to {ks}", txn.index),
                ),
                Some(w) if w.txn == t as TxnId => continue,
                Some(w) if txns.get(w.txn).outcome == Outcome::Fail => Anomaly::new(
                    "G1a",
                    vec![txn.index, txns.get(w.txn).index],
                    format!(
                        "op {} read {ks} = {vs}, written by op {}; but op {} failed, so its write never happened",
                        txn.index,
                        txns.get(w.txn).index,
                        txns.get(w.txn).index
                    ),
                ),
                Some(w) if !w.last_in_txn => Anomaly::new(
                    "G1b",
                    vec![txn.index, txns.get(w.txn).index],
                    format!(
                        "op {} read {ks} = {vs}, written by op {}; but op {} wrote {ks} again later in the same transaction, so {vs} was an intermediate value nobody else may see",
                        txn.index,
                        txns.get(w.txn).index,
                        txns.get(w.txn).index
                    ),
                ),
                Some(_) => continue,
            };
            out.push(a.with_key(txns.key_json(k)));
        }
    }
    out
}

/// A transaction whose read contradicts its own earlier read or write of the key.
pub fn internal_cases(txns: &Txns) -> Vec<Anomaly> {
    let mut out = Vec::new();
    for txn in txns.all.iter().filter(|t| t.is_ok()) {
        let mut state: HashMap<Id, (Version, &'static str)> = HashMap::default();
        for m in &txn.mops {
            match (m.f, version(&m.value)) {
                (MopF::Write, Some(v)) => {
                    state.insert(m.key, (v, "wrote"));
                }
                (MopF::Read, Some(v)) => {
                    if let Some(&(expect, how)) = state.get(&m.key) {
                        if expect != v {
                            out.push(
                                Anomaly::new(
                                    "internal",
                                    vec![txn.index],
                                    format!(
                                        "op {} read {} = {}, but it had {how} {} = {} earlier in the same transaction",
                                        txn.index,
                                        txns.key_name(m.key),
                                        show(txns, v),
                                        txns.key_name(m.key),
                                        show(txns, expect)
                                    ),
                                )
                                .with_key(txns.key_json(m.key)),
                            );
                            break;
                        }
                    }
                    state.insert(m.key, (v, "read"));
                }
                _ => {}
            }
        }
    }
    out
}

/// A read of a value its own transaction writes only later.
pub fn future_read_cases(txns: &Txns, ix: &RegisterIndex) -> Vec<Anomaly> {
    let mut out = Vec::new();
    for (t, txn) in txns.all.iter().enumerate() {
        if !txn.is_ok() {
            continue;
        }
        for (i, m) in txn.mops.iter().enumerate() {
            let (MopF::Read, MopValue::One(v)) = (m.f, &m.value) else {
                continue;
            };
            if let Some(w) = ix.writer(m.key, *v) {
                if w.txn == t as TxnId && w.mop as usize > i {
                    out.push(
                        Anomaly::new(
                            "future-read",
                            vec![txn.index],
                            format!(
                                "op {} read {} = {} before the same transaction wrote {} to {}",
                                txn.index,
                                txns.key_name(m.key),
                                txns.vals.show(*v),
                                txns.vals.show(*v),
                                txns.key_name(m.key)
                            ),
                        )
                        .with_key(txns.key_json(m.key)),
                    );
                    break;
                }
            }
        }
    }
    out
}

/// Committed transactions that read the same version of a key and then all wrote it.
pub fn lost_update_cases(txns: &Txns) -> Vec<Anomaly> {
    let mut groups: HashMap<(Id, Version), Vec<TxnId>> = HashMap::default();
    for (t, txn) in txns.all.iter().enumerate() {
        if !txn.is_ok() {
            continue;
        }
        let writes = final_writes(txns, t as TxnId);
        for (k, r) in external_reads(txns, t as TxnId) {
            if writes.iter().any(|(wk, _)| *wk == k) {
                groups.entry((k, r)).or_default().push(t as TxnId);
            }
        }
    }
    let mut groups: Vec<_> = groups.into_iter().filter(|(_, v)| v.len() > 1).collect();
    groups.sort_unstable_by_key(|(_, ts)| ts[0]);
    groups
        .into_iter()
        .map(|((k, r), ts)| {
            let ops: Vec<u64> = ts.iter().map(|&t| txns.get(t).index).collect();
            let names: Vec<String> = ops.iter().map(|o| format!("op {o}")).collect();
            Anomaly::new(
                "lost-update",
                ops,
                format!(
                    "{} all read {} = {} and then wrote {}; in any serial order the later of them would have read the earlier one's write, so one update was lost",
                    names.join(" and "),
                    txns.key_name(k),
                    show(txns, r),
                    txns.key_name(k)
                ),
            )
            .with_key(txns.key_json(k))
        })
        .collect()
}

/// Keys whose inferred version order contradicts itself.
pub fn cyclic_versions_cases(txns: &Txns, ix: &RegisterIndex) -> Vec<Anomaly> {
    let mut out = Vec::new();
    for &k in &ix.cyclic {
        let pairs = &ix.order[&k];
        let mut ops: Vec<u64> = Vec::new();
        let mut why: Vec<String> = Vec::new();
        let mut seen = HashSet::default();
        for &(a, b, rule) in pairs {
            let (t, verb) = match rule {
                Rule::ReadThenWrite(t) => (t, "read"),
                Rule::WriteThenWrite(t) => (t, "wrote"),
                Rule::InitialNil => continue,
            };
            if seen.insert((t, a, b)) {
                if !ops.contains(&txns.get(t).index) {
                    ops.push(txns.get(t).index);
                }
                why.push(format!(
                    "op {} {verb} {} and then wrote {}, so {} < {}",
                    txns.get(t).index,
                    show(txns, a),
                    txns.vals.show(b),
                    show(txns, a),
                    txns.vals.show(b)
                ));
            }
        }
        out.push(
            Anomaly::new(
                "cyclic-versions",
                ops,
                format!(
                    "the versions of {} cannot be ordered: {}; together these orders form a cycle",
                    txns.key_name(k),
                    why.join("; ")
                ),
            )
            .with_key(txns.key_json(k)),
        );
    }
    out
}
