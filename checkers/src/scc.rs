//! Strongly connected components without recursion.
//!
//! petgraph's `tarjan_scc` recurses once per vertex of a path, so a long chain of dependencies
//! (a history of a million transactions in one real-time order) overflows the thread's stack
//! and aborts the process; its `kosaraju_scc` is iterative but needs incoming edges, which the
//! compact (CSR) graphs the checkers build do not store. This is Tarjan's algorithm with an
//! explicit stack of (vertex, next successor) frames: the same components in the same order
//! (reverse topological), heap memory of about 13 bytes per vertex, no stack growth.

/// Calls `emit` with the members of every strongly connected component of the graph over
/// vertices `0..n` whose out-neighbours `succ(v)` returns, in reverse topological order (a
/// component is emitted after every component it reaches). Members come in the order Tarjan's
/// algorithm pops them; callers that report them sort them.
pub fn for_each_scc<'g, S, E>(n: usize, succ: S, mut emit: E)
where
    S: Fn(u32) -> &'g [u32],
    E: FnMut(&[u32]),
{
    const UNSEEN: u32 = u32::MAX;
    assert!(n < UNSEEN as usize, "at most 2^32 - 2 vertices");
    let mut index = vec![UNSEEN; n];
    let mut low = vec![0u32; n];
    let mut on_stack = vec![false; n];
    let mut stack: Vec<u32> = Vec::new();
    // (vertex, position of its next successor to look at)
    let mut frames: Vec<(u32, u32)> = Vec::new();
    let mut next = 0u32;
    for root in 0..n as u32 {
        if index[root as usize] != UNSEEN {
            continue;
        }
        index[root as usize] = next;
        low[root as usize] = next;
        next += 1;
        stack.push(root);
        on_stack[root as usize] = true;
        frames.push((root, 0));
        while let Some(frame) = frames.last_mut() {
            let v = frame.0;
            let out = succ(v);
            if let Some(&w) = out.get(frame.1 as usize) {
                frame.1 += 1;
                let wi = w as usize;
                if index[wi] == UNSEEN {
                    index[wi] = next;
                    low[wi] = next;
                    next += 1;
                    stack.push(w);
                    on_stack[wi] = true;
                    frames.push((w, 0));
                } else if on_stack[wi] {
                    low[v as usize] = low[v as usize].min(index[wi]);
                }
                continue;
            }
            frames.pop();
            let vi = v as usize;
            if let Some(&(p, _)) = frames.last() {
                low[p as usize] = low[p as usize].min(low[vi]);
            }
            if low[vi] == index[vi] {
                let at = stack
                    .iter()
                    .rposition(|&x| x == v)
                    .expect("a root is on the stack");
                for &m in &stack[at..] {
                    on_stack[m as usize] = false;
                }
                emit(&stack[at..]);
                stack.truncate(at);
            }
        }
    }
}

/// The components with more than one member, each sorted, in reverse topological order.
/// (Single vertices are left out: a history of millions of transactions has millions of them,
/// and no cycle.) Self-loops are not components here; the graphs the checkers build have none.
pub fn nontrivial_sccs<'g, S>(n: usize, succ: S) -> Vec<Vec<u32>>
where
    S: Fn(u32) -> &'g [u32],
{
    let mut out = Vec::new();
    for_each_scc(n, succ, |c| {
        if c.len() > 1 {
            let mut c = c.to_vec();
            c.sort_unstable();
            out.push(c);
        }
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use history::sim::SplitMix64;
    use petgraph::graph::{DiGraph, NodeIndex};

    fn adjacency(n: usize, edges: &[(u32, u32)]) -> Vec<Vec<u32>> {
        let mut adj = vec![Vec::new(); n];
        for &(a, b) in edges {
            adj[a as usize].push(b);
        }
        adj
    }

    /// All components (including single vertices), each sorted, in emitted order.
    fn all(adj: &[Vec<u32>]) -> Vec<Vec<u32>> {
        let mut out = Vec::new();
        for_each_scc(
            adj.len(),
            |v| &adj[v as usize],
            |c| {
                let mut c = c.to_vec();
                c.sort_unstable();
                out.push(c);
            },
        );
        out
    }

    #[test]
    fn agrees_with_petgraph_tarjan_on_random_graphs() {
        let mut rng = SplitMix64::new(7);
        for round in 0..300 {
            let n = 1 + rng.below(40) as usize;
            let m = rng.below(3 * n as u64 + 1) as usize;
            let edges: Vec<(u32, u32)> = (0..m)
                .map(|_| (rng.below(n as u64) as u32, rng.below(n as u64) as u32))
                .collect();
            let adj = adjacency(n, &edges);
            let mut g: DiGraph<(), ()> = DiGraph::new();
            for _ in 0..n {
                g.add_node(());
            }
            for &(a, b) in &edges {
                g.add_edge(NodeIndex::new(a as usize), NodeIndex::new(b as usize), ());
            }
            let want: Vec<Vec<u32>> = petgraph::algo::tarjan_scc(&g)
                .into_iter()
                .map(|c| {
                    let mut c: Vec<u32> = c.into_iter().map(|x| x.index() as u32).collect();
                    c.sort_unstable();
                    c
                })
                .collect();
            let got = all(&adj);
            // Reverse topological: an edge never leads to a component emitted later.
            let mut pos = vec![0usize; n];
            for (i, c) in got.iter().enumerate() {
                for &v in c {
                    pos[v as usize] = i;
                }
            }
            for &(a, b) in &edges {
                assert!(
                    pos[a as usize] >= pos[b as usize],
                    "round {round}: {a}->{b}"
                );
            }
            // The same components (petgraph visits neighbours in another order).
            let (mut got, mut want) = (got, want);
            got.sort();
            want.sort();
            assert_eq!(got, want, "round {round}: edges {edges:?}");
        }
    }

    #[test]
    fn components_come_in_reverse_topological_order() {
        // 0 <-> 1 -> 2 <-> 3 -> 4
        let adj = adjacency(5, &[(0, 1), (1, 0), (1, 2), (2, 3), (3, 2), (3, 4)]);
        assert_eq!(all(&adj), vec![vec![4], vec![2, 3], vec![0, 1]]);
        assert_eq!(
            nontrivial_sccs(5, |v| &adj[v as usize]),
            vec![vec![2, 3], vec![0, 1]]
        );
    }

    /// A path of 200,000 vertices closed into one cycle, on a thread with a 128 KiB stack:
    /// the recursive Tarjan needs a frame per vertex of the path and overflows.
    #[test]
    fn a_long_cycle_needs_no_stack() {
        let n = 200_000u32;
        let adj: Vec<Vec<u32>> = (0..n).map(|v| vec![(v + 1) % n]).collect();
        let found = std::thread::Builder::new()
            .stack_size(128 * 1024)
            .spawn(move || nontrivial_sccs(n as usize, |v| &adj[v as usize]))
            .unwrap()
            .join()
            .expect("no stack overflow");
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].len(), n as usize);
    }
}
