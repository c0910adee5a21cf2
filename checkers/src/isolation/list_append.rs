//! List-append: every read of a key returns the whole list, so the longest read is the key's
//! version order and every other read must be a prefix of it. From that order come the `ww`,
//! `wr` and `rw` edges, and the non-cycle anomalies: `G1a`, `G1b`, `garbage-read`,
//! `incompatible-order`, `dirty-update`, `duplicate-elements`, `internal`, `future-read`,
//! `lost-update`.

use super::graph::{EdgeSet, RW, WR, WW};
use super::txns::MopValue;
use super::txns::{TxnId, Txns};
use crate::Anomaly;
use history::txn::{Id, MopF};
use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};

/// Who appended an element, and whether it is that transaction's last append to the key.
#[derive(Debug, Clone, Copy)]
pub struct Append {
    pub txn: TxnId,
    pub mop: u32,
    pub last_in_txn: bool,
}

/// What the analysis learned per key; explanations are derived from it.
#[derive(Debug, Default)]
pub struct ListIndex {
    /// (key, element) -> its append (the first, if an element was appended twice).
    pub appends: HashMap<(Id, Id), Append>,
    /// key -> the longest read (the version order as far as observed).
    pub order: HashMap<Id, Vec<Id>>,
    /// key -> committed appends that no read observed (they follow the whole order).
    pub unobserved: HashMap<Id, Vec<Id>>,
    /// key -> the first transaction whose read is the order.
    pub longest_reader: HashMap<Id, TxnId>,
    /// Reads (transaction, micro-op) that are not a prefix of their key's order (usually none).
    pub incompatible: HashSet<(TxnId, u32)>,
}

impl ListIndex {
    /// Whether the read at (t, mop) is a prefix of its key's order.
    pub fn is_prefix(&self, t: TxnId, mop: u32) -> bool {
        self.incompatible.is_empty() || !self.incompatible.contains(&(t, mop))
    }
    pub fn writer(&self, key: Id, v: Id) -> Option<Append> {
        self.appends.get(&(key, v)).copied()
    }
}

/// Renders a list read for humans: `[1 2 3]`.
pub fn show_list(txns: &Txns, xs: &[Id]) -> String {
    let parts: Vec<String> = xs.iter().map(|&x| txns.vals.show(x)).collect();
    format!("[{}]", parts.join(" "))
}

fn list_of<'h>(m: &MopValue<'h>) -> Option<&'h [Id]> {
    match m {
        MopValue::List(xs) => Some(xs),
        _ => None,
    }
}

/// Calls `f(key, mop index)` for each external read of `t`: the first micro-op on its key,
/// when that is a list read.
fn for_each_external_read(txns: &Txns, t: TxnId, mut f: impl FnMut(Id, u32)) {
    let mops = &txns.get(t).mops;
    for (i, m) in mops.iter().enumerate() {
        if m.f == MopF::Read
            && list_of(&m.value).is_some()
            && !mops[..i].iter().any(|n| n.key == m.key)
        {
            f(m.key, i as u32);
        }
    }
}

fn is_prefix(xs: &[Id], order: &[Id]) -> bool {
    xs.len() <= order.len() && order[..xs.len()] == xs[..]
}

/// Calls `f(txn, key, list)` for every read that must be checked element by element: reads
/// that are not a prefix of their key's order, and, once per key, the order itself (as read
/// by its first longest reader). A prefix read holds no element the order does not.
fn for_each_distinct_read(txns: &Txns, ix: &ListIndex, mut f: impl FnMut(TxnId, Id, &[Id])) {
    let mut done: HashSet<Id> = HashSet::default();
    for_each_read_at(txns, |t, i, k, xs| {
        if ix.is_prefix(t, i) {
            let full = ix.order.get(&k).map_or(0, Vec::len);
            if xs.len() < full || !done.insert(k) {
                return;
            }
        }
        f(t, k, xs)
    });
}

/// Builds the index: who appended what, and each key's version order.
pub fn index(txns: &Txns) -> ListIndex {
    let mut ix = ListIndex::default();
    for (t, txn) in txns.all.iter().enumerate() {
        for (i, m) in txn.mops.iter().enumerate() {
            if m.f != MopF::Append {
                continue;
            }
            let MopValue::One(v) = m.value else { continue };
            let last_in_txn = !txn.mops[i + 1..]
                .iter()
                .any(|n| n.f == MopF::Append && n.key == m.key);
            ix.appends.entry((m.key, v)).or_insert(Append {
                txn: t as TxnId,
                mop: i as u32,
                last_in_txn,
            });
        }
        if !txn.is_ok() {
            continue;
        }
        for m in &txn.mops {
            if let (MopF::Read, Some(xs)) = (m.f, list_of(&m.value)) {
                let cur = ix.order.entry(m.key).or_default();
                if xs.len() > cur.len() || !ix.longest_reader.contains_key(&m.key) {
                    *cur = xs.to_vec();
                    ix.longest_reader.insert(m.key, t as TxnId);
                }
            }
        }
    }
    // Keys with reads that disagree: their unobserved appends are not placed after the order.
    let mut incompatible_keys: HashSet<Id> = HashSet::default();
    for (t, txn) in txns.all.iter().enumerate() {
        if !txn.is_ok() {
            continue;
        }
        for (i, m) in txn.mops.iter().enumerate() {
            if let (MopF::Read, Some(xs)) = (m.f, list_of(&m.value)) {
                let order = ix.order.get(&m.key).map(Vec::as_slice).unwrap_or(&[]);
                if !is_prefix(xs, order) {
                    ix.incompatible.insert((t as TxnId, i as u32));
                    incompatible_keys.insert(m.key);
                }
            }
        }
    }
    let observed: HashSet<(Id, Id)> = ix
        .order
        .iter()
        .flat_map(|(&k, xs)| xs.iter().map(move |&x| (k, x)))
        .collect();
    // A transaction committed if it is ok, or if any of its appends was observed.
    let committed: HashSet<TxnId> = ix
        .appends
        .iter()
        .filter(|(kv, a)| {
            txns.get(a.txn).in_graph() && (txns.get(a.txn).is_ok() || observed.contains(kv))
        })
        .map(|(_, a)| a.txn)
        .collect();
    let mut unobserved: Vec<(Id, Id, TxnId)> = ix
        .appends
        .iter()
        .filter(|(kv, a)| {
            committed.contains(&a.txn)
                && !observed.contains(kv)
                && !incompatible_keys.contains(&kv.0)
        })
        .map(|(&(k, v), a)| (k, v, a.txn))
        .collect();
    unobserved.sort_unstable_by_key(|&(k, _, t)| (k, t));
    for (k, v, _) in unobserved {
        ix.unobserved.entry(k).or_default().push(v);
    }
    ix
}

/// Adds the `ww`, `wr` and `rw` edges the version orders imply.
pub fn edges(txns: &Txns, ix: &ListIndex, edges: &mut EdgeSet) {
    let graph_writer = |k: Id, v: Id| {
        ix.writer(k, v)
            .map(|a| a.txn)
            .filter(|&t| txns.get(t).in_graph())
    };
    // ww: consecutive elements of each order, then the last observed -> every unobserved.
    for (&k, order) in &ix.order {
        for w in order.windows(2) {
            if let (Some(a), Some(b)) = (graph_writer(k, w[0]), graph_writer(k, w[1])) {
                edges.add(a, b, WW);
            }
        }
        if let (Some(&last), Some(un)) = (order.last(), ix.unobserved.get(&k)) {
            if let Some(a) = graph_writer(k, last) {
                for &v in un {
                    if let Some(b) = graph_writer(k, v) {
                        edges.add(a, b, WW);
                    }
                }
            }
        }
    }
    // wr and rw from each external read that is a prefix of the order.
    for (t, txn) in txns.all.iter().enumerate() {
        if !txn.is_ok() {
            continue;
        }
        let t = t as TxnId;
        for_each_external_read(txns, t, |k, mi| {
            let Some(xs) = list_of(&txn.mops[mi as usize].value) else {
                return;
            };
            if let Some(&last) = xs.last() {
                if let Some(w) = graph_writer(k, last) {
                    edges.add(w, t, WR);
                }
            }
            if !ix.is_prefix(t, mi) {
                return;
            }
            let order = ix.order.get(&k).map(Vec::as_slice).unwrap_or(&[]);
            if let Some(&next) = order.get(xs.len()) {
                if let Some(w) = graph_writer(k, next) {
                    edges.add(t, w, RW);
                }
            } else if let Some(un) = ix.unobserved.get(&k) {
                for &v in un {
                    if let Some(w) = graph_writer(k, v) {
                        edges.add(t, w, RW);
                    }
                }
            }
        });
    }
}

/// Reads of elements nobody appended.
pub fn garbage_read_cases(txns: &Txns, ix: &ListIndex) -> Vec<Anomaly> {
    let mut out = Vec::new();
    for_each_distinct_read(txns, ix, |t, k, xs| {
        for &x in xs {
            if ix.writer(k, x).is_none() {
                out.push(
                    Anomaly::new(
                        "garbage-read",
                        vec![txns.get(t).index],
                        format!(
                            "op {} read {} = {}, but no operation appended {} to {}",
                            txns.get(t).index,
                            txns.key_name(k),
                            show_list(txns, xs),
                            txns.vals.show(x),
                            txns.key_name(k)
                        ),
                    )
                    .with_key(txns.key_json(k)),
                );
                break;
            }
        }
    });
    out
}

/// Reads of elements appended by transactions that failed (aborted reads).
pub fn g1a_cases(txns: &Txns, ix: &ListIndex) -> Vec<Anomaly> {
    let mut out = Vec::new();
    for_each_distinct_read(txns, ix, |t, k, xs| {
        for &x in xs {
            if let Some(a) = ix.writer(k, x) {
                let w = txns.get(a.txn);
                if w.outcome == history::Outcome::Fail {
                    out.push(
                        Anomaly::new(
                            "G1a",
                            vec![txns.get(t).index, w.index],
                            format!(
                                "op {} read {} = {}, which contains {}, appended by op {}; but op {} failed, so its append never happened",
                                txns.get(t).index,
                                txns.key_name(k),
                                show_list(txns, xs),
                                txns.vals.show(x),
                                w.index,
                                w.index
                            ),
                        )
                        .with_key(txns.key_json(k)),
                    );
                    break;
                }
            }
        }
    });
    out
}

/// Reads whose last element is an append that its transaction followed with another append to
/// the same key: the reader saw the middle of another transaction.
pub fn g1b_cases(txns: &Txns, ix: &ListIndex) -> Vec<Anomaly> {
    let mut out = Vec::new();
    for_each_read(txns, |t, k, xs| {
        let Some(&last) = xs.last() else { return };
        let Some(a) = ix.writer(k, last) else { return };
        if a.last_in_txn || a.txn == t || txns.get(a.txn).outcome == history::Outcome::Fail {
            return;
        }
        let w = txns.get(a.txn);
        let later: Vec<String> = w.mops[a.mop as usize + 1..]
            .iter()
            .filter(|m| m.f == MopF::Append && m.key == k)
            .filter_map(|m| match m.value {
                MopValue::One(v) => Some(txns.vals.show(v)),
                _ => None,
            })
            .collect();
        out.push(
            Anomaly::new(
                "G1b",
                vec![txns.get(t).index, w.index],
                format!(
                    "op {} read {} = {}, ending in {}; but op {} appended {} and then also {} to {} in the same transaction, so {} was an intermediate state nobody else may see",
                    txns.get(t).index,
                    txns.key_name(k),
                    show_list(txns, xs),
                    txns.vals.show(last),
                    w.index,
                    txns.vals.show(last),
                    later.join(", "),
                    txns.key_name(k),
                    show_list(txns, xs),
                ),
            )
            .with_key(txns.key_json(k)),
        );
    });
    out
}

/// Reads that are not a prefix of the key's longest read: two histories of one list.
pub fn incompatible_order_cases(txns: &Txns, ix: &ListIndex) -> Vec<Anomaly> {
    let mut seen: HashSet<Id> = HashSet::default();
    let mut out = Vec::new();
    for_each_read_at(txns, |t, i, k, xs| {
        if ix.is_prefix(t, i) || !seen.insert(k) {
            return;
        }
        let order = ix.order.get(&k).map(Vec::as_slice).unwrap_or(&[]);
        let other = ix.longest_reader.get(&k).copied().unwrap_or(t);
        out.push(
            Anomaly::new(
                "incompatible-order",
                vec![txns.get(t).index, txns.get(other).index],
                format!(
                    "op {} read {} = {} and op {} read {} = {}; neither is a prefix of the other, so they cannot both be states of one list",
                    txns.get(t).index,
                    txns.key_name(k),
                    show_list(txns, xs),
                    txns.get(other).index,
                    txns.key_name(k),
                    show_list(txns, order)
                ),
            )
            .with_key(txns.key_json(k)),
        );
    });
    out
}

/// A committed append that follows an aborted one in a key's version order.
pub fn dirty_update_cases(txns: &Txns, ix: &ListIndex) -> Vec<Anomaly> {
    let mut keys: Vec<&Id> = ix.order.keys().collect();
    keys.sort_unstable();
    let mut out = Vec::new();
    for &k in keys {
        let order = &ix.order[&k];
        let failed = order.iter().position(|&x| {
            ix.writer(k, x)
                .is_some_and(|a| txns.get(a.txn).outcome == history::Outcome::Fail)
        });
        let Some(fi) = failed else { continue };
        let fw = txns.get(ix.writer(k, order[fi]).map(|a| a.txn).unwrap_or(0));
        let later = order[fi + 1..].iter().find_map(|&x| {
            ix.writer(k, x)
                .filter(|a| txns.get(a.txn).in_graph())
                .map(|a| (x, a.txn))
        });
        if let Some((x, t)) = later {
            let w = txns.get(t);
            out.push(
                Anomaly::new(
                    "dirty-update",
                    vec![fw.index, w.index],
                    format!(
                        "{} = {} holds {} from op {}, which failed, followed by {} from op {}, which did not fail: op {}'s append was applied on top of an aborted write",
                        txns.key_name(k),
                        show_list(txns, order),
                        txns.vals.show(order[fi]),
                        fw.index,
                        txns.vals.show(x),
                        w.index,
                        w.index
                    ),
                )
                .with_key(txns.key_json(k)),
            );
        }
    }
    out
}

/// A read listing the same element twice.
pub fn duplicate_elements_cases(txns: &Txns, ix: &ListIndex) -> Vec<Anomaly> {
    let mut out = Vec::new();
    for_each_distinct_read(txns, ix, |t, k, xs| {
        let mut seen = HashSet::default();
        if let Some(&d) = xs.iter().find(|&&x| !seen.insert(x)) {
            out.push(
                Anomaly::new(
                    "duplicate-elements",
                    vec![txns.get(t).index],
                    format!(
                        "op {} read {} = {}, in which {} appears more than once",
                        txns.get(t).index,
                        txns.key_name(k),
                        show_list(txns, xs),
                        txns.vals.show(d)
                    ),
                )
                .with_key(txns.key_json(k)),
            );
        }
    });
    out
}

/// Within one transaction: a key, its last read (if any) and the appends to it since.
type KeyState<'a> = (Id, Option<&'a [Id]>, Vec<Id>);

/// A transaction that contradicts its own earlier reads and appends of a key.
pub fn internal_cases(txns: &Txns) -> Vec<Anomaly> {
    let mut out = Vec::new();
    // Per key: the last read of it in this transaction (if any) and its appends since.
    let mut state: Vec<KeyState> = Vec::new();
    for txn in txns.all.iter().filter(|t| t.is_ok()) {
        state.clear();
        for m in &txn.mops {
            let i = match state.iter().position(|s| s.0 == m.key) {
                Some(i) => i,
                None => {
                    state.push((m.key, None, Vec::new()));
                    state.len() - 1
                }
            };
            match (&m.f, &m.value) {
                (MopF::Append, MopValue::One(v)) => state[i].2.push(*v),
                (MopF::Read, MopValue::List(xs)) => {
                    let (_, last, since) = &state[i];
                    let ok = match last {
                        Some(l) => {
                            xs.len() == l.len() + since.len()
                                && xs[..l.len()] == l[..]
                                && xs[l.len()..] == since[..]
                        }
                        None => xs.ends_with(since),
                    };
                    if !ok {
                        let expected = match last {
                            Some(l) => {
                                let mut e = l.to_vec();
                                e.extend(since);
                                show_list(txns, &e)
                            }
                            None => {
                                format!("[... {}]", show_list(txns, since).trim_matches(['[', ']']))
                            }
                        };
                        out.push(
                            Anomaly::new(
                                "internal",
                                vec![txn.index],
                                format!(
                                    "op {} read {} = {}, but its own earlier reads and appends of {} in the same transaction say it must be {}",
                                    txn.index,
                                    txns.key_name(m.key),
                                    show_list(txns, xs),
                                    txns.key_name(m.key),
                                    expected
                                ),
                            )
                            .with_key(txns.key_json(m.key)),
                        );
                        break;
                    }
                    state[i].1 = Some(xs);
                    state[i].2.clear();
                }
                _ => {}
            }
        }
    }
    out
}

/// A read that already contains an element its own transaction appends only later.
pub fn future_read_cases(txns: &Txns) -> Vec<Anomaly> {
    let mut out = Vec::new();
    for txn in txns.all.iter().filter(|t| t.is_ok()) {
        'mops: for (i, m) in txn.mops.iter().enumerate() {
            let (MopF::Read, MopValue::List(xs)) = (&m.f, &m.value) else {
                continue;
            };
            for n in &txn.mops[i + 1..] {
                if let (MopF::Append, MopValue::One(v)) = (&n.f, &n.value) {
                    if n.key == m.key && xs.contains(v) {
                        out.push(
                            Anomaly::new(
                                "future-read",
                                vec![txn.index],
                                format!(
                                    "op {} read {} = {}, which contains {}, before the same transaction appended {} to {}",
                                    txn.index,
                                    txns.key_name(m.key),
                                    show_list(txns, xs),
                                    txns.vals.show(*v),
                                    txns.vals.show(*v),
                                    txns.key_name(m.key)
                                ),
                            )
                            .with_key(txns.key_json(m.key)),
                        );
                        break 'mops;
                    }
                }
            }
        }
    }
    out
}

/// Two committed transactions that read the same version of a key and both appended to it.
pub fn lost_update_cases(txns: &Txns) -> Vec<Anomaly> {
    // (key, version read) -> txns that then appended to the key
    let mut groups: HashMap<(Id, usize, Option<Id>), Vec<TxnId>> = HashMap::default();
    for (t, txn) in txns.all.iter().enumerate() {
        if !txn.is_ok() {
            continue;
        }
        for_each_external_read(txns, t as TxnId, |k, mi| {
            let appends_later = txn.mops[mi as usize + 1..]
                .iter()
                .any(|m| m.f == MopF::Append && m.key == k);
            if let (true, Some(xs)) = (appends_later, list_of(&txn.mops[mi as usize].value)) {
                groups
                    .entry((k, xs.len(), xs.last().copied()))
                    .or_default()
                    .push(t as TxnId);
            }
        });
    }
    let mut groups: Vec<_> = groups.into_iter().filter(|(_, ts)| ts.len() > 1).collect();
    groups.sort_unstable_by_key(|(_, ts)| ts[0]);
    groups
        .into_iter()
        .map(|((k, _, _), ts)| {
            let txn = txns.get(ts[0]);
            let xs = txn
                .mops
                .iter()
                .find_map(|m| match (&m.f, &m.value) {
                    (MopF::Read, MopValue::List(xs)) if m.key == k => Some(*xs),
                    _ => None,
                })
                .unwrap_or_default();
            let ops: Vec<u64> = ts.iter().map(|&t| txns.get(t).index).collect();
            let names: Vec<String> = ops.iter().map(|o| format!("op {o}")).collect();
            Anomaly::new(
                "lost-update",
                ops,
                format!(
                    "{} all read {} = {} and then appended to {}; in any serial order the later of them would have seen the earlier one's append, so one update was lost",
                    names.join(" and "),
                    txns.key_name(k),
                    show_list(txns, xs),
                    txns.key_name(k)
                ),
            )
            .with_key(txns.key_json(k))
        })
        .collect()
}

/// Calls `f(txn, key, list)` for every list read of every ok transaction.
fn for_each_read(txns: &Txns, mut f: impl FnMut(TxnId, Id, &[Id])) {
    for_each_read_at(txns, |t, _, k, xs| f(t, k, xs))
}

/// Like [`for_each_read`], with the micro-op's position.
fn for_each_read_at(txns: &Txns, mut f: impl FnMut(TxnId, u32, Id, &[Id])) {
    for (t, txn) in txns.all.iter().enumerate() {
        if !txn.is_ok() {
            continue;
        }
        for (i, m) in txn.mops.iter().enumerate() {
            if let (MopF::Read, MopValue::List(xs)) = (&m.f, &m.value) {
                f(t as TxnId, i as u32, m.key, xs);
            }
        }
    }
}
