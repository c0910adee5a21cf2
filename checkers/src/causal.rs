//! Causal+ consistency (causal and convergent, as in COPS / CCv) on list-append histories.
//!
//! Causal order is the transitive closure of session order (a process's non-failed
//! transactions, in order) and reads-from (a transaction that read element `e` of key `k`
//! follows the transaction that appended it). Transactions are the unit: reading one element a
//! transaction appended puts the whole transaction in the reader's causal past.
//!
//! - `causal-cycle`: the causal order is cyclic (found with petgraph's iterative SCC).
//! - `causal-stale-read`: a read of `k` lacks an append to `k` by a transaction in its causal
//!   past, and no session guarantee already explains the miss.
//! - `causal-order-conflict`: no single order of `k`'s elements agrees with every read of `k`
//!   and with causality (reads `[a b]` and `[b a]`; or a read with `b` before `a` although the
//!   append of `a` causally precedes that of `b`). Concurrent appends may be ordered either
//!   way, so `[a]` then `[b a]` is fine. A session's own appends out of order are left to
//!   `monotonic-writes`.
//!
//! Causal pasts are vector clocks over sessions (one `u32` per session per transaction),
//! computed in one topological pass; checking a read costs its length plus one binary search per
//! session that appended to the key.

use crate::anomaly::Anomaly;
use crate::appends::{AppendIndex, IntMap, NONE};
use crate::session::{Chains, Marks, SessionMiss};
use petgraph::algo::kosaraju_scc;
use petgraph::graph::{DiGraph, NodeIndex};
use serde_json::Value;
use std::collections::{HashSet, VecDeque};

/// Vector clocks bigger than this many entries (4 bytes each) are not built: the causal check
/// then reports why it could not decide instead of exhausting memory.
pub const VC_BUDGET: usize = 1 << 28;

/// Longest causal path spelled out in a witness; longer ones are named by their ends.
pub const MAX_PATH: usize = 64;

/// Causal pasts of every transaction.
pub struct CausalIndex<'a, 'h> {
    pub ix: &'a AppendIndex<'h>,
    pub lanes: usize,
    /// `vc[op * lanes + lane]`: the highest `seq` of `lane` in op's strict causal past.
    vc: Vec<u32>,
    /// Ops whose clock was computed (all non-failed txns unless a causal cycle reaches them).
    pub done: Vec<bool>,
    /// Nontrivial strongly connected components of the causal graph (op ids, sorted).
    pub cycles: Vec<Vec<u32>>,
}

impl<'a, 'h> CausalIndex<'a, 'h> {
    /// Builds the causal graph and the clocks; `Err` says why it could not (memory budget).
    pub fn build(ix: &'a AppendIndex<'h>) -> Result<CausalIndex<'a, 'h>, String> {
        Self::build_within(ix, VC_BUDGET)
    }

    /// [`Self::build`] with a vector-clock budget (entries).
    pub fn build_within(
        ix: &'a AppendIndex<'h>,
        budget: usize,
    ) -> Result<CausalIndex<'a, 'h>, String> {
        let n = ix.h.ops.len();
        let lanes = ix.lane_ops.len().max(1);
        if n.saturating_mul(lanes) > budget {
            return Err(format!(
                "the causal check needs {n} operations x {lanes} sessions vector-clock entries, more than its budget of {budget}; causal-stale-read, causal-cycle and causal-order-conflict were not checked"
            ));
        }
        // Clocks in post-order of a depth-first walk over predecessors, computed on the fly
        // from the index (nothing per edge is stored): an op's clock is the merge of its
        // predecessors'. An op that reaches itself (a back edge), or whose predecessor could
        // not be clocked, lies on or after a cycle and stays undone.
        const UNSEEN: u8 = 0;
        const OPEN: u8 = 1;
        const DONE: u8 = 2;
        const CYCLIC: u8 = 3;
        let mut state = vec![UNSEEN; n];
        let mut vc = vec![0u32; n * lanes];
        let mut row = vec![0u32; lanes];
        // The predecessors of every open op, stacked; a frame is (op, its first, next, cyclic).
        let mut stacked: Vec<u32> = Vec::new();
        let mut frames: Vec<(u32, u32, u32, bool)> = Vec::new();
        for root in 0..n as u32 {
            if ix.lane[root as usize] == NONE || state[root as usize] != UNSEEN {
                continue;
            }
            state[root as usize] = OPEN;
            let first = stacked.len() as u32;
            push_preds(ix, root, &mut stacked);
            frames.push((root, first, first, false));
            while let Some(top) = frames.last_mut() {
                if (top.2 as usize) < stacked.len() {
                    let p = stacked[top.2 as usize];
                    top.2 += 1;
                    match state[p as usize] {
                        UNSEEN => {
                            state[p as usize] = OPEN;
                            let first = stacked.len() as u32;
                            push_preds(ix, p, &mut stacked);
                            frames.push((p, first, first, false));
                        }
                        OPEN | CYCLIC => top.3 = true,
                        _ => {}
                    }
                    continue;
                }
                let (t, first, _, cyclic) = frames.pop().expect("a frame is on top");
                if cyclic {
                    state[t as usize] = CYCLIC;
                    if let Some(parent) = frames.last_mut() {
                        parent.3 = true;
                    }
                } else {
                    row.iter_mut().for_each(|x| *x = 0);
                    for &p in &stacked[first as usize..] {
                        let (pl, ps) = (ix.lane[p as usize] as usize, ix.seq[p as usize]);
                        if row[pl] >= ps {
                            continue; // already in the past, and with it everything before it
                        }
                        let pv = &vc[p as usize * lanes..(p as usize + 1) * lanes];
                        for (x, &y) in row.iter_mut().zip(pv) {
                            if y > *x {
                                *x = y;
                            }
                        }
                        row[pl] = ps;
                    }
                    vc[t as usize * lanes..(t as usize + 1) * lanes].copy_from_slice(&row);
                    state[t as usize] = DONE;
                }
                stacked.truncate(first as usize);
            }
        }
        let done: Vec<bool> = state.iter().map(|&s| s == DONE).collect();
        drop(state);
        // Whatever could not be clocked lies on or after a cycle: find the cycles.
        let rest: Vec<u32> = (0..n as u32)
            .filter(|&o| ix.lane[o as usize] != NONE && !done[o as usize])
            .collect();
        let cycles = nontrivial_sccs(&rest, |o| {
            let mut ps = Vec::new();
            push_preds(ix, o, &mut ps);
            ps
        });
        Ok(CausalIndex {
            ix,
            lanes,
            vc,
            done,
            cycles,
        })
    }

    /// The direct causal predecessors of `op`: its session predecessor first, then the
    /// transactions it read from.
    fn preds_of(&self, op: u32) -> Vec<u32> {
        let mut out = Vec::new();
        push_preds(self.ix, op, &mut out);
        out
    }

    fn clock(&self, op: u32) -> &[u32] {
        &self.vc[op as usize * self.lanes..(op as usize + 1) * self.lanes]
    }

    /// Whether transaction `w` is in the strict causal past of `op` (both clocked).
    pub fn precedes(&self, w: u32, op: u32) -> bool {
        let l = self.ix.lane[w as usize];
        l != NONE && self.clock(op)[l as usize] >= self.ix.seq[w as usize]
    }

    /// A causal path from `w` to `op` (op ids, `w` first), found by walking back from `op`
    /// through predecessors that still have `w` in their past.
    pub fn path(&self, w: u32, op: u32) -> Vec<u32> {
        let mut path = vec![op];
        let mut cur = op;
        while cur != w {
            if path.len() > MAX_PATH {
                // Too long to be read by hand (and to find for every anomaly): name the ends.
                return vec![w, op];
            }
            let ps = self.preds_of(cur);
            let rf_from = usize::from(self.ix.seq[cur as usize] > 1);
            let next = ps
                .iter()
                .copied()
                .find(|&p| p == w)
                .or_else(|| {
                    ps.iter()
                        .skip(rf_from)
                        .copied()
                        .find(|&p| self.done[p as usize] && self.precedes(w, p))
                })
                .or_else(|| {
                    ps.iter()
                        .copied()
                        .find(|&p| self.done[p as usize] && self.precedes(w, p))
                });
            match next {
                Some(p) => {
                    path.push(p);
                    cur = p;
                }
                None => break,
            }
        }
        path.reverse();
        path
    }

    /// Why `b` directly follows `a` in causal order, in words.
    pub fn edge_text(&self, a: u32, b: u32) -> String {
        let ix = self.ix;
        let direct = self.preds_of(b).contains(&a)
            || (ix.lane[a as usize] == ix.lane[b as usize]
                && ix.seq[a as usize] < ix.seq[b as usize]);
        if !direct {
            return format!(
                "op {} is in the causal past of op {} (by a chain of more than {MAX_PATH} steps)",
                ix.index(a),
                ix.index(b)
            );
        }
        let (la, lb) = (ix.lane[a as usize], ix.lane[b as usize]);
        if la == lb && ix.seq[a as usize] < ix.seq[b as usize] {
            return format!(
                "op {} follows op {} in process {}'s session",
                ix.index(b),
                ix.index(a),
                ix.process(b)
            );
        }
        for ri in ix.reads_of(b as usize) {
            let r = &ix.reads[ri];
            if let Some(&e) = ix
                .elems(r)
                .iter()
                .find(|&&e| ix.is_real(e) && ix.appends[e as usize].op == a)
            {
                return format!(
                    "op {} read {} from {}, appended by op {}",
                    ix.index(b),
                    ix.show_elem(e),
                    ix.show_key(r.key),
                    ix.index(a)
                );
            }
        }
        format!("op {} follows op {}", ix.index(b), ix.index(a))
    }

    fn path_text(&self, path: &[u32]) -> String {
        path.windows(2)
            .map(|w| self.edge_text(w[0], w[1]))
            .collect::<Vec<_>>()
            .join("; ")
    }
}

/// Pushes the direct causal predecessors of `op` (see [`CausalIndex::preds_of`]), each once.
fn push_preds(ix: &AppendIndex, op: u32, out: &mut Vec<u32>) {
    let l = ix.lane[op as usize];
    if l == NONE {
        return;
    }
    let first = out.len();
    let s = ix.seq[op as usize];
    if s > 1 {
        out.push(ix.lane_ops[l as usize][s as usize - 2]);
    }
    for ri in ix.reads_of(op as usize) {
        for &e in ix.elems(&ix.reads[ri]).iter().rev() {
            if !ix.is_real(e) {
                continue;
            }
            let w = ix.appends[e as usize].op;
            if w == op
                || (ix.lane[w as usize] == l && ix.seq[w as usize] < s)
                || out[first..].contains(&w)
            {
                continue;
            }
            out.push(w);
        }
    }
}

/// Nontrivial SCCs of the subgraph induced by `nodes` (edges: pred -> node), each sorted,
/// in order of their smallest member.
pub(crate) fn nontrivial_sccs(nodes: &[u32], preds: impl Fn(u32) -> Vec<u32>) -> Vec<Vec<u32>> {
    if nodes.is_empty() {
        return Vec::new();
    }
    let mut g: DiGraph<u32, ()> = DiGraph::with_capacity(nodes.len(), nodes.len());
    let mut at: IntMap<u32, NodeIndex> = IntMap::default();
    for &o in nodes {
        at.insert(o, g.add_node(o));
    }
    for &o in nodes {
        for p in preds(o) {
            if let Some(&pi) = at.get(&p) {
                g.add_edge(pi, at[&o], ());
            }
        }
    }
    let mut out: Vec<Vec<u32>> = kosaraju_scc(&g)
        .into_iter()
        .filter(|c| c.len() > 1)
        .map(|c| {
            let mut v: Vec<u32> = c.into_iter().map(|i| g[i]).collect();
            v.sort_unstable();
            v
        })
        .collect();
    out.sort();
    out
}

/// The shortest cycle through `start` inside `scc`, by BFS over successors (`succ`), as a
/// node list starting and ending with `start`.
pub(crate) fn cycle_through(start: u32, scc: &[u32], succ: impl Fn(u32) -> Vec<u32>) -> Vec<u32> {
    let inside: HashSet<u32> = scc.iter().copied().collect();
    let mut parent: IntMap<u32, u32> = IntMap::default();
    let mut q = VecDeque::from([start]);
    while let Some(x) = q.pop_front() {
        for y in succ(x) {
            if !inside.contains(&y) {
                continue;
            }
            if y == start {
                let mut path = vec![start, x];
                let mut c = x;
                while c != start {
                    c = parent[&c];
                    path.push(c);
                }
                path.reverse();
                return path;
            }
            if let std::collections::hash_map::Entry::Vacant(v) = parent.entry(y) {
                v.insert(x);
                q.push_back(y);
            }
        }
    }
    vec![start, start]
}

/// `causal-cycle`: one anomaly per nontrivial strongly connected component of the causal graph.
pub fn causal_cycle_cases(c: &CausalIndex) -> Vec<Anomaly> {
    let ix = c.ix;
    c.cycles
        .iter()
        .map(|scc| {
            let mut succ: IntMap<u32, Vec<u32>> = IntMap::default();
            for &m in scc {
                for p in c.preds_of(m) {
                    succ.entry(p).or_default().push(m);
                }
            }
            let cyc = cycle_through(scc[0], scc, |o| succ.get(&o).cloned().unwrap_or_default());
            let ops: Vec<u64> = cyc[..cyc.len() - 1].iter().map(|&o| ix.index(o)).collect();
            Anomaly::new(
                "causal-cycle",
                ops.clone(),
                format!(
                    "the causal order (session order plus reads-from) is cyclic: {}; so op {} causally precedes itself",
                    c.path_text(&cyc),
                    ops[0]
                ),
            )
            .with_data("scc_size", Value::from(scc.len()))
        })
        .collect()
}

/// `causal-stale-read`: a read lacks an append to its key by a transaction in its causal past.
/// Misses that a session guarantee explains (`covered`: (read, element) pairs) are left to it.
pub fn causal_stale_read_cases(
    c: &CausalIndex,
    chains: &Chains,
    covered: &HashSet<(u32, u32)>,
) -> Vec<Anomaly> {
    let ix = c.ix;
    let mut out = Vec::new();
    let mut marks = Marks::new(ix.appends.len());
    for (ri, r) in ix.reads.iter().enumerate() {
        if !c.done[r.op as usize] {
            continue;
        }
        let clock = c.clock(r.op);
        let mut marked = false;
        let mut missing = Vec::new();
        for &(lane, s, e) in &chains.of_key[r.key as usize] {
            let limit = clock[lane as usize];
            if limit == 0 {
                continue;
            }
            let chain = &chains.flat[s as usize..e as usize];
            let cnt = chain.partition_point(|&x| ix.elem_seq[x as usize] <= limit);
            if cnt == 0 {
                continue;
            }
            if !marked {
                marks.set(ix.elems(r));
                marked = true;
            }
            for &x in &chain[..cnt] {
                if !marks.has(x) && !covered.contains(&(ri as u32, x)) {
                    missing.push(x);
                }
            }
        }
        let Some(&first) = missing.first() else {
            continue;
        };
        let w = ix.appends[first as usize].op;
        let path = c.path(w, r.op);
        let x = ix.show_elem(first);
        let key = ix.show_key(r.key);
        out.push(
            Anomaly::new(
                "causal-stale-read",
                path.iter().map(|&o| ix.index(o)).collect(),
                format!(
                    "{} read {key} as {}, which lacks {x}, though op {} appended {x} to {key} and causally precedes it: {}",
                    ix.describe(r.op),
                    ix.show_list(ix.elems(r)),
                    ix.index(w),
                    c.path_text(&path)
                ),
            )
            .with_key(ix.key_json(r.key))
            .with_data(
                "missing",
                Value::Array(
                    missing
                        .iter()
                        .map(|&e| ix.vals.value(ix.appends[e as usize].value).clone())
                        .collect(),
                ),
            ),
        );
    }
    out
}

/// Why one element must come before another in every read of their key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Before {
    /// A read (index into `reads`) returned them in this order.
    Read(u32),
    /// The same session appended them in this order.
    Session,
    /// The first's append causally precedes the second's.
    Causal,
}

/// `causal-order-conflict`: no order of a key's elements agrees with all its reads and with
/// causality. One anomaly per strongly connected component of the "must come before" graph,
/// unless the cycle found is one read against its writer's session order (monotonic-writes).
pub fn causal_order_conflict_cases(c: &CausalIndex, chains: &Chains) -> Vec<Anomaly> {
    let by_key = ReadsByKey::new(c.ix, chains);
    order_conflicts_in_keys(c, chains, &by_key, 0..chains.of_key.len())
}

/// Each key's reads (indexes into `reads`), and how much order-conflict work each key is,
/// so that keys can be shared out between threads.
pub struct ReadsByKey {
    start: Vec<u32>,
    reads: Vec<u32>,
    /// Prefix sums over keys of elements read plus elements appended.
    work: Vec<u64>,
}

impl ReadsByKey {
    pub fn new(ix: &AppendIndex, chains: &Chains) -> ReadsByKey {
        let nkeys = chains.of_key.len();
        let mut start = vec![0u32; nkeys + 1];
        let mut work = vec![0u64; nkeys + 1];
        for r in &ix.reads {
            start[r.key as usize + 1] += 1;
            work[r.key as usize + 1] += ix.elems(r).len() as u64 + 1;
        }
        for (k, of_key) in chains.of_key.iter().enumerate() {
            work[k + 1] += of_key.iter().map(|&(_, s, e)| (e - s) as u64).sum::<u64>();
        }
        for k in 0..nkeys {
            start[k + 1] += start[k];
            work[k + 1] += work[k];
        }
        let mut fill = start.clone();
        let mut reads = vec![0u32; ix.reads.len()];
        for (ri, r) in ix.reads.iter().enumerate() {
            reads[fill[r.key as usize] as usize] = ri as u32;
            fill[r.key as usize] += 1;
        }
        ReadsByKey { start, reads, work }
    }

    /// The first key of the second part when the keys are split with about `share` (0..=1)
    /// of the work in the first part.
    pub fn split(&self, share: f64) -> usize {
        let total = *self.work.last().unwrap_or(&0) as f64;
        self.work
            .partition_point(|&w| (w as f64) < total * share)
            .min(self.work.len().saturating_sub(1))
    }
}

/// [`causal_order_conflict_cases`] for the keys in `keys` only (in key order), with scratch
/// space of its own: two ranges can be searched on two threads.
pub fn order_conflicts_in_keys(
    c: &CausalIndex,
    chains: &Chains,
    by_key: &ReadsByKey,
    keys: std::ops::Range<usize>,
) -> Vec<Anomaly> {
    let ix = c.ix;
    let n = ix.appends.len();
    let (key_start, reads_by_key) = (&by_key.start, &by_key.reads);
    let mut last_succ = vec![NONE; n];
    let mut marks = Marks::new(n);
    let mut last = vec![NONE; c.lanes];
    let mut local = vec![NONE; n];
    let mut edges: Vec<(u32, u32, Before)> = Vec::new();
    let mut out = Vec::new();
    for k in keys {
        let chains_of_key = &chains.of_key[k];
        edges.clear();
        for &ri in &reads_by_key[key_start[k] as usize..key_start[k + 1] as usize] {
            let r = &ix.reads[ri as usize];
            // Reads with duplicate elements are reported as such and say nothing about order.
            let mut dup = false;
            marks.set(&[]);
            for &e in ix.elems(r) {
                dup |= marks.has(e);
                if dup {
                    break;
                }
                marks.set_one(e);
            }
            if dup {
                continue;
            }
            for w in ix.elems(r).windows(2) {
                if last_succ[w[0] as usize] != w[1] {
                    last_succ[w[0] as usize] = w[1];
                    edges.push((w[0], w[1], Before::Read(ri)));
                }
            }
        }
        for &(_, s, e) in chains_of_key {
            for w in chains.flat[s as usize..e as usize].windows(2) {
                edges.push((w[0], w[1], Before::Session));
            }
        }
        // Causal edges: into each append b, from the latest append to its key by each other
        // session that causally precedes b. Along b's own session chain the clocks only grow,
        // so an edge from the same element as into b's chain predecessor is implied (through
        // the session edge) and left out.
        for &(own, s, e) in chains_of_key {
            for &(lane, _, _) in chains_of_key {
                last[lane as usize] = NONE;
            }
            for &b in &chains.flat[s as usize..e as usize] {
                let a = ix.appends[b as usize];
                if !c.done[a.op as usize] {
                    continue;
                }
                let clock = c.clock(a.op);
                for &(lane, s2, e2) in chains_of_key {
                    let limit = clock[lane as usize];
                    if lane == own || limit == 0 {
                        continue;
                    }
                    let chain = &chains.flat[s2 as usize..e2 as usize];
                    let cnt = chain.partition_point(|&x| ix.elem_seq[x as usize] <= limit);
                    if cnt > 0 && last[lane as usize] != chain[cnt - 1] {
                        last[lane as usize] = chain[cnt - 1];
                        edges.push((chain[cnt - 1], b, Before::Causal));
                    }
                }
            }
        }
        if !edges.is_empty() {
            out.extend(key_order_conflicts(c, &edges, &mut local));
        }
    }
    out
}

/// The order conflicts of one key's "must come before" graph (`edges`, between element ids).
/// `local` is scratch space with one slot per element, all [`NONE`] on entry and on return.
fn key_order_conflicts(
    c: &CausalIndex,
    edges: &[(u32, u32, Before)],
    local: &mut [u32],
) -> Vec<Anomaly> {
    let mut nodes: Vec<u32> = Vec::new();
    for &(a, b, _) in edges {
        for x in [a, b] {
            if local[x as usize] == NONE {
                local[x as usize] = nodes.len() as u32;
                nodes.push(x);
            }
        }
    }
    let out = conflicts_in(c, edges, local, &nodes);
    for &x in &nodes {
        local[x as usize] = NONE;
    }
    out
}

/// [`key_order_conflicts`] once `local` numbers the graph's `nodes` densely.
fn conflicts_in(
    c: &CausalIndex,
    edges: &[(u32, u32, Before)],
    local: &[u32],
    nodes: &[u32],
) -> Vec<Anomaly> {
    let ix = c.ix;
    let n = nodes.len();
    let l = |x: u32| local[x as usize] as usize;
    // Kahn: elements on or after a cycle remain.
    let mut indeg = vec![0u32; n];
    let mut out_start = vec![0u32; n + 1];
    for &(a, b, _) in edges {
        out_start[l(a) + 1] += 1;
        indeg[l(b)] += 1;
    }
    for i in 0..n {
        out_start[i + 1] += out_start[i];
    }
    let mut fill = out_start.clone();
    let mut out_edges = vec![0u32; edges.len()];
    for (i, &(a, _, _)) in edges.iter().enumerate() {
        out_edges[fill[l(a)] as usize] = i as u32;
        fill[l(a)] += 1;
    }
    drop(fill);
    // Local ids from here to the SCC search.
    let mut queue: Vec<u32> = (0..n as u32).filter(|&e| indeg[e as usize] == 0).collect();
    let mut left = n;
    while let Some(x) = queue.pop() {
        left -= 1;
        for &ei in &out_edges[out_start[x as usize] as usize..out_start[x as usize + 1] as usize] {
            let y = l(edges[ei as usize].1);
            indeg[y] -= 1;
            if indeg[y] == 0 {
                queue.push(y as u32);
            }
        }
    }
    if left == 0 {
        return Vec::new();
    }
    // Element ids again from here.
    let rest: Vec<u32> = (0..n).filter(|&e| indeg[e] > 0).map(|e| nodes[e]).collect();
    // In-edges of the remaining nodes, for the SCC search.
    let mut in_of: IntMap<u32, Vec<u32>> = IntMap::default();
    for &(a, b, _) in edges {
        if indeg[l(b)] > 0 && indeg[l(a)] > 0 {
            in_of.entry(b).or_default().push(a);
        }
    }
    let sccs = nontrivial_sccs(&rest, |x| in_of.get(&x).cloned().unwrap_or_default());
    let mut out = Vec::new();
    for scc in sccs {
        let succ = |x: u32| -> Vec<u32> {
            out_edges[out_start[l(x)] as usize..out_start[l(x) + 1] as usize]
                .iter()
                .map(|&ei| edges[ei as usize].1)
                .collect()
        };
        let cyc = cycle_through(scc[0], &scc, succ);
        let why: Vec<Before> = cyc
            .windows(2)
            .map(|w| {
                // Prefer a read as the reason for an edge, then session order.
                let mut best = None;
                for &ei in &out_edges[out_start[l(w[0])] as usize..out_start[l(w[0]) + 1] as usize]
                {
                    let (_, b, why) = edges[ei as usize];
                    if b == w[1] && best.is_none_or_worse(why) {
                        best = Some(why);
                    }
                }
                best.unwrap_or(Before::Causal)
            })
            .collect();
        let reads: HashSet<u32> = why
            .iter()
            .filter_map(|w| match w {
                Before::Read(r) => Some(*r),
                _ => None,
            })
            .collect();
        if reads.len() == 1 && why.iter().all(|w| *w != Before::Causal) {
            continue; // one read against session order: monotonic-writes reports it
        }
        let key = ix.appends[cyc[0] as usize].key;
        let keyname = ix.show_key(key);
        let mut ops: Vec<u64> = Vec::new();
        let mut parts = Vec::new();
        for (w, why) in cyc.windows(2).zip(&why) {
            let (x, y) = (ix.show_elem(w[0]), ix.show_elem(w[1]));
            let (ax, ay) = (ix.appends[w[0] as usize].op, ix.appends[w[1] as usize].op);
            match *why {
                Before::Read(r) => {
                    let rd = &ix.reads[r as usize];
                    ops.push(ix.index(rd.op));
                    parts.push(format!(
                        "op {} read {keyname} as {} ({x} before {y})",
                        ix.index(rd.op),
                        ix.show_list(ix.elems(rd))
                    ));
                }
                Before::Session => {
                    ops.extend([ix.index(ax), ix.index(ay)]);
                    parts.push(format!(
                        "process {} appended {x} (op {}) before {y} (op {})",
                        ix.process(ax),
                        ix.index(ax),
                        ix.index(ay)
                    ));
                }
                Before::Causal => {
                    let path = c.path(ax, ay);
                    ops.extend(path.iter().map(|&o| ix.index(o)));
                    parts.push(format!(
                        "the append of {x} (op {}) causally precedes the append of {y} (op {}): {}",
                        ix.index(ax),
                        ix.index(ay),
                        c.path_text(&path)
                    ));
                }
            }
        }
        let mut seen = HashSet::new();
        ops.retain(|o| seen.insert(*o));
        let order: Vec<String> = cyc.iter().map(|&e| ix.show_elem(e)).collect();
        out.push(
            Anomaly::new(
                "causal-order-conflict",
                ops,
                format!(
                    "no single order of {keyname}'s elements agrees with all of these: {}; they require {}",
                    parts.join("; "),
                    order.join(" before ")
                ),
            )
            .with_key(ix.key_json(key))
            .with_data("scc_size", Value::from(scc.len())),
        );
    }
    out
}

trait BestReason {
    fn is_none_or_worse(&self, than: Before) -> bool;
}

impl BestReason for Option<Before> {
    fn is_none_or_worse(&self, than: Before) -> bool {
        let rank = |b: Before| match b {
            Before::Read(_) => 0,
            Before::Session => 1,
            Before::Causal => 2,
        };
        match self {
            None => true,
            Some(b) => rank(than) < rank(*b),
        }
    }
}

/// The (read, element) pairs that session guarantees already explain.
pub fn covered(misses: &[SessionMiss]) -> HashSet<(u32, u32)> {
    misses
        .iter()
        .flat_map(|m| m.missing.iter().map(move |&e| (m.read, e)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::appends::notation::hist;
    use crate::session::SessionIndex;

    struct Found {
        stale: Vec<Anomaly>,
        cycle: Vec<Anomaly>,
        conflict: Vec<Anomaly>,
    }

    fn run(h: &str) -> Found {
        let h = hist(h);
        let ix = AppendIndex::build(&h).unwrap();
        let s = SessionIndex::build(&ix);
        let mut misses = s.read_your_writes();
        misses.extend(s.monotonic_reads());
        misses.extend(s.monotonic_writes());
        misses.extend(s.writes_follow_reads());
        let c = CausalIndex::build(&ix).unwrap();
        Found {
            stale: causal_stale_read_cases(&c, &s.chains, &covered(&misses)),
            cycle: causal_cycle_cases(&c),
            conflict: causal_order_conflict_cases(&c, &s.chains),
        }
    }

    #[test]
    fn transitive_stale_read() {
        // 0 appends 1; 1 reads it and appends 2 to y; 2 reads y=[2] and then x without 1.
        let f = run("0 ok append x 1; 1 ok r x [1] append y 2; 2 ok r y [2]; 2 ok r x []");
        assert_eq!(f.stale.len(), 1, "{:?}", f.stale);
        assert_eq!(f.stale[0].ops, vec![0, 2, 4, 6]);
        assert_eq!(
            f.stale[0].explanation,
            "op 6 (process 2, ok) read x as [], which lacks 1, though op 0 appended 1 to x and causally precedes it: op 2 read 1 from x, appended by op 0; op 4 read 2 from y, appended by op 2; op 6 follows op 4 in process 2's session"
        );
        assert!(f.cycle.is_empty() && f.conflict.is_empty());
        // Nearest valid: process 2 did not see 2 first, so it need not see 1.
        let f = run("0 ok append x 1; 1 ok r x [1] append y 2; 2 ok r y []; 2 ok r x []");
        assert!(f.stale.is_empty(), "{:?}", f.stale);
    }

    #[test]
    fn session_explained_misses_are_not_repeated() {
        // A read-your-writes miss is not also a causal-stale-read.
        let f = run("3 ok append x 7; 3 ok r x []");
        assert!(f.stale.is_empty());
    }

    #[test]
    fn concurrent_writes_seen_in_different_orders_on_different_keys_are_fine() {
        let f = run(
            "0 ok append x 1; 1 ok append y 1; 2 ok r x [1] r y []; 3 ok r y [1] r x []; 2 ok r x [1] r y [1]; 3 ok r x [1] r y [1]",
        );
        assert!(f.stale.is_empty(), "{:?}", f.stale);
        assert!(f.conflict.is_empty(), "{:?}", f.conflict);
    }

    #[test]
    fn causal_cycle() {
        // Each transaction read the other's append.
        let f = run("0 ok r y [2] append x 1; 1 ok r x [1] append y 2");
        assert_eq!(f.cycle.len(), 1);
        assert_eq!(f.cycle[0].ops, vec![0, 2]);
        assert!(f.cycle[0]
            .explanation
            .contains("op 2 read 1 from x, appended by op 0"));
        assert!(f.cycle[0]
            .explanation
            .contains("op 0 read 2 from y, appended by op 2"));
        // Nearest valid: one direction only.
        let f = run("0 ok r y [] append x 1; 1 ok r x [1] append y 2");
        assert!(f.cycle.is_empty());
        // A process reading its own later append is a cycle through session order.
        let f = run("0 ok r x [5]; 0 ok append x 5");
        assert_eq!(f.cycle.len(), 1);
        assert!(
            f.cycle[0].explanation.contains("session"),
            "{}",
            f.cycle[0].explanation
        );
    }

    #[test]
    fn order_conflicts() {
        let f = run("0 ok append x 1; 1 ok append x 2; 2 ok r x [1 2]; 3 ok r x [2 1]");
        assert_eq!(f.conflict.len(), 1, "{:?}", f.conflict);
        assert_eq!(f.conflict[0].ops, vec![4, 6]);
        assert!(f.conflict[0]
            .explanation
            .contains("op 4 read x as [1 2] (1 before 2)"));
        // Nearest valid: [a] then [b a]: concurrent appends arbitrated later.
        let f =
            run("0 ok append x 1; 1 ok append x 2; 2 ok r x [1]; 3 ok r x [2 1]; 2 ok r x [2 1]");
        assert!(f.conflict.is_empty(), "{:?}", f.conflict);
        assert!(f.stale.is_empty());
        // A read that orders a causally later append first.
        let f = run("0 ok append x 1; 1 ok r x [1] append x 2; 2 ok r x [2 1]");
        assert_eq!(f.conflict.len(), 1, "{:?}", f.conflict);
        assert!(f.conflict[0].explanation.contains("causally precedes"));
        // Three reads, no pair in direct conflict, still no single order.
        let f = run("0 ok append x 1; 1 ok append x 2; 2 ok append x 3; 3 ok r x [1 2]; 4 ok r x [2 3]; 5 ok r x [3 1]");
        assert_eq!(f.conflict.len(), 1);
        // A session's own appends out of order are monotonic-writes, not this.
        let f = run("0 ok append x 1; 0 ok append x 2; 2 ok r x [2 1]");
        assert!(f.conflict.is_empty());
    }

    #[test]
    fn fractured_transaction_read_is_stale() {
        // Reading one of a transaction's appends puts the whole transaction in the past.
        let f = run("0 ok append x 1 append y 1; 1 ok r x [1] r y []");
        assert_eq!(f.stale.len(), 1, "{:?}", f.stale);
        // Nearest valid: it saw neither or both.
        assert!(run("0 ok append x 1 append y 1; 1 ok r x [] r y []")
            .stale
            .is_empty());
    }

    #[test]
    fn info_appends() {
        // Not required unless observed; once observed, its other appends are required too.
        assert!(run("0 info append x 1 append y 1; 1 ok r x [] r y []")
            .stale
            .is_empty());
        let f = run("0 info append x 1 append y 1; 1 ok r x [1]; 1 ok r y []");
        // 1's second read misses y=1 after its first saw x=1 from the same transaction.
        assert_eq!(f.stale.len(), 1, "{:?}", f.stale);
    }

    /// Differential test against a brute-force oracle on small random histories: the
    /// (read, element) pairs flagged by the session detectors and causal-stale-read together
    /// are exactly the elements each read lacks from its causal past, computed by DFS; and a
    /// key gets an order anomaly exactly when no order of its elements agrees with every pair
    /// in every read and with causality (by transitive closure).
    #[test]
    fn stale_reads_and_order_conflicts_match_a_brute_force_oracle() {
        use history::sim::SplitMix64;
        use std::collections::{BTreeSet, HashMap};
        let (mut flagged, mut by_causal, mut orders) = (0, 0, 0);
        for seed in 0..300u64 {
            let mut rng = SplitMix64::new(seed);
            let keys = ["x", "y"];
            // (process, ok?, appends [(key, value)], reads [(key, list)])
            type Txn = (u64, bool, Vec<(usize, i64)>, Vec<(usize, Vec<i64>)>);
            let mut txns: Vec<Txn> = Vec::new();
            let mut written: Vec<Vec<i64>> = vec![Vec::new(); 2];
            let mut next = 1i64;
            for _ in 0..(6 + rng.below(6)) {
                let p = rng.below(3);
                if rng.chance(0.5) {
                    let ok = !rng.chance(0.15);
                    let mut apps = Vec::new();
                    for _ in 0..1 + rng.below(2) {
                        let k = rng.below(2) as usize;
                        apps.push((k, next));
                        if ok {
                            written[k].push(next);
                        }
                        next += 1;
                    }
                    txns.push((p, ok, apps, Vec::new()));
                } else {
                    let mut reads = Vec::new();
                    for (k, w) in written.iter().enumerate() {
                        if rng.chance(0.7) {
                            let mut list: Vec<i64> =
                                w.iter().copied().filter(|_| rng.chance(0.6)).collect();
                            for i in (1..list.len()).rev() {
                                let j = rng.below(i as u64 + 1) as usize;
                                if rng.chance(0.3) {
                                    list.swap(i, j);
                                }
                            }
                            reads.push((k, list));
                        }
                    }
                    txns.push((p, true, Vec::new(), reads));
                }
            }
            // Render in the test notation; op index of txn i is 2 * i.
            let text: Vec<String> = txns
                .iter()
                .map(|(p, ok, apps, reads)| {
                    let mut w = vec![p.to_string(), if *ok { "ok" } else { "fail" }.to_string()];
                    for (k, v) in apps {
                        w.push(format!("append {} {v}", keys[*k]));
                    }
                    for (k, l) in reads {
                        let l: Vec<String> = l.iter().map(|v| v.to_string()).collect();
                        w.push(format!("r {} [{}]", keys[*k], l.join(" ")));
                    }
                    w.join(" ")
                })
                .collect();
            let h = hist(&text.join("; "));
            // Oracle: predecessors (session + reads-from), then DFS for each reader.
            let writer: HashMap<(usize, i64), usize> = txns
                .iter()
                .enumerate()
                .filter(|(_, t)| t.1)
                .flat_map(|(i, t)| t.2.iter().map(move |&(k, v)| ((k, v), i)))
                .collect();
            let mut preds: Vec<Vec<usize>> = vec![Vec::new(); txns.len()];
            for i in 0..txns.len() {
                if !txns[i].1 {
                    continue;
                }
                if let Some(j) = (0..i).rev().find(|&j| txns[j].0 == txns[i].0 && txns[j].1) {
                    preds[i].push(j);
                }
                for (k, l) in &txns[i].3 {
                    for v in l {
                        preds[i].push(writer[&(*k, *v)]);
                    }
                }
            }
            let mut expected = BTreeSet::new();
            for (i, t) in txns.iter().enumerate() {
                if t.3.is_empty() {
                    continue;
                }
                let mut past = BTreeSet::new();
                let mut stack = preds[i].clone();
                while let Some(j) = stack.pop() {
                    if past.insert(j) {
                        stack.extend(preds[j].iter().copied());
                    }
                }
                for (k, l) in &t.3 {
                    for &j in &past {
                        for &(k2, v) in &txns[j].2 {
                            if k2 == *k && !l.contains(&v) {
                                expected.insert((2 * i as u64, keys[*k].to_string(), v));
                            }
                        }
                    }
                }
            }
            // The checkers.
            let ix = AppendIndex::build(&h).unwrap();
            let s = SessionIndex::build(&ix);
            let mut misses = s.read_your_writes();
            misses.extend(s.monotonic_reads());
            misses.extend(s.monotonic_writes());
            misses.extend(s.writes_follow_reads());
            let c = CausalIndex::build(&ix).unwrap();
            let mut actual = BTreeSet::new();
            for m in &misses {
                let r = &ix.reads[m.read as usize];
                for &e in &m.missing {
                    actual.insert((
                        ix.index(r.op),
                        ix.show_key(r.key),
                        ix.vals
                            .value(ix.appends[e as usize].value)
                            .as_i64()
                            .unwrap(),
                    ));
                }
            }
            for a in causal_stale_read_cases(&c, &s.chains, &covered(&misses)) {
                by_causal += 1;
                for v in a.data["missing"].as_array().unwrap() {
                    actual.insert((
                        *a.ops.last().unwrap(),
                        a.key.as_ref().unwrap().as_str().unwrap().to_string(),
                        v.as_i64().unwrap(),
                    ));
                }
            }
            assert_eq!(actual, expected, "seed {seed}: {}", text.join("; "));
            flagged += expected.len();
            // Order: is there one order per key agreeing with every read (all pairs) and with
            // causality between appends? Oracle: DFS cycle search over all pair constraints.
            let past_of = |i: usize| {
                let mut past = BTreeSet::new();
                let mut stack = preds[i].clone();
                while let Some(j) = stack.pop() {
                    if past.insert(j) {
                        stack.extend(preds[j].iter().copied());
                    }
                }
                past
            };
            let found = causal_order_conflict_cases(&c, &s.chains);
            let mw_keys: BTreeSet<String> = misses
                .iter()
                .filter(|m| m.kind == "monotonic-writes")
                .map(|m| ix.show_key(ix.reads[m.read as usize].key))
                .collect();
            for (k, kname) in keys.iter().enumerate() {
                let mut before: BTreeSet<(i64, i64)> = BTreeSet::new();
                for t in &txns {
                    for (k2, l) in &t.3 {
                        if *k2 == k {
                            for i in 0..l.len() {
                                for j in i + 1..l.len() {
                                    before.insert((l[i], l[j]));
                                }
                            }
                        }
                    }
                }
                for (b, tb) in txns.iter().enumerate() {
                    if !tb.1 {
                        continue;
                    }
                    let past = past_of(b);
                    for &(kb, vb) in &tb.2 {
                        if kb != k {
                            continue;
                        }
                        for &a in &past {
                            for &(ka, va) in &txns[a].2 {
                                if ka == k {
                                    before.insert((va, vb));
                                }
                            }
                        }
                        for &(ka, va) in &tb.2 {
                            if ka == k && va < vb {
                                before.insert((va, vb));
                            }
                        }
                    }
                }
                // cycle? (tiny graphs: repeated relaxation of reachability)
                let nodes: BTreeSet<i64> = before.iter().flat_map(|&(a, b)| [a, b]).collect();
                let mut reach = before.clone();
                loop {
                    let mut added = false;
                    for &(a, b) in reach.clone().iter() {
                        for &c2 in &nodes {
                            if reach.contains(&(b, c2)) && reach.insert((a, c2)) {
                                added = true;
                            }
                        }
                    }
                    if !added {
                        break;
                    }
                }
                let cyclic = nodes.iter().any(|&n| reach.contains(&(n, n)));
                let reported = found
                    .iter()
                    .any(|a| a.key.as_ref().and_then(|k| k.as_str()) == Some(*kname));
                if cyclic {
                    orders += 1;
                    assert!(
                        reported || mw_keys.contains(*kname),
                        "seed {seed} key {kname}: no order exists but nothing was reported: {}",
                        text.join("; ")
                    );
                } else {
                    assert!(
                        !reported,
                        "seed {seed} key {kname}: an order exists but a conflict was reported: {}: {:?}",
                        text.join("; "),
                        found
                    );
                }
            }
        }
        // The generator does produce violations of both kinds.
        assert!(
            flagged > 300 && by_causal > 30 && orders > 30,
            "{flagged} {by_causal} {orders}"
        );
    }

    #[test]
    fn over_budget_says_why_instead_of_guessing() {
        let h = hist("0 ok append x 1; 1 ok r x [1]; 2 ok r x []");
        let ix = AppendIndex::build(&h).unwrap();
        let why = CausalIndex::build_within(&ix, 4).err().unwrap();
        assert!(why.contains("3 operations x 3 sessions"), "{why}");
        assert!(CausalIndex::build_within(&ix, 9).is_ok());
    }
}
