//! The dependency graph over transactions: edge kinds as a bitset (`ww`, `wr`, `rw`, `process`,
//! `realtime`), one petgraph edge per ordered pair with the kinds merged.

use super::txns::{TxnId, Txns};
use history::{History, Outcome};
use petgraph::csr::Csr;
use petgraph::Directed;

/// A set of edge kinds.
pub type Rels = u8;
/// Write-write: the target overwrote (appended after) the source's write.
pub const WW: Rels = 1;
/// Write-read: the target read the source's write.
pub const WR: Rels = 2;
/// Read-write (anti-dependency): the target overwrote the version the source read.
pub const RW: Rels = 4;
/// Session order: the same process ran the source, then the target.
pub const PROCESS: Rels = 8;
/// Real-time order: the source completed before the target was invoked.
pub const REALTIME: Rels = 16;
/// The data dependencies.
pub const DATA: Rels = WW | WR | RW;

/// Every single kind, in the order steps prefer them (data first).
pub const KINDS: [Rels; 5] = [WW, WR, RW, PROCESS, REALTIME];

pub fn rel_name(r: Rels) -> &'static str {
    match r {
        WW => "ww",
        WR => "wr",
        RW => "rw",
        PROCESS => "process",
        REALTIME => "realtime",
        _ => "mixed",
    }
}

/// Edges collected before the graph is built (sorted and merged once).
#[derive(Debug, Default)]
pub struct EdgeSet {
    edges: Vec<(TxnId, TxnId, Rels)>,
}

impl EdgeSet {
    pub fn add(&mut self, from: TxnId, to: TxnId, rel: Rels) {
        if from != to {
            self.edges.push((from, to, rel));
        }
    }
    pub fn len(&self) -> usize {
        self.edges.len()
    }
    pub fn is_empty(&self) -> bool {
        self.edges.is_empty()
    }
    /// Builds the graph over `n` transactions, merging kinds of parallel edges.
    pub fn build(mut self, n: usize) -> DepGraph {
        let edges = &mut self.edges;
        edges.sort_unstable_by_key(|&(a, b, _)| (a, b));
        // Merge parallel edges in place, then hand the sorted list to the compact graph.
        let mut w = 0;
        for i in 0..edges.len() {
            let (a, b, r) = edges[i];
            if w > 0 && edges[w - 1].0 == a && edges[w - 1].1 == b {
                edges[w - 1].2 |= r;
            } else {
                edges[w] = (a, b, r);
                w += 1;
            }
        }
        edges.truncate(w);
        let mut counts = [0usize; 5];
        for &(_, _, r) in edges.iter() {
            for (i, k) in KINDS.iter().enumerate() {
                if r & k != 0 {
                    counts[i] += 1;
                }
            }
        }
        let mut g: Graph =
            Csr::from_sorted_edges(edges).expect("edges were sorted and merged just above");
        drop(self);
        while g.node_count() < n {
            g.add_node(());
        }
        DepGraph { g, counts }
    }
}

/// The whole history's graph, compressed (sparse rows: a node's out-edges are a slice, sorted
/// by target). Node `i` is transaction `i`.
pub type Graph = Csr<(), Rels, Directed, u32>;

/// The dependency graph: node `i` is transaction `i`.
#[derive(Debug)]
pub struct DepGraph {
    pub g: Graph,
    /// Edges carrying each kind, in [`KINDS`] order.
    pub counts: [usize; 5],
}

/// Session order: consecutive transactions (that may have committed) of each process.
pub fn process_edges(txns: &Txns, edges: &mut EdgeSet) {
    let mut last: rustc_hash::FxHashMap<u64, TxnId> = Default::default();
    for (i, t) in txns.all.iter().enumerate() {
        if !t.in_graph() {
            continue;
        }
        if let Some(prev) = last.insert(t.process, i as TxnId) {
            edges.add(prev, i as TxnId, PROCESS);
        }
    }
}

/// Real-time order as a transitive reduction of linear size: when a transaction is invoked it
/// gets an edge from every transaction in the current frontier (completed, and not yet known to
/// precede another completed one); when it completes it replaces its own predecessors in the
/// frontier. Every real-time pair is then connected by a path. Indeterminate transactions never
/// complete, so they get incoming edges only.
pub fn realtime_edges(h: &History, txns: &Txns, edges: &mut EdgeSet) {
    // (position, is_completion, txn)
    let mut events: Vec<(usize, bool, TxnId)> = Vec::with_capacity(txns.all.len() * 2);
    for (i, t) in txns.all.iter().enumerate() {
        if !t.in_graph() {
            continue;
        }
        let op = &h.ops[t.op];
        events.push((op.invoke_pos(), false, i as TxnId));
        if t.outcome == Outcome::Ok {
            if let Some(c) = op.complete_pos() {
                events.push((c, true, i as TxnId));
            }
        }
    }
    events.sort_unstable();
    let mut frontier: Vec<TxnId> = Vec::new();
    // Predecessors recorded at invocation, by txn (only for txns that will complete).
    let mut preds: rustc_hash::FxHashMap<TxnId, Vec<TxnId>> = Default::default();
    for (_, done, t) in events {
        if !done {
            for &f in &frontier {
                edges.add(f, t, REALTIME);
            }
            if txns.get(t).outcome == Outcome::Ok && !frontier.is_empty() {
                preds.insert(t, frontier.clone());
            }
        } else {
            if let Some(p) = preds.remove(&t) {
                frontier.retain(|f| !p.contains(f));
            }
            frontier.push(t);
        }
    }
}
