//! Session guarantees, causal consistency and convergence on register histories: ops `read`,
//! `write` and `cas` (`[expected, new]`), each on an optional independent `key`.
//!
//! Registers carry no version order, so this analysis infers only what is sound when every
//! written value is unique per key (the `register` workload writes unique values); when they are
//! not, it says `unknown` instead of guessing. The rules (also in the results' stats and in
//! docs/history-format.md):
//!
//! 1. reads-from: a read (or a successful cas, through its expected value) of value `v` of key
//!    `k` read the one op that wrote `v` to `k`; nil (or `--initial`) is the initial state.
//! 2. causal order (`hb`) = (session order ∪ reads-from)⁺ over ops that did not fail; a cycle in
//!    it is a `causal-cycle`.
//! 3. the promised models order each key's writes in an arbitration order that extends `hb`
//!    (Lamport stamps in the built-in causal store, one log in session and strong modes, the
//!    linearization in etcd). So a read of `k` that returns `w'` (or nil) is stale when some
//!    write `W` to `k` has `w' hb W hb read` (or just `W hb read` for nil): the read
//!    should have seen `W` or something later. Stale reads are `read-your-writes` when `W` is
//!    the reader's own earlier write, `monotonic-reads` when the reader's session had already
//!    read `W` (or something after `w'`), else `causal-stale-read`.
//! 4. a session's successive observations of a key (its writes and the values it read) follow
//!    the arbitration order; a cycle of those and `hb` among one key's writes is a
//!    `causal-order-conflict`.
//! 5. a read of a value nobody (or only a failed op) wrote, or whose write began after the read
//!    ended, is a `garbage-read` (the latter, a future read, still reads-from that write, so it
//!    also shows as a `causal-cycle` when the write causally follows the read).
//! 6. final reads (`"phase": "final"`) of a key on different nodes that disagree: `divergence`.
//!
//! Monotonic writes and writes-follow-reads have no register witness of their own: a violation
//! shows as a stale read (rule 3), so they are decided only together with `causal-stale-read`.
//! Sequential consistency is decided for single-register histories ([`register_sequential`]);
//! for several registers, and for lost writes, the verdict is unknown, with the reason.

use crate::anomaly::Anomaly;
use crate::causal::{cycle_through, nontrivial_sccs};
use crate::check::{Analysis, CheckError, CheckOptions, Findings};
use crate::register_sequential;
use history::{History, Op, Outcome};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};

/// The register analysis registered in [`crate::check::analyses`].
pub struct RegisterSessionCausal;

const NONE: u32 = u32::MAX;
/// Anomalies rendered per type; further ones are only counted (stats `register.unrendered`).
const RENDER_LIMIT: usize = 1000;
/// Vector clocks larger than this (ops × sessions) are not built.
const CLOCK_BUDGET: usize = 64_000_000;

const STALE_TYPES: &[&str] = &[
    "read-your-writes",
    "monotonic-reads",
    "causal-stale-read",
    "causal-order-conflict",
];

/// The rules this analysis applies, as written into the results' stats.
const RULES: &[&str] = &[
    "written values must be unique per key (else unknown); a read of v read the op that wrote v",
    "causal order = (session order + reads-from)+ over ops that did not fail",
    "the store orders each key's writes consistently with causal order, so a read returning w' is stale when a write W of the key has w' -> W -> read in causal order (nil: W -> read)",
    "stale reads are read-your-writes (W is the session's own), monotonic-reads (the session read W, or something after w', before), else causal-stale-read",
    "a session's successive observations of a key follow the key's write order; a cycle with causal order is a causal-order-conflict",
    "monotonic-writes and writes-follow-reads violations show as stale reads; sequential is decided for one register only (search in session order); lost-write is not decided",
];

/// What `o` certainly read: the read's value, or a successful cas's expected value.
/// (One of the two places that know how register values are stored in an [`Op`].)
fn read_value(o: &Op) -> Option<&Value> {
    match (o.f.as_str(), o.outcome) {
        ("read", Outcome::Ok) => Some(&o.value),
        ("cas", Outcome::Ok) => o.value.get(0),
        _ => None,
    }
}

/// The value `o` wrote (or tried to write).
fn written_value(o: &Op) -> Option<&Value> {
    match o.f.as_str() {
        "write" => Some(&o.value),
        "cas" => o.value.get(1),
        _ => None,
    }
}

fn is_register_f(f: &str) -> bool {
    matches!(f, "read" | "write" | "cas")
}

/// The causal structure of a register history. Nodes are the ops that did not fail (reads only
/// when ok), numbered in invocation order.
struct RegIndex<'h> {
    h: &'h History,
    /// Per node: its op id.
    op: Vec<usize>,
    key: Vec<u32>,
    keys: Vec<Value>,
    sess: Vec<u32>,
    /// 1-based position in its session.
    pos: Vec<u32>,
    session_nodes: Vec<Vec<u32>>,
    /// Per node that read: `Some(writer)`, `Some(NONE)` for nil; `None` if it read nothing
    /// attributable.
    rf: Vec<Option<u32>>,
    readers: Vec<Vec<u32>>,
    /// Per (key, session): the nodes that wrote the key, in session order.
    writes_by: HashMap<(u32, u32), Vec<u32>>,
    /// Flat vector clocks, `sessions` per node (empty if a cycle or the budget prevented them).
    vc: Vec<u32>,
    sessions: usize,
}

/// What building the index found besides the index.
struct Built<'h> {
    ix: RegIndex<'h>,
    garbage: Vec<Anomaly>,
    ambiguous: Option<String>,
    cycles: Vec<Vec<u32>>,
    too_big: Option<String>,
}

fn show(v: &Value) -> String {
    if v.is_null() {
        "nil".into()
    } else {
        v.to_string()
    }
}

impl<'h> RegIndex<'h> {
    fn build(h: &'h History, initial: Option<&Value>) -> Result<Built<'h>, CheckError> {
        let initial = initial.filter(|v| !v.is_null());
        let mut key_ids: HashMap<String, u32> = HashMap::new();
        let mut keys: Vec<Value> = Vec::new();
        let mut op_key = vec![NONE; h.ops.len()];
        // (key, value) -> every op that wrote or tried to write it.
        let mut writers: HashMap<(u32, String), Vec<usize>> = HashMap::new();
        let mut ambiguous = None;
        for o in &h.ops {
            if o.f == "cas" && o.value.as_array().is_none_or(|a| a.len() != 2) {
                return Err(CheckError::Input {
                    source_name: h.source.clone(),
                    line: o.line(),
                    message: format!("cas value must be [expected, new], got {}", o.value),
                });
            }
            let kv = o.key().cloned().unwrap_or(Value::Null);
            let k = *key_ids.entry(kv.to_string()).or_insert_with(|| {
                keys.push(kv);
                keys.len() as u32 - 1
            });
            op_key[o.id] = k;
            if let Some(v) = written_value(o) {
                if (v.is_null() || Some(v) == initial) && ambiguous.is_none() {
                    ambiguous = Some(format!(
                        "op {} writes {} to {}, the register's initial value, so reads of it cannot be attributed",
                        o.index,
                        show(v),
                        show(&keys[k as usize])
                    ));
                }
                let ws = writers.entry((k, v.to_string())).or_default();
                ws.push(o.id);
                if ws.len() == 2 && ambiguous.is_none() {
                    ambiguous = Some(format!(
                        "{} is written to {} by both op {} and op {}",
                        show(v),
                        show(&keys[k as usize]),
                        h.ops[ws[0]].index,
                        o.index
                    ));
                }
            }
        }
        let mut node_of = vec![NONE; h.ops.len()];
        let mut op = Vec::new();
        for o in &h.ops {
            let node = match o.f.as_str() {
                "read" => o.outcome == Outcome::Ok,
                _ => o.outcome != Outcome::Fail,
            };
            if node {
                node_of[o.id] = op.len() as u32;
                op.push(o.id);
            }
        }
        let n = op.len();
        let key: Vec<u32> = op.iter().map(|&o| op_key[o]).collect();
        let mut garbage = Vec::new();
        let mut rf: Vec<Option<u32>> = vec![None; n];
        let mut readers: Vec<Vec<u32>> = vec![Vec::new(); n];
        for (r, &oid) in op.iter().enumerate() {
            let o = &h.ops[oid];
            let Some(v) = read_value(o) else { continue };
            let k = key[r];
            if v.is_null() || Some(v) == initial {
                rf[r] = Some(NONE);
                continue;
            }
            let kname = show(&keys[k as usize]);
            let ws = writers
                .get(&(k, v.to_string()))
                .map(Vec::as_slice)
                .unwrap_or(&[]);
            let live: Vec<usize> = ws
                .iter()
                .copied()
                .filter(|&w| h.ops[w].may_have_happened() && w != oid)
                .collect();
            let g = |why: String| {
                Anomaly::new("garbage-read", vec![o.index], why).with_key(keys[k as usize].clone())
            };
            if live.is_empty() {
                garbage.push(match ws.iter().find(|&&w| w != oid) {
                    Some(&w) => g(format!(
                        "op {} read {} from {}, but the only op that wrote it, op {}, failed",
                        o.index,
                        show(v),
                        kname,
                        h.ops[w].index
                    )),
                    None => g(format!(
                        "op {} read {} from {}, a value no operation wrote to {}",
                        o.index,
                        show(v),
                        kname,
                        kname
                    )),
                });
                continue;
            }
            if live.len() > 1 {
                continue;
            }
            let w = live[0];
            let wo = &h.ops[w];
            if o.complete_pos().is_some_and(|c| c < wo.invoke_pos()) {
                garbage.push(
                    g(format!(
                        "op {} read {} from {} and completed before op {}, the only op that wrote {}, was even invoked",
                        o.index,
                        show(v),
                        kname,
                        wo.index,
                        show(v)
                    ))
                    .with_data("future", Value::Bool(true)),
                );
                // Still a fact about which write it saw: it closes a causal cycle.
            }
            rf[r] = Some(node_of[w]);
            readers[node_of[w] as usize].push(r as u32);
        }
        // Sessions: processes, in sorted order.
        let procs = h.processes();
        let mut sess = vec![0u32; n];
        let mut pos = vec![0u32; n];
        let mut session_nodes: Vec<Vec<u32>> = vec![Vec::new(); procs.len()];
        let mut writes_by: HashMap<(u32, u32), Vec<u32>> = HashMap::new();
        for (i, &oid) in op.iter().enumerate() {
            let s = procs.binary_search(&h.ops[oid].process).unwrap_or(0) as u32;
            sess[i] = s;
            session_nodes[s as usize].push(i as u32);
            pos[i] = session_nodes[s as usize].len() as u32;
            if written_value(&h.ops[oid]).is_some() {
                writes_by.entry((key[i], s)).or_default().push(i as u32);
            }
        }
        let mut ix = RegIndex {
            h,
            op,
            key,
            keys,
            sess,
            pos,
            session_nodes,
            rf,
            readers,
            writes_by,
            vc: Vec::new(),
            sessions: procs.len(),
        };
        let mut cycles = Vec::new();
        let mut too_big = None;
        if ambiguous.is_none() {
            if n.saturating_mul(ix.sessions) > CLOCK_BUDGET {
                too_big = Some(format!(
                    "{n} operations in {} sessions need more than {CLOCK_BUDGET} causal clock entries; session and causal checks of this register history were skipped",
                    ix.sessions
                ));
            } else {
                cycles = ix.clocks();
            }
        }
        Ok(Built {
            ix,
            garbage,
            ambiguous,
            cycles,
            too_big,
        })
    }

    fn preds(&self, x: u32) -> Vec<u32> {
        let mut p = Vec::with_capacity(2);
        if self.pos[x as usize] > 1 {
            p.push(
                self.session_nodes[self.sess[x as usize] as usize]
                    [self.pos[x as usize] as usize - 2],
            );
        }
        if let Some(w) = self.rf[x as usize].filter(|&w| w != NONE) {
            p.push(w);
        }
        p
    }

    fn succs(&self, x: u32) -> Vec<u32> {
        let mut v = self.readers[x as usize].clone();
        let (s, p) = (
            self.sess[x as usize] as usize,
            self.pos[x as usize] as usize,
        );
        if let Some(&next) = self.session_nodes[s].get(p) {
            v.push(next);
        }
        v
    }

    /// Builds vector clocks in a topological order; returns the causal cycles (sorted SCCs)
    /// if there is no such order (then no clocks are kept).
    fn clocks(&mut self) -> Vec<Vec<u32>> {
        let n = self.op.len();
        let s = self.sessions;
        let mut indeg: Vec<u8> = (0..n as u32).map(|x| self.preds(x).len() as u8).collect();
        let mut q: VecDeque<u32> = (0..n as u32).filter(|&x| indeg[x as usize] == 0).collect();
        let mut vc = vec![0u32; n * s];
        let mut done = 0usize;
        while let Some(x) = q.pop_front() {
            done += 1;
            let xi = x as usize;
            for p in self.preds(x) {
                let (a, b) = (p as usize * s, xi * s);
                for j in 0..s {
                    vc[b + j] = vc[b + j].max(vc[a + j]);
                }
            }
            vc[xi * s + self.sess[xi] as usize] = self.pos[xi];
            for y in self.succs(x) {
                indeg[y as usize] -= 1;
                if indeg[y as usize] == 0 {
                    q.push_back(y);
                }
            }
        }
        if done == n {
            self.vc = vc;
            return Vec::new();
        }
        let left: Vec<u32> = (0..n as u32).filter(|&x| indeg[x as usize] > 0).collect();
        nontrivial_sccs(&left, |x| self.preds(x))
    }

    /// `a` causally precedes `b` (strictly).
    fn hb(&self, a: u32, b: u32) -> bool {
        a != b
            && self.vc[b as usize * self.sessions + self.sess[a as usize] as usize]
                >= self.pos[a as usize]
    }

    fn index(&self, x: u32) -> u64 {
        self.h.ops[self.op[x as usize]].index
    }

    fn process(&self, x: u32) -> u64 {
        self.h.ops[self.op[x as usize]].process
    }

    fn val(&self, x: u32) -> String {
        let o = &self.h.ops[self.op[x as usize]];
        written_value(o).map(show).unwrap_or_default()
    }

    fn key_name(&self, k: u32) -> String {
        show(&self.keys[k as usize])
    }

    fn key_value(&self, k: u32) -> Option<Value> {
        Some(self.keys[k as usize].clone()).filter(|v| !v.is_null())
    }

    /// What `r` read, in words: "5 (written by op 12)" or "nil".
    fn read_text(&self, r: u32) -> String {
        match self.rf[r as usize] {
            Some(w) if w != NONE => format!("{} (written by op {})", self.val(w), self.index(w)),
            _ => "nil".into(),
        }
    }

    /// A shortest causal path from `a` to `b` (a hb b), over session and reads-from edges.
    fn path(&self, a: u32, b: u32) -> Vec<u32> {
        // 0-1 BFS: steps along a session cost nothing, reads-from hops cost one, so the path
        // (with session runs merged) has as few hops between processes as possible.
        let mut dist: HashMap<u32, u32> = HashMap::from([(a, 0)]);
        let mut parent: HashMap<u32, u32> = HashMap::new();
        let mut q = VecDeque::from([a]);
        while let Some(x) = q.pop_front() {
            if x == b {
                let mut p = vec![b];
                let mut c = b;
                while c != a {
                    c = parent[&c];
                    p.push(c);
                }
                p.reverse();
                return p;
            }
            let d = dist[&x];
            let (s, pos) = (
                self.sess[x as usize] as usize,
                self.pos[x as usize] as usize,
            );
            let next = self.session_nodes[s].get(pos).copied();
            let steps = next
                .map(|y| (y, 0))
                .into_iter()
                .chain(self.readers[x as usize].iter().map(|&y| (y, 1)));
            for (y, cost) in steps {
                if y != b && !self.hb(y, b) {
                    continue;
                }
                if dist.get(&y).is_none_or(|&dy| d + cost < dy) {
                    dist.insert(y, d + cost);
                    parent.insert(y, x);
                    if cost == 0 {
                        q.push_front(y);
                    } else {
                        q.push_back(y);
                    }
                }
            }
        }
        vec![a, b]
    }

    fn edge_text(&self, a: u32, b: u32) -> String {
        if self.rf[b as usize] == Some(a) && self.sess[a as usize] != self.sess[b as usize] {
            format!(
                "op {} read {} of {} written by op {}",
                self.index(b),
                self.val(a),
                self.key_name(self.key[b as usize]),
                self.index(a)
            )
        } else {
            format!(
                "op {} precedes op {} in process {}",
                self.index(a),
                self.index(b),
                self.process(a)
            )
        }
    }

    /// A shortest causal path from `a` to `b` shortened to one step per process visited (from
    /// an op to the last op of the same process on the path: session order).
    fn steps(&self, a: u32, b: u32) -> Vec<u32> {
        let p = self.path(a, b);
        let mut out = vec![p[0]];
        let mut i = 0;
        while i + 1 < p.len() {
            // Jump to the last op of p[i]'s process on the path: p[i] precedes it there.
            let same = |j: &usize| self.sess[p[*j] as usize] == self.sess[p[i] as usize];
            let j = (i + 1..p.len()).rev().find(same).unwrap_or(i + 1);
            out.push(p[j]);
            i = j;
        }
        out
    }

    /// A causal path in words, with runs of one session's order merged.
    fn path_text(&self, a: u32, b: u32) -> String {
        let p = self.steps(a, b);
        p.windows(2)
            .map(|w| self.edge_text(w[0], w[1]))
            .collect::<Vec<_>>()
            .join("; ")
    }

    fn path_ops(&self, a: u32, b: u32, out: &mut Vec<u64>) {
        for x in self.steps(a, b) {
            out.push(self.index(x));
        }
    }
}

/// The latest write of `k` by session `s` at or before position `p` in it.
fn latest_write(ix: &RegIndex, k: u32, s: u32, p: u32) -> Option<u32> {
    let ws = ix.writes_by.get(&(k, s))?;
    let i = ws.partition_point(|&w| ix.pos[w as usize] <= p);
    (i > 0).then(|| ws[i - 1])
}

fn sorted_dedup(mut v: Vec<u64>) -> Vec<u64> {
    v.sort_unstable();
    v.dedup();
    v
}

/// `causal-cycle`: one anomaly per cycle of session order and reads-from.
fn causal_cycle_cases(ix: &RegIndex, cycles: &[Vec<u32>]) -> Vec<Anomaly> {
    cycles
        .iter()
        .map(|scc| {
            let c = cycle_through(scc[0], scc, |x| ix.succs(x));
            let text: Vec<String> = c.windows(2).map(|w| ix.edge_text(w[0], w[1])).collect();
            Anomaly::new(
                "causal-cycle",
                sorted_dedup(c.iter().map(|&x| ix.index(x)).collect()),
                format!(
                    "session order and reads-from form a cycle, so no op in it can come first: {}",
                    text.join("; ")
                ),
            )
        })
        .collect()
}

/// Why a read is stale (rule 3), as data: the read, the write it returned (`None`: nil) and
/// the newer write it should have seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stale {
    /// `newer` is the session's own latest earlier write of the key.
    OwnWrite {
        read: u32,
        got: Option<u32>,
        newer: u32,
    },
    /// The session's earlier read `earlier` returned `newer`.
    EarlierRead {
        read: u32,
        got: Option<u32>,
        earlier: u32,
        newer: u32,
    },
    /// `newer` causally precedes the read through other sessions or keys.
    Causal {
        read: u32,
        got: Option<u32>,
        newer: u32,
    },
}

impl Stale {
    fn kind(self) -> &'static str {
        match self {
            Stale::OwnWrite { .. } => "read-your-writes",
            Stale::EarlierRead { .. } => "monotonic-reads",
            Stale::Causal { .. } => "causal-stale-read",
        }
    }
}

/// Finds the stale reads (rule 3), each classified once: read-your-writes before
/// monotonic-reads before causal-stale-read.
fn stale_reads(ix: &RegIndex) -> Vec<Stale> {
    let mut out = Vec::new();
    for (s, nodes) in ix.session_nodes.iter().enumerate() {
        // Per key: (writer, the read that returned it) not causally before another seen one.
        let mut seen: BTreeMap<u32, Vec<(u32, u32)>> = BTreeMap::new();
        for &r in nodes {
            let Some(w) = ix.rf[r as usize] else { continue };
            let k = ix.key[r as usize];
            let got = (w != NONE).then_some(w);
            let older = |x: u32| Some(x) != got && got.is_none_or(|w| ix.hb(w, x));
            let front = seen.entry(k).or_default();
            let own = latest_write(ix, k, s as u32, ix.pos[r as usize] - 1).filter(|&x| older(x));
            let found = if let Some(newer) = own {
                Some(Stale::OwnWrite {
                    read: r,
                    got,
                    newer,
                })
            } else if let Some(&(newer, earlier)) = front.iter().find(|&&(x, _)| older(x)) {
                Some(Stale::EarlierRead {
                    read: r,
                    got,
                    earlier,
                    newer,
                })
            } else {
                (0..ix.sessions as u32)
                    .filter_map(|s2| {
                        latest_write(ix, k, s2, ix.vc[r as usize * ix.sessions + s2 as usize])
                    })
                    .find(|&x| x != r && older(x))
                    .map(|newer| Stale::Causal {
                        read: r,
                        got,
                        newer,
                    })
            };
            out.extend(found);
            if let Some(w) = got {
                if !front.iter().any(|&(x, _)| x == w || ix.hb(w, x)) {
                    front.retain(|&(x, _)| !ix.hb(x, w));
                    front.push((w, r));
                }
            }
        }
    }
    out
}

/// Renders a stale read as an anomaly with its witness.
fn render_stale(ix: &RegIndex, st: Stale) -> Anomaly {
    let (read, got, newer) = match st {
        Stale::OwnWrite { read, got, newer }
        | Stale::EarlierRead {
            read, got, newer, ..
        }
        | Stale::Causal { read, got, newer } => (read, got, newer),
    };
    let k = ix.key[read as usize];
    let kname = ix.key_name(k);
    let mut ops = vec![ix.index(read)];
    let mut why = match st {
        Stale::OwnWrite { .. } => {
            ops.push(ix.index(newer));
            format!(
                "op {} read {} of {} after its own process wrote {} in op {}",
                ix.index(read),
                ix.read_text(read),
                kname,
                ix.val(newer),
                ix.index(newer)
            )
        }
        Stale::EarlierRead { earlier, .. } => {
            ops.push(ix.index(earlier));
            format!(
                "process {} read {} of {} in op {}, then {} in op {}",
                ix.process(read),
                ix.read_text(earlier),
                kname,
                ix.index(earlier),
                ix.read_text(read),
                ix.index(read)
            )
        }
        Stale::Causal { .. } => {
            ix.path_ops(newer, read, &mut ops);
            format!(
                "op {} read {} of {}, but op {} wrote {} to {} before it causally ({})",
                ix.index(read),
                ix.read_text(read),
                kname,
                ix.index(newer),
                ix.val(newer),
                kname,
                ix.path_text(newer, read)
            )
        }
    };
    if let Some(w) = got {
        ix.path_ops(w, newer, &mut ops);
        why += &match st {
            Stale::Causal { .. } => {
                format!(" and after op {} ({})", ix.index(w), ix.path_text(w, newer))
            }
            Stale::OwnWrite { .. } => format!(
                "; but op {} precedes op {} causally: {}",
                ix.index(w),
                ix.index(newer),
                ix.path_text(w, newer)
            ),
            Stale::EarlierRead { .. } => format!(
                ", which is older: op {} precedes op {} causally: {}",
                ix.index(w),
                ix.index(newer),
                ix.path_text(w, newer)
            ),
        };
    }
    let mut a = Anomaly::new(st.kind(), sorted_dedup(ops), why);
    if let Some(kv) = ix.key_value(k) {
        a = a.with_key(kv);
    }
    a
}

/// Why one write of a key must be ordered before another (rule 4).
#[derive(Debug, Clone, Copy)]
enum Before {
    /// Session observation: op `first` saw the earlier write, then op `by` the later one.
    Saw { first: u32, by: u32 },
    /// Causal order.
    Causal,
}

/// `causal-order-conflict` (rule 4), on keys without stale reads.
fn causal_order_conflict_cases(ix: &RegIndex, skip: &BTreeSet<u32>) -> Vec<Anomaly> {
    // Edges between writer nodes, per key, with why.
    let mut edges: BTreeMap<u32, BTreeMap<(u32, u32), Before>> = BTreeMap::new();
    for nodes in &ix.session_nodes {
        // Per key: the last write observed and the op that observed it.
        let mut last: HashMap<u32, (u32, u32)> = HashMap::new();
        for &x in nodes {
            let k = ix.key[x as usize];
            if skip.contains(&k) {
                continue;
            }
            let o = &ix.h.ops[ix.op[x as usize]];
            let mut obs = Vec::new();
            if let Some(w) = ix.rf[x as usize].filter(|&w| w != NONE) {
                obs.push(w);
            }
            if written_value(o).is_some() {
                obs.push(x);
            }
            for w in obs {
                if let Some(&(prev, first)) = last.get(&k) {
                    if prev != w {
                        edges
                            .entry(k)
                            .or_default()
                            .entry((prev, w))
                            .or_insert(Before::Saw { first, by: x });
                    }
                }
                last.insert(k, (w, x));
            }
        }
    }
    let mut out = Vec::new();
    for (k, mut es) in edges {
        let mut nodes: BTreeSet<u32> = es.keys().flat_map(|&(a, b)| [a, b]).collect();
        // Causal order among the key's writes: from each session's latest write before each
        // write involved, until no new write is involved.
        let mut todo: Vec<u32> = nodes.iter().copied().collect();
        while let Some(w) = todo.pop() {
            for s in 0..ix.sessions as u32 {
                let mut p = ix.vc[w as usize * ix.sessions + s as usize];
                if s == ix.sess[w as usize] {
                    p -= 1;
                }
                if let Some(b) = latest_write(ix, k, s, p) {
                    if nodes.insert(b) {
                        todo.push(b);
                    }
                    es.entry((b, w)).or_insert(Before::Causal);
                }
            }
        }
        let nodes: Vec<u32> = nodes.into_iter().collect();
        let mut succ: HashMap<u32, Vec<u32>> = HashMap::new();
        let mut pred: HashMap<u32, Vec<u32>> = HashMap::new();
        for &(a, b) in es.keys() {
            succ.entry(a).or_default().push(b);
            pred.entry(b).or_default().push(a);
        }
        for scc in nontrivial_sccs(&nodes, |x| pred.get(&x).cloned().unwrap_or_default()) {
            let c = cycle_through(scc[0], &scc, |x| succ.get(&x).cloned().unwrap_or_default());
            let mut ops = Vec::new();
            let text: Vec<String> = c
                .windows(2)
                .map(|w| match es[&(w[0], w[1])] {
                    Before::Saw { first, by } => {
                        ops.extend([
                            ix.index(w[0]),
                            ix.index(w[1]),
                            ix.index(first),
                            ix.index(by),
                        ]);
                        format!(
                            "process {} saw op {}'s {} (in op {}) before op {}'s {} (in op {})",
                            ix.process(by),
                            ix.index(w[0]),
                            ix.val(w[0]),
                            ix.index(first),
                            ix.index(w[1]),
                            ix.val(w[1]),
                            ix.index(by)
                        )
                    }
                    Before::Causal => {
                        ix.path_ops(w[0], w[1], &mut ops);
                        format!(
                            "op {} causally precedes op {} ({})",
                            ix.index(w[0]),
                            ix.index(w[1]),
                            ix.path_text(w[0], w[1])
                        )
                    }
                })
                .collect();
            let mut a = Anomaly::new(
                "causal-order-conflict",
                sorted_dedup(ops),
                format!(
                    "no single order of the writes to {} agrees with what the sessions saw: {}",
                    ix.key_name(k),
                    text.join("; ")
                ),
            );
            if let Some(kv) = ix.key_value(k) {
                a = a.with_key(kv);
            }
            out.push(a);
        }
    }
    out
}

/// `divergence` (rule 6): the last final read of a key on each node, where they disagree.
fn divergence_cases(h: &History) -> Vec<Anomaly> {
    let mut finals: BTreeMap<String, BTreeMap<String, &Op>> = BTreeMap::new();
    for o in &h.ops {
        if o.f == "read" && o.is_ok() && o.is_final() {
            if let Some(n) = &o.node {
                let k = o.key().cloned().unwrap_or(Value::Null).to_string();
                finals.entry(k).or_default().insert(n.to_string(), o);
            }
        }
    }
    let mut out = Vec::new();
    for per_node in finals.values() {
        let distinct: BTreeSet<String> = per_node.values().map(|o| o.value.to_string()).collect();
        if distinct.len() < 2 {
            continue;
        }
        let text: Vec<String> = per_node
            .iter()
            .map(|(n, o)| format!("node {n} read {} (op {})", show(&o.value), o.index))
            .collect();
        let any = per_node.values().next().map(|o| o.key().cloned());
        let mut a = Anomaly::new(
            "divergence",
            sorted_dedup(per_node.values().map(|o| o.index).collect()),
            format!(
                "after healing, the final reads of {} disagree: {}",
                any.clone()
                    .flatten()
                    .map(|k| show(&k))
                    .unwrap_or_else(|| "the register".into()),
                text.join(", ")
            ),
        );
        if let Some(Some(k)) = any {
            a = a.with_key(k);
        }
        out.push(a);
    }
    out
}

/// Why divergence could not be judged everywhere: no final reads at all, or keys with
/// acknowledged writes that no final read covers.
fn unjudged_divergence(h: &History) -> Option<String> {
    let key = |o: &Op| o.key().cloned().unwrap_or(Value::Null).to_string();
    let finals: BTreeSet<String> = h
        .ops
        .iter()
        .filter(|o| o.f == "read" && o.is_ok() && o.is_final() && o.node.is_some())
        .map(key)
        .collect();
    if finals.is_empty() {
        return Some("the history has no completed final reads (\"phase\": \"final\", with a node), so divergence could not be judged".into());
    }
    let missing: BTreeSet<String> = h
        .ops
        .iter()
        .filter(|o| o.is_ok() && written_value(o).is_some())
        .map(key)
        .filter(|k| !finals.contains(k))
        .collect();
    (!missing.is_empty()).then(|| {
        let shown: Vec<&str> = missing.iter().take(5).map(String::as_str).collect();
        format!(
            "{} keys with acknowledged writes have no final read ({}{}), so whether their replicas diverged could not be judged",
            missing.len(),
            shown.join(", "),
            if missing.len() > 5 { ", ..." } else { "" }
        )
    })
}

/// Whether `h` is a register history this analysis understands.
pub fn is_register(h: &History) -> bool {
    !h.ops.is_empty() && h.ops.iter().all(|o| is_register_f(&o.f))
}

impl Analysis for RegisterSessionCausal {
    fn name(&self) -> &'static str {
        "register-session-causal"
    }
    fn detects(&self) -> &'static [&'static str] {
        &[
            "garbage-read",
            "read-your-writes",
            "monotonic-reads",
            "monotonic-writes",
            "writes-follow-reads",
            "causal-stale-read",
            "causal-cycle",
            "causal-order-conflict",
            "divergence",
            "lost-write",
            "incompatible-order",
        ]
    }
    fn applies(&self, h: &History) -> bool {
        is_register(h)
    }
    fn run(
        &self,
        h: &History,
        opts: &CheckOptions,
        forbidden: &BTreeSet<&'static str>,
        out: &mut Findings,
    ) -> Result<(), CheckError> {
        let want = |t: &str| forbidden.contains(t);
        let built = RegIndex::build(h, opts.initial.as_ref())?;
        let ix = &built.ix;
        let mut unrendered = 0usize;
        // Adds the anomalies of forbidden types, up to RENDER_LIMIT per type; returns how
        // many were left out.
        let add = |out: &mut Findings, xs: Vec<Anomaly>| {
            let mut left = 0;
            for a in xs {
                if !want(&a.kind) {
                    continue;
                }
                if out.anomalies.get(&a.kind).map_or(0, Vec::len) >= RENDER_LIMIT {
                    left += 1;
                } else {
                    out.add(a);
                }
            }
            left
        };
        unrendered += add(out, built.garbage.clone());
        if want("divergence") {
            unrendered += add(out, divergence_cases(h));
            out.unknown_reasons.extend(unjudged_divergence(h));
        }
        if want("incompatible-order") && !want("nonlinearizable") {
            if ix.keys.len() == 1 {
                match register_sequential::check_single_register(h, opts) {
                    register_sequential::SeqVerdict::Sequential => {}
                    register_sequential::SeqVerdict::Violation(a) => out.add(a),
                    register_sequential::SeqVerdict::Unknown(why) => out.unknown_reasons.push(why),
                }
            } else {
                out.unknown_reasons.push(
                    "sequential consistency is decided only for single-register histories (it is not compositional over keys); the session and causal checks ran".into(),
                );
            }
        }
        if want("lost-write") {
            out.unknown_reasons.push(
                "lost writes cannot be told from overwritten ones in a register history; lost-write was not checked".into(),
            );
        }
        if (want("monotonic-writes") || want("writes-follow-reads")) && !want("causal-stale-read") {
            out.unknown_reasons.push(
                "monotonic-writes and writes-follow-reads on registers are decided only together with causal consistency (their violations show as causal stale reads); expect causal".into(),
            );
        }
        let session_causal = STALE_TYPES.iter().any(|t| want(t)) || want("causal-cycle");
        // When linearizability is expected, its search decides every model it implies: these
        // checks then only add witnesses, and what they cannot judge is no reason for unknown.
        let mut cannot_judge = |why: String| {
            if !want("nonlinearizable") {
                out.unknown_reasons.push(why);
            }
        };
        let mut judged = false;
        if session_causal {
            if let Some(why) = &built.ambiguous {
                cannot_judge(format!(
                    "register session and causal checks need unique written values per key: {why}"
                ));
            } else if let Some(why) = &built.too_big {
                cannot_judge(why.clone());
            } else if !built.cycles.is_empty() && !want("causal-cycle") {
                cannot_judge(
                    "session order and reads-from form a cycle, so stale reads could not be judged"
                        .into(),
                );
            } else {
                judged = true;
            }
        }
        if judged && !built.cycles.is_empty() {
            unrendered += add(out, causal_cycle_cases(ix, &built.cycles));
        } else if judged {
            let stale = stale_reads(ix);
            let bad: BTreeSet<u32> = stale
                .iter()
                .map(|st| match *st {
                    Stale::OwnWrite { read, .. }
                    | Stale::EarlierRead { read, .. }
                    | Stale::Causal { read, .. } => ix.key[read as usize],
                })
                .collect();
            // Rendering walks causal paths: render the first RENDER_LIMIT of each type.
            for st in stale {
                if !want(st.kind()) {
                    continue;
                }
                if out.anomalies.get(st.kind()).map_or(0, Vec::len) >= RENDER_LIMIT {
                    unrendered += 1;
                } else {
                    out.add(render_stale(ix, st));
                }
            }
            if want("causal-order-conflict") {
                unrendered += add(out, causal_order_conflict_cases(ix, &bad));
            }
        }
        let reads = ix.rf.iter().filter(|r| r.is_some()).count();
        let writes: usize = ix.writes_by.values().map(Vec::len).sum();
        out.stats.insert(
            "register".into(),
            json!({
                "reads": reads,
                "writes": writes,
                "keys": ix.keys.len(),
                "sessions": ix.sessions,
                "unrendered": unrendered,
                "rules": RULES,
            }),
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    //! Histories in a tiny notation: `;`-separated ops `P F KEY VALUE [fail|info|final@NODE]`,
    //! each invoked and completed before the next (`r` read, `w` write, `cas` with `[e,n]`,
    //! `nil` for null). An op's index is its invocation's position: the n-th op has index 2n.
    use super::*;
    use crate::check::{check, CheckOptions};
    use crate::result::Verdict;
    use history::{Event, EventType, Process};
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    fn ev(p: u64, typ: EventType, f: &str, key: &str, v: Value) -> Event {
        let mut e = Event::new(Process::Client(p), typ, f, v);
        e.key = Some(Value::from(key));
        e
    }

    fn hist(spec: &str) -> History {
        let mut events = Vec::new();
        for op in spec.split(';').map(str::trim).filter(|s| !s.is_empty()) {
            let t: Vec<&str> = op.split_whitespace().collect();
            let p: u64 = t[0].parse().unwrap();
            let f = match t[1] {
                "r" => "read",
                "w" => "write",
                f => f,
            };
            let v: Value = if t[3] == "nil" {
                Value::Null
            } else {
                serde_json::from_str(t[3]).unwrap()
            };
            let inv = if f == "read" { Value::Null } else { v.clone() };
            let mut i = ev(p, EventType::Invoke, f, t[2], inv);
            let (typ, mut c) = match t.get(4).copied() {
                Some("fail") => (EventType::Fail, ev(p, EventType::Fail, f, t[2], v)),
                Some("info") => (EventType::Info, ev(p, EventType::Info, f, t[2], v)),
                _ => (EventType::Ok, ev(p, EventType::Ok, f, t[2], v)),
            };
            if let Some(n) = t.get(4).and_then(|s| s.strip_prefix("final@")) {
                i.phase = Some("final".into());
                c.phase = Some("final".into());
                c.node = Some(n.into());
            }
            c.typ = typ;
            events.push(i);
            events.push(c);
        }
        for (n, e) in events.iter_mut().enumerate() {
            e.line = n + 1;
        }
        History::from_events("t", events).unwrap()
    }

    fn expect(models: &[&str]) -> CheckOptions {
        CheckOptions {
            expect: models.iter().map(|m| m.to_string()).collect(),
            ..Default::default()
        }
    }

    fn causal(spec: &str) -> crate::CheckResult {
        check(&hist(spec), &expect(&["causal"])).unwrap()
    }

    /// The single anomaly type and its ops, or panics with the result.
    fn only(r: &crate::CheckResult) -> (&'static str, Anomaly) {
        assert_eq!(r.valid, Verdict::Invalid, "{r:?}");
        assert_eq!(r.anomalies.len(), 1, "{:?}", r.anomalies);
        let (k, v) = r.anomalies.iter().next().unwrap();
        assert_eq!(v.len(), 1, "{v:?}");
        (k.clone().leak(), v[0].clone())
    }

    fn valid(r: &crate::CheckResult) {
        assert_eq!(r.valid, Verdict::Valid, "{r:?}");
        assert!(r
            .stats
            .get("analyses")
            .unwrap()
            .as_array()
            .unwrap()
            .contains(&Value::from("register-session-causal")));
    }

    #[test]
    fn read_your_writes() {
        let r = causal("0 w x 1; 0 w x 2; 0 r x 1");
        let (k, a) = only(&r);
        assert_eq!(k, "read-your-writes");
        assert_eq!(a.ops, vec![0, 2, 4]);
        assert_eq!(
            a.explanation,
            "op 4 read 1 (written by op 0) of \"x\" after its own process wrote 2 in op 2; but op 0 precedes op 2 causally: op 0 precedes op 2 in process 0"
        );
        let (k, a) = only(&causal("0 w x 1; 0 r x nil"));
        assert_eq!((k, a.ops.clone()), ("read-your-writes", vec![0, 2]));
        // Nearest valid: the latest own write, or a concurrent write of another process.
        valid(&causal("0 w x 1; 0 w x 2; 0 r x 2"));
        valid(&causal("0 w x 1; 1 w x 2; 0 r x 2"));
        // Only the session's guarantee asked for: still found.
        let r = check(
            &hist("0 w x 1; 0 w x 2; 0 r x 1"),
            &expect(&["read-your-writes"]),
        )
        .unwrap();
        assert_eq!(r.anomaly_types, vec!["read-your-writes"]);
    }

    #[test]
    fn monotonic_reads() {
        let r = causal("1 w x 1; 1 w x 2; 0 r x 2; 0 r x 1");
        let (k, a) = only(&r);
        assert_eq!(k, "monotonic-reads");
        assert_eq!(a.ops, vec![0, 2, 4, 6]);
        assert!(a.explanation.starts_with("process 0 read 2 (written by op 2) of \"x\" in op 4, then 1 (written by op 0) in op 6, which is older"), "{}", a.explanation);
        let (k, a) = only(&causal("1 w x 1; 0 r x 1; 0 r x nil"));
        assert_eq!((k, a.ops.clone()), ("monotonic-reads", vec![2, 4]));
        // Nearest valid: the two writes are concurrent, so either order may be the final one.
        valid(&causal("1 w x 1; 2 w x 2; 0 r x 2; 0 r x 1"));
        valid(&causal("1 w x 1; 1 w x 2; 0 r x 1; 0 r x 2"));
        let r = check(
            &hist("1 w x 1; 1 w x 2; 0 r x 2; 0 r x 1"),
            &expect(&["session"]),
        )
        .unwrap();
        assert_eq!(r.anomaly_types, vec!["monotonic-reads"]);
    }

    #[test]
    fn causal_stale_read_through_another_key() {
        // 1 sees x=2 and then writes y=3; 2 sees y=3, so x=1 (older than 2) is stale for it.
        let spec = "0 w x 1; 0 w x 2; 1 r x 2; 1 w y 3; 2 r y 3; 2 r x 1";
        let (k, a) = only(&causal(spec));
        assert_eq!(k, "causal-stale-read");
        assert_eq!(a.ops, vec![0, 2, 4, 6, 8, 10]);
        assert_eq!(
            a.explanation,
            "op 10 read 1 (written by op 0) of \"x\", but op 2 wrote 2 to \"x\" before it causally (op 4 read 2 of \"x\" written by op 2; op 4 precedes op 6 in process 1; op 8 read 3 of \"y\" written by op 6; op 8 precedes op 10 in process 2) and after op 0 (op 0 precedes op 2 in process 0)"
        );
        // Read-your-writes and monotonic reads (the session store's promise) do not forbid
        // it; the `session` alias includes writes-follow-reads, which is decided only with
        // causal.
        valid(
            &check(
                &hist(spec),
                &expect(&["read-your-writes", "monotonic-reads"]),
            )
            .unwrap(),
        );
        assert_eq!(
            check(&hist(spec), &expect(&["session"])).unwrap().valid,
            Verdict::Unknown
        );
        valid(&causal(
            "0 w x 1; 0 w x 2; 1 r x 2; 1 w y 3; 2 r y 3; 2 r x 2",
        ));
        // A cas reads what it expects: same staleness.
        let (k, _) = only(&causal(
            "0 w x 1; 0 w x 2; 1 r x 2; 1 w y 3; 2 r y 3; 2 cas x [1,4]",
        ));
        assert_eq!(k, "causal-stale-read");
    }

    #[test]
    fn causal_order_conflict() {
        let spec = "0 w x 1; 1 w x 2; 2 r x 1; 2 r x 2; 3 r x 2; 3 r x 1";
        let (k, a) = only(&causal(spec));
        assert_eq!(k, "causal-order-conflict");
        assert_eq!(a.ops, vec![0, 2, 4, 6, 8, 10]);
        assert_eq!(
            a.explanation,
            "no single order of the writes to \"x\" agrees with what the sessions saw: process 2 saw op 0's 1 (in op 4) before op 2's 2 (in op 6); process 3 saw op 2's 2 (in op 8) before op 0's 1 (in op 10)"
        );
        // A session's own write is an observation too.
        let (k, a) = only(&causal("1 w x 2; 2 r x 2; 3 w x 3; 2 r x 3; 3 r x 2"));
        assert_eq!(k, "causal-order-conflict", "{a:?}");
        assert!(
            a.explanation
                .contains("process 3 saw op 4's 3 (in op 4) before op 0's 2 (in op 8)"),
            "{}",
            a.explanation
        );
        valid(&causal(
            "0 w x 1; 1 w x 2; 2 r x 1; 2 r x 2; 3 r x 1; 3 r x 2",
        ));
    }

    #[test]
    fn garbage_reads() {
        let (k, a) = only(&causal("0 r x 9"));
        assert_eq!(k, "garbage-read");
        assert_eq!(
            a.explanation,
            "op 0 read 9 from \"x\", a value no operation wrote to \"x\""
        );
        let (k, a) = only(&causal("0 w x 9 fail; 1 r x 9"));
        assert_eq!((k, a.ops.clone()), ("garbage-read", vec![2]));
        assert!(a.explanation.contains("failed"));
        let (k, a) = only(&causal("1 r x 5; 0 w x 5"));
        assert_eq!((k, a.ops.clone()), ("garbage-read", vec![0]));
        assert!(a.explanation.contains("before op 2"), "{}", a.explanation);
        valid(&causal("0 w x 9 info; 1 r x 9"));
        valid(&causal("0 w x 9; 1 r x 9"));
    }

    #[test]
    fn causal_cycle_through_a_future_read() {
        // Process 0 reads x=2 before process 1 wrote it, and 1 wrote it after reading 0's y.
        let r = causal("0 r x 2; 0 w y 1; 1 r y 1; 1 w x 2");
        assert_eq!(r.valid, Verdict::Invalid);
        assert_eq!(r.anomaly_types, vec!["causal-cycle", "garbage-read"]);
        let c = &r.anomalies["causal-cycle"][0];
        assert_eq!(c.ops, vec![0, 2, 4, 6]);
        assert!(
            c.explanation
                .contains("op 0 read 2 of \"x\" written by op 6"),
            "{}",
            c.explanation
        );
    }

    #[test]
    fn divergence_of_final_reads() {
        let spec = "0 w x 1; 1 w x 2; 2 r x 1 final@1; 3 r x 2 final@2";
        let r = check(&hist(spec), &expect(&["convergent"])).unwrap();
        let (k, a) = only(&r);
        assert_eq!(k, "divergence");
        assert_eq!(a.ops, vec![4, 6]);
        assert_eq!(
            a.explanation,
            "after healing, the final reads of \"x\" disagree: node 1 read 1 (op 4), node 2 read 2 (op 6)"
        );
        valid(
            &check(
                &hist("0 w x 1; 1 w x 2; 2 r x 2 final@1; 3 r x 2 final@2"),
                &expect(&["convergent"]),
            )
            .unwrap(),
        );
        // Without final reads of a written key, convergence is not judged: unknown.
        for spec in [
            "0 w x 1; 1 r x 1",
            "0 w x 1; 0 w y 2; 2 r x 1 final@1; 3 r x 1 final@2",
        ] {
            let r = check(&hist(spec), &expect(&["convergent"])).unwrap();
            assert_eq!(r.valid, Verdict::Unknown, "{spec}: {r:?}");
            assert!(r.unknown_reasons[0].contains("final read"), "{r:?}");
        }
    }

    #[test]
    fn repeated_values_make_causal_unknown_never_valid() {
        let r = causal("0 w x 1; 1 w x 1; 2 r x 1");
        assert_eq!(r.valid, Verdict::Unknown);
        assert!(
            r.unknown_reasons[0].contains("unique written values"),
            "{r:?}"
        );
        // When linearizability is expected its search decides: repeated values are fine.
        let r = check(
            &hist("0 w x 1; 1 w x 1; 2 r x 1"),
            &expect(&["linearizable"]),
        )
        .unwrap();
        assert_eq!(r.valid, Verdict::Valid, "{r:?}");
        // A value nobody wrote is garbage even so.
        let r = causal("0 w x 1; 1 w x 1; 2 r x 7");
        assert_eq!(r.anomaly_types, vec!["garbage-read"]);
    }

    #[test]
    fn what_is_not_decided_says_so() {
        let h = hist("0 w x 1; 1 r x 1; 1 r y nil");
        for (model, why) in [
            ("sequential", "single-register histories"),
            ("eventual", "lost writes"),
            ("monotonic-writes", "expect causal"),
            ("writes-follow-reads", "expect causal"),
        ] {
            let r = check(&h, &expect(&[model])).unwrap();
            assert_eq!(r.valid, Verdict::Unknown, "{model}: {r:?}");
            assert!(
                r.unknown_reasons.iter().any(|u| u.contains(why)),
                "{model}: {r:?}"
            );
        }
        // Linearizable decides sequential (and everything under it) on its own.
        valid(&check(&h, &expect(&["linearizable"])).unwrap());
    }

    #[test]
    fn malformed_cas_is_an_input_error_with_its_line() {
        let e = check(&hist("0 w x 1; 0 cas x 3"), &expect(&["causal"])).unwrap_err();
        assert_eq!(
            e.to_string(),
            "t:4: invalid operation: cas value must be [expected, new], got 3"
        );
    }

    #[test]
    fn stale_reads_match_a_brute_force_oracle() {
        // Random small histories (reads return nil or any value already written to the key);
        // the oracle closes session order + reads-from by Floyd-Warshall and flags every read
        // with a write W of its key such that got -> W -> read (nil: W -> read).
        let mut rng = ChaCha8Rng::seed_from_u64(99);
        let mut flagged_total = 0;
        for round in 0..300 {
            let mut spec = Vec::new();
            let mut ops: Vec<(u64, bool, usize, Option<u64>)> = Vec::new(); // process, write?, key, value
            let mut written: Vec<Vec<u64>> = vec![Vec::new(); 2];
            let mut next = 1u64;
            for _ in 0..12 {
                let p = rng.random_range(0..3u64);
                let k = rng.random_range(0..2usize);
                let key = ["x", "y"][k];
                if rng.random_bool(0.4) {
                    spec.push(format!("{p} w {key} {next}"));
                    written[k].push(next);
                    ops.push((p, true, k, Some(next)));
                    next += 1;
                } else {
                    let ws = &written[k];
                    let v = (!ws.is_empty() && rng.random_bool(0.8))
                        .then(|| ws[rng.random_range(0..ws.len())]);
                    spec.push(format!(
                        "{p} r {key} {}",
                        v.map_or("nil".to_string(), |v| v.to_string())
                    ));
                    ops.push((p, false, k, v));
                }
            }
            let n = ops.len();
            let mut hb = vec![vec![false; n]; n];
            for i in 0..n {
                for j in i + 1..n {
                    if ops[i].0 == ops[j].0 {
                        hb[i][j] = true;
                    }
                    if ops[i].1 && !ops[j].1 && ops[i].2 == ops[j].2 && ops[i].3 == ops[j].3 {
                        hb[i][j] = true;
                    }
                }
            }
            for m in 0..n {
                for i in 0..n {
                    for j in 0..n {
                        if hb[i][m] && hb[m][j] {
                            hb[i][j] = true;
                        }
                    }
                }
            }
            let writer = |k: usize, v: u64| {
                (0..n).find(|&i| ops[i].1 && ops[i].2 == k && ops[i].3 == Some(v))
            };
            let mut expected = BTreeSet::new();
            for r in (0..n).filter(|&r| !ops[r].1) {
                let got = ops[r].3.and_then(|v| writer(ops[r].2, v));
                let stale = (0..n).any(|w| {
                    ops[w].1
                        && ops[w].2 == ops[r].2
                        && Some(w) != got
                        && hb[w][r]
                        && got.is_none_or(|g| hb[g][w])
                });
                if stale {
                    expected.insert(2 * r as u64);
                }
            }
            let res = causal(&spec.join("; "));
            let mut found = BTreeSet::new();
            for t in ["read-your-writes", "monotonic-reads", "causal-stale-read"] {
                for a in res.anomalies.get(t).into_iter().flatten() {
                    assert!(
                        a.explanation.starts_with("op ") || a.explanation.starts_with("process ")
                    );
                    // The stale read is the op the explanation is about: the last one read.
                    let read = a
                        .ops
                        .iter()
                        .copied()
                        .filter(|&o| !ops[(o / 2) as usize].1)
                        .max()
                        .unwrap();
                    found.insert(read);
                }
            }
            assert_eq!(
                found,
                expected,
                "round {round}: {}\n{res:?}",
                spec.join("; ")
            );
            if expected.is_empty() {
                assert!(
                    res.valid == Verdict::Valid
                        || res.anomaly_types == vec!["causal-order-conflict".to_string()],
                    "round {round}: {res:?}"
                );
            }
            flagged_total += expected.len();
        }
        assert!(flagged_total > 50, "{flagged_total}");
    }

    #[test]
    fn many_violations_are_counted_beyond_the_rendered_ones() {
        let mut spec = vec!["0 w x 1".to_string(), "0 w x 2".to_string()];
        spec.extend((0..RENDER_LIMIT + 5).map(|_| "0 r x 1".to_string()));
        let r = causal(&spec.join("; "));
        assert_eq!(r.anomalies["read-your-writes"].len(), RENDER_LIMIT);
        assert_eq!(r.stats["register"]["unrendered"], 5);
    }

    /// A linearizable register store under concurrency: each op takes effect at one step
    /// between its invocation and completion; some crash (info) before or after taking effect.
    fn linearizable_history(seed: u64, ops: usize) -> History {
        linearizable_history_on(seed, ops, &["a", "b", "c"])
    }

    fn linearizable_history_on(seed: u64, ops: usize, keys: &[&str]) -> History {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut store: HashMap<&str, Value> = HashMap::new();
        let mut written: Vec<(usize, u64)> = Vec::new();
        let mut next_value = 1u64;
        // Per worker: process id and stage (0 idle, 1 invoked, 2 applied) with its op.
        let mut workers: Vec<(u64, u8, String, usize, Value)> = (0..5)
            .map(|p| (p, 0, String::new(), 0, Value::Null))
            .collect();
        let mut next_process = 5u64;
        let mut events = Vec::new();
        let mut invoked = 0;
        while invoked < ops || workers.iter().any(|w| w.1 != 0) {
            let w = &mut workers[rng.random_range(0..5)];
            match w.1 {
                0 if invoked < ops => {
                    invoked += 1;
                    let k = rng.random_range(0..keys.len());
                    let (f, v) = match rng.random_range(0..10) {
                        0..=4 => ("read", Value::Null),
                        5..=7 => {
                            next_value += 1;
                            ("write", Value::from(next_value - 1))
                        }
                        _ => {
                            let cur = store.get(keys[k]).cloned().unwrap_or(Value::Null);
                            let e = if rng.random_bool(0.5) || written.is_empty() {
                                cur
                            } else {
                                let (wk, wv) = written[rng.random_range(0..written.len())];
                                if wk == k {
                                    Value::from(wv)
                                } else {
                                    cur
                                }
                            };
                            next_value += 1;
                            ("cas", json!([e, next_value - 1]))
                        }
                    };
                    if let Some(n) = v.as_u64().or_else(|| v.get(1).and_then(Value::as_u64)) {
                        written.push((k, n));
                    }
                    events.push(ev(w.0, EventType::Invoke, f, keys[k], v.clone()));
                    *w = (w.0, 1, f.to_string(), k, v);
                }
                0 => {}
                1 => {
                    if rng.random_bool(0.03) {
                        events.push(ev(w.0, EventType::Info, &w.2, keys[w.3], w.4.clone()));
                        w.0 = next_process;
                        next_process += 1;
                        w.1 = 0;
                        continue;
                    }
                    let k = keys[w.3];
                    let cur = store.get(k).cloned().unwrap_or(Value::Null);
                    match w.2.as_str() {
                        "read" => w.4 = cur,
                        "write" => {
                            store.insert(k, w.4.clone());
                        }
                        _ => {
                            if w.4[0] == cur {
                                store.insert(k, w.4[1].clone());
                            } else {
                                w.2 = "cas-fail".into();
                            }
                        }
                    }
                    w.1 = 2;
                }
                _ => {
                    let (typ, f) = match w.2.as_str() {
                        "cas-fail" => (EventType::Fail, "cas"),
                        f => (
                            if rng.random_bool(0.02) {
                                EventType::Info
                            } else {
                                EventType::Ok
                            },
                            f,
                        ),
                    };
                    events.push(ev(w.0, typ, f, keys[w.3], w.4.clone()));
                    if typ == EventType::Info {
                        w.0 = next_process;
                        next_process += 1;
                    }
                    w.1 = 0;
                }
            }
        }
        for (n, e) in events.iter_mut().enumerate() {
            e.line = n + 1;
        }
        History::from_events("sim", events).unwrap()
    }

    #[test]
    fn simulated_linearizable_histories_pass_every_model() {
        for seed in 0..40 {
            let h = linearizable_history(seed, 400);
            let r = check(&h, &expect(&["causal", "session", "linearizable"])).unwrap();
            assert_eq!(r.valid, Verdict::Valid, "seed {seed}: {r:?}");
            let reg = &r.stats["register"];
            assert!(reg["reads"].as_u64().unwrap() > 100, "seed {seed}: {reg}");
        }
    }

    #[test]
    fn simulated_single_register_histories_are_sequential_and_a_rewound_read_is_not() {
        // Never invalid; the budgeted search decides most (unknown only when out of budget).
        let mut decided = 0;
        for seed in 0..20 {
            let h = linearizable_history_on(seed, 200, &["r"]);
            let r = check(&h, &expect(&["sequential"])).unwrap();
            assert_ne!(r.valid, Verdict::Invalid, "seed {seed}: {r:?}");
            if r.valid == Verdict::Valid {
                decided += 1;
            } else {
                assert!(
                    r.unknown_reasons[0].contains("states without deciding"),
                    "{r:?}"
                );
            }
        }
        assert!(decided >= 15, "only {decided} of 20 decided");
        // Process p reads v (written by someone), later reads nil though nobody wrote nil:
        // no order of the ops explains that.
        let mut h = linearizable_history_on(3, 200, &["r"]);
        let (first, _) = h
            .ops
            .iter()
            .enumerate()
            .find(|(_, o)| o.f == "read" && o.is_ok() && !o.value.is_null())
            .unwrap();
        let p = h.ops[first].process;
        let later = (first + 1..h.ops.len())
            .find(|&i| h.ops[i].process == p && h.ops[i].f == "read" && h.ops[i].is_ok())
            .unwrap();
        h.ops[later].value = Value::Null;
        let r = check(&h, &expect(&["sequential"])).unwrap();
        assert_eq!(r.valid, Verdict::Invalid, "{r:?}");
        assert!(
            r.anomaly_types.contains(&"incompatible-order".to_string()),
            "{r:?}"
        );
    }

    #[test]
    fn simulated_history_with_a_stale_read_injected_is_caught() {
        let mut caught = 0;
        for seed in 0..20 {
            let h = linearizable_history(seed, 300);
            // A read by a process that earlier wrote the key (ok) and later reads another
            // value: make it return nil instead, a read-your-writes violation.
            let Some(target) = h.ops.iter().position(|o| {
                o.f == "read"
                    && o.is_ok()
                    && !o.value.is_null()
                    && h.ops.iter().any(|w| {
                        w.f == "write"
                            && w.is_ok()
                            && w.process == o.process
                            && w.key() == o.key()
                            && w.id < o.id
                    })
            }) else {
                continue;
            };
            let mut h = h;
            h.ops[target].value = Value::Null;
            let r = check(&h, &expect(&["causal"])).unwrap();
            assert_eq!(r.valid, Verdict::Invalid, "seed {seed}");
            let ryw = &r.anomalies["read-your-writes"];
            assert!(ryw.iter().any(|a| a.ops.contains(&h.ops[target].index)));
            caught += 1;
        }
        assert!(caught > 10, "{caught}");
    }
}
