//! Cycle search: strongly connected components of the dependency graph (iterative Tarjan),
//! then per component a search for each cycle anomaly in severity order (`G0`, `G1c`,
//! `G-single-item`, `G-nonadjacent-item`, `G2-item`), each first with data edges alone, then
//! with process edges, then with real-time edges, within a time budget.

use super::graph::{DepGraph, Rels, PROCESS, REALTIME, RW, WR, WW};
use super::txns::TxnId;
use petgraph::algo::kosaraju_scc;
use petgraph::graph::{DiGraph, NodeIndex};
use petgraph::visit::EdgeFiltered;
use std::collections::{BTreeSet, VecDeque};
use std::time::Instant;

/// One step of a cycle: `from -> to` because of `rel` (a single kind).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Step {
    pub from: TxnId,
    pub to: TxnId,
    pub rel: Rels,
}

/// A cycle and the anomaly type it shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cycle {
    pub kind: String,
    pub steps: Vec<Step>,
}

/// What the search found.
#[derive(Debug, Default)]
pub struct Search {
    pub cycles: Vec<Cycle>,
    pub sccs: usize,
    pub largest_scc: usize,
    /// Components whose search ran out of time (a cheaper search's cycle, if any, is included).
    pub timed_out: usize,
}

/// Cycle anomaly bases in severity order.
pub const BASES: [&str; 5] = [
    "G0",
    "G1c",
    "G-single-item",
    "G-nonadjacent-item",
    "G2-item",
];

/// The anomaly type a cycle shows, from its edge kinds.
pub fn classify(steps: &[Step]) -> String {
    let n = steps.len();
    let rw: Vec<bool> = steps.iter().map(|s| s.rel == RW).collect();
    let rws = rw.iter().filter(|&&x| x).count();
    let adjacent = (0..n).any(|i| rw[i] && rw[(i + 1) % n]);
    let base = if rws == 0 {
        if steps.iter().any(|s| s.rel == WR) {
            "G1c"
        } else {
            "G0"
        }
    } else if rws == 1 {
        "G-single-item"
    } else if !adjacent {
        "G-nonadjacent-item"
    } else {
        "G2-item"
    };
    let suffix = if steps.iter().any(|s| s.rel == REALTIME) {
        "-realtime"
    } else if steps.iter().any(|s| s.rel == PROCESS) {
        "-process"
    } else {
        ""
    };
    format!("{base}{suffix}")
}

/// The preferred single kind for a non-rw step over an edge with kinds `r`.
fn plain_kind(r: Rels, allowed: Rels) -> Option<Rels> {
    [WW, WR, PROCESS, REALTIME]
        .into_iter()
        .find(|k| r & allowed & k != 0)
}

struct Budget {
    deadline: Option<Instant>,
    out: bool,
}

impl Budget {
    /// True once the deadline has passed (checked on every call: callers call it per search
    /// start or every 65,536 search steps, where a clock read costs nothing in comparison).
    fn exhausted(&mut self) -> bool {
        if !self.out {
            if let Some(d) = self.deadline {
                self.out = Instant::now() >= d;
            }
        }
        self.out
    }
}

/// One component, re-indexed locally.
struct Comp {
    /// local -> global
    nodes: Vec<TxnId>,
    g: DiGraph<(), Rels, u32>,
}

/// Searches every non-trivial component. `forbidden` limits the types searched for; `kinds`
/// are the edge kinds present in the graph.
pub fn search(
    dg: &DepGraph,
    forbidden: &BTreeSet<&'static str>,
    deadline: Option<Instant>,
) -> Search {
    let mut s = Search::default();
    // Iterative: a recursive Tarjan overflows the stack on a long chain of dependencies.
    let mut sccs: Vec<Vec<TxnId>> =
        crate::scc::nontrivial_sccs(dg.g.node_count(), |v| dg.g.neighbors_slice(v));
    sccs.sort_unstable();
    s.sccs = sccs.len();
    s.largest_scc = sccs.iter().map(Vec::len).max().unwrap_or(0);
    let mut local_of: Vec<u32> = vec![u32::MAX; dg.g.node_count()];
    let mut budget = Budget {
        deadline,
        out: false,
    };
    for members in sccs {
        for (i, &m) in members.iter().enumerate() {
            local_of[m as usize] = i as u32;
        }
        let mut g: DiGraph<(), Rels, u32> = DiGraph::with_capacity(members.len(), 0);
        for _ in 0..members.len() {
            g.add_node(());
        }
        for &m in &members {
            for e in dg.g.edges(m) {
                use petgraph::visit::EdgeRef;
                let t = local_of[e.target() as usize];
                if t != u32::MAX {
                    g.add_edge(
                        NodeIndex::new(local_of[m as usize] as usize),
                        NodeIndex::new(t as usize),
                        *e.weight(),
                    );
                }
            }
        }
        let comp = Comp { nodes: members, g };
        let found = search_comp(&comp, forbidden, &mut budget);
        if budget.out && found.is_empty() {
            s.timed_out += 1;
            if let Some(c) = any_cycle(&comp) {
                s.cycles.push(c);
            }
        } else if found.is_empty() {
            // Every cycle falls in one of the classes, so this only happens for cycles the
            // state searches skipped as non-simple: report any cycle of the component.
            if let Some(c) = any_cycle(&comp) {
                s.cycles.push(c);
            }
        } else {
            if budget.out {
                s.timed_out += 1;
            }
            s.cycles.extend(found);
        }
        for &m in &comp.nodes {
            local_of[m as usize] = u32::MAX;
        }
    }
    s
}

fn search_comp(c: &Comp, forbidden: &BTreeSet<&'static str>, b: &mut Budget) -> Vec<Cycle> {
    let mut out = Vec::new();
    let present: Rels = c.g.edge_weights().fold(0, |a, &w| a | w);
    for base in BASES {
        for (suffix, extra) in [
            ("", 0),
            ("-process", PROCESS),
            ("-realtime", PROCESS | REALTIME),
        ] {
            let name = format!("{base}{suffix}");
            if !forbidden.contains(name.as_str()) || (extra != 0 && present & extra == 0) {
                continue;
            }
            if b.exhausted() {
                return out;
            }
            let found = match base {
                "G0" => sub_scc_cycle(c, WW | extra, WW | extra),
                "G1c" => sub_scc_cycle(c, WW | WR | extra, WR),
                _ => rw_cycle(c, base, WW | WR | extra, b),
            };
            if let Some(steps) = found {
                let kind = classify(&steps);
                if !out.iter().any(|o: &Cycle| o.kind == kind) {
                    out.push(Cycle { kind, steps });
                }
                break;
            }
        }
    }
    out
}

/// A cycle over `allowed` kinds that contains an edge with one of `start` kinds: found in a
/// strongly connected component of the `allowed` subgraph, so linear time.
fn sub_scc_cycle(c: &Comp, allowed: Rels, start: Rels) -> Option<Vec<Step>> {
    let f = EdgeFiltered::from_fn(&c.g, |e| *e.weight() & allowed != 0);
    let mut comp_of = vec![u32::MAX; c.g.node_count()];
    let subs = kosaraju_scc(&f);
    for (i, s) in subs.iter().enumerate() {
        if s.len() > 1 {
            for n in s {
                comp_of[n.index()] = i as u32;
            }
        }
    }
    use petgraph::visit::EdgeRef;
    let mut starts: Vec<(u32, u32, Rels)> =
        c.g.edge_references()
            .filter(|e| {
                let (a, b) = (e.source().index(), e.target().index());
                comp_of[a] != u32::MAX && comp_of[a] == comp_of[b] && e.weight() & start != 0
            })
            .map(|e| {
                (
                    e.source().index() as u32,
                    e.target().index() as u32,
                    *e.weight(),
                )
            })
            .collect();
    starts.sort_unstable_by_key(|&(a, b, _)| (a, b));
    let &(a, b, r) = starts.first()?;
    let first = [WW, WR, PROCESS, REALTIME]
        .into_iter()
        .find(|k| r & start & k != 0)?;
    let path = bfs_path(c, b, a, |r| plain_kind(r, allowed))?;
    let mut steps = vec![(a, b, first)];
    steps.extend(path);
    Some(to_global(c, &steps))
}

/// BFS from `from` to `to` where each edge maps to a step kind via `kind` (None = not allowed).
fn bfs_path(
    c: &Comp,
    from: u32,
    to: u32,
    kind: impl Fn(Rels) -> Option<Rels>,
) -> Option<Vec<(u32, u32, Rels)>> {
    let n = c.g.node_count();
    let mut parent: Vec<(u32, Rels)> = vec![(u32::MAX, 0); n];
    let mut seen = vec![false; n];
    let mut q = VecDeque::new();
    seen[from as usize] = true;
    q.push_back(from);
    while let Some(u) = q.pop_front() {
        if u == to {
            let mut path = Vec::new();
            let mut v = to;
            while v != from {
                let (p, r) = parent[v as usize];
                path.push((p, v, r));
                v = p;
            }
            path.reverse();
            return Some(path);
        }
        for e in c.g.edges(NodeIndex::new(u as usize)) {
            use petgraph::visit::EdgeRef;
            let v = e.target().index();
            if seen[v] {
                continue;
            }
            if let Some(k) = kind(*e.weight()) {
                seen[v] = true;
                parent[v] = (u, k);
                q.push_back(v as u32);
            }
        }
    }
    None
}

/// State-machine BFS for the anti-dependency classes, from each `rw` edge of the component.
fn rw_cycle(c: &Comp, base: &str, allowed: Rels, b: &mut Budget) -> Option<Vec<Step>> {
    use petgraph::visit::EdgeRef;
    let mut starts: Vec<(u32, u32)> =
        c.g.edge_references()
            .filter(|e| e.weight() & RW != 0)
            .map(|e| (e.source().index() as u32, e.target().index() as u32))
            .collect();
    starts.sort_unstable();
    if base == "G-single-item" {
        // The rest of the cycle uses no rw edge: b must reach a in the non-rw subgraph. Its
        // components come in reverse topological order, so a component can only reach
        // components listed before it: drop start edges that cannot close, try the ones
        // inside one component (which always close) first.
        let f = EdgeFiltered::from_fn(&c.g, |e| plain_kind(*e.weight(), allowed).is_some());
        let mut comp = vec![0usize; c.g.node_count()];
        for (i, s) in kosaraju_scc(&f).iter().enumerate() {
            for n in s {
                comp[n.index()] = i;
            }
        }
        starts.retain(|&(a, b)| comp[a as usize] <= comp[b as usize]);
        starts.sort_by_key(|&(a, b)| (comp[a as usize] != comp[b as usize], a, b));
    }
    let n = c.g.node_count();
    // state = node * 4 + (last_rw as usize) * 2 + flag (two rw seen / adjacent rw seen)
    let mut parent: Vec<(u32, Rels)> = vec![(u32::MAX, 0); n * 4];
    let mut stamp: Vec<u32> = vec![0; n * 4];
    for (round, &(a, bnode)) in starts.iter().enumerate() {
        if b.exhausted() {
            return None;
        }
        let round = round as u32 + 1;
        let start = bnode as usize * 4 + 2; // last_rw = true, flag = false
        stamp[start] = round;
        let mut q = VecDeque::from([start as u32]);
        let mut goal: Option<u32> = None;
        let mut steps = 0u32;
        while let Some(s) = q.pop_front() {
            steps = steps.wrapping_add(1);
            if steps & 0xFFFF == 0 && b.exhausted() {
                return None;
            }
            let (u, last_rw, flag) = (s as usize / 4, s & 2 != 0, s & 1 != 0);
            if u as u32 == a {
                let ok = match base {
                    "G-single-item" => true,
                    "G-nonadjacent-item" => !last_rw && flag,
                    _ => flag || last_rw,
                };
                if ok {
                    goal = Some(s);
                    break;
                }
                continue;
            }
            for e in c.g.edges(NodeIndex::new(u)) {
                let v = e.target().index();
                let r = *e.weight();
                let mut next: Vec<(usize, Rels)> = Vec::with_capacity(2);
                if let Some(k) = plain_kind(r, allowed) {
                    let f = match base {
                        "G-single-item" => false,
                        _ => flag,
                    };
                    next.push((v * 4 + usize::from(f), k));
                }
                if r & RW != 0 {
                    match base {
                        "G-single-item" => {}
                        "G-nonadjacent-item" if !last_rw => next.push((v * 4 + 2 + 1, RW)),
                        "G-nonadjacent-item" => {}
                        _ => next.push((v * 4 + 2 + usize::from(flag || last_rw), RW)),
                    }
                }
                for (ns, k) in next {
                    if stamp[ns] != round {
                        stamp[ns] = round;
                        parent[ns] = (s, k);
                        q.push_back(ns as u32);
                    }
                }
            }
        }
        let Some(g) = goal else { continue };
        let mut path = Vec::new();
        let mut s = g as usize;
        while s != start {
            let (p, k) = parent[s];
            path.push((p / 4, (s / 4) as u32, k));
            s = p as usize;
        }
        path.reverse();
        let mut steps = vec![(a, bnode, RW)];
        steps.extend(path);
        // Keep only simple cycles.
        let mut nodes: Vec<u32> = steps.iter().map(|s| s.0).collect();
        nodes.sort_unstable();
        nodes.dedup();
        if nodes.len() == steps.len() {
            return Some(to_global(c, &steps));
        }
    }
    None
}

/// Any cycle of the component (the cheap search): from the first node through its first edge.
fn any_cycle(c: &Comp) -> Option<Cycle> {
    use petgraph::visit::EdgeRef;
    let e = c.g.edges(NodeIndex::new(0)).next()?;
    let (a, b) = (0u32, e.target().index() as u32);
    let first = plain_kind(*e.weight(), !0).unwrap_or(RW);
    let first = if *e.weight() & (WW | WR) == 0 && *e.weight() & RW != 0 {
        RW
    } else {
        first
    };
    let path = bfs_path(c, b, a, |r| {
        if r & (WW | WR) != 0 {
            plain_kind(r, WW | WR)
        } else if r & RW != 0 {
            Some(RW)
        } else {
            plain_kind(r, !0)
        }
    })?;
    let mut steps = vec![(a, b, first)];
    steps.extend(path);
    let steps = to_global(c, &steps);
    Some(Cycle {
        kind: classify(&steps),
        steps,
    })
}

/// Maps local steps to transactions, rotated so the earliest transaction comes first.
fn to_global(c: &Comp, steps: &[(u32, u32, Rels)]) -> Vec<Step> {
    let first = (0..steps.len())
        .min_by_key(|&i| c.nodes[steps[i].0 as usize])
        .unwrap_or(0);
    steps[first..]
        .iter()
        .chain(&steps[..first])
        .map(|&(a, b, r)| Step {
            from: c.nodes[a as usize],
            to: c.nodes[b as usize],
            rel: r,
        })
        .collect()
}
